{{/*
Name of the Secret with the push provider credentials: pushWorker.credentials.existingSecret,
or the one the chart creates from pushWorker.credentials.
*/}}
{{- define "switchboard.pushWorker.secretName" -}}
{{- if .Values.pushWorker.credentials.existingSecret }}
{{- .Values.pushWorker.credentials.existingSecret }}
{{- else }}
{{- printf "%s-push-credentials" (include "switchboard.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Directory where the credential files of the push providers are mounted.
*/}}
{{- define "switchboard.pushWorker.credentialsDir" -}}
/etc/switchboard/push
{{- end }}

{{/*
Whether the push worker mounts credential files: FCM and APNs read theirs from files.
*/}}
{{- define "switchboard.pushWorker.mountsCredentials" -}}
{{- if or .Values.pushWorker.fcm.enabled .Values.pushWorker.apns.enabled }}true{{ end }}
{{- end }}

{{/*
SWB_PUSH_ variables of the push worker container. Provider variables are set only for the
providers that are enabled; a worker without providers runs and drops every job.
*/}}
{{- define "switchboard.pushWorker.env" -}}
{{- $push := .Values.pushWorker }}
{{- $delivery := $push.delivery }}
{{- $secret := include "switchboard.pushWorker.secretName" . }}
{{- $dir := include "switchboard.pushWorker.credentialsDir" . }}
- name: SWB_PUSH_GROUP
  value: {{ $delivery.group | quote }}
- name: SWB_PUSH_COLLAPSE_INTERVAL_MS
  value: {{ $delivery.collapseIntervalMs | int64 | toString | quote }}
- name: SWB_PUSH_MAX_ATTEMPTS
  value: {{ $delivery.maxAttempts | int64 | toString | quote }}
- name: SWB_PUSH_BACKOFF_BASE_MS
  value: {{ $delivery.backoffBaseMs | int64 | toString | quote }}
- name: SWB_PUSH_BACKOFF_MAX_MS
  value: {{ $delivery.backoffMaxMs | int64 | toString | quote }}
- name: SWB_PUSH_DEDUP_WINDOW_MS
  value: {{ $delivery.dedupWindowMs | int64 | toString | quote }}
- name: SWB_PUSH_DEDUP_MAX_ENTRIES
  value: {{ $delivery.dedupMaxEntries | int64 | toString | quote }}
- name: SWB_PUSH_CONCURRENCY
  value: {{ $delivery.concurrency | int64 | toString | quote }}
- name: SWB_PUSH_SEND_TIMEOUT_MS
  value: {{ $delivery.sendTimeoutMs | int64 | toString | quote }}
{{- if $push.webPush.enabled }}
- name: SWB_PUSH_VAPID_PUBLIC_KEY
  value: {{ required "pushWorker.webPush.publicKey must be set when pushWorker.webPush.enabled is true" $push.webPush.publicKey | quote }}
- name: SWB_PUSH_VAPID_SUBJECT
  value: {{ required "pushWorker.webPush.subject must be set when pushWorker.webPush.enabled is true" $push.webPush.subject | quote }}
- name: SWB_PUSH_VAPID_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: vapid-private-key
{{- with $push.webPush.allowedHosts }}
- name: SWB_PUSH_ALLOWED_HOSTS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $push.fcm.enabled }}
- name: SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE
  value: {{ printf "%s/fcm-service-account.json" $dir | quote }}
{{- with $push.fcm.apiOrigin }}
- name: SWB_PUSH_FCM_API_ORIGIN
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $push.apns.enabled }}
- name: SWB_PUSH_APNS_KEY_FILE
  value: {{ printf "%s/apns-key.p8" $dir | quote }}
- name: SWB_PUSH_APNS_KEY_ID
  value: {{ required "pushWorker.apns.keyId must be set when pushWorker.apns.enabled is true" $push.apns.keyId | quote }}
- name: SWB_PUSH_APNS_TEAM_ID
  value: {{ required "pushWorker.apns.teamId must be set when pushWorker.apns.enabled is true" $push.apns.teamId | quote }}
- name: SWB_PUSH_APNS_TOPIC
  value: {{ required "pushWorker.apns.topic must be set when pushWorker.apns.enabled is true" $push.apns.topic | quote }}
{{- with $push.apns.origin }}
- name: SWB_PUSH_APNS_ORIGIN
  value: {{ . | quote }}
{{- end }}
{{- if $push.apns.trustCa }}
- name: SWB_PUSH_APNS_CA_FILE
  value: {{ printf "%s/apns-ca.pem" $dir | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Volume with the credential files of the enabled providers, from the credentials Secret.
*/}}
{{- define "switchboard.pushWorker.volumes" -}}
{{- $push := .Values.pushWorker }}
{{- if include "switchboard.pushWorker.mountsCredentials" . }}
- name: push-credentials
  secret:
    secretName: {{ include "switchboard.pushWorker.secretName" . }}
    # 0440: readable by the container's group (fsGroup) and no one else.
    defaultMode: 288
    items:
      {{- if $push.fcm.enabled }}
      - key: fcm-service-account.json
        path: fcm-service-account.json
      {{- end }}
      {{- if $push.apns.enabled }}
      - key: apns-key.p8
        path: apns-key.p8
      {{- if $push.apns.trustCa }}
      - key: apns-ca.pem
        path: apns-ca.pem
      {{- end }}
      {{- end }}
{{- end }}
{{- end }}

{{- define "switchboard.pushWorker.volumeMounts" -}}
{{- if include "switchboard.pushWorker.mountsCredentials" . }}
- name: push-credentials
  mountPath: {{ include "switchboard.pushWorker.credentialsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Push variables of the api, which serves the VAPID public key and the enabled platforms to
clients and checks Web Push endpoints against the allowed hosts. It reads neither credential
file: a set file variable only tells it that the platform is on, so the paths are not mounted
in its pods.
*/}}
{{- define "switchboard.api.pushEnv" -}}
{{- $push := .Values.pushWorker }}
{{- $dir := include "switchboard.pushWorker.credentialsDir" . }}
{{- if $push.enabled }}
{{- if $push.webPush.enabled }}
- name: SWB_PUSH_VAPID_PUBLIC_KEY
  value: {{ $push.webPush.publicKey | quote }}
{{- with $push.webPush.allowedHosts }}
- name: SWB_PUSH_ALLOWED_HOSTS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $push.fcm.enabled }}
- name: SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE
  value: {{ printf "%s/fcm-service-account.json" $dir | quote }}
{{- end }}
{{- if $push.apns.enabled }}
- name: SWB_PUSH_APNS_KEY_FILE
  value: {{ printf "%s/apns-key.p8" $dir | quote }}
{{- end }}
{{- end }}
{{- end }}
