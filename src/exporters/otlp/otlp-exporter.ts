// Flows as OpenTelemetry metrics over OTLP/HTTP or OTLP/gRPC: the counters `network.flow.io` (By),
// `network.flow.packets` ({packet}) and `network.flow.connections`, and for flows the netcost
// processor priced the double sum `network.flow.cost` (USD), written by podflow's own
// encoder (src/exporters/shared/otlp/, checked byte for byte against the official protos).
//
// toRequests turns a batch into the exporter's temporality (src/model/temporality.ts) and encodes
// it once, as the batch enters the exporter queue: one request per batch holding its bodies (one
// per max_request_size slice, compressed for HTTP). send delivers the bodies not yet delivered,
// in order, so a retry resumes where the failed attempt stopped and nothing is encoded twice.
import type { FlowBatch } from '../../model/index.ts';
import { TemporalityConverter } from '../../model/temporality.ts';
import type { ComponentContext, ComponentEndpoints, Exporter, ExportRequest } from '../../contracts/component.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import { OtlpSender, resourceOf } from '../shared/otlp/sender.ts';
import { metricsUrl, type OtlpConfig } from './config.ts';

/** Series of a converted temporality not seen for this long are forgotten (well past reduce's idle_timeout). */
export const SERIES_TTL_MS = 30 * 60_000;

/** One batch, encoded: the bodies not yet delivered. */
export interface OtlpRequest extends ExportRequest {
  readonly pending: Buffer[];
}

export class OtlpExporter implements Exporter<OtlpRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: OtlpConfig;
  readonly #sender: OtlpSender;
  readonly #temporality: TemporalityConverter;
  readonly #requests;
  readonly #requestBytes;

  constructor(ctx: ComponentContext, config: OtlpConfig) {
    this.#ctx = ctx;
    this.#config = config;
    this.#sender = new OtlpSender(config, ctx.logger);
    this.#temporality = new TemporalityConverter(config.temporality, SERIES_TTL_MS);
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
    this.#requestBytes = sharedCounter(ctx.metrics, 'podflow_exporter_request_bytes_total', 'Bytes (compressed, as sent) of accepted requests.', ['exporter']);
  }

  async start(): Promise<void> {}

  endpoints(): ComponentEndpoints {
    return { writesTo: [this.#config.protocol === 'grpc' ? this.#config.endpoint : metricsUrl(this.#config.endpoint)] };
  }

  async shutdown(): Promise<void> {
    await this.#sender.close();
  }

  toRequests(batch: FlowBatch): OtlpRequest[] {
    const flows = this.#temporality.convert(batch, Date.now());
    const pending = this.#sender.encode(resourceOf(batch.resource, this.#ctx.resource), this.#config.temporality, flows);
    return [{ pending, flowCount: batch.flows.length }];
  }

  /** Sends the bodies not yet delivered, in order (a retry resumes where the last attempt failed). */
  async send(request: OtlpRequest, signal: AbortSignal): Promise<void> {
    while (request.pending.length > 0) {
      if (signal.aborted) throw signal.reason;
      await this.#sender.send(request.pending[0]!, signal);
      this.#requests.inc({ exporter: this.#ctx.id });
      this.#requestBytes.inc({ exporter: this.#ctx.id }, request.pending[0]!.length);
      request.pending.shift();
    }
  }
}
