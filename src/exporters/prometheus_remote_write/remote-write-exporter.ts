// Pushes flows to a Prometheus remote-write 1.0 endpoint. Delta batches are summed into
// counters (SeriesStore); each batch sends the current value of every series it touched, in
// requests of at most max_series_per_request series. 5xx, 429 and network errors are retried
// with backoff (honouring Retry-After); any other 4xx is not, as the spec says.
import type { FlowBatch } from '../../model/index.ts';
import type { ComponentContext, Exporter } from '../../contracts/component.ts';
import { SeriesStore } from '../shared/prometheus-series.ts';
import { isRetryableStatus, parseRetryAfterMs, sendWithRetry, type AttemptResult } from '../shared/retry.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import type { RemoteWriteConfig } from './config.ts';
import { encodeWriteRequest } from './write-request.ts';

const VERSION = '0.1.0';

export class RemoteWriteExporter implements Exporter {
  readonly #ctx: ComponentContext;
  readonly #config: RemoteWriteConfig;
  readonly #store: SeriesStore;
  readonly #headers: Record<string, string>;
  readonly #retries;
  readonly #requestBytes;
  readonly #requests;

  constructor(ctx: ComponentContext, config: RemoteWriteConfig) {
    this.#ctx = ctx;
    this.#config = config;
    this.#store = new SeriesStore(Object.entries(config.external_labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.#headers = {
      ...config.headers,
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'user-agent': 'podflow',
      'x-prometheus-remote-write-version': VERSION,
    };
    this.#retries = sharedCounter(ctx.metrics, 'podflow_exporter_retries_total', 'Requests an exporter sent again after a retryable failure.', ['exporter']);
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
    this.#requestBytes = sharedCounter(ctx.metrics, 'podflow_exporter_request_bytes_total', 'Bytes (compressed, as sent) of accepted requests.', ['exporter']);
  }

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {}

  async export(batch: FlowBatch, signal: AbortSignal): Promise<void> {
    this.#store.expire(this.#config.metric_expiration);
    const touched = this.#store.apply(batch);
    const per = this.#config.max_series_per_request;
    for (let i = 0; i < touched.length; i += per) {
      await this.#send(encodeWriteRequest(touched.slice(i, i + per)), signal);
    }
  }

  async #send(body: Uint8Array, signal: AbortSignal): Promise<void> {
    const attempt = async (): Promise<AttemptResult> => {
      let res: Response;
      try {
        res = await fetch(this.#config.endpoint, {
          method: 'POST',
          headers: this.#headers,
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#config.timeout)]),
        });
      } catch (err) {
        if (signal.aborted) throw err;
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        return { ok: false, retryable: true, error: new Error(`POST ${this.#config.endpoint}: ${cause ?? (err as Error).message}`) };
      }
      const text = await res.text().catch(() => '');
      if (res.ok) return { ok: true };
      return {
        ok: false,
        retryable: isRetryableStatus(res.status),
        error: new Error(`POST ${this.#config.endpoint}: HTTP ${res.status}${text ? `: ${text.trim().slice(0, 300)}` : ''}`),
        retryAfterMs: parseRetryAfterMs(res.headers.get('retry-after')),
      };
    };
    await sendWithRetry(attempt, this.#config.retry_on_failure, signal, (error, waitMs) => {
      this.#retries.inc({ exporter: this.#ctx.id });
      this.#ctx.logger.debug({ err: error.message, waitMs }, 'remote write failed, retrying');
    });
    this.#requests.inc({ exporter: this.#ctx.id });
    this.#requestBytes.inc({ exporter: this.#ctx.id }, body.byteLength);
  }
}
