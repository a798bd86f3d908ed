// One informer per resource (pods, nodes, ...): @kubernetes/client-node's ListWatch (list, then watch from the list's
// resourceVersion; 410 Gone → relist; a closed stream → re-watch) with two additions:
// - objects become records before ListWatch stores them (RecordWatch, and our own list call,
//   which reads the wire JSON so one malformed item is skipped instead of failing the list);
// - when ListWatch gives up (API unreachable, list failed) it is restarted with backoff.
import { KubeConfig, ListWatch, RequestContext, HttpMethod, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fetch } from 'undici';
import type { KubeResource } from './cluster-cache.ts';
import { BadObjectError, type ObjectMeta } from './objects.ts';

export interface KubeRecord {
  metadata: ObjectMeta;
}

export interface ResourceSpec<R extends KubeRecord> {
  resource: KubeResource;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  /** The record of an API object; throws BadObjectError naming the bad field. */
  toRecord(obj: unknown): R;
  upsert(rec: R): void;
  remove(rec: R): void;
}

export interface WatcherHooks {
  logger: Logger;
  badObject(resource: KubeResource): void;
  /** A watch connection after the first (reconnect, relist). */
  restarted(resource: KubeResource): void;
}

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 30_000 };

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** A Watch whose events carry records; a malformed object is logged and becomes a BOOKMARK (keeping its resourceVersion). */
class RecordWatch<R extends KubeRecord> extends Watch {
  readonly #toRecord: (obj: unknown) => R | undefined;

  constructor(kc: KubeConfig, toRecord: (obj: unknown) => R | undefined) {
    super(kc);
    this.#toRecord = toRecord;
  }

  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    // Bookmarks keep the resourceVersion fresh on quiet kinds, so a resumed watch is less often
    // too old (410) and needs no relist.
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true }, (phase, apiObj, watchObj) => {
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, apiObj, watchObj);
      const record = this.#toRecord(apiObj);
      if (record) return callback(phase, record, watchObj);
      const rv = (apiObj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
      if (typeof rv === 'string') callback('BOOKMARK', { metadata: { resourceVersion: rv } }, watchObj);
    }, done);
  }
}

interface WireList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

/** Items per list page: client-go's informer default. */
export const LIST_PAGE_SIZE = 500;

export class ResourceWatcher<R extends KubeRecord> {
  readonly spec: ResourceSpec<R>;
  #synced = false;
  #resolveSynced!: () => void;
  /** Resolves once the first list has been applied. */
  readonly synced: Promise<void>;
  readonly #kc: KubeConfig;
  readonly #hooks: WatcherHooks;
  readonly #backoff: BackoffSettings;
  readonly #informer: ListWatch<R & { metadata: ObjectMeta }>;
  #connects = 0;
  #retryMs: number;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;

  constructor(kc: KubeConfig, spec: ResourceSpec<R>, hooks: WatcherHooks, backoff: BackoffSettings = DEFAULT_BACKOFF) {
    this.spec = spec;
    this.#kc = kc;
    this.#hooks = hooks;
    this.#backoff = backoff;
    this.#retryMs = backoff.initialMs;
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
    const watch = new RecordWatch<R>(kc, (obj) => this.#toRecord(obj));
    this.#informer = new ListWatch<R & { metadata: ObjectMeta }>(spec.path, watch, () => this.#list(), false);
    const guarded = (what: string, fn: (rec: R) => void) => (rec: R) => {
      this.#healthy();
      try {
        fn(rec);
      } catch (err) {
        hooks.logger.error({ err, kind: spec.resource, object: rec.metadata }, `k8sattributes: ${what} failed`);
      }
    };
    this.#informer.on('add', guarded('add', (r) => spec.upsert(r)));
    this.#informer.on('update', guarded('update', (r) => spec.upsert(r)));
    this.#informer.on('delete', guarded('delete', (r) => spec.remove(r)));
    this.#informer.on('connect', () => {
      if (this.#connects++ > 0) hooks.restarted(spec.resource);
    });
    this.#informer.on('error', (err: unknown) => this.#onError(err));
  }

  get isSynced(): boolean {
    return this.#synced;
  }

  start(): void {
    this.#stopped = false;
    void this.#informer.start().catch((err: unknown) => this.#onError(err));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#informer.stop();
  }

  #toRecord(obj: unknown): R | undefined {
    try {
      return this.spec.toRecord(obj);
    } catch (err) {
      this.#hooks.badObject(this.spec.resource);
      const message = err instanceof BadObjectError ? err.message : `${this.spec.resource}: ${(err as Error).message}`;
      this.#hooks.logger.error({ kind: this.spec.resource }, `k8sattributes: skipping a malformed object: ${message}`);
      return undefined;
    }
  }

  /**
   * The list half of list+watch, on the wire JSON with the KubeConfig's authentication, in pages
   * of LIST_PAGE_SIZE (as client-go's informers list): the API server never builds, and this
   * process never holds, the text of a whole 30,000-pod list at once.
   */
  async #list(): Promise<{ metadata: { resourceVersion: string }; items: Array<R & { metadata: ObjectMeta }> }> {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const items: Array<R & { metadata: ObjectMeta }> = [];
    let resourceVersion = '';
    let continueToken: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(LIST_PAGE_SIZE) });
      if (continueToken !== undefined) query.set('continue', continueToken);
      const body = await this.#get(`${cluster.server}${this.spec.path}?${query}`);
      // Every page is of the first page's revision; the watch starts from it.
      if (continueToken === undefined) resourceVersion = body.metadata?.resourceVersion ?? '';
      for (const raw of body.items!) {
        const r = this.#toRecord(raw);
        if (r) items.push(r);
      }
      continueToken = body.metadata?.continue || undefined;
    } while (continueToken !== undefined);
    this.#healthy();
    if (!this.#synced) {
      // ListWatch applies the items right after this promise resolves, synchronously.
      setImmediate(() => {
        this.#synced = true;
        this.#resolveSynced();
      });
    }
    return { metadata: { resourceVersion }, items };
  }

  /** One page. A continue token that expired (410) fails the list: it is started again with backoff. */
  async #get(url: string): Promise<WireList> {
    const ctx = new RequestContext(url, HttpMethod.GET);
    await this.#kc.applySecurityAuthentication(ctx);
    const response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal: AbortSignal.timeout(60_000) });
    const text = await response.text();
    if (response.status !== 200) {
      const error = new Error(`GET ${this.spec.path}: HTTP ${response.status} ${text.slice(0, 200)}`) as Error & { statusCode: number };
      error.statusCode = response.status;
      throw error;
    }
    let body: WireList;
    try {
      body = JSON.parse(text) as WireList;
    } catch (err) {
      throw new Error(`GET ${this.spec.path}: the response is not JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(body.items)) throw new Error(`GET ${this.spec.path}: the response has no items list`);
    return body;
  }

  #healthy(): void {
    this.#retryMs = this.#backoff.initialMs;
    if (this.#failing) {
      this.#failing = false;
      this.#hooks.logger.info({ kind: this.spec.resource }, `k8sattributes: ${this.spec.resource} watch recovered`);
    }
  }

  /** ListWatch stops on errors other than 410 and timeouts: try again later. */
  #onError(err: unknown): void {
    if (this.#stopped) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#backoff.maxMs);
    if (!this.#failing) {
      this.#failing = true;
      this.#hooks.logger.warn({ kind: this.spec.resource, err: (err as Error)?.message ?? String(err) }, `k8sattributes: ${this.spec.resource} list/watch failed; retrying with backoff, the cache keeps serving`);
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.start();
    }, delay);
    this.#retryTimer.unref();
  }
}
