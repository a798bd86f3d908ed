// What podflow knows about the cluster, indexed for per-flow lookups: pods by IP with their
// lifetimes (an IP is reused after a pod dies; the flow's interval decides which pod it was),
// nodes by name and IP, services by ClusterIP, and ReplicaSets/Jobs for owner resolution.
// Fed by the watchers (records, not API objects); read by the attribute writer.
import { AddressMap } from './address-map.ts';
import type { NodeRecord, ControllerRecord, PodRecord, ServiceRecord } from './objects.ts';

/** A flow interval may start a little before the pod's creationTimestamp (clocks differ between nodes and the API server). */
export const CLOCK_SKEW_MS = 2_000;

export interface PodEntry {
  pod: PodRecord;
  /** When the IP became the pod's: creationTimestamp. */
  startMs: number;
  /** When the IP was released: deletion seen, or the pod finished (Succeeded/Failed). */
  endMs: number | undefined;
  /** Indexed IPs (pod IPs, or for hostNetwork pods `ip|port/proto` keys). */
  indexKeys: string[];
  /** The API object is gone (kept for the grace period only). */
  deleted: boolean;
  /**
   * Memo slots of the attribute writer (end-info.ts), cleared whenever the pod changes: the end
   * made for the pod's own address, the one for a hostNetwork pod on its node's address, and the
   * cache version they were made at. On the entry itself, which the address lookup has just read:
   * a separate memo object was one more cache miss per end of every flow.
   */
  memo: unknown;
  memoOnNodeAddress: unknown;
  memoVersion: number;
}

/** The API resources watched (the `kind` label of the self-metrics). */
export type KubeResource = 'pods' | 'nodes' | 'services' | 'replicasets' | 'jobs';

export class ClusterCache {
  readonly graceMs: number;
  /** Bumped whenever a node, ReplicaSet or Job changes: memoized pod attributes depend on them. */
  version = 0;
  readonly #now: () => number;
  readonly #pods = new Map<string, PodEntry>();
  readonly #podUidByName = new Map<string, string>();
  readonly #podsByIp = new AddressMap<PodEntry[]>();
  readonly #hostNetworkPods = new Map<string, PodEntry[]>();
  readonly #nodes = new Map<string, NodeRecord>();
  readonly #nodesByIp = new AddressMap<NodeRecord>();
  readonly #services = new Map<string, ServiceRecord>();
  readonly #servicesByIp = new AddressMap<ServiceRecord>();
  readonly #replicaSets = new Map<string, ControllerRecord>();
  readonly #jobs = new Map<string, ControllerRecord>();

  constructor(graceMs: number, now: () => number = Date.now) {
    this.graceMs = graceMs;
    this.#now = now;
  }

  // ---- pods ----------------------------------------------------------------------------

  upsertPod(pod: PodRecord): void {
    const now = this.#now();
    const nameKey = `${pod.namespace}/${pod.name}`;
    const previousUid = this.#podUidByName.get(nameKey);
    if (previousUid !== undefined && previousUid !== pod.uid) {
      // Same name, new uid (a StatefulSet pod recreated while we were not watching): the old one is gone.
      const old = this.#pods.get(previousUid);
      if (old) {
        old.deleted = true;
        if (old.endMs === undefined) old.endMs = Math.min(now, Math.max(old.startMs, pod.createdMs));
      }
    }
    this.#podUidByName.set(nameKey, pod.uid);

    let entry = this.#pods.get(pod.uid);
    if (!entry) {
      entry = { pod, startMs: pod.createdMs, endMs: undefined, indexKeys: [], deleted: false, memo: undefined, memoOnNodeAddress: undefined, memoVersion: -1 };
      this.#pods.set(pod.uid, entry);
    } else if (entry.deleted) {
      return; // deleted already; a late update (e.g. from a relist race) must not revive it
    }
    entry.pod = pod;
    entry.memo = undefined;
    entry.memoOnNodeAddress = undefined;
    if (pod.terminal && entry.endMs === undefined) entry.endMs = pod.finishedMs ?? now;
    this.#reindex(entry);
  }

  deletePod(pod: PodRecord): void {
    const entry = this.#pods.get(pod.uid);
    const nameKey = `${pod.namespace}/${pod.name}`;
    if (this.#podUidByName.get(nameKey) === pod.uid) this.#podUidByName.delete(nameKey);
    if (!entry) return;
    entry.deleted = true;
    if (entry.endMs === undefined) entry.endMs = this.#now();
  }

  #reindex(entry: PodEntry): void {
    const { pod } = entry;
    const keys = pod.hostNetwork ? pod.ips.flatMap((ip) => pod.hostPorts.map((p) => `${ip}|${p}`)) : pod.ips;
    const index = pod.hostNetwork ? this.#hostNetworkPods : this.#podsByIp;
    if (sameKeys(keys, entry.indexKeys)) return; // spec.hostNetwork is immutable, so the index is the same too
    this.#unindex(entry);
    for (const k of keys) {
      const list = index.get(k);
      if (list) list.push(entry);
      else index.set(k, [entry]);
    }
    entry.indexKeys = keys;
  }

  #unindex(entry: PodEntry): void {
    for (const index of [this.#podsByIp, this.#hostNetworkPods]) {
      for (const k of entry.indexKeys) {
        const list = index.get(k);
        if (!list) continue;
        const i = list.indexOf(entry);
        if (i < 0) continue;
        list.splice(i, 1);
        if (list.length === 0) index.delete(k);
      }
    }
    entry.indexKeys = [];
  }

