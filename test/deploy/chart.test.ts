// The Helm chart (deploy/helm/podflow): helm lint and helm template for the default values and
// the conntrack, cilium, postgres and otlp variants (deploy/helm/podflow/ci/*-values.yaml); every
// rendered object validated against the Kubernetes schemas; least privilege asserted (no
// privileged, exactly the capabilities each receiver needs, read-only root, read-only RBAC); the
// rendered podflow config checked by the real `bin/podflow validate`.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { validateObject, type K8sObject } from '../harness/k8s-schema.ts';
import { K8SATTRIBUTES_RBAC, type DaemonSet, type PolicyRule, type Service, type Workload } from '../harness/k8s-workloads.ts';
import { checkConfig, postgresPipelinesWithoutDelta, requiredEnvReferences, validateConfig } from '../harness/podflow-config.ts';
import { CHART, HELM, PODFLOW, ROOT, find, helmTemplate, parseObjects, requireK8sTools, run } from '../harness/k8s-tools.ts';
import { Netns } from '../harness/netns.ts';
import { requirePrivileges } from '../harness/privileges.ts';
import { systemTool } from '../harness/system-tools.ts';

interface Variant {
  name: string;
  values?: string;
  receiver: 'conntrack' | 'cilium';
  capabilities: string[];
  /** The podflow container's own seccomp profile (Localhost), if any. */
  seccomp?: string;
  k8sattributes: boolean;
  telemetryPort: number;
  exporters: string[];
  secretEnv: Record<string, { secret: string; key: string }>;
}

const VARIANTS: Variant[] = [
  { name: 'default', receiver: 'conntrack', capabilities: ['NET_ADMIN'], k8sattributes: true, telemetryPort: 8888, exporters: ['prometheus'], secretEnv: {} },
  { name: 'conntrack', values: 'ci/conntrack-values.yaml', receiver: 'conntrack', capabilities: ['NET_ADMIN'], k8sattributes: true, telemetryPort: 9888, exporters: ['prometheus'], secretEnv: {} },
  { name: 'cilium', values: 'ci/cilium-values.yaml', receiver: 'cilium', capabilities: ['BPF'], seccomp: 'podflow/cilium.json', k8sattributes: true, telemetryPort: 8888, exporters: ['prometheus'], secretEnv: {} },
  {
    name: 'postgres', values: 'ci/postgres-values.yaml', receiver: 'conntrack', capabilities: ['NET_ADMIN'], k8sattributes: true, telemetryPort: 8888,
    exporters: ['postgres', 'prometheus'], secretEnv: { PODFLOW_PG_PASSWORD: { secret: 'podflow-postgres', key: 'password' } },
  },
  {
    name: 'otlp', values: 'ci/otlp-values.yaml', receiver: 'conntrack', capabilities: ['NET_ADMIN'], k8sattributes: false, telemetryPort: 8888,
    exporters: ['otlp'], secretEnv: { OTLP_TOKEN: { secret: 'otlp-auth', key: 'token' } },
  },
];


let registeredReceivers: Promise<string[]> | undefined;
/** Receiver types this build of podflow has (`bin/podflow components`). */
function receiverTypes(): Promise<string[]> {
  registeredReceivers ??= run(PODFLOW, ['components']).then((r) => {
    const section = /receivers:\n((?: {2}.*\n)*)/.exec(r.stdout)?.[1] ?? '';
    return section.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
  });
  return registeredReceivers;
}

function valuesArgs(v: Variant): string[] {
  return v.values ? ['--values', `${CHART}/${v.values}`] : [];
}

async function render(v: Variant): Promise<K8sObject[]> {
  return parseObjects(await helmTemplate(valuesArgs(v)));
}

function configOf(objects: readonly K8sObject[]): string {
  const data = find(objects, 'ConfigMap').data as Record<string, string> | undefined;
  const text = data?.['config.yaml'];
  if (typeof text !== 'string') throw new Error('the ConfigMap has no config.yaml');
  return text;
}

