// One informer per kind: @kubernetes/client-node's ListWatch (list, then watch from the list's
// resourceVersion; 410 Gone → relist; a closed stream → re-watch) with two additions:
// - objects are reduced before ListWatch stores them (ReducingWatch, and our own list call,
//   which reads the wire JSON so one malformed item is skipped instead of failing the list);
// - when ListWatch gives up (API unreachable, list failed) it is restarted with backoff.
import { KubeConfig, ListWatch, RequestContext, HttpMethod, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fetch } from 'undici';
import type { ObjectKind } from './cluster-cache.ts';
import { BadObjectError, type ObjectMeta } from './objects.ts';

export interface Reduced {
  metadata: ObjectMeta;
}

export interface KindSpec<R extends Reduced> {
  kind: ObjectKind;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  reduce(obj: unknown): R;
  upsert(rec: R): void;
  remove(rec: R): void;
}

export interface WatcherHooks {
  logger: Logger;
  badObject(kind: ObjectKind): void;
  /** A watch connection after the first (reconnect, relist). */
  restarted(kind: ObjectKind): void;
}

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 30_000 };

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** A Watch whose events carry reduced objects; a malformed object is logged and becomes a BOOKMARK (keeping its resourceVersion). */
class ReducingWatch<R extends Reduced> extends Watch {
  readonly #reduce: (obj: unknown) => R | undefined;

  constructor(kc: KubeConfig, reduce: (obj: unknown) => R | undefined) {
    super(kc);
    this.#reduce = reduce;
  }

  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    // Bookmarks keep the resourceVersion fresh on quiet kinds, so a resumed watch is less often
    // too old (410) and needs no relist.
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true }, (phase, apiObj, watchObj) => {
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, apiObj, watchObj);
      const reduced = this.#reduce(apiObj);
      if (reduced) return callback(phase, reduced, watchObj);
      const rv = (apiObj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
      if (typeof rv === 'string') callback('BOOKMARK', { metadata: { resourceVersion: rv } }, watchObj);
    }, done);
  }
}

interface WireList {
  metadata?: { resourceVersion?: string };
  items?: unknown[];
}

export class ResourceWatcher<R extends Reduced> {
  readonly spec: KindSpec<R>;
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

  constructor(kc: KubeConfig, spec: KindSpec<R>, hooks: WatcherHooks, backoff: BackoffSettings = DEFAULT_BACKOFF) {
    this.spec = spec;
    this.#kc = kc;
    this.#hooks = hooks;
    this.#backoff = backoff;
    this.#retryMs = backoff.initialMs;
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
    const watch = new ReducingWatch<R>(kc, (obj) => this.#reduce(obj));
    this.#informer = new ListWatch<R & { metadata: ObjectMeta }>(spec.path, watch, () => this.#list(), false);
    const guarded = (what: string, fn: (rec: R) => void) => (rec: R) => {
      this.#healthy();
      try {
        fn(rec);
      } catch (err) {
        hooks.logger.error({ err, kind: spec.kind, object: rec.metadata }, `k8sattributes: ${what} failed`);
      }
    };
    this.#informer.on('add', guarded('add', (r) => spec.upsert(r)));
    this.#informer.on('update', guarded('update', (r) => spec.upsert(r)));
    this.#informer.on('delete', guarded('delete', (r) => spec.remove(r)));
    this.#informer.on('connect', () => {
      if (this.#connects++ > 0) hooks.restarted(spec.kind);
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

  #reduce(obj: unknown): R | undefined {
    try {
      return this.spec.reduce(obj);
    } catch (err) {
      this.#hooks.badObject(this.spec.kind);
      const message = err instanceof BadObjectError ? err.message : `${this.spec.kind}: ${(err as Error).message}`;
      this.#hooks.logger.error({ kind: this.spec.kind }, `k8sattributes: skipping a malformed object: ${message}`);
      return undefined;
    }
  }

  /** The list half of list+watch, on the wire JSON with the KubeConfig's authentication. */
  async #list(): Promise<{ metadata: { resourceVersion: string }; items: Array<R & { metadata: ObjectMeta }> }> {
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = `${cluster.server}${this.spec.path}`;
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
    const items: Array<R & { metadata: ObjectMeta }> = [];
    for (const raw of body.items) {
      const r = this.#reduce(raw);
      if (r) items.push(r);
    }
    this.#healthy();
    if (!this.#synced) {
      // ListWatch applies the items right after this promise resolves, synchronously.
      setImmediate(() => {
        this.#synced = true;
        this.#resolveSynced();
      });
    }
    return { metadata: { resourceVersion: body.metadata?.resourceVersion ?? '' }, items };
  }

  #healthy(): void {
    this.#retryMs = this.#backoff.initialMs;
    if (this.#failing) {
      this.#failing = false;
      this.#hooks.logger.info({ kind: this.spec.kind }, `k8sattributes: ${this.spec.kind} watch recovered`);
    }
  }

  /** ListWatch stops on errors other than 410 and timeouts: try again later. */
  #onError(err: unknown): void {
    if (this.#stopped) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#backoff.maxMs);
    if (!this.#failing) {
      this.#failing = true;
      this.#hooks.logger.warn({ kind: this.spec.kind, err: (err as Error)?.message ?? String(err) }, `k8sattributes: ${this.spec.kind} list/watch failed; retrying with backoff, the cache keeps serving`);
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.start();
    }, delay);
    this.#retryTimer.unref();
  }
}
