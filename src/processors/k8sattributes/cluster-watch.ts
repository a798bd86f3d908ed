// The list/watches of one API-server connection and the cluster cache they fill, shared by every
// k8sattributes instance of this process with the same connection and cache settings.
//
// Why: the runtime makes one processor per pipeline, and a gateway (or a node) often has two
// pipelines that both name flows (deltas for PostgreSQL, cumulative sums for Prometheus). Each
// with its own watches, the API server would serve the whole cluster twice and the process would
// hold it twice. Shared, there is one client and one cache, however many pipelines use them.
//
// Instances acquire the watch when they start and release it when they shut down; the watches
// stop, and the entry is forgotten, when the last one releases it (a later start lists anew).
// Every user hears of API failures and recoveries (each reports its own health); log lines and
// the bad-object and restart counters are the first user's.
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterCache, type KubeResource } from './cluster-cache.ts';
import type { K8sAttributesConfig } from './config.ts';
import { toControllerRecord, toNodeRecord, toPodRecord, toServiceRecord } from './objects.ts';
import { DEFAULT_BACKOFF, ResourceWatcher, type BackoffSettings, type KubeRecord, type WatcherHooks } from './watcher.ts';

const shared = new Map<string, ClusterWatch>();

export class ClusterWatch {
  readonly cache: ClusterCache;
  readonly #key: string | undefined;
  readonly #watchers: Array<ResourceWatcher<KubeRecord>>;
  readonly synced: Promise<void>;
  readonly #users = new Set<WatcherHooks>();
  #sweepTimer: NodeJS.Timeout | undefined;

  private constructor(key: string | undefined, kc: KubeConfig, config: K8sAttributesConfig, cache: ClusterCache, first: WatcherHooks, backoff: BackoffSettings | undefined) {
    this.#key = key;
    this.cache = cache;
    const users = this.#users;
    const hooks: WatcherHooks = {
      logger: first.logger,
      badObject: (resource) => first.badObject(resource),
      restarted: (resource) => first.restarted(resource),
      failed: (resource, path, err) => users.forEach((u) => u.failed(resource, path, err)),
      recovered: (resource) => users.forEach((u) => u.recovered(resource)),
    };
    this.#watchers = makeWatchers(kc, config, cache, hooks, backoff ?? DEFAULT_BACKOFF);
    this.synced = Promise.all(this.#watchers.map((w) => w.synced)).then(() => undefined);
    const sweepMs = Math.max(1_000, Math.min(config.deleted_pod_grace / 2, 30_000));
    this.#sweepTimer = setInterval(() => cache.sweep(), sweepMs);
    this.#sweepTimer.unref();
    for (const w of this.#watchers) w.start();
  }

  /**
   * The watch of this connection and these settings, started by the first caller. `hooks` (log
   * lines, bad-object and restart counters) are the first caller's; failures and recoveries go to
   * every caller's. With `cache` (injected by the caller) the watch is this caller's alone.
   */
  static acquire(kc: KubeConfig, connection: string, config: K8sAttributesConfig, hooks: WatcherHooks, options: { cache?: ClusterCache; backoff?: BackoffSettings }): ClusterWatch {
    const key = options.cache ? undefined : JSON.stringify([connection, kc.getCurrentContext(), config.deleted_pod_grace, config.extract, config.max_watch_line_size]);
    let watch = key === undefined ? undefined : shared.get(key);
    if (!watch) {
      watch = new ClusterWatch(key, kc, config, options.cache ?? new ClusterCache(config.deleted_pod_grace), hooks, options.backoff);
      if (key !== undefined) shared.set(key, watch);
    }
    watch.#users.add(hooks);
    return watch;
  }

  get isSynced(): boolean {
    return this.#watchers.every((w) => w.isSynced);
  }

  /** The kinds whose initial list is not in yet. */
  get missing(): KubeResource[] {
    return this.#watchers.filter((w) => !w.isSynced).map((w) => w.spec.resource as KubeResource);
  }

  /** One user (the hooks it acquired with) is done; the last one stops the watches. */
  async release(hooks: WatcherHooks): Promise<void> {
    this.#users.delete(hooks);
    if (this.#users.size > 0) return;
    if (this.#key !== undefined && shared.get(this.#key) === this) shared.delete(this.#key);
    clearInterval(this.#sweepTimer);
    await Promise.all(this.#watchers.map((w) => w.stop()));
  }
}

function makeWatchers(kc: KubeConfig, config: K8sAttributesConfig, cache: ClusterCache, hooks: WatcherHooks, backoff: BackoffSettings): Array<ResourceWatcher<KubeRecord>> {
  const extract = config.extract;
  const make = <R extends KubeRecord>(spec: ConstructorParameters<typeof ResourceWatcher<R>>[1]) =>
    new ResourceWatcher<R>(kc, spec, hooks, backoff, config.max_watch_line_size) as unknown as ResourceWatcher<KubeRecord>;
  return [
    make({ resource: 'nodes', path: '/api/v1/nodes', toRecord: toNodeRecord, upsert: (r) => cache.upsertNode(r), remove: (r) => cache.deleteNode(r) }),
    make({ resource: 'replicasets', path: '/apis/apps/v1/replicasets', toRecord: (o) => toControllerRecord('ReplicaSet', o), upsert: (r) => cache.upsertController('replicasets', r), remove: (r) => cache.deleteController('replicasets', r) }),
    make({ resource: 'jobs', path: '/apis/batch/v1/jobs', toRecord: (o) => toControllerRecord('Job', o), upsert: (r) => cache.upsertController('jobs', r), remove: (r) => cache.deleteController('jobs', r) }),
    make({ resource: 'services', path: '/api/v1/services', toRecord: toServiceRecord, upsert: (r) => cache.upsertService(r), remove: (r) => cache.deleteService(r) }),
    make({ resource: 'pods', path: '/api/v1/pods', toRecord: (o) => toPodRecord(o, extract), upsert: (r) => cache.upsertPod(r), remove: (r) => cache.deletePod(r) }),
  ];
}