for (const v of VARIANTS) {
  test(`${v.name}: helm lint passes`, async (t) => {
    if (!requireK8sTools(t)) return;
    const result = await run(HELM, ['lint', CHART, '--strict', ...valuesArgs(v)]);
    t.is(result.code, 0, result.stdout + result.stderr);
    t.regex(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    t.notRegex(result.stdout, /\[(ERROR|WARNING)\]/);
  });

  test(`${v.name}: NOTES.txt renders and names the receiver and capabilities`, async (t) => {
    if (!requireK8sTools(t)) return;
    const result = await run(HELM, ['install', 'podflow', CHART, '--namespace', 'podflow', '--dry-run=client', ...valuesArgs(v)]);
    t.is(result.code, 0, result.stderr);
    const notes = result.stdout.slice(result.stdout.indexOf('NOTES:'));
    t.regex(notes, new RegExp(`Receivers: ${v.receiver} `));
    t.regex(notes, new RegExp(`Capabilities: ${v.capabilities.join(', ')} \\(all others dropped; privileged: false\\)`));
    t.regex(notes, /port-forward daemonset\/podflow \d+/);
  });

  test(`${v.name}: every rendered object is valid against the Kubernetes schemas`, async (t) => {
    if (!requireK8sTools(t)) return;
    const objects = await render(v);
    const kinds = objects.map((o) => o.kind).sort();
    for (const kind of ['ConfigMap', 'DaemonSet', 'ServiceAccount']) t.true(kinds.includes(kind), `${kind} rendered`);
    const errors = (await Promise.all(objects.map((o) => validateObject(o)))).flat();
    t.deepEqual(errors, []);
    for (const o of objects) {
      t.truthy(o.metadata?.name, `${o.kind} has a name`);
      if (!o.kind.startsWith('Cluster')) t.is(o.metadata?.namespace, 'podflow', `${o.kind}/${o.metadata?.name} is namespaced`);
    }
  });

  test(`${v.name}: least privilege: no privileged, capabilities ${v.capabilities.join('+')}, read-only root`, async (t) => {
    if (!requireK8sTools(t)) return;
    const ds = find(await render(v), 'DaemonSet') as DaemonSet;
    const pod = ds.spec.template.spec;
    t.true(pod.hostNetwork, 'hostNetwork: the node conntrack table / maps');
    t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    t.falsy(pod.hostPID);
    t.falsy(pod.hostIPC);
    t.is(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    const all = [...(pod.initContainers ?? []), ...pod.containers];
    for (const c of all) {
      const sc = c.securityContext;
      t.is(sc?.privileged, false, `${c.name}: privileged false`);
      t.is(sc?.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`);
      t.is(sc?.readOnlyRootFilesystem, true, `${c.name}: read-only root filesystem`);
      t.deepEqual(sc?.capabilities?.drop, ['ALL'], `${c.name}: drops ALL`);
    }
    const main = pod.containers[0]!;
    t.is(main.name, 'podflow');
    t.deepEqual([...(main.securityContext?.capabilities?.add ?? [])].sort(), [...v.capabilities].sort());
    // cilium: runtimes' default seccomp profile refuses bpf(2) without CAP_SYS_ADMIN.
    t.deepEqual(main.securityContext?.seccompProfile, v.seccomp ? { type: 'Localhost', localhostProfile: v.seccomp } : undefined);
    for (const c of pod.initContainers ?? []) t.is(c.securityContext?.seccompProfile, undefined, `${c.name}: the pod's RuntimeDefault`);

    const init = pod.initContainers ?? [];
    const hostPaths = (pod.volumes ?? []).filter((vol) => vol.hostPath).map((vol) => `${vol.name}=${vol.hostPath!.path}`);
    if (v.receiver === 'conntrack') {
      // nf_conntrack_acct: one init container, uid 0 and no capability, through the netfilter sysctl dir.
      t.deepEqual(init.map((c) => c.name), ['enable-conntrack-accounting']);
      t.is(init[0]!.securityContext?.capabilities?.add, undefined, 'no capability: uid 0 may write a net.* sysctl');
      t.like(init[0]!.securityContext, { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false });
      t.deepEqual(init[0]!.volumeMounts?.map((m) => m.mountPath), ['/host/proc/sys/net/netfilter']);
      t.deepEqual(hostPaths, ['host-netfilter-sysctl=/proc/sys/net/netfilter']);
      t.falsy(main.volumeMounts?.find((m) => m.name === 'host-netfilter-sysctl'), 'podflow itself does not see the sysctl');
    } else {
      t.deepEqual(init, []);
      t.deepEqual(hostPaths, ['bpffs=/sys/fs/bpf']);
      const mount = main.volumeMounts?.find((m) => m.name === 'bpffs');
      t.is(mount?.mountPath, '/sys/fs/bpf');
      t.is(mount?.readOnly, true);
      t.is(mount?.mountPropagation, 'HostToContainer');
    }
  });

  test(`${v.name}: RBAC is get/list/watch on pods, nodes, services, replicasets, jobs only`, async (t) => {
    if (!requireK8sTools(t)) return;
    const objects = await render(v);
    const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
    const sa = find(objects, 'ServiceAccount');
    const ds = find(objects, 'DaemonSet') as DaemonSet;
    t.is(ds.spec.template.spec.serviceAccountName, sa.metadata?.name);
    if (!v.k8sattributes) {
      t.deepEqual(roles, [], 'no k8sattributes: no role at all');
      t.is(objects.filter((o) => o.kind.endsWith('RoleBinding')).length, 0);
      t.is(ds.spec.template.spec.automountServiceAccountToken, false, 'no API token in the pod');
      return;
    }
    t.is(roles.length, 1);
    t.is(ds.spec.template.spec.automountServiceAccountToken, true);
    t.deepEqual(grantedReadOnly(t, roles[0]!), K8SATTRIBUTES_RBAC);
    const binding = find(objects, 'ClusterRoleBinding') as K8sObject & { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    t.is(binding.roleRef.name, roles[0]!.metadata?.name ?? '');
    t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata!.name!, namespace: 'podflow' }]);
  });

  test(`${v.name}: the rendered config passes bin/podflow validate in the container's environment`, async (t) => {
    if (!requireK8sTools(t)) return;
    const objects = await render(v);
    const text = configOf(objects);
    const ds = find(objects, 'DaemonSet') as DaemonSet;
    const main = ds.spec.template.spec.containers[0]!;
    const env = main.env ?? [];
    const envNames = env.map((e) => e.name);

    // The downward API gives the node name; credentials come from Secrets, never from values.
    t.deepEqual(env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef, { fieldPath: 'spec.nodeName' });
    // The prometheus exporter listens on the pod's address, not on every address nor on loopback.
    t.deepEqual(env.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef, { fieldPath: 'status.podIP' });
    for (const [id, body] of Object.entries((await import('yaml')).parse(text).exporters as Record<string, { endpoint?: string } | null>)) {
      if (id.split('/')[0] === 'prometheus') t.is(body?.endpoint, '${env:POD_IP}:9464', id);
    }
    for (const [name, ref] of Object.entries(v.secretEnv)) {
      t.deepEqual(env.find((e) => e.name === name)?.valueFrom?.secretKeyRef, { name: ref.secret, key: ref.key }, name);
      t.true(text.includes(`\${env:${name}}`), `config reads ${name}`);
    }
    for (const name of requiredEnvReferences(text)) t.true(envNames.includes(name), `${name} is set in the container`);

    // What the chart derived from the config matches the config.
    const config = (await import('yaml')).parse(text) as {
      receivers: Record<string, unknown>; processors?: Record<string, unknown>; exporters: Record<string, unknown>;
      service: { telemetry: { metrics: { address: string } } };
    };
    t.deepEqual(Object.keys(config.receivers), [v.receiver]);
    t.deepEqual(Object.keys(config.exporters).sort(), [...v.exporters].sort());
    t.is('k8sattributes' in (config.processors ?? {}), v.k8sattributes);
    t.is(config.service.telemetry.metrics.address, `0.0.0.0:${v.telemetryPort}`);
    t.deepEqual(postgresPipelinesWithoutDelta(text), [], 'the postgres exporter stores deltas: its pipelines reduce with temporality delta');
    const telemetry = main.ports?.find((p) => p.name === 'telemetry');
    t.is(telemetry?.containerPort, v.telemetryPort);
    t.deepEqual(main.livenessProbe?.httpGet, { path: '/healthz', port: 'telemetry' });
    t.deepEqual(main.readinessProbe?.httpGet, { path: '/readyz', port: 'telemetry' });
    // The checksum annotation is the config's: a changed config rolls the pods.
    const checksum = ds.spec.template.metadata.annotations?.['checksum/config'];
    t.is(checksum, createHash('sha256').update(text.replace(/\n$/, '')).digest('hex'));

    const result = await validateConfig(text, envNames);
    if (v.receiver === 'cilium' && !(await receiverTypes()).includes('cilium')) {
      // The cilium receiver is not in this build yet: everything but its type must be valid.
      t.is(result.code, 1);
      t.regex(result.stderr, /invalid configuration \(1 error\)/);
      t.regex(result.stderr, /receivers\.cilium: unknown receiver type "cilium"/);
      t.log('cilium receiver not registered: validated all but its body');
      return;
    }
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout.trim(), 'ok');
  });
}

test('conntrack variant: ServiceMonitor and headless Service scrape the telemetry and flow ports', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await render(VARIANTS[1]!);
  const service = find(objects, 'Service') as K8sObject & { spec: { clusterIP: string; ports: { name: string; port: number }[] } };
  t.is(service.spec.clusterIP, 'None');
  t.deepEqual(service.spec.ports.map((p) => [p.name, p.port]), [['telemetry', 9888], ['prometheus', 9464]]);
  const monitor = find(objects, 'ServiceMonitor') as K8sObject & { spec: { endpoints: { port: string; path: string }[] } };
  t.deepEqual(monitor.spec.endpoints.map((e) => `${e.port}${e.path}`), ['telemetry/metrics', 'prometheus/metrics']);
  t.is(monitor.metadata?.labels?.release, 'kube-prometheus-stack');
  t.false(objects.some((o) => o.kind === 'PodMonitor'));
});

