{{/* The worker reaches the queue at <release>-queue, so the name is fixed to that. */}}
{{- define "queue.fullname" -}}
{{- printf "%s-queue" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "queue.selectorLabels" -}}
app.kubernetes.io/name: queue
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "queue.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "queue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
