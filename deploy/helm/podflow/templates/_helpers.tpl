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

{{/*
The layout: "node" or "agent-gateway". `conntrack` and `cilium` (the key's values before there
were two layouts) mean node mode reading that source.
*/}}
{{- define "podflow.mode" -}}
{{- $mode := .Values.mode | toString -}}
{{- if has $mode (list "node" "conntrack" "cilium") -}}
node
{{- else if eq $mode "agent-gateway" -}}
agent-gateway
{{- else -}}
{{- fail (printf "mode must be node or agent-gateway (conntrack or cilium: node mode reading that source), got %q" $mode) -}}
{{- end -}}
{{- end -}}

{{/* The kernel source of the node DaemonSet or the agents. */}}
{{- define "podflow.kernelSource" -}}
{{- $source := .Values.kernelSource | toString -}}
{{- if has (.Values.mode | toString) (list "conntrack" "cilium") -}}
{{- $source = .Values.mode | toString -}}
{{- end -}}
{{- if not (has $source (list "conntrack" "cilium" "packet")) -}}
{{- fail (printf "kernelSource must be conntrack, cilium or packet, got %q" $source) -}}
{{- end -}}
{{- $source -}}
{{- end -}}

{{/*
The roles a release renders: ["node"] or ["agent", "gateway"]. Every per-role helper takes
(dict "root" $ "role" <role>).
*/}}
{{- define "podflow.roles" -}}
{{- if eq (include "podflow.mode" .) "node" -}}
["node"]
{{- else -}}
["agent", "gateway"]
{{- end -}}
{{- end -}}

