// The k8sattributes processor wired for tests and its benchmark: a kubeconfig-driven processor
// whose cluster cache the test can read, and a way to run flows through it.
import type { ComponentContext, FlowConsumer } from '../../src/contracts/component.ts';
import type { Attributes, Flow, FlowBatch } from '../../src/model/index.ts';
import { ClusterCache } from '../../src/processors/k8sattributes/cluster-cache.ts';
import { k8sattributesConfigSchema } from '../../src/processors/k8sattributes/config.ts';
import { K8sAttributesProcessor, type K8sAttributesOptions } from '../../src/processors/k8sattributes/processor.ts';

/**
 * A processor that finds no service account and no default kubeconfig (the config names one),
 * retries the API server quickly, and passes what it keeps to `sink` (or to `next`, when given).
 */
export function makeProcessor(ctx: ComponentContext, config: Record<string, unknown>, options: K8sAttributesOptions = {}, next?: FlowConsumer) {
  const parsed = k8sattributesConfigSchema.parse(config);
  const batches: FlowBatch[] = [];
  const sink = { batches, consume: async (b: FlowBatch) => void batches.push(b) };
  const cache = options.cache ?? new ClusterCache(parsed.deleted_pod_grace);
  const p = new K8sAttributesProcessor(ctx, parsed, next ?? sink, {
    auth: { env: {}, home: '/nonexistent', serviceAccountRoot: '/nonexistent' },
    backoff: { initialMs: 50, maxMs: 400 },
    ...options,
    cache,
  });
  return { p, sink, cache };
}

/** Runs flows through the processor; returns the attributes of the flows it passed on. */
export async function enrich(p: K8sAttributesProcessor, sink: { batches: FlowBatch[] }, flows: Flow[]): Promise<Attributes[]> {
  sink.batches.length = 0;
  await p.consume({ flows, temporality: 'delta' });
  return sink.batches.flatMap((b) => b.flows.map((f) => f.attributes));
}

/**
 * A whole program's config: the test `sequence` receiver → `k8sattributes/agent` reading the
 * API server of `kubeconfig` → the test `recording` exporter, telemetry on `telemetryAddress`.
 */
export function agentPipelineConfig(kubeconfig: string, telemetryAddress: string, waitForSync = '200ms'): string {
  return `
receivers:
  sequence: {interval: 1h}
processors:
  k8sattributes/agent: {auth_type: kubeConfig, kubeconfig: "${kubeconfig}", wait_for_sync: ${waitForSync}}
exporters:
  recording: {}
service:
  telemetry: {metrics: {address: "${telemetryAddress}"}}
  pipelines:
    flows: {receivers: [sequence], processors: [k8sattributes/agent], exporters: [recording]}
`;
}
