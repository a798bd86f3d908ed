// A test Kubernetes API server on 127.0.0.1 that speaks the list/watch HTTP protocol the real
// client libraries use (no Kubernetes control plane can run here). What it implements:
//
// - GET <collection>                 → `{kind: <Kind>List, metadata: {resourceVersion}, items}`
//   with `limit=N`: N items per page and `metadata.continue` naming the rest (a snapshot taken
//   at the first page, as the real server serves pages from one revision); `continue=<token>`
//   gives the next page; a token older than the last compaction gets 410 Expired.
// - GET <collection>?watch=true&resourceVersion=N
//     chunked stream of JSON lines `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": …}`;
//     events after N are replayed from the history, then live events follow. N older than the
//     compacted history → `ERROR` event with a `410 Expired` Status (or, with `expireAsHttp`,
//     an HTTP 410 response), as the real server does. N empty/"0" → synthetic ADDED for all.
// - one resourceVersion counter for all kinds (etcd's revision), stamped on every write.
// - bearer-token check when `token` is set (401 otherwise, with the Status body a real API
//   server sends); RBAC refusals per resource and verb (403 with the authorizer's Status body,
//   which names the subject, verb, resource and API group).
// - a request log: who asked (bearer token, address), for what, the status, and the response
//   bytes sent (a watch's grow while it is open).
//
// Test controls: add/modify/remove objects, bookmark, compact (forget history), expire live
// watches with 410, drop watch connections abruptly, stop/restart on the same port, inject
// raw (bad) objects into lists and watch streams, send a line that never ends, end a stream in
// the middle of an event's line. A kubeconfig file pointing at it is written.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ResourceName = 'pods' | 'nodes' | 'services' | 'replicasets' | 'jobs' | 'endpointslices';

interface ResourceInfo {
  path: string;
  kind: string;
  apiVersion: string;
  namespaced: boolean;
}

export type Verb = 'list' | 'watch';

/** The subject a 403 names by default: the Helm chart's service account. */
export const DEFAULT_SUBJECT = 'system:serviceaccount:podflow:podflow';