  /**
   * The pod that had `ip` during [startMs, endMs]: the one whose lifetime overlaps the interval
   * most (ties: the newer); failing that, the most recently ended one still in its grace period;
   * failing that, one created at most CLOCK_SKEW_MS after the interval.
   */
  podAt(ip: string, startMs: number, endMs: number): PodEntry | undefined {
    const list = this.#podsByIp.get(ip);
    return list ? this.#pick(list, startMs, endMs) : undefined;
  }

  /** A hostNetwork pod that declares `port/protocol` on node address `ip`. */
  hostNetworkPodAt(ip: string, portProto: string, startMs: number, endMs: number): PodEntry | undefined {
    const list = this.#hostNetworkPods.get(`${ip}|${portProto}`);
    return list ? this.#pick(list, startMs, endMs) : undefined;
  }

  #pick(list: PodEntry[], startMs: number, endMs: number): PodEntry | undefined {
    if (list.length === 1) {
      const e = list[0]!;
      if (e.endMs === undefined && e.startMs <= endMs + CLOCK_SKEW_MS) return e; // the common case
    }
    const now = this.#now();
    let best: PodEntry | undefined;
    let bestOverlap = -1;
    let ended: PodEntry | undefined;
    let early: PodEntry | undefined;
    for (const e of list) {
      if (e.endMs !== undefined && now > e.endMs + this.graceMs) continue; // awaiting sweep
      const end = e.endMs ?? Number.POSITIVE_INFINITY;
      const overlap = Math.min(endMs, end) - Math.max(startMs, e.startMs);
      if (overlap >= 0) {
        if (overlap > bestOverlap || (overlap === bestOverlap && best !== undefined && e.startMs > best.startMs)) {
          best = e;
          bestOverlap = overlap;
        }
      } else if (end < startMs) {
        if (!ended || end > ended.endMs!) ended = e;
      } else if (e.startMs - endMs <= CLOCK_SKEW_MS) {
        if (!early || e.startMs < early.startMs) early = e;
      }
    }
    return best ?? ended ?? early;
  }

  /** Forgets pods whose grace period is over. Returns how many were dropped. */
  sweep(): number {
    const now = this.#now();
    let dropped = 0;
    for (const [uid, e] of this.#pods) {
      if (e.endMs === undefined || now <= e.endMs + this.graceMs) continue;
      this.#unindex(e);
      this.#pods.delete(uid);
      const nameKey = `${e.pod.namespace}/${e.pod.name}`;
      if (this.#podUidByName.get(nameKey) === uid) this.#podUidByName.delete(nameKey);
      dropped++;
    }
    return dropped;
  }

  // ---- nodes, services, owners ---------------------------------------------------------

  upsertNode(node: NodeRecord): void {
    this.deleteNode(node);
    this.#nodes.set(node.name, node);
    for (const ip of node.ips) this.#nodesByIp.set(ip, node);
    this.version++;
  }

  deleteNode(node: NodeRecord): void {
    const old = this.#nodes.get(node.name);
    if (!old) return;
    for (const ip of old.ips) if (this.#nodesByIp.get(ip) === old) this.#nodesByIp.delete(ip);
    this.#nodes.delete(node.name);
    this.version++;
  }

  node(name: string): NodeRecord | undefined {
    return this.#nodes.get(name);
  }

  nodeByIp(ip: string): NodeRecord | undefined {
    return this.#nodesByIp.get(ip);
  }

  upsertService(svc: ServiceRecord): void {
    this.deleteService(svc);
    this.#services.set(`${svc.namespace}/${svc.name}`, svc);
    for (const ip of svc.clusterIPs) this.#servicesByIp.set(ip, svc);
  }

  deleteService(svc: ServiceRecord): void {
    const key = `${svc.namespace}/${svc.name}`;
    const old = this.#services.get(key);
    if (!old) return;
    for (const ip of old.clusterIPs) if (this.#servicesByIp.get(ip) === old) this.#servicesByIp.delete(ip);
    this.#services.delete(key);
  }

  serviceByIp(ip: string): ServiceRecord | undefined {
    return this.#servicesByIp.get(ip);
  }

  upsertController(kind: 'replicasets' | 'jobs', rec: ControllerRecord): void {
    (kind === 'replicasets' ? this.#replicaSets : this.#jobs).set(`${rec.namespace}/${rec.name}`, rec);
    this.version++;
  }

  deleteController(kind: 'replicasets' | 'jobs', rec: ControllerRecord): void {
    if ((kind === 'replicasets' ? this.#replicaSets : this.#jobs).delete(`${rec.namespace}/${rec.name}`)) this.version++;
  }

  replicaSet(namespace: string, name: string): ControllerRecord | undefined {
    return this.#replicaSets.get(`${namespace}/${name}`);
  }

  job(namespace: string, name: string): ControllerRecord | undefined {
    return this.#jobs.get(`${namespace}/${name}`);
  }

  /** Objects held, per kind (pods include those in their grace period). */
  counts(): Record<KubeResource, number> {
    return {
      pods: this.#pods.size,
      nodes: this.#nodes.size,
      services: this.#services.size,
      replicasets: this.#replicaSets.size,
      jobs: this.#jobs.size,
    };
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}
