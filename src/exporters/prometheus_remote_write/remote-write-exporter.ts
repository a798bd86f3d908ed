// Pushes flows to a Prometheus remote-write 1.0 endpoint. toRequests sums delta batches into
// counters (SeriesStore) as the batch enters the exporter queue and encodes the current value of
// every series it touched, in bodies of at most max_series_per_request series: a batch is one
// request, a retry re-sends the bodies not yet delivered. 5xx, 429 and network errors are
// retryable (honouring Retry-After); any other 4xx is permanent, as the spec says.
import type { FlowBatch } from '../../model/index.ts';
import { RetryableError, type ComponentContext, type ComponentEndpoints, type Exporter, type ExportRequest } from '../../contracts/component.ts';
import { SeriesStore } from '../shared/prometheus-series.ts';
import { httpFailure } from '../shared/http-status.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import { requestTarget } from '../shared/url-credentials.ts';
import type { RemoteWriteConfig } from './config.ts';
import { encodeWriteRequest } from './write-request.ts';

const VERSION = '0.1.0';

/** One batch, encoded: the WriteRequest bodies (snappy) not yet delivered. */
export interface RemoteWriteRequest extends ExportRequest {
  readonly pending: Uint8Array[];
}

export class RemoteWriteExporter implements Exporter<RemoteWriteRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: RemoteWriteConfig;
  readonly #store: SeriesStore;
  readonly #headers: Record<string, string>;
  /** The endpoint without user information (sent as Basic auth). */
  readonly #url: string;
  readonly #requestBytes;
  readonly #requests;

  constructor(ctx: ComponentContext, config: RemoteWriteConfig) {
    this.#ctx = ctx;
    this.#config = config;
    this.#store = new SeriesStore(Object.entries(config.external_labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const target = requestTarget(config.endpoint, config.headers);
    this.#url = target.url;
    this.#headers = {
      ...target.headers,
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'user-agent': 'podflow',
      'x-prometheus-remote-write-version': VERSION,
    };
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
    this.#requestBytes = sharedCounter(ctx.metrics, 'podflow_exporter_request_bytes_total', 'Bytes (compressed, as sent) of accepted requests.', ['exporter']);
  }

  async start(): Promise<void> {}

  endpoints(): ComponentEndpoints {
    return { writesTo: [this.#config.endpoint] };
  }

  async shutdown(): Promise<void> {}

  toRequests(batch: FlowBatch): RemoteWriteRequest[] {
    this.#store.expire(this.#config.metric_expiration);
    const touched = this.#store.apply(batch);
    const per = this.#config.max_series_per_request;
    const pending: Uint8Array[] = [];
    for (let i = 0; i < touched.length; i += per) pending.push(encodeWriteRequest(touched.slice(i, i + per)));
    return [{ pending, flowCount: batch.flows.length }];
  }

  /** Sends the bodies not yet delivered, in order (a retry resumes where the last attempt failed). */
  async send(request: RemoteWriteRequest, signal: AbortSignal): Promise<void> {
    for (const body of [...request.pending]) {
      await this.#post(body, signal);
      this.#requests.inc({ exporter: this.#ctx.id });
      this.#requestBytes.inc({ exporter: this.#ctx.id }, body.byteLength);
      const i = request.pending.indexOf(body);
      if (i >= 0) request.pending.splice(i, 1);
    }
  }

  async #post(body: Uint8Array, signal: AbortSignal): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.#url, { method: 'POST', headers: this.#headers, body, signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new RetryableError(`POST ${this.#config.endpoint}: ${cause ?? (err as Error).message}`, undefined, { cause: err });
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return;
    throw httpFailure(res.status, `POST ${this.#config.endpoint}: HTTP ${res.status}${text ? `: ${text.trim().slice(0, 300)}` : ''}`, res.headers.get('retry-after'));
  }
}