test('cilium variant: PodMonitor endpoints name ports the pod has', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await render(VARIANTS[2]!);
  const monitor = find(objects, 'PodMonitor') as K8sObject & { spec: { podMetricsEndpoints: { port: string }[] } };
  const ds = find(objects, 'DaemonSet') as DaemonSet;
  const ports = ds.spec.template.spec.containers[0]!.ports!.map((p) => p.name);
  t.deepEqual(monitor.spec.podMetricsEndpoints.map((e) => e.port), ['telemetry', 'prometheus']);
  for (const e of monitor.spec.podMetricsEndpoints) t.true(ports.includes(e.port), e.port);
});

test('image: tag defaults to appVersion, a digest wins', async (t) => {
  if (!requireK8sTools(t)) return;
  const chart = (await import('yaml')).parse(await readFile(`${CHART}/Chart.yaml`, 'utf8')) as { appVersion: string };
  const image = (objs: K8sObject[]) => (find(objs, 'DaemonSet') as DaemonSet).spec.template.spec.containers[0]!.image;
  t.is(image(parseObjects(await helmTemplate())), `podflow:${chart.appVersion}`);
  const digest = `sha256:${'a'.repeat(64)}`;
  t.is(image(parseObjects(await helmTemplate(['--set', 'image.repository=registry.local/podflow', '--set', `image.digest=${digest}`]))), `registry.local/podflow@${digest}`);
});

