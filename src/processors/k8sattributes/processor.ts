// The k8sattributes processor: watches the cluster, gives both ends of every flow a Kubernetes
// identity, and (report-once) drops the flows another node reports.
import {
  DESTINATION_ADDRESS, DESTINATION_ORIGINAL_ADDRESS, DESTINATION_PORT, K8S_NODE_NAME, NETWORK_TRANSPORT, SOURCE_ADDRESS, SOURCE_PORT,
  withFlows, type Attributes, type Flow, type FlowBatch, msFromUnixNano,
} from '../../model/index.ts';
import { AddressClassifier } from '../../model/address.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, ComponentEndpoints, ComponentHealth, FlowConsumer, Processor } from '../../contracts/component.ts';
import { ApiAccessHealth } from './api-health.ts';
import { resolveAuth, type AuthEnvironment } from './auth.ts';
import { ClusterCache, type KubeResource } from './cluster-cache.ts';
import { ClusterWatch } from './cluster-watch.ts';
import type { K8sAttributesConfig } from './config.ts';
import { AttributeBuilder } from './attribute-builder.ts';
import type { EndInfo } from './end-info.ts';
import { EndResolver } from './end-resolver.ts';
import { K8sAttributesMetrics } from './metrics.ts';
import type { BackoffSettings, WatcherHooks } from './watcher.ts';

export interface K8sAttributesOptions {
  /** Where auth_type looks for a service account and kubeconfig; default: this process's. */
  auth?: AuthEnvironment;
  backoff?: BackoffSettings;
  /**
   * Where the watched objects are kept, watched for this instance alone. Default: the cache and
   * watches shared by every instance of this process with the same connection and settings
   * (cluster-watch.ts), so two pipelines that name flows cost one set of watches.
   */
  cache?: ClusterCache;
  /** Paces the error lines of a lasting API failure (systemClock by default). */
  clock?: Clock;
}

/**
 * The node this process runs on, for batches of its own receivers: NODE_NAME, else
 * `service.resource["k8s.node.name"]`. (`node_name`, when set, applies to every batch.)
 */
export function ownNode(ctx: ComponentContext, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromResource = ctx.resource[K8S_NODE_NAME];
  return env.NODE_NAME || (typeof fromResource === 'string' ? fromResource : '') || undefined;
}

/** What the metrics read before (or without) a cluster watch. */
const EMPTY_CACHE = new ClusterCache(0);

