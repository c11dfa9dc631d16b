{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. It is cut to 40 characters so that the longest derived
name, a chat node pod name used as a label value and a DNS label, stays under 63.
*/}}
{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one component's objects: <fullname>-<component>.
Call with (dict "root" $ "component" "chat-node").
*/}}
{{- define "switchboard.componentName" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .component }}
{{- end }}

{{/*
Labels that never change for a component, used in selectors.
*/}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All labels of a component's objects.
*/}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- end }}

{{/*
Labels of objects that belong to no single component.
*/}}
{{- define "switchboard.releaseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- end }}

{{/*
Image reference of a component. Call with (dict "root" $ "values" .Values.router).
*/}}
{{- define "switchboard.image" -}}
{{- $registry := .root.Values.image.registry | trimSuffix "/" }}
{{- $tag := .values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if $registry }}
{{- printf "%s/%s:%s" $registry .values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchboard.configName" -}}
{{- printf "%s-config" (include "switchboard.fullname" .) }}
{{- end }}

{{- define "switchboard.tokenSecretName" -}}
{{- if .Values.tokenSecret.existingSecret }}
{{- .Values.tokenSecret.existingSecret }}
{{- else }}
{{- printf "%s-token" (include "switchboard.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Name of the chat nodes' StatefulSet; its pods are <name>-0, <name>-1, ...
*/}}
{{- define "switchboard.chatNode.name" -}}
{{- include "switchboard.componentName" (dict "root" . "component" "chat-node") }}
{{- end }}

{{/*
Name of the headless Service that gives each chat node pod a DNS name.
*/}}
{{- define "switchboard.chatNode.headlessName" -}}
{{- printf "%s-headless" (include "switchboard.chatNode.name" .) }}
{{- end }}

{{/*
Whether the chat nodes get one ingress host per pod.
*/}}
{{- define "switchboard.chatNode.perPodIngress" -}}
{{- if and .Values.ingress.enabled .Values.ingress.chat.enabled }}true{{ end }}
{{- end }}

{{/*
SWB_PUBLIC_URL of a chat node pod. $(SWB_NODE_ID) is expanded by the kubelet from the
variable of that name defined before it, which holds the pod name.
*/}}
{{- define "switchboard.chatNode.publicUrl" -}}
{{- if .Values.chatNode.publicUrl }}
{{- tpl .Values.chatNode.publicUrl . }}
{{- else if include "switchboard.chatNode.perPodIngress" . }}
{{- printf "wss://$(SWB_NODE_ID).%s/ws" .Values.ingress.chat.domain }}
{{- else }}
{{- printf "ws://$(SWB_NODE_ID).%s.%s.svc.%s:%v/ws" (include "switchboard.chatNode.headlessName" .) .Release.Namespace .Values.clusterDomain .Values.chatNode.port }}
{{- end }}
{{- end }}

{{/*
Termination grace period of a chat node: longer than the drain window, which closes every
connection, plus time to close the engine clients.
*/}}
{{- define "switchboard.chatNode.terminationGracePeriodSeconds" -}}
{{- $drainSeconds := divf .Values.chatNode.limits.drainWindowMs 1000 | ceil | int }}
{{- if .Values.chatNode.terminationGracePeriodSeconds }}
{{- $grace := .Values.chatNode.terminationGracePeriodSeconds | int }}
{{- if le $grace $drainSeconds }}
{{- fail (printf "chatNode.terminationGracePeriodSeconds (%d) must exceed the drain window chatNode.limits.drainWindowMs (%d s), or connections are cut without a close frame" $grace $drainSeconds) }}
{{- end }}
{{- $grace }}
{{- else }}
{{- add $drainSeconds .Values.chatNode.terminationMarginSeconds }}
{{- end }}
{{- end }}

{{/*
NODE_OPTIONS of a component. Call with the component's values.
*/}}
{{- define "switchboard.nodeOptions" -}}
{{- $options := list (printf "--max-old-space-size=%d" (int .heapMiB)) }}
{{- if .nodeOptions }}
{{- $options = append $options .nodeOptions }}
{{- end }}
{{- join " " $options }}
{{- end }}

{{/*
Metrics port of a component: metricsPort, or the service port when it is empty.
Call with the component's values.
*/}}
{{- define "switchboard.metricsPort" -}}
{{- if .metricsPort }}{{ .metricsPort }}{{ else }}{{ .port }}{{ end }}
{{- end }}

{{/*
Name of the port that serves /metrics: "metrics" when it is a port of its own, else the name
of the service port. Call with (dict "values" .Values.router "portName" "http").
*/}}
{{- define "switchboard.metricsPortName" -}}
{{- if and .values.metricsPort (ne (toString .values.metricsPort) (toString .values.port)) }}metrics{{ else }}{{ .portName }}{{ end }}
{{- end }}

{{/*
Whether a component serves /metrics on a port of its own. Call with the component's values.
*/}}
{{- define "switchboard.separateMetricsPort" -}}
{{- if and .metricsPort (ne (toString .metricsPort) (toString .port)) }}true{{ end }}
{{- end }}

{{/*
Environment of a container beyond the ConfigMap: the token secret for the services that check
tokens, the Redis URL when a Secret holds it and the service uses Redis, and config.extraEnv.
Call with (dict "root" $ "token" true "engines" (list "redis" "kafka")).
*/}}
{{- define "switchboard.commonEnv" -}}
{{- $values := .root.Values }}
{{- if .token }}
- name: SWB_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "switchboard.tokenSecretName" .root }}
      key: {{ $values.tokenSecret.key }}
{{- end }}
{{- if and $values.redis.existingSecret (has "redis" .engines) }}
- name: SWB_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $values.redis.existingSecret }}
      key: {{ $values.redis.existingSecretKey }}
{{- end }}
{{- range $name, $value := $values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
envFrom shared by every container: the ConfigMap, then config.extraEnvFrom.
*/}}
{{- define "switchboard.commonEnvFrom" -}}
- configMapRef:
    name: {{ include "switchboard.configName" . }}
{{- with .Values.config.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod annotations that restart pods when the configuration changes.
*/}}
{{- define "switchboard.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}

{{/*
Volumes and mounts for a writable /tmp on a read-only root filesystem.
*/}}
{{- define "switchboard.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
{{- define "switchboard.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
HTTP probes of a container. Call with (dict "probes" .Values.router.probes "port" "http").
The startup probe uses the liveness path, so liveness checks begin once the service listens.
*/}}
{{- define "switchboard.probes" -}}
startupProbe:
  httpGet:
    path: {{ .probes.liveness.path }}
    port: {{ .port }}
  periodSeconds: {{ .probes.startup.periodSeconds }}
  failureThreshold: {{ .probes.startup.failureThreshold }}
  timeoutSeconds: {{ .probes.liveness.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: {{ .probes.liveness.path }}
    port: {{ .port }}
  periodSeconds: {{ .probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: {{ .probes.readiness.path }}
    port: {{ .port }}
  periodSeconds: {{ .probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .probes.readiness.failureThreshold }}
{{- end }}

{{/*
Scheduling fields of a pod spec. Call with (dict "root" $ "values" .Values.router "component" "router").
*/}}
{{- define "switchboard.scheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .values.topologySpread.maxSkew }}
    topologyKey: {{ .values.topologySpread.topologyKey }}
    whenUnsatisfiable: {{ .values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "switchboard.selectorLabels" (dict "root" .root "component" .component) | nindent 8 }}
{{- end }}
{{- end }}

{{/*
Pod-level fields shared by every workload: service account, security context, pull secrets.
*/}}
{{- define "switchboard.podCommon" -}}
serviceAccountName: {{ include "switchboard.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Egress rules of a workload. Call with (dict "root" $ "engines" (list "redis" "kafka")).
*/}}
{{- define "switchboard.egressRules" -}}
{{- $egress := .root.Values.networkPolicy.egress }}
- to:
    {{- toYaml $egress.dns.to | nindent 4 }}
  ports:
    {{- toYaml $egress.dns.ports | nindent 4 }}
{{- range $engine := .engines }}
{{- $rule := index $egress $engine }}
- ports:
    {{- toYaml $rule.ports | nindent 4 }}
  {{- with $rule.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with $egress.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Ingress rule that admits peers to ports, or nothing when peers is empty.
Call with (dict "peers" list "ports" list-of-port-numbers).
*/}}
{{- define "switchboard.ingressRule" -}}
{{- if .peers }}
- from:
    {{- toYaml .peers | nindent 4 }}
  ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{/*
Rejects values that would render objects a cluster accepts but that cannot work.
*/}}
{{- define "switchboard.validate" -}}
{{- if and .Values.persister.autoscaling.enabled (gt (int .Values.persister.autoscaling.maxReplicas) (int .Values.kafka.partitions)) }}
{{- fail (printf "persister.autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d); a consumer group gives each partition to one member, so the extra persisters would sit idle" (int .Values.persister.autoscaling.maxReplicas) (int .Values.kafka.partitions)) }}
{{- end }}
{{- if and (not .Values.persister.autoscaling.enabled) (gt (int .Values.persister.replicas) (int .Values.kafka.partitions)) }}
{{- fail (printf "persister.replicas (%d) exceeds kafka.partitions (%d); the extra persisters would sit idle" (int .Values.persister.replicas) (int .Values.kafka.partitions)) }}
{{- end }}
{{- if and .Values.tokenSecret.value (lt (len .Values.tokenSecret.value) 32) }}
{{- fail "tokenSecret.value must be at least 32 characters, as the services require of SWB_TOKEN_SECRET" }}
{{- end }}
{{- if ge (int .Values.chatNode.limits.maxBodyBytes) (int .Values.chatNode.limits.maxFrameBytes) }}
{{- fail "chatNode.limits.maxBodyBytes must be smaller than chatNode.limits.maxFrameBytes, which also holds the frame's envelope" }}
{{- end }}
{{- if gt (int .Values.chatNode.limits.syncPageDefault) (int .Values.chatNode.limits.syncPageMax) }}
{{- fail "chatNode.limits.syncPageDefault must not exceed chatNode.limits.syncPageMax" }}
{{- end }}
{{- if and (include "switchboard.chatNode.perPodIngress" .) (not .Values.ingress.chat.domain) }}
{{- fail "ingress.chat.domain must be set when ingress.chat.enabled is true" }}
{{- end }}
{{- if le (int .Values.config.heartbeatTtlMs) (int .Values.config.heartbeatIntervalMs) }}
{{- fail "config.heartbeatTtlMs must exceed config.heartbeatIntervalMs, or chat nodes drop out of the ring between two heartbeats" }}
{{- end }}
{{- end }}

{{/*
One scrape endpoint of a ServiceMonitor. It copies the pod's component label into the
`component` label that the alerting rules and the dashboard select on.
Call with (dict "root" $ "port" "http").
*/}}
{{- define "switchboard.serviceMonitorEndpoint" -}}
- port: {{ .port }}
  path: {{ .root.Values.metrics.path }}
  interval: {{ .root.Values.metrics.serviceMonitor.interval }}
  scrapeTimeout: {{ .root.Values.metrics.serviceMonitor.scrapeTimeout }}
  relabelings:
    - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
      targetLabel: component
      action: replace
{{- end }}
