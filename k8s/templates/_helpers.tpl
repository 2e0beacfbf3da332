{{/* The chart's name, at most 63 characters. */}}
{{- define "model-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, with the chart's name unless it already holds it. */}}
{{- define "model-service.fullname" -}}
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

{{- define "model-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The service's pods (not the database's: they carry a component label the selector excludes). */}}
{{- define "model-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "model-service.commonLabels" -}}
helm.sh/chart: {{ include "model-service.chart" . }}
app.kubernetes.io/name: {{ include "model-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: model-service
{{- end }}

{{- define "model-service.labels" -}}
{{ include "model-service.commonLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "model-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The command that runs the CLI in the image (`node server/cli.mjs`, as `npm run cli --` runs it from the sources). */}}
{{- define "model-service.cli" -}}
- node
- server/cli.mjs
{{- end }}

{{/* ---- the database ---------------------------------------------------------------------- */}}

{{- define "model-service.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "model-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "model-service.postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end }}

{{- define "model-service.postgresql.image" -}}
{{- printf "%s:%s" .Values.postgresql.image.repository .Values.postgresql.image.tag }}
{{- end }}

{{/* ---- secrets --------------------------------------------------------------------------- */}}

{{/* The Secret of generated values the pods read (kept across upgrades, and after an uninstall). */}}
{{- define "model-service.generatedSecretName" -}}
{{- printf "%s-generated" (include "model-service.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The database's generated password, in a Secret of its own (the pods read the URL, not this). */}}
{{- define "model-service.postgresql.secretName" -}}
{{- include "model-service.postgresql.fullname" . }}
{{- end }}

{{/* True ("true") when a ServiceMonitor is rendered: asked for, and the cluster has the CRD. */}}
{{- define "model-service.serviceMonitor.enabled" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") }}true{{ end }}
{{- end }}

{{/*
  The values the chart makes up when they are not given, as a dict of name -> plain value, worked
  out once per render (every template that includes this sees the same values; they are kept on
  .Values under a name no user value has):
    AUTH_SECRET, SECRETS_KEY   unless secrets.* gives them
    METRICS_TOKEN              when a ServiceMonitor is rendered and secrets.METRICS_TOKEN is empty
    DATABASE_URL               with postgresql.enabled: the chart's own database
    POSTGRES_PASSWORD          with postgresql.enabled, unless postgresql.auth.password is set
                               (it goes to the database's Secret; the others to the pods')
  A value already in this release's Secrets (an upgrade) is kept: random values are made only on
  the first install (`helm template` has no cluster to look in, so it always makes new ones).
*/}}
{{- define "model-service.generated" -}}
{{- if not (hasKey .Values "__generated") }}
{{- $existing := dict }}
{{- with (lookup "v1" "Secret" .Release.Namespace (include "model-service.generatedSecretName" .)) }}
{{- $existing = merge $existing (.data | default dict) }}
{{- end }}
{{- with (lookup "v1" "Secret" .Release.Namespace (include "model-service.postgresql.secretName" .)) }}
{{- $existing = merge $existing (.data | default dict) }}
{{- end }}
{{- $out := dict }}
{{- $wanted := list "AUTH_SECRET" "SECRETS_KEY" }}
{{- if include "model-service.serviceMonitor.enabled" . }}{{ $wanted = append $wanted "METRICS_TOKEN" }}{{ end }}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.auth.password) }}{{ $wanted = append $wanted "POSTGRES_PASSWORD" }}{{ end }}
{{- range $name := $wanted }}
{{- if not (and (ne $name "POSTGRES_PASSWORD") (get $.Values.secrets $name)) }}
{{- if hasKey $existing $name }}
{{- $_ := set $out $name (get $existing $name | b64dec) }}
{{- else }}
{{- $_ := set $out $name (randAlphaNum 48) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.postgresql.enabled }}
{{- $password := .Values.postgresql.auth.password | default (get $out "POSTGRES_PASSWORD") }}
{{- $auth := .Values.postgresql.auth }}
{{- $_ := set $out "DATABASE_URL" (printf "postgresql://%s:%s@%s:5432/%s" $auth.username (urlquery $password) (include "model-service.postgresql.fullname" .) $auth.database) }}
{{- end }}
{{- $_ := set .Values "__generated" $out }}
{{- end }}
{{- toJson (get .Values "__generated") }}
{{- end }}

{{/* The given secrets.* values that are set (empty ones are left out, so the service's defaults apply). */}}
{{- define "model-service.givenSecrets" -}}
{{- $out := dict }}
{{- range $name, $value := .Values.secrets }}
{{- if $value }}{{ $_ := set $out $name ($value | toString) }}{{ end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
  The database settings make sense together: the chart's own PostgreSQL, or an external one named
  by secrets.DATABASE_URL or held in existingSecret. Renders nothing; fails with what to change.
*/}}
{{- define "model-service.checkDatabase" -}}
{{- if and .Values.postgresql.enabled .Values.secrets.DATABASE_URL }}
{{- fail "secrets.DATABASE_URL is set, and so is postgresql.enabled (the chart's own database): set postgresql.enabled=false to use the database in DATABASE_URL" }}
{{- end }}
{{- if and (not .Values.postgresql.enabled) (not .Values.secrets.DATABASE_URL) (not .Values.existingSecret) }}
{{- fail "postgresql.enabled=false needs an external database: set secrets.DATABASE_URL (postgresql://user:password@host:5432/db) or existingSecret (a Secret holding DATABASE_URL)" }}
{{- end }}
{{- end }}

{{/*
  The pods' environment from Secrets, in order: a later source wins for a name that several hold
  (Kubernetes' rule for envFrom), so what is given (secrets.*, then existingSecret) overrides what
  the chart generated.
*/}}
{{- define "model-service.secretEnvFrom" -}}
- secretRef:
    name: {{ include "model-service.generatedSecretName" . }}
{{- if ne (include "model-service.givenSecrets" .) "{}" }}
- secretRef:
    name: {{ include "model-service.fullname" . }}
{{- end }}
{{- with .Values.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}
