// Self-metrics of k8sattributes (label `processor` is the component id, so several instances
// can share one registry).
import { type Counter, Gauge, type Registry } from 'prom-client';
import type { FlowEnd } from '../../model/index.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import type { KubeResource } from './cluster-cache.ts';

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** Gauges whose values are read at scrape time, from every instance registered on them. */
const collectors = new WeakMap<Gauge, Set<() => void>>();

function collectedGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): { gauge: Gauge<L>; collectors: Set<() => void> } {
  const existing = registry.getSingleMetric(name) as Gauge<L> | undefined;
  const gauge = existing ?? (() => {
    const set = new Set<() => void>();
    const g: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const update of set) update();
      },
    });
    collectors.set(g as Gauge, set);
    return g;
  })();
  return { gauge, collectors: collectors.get(gauge as Gauge)! };
}

export class K8sAttributesMetrics {
  readonly #processor: string;
  readonly #lookups: Counter<'processor' | 'end' | 'result'>;
  readonly #restarts: Counter<'processor' | 'kind'>;
  readonly #badObjects: Counter<'processor' | 'kind'>;
  readonly #updaters: Array<{ set: Set<() => void>; fn: () => void }> = [];

  constructor(registry: Registry, processor: string, objectCounts: () => Record<KubeResource, number>, synced: () => boolean) {
    this.#processor = processor;
    this.#lookups = sharedCounter(
      registry,
      'podflow_k8sattributes_lookups_total',
      'Flow ends looked up; result hit: a pod, node or service of the cluster, miss: an address the cluster does not know',
      ['processor', 'end', 'result'],
    );
    this.#restarts = sharedCounter(registry, 'podflow_k8sattributes_watch_restarts_total', 'Watch connections made after the first one (reconnects, relists after 410 Gone)', ['processor', 'kind']);
    this.#badObjects = sharedCounter(registry, 'podflow_k8sattributes_bad_objects_total', 'Malformed API objects skipped', ['processor', 'kind']);
    const cached = collectedGauge(registry, 'podflow_k8sattributes_objects_cached', 'API objects held in the cache (pods include deleted ones in their grace period)', ['processor', 'kind']);
    this.#track(cached.collectors, () => {
      for (const [kind, n] of Object.entries(objectCounts())) cached.gauge.set({ processor, kind }, n);
    });
    const sync = collectedGauge(registry, 'podflow_k8sattributes_synced', '1 once the initial list of every kind is in the cache, else 0', ['processor']);
    this.#track(sync.collectors, () => sync.gauge.set({ processor }, synced() ? 1 : 0));
    for (const end of ['source', 'destination']) for (const result of ['hit', 'miss']) this.#lookups.inc({ processor, end, result }, 0);
  }

  #track(set: Set<() => void>, fn: () => void): void {
    set.add(fn);
    this.#updaters.push({ set, fn });
  }

  lookups(end: FlowEnd, hits: number, misses: number): void {
    const labels: Labels<'processor' | 'end' | 'result'> = { processor: this.#processor, end };
    if (hits > 0) this.#lookups.inc({ ...labels, result: 'hit' }, hits);
    if (misses > 0) this.#lookups.inc({ ...labels, result: 'miss' }, misses);
  }

  watchRestarted(resource: KubeResource): void {
    this.#restarts.inc({ processor: this.#processor, kind: resource });
  }

  badObject(resource: KubeResource): void {
    this.#badObjects.inc({ processor: this.#processor, kind: resource });
  }

  /** Stops reporting this instance's gauges. */
  close(): void {
    for (const { set, fn } of this.#updaters) set.delete(fn);
  }
}