{{/* Object names: the release's for node mode (as before there were roles), else <release>-<role>. */}}
{{- define "podflow.roleName" -}}
{{- if eq .role "node" -}}
{{- include "podflow.fullname" .root -}}
{{- else -}}
{{- printf "%s-%s" (include "podflow.fullname" .root | trunc 55 | trimSuffix "-") .role -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of a role's pods (node mode keeps the selector it always had: selectors are immutable). */}}
{{- define "podflow.roleSelectorLabels" -}}
{{ include "podflow.selectorLabels" .root }}
{{- if ne .role "node" }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}
{{- end -}}

{{- define "podflow.roleLabels" -}}
{{- if eq .role "node" -}}
{{ include "podflow.labels" .root }}
{{- else -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "podflow.roleSelectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: podflow
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}
{{- end -}}

{{- define "podflow.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create -}}
{{- if eq .role "node" -}}
{{- default (include "podflow.fullname" .root) .root.Values.serviceAccount.name -}}
{{- else -}}
{{- include "podflow.roleName" . -}}
{{- end -}}
{{- else -}}
{{- default "default" .root.Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateways' headless Service as the agents resolve it. */}}
{{- define "podflow.gatewayHost" -}}
{{- printf "%s.%s.svc" (include "podflow.roleName" (dict "root" . "role" "gateway")) .Release.Namespace -}}
{{- end -}}

{{- define "podflow.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
A role's pipelines as service.pipelines (a YAML map): the node's and the gateways' are
`pipelines` (empty receivers: [<kernelSource>] / [otlp]); the agents' is one pipeline
[<kernelSource>] -> agent.processors -> agent.exporters.
*/}}
{{- define "podflow.rolePipelines" -}}
{{- $v := .root.Values -}}
{{- $pipelines := dict -}}
{{- if eq .role "agent" -}}
{{- if has "k8sattributes" (($v.agent.processors | default list) | toStrings) -}}
{{- fail "agent.processors must not name k8sattributes: agents have no API access, the gateways name both ends" -}}
{{- end -}}
{{- $_ := set $pipelines "flows" (dict "receivers" (list (include "podflow.kernelSource" .root)) "processors" ($v.agent.processors | default list) "exporters" ($v.agent.exporters | default list)) -}}
{{- else -}}
{{- $defaultReceivers := ternary (list (include "podflow.kernelSource" .root)) (list "otlp") (eq .role "node") -}}
{{- range $name, $p := $v.pipelines -}}
{{- $p = $p | default dict -}}
{{- $_ := set $pipelines $name (dict "receivers" ($p.receivers | default $defaultReceivers) "processors" ($p.processors | default list) "exporters" ($p.exporters | default list)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $pipelines -}}
{{- end -}}

{{/*
A role's config.yaml built from receivers/processors/exporters and its pipelines: only
components a pipeline names are rendered.
*/}}
{{- define "podflow.generatedConfig" -}}
{{- $v := .root.Values -}}
{{- $role := .role -}}
{{- $sections := list "receivers" "processors" "exporters" -}}
{{- $used := dict "receivers" (dict) "processors" (dict) "exporters" (dict) -}}
{{- $pipelines := include "podflow.rolePipelines" . | fromYaml -}}
{{- range $name, $pipeline := $pipelines -}}
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
{{- $_ := set $bodies $id (deepCopy ((get $declared $id) | default dict)) -}}
{{- end -}}
{{- if $bodies -}}
{{- $_ := set $config $section $bodies -}}
{{- end -}}
{{- end -}}
{{- if eq $role "gateway" -}}
{{- range $id, $body := ($config.processors | default dict) -}}
{{- if and (eq (regexReplaceAll "/.*$" $id "") "k8sattributes") $body.node_name -}}
{{- fail (printf "processors.%s.node_name must be empty in mode agent-gateway: a gateway takes each batch's reporting node from the agent that sent it" $id) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $role "agent" -}}
{{- /* A loadbalancing exporter without a resolver finds the gateways through their headless Service. */ -}}
{{- range $id, $body := ($config.exporters | default dict) -}}
{{- if eq (regexReplaceAll "/.*$" $id "") "loadbalancing" -}}
{{- $resolver := $body.resolver | default dict -}}
{{- if not (hasKey $resolver "static") -}}
{{- $dns := $resolver.dns | default dict -}}
{{- if not $dns.hostname -}}
{{- $_ := set $dns "hostname" (include "podflow.gatewayHost" $.root) -}}
{{- end -}}
{{- $_ := set $resolver "dns" $dns -}}
{{- $_ := set $body "resolver" $resolver -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $resource := dict -}}
{{- if eq $role "gateway" -}}
{{- $_ := set $resource "service.instance.id" "${env:POD_NAME}" -}}
{{- else -}}
{{- $_ := set $resource "k8s.node.name" "${env:NODE_NAME}" -}}
{{- end -}}
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

{{/* The config.yaml a role's ConfigMap carries: its `config` override when set, else the generated one. */}}
{{- define "podflow.config" -}}
{{- $override := .root.Values.config -}}
{{- if eq .role "agent" -}}
{{- $override = .root.Values.agent.config -}}
{{- else if eq .role "gateway" -}}
{{- $override = .root.Values.gateway.config -}}
{{- end -}}
{{- if kindIs "string" $override -}}
{{- if $override -}}
{{- $override | trim -}}
{{- else -}}
{{- include "podflow.generatedConfig" . | trim -}}
{{- end -}}
{{- else if $override -}}
{{- toYaml $override -}}
{{- else -}}
{{- include "podflow.generatedConfig" . | trim -}}
{{- end -}}
{{- end -}}

{{/*
What a role's rendered config uses, read back from it (so a raw `config` gets the same
treatment): receiver and processor types, the ports of prometheus exporters and of the otlp
receiver's protocols. A YAML map.
*/}}
{{- define "podflow.facts" -}}
{{- $config := include "podflow.config" . | fromYaml -}}
{{- if hasKey $config "Error" -}}
{{- fail (printf "config is not valid YAML: %s" $config.Error) -}}
{{- end -}}
{{- $receivers := dict -}}
{{- $processors := dict -}}
{{- $ports := list -}}
{{- $otlpPorts := dict -}}
{{- $service := $config.service | default dict -}}
{{- range $name, $p := ($service.pipelines | default dict) -}}
{{- range $id := ($p.receivers | default list) -}}
{{- $type := regexReplaceAll "/.*$" $id "" -}}
{{- $_ := set $receivers $type true -}}
{{- if eq $type "otlp" -}}
{{- $protocols := (get ($config.receivers | default dict) $id | default dict).protocols | default dict -}}
{{- range $protocol, $body := $protocols -}}
{{- $endpoint := ($body | default dict).endpoint | default (ternary "0.0.0.0:4317" "0.0.0.0:4318" (eq $protocol "grpc")) | toString -}}
{{- $_ := set $otlpPorts $protocol (int (regexFind "[0-9]+$" $endpoint)) -}}
{{- end -}}
{{- end -}}
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
otlpPorts: {{ $otlpPorts | toJson }}
telemetryPort: {{ regexFind "[0-9]+$" $metricsAddress | default "0" }}
telemetryHost: {{ regexReplaceAll ":[0-9]+$" $metricsAddress "" | quote }}
{{- end -}}

{{/* Capabilities a role's receivers need (ALL others dropped). A YAML list. */}}
{{- define "podflow.capabilities" -}}
{{- $facts := include "podflow.facts" . | fromYaml -}}
{{- $caps := list -}}
{{- range $type := $facts.receivers -}}
{{- $caps = concat $caps (get $.root.Values.capabilities $type | default list) -}}
{{- end -}}
{{- toJson ($caps | uniq) -}}
{{- end -}}

{{/* The telemetry address checks every role's pods need (the probes use it). */}}
{{- define "podflow.checkTelemetry" -}}
{{- if eq (int .telemetryPort) 0 -}}
{{- fail "service.telemetry.metrics.address must be host:port (the probes use /healthz and /readyz on it)" -}}
{{- end -}}
{{- if has .telemetryHost (list "127.0.0.1" "localhost" "[::1]") -}}
{{- fail (printf "service.telemetry.metrics.address listens on %s only: the kubelet probes the pod's address, use 0.0.0.0:%d" .telemetryHost (int .telemetryPort)) -}}
{{- end -}}
{{- end -}}

{{/*
The env, probes and ports every podflow container has. `facts`: the role's facts. Agents and
gateways get only the `credentials` their own config reads (a gateway's database password is no
business of the agents).
*/}}
{{- define "podflow.containerCommon" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $configText := include "podflow.config" (dict "root" $root "role" $role) -}}
env:
  {{- if ne .role "gateway" }}
  - name: NODE_NAME
    valueFrom:
      fieldRef:
        fieldPath: spec.nodeName
  {{- end }}
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  # Where the prometheus exporter listens (its own default is localhost).
  - name: POD_IP
    valueFrom:
      fieldRef:
        fieldPath: status.podIP
  {{- range $root.Values.credentials }}
  {{- if or (eq $role "node") (regexMatch (printf "\\$\\{(env:)?%s(:-[^}]*)?\\}" (required "credentials[].env is required" .env)) $configText) }}
  - name: {{ required "credentials[].env is required" .env }}
    valueFrom:
      secretKeyRef:
        name: {{ required "credentials[].secretName is required" .secretName }}
        key: {{ required "credentials[].key is required" .key }}
        {{- if .optional }}
        optional: true
        {{- end }}
  {{- end }}
  {{- end }}
  {{- with $root.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
ports:
  - name: telemetry
    containerPort: {{ .facts.telemetryPort }}
    protocol: TCP
  {{- range $i, $port := .facts.prometheusPorts }}
  - name: {{ ternary "prometheus" (printf "prometheus-%d" $i) (eq $i 0) }}
    containerPort: {{ $port }}
    protocol: TCP
  {{- end }}
  {{- range $protocol, $port := .facts.otlpPorts }}
  - name: otlp-{{ $protocol }}
    containerPort: {{ $port }}
    protocol: TCP
  {{- end }}
livenessProbe:
  httpGet:
    path: /healthz
    port: telemetry
  {{- toYaml $root.Values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: telemetry
  {{- toYaml $root.Values.readinessProbe | nindent 2 }}
{{- end -}}