test('bad values fail helm template with a message naming the value', async (t) => {
  if (!requireK8sTools(t)) return;
  const cases: [string[], RegExp][] = [
    [['--set', 'mode=ebpf'], /mode must be node or agent-gateway \(conntrack or cilium: node mode reading that source\), got "ebpf"/],
    [['--set', 'kernelSource=ebpf'], /kernelSource must be conntrack, cilium or packet, got "ebpf"/],
    [['--set', 'pipelines.flows.exporters={prometheus,kafka}'], /a pipeline uses exporter "kafka" but exporters\.kafka is not set/],
    [['--set-string', 'config=service: {telemetry: {metrics: {address: "127.0.0.1:8888"}}}'], /listens on 127\.0\.0\.1 only/],
    [['--set', 'credentials[0].env=X'], /credentials\[\]\.secretName is required/],
  ];
  for (const [args, message] of cases) {
    const error = await t.throwsAsync(helmTemplate(args));
    t.regex(error!.message, message, args.join(' '));
  }
});

test('schema validation rejects unknown fields, wrong types and unknown kinds', async (t) => {
  if (!requireK8sTools(t)) return;
  const ds = find(parseObjects(await helmTemplate()), 'DaemonSet') as DaemonSet;
  const clone = () => structuredClone(ds) as DaemonSet;
  const typo = clone();
  (typo.spec.template.spec as unknown as Record<string, unknown>).hostNetwrok = true;
  t.deepEqual(await validateObject(typo), ['DaemonSet/podflow: /spec/template/spec: unknown field "hostNetwrok" (V1PodSpec)']);
  const nested = clone();
  (nested.spec.template.spec.containers[0]!.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
  t.deepEqual(await validateObject(nested), ['DaemonSet/podflow: /spec/template/spec/containers/0/securityContext: unknown field "readOnlyRootFileSystem" (V1SecurityContext)']);
  const wrongType = clone();
  (wrongType.spec.template.spec.containers[0]!.securityContext as Record<string, unknown>).privileged = 'false';
  const errors = await validateObject(wrongType);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /securityContext\/privileged must be boolean/);
  t.deepEqual(await validateObject({ apiVersion: 'apps/v1', kind: 'DaemonZet', metadata: { name: 'x' } }), ['DaemonZet/x: no schema for apps/v1 DaemonZet (unknown kind or API version)']);
});

