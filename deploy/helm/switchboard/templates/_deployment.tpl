{{/*
Deployment of a stateless service: the router, the api, the persister or the push worker.
Call with (dict "root" $ "component" "router" "values" .Values.router "portEnv" "SWB_ROUTER_PORT"
"token" true "engines" (list "redis")): token says whether the service checks access tokens,
engines lists the engines it connects to.
With portEnv empty (the persister, the push worker) the only port is the metrics port, which
also serves the probes. Optional keys name templates, each called with the root context:
envTemplate adds env entries, volumesTemplate adds volumes and volumeMountsTemplate their
mounts (the push worker's provider credentials).
*/}}
{{- define "switchboard.deployment" -}}
{{- $root := .root }}
{{- $values := .values }}
{{- $scope := dict "root" $root "component" .component }}
{{- $probePort := "http" }}
{{- if not .portEnv }}
{{- $probePort = "metrics" }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicas }}
  {{- end }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" $scope | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "switchboard.selectorLabels" $scope | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "switchboard.configChecksum" $root | nindent 8 }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "switchboard.podCommon" $root | nindent 6 }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with include "switchboard.scheduling" (dict "root" $root "values" $values "component" .component) }}{{ . | trim | nindent 6 }}{{ end }}
      containers:
        - name: {{ .component }}
          image: {{ include "switchboard.image" (dict "root" $root "values" $values) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            {{- if .portEnv }}
            - name: http
              containerPort: {{ $values.port }}
              protocol: TCP
            {{- end }}
            {{- if or (not .portEnv) (include "switchboard.separateMetricsPort" $values) }}
            - name: metrics
              containerPort: {{ $values.metricsPort }}
              protocol: TCP
            {{- end }}
          envFrom:
            {{- include "switchboard.commonEnvFrom" $root | nindent 12 }}
          env:
            {{- if .portEnv }}
            - name: {{ .portEnv }}
              value: {{ $values.port | int64 | toString | quote }}
            {{- end }}
            {{- if or (not .portEnv) (include "switchboard.separateMetricsPort" $values) }}
            - name: SWB_METRICS_PORT
              value: {{ $values.metricsPort | int64 | toString | quote }}
            {{- end }}
            {{- with $values.lagIntervalMs }}
            - name: SWB_LAG_INTERVAL_MS
              value: {{ . | int64 | toString | quote }}
            {{- end }}
            {{- with .envTemplate }}
            {{- include . $root | nindent 12 }}
            {{- end }}
            - name: NODE_OPTIONS
              value: {{ include "switchboard.nodeOptions" $values | quote }}
            {{- include "switchboard.commonEnv" (dict "root" $root "token" .token "engines" .engines) | nindent 12 }}
            {{- range $name, $value := $values.extraEnv }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
          {{- include "switchboard.probes" (dict "probes" $values.probes "port" $probePort) | nindent 10 }}
          {{- if $values.preStopSleepSeconds }}
          lifecycle:
            # Keeps serving while Services and the ingress remove the pod, which happens in
            # parallel with its termination.
            preStop:
              exec:
                command: ["sleep", {{ $values.preStopSleepSeconds | int64 | toString | quote }}]
          {{- end }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "switchboard.tmpVolumeMount" $root | nindent 12 }}
            {{- with .volumeMountsTemplate }}
            {{- include . $root | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "switchboard.tmpVolume" $root | nindent 8 }}
        {{- with .volumesTemplate }}
        {{- include . $root | nindent 8 }}
        {{- end }}
{{- end }}

{{/*
Service of a stateless component. Call like switchboard.deployment.
*/}}
{{- define "switchboard.service" -}}
{{- $values := .values }}
{{- $scope := dict "root" .root "component" .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "switchboard.selectorLabels" $scope | nindent 4 }}
  ports:
    {{- if .portEnv }}
    - name: http
      port: {{ $values.port }}
      targetPort: http
      protocol: TCP
    {{- end }}
    {{- if or (not .portEnv) (include "switchboard.separateMetricsPort" $values) }}
    - name: metrics
      port: {{ $values.metricsPort }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
{{- end }}

{{/*
HorizontalPodAutoscaler of a stateless component, on CPU utilization of its requests.
*/}}
{{- define "switchboard.hpa" -}}
{{- $values := .values }}
{{- $scope := dict "root" .root "component" .component }}
{{- if $values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "switchboard.componentName" $scope }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    # Scale down slowly: a traffic bump often comes back within minutes.
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- end }}

{{/*
PodDisruptionBudget of a stateless component.
*/}}
{{- define "switchboard.pdb" -}}
{{- $values := .values }}
{{- $scope := dict "root" .root "component" .component }}
{{- if $values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
spec:
  maxUnavailable: {{ $values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" $scope | nindent 6 }}
{{- end }}
{{- end }}

{{/*
ServiceMonitor of a stateless component.
*/}}
{{- define "switchboard.serviceMonitor" -}}
{{- $root := .root }}
{{- $scope := dict "root" $root "component" .component }}
{{- if $root.Values.metrics.serviceMonitor.enabled }}
{{- $port := "metrics" }}
{{- if .portEnv }}
{{- $port = include "switchboard.metricsPortName" (dict "values" .values "portName" "http") }}
{{- end }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
    {{- with $root.Values.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" $scope | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ $root.Release.Namespace }}
  endpoints:
    {{- include "switchboard.serviceMonitorEndpoint" (dict "root" $root "port" $port) | nindent 4 }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy of a stateless component. clientFacing admits networkPolicy.ingressFrom to
the service port; engines lists the engines it reaches.
*/}}
{{- define "switchboard.networkPolicy" -}}
{{- $root := .root }}
{{- $values := .values }}
{{- $scope := dict "root" $root "component" .component }}
{{- if $root.Values.networkPolicy.enabled }}
{{- $metricsPort := $values.metricsPort | default $values.port }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "switchboard.componentName" $scope }}
  labels:
    {{- include "switchboard.labels" $scope | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "switchboard.selectorLabels" $scope | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if .portEnv }}
    {{- with include "switchboard.ingressRule" (dict "peers" $root.Values.networkPolicy.ingressFrom "ports" (list $values.port)) }}{{ . | trim | nindent 4 }}{{ end }}
    {{- with include "switchboard.ingressRule" (dict "peers" $root.Values.networkPolicy.probesFrom "ports" (list $values.port)) }}{{ . | trim | nindent 4 }}{{ end }}
    {{- else }}
    {{- with include "switchboard.ingressRule" (dict "peers" $root.Values.networkPolicy.probesFrom "ports" (list $metricsPort)) }}{{ . | trim | nindent 4 }}{{ end }}
    {{- end }}
    {{- with include "switchboard.ingressRule" (dict "peers" $root.Values.networkPolicy.metricsFrom "ports" (list $metricsPort)) }}{{ . | trim | nindent 4 }}{{ end }}
  egress:
    {{- include "switchboard.egressRules" (dict "root" $root "engines" .engines) | trim | nindent 4 }}
{{- end }}
{{- end }}
