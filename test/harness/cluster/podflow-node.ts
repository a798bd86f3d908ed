// One podflow per simulated node: `bin/podflow run` as its own process in the root namespace,
// reading its node's conntrack table through the receiver's `netns:` option (so its HTTP ends —
// Prometheus endpoint, self-metrics — stay on 127.0.0.1 next to PostgreSQL, the API server and the
// OTLP receiver). Pipeline: conntrack → k8sattributes (→ netcost when configured) → reduce →
// postgres + prometheus + otlp + file (+ servicemap when asked; postgres and otlp only when their
// URLs are given).
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from '../ports.ts';
import { CLUSTER_NAME, POD_CIDR, SERVICE_CIDR, type NodeName } from './topology.ts';

const PODFLOW_MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));

/** podflow processes still running, killed if this process exits first (a crashed test). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** reduce's default group_by plus the service name, so VIP traffic keeps its service. */
export const GROUP_BY = [
  'source.k8s.namespace.name',
  'source.k8s.owner.name',
  'source.k8s.owner.type',
  'source.cloud.availability_zone',
  'destination.k8s.namespace.name',
  'destination.k8s.owner.name',
  'destination.k8s.owner.type',
  'destination.cloud.availability_zone',
  'destination.port',
  'network.transport',
  'destination.domain',
  'network.flow.inter_zone',
  'destination.k8s.service.name',
];

export interface PodflowNodeOptions {
  nodeName: NodeName;
  /** The node's namespace file (`/run/netns/<name>`). */
  netnsPath: string;
  kubeconfig: string;
  /** The postgres exporter's database; without it, no postgres exporter. */
  postgresUrl?: string;
  /** The OTLP receiver; without it, no otlp exporter. */
  otlpUrl?: string;
  /**
   * A servicemap exporter on 127.0.0.1 (in-memory map of this node's flows); with `cluster`, a
   * second one (`servicemap/cluster`) that reads the whole cluster's map from postgresUrl.
   */
  servicemap?: { cluster?: boolean };
  /** Where the config, the JSON Lines file and the log go. */
  dir: string;
  /** Conntrack read interval and reduce interval (e.g. '500ms', '1s'). */
  conntrackInterval?: string;
  reduceInterval?: string;
  logLevel?: string;
  /** A netcost processor's config: netcost runs after k8sattributes and reduce keeps its class. */
  netcost?: Record<string, unknown>;
}

export interface PodflowNode extends PodflowProcess {
  nodeName: NodeName;
  /** `127.0.0.1:<port>` of the prometheus exporter (a scrape target). */
  prometheusTarget: string;
  /** `http://127.0.0.1:<port>/`: the servicemap page of this node's flows, when asked for. */
  servicemapUrl?: string;
  /** `http://127.0.0.1:<port>/`: the servicemap page of the whole cluster (from PostgreSQL), when asked for. */
  clusterMapUrl?: string;
  flowsFile: string;
}

export interface PodflowPorts {
  prometheus: number;
  telemetry: number;
  servicemap?: number;
  clusterMap?: number;
}

/** The postgres exporter of the simulated cluster's podflows: quick flushes and retries, no retention. */
export function postgresExporter(endpoint: string): object {
  return { endpoint, batch: { flush_interval: '200ms' }, retry_on_failure: { initial_interval: '200ms', max_interval: '1s' }, retention: 0, connect_timeout: '2s' };
}

export function podflowConfig(o: PodflowNodeOptions, ports: PodflowPorts, flowsFile: string): object {
  const exporters: Record<string, unknown> = {
    ...(o.postgresUrl ? { postgres: postgresExporter(o.postgresUrl) } : {}),
    prometheus: { endpoint: `127.0.0.1:${ports.prometheus}`, const_labels: { cluster: CLUSTER_NAME } },
    ...(o.otlpUrl
      ? {
          otlp: {
            endpoint: o.otlpUrl,
            temporality: 'delta',
            encoding: 'proto',
            compression: 'gzip',
            retry_on_failure: { initial_interval: '200ms', max_interval: '1s' },
          },
        }
      : {}),
    file: { path: flowsFile },
    ...(ports.servicemap ? { servicemap: { endpoint: `127.0.0.1:${ports.servicemap}` } } : {}),
    ...(ports.clusterMap && o.postgresUrl
      ? { 'servicemap/cluster': { endpoint: `127.0.0.1:${ports.clusterMap}`, source: { postgres: { endpoint: o.postgresUrl, refresh: o.reduceInterval ?? '1s' } } } }
      : {}),
  };
  return {
    receivers: {
      conntrack: { interval: o.conntrackInterval ?? '1s', netns: o.netnsPath, startup: 'baseline' },
    },
    processors: namingProcessors(
      { auth_type: 'kubeConfig', kubeconfig: o.kubeconfig, node_name: o.nodeName, wait_for_sync: '10s', cluster_cidrs: [POD_CIDR, SERVICE_CIDR] },
      { interval: o.reduceInterval ?? '1s', groupBy: GROUP_BY },
      o.netcost,
    ),
    exporters,
    service: {
      pipelines: {
        flows: { receivers: ['conntrack'], processors: namingOrder(o.netcost), exporters: Object.keys(exporters) },
      },
      telemetry: { logs: { level: o.logLevel ?? 'info' }, metrics: { address: `127.0.0.1:${ports.telemetry}` } },
      resource: { 'k8s.node.name': o.nodeName, 'k8s.cluster.name': CLUSTER_NAME },
      shutdown_timeout: '20s',
    },
  };
}