test('deploy/manifests/podflow.yaml is the chart rendered with defaults (run `make manifests`)', async (t) => {
  if (!requireK8sTools(t)) return;
  const committed = await readFile(`${ROOT}deploy/manifests/podflow.yaml`, 'utf8');
  const rendered = await helmTemplate(['--set', 'namespace.create=true']);
  const body = committed.slice(committed.indexOf('\n') + 1);
  t.true(committed.startsWith('# Generated by `make manifests`'));
  t.true(body === rendered, 'deploy/manifests/podflow.yaml is stale: run `make manifests`');
  const objects = parseObjects(committed);
  const ns = find(objects, 'Namespace');
  t.is(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  t.deepEqual((await Promise.all(objects.map((o) => validateObject(o)))).flat(), []);
});


test('the nf_conntrack_acct init container: uid 0 without capabilities sets it; as another uid it fails loudly', async (t) => {
  if (!requireK8sTools(t) || !requirePrivileges(t, ['setpriv'])) return;
  const init = (find(await render(VARIANTS[0]!), 'DaemonSet') as DaemonSet).spec.template.spec.initContainers![0]!;
  const [shell, flag, script] = init.command!;
  t.deepEqual([shell, flag], ['sh', '-c']);
  // Its hostPath mount is the node's /proc/sys/net/netfilter; inside a namespace of our own that
  // is the namespace's (a sysctl file addresses the opener's namespace).
  const mount = init.volumeMounts![0]!.mountPath;
  const local = script!.replaceAll(mount, '/proc/sys/net/netfilter');
  t.not(local, script);
  const ns = await Netns.create(`initacct${process.pid}`);
  t.teardown(() => ns.destroy());
  const acct = async () => (await ns.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_acct'])).trim();
  t.is(await acct(), '0');
  // The chart's security context by hand: every capability dropped, as the given uid.
  const runAs = (uid: number) => run(systemTool('ip'), ['netns', 'exec', ns.name, systemTool('setpriv'), `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '/bin/sh', '-c', local]);
  const asNobody = await runAs(65532);
  t.is(asNobody.code, 1, asNobody.stdout + asNobody.stderr);
  t.is(asNobody.stderr.trim(), 'cannot write 1 to /proc/sys/net/netfilter/nf_conntrack_acct as uid 65532: this container needs uid 0 and the hostPath /proc/sys/net/netfilter mounted read-write');
  t.is(await acct(), '0');
  const asRoot = await runAs(0);
  t.is(asRoot.code, 0, asRoot.stderr);
  t.is(asRoot.stdout.trim(), 'net.netfilter.nf_conntrack_acct=1');
  t.is(await acct(), '1');
  // Already on: nothing to write, and still fine as another uid.
  const again = await runAs(65532);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout.trim(), 'net.netfilter.nf_conntrack_acct=1');
});

// ---- mode agent-gateway: agents (DaemonSet, no API access) and gateways (Deployment) ------------

interface AgentGatewayVariant {
  name: string;
  args: string[];
  receiver: 'conntrack' | 'cilium';
  capabilities: string[];
  agentProcessors: string[];
  gatewayExporters: string[];
  /** Fixed replicas, or undefined with the HorizontalPodAutoscaler. */
  replicas: number | undefined;
  secretEnv: Record<string, { secret: string; key: string }>;
}

const AGENT_GATEWAY_VARIANTS: AgentGatewayVariant[] = [
  { name: 'agent-gateway (defaults)', args: ['--set', 'mode=agent-gateway'], receiver: 'conntrack', capabilities: ['NET_ADMIN'], agentProcessors: [], gatewayExporters: ['prometheus'], replicas: 2, secretEnv: {} },
  {
    name: 'agent-gateway', args: ['--values', `${CHART}/ci/agent-gateway-values.yaml`], receiver: 'conntrack', capabilities: ['NET_ADMIN'], agentProcessors: [],
    gatewayExporters: ['postgres', 'prometheus'], replicas: undefined, secretEnv: { PODFLOW_PG_PASSWORD: { secret: 'podflow-postgres', key: 'password' } },
  },
  { name: 'agent-gateway-cilium', args: ['--values', `${CHART}/ci/agent-gateway-cilium-values.yaml`], receiver: 'cilium', capabilities: ['BPF'], agentProcessors: ['filter'], gatewayExporters: ['otlp'], replicas: 3, secretEnv: {} },
];

interface RoleConfig {
  receivers: Record<string, unknown>;
  processors?: Record<string, { node_name?: string }>;
  exporters: Record<string, { resolver?: { dns?: { hostname?: string; port?: number } } }>;
  service: { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>; resource: Record<string, string>; telemetry: { metrics: { address: string } } };
}

interface AgentGateway {
  objects: K8sObject[];
  agent: Workload;
  gateway: Workload;
  agentConfig: { text: string; config: RoleConfig };
  gatewayConfig: { text: string; config: RoleConfig };
}

async function renderAgentGateway(v: AgentGatewayVariant): Promise<AgentGateway> {
  const objects = parseObjects(await helmTemplate(v.args));
  const config = async (name: string) => {
    const text = (find(objects, 'ConfigMap', name).data as Record<string, string>)['config.yaml']!;
    return { text, config: (await import('yaml')).parse(text) as RoleConfig };
  };
  return {
    objects,
    agent: find(objects, 'DaemonSet', 'podflow-agent') as Workload,
    gateway: find(objects, 'Deployment', 'podflow-gateway') as Workload,
    agentConfig: await config('podflow-agent'),
    gatewayConfig: await config('podflow-gateway'),
  };
}

/** "group/resource" of every rule of a role, each rule read-only. */
function grantedReadOnly(t: import('ava').ExecutionContext, role: K8sObject): string[] {
  const granted: string[] = [];
  for (const rule of role.rules as PolicyRule[]) {
    t.deepEqual([...rule.verbs].sort(), ['get', 'list', 'watch']);
    t.is(rule.resourceNames, undefined);
    t.is(rule.nonResourceURLs, undefined);
    for (const group of rule.apiGroups ?? []) for (const resource of rule.resources ?? []) granted.push(`${group}/${resource}`);
  }
  return granted.sort();
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) => Object.entries(selector).every(([k, val]) => labels?.[k] === val);

for (const v of AGENT_GATEWAY_VARIANTS) {
  test(`${v.name}: helm lint passes; NOTES name the agents and the gateways`, async (t) => {
    if (!requireK8sTools(t)) return;
    const lint = await run(HELM, ['lint', CHART, '--strict', ...v.args]);
    t.is(lint.code, 0, lint.stdout + lint.stderr);
    t.notRegex(lint.stdout, /\[(ERROR|WARNING)\]/);
    const install = await run(HELM, ['install', 'podflow', CHART, '--namespace', 'podflow', '--dry-run=client', ...v.args]);
    t.is(install.code, 0, install.stderr);
    const notes = install.stdout.slice(install.stdout.indexOf('NOTES:'));
    t.regex(notes, /agents {3}DaemonSet podflow\/podflow-agent on every node \(hostNetwork, no API access, no service account token\)/);
    t.regex(notes, /gateways Deployment podflow\/podflow-gateway \(.*\) behind the headless Service podflow-gateway\.podflow\.svc/);
    t.regex(notes, new RegExp(`Receivers: ${v.receiver} `));
    t.regex(notes, /Gateways: receivers otlp {3}processors k8sattributes, reduce/);
  });

  test(`${v.name}: every rendered object is valid against the Kubernetes schemas`, async (t) => {
    if (!requireK8sTools(t)) return;
    const { objects } = await renderAgentGateway(v);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    const expected = ['ClusterRole/podflow-gateway', 'ClusterRoleBinding/podflow-gateway', 'ConfigMap/podflow-agent', 'ConfigMap/podflow-gateway', 'DaemonSet/podflow-agent', 'Deployment/podflow-gateway',
      'PodDisruptionBudget/podflow-gateway', 'Service/podflow-gateway', 'ServiceAccount/podflow-agent', 'ServiceAccount/podflow-gateway'];
    if (v.replicas === undefined) expected.push('HorizontalPodAutoscaler/podflow-gateway');
    for (const kind of expected) t.true(kinds.includes(kind), `${kind} rendered`);
    t.deepEqual((await Promise.all(objects.map((o) => validateObject(o)))).flat(), []);
    for (const o of objects) if (!o.kind.startsWith('Cluster')) t.is(o.metadata?.namespace, 'podflow', `${o.kind}/${o.metadata?.name} is namespaced`);
  });

  test(`${v.name}: agents have no API access: no token, no RBAC, no k8sattributes; least privilege as in node mode`, async (t) => {
    if (!requireK8sTools(t)) return;
    const { objects, agent, agentConfig } = await renderAgentGateway(v);
    const pod = agent.spec.template.spec;
    t.is(pod.automountServiceAccountToken, false);
    t.is(pod.serviceAccountName, 'podflow-agent');
    t.is(find(objects, 'ServiceAccount', 'podflow-agent').automountServiceAccountToken, false);
    const bound = objects.filter((o) => o.kind.endsWith('RoleBinding')).flatMap((b) => (b.subjects as { name: string }[]).map((s) => s.name));
    t.false(bound.includes('podflow-agent'), 'no role is bound to the agents');
    t.true(pod.hostNetwork);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      t.is(c.securityContext?.privileged, false);
      t.is(c.securityContext?.readOnlyRootFilesystem, true);
      t.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    }
    t.deepEqual([...(pod.containers[0]!.securityContext?.capabilities?.add ?? [])].sort(), [...v.capabilities].sort());
    t.deepEqual((pod.initContainers ?? []).map((c) => c.name), v.receiver === 'conntrack' ? ['enable-conntrack-accounting'] : []);

    const { config } = agentConfig;
    t.deepEqual(Object.keys(config.receivers), [v.receiver]);
    t.deepEqual(config.service.pipelines, { flows: { receivers: [v.receiver], processors: v.agentProcessors, exporters: ['loadbalancing'] } });
    t.false('k8sattributes' in (config.processors ?? {}));
    t.is(config.service.resource['k8s.node.name'], '${env:NODE_NAME}', 'an agent names itself; its exporter sends it as the resource');
    const env = pod.containers[0]!.env ?? [];
    t.deepEqual(env.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef, { fieldPath: 'spec.nodeName' });
    for (const name of Object.keys(v.secretEnv)) t.falsy(env.find((e) => e.name === name), `${name} is the gateways' only`);
  });

  test(`${v.name}: the agents' loadbalancing exporter resolves the gateways' headless Service`, async (t) => {
    if (!requireK8sTools(t)) return;
    const { objects, agent, gateway, agentConfig } = await renderAgentGateway(v);
    const service = find(objects, 'Service', 'podflow-gateway') as Service;
    t.is(service.spec.clusterIP, 'None');
    const dns = agentConfig.config.exporters.loadbalancing?.resolver?.dns;
    t.is(dns?.hostname, `${service.metadata!.name}.podflow.svc`);
    const target = service.spec.ports.find((p) => p.port === dns?.port);
    t.truthy(target, `port ${dns?.port} is a port of the Service`);
    t.is(target?.name, 'otlp-grpc');
    // The Service selects exactly the gateways' pods, whose container has the ports it names.
    t.deepEqual(service.spec.selector, gateway.spec.selector.matchLabels);
    t.true(matches(service.spec.selector!, gateway.spec.template.metadata.labels));
    t.false(matches(service.spec.selector!, agent.spec.template.metadata.labels), 'agents are not gateways');
    const containerPorts = (gateway.spec.template.spec.containers[0]!.ports ?? []).map((p) => p.name);
    for (const p of service.spec.ports) t.true(containerPorts.includes(String(p.targetPort)), `${p.name} → ${p.targetPort}`);
    const otlp = (await import('yaml')).parse((find(objects, 'ConfigMap', 'podflow-gateway').data as Record<string, string>)['config.yaml']!) as { receivers: { otlp: { protocols: Record<string, { endpoint: string }> } } };
    t.is(otlp.receivers.otlp.protocols.grpc!.endpoint, `0.0.0.0:${dns?.port}`, 'the gateways listen where the agents send');
  });

  test(`${v.name}: gateways: RBAC, non-root without capabilities, PodDisruptionBudget, replicas or HorizontalPodAutoscaler`, async (t) => {
    if (!requireK8sTools(t)) return;
    const { objects, gateway, gatewayConfig } = await renderAgentGateway(v);
    const pod = gateway.spec.template.spec;
    t.falsy(pod.hostNetwork);
    t.is(pod.securityContext?.runAsNonRoot, true);
    t.is(pod.securityContext?.runAsUser, 65532);
    const sc = pod.containers[0]!.securityContext;
    t.is(sc?.privileged, false);
    t.is(sc?.allowPrivilegeEscalation, false);
    t.is(sc?.readOnlyRootFilesystem, true);
    t.deepEqual(sc?.capabilities, { drop: ['ALL'] });
    t.is(pod.automountServiceAccountToken, true);
    t.is(pod.serviceAccountName, 'podflow-gateway');
    const role = find(objects, 'ClusterRole', 'podflow-gateway');
    t.deepEqual(grantedReadOnly(t, role), K8SATTRIBUTES_RBAC);
    const binding = find(objects, 'ClusterRoleBinding', 'podflow-gateway') as K8sObject & { roleRef: { name: string }; subjects: unknown[] };
    t.is(binding.roleRef.name, 'podflow-gateway');
    t.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'podflow-gateway', namespace: 'podflow' }]);

    const pdb = find(objects, 'PodDisruptionBudget', 'podflow-gateway') as K8sObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
    t.deepEqual(pdb.spec.selector.matchLabels, gateway.spec.selector.matchLabels);
    t.is(pdb.spec.maxUnavailable, 1);
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as (K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } }) | undefined;
    if (v.replicas === undefined) {
      t.deepEqual(hpa?.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podflow-gateway' });
      t.is(gateway.spec.replicas, undefined, 'the autoscaler owns the replica count');
    } else {
      t.is(hpa, undefined);
      t.is(gateway.spec.replicas, v.replicas);
    }

    const { config } = gatewayConfig;
    t.deepEqual(Object.keys(config.receivers), ['otlp']);
    t.deepEqual(Object.keys(config.exporters).sort(), [...v.gatewayExporters].sort());
    t.is(config.processors?.k8sattributes?.node_name, undefined, 'report-once takes each batch\'s node from its sender');
    t.is(config.service.resource['k8s.node.name'], undefined);
    t.is(config.service.resource['service.instance.id'], '${env:POD_NAME}');
    const env = pod.containers[0]!.env ?? [];
    t.falsy(env.find((e) => e.name === 'NODE_NAME'));
    for (const [name, ref] of Object.entries(v.secretEnv)) t.deepEqual(env.find((e) => e.name === name)?.valueFrom?.secretKeyRef, { name: ref.secret, key: ref.key }, name);
  });

  test(`${v.name}: both configs pass bin/podflow validate in their containers' environments`, async (t) => {
    if (!requireK8sTools(t)) return;
    const rendered = await renderAgentGateway(v);
    for (const [role, workload, { text }] of [['agent', rendered.agent, rendered.agentConfig], ['gateway', rendered.gateway, rendered.gatewayConfig]] as const) {
      const envNames = (workload.spec.template.spec.containers[0]!.env ?? []).map((e) => e.name);
      for (const name of requiredEnvReferences(text)) t.true(envNames.includes(name), `${role}: ${name} is set in the container`);
      t.deepEqual(postgresPipelinesWithoutDelta(text), []);
      const checksum = workload.spec.template.metadata.annotations?.['checksum/config'];
      t.is(checksum, createHash('sha256').update(text.replace(/\n$/, '')).digest('hex'));
      await checkConfig(t, text, envNames, role);
    }
  });
}

