// One informer per resource (pods, nodes, ...): @kubernetes/client-node's ListWatch (list, then watch from the list's
// resourceVersion; 410 Gone → relist; a closed stream → re-watch) with two additions:
// - objects become records before ListWatch stores them (RecordWatch, and our own list call,
//   which reads the wire JSON so one malformed item is skipped instead of failing the list);
// - when ListWatch gives up (API unreachable, list failed) it is restarted with backoff;
// - every failure is passed to the processor with what it was doing (list or watch), which tells
//   a person why (api-failure.ts); the trouble is over once a list or a watch, whichever
//   failed, succeeds again;
// and the watch lines are read by BoundedWatch (capped, a torn line relists).
import { KubeConfig, ListWatch, RequestContext, HttpMethod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fetch } from 'undici';
import type { KubeResource } from './cluster-cache.ts';
import { ApiStatusError, KubeconfigError } from './api-failure.ts';
import { BoundedWatch } from './bounded-watch.ts';
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
  /** A list or watch of `path` failed (called on every failed attempt while the trouble lasts). */
  failed(resource: KubeResource, path: string, err: unknown): void;
  /** The list or watch that failed works again. */
  recovered(resource: KubeResource): void;
}

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 30_000 };

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

interface WatchEvents {
  /** A watch request is about to be made. */
  watching(): void;
  /** The API server accepted it (HTTP 200): events stream from now on. */
  streaming(): void;
}

/** A Watch whose events carry records; a malformed object is logged and becomes a BOOKMARK (keeping its resourceVersion). */
class RecordWatch<R extends KubeRecord> extends BoundedWatch {
  readonly #toRecord: (obj: unknown) => R | undefined;
  readonly #events: WatchEvents;

  constructor(kc: KubeConfig, toRecord: (obj: unknown) => R | undefined, events: WatchEvents, logger: Logger, maxLineBytes: number) {
    super(kc, { logger, maxLineBytes });
    this.#toRecord = toRecord;
    this.#events = events;
  }

  override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    this.#events.watching();
    let failed = false;
    let controller: AbortController;
    try {
      // Bookmarks keep the resourceVersion fresh on quiet kinds, so a resumed watch is less often
      // too old (410) and needs no relist.
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, (phase, apiObj, watchObj) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, apiObj, watchObj);
        const record = this.#toRecord(apiObj);
        if (record) return callback(phase, record, watchObj);
        const rv = (apiObj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata?.resourceVersion;
        if (typeof rv === 'string') callback('BOOKMARK', { metadata: { resourceVersion: rv } }, watchObj);
      }, (err) => {
        if (err) failed = true;
        // A refused watch (the library keeps only the status code): an error that names the request.
        const status = (err as { statusCode?: unknown } | null)?.statusCode;
        done(typeof status === 'number' && !(err instanceof ApiStatusError) ? new ApiStatusError('watch', path, status, '') : err);
      });
    } catch (err) {
      // Thrown before any request was made: the kubeconfig's cluster, URL or credentials cannot
      // be used. Reported like any failed watch (a rejection here would go unhandled).
      done(new KubeconfigError(err));
      return new AbortController();
    }
    // The library reports a refused watch (non-200, no connection) through `done` before it returns.
    if (!failed) this.#events.streaming();
    return controller;
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
  /** What is being done now; a failure is of this step. */
  #step: 'list' | 'watch' = 'list';
  /** The step that failed, until it works again. */
  #failedStep: 'list' | 'watch' | undefined;

  constructor(kc: KubeConfig, spec: ResourceSpec<R>, hooks: WatcherHooks, backoff: BackoffSettings, maxWatchLineBytes: number) {
    this.spec = spec;
    this.#kc = kc;
    this.#hooks = hooks;
    this.#backoff = backoff;
    this.#retryMs = backoff.initialMs;
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
    const watch = new RecordWatch<R>(
      kc,
      (obj) => this.#toRecord(obj),
      { watching: () => (this.#step = 'watch'), streaming: () => this.#succeeded('watch') },
      hooks.logger,
      maxWatchLineBytes,
    );
    this.#informer = new ListWatch<R & { metadata: ObjectMeta }>(spec.path, watch, () => this.#list(), false);
    const guarded = (what: string, fn: (rec: R) => void) => (rec: R) => {
      try {
        fn(rec);
      } catch (err) {
        hooks.logger.error({ err, resource: spec.resource, object: rec.metadata }, `k8sattributes: ${what} failed`);
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
      this.#hooks.logger.error({ resource: this.spec.resource }, `k8sattributes: skipping a malformed object: ${message}`);
      return undefined;
    }
  }

  /**
   * The list half of list+watch, on the wire JSON with the KubeConfig's authentication, in pages
   * of LIST_PAGE_SIZE (as client-go's informers list): the API server never builds, and this
   * process never holds, the text of a whole 30,000-pod list at once.
   */
  async #list(): Promise<{ metadata: { resourceVersion: string }; items: Array<R & { metadata: ObjectMeta }> }> {
    this.#step = 'list';
    const cluster = this.#kc.getCurrentCluster();
    if (!cluster) throw new KubeconfigError(new Error('it has no current cluster'));
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
    this.#succeeded('list');
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
    try {
      new URL(url);
      await this.#kc.applySecurityAuthentication(ctx);
    } catch (err) {
      throw new KubeconfigError(err);
    }
    const response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal: AbortSignal.timeout(60_000) });
    const text = await response.text();
    if (response.status !== 200) throw new ApiStatusError('list', this.spec.path, response.status, text);
    let body: WireList;
    try {
      body = JSON.parse(text) as WireList;
    } catch (err) {
      throw new Error(`GET ${this.spec.path}: the response is not JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(body.items)) throw new Error(`GET ${this.spec.path}: the response has no items list`);
    return body;
  }

  /**
   * A list or a watch worked. The trouble is over when the step that failed works: a list that
   * succeeds between two refused watches (RBAC allows list, not watch) is no recovery, and the
   * backoff keeps growing rather than relisting twice a second.
   */
  #succeeded(step: 'list' | 'watch'): void {
    if (this.#failedStep === undefined) {
      this.#retryMs = this.#backoff.initialMs;
    } else if (this.#failedStep === step || step === 'watch') {
      this.#failedStep = undefined;
      this.#retryMs = this.#backoff.initialMs;
      this.#hooks.logger.info({ resource: this.spec.resource }, `k8sattributes: ${this.spec.resource} watch recovered`);
      this.#hooks.recovered(this.spec.resource);
    }
  }

  /** ListWatch stops on errors other than 410 and timeouts: try again later. */
  #onError(err: unknown): void {
    if (this.#stopped) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#backoff.maxMs);
    if (this.#failedStep === undefined) {
      this.#hooks.logger.warn({ resource: this.spec.resource, err: (err as Error)?.message ?? String(err) }, `k8sattributes: ${this.spec.resource} list/watch failed; retrying with backoff, the cache keeps serving`);
    }
    this.#failedStep = this.#step;
    this.#hooks.failed(this.spec.resource, this.spec.path, err);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (!this.#stopped) this.start();
    }, delay);
    this.#retryTimer.unref();
  }
}