/**
 * The processors that name and reduce flows: k8sattributes (→ netcost when configured) → reduce
 * (delta, by `groupBy` and, with netcost, its class). Their pipeline order is namingOrder().
 */
export function namingProcessors(k8sattributes: object, reduce: { interval: string; groupBy: readonly string[] }, netcost?: object): Record<string, object> {
  return {
    k8sattributes,
    ...(netcost ? { netcost } : {}),
    reduce: {
      interval: reduce.interval,
      temporality: 'delta',
      group_by: netcost ? [...reduce.groupBy, 'network.flow.cost.class'] : reduce.groupBy,
      cluster_cidrs: [POD_CIDR, SERVICE_CIDR],
    },
  };
}

export function namingOrder(netcost?: object): string[] {
  return netcost ? ['k8sattributes', 'netcost', 'reduce'] : ['k8sattributes', 'reduce'];
}

/** A `bin/podflow run` process of the simulated cluster (a node, an agent). */
export interface PodflowProcess {
  /** `http://127.0.0.1:<port>`: /metrics (self-metrics), /healthz, /readyz. */
  telemetryUrl: string;
  configFile: string;
  logFile: string;
  /** A podflow_* self-metric summed over its label sets (0 when absent). */
  selfMetric(name: string, labels?: Record<string, string>): Promise<number>;
  /** SIGTERM (graceful: last conntrack read, reduce flush, exporters drain); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, for clean-up paths. */
  kill(): void;
}

/**
 * Writes `config` to `<dir>/podflow-<name>.yaml`, starts `bin/podflow run` with it (and `env`
 * added to this process's environment) and resolves once /readyz answers 200: on
 * `telemetryPort`, or, without it (the config's telemetry address has port 0, so no other test
 * can take the port first), on the address podflow logs when it has started.
 */
export async function startPodflowProcess(name: string, config: object, o: { dir: string; telemetryPort?: number; env?: NodeJS.ProcessEnv }): Promise<PodflowProcess> {
  const configFile = join(o.dir, `podflow-${name}.yaml`);
  const logFile = join(o.dir, `podflow-${name}.log`);
  writeFileSync(configFile, `# podflow ${name} (written by test/harness/cluster/podflow-node.ts)\n${stringify(config)}`);
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(process.execPath, [PODFLOW_MAIN, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let tail = '';
  let boundAddress: string | undefined;
  const keep = (c: Buffer) => {
    tail = (tail + c.toString()).slice(-4_000);
    boundAddress ??= /"metrics":"([^"]+)".*"msg":"podflow started/.exec(tail)?.[1];
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const port = () => o.telemetryPort ?? (boundAddress === undefined ? undefined : Number(boundAddress.slice(boundAddress.lastIndexOf(':') + 1)));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`podflow ${name} exited (${exitCode}) before it was ready:\n${tail}`);
    const p = port();
    const ok = p !== undefined && await fetch(`http://127.0.0.1:${p}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`podflow ${name} was not ready within 30s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const telemetryUrl = `http://127.0.0.1:${port()}`;

  return {
    telemetryUrl,
    configFile,
    logFile,
    async selfMetric(metric, labels = {}) {
      const text = await fetch(`${telemetryUrl}/metrics`).then((r) => r.text());
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== metric) continue;
        const set = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      await new Promise<void>((resolve) => log.end(resolve));
      return code;
    },
    kill() {
      if (exitCode === undefined) child.kill('SIGKILL');
    },
  };
}

/** Writes the config, starts podflow and resolves once its /readyz answers 200 (every receiver started). */
export async function startPodflowNode(o: PodflowNodeOptions): Promise<PodflowNode> {
  const ports: PodflowPorts = { prometheus: await freePort(), telemetry: await freePort() };
  if (o.servicemap) ports.servicemap = await freePort();
  if (o.servicemap?.cluster) ports.clusterMap = await freePort();
  const flowsFile = join(o.dir, `flows-${o.nodeName}.jsonl`);
  const podflow = await startPodflowProcess(o.nodeName, podflowConfig(o, ports, flowsFile), { dir: o.dir, telemetryPort: ports.telemetry });
  return {
    ...podflow,
    nodeName: o.nodeName,
    prometheusTarget: `127.0.0.1:${ports.prometheus}`,
    ...(ports.servicemap ? { servicemapUrl: `http://127.0.0.1:${ports.servicemap}/` } : {}),
    ...(ports.clusterMap ? { clusterMapUrl: `http://127.0.0.1:${ports.clusterMap}/` } : {}),
    flowsFile,
  };
}
