// A pull endpoint: flows are folded into cumulative counters (SeriesStore) and served as
// Prometheus text on GET /metrics. Exporting never waits on the network.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { FlowBatch } from '../../model/index.ts';
import type { ComponentContext, ComponentEndpoints, Exporter } from '../../contracts/component.ts';
import { wholeBatch, type BatchRequest } from '../shared/batch-request.ts';
import { SeriesStore } from '../shared/prometheus-series.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import type { PrometheusConfig } from './config.ts';
import { CONTENT_TYPE, renderExposition } from './exposition.ts';

export const METRICS_PATH = '/metrics';

const gzip = promisify(gzipCallback);

export class PrometheusExporter implements Exporter<BatchRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: PrometheusConfig;
  readonly #store: SeriesStore;
  #server: Server | undefined;
  readonly #seriesGauge;
  readonly #expiredCounter;

  constructor(ctx: ComponentContext, config: PrometheusConfig) {
    this.#ctx = ctx;
    this.#config = config;
    this.#store = new SeriesStore(Object.entries(config.const_labels));
    this.#seriesGauge = sharedGauge(ctx.metrics, 'podflow_exporter_prometheus_series', 'Series the prometheus exporter currently exposes.', ['exporter']);
    this.#expiredCounter = sharedCounter(ctx.metrics, 'podflow_exporter_prometheus_expired_series_total', 'Series dropped after metric_expiration without data.', ['exporter']);
  }

  /** The bound address (useful when the configured port is 0). */
  get address(): AddressInfo {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') throw new Error(`${this.#ctx.id}: not listening`);
    return address;
  }

  async start(): Promise<void> {
    const { host, port } = this.#config.endpoint;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${METRICS_PATH}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      this.#expire();
      const text = renderExposition(this.#store.values());
      // Prometheus asks for gzip; compressing on libuv's thread pool keeps the event loop free.
      const wantsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      void (wantsGzip ? gzip(text) : Promise.resolve(Buffer.from(text))).then(
        (body) => {
          res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': body.length, ...(wantsGzip ? { 'content-encoding': 'gzip' } : {}) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot compress: ${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new Error(`${this.#ctx.id}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
      });
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    this.#ctx.logger.info({ endpoint: `${host}:${this.address.port}`, path: METRICS_PATH }, 'prometheus endpoint listening');
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
    this.#expire();
  }

  async shutdown(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #expire(): void {
    const removed = this.#store.expire(this.#config.metric_expiration);
    if (removed) this.#expiredCounter.inc({ exporter: this.#ctx.id }, removed);
    this.#seriesGauge.set({ exporter: this.#ctx.id }, this.#store.size);
  }
}
