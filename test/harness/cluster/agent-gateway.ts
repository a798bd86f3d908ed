// Agents and a gateway for the simulated cluster (agent-gateway mode, docs/deployment-modes.md).
//
// - agentConfig: what an agent runs: its node's conntrack table → an exporter that sends raw
//   deltas to the gateways (no k8sattributes, no credentials), naming itself in service.resource.
// - gatewayConfig: what a gateway runs: the receiver of the agents' batches (`otlp`) →
//   k8sattributes (no node_name: each batch is judged as its sender's) (→ netcost when
//   configured) → reduce (keeping k8s.node.name) → postgres + file.
// - startInProcessPodflow: a Service of such a config inside the test's process, so a test can
//   stop and restart it and read its self-metrics after it stopped.
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { writeFileSync } from 'node:fs';
import { parseConfig } from '../../../src/config/load.ts';
import { FACTORIES } from '../../../src/components.ts';
import { Service } from '../../../src/pipeline/service.ts';
import { GROUP_BY, namingOrder, namingProcessors, postgresExporter } from './podflow-node.ts';
import { CLUSTER_NAME, POD_CIDR, SERVICE_CIDR, type NodeName } from './topology.ts';

export interface AgentOptions {
  nodeName: NodeName;
  /** The node's namespace file (`/run/netns/<name>`). */
  netnsPath: string;
  /** The exporters that reach the gateways (`otlp` or `loadbalancing`). */
  exporters: Record<string, unknown>;
  conntrackInterval?: string;
  /** host:port of /metrics /healthz /readyz; '' for none (in-process). */
  telemetryAddress: string;
}

export function agentConfig(o: AgentOptions): object {
  return {
    receivers: { conntrack: { interval: o.conntrackInterval ?? '500ms', netns: o.netnsPath, startup: 'baseline' } },
    exporters: o.exporters,
    service: {
      pipelines: { flows: { receivers: ['conntrack'], exporters: Object.keys(o.exporters) } },
      resource: { 'k8s.node.name': o.nodeName, 'k8s.cluster.name': CLUSTER_NAME },
      telemetry: { metrics: { address: o.telemetryAddress } },
      shutdown_timeout: '20s',
    },
  };
}

export interface GatewayOptions {
  /** The receiver of the agents' batches (`otlp`). */
  receivers: Record<string, unknown>;
  kubeconfig: string;
  postgresUrl: string;
  flowsFile: string;
  reduceInterval?: string;
  /** A netcost processor's config: netcost runs after k8sattributes and reduce keeps its class. */
  netcost?: Record<string, unknown>;
  telemetryAddress: string;
}

/** The reporting node stays a group key at the gateway: PostgreSQL's `node` column says who reported. */
export const GATEWAY_GROUP_BY = [...GROUP_BY, 'k8s.node.name'];

export function gatewayConfig(o: GatewayOptions): object {
  return {
    receivers: o.receivers,
    processors: namingProcessors(
      { auth_type: 'kubeConfig', kubeconfig: o.kubeconfig, wait_for_sync: '10s', cluster_cidrs: [POD_CIDR, SERVICE_CIDR] },
      { interval: o.reduceInterval ?? '1s', groupBy: GATEWAY_GROUP_BY },
      o.netcost,
    ),
    exporters: {
      postgres: postgresExporter(o.postgresUrl),
      file: { path: o.flowsFile },
    },
    service: {
      pipelines: { flows: { receivers: Object.keys(o.receivers), processors: namingOrder(o.netcost), exporters: ['postgres', 'file'] } },
      resource: { 'k8s.cluster.name': CLUSTER_NAME },
      telemetry: { metrics: { address: o.telemetryAddress } },
      shutdown_timeout: '20s',
    },
  };
}

export interface InProcessPodflow {
  service: Service;
  /** A podflow_* self-metric summed over its label sets (0 when absent). */
  selfMetric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** Writes `<dir>/podflow-<name>.yaml` and its log, checks the config as `bin/podflow` does, and starts it in this process. */
export async function startInProcessPodflow(name: string, config: object, dir: string): Promise<InProcessPodflow> {
  const text = stringify(config);
  const file = join(dir, `podflow-${name}.yaml`);
  writeFileSync(file, text);
  const parsed = parseConfig(text, FACTORIES, { file });
  const logger = pino({ level: 'info', base: { podflow: name } }, pino.destination({ dest: join(dir, `podflow-${name}.log`), sync: true }));
  const service = new Service(parsed, logger);
  await service.start();
  let stopped: Promise<void> | undefined;
  return {
    service,
    async selfMetric(metric, labels = {}) {
      const values = (await service.metrics.registry.getSingleMetric(metric)?.get())?.values ?? [];
      return values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((n, v) => n + v.value, 0);
    },
    stop: () => (stopped ??= service.shutdown()),
  };
}
