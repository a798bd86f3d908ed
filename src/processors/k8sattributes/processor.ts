// The k8sattributes processor: watches the cluster, gives both ends of every flow a Kubernetes
// identity, and (report-once) drops the flows another node reports.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  DESTINATION_ADDRESS, DESTINATION_K8S_SERVICE_NAME, DESTINATION_ORIGINAL_ADDRESS, DESTINATION_PORT,
  NETWORK_FLOW_INTER_ZONE, NETWORK_TRANSPORT, SOURCE_ADDRESS, SOURCE_PORT,
  withFlows, type Attributes, type Flow, type FlowBatch, msFromUnixNano,
} from '../../model/index.ts';
import { AddressClassifier } from '../../model/address.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, ComponentEndpoints, ComponentHealth, FlowConsumer, Processor } from '../../contracts/component.ts';
import { ApiAccessHealth } from './api-health.ts';
import { resolveAuth, type AuthEnvironment } from './auth.ts';
import { ClusterCache, type KubeResource } from './cluster-cache.ts';
import type { K8sAttributesConfig } from './config.ts';
import { writeEnd, type EndInfo } from './end-info.ts';
import { EndResolver } from './end-resolver.ts';
import { K8sAttributesMetrics } from './metrics.ts';
import { toNodeRecord, toControllerRecord, toPodRecord, toServiceRecord } from './objects.ts';
import { DEFAULT_BACKOFF, ResourceWatcher, type BackoffSettings, type KubeRecord } from './watcher.ts';

export interface K8sAttributesOptions {
  /** Where auth_type looks for a service account and kubeconfig; default: this process's. */
  auth?: AuthEnvironment;
  backoff?: BackoffSettings;
  /** Where the watched objects are kept; default: a new one with `deleted_pod_grace`. */
  cache?: ClusterCache;
  /** Paces the error lines of a lasting API failure (systemClock by default). */
  clock?: Clock;
}

/** The node whose flows this instance keeps: `node_name`, else NODE_NAME, else the resource's `k8s.node.name`. */
export function reportingNode(config: K8sAttributesConfig, ctx: ComponentContext, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!config.report_once) return undefined;
  const fromResource = ctx.resource['k8s.node.name'];
  const name = config.node_name || env.NODE_NAME || (typeof fromResource === 'string' ? fromResource : '');
  return name || undefined;
}

function portProto(port: unknown, transport: unknown): string | undefined {
  return typeof port === 'number' && typeof transport === 'string' ? `${port}/${transport}` : undefined;
}

