// A pull endpoint: flows are folded into cumulative counters (SeriesStore) and served as
// Prometheus text on GET /metrics. Exporting never waits on the network.
//
// What a scrape may cost is bounded: at most max_series series, label values cut at
// max_label_value_length, the text streamed in small chunks that yield to the event loop (and
// pulled only as fast as the client reads), at most MAX_CONCURRENT_SCRAPES scrapes at once.
// Optionally HTTPS (tls) and a bearer token or basic credentials (auth).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import type { FlowBatch } from '../../model/index.ts';
import type { ComponentContext, ComponentEndpoints, Exporter } from '../../contracts/component.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import { authenticate, isLoopbackHost } from '../shared/http-auth.ts';
import { SeriesStore } from '../shared/prometheus-series.ts';
import { serverTlsOptions } from '../shared/tls-server.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import type { PrometheusConfig } from './config.ts';
import { CONTENT_TYPE, exposition } from './exposition.ts';

export const METRICS_PATH = '/metrics';
/** Scrapes served at once; more are answered 503 (each holds a snapshot of the series list). */
export const MAX_CONCURRENT_SCRAPES = 4;
/** Expiry walks every series: at most once a second (a series may outlive metric_expiration by that much). */
const EXPIRE_EVERY_MS = 1_000;
/** Series looked at per step of an expiry sweep (about 1 ms). */
const EXPIRE_STEP = 16_384;

