{{/* Names and labels. */}}
{{- define "podflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "podflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "podflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "podflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: flow-agent
app.kubernetes.io/part-of: podflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "podflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "podflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "podflow.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The podflow config.yaml built from receivers/processors/exporters/pipelines: only components a
pipeline names are rendered; a pipeline without receivers reads the mode's receiver.
*/}}
{{- define "podflow.generatedConfig" -}}
{{- $v := .Values -}}
{{- if not (has $v.mode (list "conntrack" "cilium")) -}}
{{- fail (printf "mode must be conntrack or cilium, got %q" $v.mode) -}}
{{- end -}}
{{- $sections := list "receivers" "processors" "exporters" -}}
{{- $used := dict "receivers" (dict) "processors" (dict) "exporters" (dict) -}}
{{- $pipelines := dict -}}
{{- range $name, $p := $v.pipelines -}}
{{- $p = $p | default dict -}}
{{- $pipeline := dict "receivers" ($p.receivers | default (list $v.mode)) "processors" ($p.processors | default list) "exporters" ($p.exporters | default list) -}}
{{- $_ := set $pipelines $name $pipeline -}}
{{- range $section := $sections -}}
{{- range $id := get $pipeline $section -}}
{{- $_ := set (get $used $section) $id true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $config := dict -}}
{{- range $section := $sections -}}
{{- $declared := get $v $section | default dict -}}
{{- $bodies := dict -}}
{{- range $id, $_ := get $used $section -}}
{{- if not (hasKey $declared $id) -}}
{{- fail (printf "a pipeline uses %s %q but %s.%s is not set in the values" (trimSuffix "s" $section) $id $section $id) -}}
{{- end -}}
{{- $_ := set $bodies $id ((get $declared $id) | default dict) -}}
{{- end -}}
{{- if $bodies -}}
{{- $_ := set $config $section $bodies -}}
{{- end -}}
{{- end -}}
{{- $resource := dict "k8s.node.name" "${env:NODE_NAME}" -}}
{{- if $v.clusterName -}}
{{- $_ := set $resource "k8s.cluster.name" $v.clusterName -}}
{{- end -}}
{{- $resource = merge $resource ($v.resource | default dict) -}}
{{- $telemetry := dict "logs" (dict "level" $v.telemetry.logLevel) "metrics" (dict "address" (printf "0.0.0.0:%d" (int $v.telemetry.port))) -}}
{{- $_ := set $config "service" (dict "pipelines" $pipelines "telemetry" $telemetry "resource" $resource) -}}
{{- /* Sections in config.yaml's usual order (toYaml alone would sort them). */ -}}
{{- range $section := concat $sections (list "service") -}}
{{- if hasKey $config $section }}
{{ $section }}:
  {{- toYaml (get $config $section) | nindent 2 }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The config.yaml the ConfigMap carries: `config` when set, else the generated one. */}}
{{- define "podflow.config" -}}
{{- if kindIs "string" .Values.config -}}
{{- if .Values.config -}}
{{- .Values.config | trim -}}
{{- else -}}
{{- include "podflow.generatedConfig" . | trim -}}
{{- end -}}
{{- else if .Values.config -}}
{{- toYaml .Values.config -}}
{{- else -}}
{{- include "podflow.generatedConfig" . | trim -}}
{{- end -}}
{{- end -}}

{{/*
What the rendered config uses, read back from it (so a raw `config` gets the same treatment):
receiver and processor types, and the ports of prometheus exporters. A YAML map.
*/}}
{{- define "podflow.facts" -}}
{{- $config := include "podflow.config" . | fromYaml -}}
{{- if hasKey $config "Error" -}}
{{- fail (printf "config is not valid YAML: %s" $config.Error) -}}
{{- end -}}
{{- $receivers := dict -}}
{{- $processors := dict -}}
{{- $ports := list -}}
{{- $service := $config.service | default dict -}}
{{- range $name, $p := ($service.pipelines | default dict) -}}
{{- range ($p.receivers | default list) -}}
{{- $_ := set $receivers (regexReplaceAll "/.*$" . "") true -}}
{{- end -}}
{{- range ($p.processors | default list) -}}
{{- $_ := set $processors (regexReplaceAll "/.*$" . "") true -}}
{{- end -}}
{{- range $id := ($p.exporters | default list) -}}
{{- if eq (regexReplaceAll "/.*$" $id "") "prometheus" -}}
{{- $body := get ($config.exporters | default dict) $id | default dict -}}
{{- $endpoint := $body.endpoint | default "localhost:9464" | toString -}}
{{- $ports = append $ports (int (regexFind "[0-9]+$" $endpoint)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $metricsAddress := ((($service.telemetry | default dict).metrics | default dict).address | default "127.0.0.1:8888") | toString -}}
receivers: {{ keys $receivers | sortAlpha | toJson }}
processors: {{ keys $processors | sortAlpha | toJson }}
prometheusPorts: {{ $ports | uniq | toJson }}
telemetryPort: {{ regexFind "[0-9]+$" $metricsAddress | default "0" }}
telemetryHost: {{ regexReplaceAll ":[0-9]+$" $metricsAddress "" | quote }}
{{- end -}}

{{/* Capabilities the used receivers need (ALL others dropped). A YAML list. */}}
{{- define "podflow.capabilities" -}}
{{- $facts := include "podflow.facts" . | fromYaml -}}
{{- $caps := list -}}
{{- range $type := $facts.receivers -}}
{{- $caps = concat $caps (get $.Values.capabilities $type | default list) -}}
{{- end -}}
{{- toJson ($caps | uniq) -}}
{{- end -}}