test('mode conntrack / cilium (the values before there were two modes) render node mode reading that source', async (t) => {
  if (!requireK8sTools(t)) return;
  for (const source of ['conntrack', 'cilium']) {
    t.is(await helmTemplate(['--set', `mode=${source}`]), await helmTemplate(['--set', 'mode=node', '--set', `kernelSource=${source}`]), source);
  }
});

test('agent-gateway: bad values fail helm template with a message naming the value', async (t) => {
  if (!requireK8sTools(t)) return;
  const ag = ['--set', 'mode=agent-gateway'];
  const cases: [string[], RegExp][] = [
    [[...ag, '--set', 'processors.k8sattributes.node_name=${env:NODE_NAME}'], /processors\.k8sattributes\.node_name must be empty in mode agent-gateway/],
    [[...ag, '--set', 'agent.processors={k8sattributes}'], /agent\.processors must not name k8sattributes: agents have no API access/],
    [[...ag, '--set', 'pipelines.flows.receivers={conntrack}'], /the gateways' pipelines must receive from otlp/],
    [[...ag, '--set', 'agent.exporters={loadbalancing,kafka}'], /a pipeline uses exporter "kafka" but exporters\.kafka is not set/],
  ];
  for (const [args, message] of cases) {
    const error = await t.throwsAsync(helmTemplate(args));
    t.regex(error!.message, message, args.join(' '));
  }
});

test('deploy/manifests/agent-gateway/podflow.yaml is the chart rendered with mode agent-gateway (run `make manifests`)', async (t) => {
  if (!requireK8sTools(t)) return;
  const committed = await readFile(`${ROOT}deploy/manifests/agent-gateway/podflow.yaml`, 'utf8');
  const rendered = await helmTemplate(['--set', 'mode=agent-gateway', '--set', 'namespace.create=true']);
  t.true(committed.startsWith('# Generated by `make manifests`'));
  t.true(committed.slice(committed.indexOf('\n') + 1) === rendered, 'deploy/manifests/agent-gateway/podflow.yaml is stale: run `make manifests`');
  t.deepEqual((await Promise.all(parseObjects(committed).map((o) => validateObject(o)))).flat(), []);
});