export class PrometheusExporter implements Exporter<BatchRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: PrometheusConfig;
  readonly #store: SeriesStore;
  #server: Server | undefined;
  #scrapes = 0;
  #loggedMaxSeries = false;
  #expiredAtMs = -Infinity;
  #expiring = false;
  readonly #labels: { exporter: string };
  readonly #seriesGauge;
  readonly #expiredCounter;
  readonly #droppedCounter;
  readonly #truncatedCounter;
  readonly #scrapeErrors;

  constructor(ctx: ComponentContext, config: PrometheusConfig) {
    this.#ctx = ctx;
    this.#config = config;
    this.#labels = { exporter: ctx.id };
    this.#store = new SeriesStore(Object.entries(config.const_labels), { maxSeries: config.max_series, maxLabelValueBytes: config.max_label_value_length });
    const r = ctx.metrics;
    this.#seriesGauge = sharedGauge(r, 'podflow_exporter_prometheus_series', 'Series the prometheus exporter currently exposes.', ['exporter']);
    this.#expiredCounter = sharedCounter(r, 'podflow_exporter_prometheus_expired_series_total', 'Series dropped after metric_expiration without data.', ['exporter']);
    this.#droppedCounter = sharedCounter(r, 'podflow_exporter_prometheus_dropped_series_total', 'New series not created because max_series was reached.', ['exporter']);
    this.#truncatedCounter = sharedCounter(r, 'podflow_exporter_prometheus_truncated_label_values_total', 'Label values cut to max_label_value_length.', ['exporter']);
    this.#scrapeErrors = sharedCounter(r, 'podflow_exporter_prometheus_scrape_errors_total', 'Scrapes refused or cut short, by reason (unauthorized, busy, aborted).', ['exporter', 'reason']);
  }

  /** The bound address (useful when the configured port is 0). */
  get address(): AddressInfo {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') throw new Error(`${this.#ctx.id}: not listening`);
    return address;
  }

  async start(): Promise<void> {
    const { host, port } = this.#config.endpoint;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    const server = this.#config.tls ? createHttpsServer(serverTlsOptions(this.#config.tls), handler) : createHttpServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new Error(`${this.#ctx.id}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
      });
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const scheme = this.#config.tls ? 'https' : 'http';
    this.#ctx.logger.info({ endpoint: `${host}:${this.address.port}`, path: METRICS_PATH, scheme, auth: this.#config.auth ? Object.keys(this.#config.auth)[0] : 'none' }, 'prometheus endpoint listening');
    if (this.#config.auth && !this.#config.tls && !isLoopbackHost(host)) {
      this.#ctx.logger.warn({ endpoint: `${host}:${port}` }, 'prometheus endpoint: credentials travel in clear text without tls');
    }
  }

  endpoints(): ComponentEndpoints {
    const { address, port, family } = this.address;
    return { listening: [`http://${family === 'IPv6' ? `[${address}]` : address}:${port}${METRICS_PATH}`] };
  }

  toRequests(batch: FlowBatch): BatchRequest[] {
    return wholeBatch(batch);
  }

  async send({ batch }: BatchRequest): Promise<void> {
    this.#store.apply(batch);
    const { droppedSeries, truncatedLabelValues } = this.#store.takeRefused();
    if (truncatedLabelValues > 0) this.#truncatedCounter.inc(this.#labels, truncatedLabelValues);
    if (droppedSeries > 0) {
      this.#droppedCounter.inc(this.#labels, droppedSeries);
      if (!this.#loggedMaxSeries) {
        this.#loggedMaxSeries = true;
        this.#ctx.logger.warn(
          { exporter: this.#ctx.id, max_series: this.#config.max_series },
          'prometheus exporter: max_series reached, series beyond it are not exposed (counted in podflow_exporter_prometheus_dropped_series_total; logged once)',
        );
      }
    }
    this.#expire();
  }

  async shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (this.#config.auth) {
      const result = authenticate(this.#config.auth, req.headers, 'podflow metrics');
      if (!result.ok) {
        this.#scrapeErrors.inc({ ...this.#labels, reason: 'unauthorized' });
        res.writeHead(401, { 'www-authenticate': result.challenge, 'content-type': 'text/plain' }).end('authentication required\n');
        return;
      }
    }
    if (this.#scrapes >= MAX_CONCURRENT_SCRAPES) {
      this.#scrapeErrors.inc({ ...this.#labels, reason: 'busy' });
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end(`${MAX_CONCURRENT_SCRAPES} scrapes are being served already\n`);
      return;
    }
    this.#expire();
    // Prometheus asks for gzip; zlib compresses on libuv's thread pool, off the event loop.
    const wantsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.writeHead(200, { 'content-type': CONTENT_TYPE, ...(wantsGzip ? { 'content-encoding': 'gzip' } : {}) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.#scrapes++;
    // A snapshot of the series list, so a series that expires and comes back during the scrape is never written twice.
    const text = Readable.from(exposition([...this.#store.values()]), { objectMode: false, highWaterMark: 0 });
    const streams = wantsGzip ? pipeline(text, createGzip(), res) : pipeline(text, res);
    streams.then(
      () => undefined,
      // The scraper went away (timeout, closed connection): the render stops with the stream.
      (err: Error) => {
        this.#scrapeErrors.inc({ ...this.#labels, reason: 'aborted' });
        this.#ctx.logger.debug({ exporter: this.#ctx.id, err: err.message }, 'scrape ended early');
      },
    ).finally(() => this.#scrapes--);
  }

  /**
   * Starts a sweep for expired series, at most once a second: in steps of EXPIRE_STEP series with
   * the event loop running between them (the first step runs now, so a small store is swept
   * before the scrape that asked for it is rendered).
   */
  #expire(): void {
    const nowMs = Date.now();
    if (!this.#expiring && nowMs - this.#expiredAtMs >= EXPIRE_EVERY_MS) {
      this.#expiring = true;
      this.#expiredAtMs = nowMs;
      void this.#sweep(nowMs);
    }
    this.#seriesGauge.set(this.#labels, this.#store.size);
  }

  async #sweep(nowMs: number): Promise<void> {
    try {
      for (;;) {
        const { removed, done } = this.#store.expireSome(this.#config.metric_expiration, nowMs, EXPIRE_STEP);
        if (removed) this.#expiredCounter.inc(this.#labels, removed);
        if (done) return;
        await nextTurn();
      }
    } finally {
      this.#expiring = false;
      this.#seriesGauge.set(this.#labels, this.#store.size);
    }
  }
}
