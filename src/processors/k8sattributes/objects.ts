// API objects turned into the records podflow keeps, before anything stores them: a full Pod is
// several KiB of JSON, a PodRecord a few hundred bytes, so 10,000 pods cost little memory.
// Input is either raw watch JSON (timestamps as strings) or the client's list models (Dates).
import { isIP } from 'node:net';

/** What ListWatch needs to keep its own per-name map and compare versions. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
}

export interface ControllerRef {
  kind: string;
  name: string;
}

export interface PodRecord {
  metadata: ObjectMeta;
  uid: string;
  namespace: string;
  name: string;
  /** '' while unscheduled. */
  nodeName: string;
  /** status.podIPs (canonical text form); empty until the pod has an address. */
  ips: string[];
  hostNetwork: boolean;
  /** Declared container ports of a hostNetwork pod as `port/protocol` (tcp, udp, sctp). */
  hostPorts: string[];
  /** The controlling ownerReference (a ReplicaSet, Job, StatefulSet, ...), if any. */
  controller: ControllerRef | undefined;
  /** The `pod-template-hash` label (Deployment pods), to name the Deployment before its ReplicaSet is known. */
  templateHash: string | undefined;
  /** Only the configured label keys, as [key, value]. */
  labels: Array<[string, string]>;
  annotations: Array<[string, string]>;
  createdMs: number;
  /** Succeeded/Failed: the IP is released when the containers finished (or when seen, if unknown). */
  finishedMs: number | undefined;
  terminal: boolean;
}

export interface NodeRecord {
  metadata: ObjectMeta;
  name: string;
  zone: string | undefined;
  region: string | undefined;
  /** InternalIP and ExternalIP addresses. */
  ips: string[];
}

export interface ServiceRecord {
  metadata: ObjectMeta;
  namespace: string;
  name: string;
  /** spec.clusterIPs (or clusterIP); empty for headless services. */
  clusterIPs: string[];
}

/** A ReplicaSet or Job, the controller of pods: only its own controller matters (Deployment, CronJob). */
export interface ControllerRecord {
  metadata: ObjectMeta;
  namespace: string;
  name: string;
  controller: ControllerRef | undefined;
}

/** A malformed object: the message names the kind, the object and the field. */
export class BadObjectError extends Error {
  override name = 'BadObjectError';
}

export interface ExtractKeys {
  labels: readonly string[];
  annotations: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Reader {
  readonly where: string;
  constructor(kind: string, obj: unknown) {
    const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : undefined;
    const name = typeof meta?.name === 'string' ? meta.name : '?';
    const ns = typeof meta?.namespace === 'string' ? `${meta.namespace}/` : '';
    this.where = `${kind} ${ns}${name}`;
  }

  fail(field: string, problem: string): never {
    throw new BadObjectError(`${this.where}: ${field} ${problem}`);
  }

  object(parent: Json, field: string, path: string, required = true): Json | undefined {
    const v = parent[field];
    if (v === undefined || v === null) return required ? this.fail(path, 'is missing') : undefined;
    return isObject(v) ? v : this.fail(path, `is ${typeof v}, expected an object`);
  }

  string(parent: Json, field: string, path: string, required = true): string | undefined {
    const v = parent[field];
    if (v === undefined || v === null) return required ? this.fail(path, 'is missing') : undefined;
    return typeof v === 'string' ? v : this.fail(path, `is ${typeof v}, expected a string`);
  }

  array(parent: Json, field: string, path: string): unknown[] {
    const v = parent[field];
    if (v === undefined || v === null) return [];
    return Array.isArray(v) ? v : this.fail(path, `is ${typeof v}, expected a list`);
  }

  /** RFC 3339 string from the wire, or a Date from the client's list models. */
  timeMs(parent: Json, field: string, path: string, required = true): number | undefined {
    const v = parent[field];
    if (v === undefined || v === null) return required ? this.fail(path, 'is missing') : undefined;
    const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : Number.NaN;
    return Number.isFinite(ms) ? ms : this.fail(path, `is not a timestamp (${JSON.stringify(v)})`);
  }

  ip(value: unknown, path: string): string {
    if (typeof value !== 'string' || isIP(value) === 0) this.fail(path, `is not an IP address (${JSON.stringify(value)})`);
    return canonicalIp(value);
  }

  meta(obj: unknown, namespaced: boolean): { meta: Json; metadata: ObjectMeta } {
    if (!isObject(obj)) this.fail('the object', 'is not a JSON object');
    const meta = this.object(obj, 'metadata', 'metadata')!;
    const name = this.string(meta, 'name', 'metadata.name')!;
    const namespace = namespaced ? this.string(meta, 'namespace', 'metadata.namespace')! : undefined;
    const resourceVersion = this.string(meta, 'resourceVersion', 'metadata.resourceVersion', false);
    return { meta, metadata: namespace === undefined ? { name, resourceVersion } : { name, namespace, resourceVersion } };
  }

  controller(meta: Json): ControllerRef | undefined {
    const refs = this.array(meta, 'ownerReferences', 'metadata.ownerReferences');
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i];
      if (!isObject(ref)) this.fail(`metadata.ownerReferences[${i}]`, 'is not an object');
      if (ref.controller !== true) continue;
      return {
        kind: this.string(ref, 'kind', `metadata.ownerReferences[${i}].kind`)!,
        name: this.string(ref, 'name', `metadata.ownerReferences[${i}].name`)!,
      };
    }
    return undefined;
  }
}

/** IPv6 in its canonical (RFC 5952) form, so `fd00:0::1` and `fd00::1` are one key. */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