export class K8sAttributesProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #config: K8sAttributesConfig;
  readonly #next: FlowConsumer;
  readonly #options: K8sAttributesOptions;
  readonly #classifier: AddressClassifier;
  #cluster: ClusterWatch | undefined;
  /** Without cluster access (or before start): only network attributes. */
  #resolver: EndResolver;
  readonly #metrics: K8sAttributesMetrics;
  readonly #builder = new AttributeBuilder();
  /** `node_name`: the reporter of every batch. */
  readonly #configuredNode: string | undefined;
  /** This process's node: the reporter of batches from its own receivers. */
  readonly #ownNode: string | undefined;
  #warnedConfiguredNode = false;
  #warnedUnnamedSender = false;
  #ready = false;
  #apiHealth: ApiAccessHealth | undefined;
  #reading: string | undefined;
  #hooks: WatcherHooks | undefined;

  constructor(ctx: ComponentContext, config: K8sAttributesConfig, next: FlowConsumer, options: K8sAttributesOptions = {}) {
    this.#ctx = ctx;
    this.#config = config;
    this.#next = next;
    this.#options = options;
    this.#classifier = new AddressClassifier(config.cluster_cidrs);
    this.#resolver = new EndResolver(new ClusterCache(config.deleted_pod_grace), this.#classifier);
    this.#configuredNode = config.node_name || undefined;
    this.#ownNode = ownNode(ctx, options.auth?.env);
    this.#metrics = new K8sAttributesMetrics(ctx.metrics, ctx.id, () => (this.#cluster?.cache ?? EMPTY_CACHE).counts(), () => this.#synced());
  }

  /** Every kind's initial list is in the cache (without cluster access: once started). */
  #synced(): boolean {
    return this.#cluster === undefined ? this.#ready : this.#cluster.isSynced;
  }

  async start(): Promise<void> {
    const { logger } = this.#ctx;
    const auth = resolveAuth(this.#config, this.#options.auth);
    const own = this.#configuredNode ?? this.#ownNode;
    const reporting = !this.#config.report_once ? 'report-once off'
      : this.#configuredNode ? `report-once as node ${this.#configuredNode} (node_name)`
        : `report-once as each batch's sender (k8s.node.name of batches received from agents${own ? `; this node, ${own}, for its own receivers` : ''})`;
    if (!auth.kubeConfig) {
      if (this.#config.auth_type === 'auto') logger.warn(`k8sattributes: no cluster access, ${auth.description}: only network attributes (address types) are added`);
      this.#ready = true;
      return;
    }
    const server = auth.kubeConfig.getCurrentCluster()?.server ?? '(no server)';
    this.#reading = `the API server at ${server} (${auth.description})`;
    this.#apiHealth = new ApiAccessHealth(logger, server, this.#options.clock ?? systemClock);
    logger.info(`k8sattributes: watching the cluster via ${auth.description}; ${reporting}`);
    const health = this.#apiHealth;
    const hooks: WatcherHooks = {
      logger,
      badObject: (resource: KubeResource) => this.#metrics.badObject(resource),
      restarted: (resource: KubeResource) => this.#metrics.watchRestarted(resource),
      failed: (resource: KubeResource, path: string, err: unknown) => health.failed(resource, path, err),
      recovered: (resource: KubeResource) => health.recovered(resource),
    };
    this.#hooks = hooks;
    const cluster = ClusterWatch.acquire(auth.kubeConfig, auth.description, this.#config, hooks, { cache: this.#options.cache, backoff: this.#options.backoff });
    this.#cluster = cluster;
    this.#resolver = new EndResolver(cluster.cache, this.#classifier);

    const all = cluster.synced;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.#config.wait_for_sync)));
    const outcome = await Promise.race([all.then(() => 'synced' as const), timedOut]);
    clearTimeout(timer);
    this.#ready = true;
    if (outcome === 'synced') {
      logger.info({ objects: cluster.cache.counts() }, 'k8sattributes: initial sync done');
    } else {
      const missing = cluster.missing;
      logger.warn({ missing }, `k8sattributes: initial sync incomplete after ${this.#config.wait_for_sync}ms (waiting for ${missing.join(', ')}): passing flows with what is known`);
      void all.then(() => {
        if (this.#cluster !== cluster) return;
        logger.info({ objects: cluster.cache.counts() }, 'k8sattributes: initial sync done (late)');
      });
    }
  }

  /** Unhealthy while the API server refuses or cannot be reached (api-health.ts). */
  health(): ComponentHealth {
    return this.#apiHealth?.health() ?? { healthy: true };
  }

  endpoints(): ComponentEndpoints {
    return this.#reading ? { readsFrom: [this.#reading] } : {};
  }

  async shutdown(): Promise<void> {
    const cluster = this.#cluster;
    this.#cluster = undefined;
    if (cluster && this.#hooks) await cluster.release(this.#hooks);
    this.#metrics.close();
  }

  async consume(batch: FlowBatch): Promise<void> {
    const sender = batch.resource?.[K8S_NODE_NAME];
    const kept = this.#enrich(batch.flows, this.#reporterOf(batch), typeof sender === 'string' && sender !== '' ? sender : undefined);
    const dropped = batch.flows.length - kept.length;
    if (dropped > 0) this.#ctx.countDropped(dropped);
    if (kept.length === 0) return;
    await this.#next.consume(dropped > 0 ? withFlows(batch, kept) : batch);
  }

  /**
   * The node that reported this batch, whose flows are kept under report-once: `node_name`; else
   * for a batch received from an agent its resource's `k8s.node.name`; else this node. Undefined:
   * nothing is dropped.
   */
  #reporterOf(batch: FlowBatch): string | undefined {
    if (!this.#config.report_once) return undefined;
    const sender = batch.resource === undefined ? undefined : batch.resource[K8S_NODE_NAME];
    if (this.#configuredNode !== undefined) {
      if (typeof sender === 'string' && sender !== this.#configuredNode && !this.#warnedConfiguredNode) {
        this.#warnedConfiguredNode = true;
        this.#ctx.logger.warn({ node_name: this.#configuredNode, sender }, `k8sattributes: node_name is ${this.#configuredNode} but batches come from ${sender} (an agent): report-once judges them as ${this.#configuredNode}'s and drops what ${sender} must report; leave node_name empty on a gateway`);
      }
      return this.#configuredNode;
    }
    if (batch.resource === undefined) return this.#ownNode;
    if (typeof sender === 'string' && sender !== '') return sender;
    if (!this.#warnedUnnamedSender) {
      this.#warnedUnnamedSender = true;
      this.#ctx.logger.warn({ resource: batch.resource }, 'k8sattributes: a batch came from a sender without k8s.node.name in its resource (set service.resource on the agents): report-once cannot apply to it, nothing of it is dropped');
    }
    return undefined;
  }

  /**
   * Returns the flows `reportNode` reports, each with its attributes (a new map per flow). A batch
   * received from an agent (`senderNode`) gets `k8s.node.name` on every flow: after a gateway's
   * `reduce` merges many agents' batches, the flow itself still says which node reported it.
   */
  #enrich(flows: Flow[], reportNode: string | undefined, senderNode: string | undefined): Flow[] {
    const resolver = this.#resolver;
    const builder = this.#builder;
    const kept: Flow[] = [];
    let srcHits = 0, srcMisses = 0, dstHits = 0, dstMisses = 0;
    // The flows of one read share their interval: convert each distinct time once (BigInt division allocates).
    let startNs = -1n, startMs = 0, endNs = -1n, endMs = 0;
    for (let i = 0; i < flows.length; i++) {
      const flow = flows[i]!;
      const a: Attributes = flow.attributes;
      if (flow.startTimeUnixNano !== startNs) {
        startNs = flow.startTimeUnixNano;
        startMs = msFromUnixNano(startNs);
      }
      if (flow.timeUnixNano !== endNs) {
        endNs = flow.timeUnixNano;
        endMs = msFromUnixNano(endNs);
      }
      const transport = a[NETWORK_TRANSPORT];
      const srcIp = a[SOURCE_ADDRESS];
      const dstIp = a[DESTINATION_ADDRESS];
      const src: EndInfo | undefined = typeof srcIp === 'string' ? resolver.resolve(srcIp, a[SOURCE_PORT], transport, startMs, endMs) : undefined;
      const dst: EndInfo | undefined = typeof dstIp === 'string' ? resolver.resolve(dstIp, a[DESTINATION_PORT], transport, startMs, endMs) : undefined;

      if (reportNode !== undefined) {
        // Design "Report once": the initiating pod's node; else the responding pod's node; else
        // (no pod at either end) the node whose address initiated, else the one that responded.
        const reporter = src?.podNode ?? dst?.podNode ?? src?.addressNode ?? dst?.addressNode;
        if (reporter !== undefined && reporter !== reportNode) continue;
      }

      if (src && src.addressType !== 'private' && src.addressType !== 'public' && src.addressType !== 'loopback') srcHits++;
      else srcMisses++;
      if (dst && dst.addressType !== 'private' && dst.addressType !== 'public' && dst.addressType !== 'loopback') dstHits++;
      else dstMisses++;

      const original = a[DESTINATION_ORIGINAL_ADDRESS];
      const service = (typeof original === 'string' ? resolver.serviceName(original) : undefined)
        ?? (dst?.addressType === 'service' ? resolver.serviceName(dstIp as string) : undefined);
      const interZone = src?.zone !== undefined && dst?.zone !== undefined ? src.zone !== dst.zone : undefined;
      flow.attributes = builder.build(a, src, dst, service, interZone, senderNode);
      kept.push(flow);
    }
    this.#metrics.lookups('source', srcHits, srcMisses);
    this.#metrics.lookups('destination', dstHits, dstMisses);
    return kept;
  }
}