export const RESOURCES: Record<ResourceName, ResourceInfo> = {
  pods: { path: '/api/v1/pods', kind: 'Pod', apiVersion: 'v1', namespaced: true },
  nodes: { path: '/api/v1/nodes', kind: 'Node', apiVersion: 'v1', namespaced: false },
  services: { path: '/api/v1/services', kind: 'Service', apiVersion: 'v1', namespaced: true },
  replicasets: { path: '/apis/apps/v1/replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true },
  jobs: { path: '/apis/batch/v1/jobs', kind: 'Job', apiVersion: 'batch/v1', namespaced: true },
  endpointslices: { path: '/apis/discovery.k8s.io/v1/endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true },
};

const BY_PATH = new Map(Object.entries(RESOURCES).map(([name, info]) => [info.path, name as ResourceName]));

/** A Kubernetes object as JSON; only `metadata.name` (and `namespace`) matter to the server. */
export type KubeObject = { metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEvent {
  rv: number;
  resource: ResourceName;
  type: EventType;
  object: unknown;
}

interface Watcher {
  resource: ResourceName;
  /** The client asked for BOOKMARK events (`allowWatchBookmarks=true`); only then are they sent. */
  bookmarks: boolean;
  res: ServerResponse;
  socket: Socket;
  record: RequestRecord;
}

export interface RequestRecord {
  resource: ResourceName | undefined;
  watch: boolean;
  resourceVersion: string | undefined;
  allowWatchBookmarks: boolean;
  /** A page of a paged list: `limit` asked for, and whether it continued an earlier page. */
  limit: number | undefined;
  continued: boolean;
  status: number;
  /** The bearer token presented (undefined: none), and the client's address. */
  token: string | undefined;
  remoteAddress: string | undefined;
  /** Response body bytes sent so far (a watch's grow while it is open). */
  bytes: number;
}

export interface FakeApiServerOptions {
  /** Bearer token the server requires; undefined accepts anything. */
  token?: string;
  /** Answer an expired watch with HTTP 410 instead of a 200 stream carrying an ERROR event. */
  expireAsHttp?: boolean;
}

function key(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export class FakeApiServer {
  readonly options: FakeApiServerOptions;
  readonly requests: RequestRecord[] = [];
  #server: Server;
  #port = 0;
  #rv = 1;
  /** Oldest resourceVersion a watch may resume from; older ones get 410 Gone. */
  #compactedRv = 0;
  #history: HistoryEvent[] = [];
  #objects = new Map<ResourceName, Map<string, unknown>>();
  #watchers = new Set<Watcher>();
  #sockets = new Set<Socket>();
  #dir: string;
  /** Raw list items served after the valid ones (bad objects for tests). */
  #extraListItems = new Map<ResourceName, unknown[]>();
  /** `resource verb` pairs RBAC refuses (403), with the subject named in the answer. */
  #forbidden = new Map<string, string>();
  /** Paged lists in progress: the snapshot of the first page, by continue token. */
  #continuations = new Map<string, { items: unknown[]; rv: number; resource: ResourceName }>();
  #nextContinue = 1;
  #expireNextContinue = false;

  private constructor(options: FakeApiServerOptions) {
    this.options = { ...options };
    for (const name of Object.keys(RESOURCES) as ResourceName[]) this.#objects.set(name, new Map());
    this.#server = this.#createServer();
    this.#dir = mkdtempSync(join(tmpdir(), 'podflow-fake-apiserver-'));
  }

  static async start(options: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const server = new FakeApiServer(options);
    await server.listen();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /** Open watch streams (per resource, or all). */
  watchCount(resource?: ResourceName): number {
    let n = 0;
    for (const w of this.#watchers) if (!resource || w.resource === resource) n++;
    return n;
  }

  /**
   * Path of a kubeconfig (JSON is valid YAML) whose current context points at this server. Each
   * `name` is its own file, so clients with different tokens can be told apart in `requests`.
   */
  writeKubeconfig(token = this.options.token ?? 'test-token', name = 'kubeconfig'): string {
    const file = join(this.#dir, name);
    writeFileSync(file, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP on loopback: the client allows it only with insecure-skip-tls-verify.
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: { token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
      'current-context': 'fake',
    }));
    return file;
  }

  /** Listens on 127.0.0.1 (the same port as before after a `stop()`). */
  async listen(): Promise<void> {
    if (this.#server.listening) return;
    this.#server = this.#createServer();
    this.#server.listen(this.#port, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** The server goes away: every connection is cut and the port closed; state is kept. */
  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#watchers.clear();
    if (this.#server.listening) {
      const closed = once(this.#server, 'close');
      this.#server.close();
      await closed;
    }
  }

  /** Stops and removes the kubeconfig directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  // ---- state changes -------------------------------------------------------------------

  add(resource: ResourceName, obj: KubeObject): KubeObject {
    return this.#write(resource, 'ADDED', obj);
  }

  modify(resource: ResourceName, obj: KubeObject): KubeObject {
    return this.#write(resource, 'MODIFIED', obj);
  }

  /** Adds or modifies, whichever applies. */
  apply(resource: ResourceName, obj: KubeObject): KubeObject {
    const exists = this.#objects.get(resource)!.has(key(obj));
    return this.#write(resource, exists ? 'MODIFIED' : 'ADDED', obj);
  }

  remove(resource: ResourceName, name: string, namespace?: string): void {
    const map = this.#objects.get(resource)!;
    const k = `${namespace ?? ''}/${name}`;
    const current = map.get(k) as KubeObject | undefined;
    if (!current) throw new Error(`fake apiserver: no ${resource} ${k}`);
    this.#write(resource, 'DELETED', current);
  }

  get(resource: ResourceName, name: string, namespace?: string): KubeObject | undefined {
    return this.#objects.get(resource)!.get(`${namespace ?? ''}/${name}`) as KubeObject | undefined;
  }

  /** RBAC refuses `verb` on `resource` from now on: 403 with the Status a real API server sends. */
  forbid(resource: ResourceName, verb: Verb, subject = DEFAULT_SUBJECT): void {
    this.#forbidden.set(`${resource} ${verb}`, subject);
  }

  /** Undoes `forbid` (every verb when none is given). */
  allow(resource: ResourceName, verb?: Verb): void {
    for (const v of verb ? [verb] : (['list', 'watch'] as const)) this.#forbidden.delete(`${resource} ${v}`);
  }

  /** The bearer token required from now on (undefined: any). */
  requireToken(token: string | undefined): void {
    this.options.token = token;
  }

  /** Sends a BOOKMARK with the current resourceVersion on every open watch that asked for them. */
  bookmark(): void {
    for (const w of this.#watchers) {
      if (!w.bookmarks) continue;
      const info = RESOURCES[w.resource];
      this.#send(w, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.#rv) } } });
    }
  }

  /** Forgets the event history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
    this.#continuations.clear();
  }

  /** Ends every open watch with a `410 Expired` ERROR event, as an apiserver does after compaction. */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.#watchers]) {
      this.#send(w, { type: 'ERROR', object: expiredStatus() });
      w.res.end();
      this.#watchers.delete(w);
    }
  }

  /** Cuts every watch connection mid-stream without a proper end (RST). */
  dropWatches(): void {
    for (const w of [...this.#watchers]) {
      w.socket.destroy();
      this.#watchers.delete(w);
    }
  }

  /** Sends an arbitrary event line (e.g. a malformed object) to the watchers of a resource. */
  injectEvent(resource: ResourceName, line: string): void {
    this.#rv++;
    for (const w of this.#watchers) if (w.resource === resource) w.res.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /**
   * Starts an event line on every watch of `resource` and sends `bytes` bytes of it without a
   * newline (a JSON string that never closes), in 64 KiB writes; resolves when all are written
   * or the client has gone.
   */
  async sendUnendingLine(resource: ResourceName, bytes: number): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const streams = [...this.#watchers].filter((w) => w.resource === resource);
    await Promise.all(streams.map(async (w) => {
      let sent = 0;
      const prefix = '{"type":"ADDED","object":{"metadata":{"name":"';
      w.res.write(prefix);
      sent += prefix.length;
      while (sent < bytes && !w.res.destroyed && !w.res.writableEnded) {
        const n = Math.min(chunk.length, bytes - sent);
        if (!w.res.write(chunk.subarray(0, n))) await drainedOrClosed(w.res);
        sent += n;
      }
    }));
  }

  /**
   * Changes `obj` as `apply` does (kept in the history), but every watch of `resource` gets only
   * the first half of the event's line, and then its stream ends cleanly (a proxy or load
   * balancer that cut the response mid-line).
   */
  applyTorn(resource: ResourceName, obj: KubeObject): KubeObject {
    const torn = [...this.#watchers].filter((w) => w.resource === resource);
    for (const w of torn) this.#watchers.delete(w);
    const type: EventType = this.#objects.get(resource)!.has(key(obj)) ? 'MODIFIED' : 'ADDED';
    const stored = this.#write(resource, type, obj);
    const line = JSON.stringify({ type, object: stored });
    for (const w of torn) w.res.end(line.slice(0, line.length >> 1));
    return stored;
  }

  /** The next `continue` request gets 410 Expired (as after a compaction between two pages). */
  expireNextContinue(): void {
    this.#expireNextContinue = true;
  }

  /** Serves `item` in every later list of `resource`, after the valid objects. */
  injectListItem(resource: ResourceName, item: unknown): void {
    const list = this.#extraListItems.get(resource) ?? [];
    list.push(item);
    this.#extraListItems.set(resource, list);
  }

  // ---- protocol ------------------------------------------------------------------------

  #write(resource: ResourceName, type: EventType, obj: KubeObject): KubeObject {
    const info = RESOURCES[resource];
    this.#rv++;
    const stored = structuredClone(obj);
    stored.kind ??= info.kind;
    stored.apiVersion ??= info.apiVersion;
    stored.metadata.resourceVersion = String(this.#rv);
    const map = this.#objects.get(resource)!;
    if (type === 'DELETED') map.delete(key(stored));
    else map.set(key(stored), stored);
    this.#history.push({ rv: this.#rv, resource, type, object: stored });
    for (const w of this.#watchers) if (w.resource === resource) this.#send(w, { type, object: stored });
    return stored;
  }

  #send(w: Watcher, event: unknown): void {
    if (w.res.writableEnded) return;
    const line = `${JSON.stringify(event)}\n`;
    w.record.bytes += Buffer.byteLength(line);
    w.res.write(line);
  }

  #createServer(): Server {
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    return server;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const resource = BY_PATH.get(url.pathname);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const rvParam = url.searchParams.get('resourceVersion') ?? undefined;
    const allowWatchBookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const limitParam = Number(url.searchParams.get('limit') ?? '');
    const limit = !watch && Number.isInteger(limitParam) && limitParam > 0 ? limitParam : undefined;
    const continueToken = watch ? undefined : url.searchParams.get('continue') ?? undefined;
    const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
    const record = (status: number): RequestRecord => {
      const r: RequestRecord = { resource, watch, resourceVersion: rvParam, allowWatchBookmarks, limit, continued: continueToken !== undefined, status, token: bearer, remoteAddress: req.socket.remoteAddress, bytes: 0 };
      this.requests.push(r);
      return r;
    };

    if (this.options.token !== undefined && req.headers.authorization !== `Bearer ${this.options.token}`) {
      return json(res, 401, status(401, 'Unauthorized', 'Unauthorized'), record(401));
    }
    if (req.method !== 'GET' || !resource) {
      return json(res, 404, status(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`), record(404));
    }
    const info = RESOURCES[resource];
    const subject = this.#forbidden.get(`${resource} ${watch ? 'watch' : 'list'}`);
    if (subject !== undefined) {
      return json(res, 403, forbiddenStatus(resource, info, watch ? 'watch' : 'list', subject), record(403));
    }
    if (!watch) {
      let page: { items: unknown[]; rv: number; resource: ResourceName };
      if (continueToken !== undefined) {
        const pending = this.#expireNextContinue ? undefined : this.#continuations.get(continueToken);
        this.#expireNextContinue = false;
        if (!pending || pending.resource !== resource) return json(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'), record(410));
        this.#continuations.delete(continueToken);
        page = pending;
      } else {
        page = { items: [...this.#objects.get(resource)!.values(), ...(this.#extraListItems.get(resource) ?? [])], rv: this.#rv, resource };
      }
      const metadata: { resourceVersion: string; continue?: string } = { resourceVersion: String(page.rv) };
      let items = page.items;
      if (limit !== undefined && items.length > limit) {
        const token = `c${this.#nextContinue++}`;
        this.#continuations.set(token, { items: items.slice(limit), rv: page.rv, resource });
        items = items.slice(0, limit);
        metadata.continue = token;
      }
      return json(res, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata, items }, record(200));
    }

    const fromRv = rvParam === undefined || rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (fromRv !== undefined && (!Number.isInteger(fromRv) || fromRv < this.#compactedRv)) {
      const r = record(410);
      if (this.options.expireAsHttp) return json(res, 410, expiredStatus(), r);
      const line = `${JSON.stringify({ type: 'ERROR', object: expiredStatus() })}\n`;
      r.bytes += Buffer.byteLength(line);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(line);
      return;
    }
    const r = record(200);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, bookmarks: allowWatchBookmarks, res, socket: req.socket, record: r };
    this.#watchers.add(w);
    const forget = () => this.#watchers.delete(w);
    res.on('close', forget);
    if (fromRv === undefined) {
      for (const obj of this.#objects.get(resource)!.values()) this.#send(w, { type: 'ADDED', object: obj });
    } else {
      for (const e of this.#history) if (e.resource === resource && e.rv > fromRv) this.#send(w, { type: e.type, object: e.object });
    }
  }
}

/** Resolves on the response's next 'drain' or its 'close', whichever comes first (no listener left behind). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** The authorizer's answer (k8s.io/apiserver's forbidden response), byte for byte in shape. */
function forbiddenStatus(resource: ResourceName, info: ResourceInfo, verb: Verb, subject: string) {
  const group = info.apiVersion.includes('/') ? info.apiVersion.split('/')[0]! : '';
  const qualified = group ? `${resource}.${group}` : resource;
  return {
    ...status(403, 'Forbidden', `${qualified} is forbidden: User "${subject}" cannot ${verb} resource "${resource}" in API group "${group}" at the cluster scope`),
    details: group ? { group, kind: resource } : { kind: resource },
  };
}

function expiredStatus() {
  return status(410, 'Expired', 'too old resource version');
}

function json(res: ServerResponse, code: number, body: unknown, record: RequestRecord): void {
  const text = JSON.stringify(body);
  const bytes = Buffer.byteLength(text);
  record.bytes += bytes;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': bytes });
  res.end(text);
}