function pick(r: Reader, meta: Json, field: 'labels' | 'annotations', keys: readonly string[]): Array<[string, string]> {
  if (keys.length === 0) return [];
  const map = r.object(meta, field, `metadata.${field}`, false);
  if (!map) return [];
  const out: Array<[string, string]> = [];
  for (const k of keys) {
    const v = map[k];
    if (typeof v === 'string') out.push([k, v]);
  }
  return out;
}

export function toPodRecord(obj: unknown, extract: ExtractKeys): PodRecord {
  const r: Reader = new Reader('Pod', obj);
  const { meta, metadata } = r.meta(obj, true);
  const raw = obj as Json;
  const spec = r.object(raw, 'spec', 'spec')!;
  const status = r.object(raw, 'status', 'status', false) ?? {};
  const hostNetwork = spec.hostNetwork === true;

  const ips: string[] = [];
  const podIPs = r.array(status, 'podIPs', 'status.podIPs');
  podIPs.forEach((entry, i) => {
    if (!isObject(entry)) r.fail(`status.podIPs[${i}]`, 'is not an object');
    ips.push(r.ip(entry.ip, `status.podIPs[${i}].ip`));
  });
  const podIP = r.string(status, 'podIP', 'status.podIP', false);
  if (podIP && ips.length === 0) ips.push(r.ip(podIP, 'status.podIP'));

  const hostPorts: string[] = [];
  if (hostNetwork) {
    r.array(spec, 'containers', 'spec.containers').forEach((c, ci) => {
      if (!isObject(c)) r.fail(`spec.containers[${ci}]`, 'is not an object');
      r.array(c, 'ports', `spec.containers[${ci}].ports`).forEach((p, pi) => {
        const port = isObject(p) ? p.containerPort : undefined;
        if (typeof port !== 'number' || !Number.isInteger(port)) r.fail(`spec.containers[${ci}].ports[${pi}].containerPort`, 'is not a port number');
        const protocol = isObject(p) && typeof p.protocol === 'string' ? p.protocol.toLowerCase() : 'tcp';
        hostPorts.push(`${port}/${protocol}`);
      });
    });
  }

  const phase = r.string(status, 'phase', 'status.phase', false);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  let finishedMs: number | undefined;
  if (terminal) {
    r.array(status, 'containerStatuses', 'status.containerStatuses').forEach((cs, i) => {
      const terminated = isObject(cs) && isObject(cs.state) && isObject(cs.state.terminated) ? cs.state.terminated : undefined;
      if (!terminated) return;
      const at = r.timeMs(terminated, 'finishedAt', `status.containerStatuses[${i}].state.terminated.finishedAt`, false);
      if (at !== undefined && (finishedMs === undefined || at > finishedMs)) finishedMs = at;
    });
  }

  const labels = r.object(meta, 'labels', 'metadata.labels', false);
  const hash = labels?.['pod-template-hash'];
  return {
    metadata,
    uid: r.string(meta, 'uid', 'metadata.uid')!,
    namespace: metadata.namespace!,
    name: metadata.name,
    nodeName: r.string(spec, 'nodeName', 'spec.nodeName', false) ?? '',
    ips,
    hostNetwork,
    hostPorts,
    controller: r.controller(meta),
    templateHash: typeof hash === 'string' ? hash : undefined,
    labels: pick(r, meta, 'labels', extract.labels),
    annotations: pick(r, meta, 'annotations', extract.annotations),
    createdMs: r.timeMs(meta, 'creationTimestamp', 'metadata.creationTimestamp')!,
    finishedMs,
    terminal,
  };
}

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const REGION_LABEL = 'topology.kubernetes.io/region';

export function toNodeRecord(obj: unknown): NodeRecord {
  const r: Reader = new Reader('Node', obj);
  const { meta, metadata } = r.meta(obj, false);
  const labels = r.object(meta, 'labels', 'metadata.labels', false) ?? {};
  const status = r.object(obj as Json, 'status', 'status', false) ?? {};
  const ips: string[] = [];
  r.array(status, 'addresses', 'status.addresses').forEach((a, i) => {
    if (!isObject(a)) r.fail(`status.addresses[${i}]`, 'is not an object');
    if (a.type === 'InternalIP' || a.type === 'ExternalIP') ips.push(r.ip(a.address, `status.addresses[${i}].address`));
  });
  const zone = labels[ZONE_LABEL];
  const region = labels[REGION_LABEL];
  return {
    metadata,
    name: metadata.name,
    zone: typeof zone === 'string' && zone !== '' ? zone : undefined,
    region: typeof region === 'string' && region !== '' ? region : undefined,
    ips,
  };
}

export function toServiceRecord(obj: unknown): ServiceRecord {
  const r: Reader = new Reader('Service', obj);
  const { metadata } = r.meta(obj, true);
  const spec = r.object(obj as Json, 'spec', 'spec')!;
  const listed = r.array(spec, 'clusterIPs', 'spec.clusterIPs');
  const single = r.string(spec, 'clusterIP', 'spec.clusterIP', false);
  const raw = listed.length > 0 ? listed : single !== undefined ? [single] : [];
  const clusterIPs: string[] = [];
  raw.forEach((ip, i) => {
    if (ip === 'None' || ip === '') return; // headless
    clusterIPs.push(r.ip(ip, listed.length > 0 ? `spec.clusterIPs[${i}]` : 'spec.clusterIP'));
  });
  return { metadata, namespace: metadata.namespace!, name: metadata.name, clusterIPs };
}

export function toControllerRecord(kind: 'ReplicaSet' | 'Job', obj: unknown): ControllerRecord {
  const r: Reader = new Reader(kind, obj);
  const { meta, metadata } = r.meta(obj, true);
  return { metadata, namespace: metadata.namespace!, name: metadata.name, controller: r.controller(meta) };
}
