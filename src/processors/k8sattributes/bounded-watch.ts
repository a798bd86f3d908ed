// @kubernetes/client-node's Watch with a bounded, strict line reader. The library reads watch
// lines with node:readline, which buffers a line without limit (a server that never sends a
// newline crashes the process with a RangeError past 512 MiB) and parses a half line at the end
// of the stream as if it were whole (then drops it as bad JSON). Here the same request is made
// (the KubeConfig's authentication, the query, a 30 s inactivity timeout that ListWatch answers
// with a re-watch), and the body is cut by LineSplitter:
// - a line over `maxLineBytes` or a torn line at the end drops the watch with a WatchStreamError,
//   which carries code 410 so that ListWatch relists (the stream's position is lost, so resuming
//   from the last resourceVersion could skip the event that was cut) and keeps its cache;
// - a whole line that is not JSON is skipped with an error log, as the library skips it.
import { HttpMethod, RequestContext, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { fetch } from 'undici';
import { LineSplitter, LineTooLongError, TornLineError } from './line-splitter.ts';

/** The client library's inactivity timeout for watch requests. */
const WATCH_INACTIVITY_MS = 30_000;

/** A watch stream that cannot be trusted past this point: ListWatch relists on code 410. */
export class WatchStreamError extends Error {
  readonly code = 410;
}

export interface BoundedWatchOptions {
  maxLineBytes: number;
  logger: Logger;
}

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

export class BoundedWatch extends Watch {
  readonly #maxLineBytes: number;
  readonly #logger: Logger;

  constructor(kc: ConstructorParameters<typeof Watch>[0], options: BoundedWatchOptions) {
    super(kc);
    this.#maxLineBytes = options.maxLineBytes;
    this.#logger = options.logger;
  }

  override async watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: (err: unknown) => void): Promise<AbortController> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('No currently active cluster');
    const url = new URL(cluster.server + path);
    url.searchParams.set('watch', 'true');
    for (const [k, v] of Object.entries(queryParams)) if (v !== undefined) url.searchParams.set(k, String(v));

    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const resetTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      }, WATCH_INACTIVITY_MS);
      timer.unref();
    };
    let doneCalled = false;
    const doneOnce = (err: unknown) => {
      if (doneCalled) return;
      doneCalled = true;
      clearTimeout(timer);
      controller.abort();
      done(err && timedOut ? new DOMException('The operation was aborted due to timeout', 'TimeoutError') : err);
    };

    const ctx = new RequestContext(url.toString(), HttpMethod.GET);
    await this.config.applySecurityAuthentication(ctx);
    try {
      resetTimer();
      const response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher(), signal: controller.signal });
      if (response.status !== 200 || !response.body) {
        await response.body?.cancel();
        const error = new Error(response.statusText || `HTTP ${response.status}`) as Error & { statusCode: number };
        error.statusCode = response.status;
        throw error;
      }
      resetTimer();
      void this.#read(path, response.body, callback, resetTimer).then(() => doneOnce(null), doneOnce);
    } catch (err) {
      doneOnce(err);
    }
    return controller;
  }

  async #read(path: string, body: AsyncIterable<Uint8Array>, callback: WatchCallback, resetTimer: () => void): Promise<void> {
    const lines = new LineSplitter(this.#maxLineBytes);
    try {
      for await (const chunk of body) {
        resetTimer();
        for (const line of lines.push(chunk)) this.#deliver(path, line, callback);
      }
      lines.end();
    } catch (err) {
      if (!(err instanceof LineTooLongError || err instanceof TornLineError)) throw err;
      const message = `watch ${path}: ${err.message}`;
      this.#logger.error({ path }, `k8sattributes: ${message}; dropping the watch and relisting`);
      throw new WatchStreamError(message);
    }
  }

  #deliver(path: string, line: Buffer, callback: WatchCallback): void {
    let event: unknown;
    try {
      event = JSON.parse(line.toString('utf8'));
    } catch (err) {
      this.#logger.error({ path }, `k8sattributes: watch ${path}: skipping a line that is not JSON (${(err as Error).message})`);
      return;
    }
    const { type, object } = (event ?? {}) as { type?: unknown; object?: unknown };
    if (typeof type !== 'string' || typeof object !== 'object' || object === null) {
      this.#logger.error({ path }, `k8sattributes: watch ${path}: skipping a line that is not a watch event (no type and object)`);
      return;
    }
    callback(type, object, event);
  }
}
