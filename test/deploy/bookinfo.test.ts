// examples/bookinfo: `kubectl kustomize` renders it (the local part offline; the whole tree with
// the upstream Bookinfo URL swapped for a local stand-in, since nothing outside is reachable
// here), every object is schema-valid, the wiring holds (Secrets, ConfigMaps, Grafana's
// datasource variables and dashboard path), podflow's config passes `bin/podflow validate`, and
// the PostgreSQL init script gives podflow and grafana the privileges they need on a real server.
import test from 'ava';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/exporters/postgres/migrations.ts';
import { missingPostgres, postgresBinDir, startPostgres } from '../harness/postgres.ts';
import { skipOrFail } from '../harness/privileges.ts';
import { validateObject, type K8sObject } from '../harness/k8s-schema.ts';
import { checkConfig, postgresPipelinesWithoutDelta, requiredEnvReferences, validateConfig } from '../harness/podflow-config.ts';
import { KUBECTL, ROOT, find, parseObjects, requireK8sTools, run } from '../harness/k8s-tools.ts';

const EXAMPLE = `${ROOT}examples/bookinfo`;
const UPSTREAM = /^\s*- (https:\/\/raw\.githubusercontent\.com\/istio\/istio\/(\d+\.\d+\.\d+)\/samples\/bookinfo\/platform\/kube\/bookinfo\.yaml)$/m;

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Container { name: string; env?: EnvVar[]; volumeMounts?: { name: string; mountPath: string }[] }
interface Volume { name: string; configMap?: { name: string } }
interface PodSpec { containers: Container[]; initContainers?: Container[]; volumes?: Volume[] }
type Workload = K8sObject & { spec: { template: { spec: PodSpec } } };

async function kustomize(dir: string): Promise<K8sObject[]> {
  const result = await run(KUBECTL, ['kustomize', dir]);
  if (result.code !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseObjects(result.stdout);
}

/** The keys create-secret.sh puts into the Secret podflow-example. */
async function secretKeys(): Promise<string[]> {
  const script = await readFile(`${EXAMPLE}/create-secret.sh`, 'utf8');
  return [...script.matchAll(/--from-literal=([a-z-]+)=/g)].map((m) => m[1]!).sort();
}

const workloads = (objects: readonly K8sObject[]) => objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) as Workload[];