export class K8sAttributesProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #config: K8sAttributesConfig;
  readonly #next: FlowConsumer;
  readonly #options: K8sAttributesOptions;
  readonly #cache: ClusterCache;
  readonly #resolver: EndResolver;
  readonly #metrics: K8sAttributesMetrics;
  readonly #reportNode: string | undefined;
  #watchers: Array<ResourceWatcher<KubeRecord>> = [];
  #sweepTimer: NodeJS.Timeout | undefined;
  #ready = false;
  #clusterAccess = false;
  #apiHealth: ApiAccessHealth | undefined;
  #reading: string | undefined;

  constructor(ctx: ComponentContext, config: K8sAttributesConfig, next: FlowConsumer, options: K8sAttributesOptions = {}) {
    this.#ctx = ctx;
    this.#config = config;
    this.#next = next;
    this.#options = options;
    this.#cache = options.cache ?? new ClusterCache(config.deleted_pod_grace);
    this.#resolver = new EndResolver(this.#cache, new AddressClassifier(config.cluster_cidrs));
    this.#reportNode = reportingNode(config, ctx, options.auth?.env);
    this.#metrics = new K8sAttributesMetrics(ctx.metrics, ctx.id, () => this.#cache.counts(), () => this.#synced());
  }

  /** Every kind's initial list is in the cache (without cluster access: once started). */
  #synced(): boolean {
    return !this.#clusterAccess ? this.#ready : this.#watchers.every((w) => w.isSynced);
  }

  async start(): Promise<void> {
    const { logger } = this.#ctx;
    const auth = resolveAuth(this.#config, this.#options.auth);
    const reporting = this.#reportNode ? `report-once as node ${this.#reportNode}` : 'report-once off (no node name): nothing is dropped';
    if (!auth.kubeConfig) {
      if (this.#config.auth_type === 'auto') logger.warn(`k8sattributes: no cluster access, ${auth.description}: only network attributes (address types) are added`);
      this.#ready = true;
      return;
    }
    this.#clusterAccess = true;
    const server = auth.kubeConfig.getCurrentCluster()?.server ?? '(no server)';
    this.#reading = `the API server at ${server} (${auth.description})`;
    this.#apiHealth = new ApiAccessHealth(logger, server, this.#options.clock ?? systemClock);
    logger.info(`k8sattributes: watching the cluster via ${auth.description}; ${reporting}`);
    this.#watchers = this.#makeWatchers(auth.kubeConfig);
    for (const w of this.#watchers) w.start();
    const sweepMs = Math.max(1_000, Math.min(this.#config.deleted_pod_grace / 2, 30_000));
    this.#sweepTimer = setInterval(() => this.#cache.sweep(), sweepMs);
    this.#sweepTimer.unref();

    const all = Promise.all(this.#watchers.map((w) => w.synced));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.#config.wait_for_sync)));
    const outcome = await Promise.race([all.then(() => 'synced' as const), timedOut]);
    clearTimeout(timer);
    this.#ready = true;
    if (outcome === 'synced') {
      logger.info({ objects: this.#cache.counts() }, 'k8sattributes: initial sync done');
    } else {
      const missing = this.#watchers.filter((w) => !w.isSynced).map((w) => w.spec.resource);
      logger.warn({ missing }, `k8sattributes: initial sync incomplete after ${this.#config.wait_for_sync}ms (waiting for ${missing.join(', ')}): passing flows with what is known`);
      void all.then(() => {
        if (this.#watchers.length === 0) return;
        logger.info({ objects: this.#cache.counts() }, 'k8sattributes: initial sync done (late)');
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
    clearInterval(this.#sweepTimer);
    const watchers = this.#watchers;
    this.#watchers = [];
    await Promise.all(watchers.map((w) => w.stop()));
    this.#metrics.close();
  }

  async consume(batch: FlowBatch): Promise<void> {
    const kept = this.#enrich(batch.flows);
    const dropped = batch.flows.length - kept.length;
    if (dropped > 0) this.#ctx.countDropped(dropped);
    if (kept.length === 0) return;
    await this.#next.consume(dropped > 0 ? withFlows(batch, kept) : batch);
  }

  /** Adds the attributes in place; returns the flows this node reports. */
  #enrich(flows: Flow[]): Flow[] {
    const resolver = this.#resolver;
    const reportNode = this.#reportNode;
    const kept: Flow[] = [];
    let srcHits = 0, srcMisses = 0, dstHits = 0, dstMisses = 0;
    for (const flow of flows) {
      const a: Attributes = flow.attributes;
      const startMs = msFromUnixNano(flow.startTimeUnixNano);
      const endMs = msFromUnixNano(flow.timeUnixNano);
      const transport = a[NETWORK_TRANSPORT];
      const srcIp = a[SOURCE_ADDRESS];
      const dstIp = a[DESTINATION_ADDRESS];
      const src: EndInfo | undefined = typeof srcIp === 'string' ? resolver.resolve(srcIp, portProto(a[SOURCE_PORT], transport), startMs, endMs) : undefined;
      const dst: EndInfo | undefined = typeof dstIp === 'string' ? resolver.resolve(dstIp, portProto(a[DESTINATION_PORT], transport), startMs, endMs) : undefined;

      if (reportNode !== undefined) {
        // Design "Report once": the initiating pod's node; else the responding pod's node; else
        // (no pod at either end) the node whose address initiated, else the one that responded.
        const reporter = src?.podNode ?? dst?.podNode ?? src?.addressNode ?? dst?.addressNode;
        if (reporter !== undefined && reporter !== reportNode) continue;
      }

      if (src) writeEnd(a, 'source', src);
      if (dst) writeEnd(a, 'destination', dst);
      if (src && src.addressType !== 'private' && src.addressType !== 'public' && src.addressType !== 'loopback') srcHits++;
      else srcMisses++;
      if (dst && dst.addressType !== 'private' && dst.addressType !== 'public' && dst.addressType !== 'loopback') dstHits++;
      else dstMisses++;

      const original = a[DESTINATION_ORIGINAL_ADDRESS];
      const service = (typeof original === 'string' ? resolver.serviceName(original) : undefined)
        ?? (dst?.addressType === 'service' ? resolver.serviceName(dstIp as string) : undefined);
      if (service !== undefined) a[DESTINATION_K8S_SERVICE_NAME] = service;
      if (src?.zone !== undefined && dst?.zone !== undefined) a[NETWORK_FLOW_INTER_ZONE] = src.zone !== dst.zone;
      kept.push(flow);
    }
    this.#metrics.lookups('source', srcHits, srcMisses);
    this.#metrics.lookups('destination', dstHits, dstMisses);
    return kept;
  }

  #makeWatchers(kc: KubeConfig): Array<ResourceWatcher<KubeRecord>> {
    const cache = this.#cache;
    const extract = this.#config.extract;
    const hooks = {
      logger: this.#ctx.logger,
      badObject: (resource: KubeResource) => this.#metrics.badObject(resource),
      restarted: (resource: KubeResource) => this.#metrics.watchRestarted(resource),
      failed: (resource: KubeResource, path: string, err: unknown) => this.#apiHealth?.failed(resource, path, err),
      recovered: (resource: KubeResource) => this.#apiHealth?.recovered(resource),
    };
    const backoff = this.#options.backoff ?? DEFAULT_BACKOFF;
    const make = <R extends KubeRecord>(spec: ConstructorParameters<typeof ResourceWatcher<R>>[1]) =>
      new ResourceWatcher<R>(kc, spec, hooks, backoff, this.#config.max_watch_line_size) as unknown as ResourceWatcher<KubeRecord>;
    return [
      make({ resource: 'nodes', path: '/api/v1/nodes', toRecord: toNodeRecord, upsert: (r) => cache.upsertNode(r), remove: (r) => cache.deleteNode(r) }),
      make({ resource: 'replicasets', path: '/apis/apps/v1/replicasets', toRecord: (o) => toControllerRecord('ReplicaSet', o), upsert: (r) => cache.upsertController('replicasets', r), remove: (r) => cache.deleteController('replicasets', r) }),
      make({ resource: 'jobs', path: '/apis/batch/v1/jobs', toRecord: (o) => toControllerRecord('Job', o), upsert: (r) => cache.upsertController('jobs', r), remove: (r) => cache.deleteController('jobs', r) }),
      make({ resource: 'services', path: '/api/v1/services', toRecord: toServiceRecord, upsert: (r) => cache.upsertService(r), remove: (r) => cache.deleteService(r) }),
      make({ resource: 'pods', path: '/api/v1/pods', toRecord: (o) => toPodRecord(o, extract), upsert: (r) => cache.upsertPod(r), remove: (r) => cache.deletePod(r) }),
    ];
  }
}
