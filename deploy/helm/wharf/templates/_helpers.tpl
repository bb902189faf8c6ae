{{/* The chart's name, or nameOverride. */}}
{{- define "wharf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: fullnameOverride, else release-chart (once when they agree). */}}
{{- define "wharf.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wharf.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wharf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wharf.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wharf.labels" -}}
helm.sh/chart: {{ include "wharf.chart" . }}
{{ include "wharf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "wharf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wharf.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wharf.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the chart creates for the values it was given (see secret.yaml). */}}
{{- define "wharf.secretName" -}}
{{- include "wharf.fullname" . }}
{{- end }}

{{/*
Whether updates replace the pod instead of rolling: SQLite on the volume (one file, one process
at a time), or any volume only one node can mount (the new pod could not start beside the old).
*/}}
{{- define "wharf.recreate" -}}
{{- if and .Values.persistence.enabled (or (not .Values.externalDatabase.enabled) (not (has "ReadWriteMany" .Values.persistence.accessModes))) }}true{{ end }}
{{- end }}

{{/* Refuses settings with which several pods would not share their state. */}}
{{- define "wharf.validate" -}}
{{- $several := or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if $several }}
{{- if not .Values.externalDatabase.enabled }}
{{- fail "several replicas (replicaCount > 1 or autoscaling) need externalDatabase.enabled: SQLite is one file for one pod" }}
{{- end }}
{{- if and .Values.persistence.enabled (not (has "ReadWriteMany" .Values.persistence.accessModes)) }}
{{- fail "several replicas cannot share a ReadWriteOnce volume: persistence.enabled=false with s3.enabled, or persistence.accessModes [ReadWriteMany]" }}
{{- end }}
{{- if and (not .Values.s3.enabled) (not .Values.persistence.enabled) }}
{{- fail "several replicas need s3.enabled, or persistence on a ReadWriteMany volume they all mount" }}
{{- end }}
{{- end }}
{{- if and .Values.externalDatabase.enabled (not .Values.externalDatabase.url) }}
{{- fail "externalDatabase.enabled needs externalDatabase.url (postgres://USER@HOST:PORT/DBNAME)" }}
{{- end }}
{{- if and .Values.s3.enabled (not .Values.s3.bucket) }}
{{- fail "s3.enabled needs s3.bucket" }}
{{- end }}
{{- if and .Values.redis.enabled (not .Values.redis.addr) }}
{{- fail "redis.enabled needs redis.addr (HOST:PORT)" }}
{{- end }}
{{- end }}

{{/*
A variable from a Secret: the existing one when named, else the chart's own (secret.yaml).
Arguments: list context variableName existingSecret existingKey chartKey
*/}}
{{- define "wharf.secretEnv" -}}
{{- $root := index . 0 }}
{{- $existing := index . 2 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "wharf.secretName" $root) $existing }}
      key: {{ ternary (index . 3) (index . 4) (ne $existing "") }}
{{- end }}