test('the local part (stack/) renders offline, valid, in namespace podflow', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await kustomize(`${EXAMPLE}/stack`);
  t.deepEqual(workloads(objects).map((w) => `${w.kind}/${w.metadata?.name}`).sort(), ['DaemonSet/podflow', 'Deployment/grafana', 'StatefulSet/postgres']);
  t.deepEqual((await Promise.all(objects.map((o) => validateObject(o)))).flat(), []);
  for (const o of objects) {
    if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) continue;
    t.is(o.metadata?.namespace, 'podflow', `${o.kind}/${o.metadata?.name}`);
  }
  const ids = objects.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`);
  t.is(new Set(ids).size, ids.length, 'no object twice');
});

test('every Secret and ConfigMap a workload uses exists (or is created by make setup-example)', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await kustomize(`${EXAMPLE}/stack`);
  const configMaps = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata!.name!));
  const keys = await secretKeys();
  t.deepEqual(keys, ['grafana-admin-password', 'grafana-password', 'podflow-password', 'postgres-password']);
  const used = new Set<string>();
  for (const w of workloads(objects)) {
    const pod = w.spec.template.spec;
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        t.is(ref.name, 'podflow-example', `${w.metadata?.name}: ${e.name}`);
        t.true(keys.includes(ref.key), `${w.metadata?.name}: ${e.name} → ${ref.key}`);
        used.add(ref.key);
      }
    }
    for (const v of pod.volumes ?? []) if (v.configMap) t.true(configMaps.has(v.configMap.name), `${w.metadata?.name}: ConfigMap ${v.configMap.name}`);
  }
  t.deepEqual([...used].sort(), keys, 'every key of the Secret is used');
});

test('Grafana: the datasource variables are set, the dashboards are where the provider looks', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await kustomize(`${EXAMPLE}/stack`);
  const grafana = find(objects, 'Deployment', 'grafana') as Workload;
  const container = grafana.spec.template.spec.containers[0]!;
  const env = new Set((container.env ?? []).map((e) => e.name));
  const datasource = await readFile(`${EXAMPLE}/grafana/provisioning/datasources/podflow-postgres.yaml`, 'utf8');
  const variables = [...new Set([...datasource.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!))];
  t.true(variables.length >= 4);
  for (const name of variables) t.true(env.has(name), `${name} is set in Grafana`);
  const mountOf = (volume: string) => container.volumeMounts?.find((m) => m.name === volume)?.mountPath;
  const provider = await readFile(`${EXAMPLE}/grafana/provisioning/dashboards/podflow.yaml`, 'utf8');
  t.is(mountOf('dashboards'), /path: (\S+)/.exec(provider)?.[1]);
  t.is(mountOf('datasources'), '/etc/grafana/provisioning/datasources');
  t.is(mountOf('dashboard-providers'), '/etc/grafana/provisioning/dashboards');
  const dashboards = find(objects, 'ConfigMap', grafana.spec.template.spec.volumes!.find((v) => v.name === 'dashboards')!.configMap!.name);
  const dashboard = JSON.parse((dashboards.data as Record<string, string>)['podflow-network.json']!) as { panels: { type: string; datasource: { uid: string } }[] };
  const uid = /uid: (\S+)/.exec(datasource)?.[1];
  t.true(dashboard.panels.some((p) => p.type === 'nodeGraph'));
  for (const panel of dashboard.panels) if (panel.datasource) t.is(panel.datasource.uid, uid ?? 'no uid in the datasource file');
});

test("podflow's config in the example passes bin/podflow validate and exports deltas to PostgreSQL", async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await kustomize(`${EXAMPLE}/stack`);
  const ds = find(objects, 'DaemonSet', 'podflow') as Workload;
  const configMap = find(objects, 'ConfigMap', 'podflow');
  const text = (configMap.data as Record<string, string>)['config.yaml']!;
  t.is(text, await readFile(`${EXAMPLE}/podflow/config.yaml`, 'utf8'), 'the example config replaced the default one');
  t.true(text.includes('postgres://podflow@postgres.podflow.svc:5432/podflow'));
  t.deepEqual(postgresPipelinesWithoutDelta(text), []);
  const envNames = (ds.spec.template.spec.containers[0]!.env ?? []).map((e) => e.name);
  for (const name of requiredEnvReferences(text)) t.true(envNames.includes(name), `${name} is set`);
  const result = await validateConfig(text, envNames);
  t.is(result.code, 0, result.stderr);
});

test('agent-gateway/: agents without API access, gateways with RBAC and the example config; renders offline and valid', async (t) => {
  if (!requireK8sTools(t)) return;
  const objects = await kustomize(`${EXAMPLE}/agent-gateway/stack`);
  t.deepEqual(workloads(objects).map((w) => `${w.kind}/${w.metadata?.name}`).sort(), ['DaemonSet/podflow-agent', 'Deployment/grafana', 'Deployment/podflow-gateway', 'StatefulSet/postgres']);
  t.deepEqual((await Promise.all(objects.map((o) => validateObject(o)))).flat(), []);
  for (const o of objects) if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) t.is(o.metadata?.namespace, 'podflow', `${o.kind}/${o.metadata?.name}`);
  const ids = objects.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`);
  t.is(new Set(ids).size, ids.length, 'no object twice');

  type RoleWorkload = Workload & { spec: { template: { spec: PodSpec & { automountServiceAccountToken?: boolean; serviceAccountName?: string } } } };
  const agent = find(objects, 'DaemonSet', 'podflow-agent') as RoleWorkload;
  const gateway = find(objects, 'Deployment', 'podflow-gateway') as RoleWorkload;
  t.is(agent.spec.template.spec.automountServiceAccountToken, false, 'agents get no API token');
  const bound = objects.filter((o) => o.kind.endsWith('RoleBinding')).flatMap((b) => (b.subjects as { name: string }[]).map((s) => s.name));
  t.deepEqual(bound, [gateway.spec.template.spec.serviceAccountName], 'only the gateways are bound to a role');

  // The gateways run this example's config, with the password from the example Secret.
  const configOf = (name: string) => (find(objects, 'ConfigMap', name).data as Record<string, string>)['config.yaml']!;
  const gatewayText = configOf('podflow-gateway');
  t.is(gatewayText, await readFile(`${EXAMPLE}/agent-gateway/podflow/gateway.yaml`, 'utf8'));
  t.deepEqual(postgresPipelinesWithoutDelta(gatewayText), []);
  const keys = await secretKeys();
  for (const w of [agent, gateway]) {
    const container = w.spec.template.spec.containers[0]!;
    for (const e of container.env ?? []) if (e.valueFrom?.secretKeyRef) t.true(keys.includes(e.valueFrom.secretKeyRef.key), `${w.metadata?.name}: ${e.name}`);
    const envNames = (container.env ?? []).map((e) => e.name);
    const text = configOf(w.spec.template.spec.volumes!.find((v) => v.configMap)!.configMap!.name);
    for (const name of requiredEnvReferences(text)) t.true(envNames.includes(name), `${w.metadata?.name}: ${name} is set`);
    await checkConfig(t, text, envNames, w.metadata!.name!);
  }
  t.truthy(gateway.spec.template.spec.containers[0]!.env?.find((e) => e.name === 'PODFLOW_PG_PASSWORD'));
  t.falsy(agent.spec.template.spec.containers[0]!.env?.find((e) => e.name === 'PODFLOW_PG_PASSWORD'), 'agents hold no credential');
});

test('the whole example renders with the upstream Bookinfo swapped for a local stand-in', async (t) => {
  if (!requireK8sTools(t)) return;
  const kustomization = await readFile(`${EXAMPLE}/bookinfo/kustomization.yaml`, 'utf8');
  const upstream = UPSTREAM.exec(kustomization);
  t.truthy(upstream, 'bookinfo/ references the upstream manifest pinned to a release tag');
  const dir = await mkdtemp(join(tmpdir(), 'podflow-bookinfo-'));
  try {
    // Same relative layout, so ../../../deploy/manifests resolves as in the repository.
    await cp(EXAMPLE, join(dir, 'examples/bookinfo'), { recursive: true });
    await mkdir(join(dir, 'deploy'), { recursive: true });
    await cp(`${ROOT}deploy/manifests`, join(dir, 'deploy/manifests'), { recursive: true });
    await writeFile(join(dir, 'examples/bookinfo/bookinfo/upstream.yaml'), STAND_IN);
    await writeFile(join(dir, 'examples/bookinfo/bookinfo/kustomization.yaml'), kustomization.replace(upstream![1]!, 'upstream.yaml'));
    const objects = await kustomize(join(dir, 'examples/bookinfo'));
    const stack = await kustomize(`${EXAMPLE}/stack`);
    const bookinfo = objects.filter((o) => o.metadata?.namespace === 'bookinfo');
    t.deepEqual(bookinfo.map((o) => `${o.kind}/${o.metadata?.name}`).sort(), ['Deployment/productpage-v1', 'Deployment/traffic', 'Service/productpage', 'ServiceAccount/bookinfo-productpage']);
    t.is(objects.length, stack.length + bookinfo.length + 1, 'stack + bookinfo + the bookinfo Namespace');
    t.truthy(objects.find((o) => o.kind === 'Namespace' && o.metadata?.name === 'bookinfo'));
    t.deepEqual((await Promise.all(objects.map((o) => validateObject(o)))).flat(), []);
    // The agent-gateway variant: the same Bookinfo beside its own stack.
    const agentGateway = await kustomize(join(dir, 'examples/bookinfo/agent-gateway'));
    t.is(agentGateway.length, (await kustomize(`${EXAMPLE}/agent-gateway/stack`)).length + bookinfo.length + 1);
    t.deepEqual((await Promise.all(agentGateway.map((o) => validateObject(o)))).flat(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The shape of upstream's bookinfo.yaml (no namespace; Service, ServiceAccount, Deployment per app), for productpage only. */
const STAND_IN = `apiVersion: v1
kind: Service
metadata:
  name: productpage
  labels: {app: productpage, service: productpage}
spec:
  ports: [{port: 9080, name: http}]
  selector: {app: productpage}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bookinfo-productpage
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: productpage-v1
  labels: {app: productpage, version: v1}
spec:
  replicas: 1
  selector: {matchLabels: {app: productpage, version: v1}}
  template:
    metadata: {labels: {app: productpage, version: v1}}
    spec:
      serviceAccountName: bookinfo-productpage
      containers:
        - name: productpage
          image: docker.io/istio/examples-bookinfo-productpage-v1:1.20.1
          ports: [{containerPort: 9080}]
`;

test('PostgreSQL init script: podflow migrates its schema, grafana reads it and cannot write', async (t) => {
  const missing = missingPostgres();
  if (missing) return skipOrFail(t, missing);
  const server = await startPostgres();
  const clients: pg.Client[] = [];
  try {
    await server.createDatabase('podflow');
    // The real script, as the postgres image's entrypoint runs it (psql, POSTGRES_* env).
    const init = await run('sh', [`${EXAMPLE}/postgres/init-roles.sh`], {
      PATH: `${postgresBinDir()}:${process.env.PATH ?? ''}`,
      PGHOST: server.host, PGPORT: String(server.port),
      POSTGRES_USER: 'postgres', POSTGRES_DB: 'podflow',
      PODFLOW_PASSWORD: 'podflow-secret', GRAFANA_PASSWORD: 'grafana-secret',
    });
    t.is(init.code, 0, init.stderr);
    const connect = async (user: string) => {
      const client = new pg.Client({ host: server.host, port: server.port, user, database: 'podflow' });
      clients.push(client);
      await client.connect();
      return client;
    };
    const podflow = await connect('podflow');
    const result = await migrate(podflow, 'podflow');
    t.true(result.applied.length > 0, 'the migrations ran as podflow');
    await podflow.query('CREATE TABLE podflow.flows_probe (x integer)'); // like a new daily partition
    await podflow.query('INSERT INTO podflow.flows_probe VALUES (42)');

    const grafana = await connect('grafana');
    const day = "now() - interval '1 hour', now()";
    t.deepEqual((await grafana.query(`SELECT count(*)::int AS n FROM podflow.flows`)).rows, [{ n: 0 }]);
    t.is((await grafana.query(`SELECT * FROM podflow.graph_nodes(${day})`)).rowCount, 0);
    t.is((await grafana.query(`SELECT * FROM podflow.graph_edges(${day})`)).rowCount, 0);
    t.deepEqual((await grafana.query('SELECT x FROM podflow.flows_probe')).rows, [{ x: 42 }], 'tables podflow creates later are readable');
    // flows is a view over flow_batches (migration 7): the raw flows are written there.
    for (const sql of ['INSERT INTO podflow.flows_probe VALUES (1)', 'CREATE TABLE podflow.nope (x int)', 'DELETE FROM podflow.flow_batches']) {
      const error = await t.throwsAsync(grafana.query(sql));
      t.regex(error!.message, /permission denied/, sql);
    }
  } finally {
    for (const c of clients) await c.end().catch(() => {});
    await server.stop();
  }
});
