// Flows as OpenTelemetry metrics over OTLP/HTTP, through the OpenTelemetry JS SDK: the counters
// `network.flow.io` (By) and `network.flow.packets` ({packet}) with `network.io.direction`
// transmit (source → destination) or receive, data point attributes = the flow's attributes;
// and, for flows the netcost processor priced, the counter `network.flow.cost` (USD, a double sum).
//
// toRequests records the batch into the SDK's synchronous counters and collects once through a
// reader of our own, as the batch enters the exporter queue: a batch becomes one request whose
// payloads (one per max_groups slice) are fixed then, so a retry re-sends the same payloads and
// a batch is never recorded twice. send hands the payloads not yet delivered to the SDK's OTLP
// exporter. The SDK does the temporality: `delta` reports what was recorded since the previous
// collection, `cumulative` the running sum since start.
//
// Input temporality: delta batches (from receivers) are added as they are. Cumulative batches
// (reduce with temporality: cumulative) carry running totals, so only their increase since the
// previous batch is added — never the total again. A group whose start time changed (the
// reducer evicted and re-created it) or whose value went down is a reset: its full value is new.
import { readFileSync } from 'node:fs';
import { ValueType, type Attributes as OtelAttributes, type Counter } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, MetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { usdNumber, type Flow, type FlowBatch } from '../../model/index.ts';
import { PermanentError, RetryableError, type ComponentContext, type Exporter, type ExportRequest } from '../../contracts/component.ts';
import { isRetryableStatus } from '../shared/http-status.ts';
import { sharedCounter } from '../../telemetry/shared-metrics.ts';
import { cardinalityLimit, metricsUrl, type OtlpConfig } from './config.ts';

export const BYTES_INSTRUMENT = 'network.flow.io';
export const PACKETS_INSTRUMENT = 'network.flow.packets';
export const COST_INSTRUMENT = 'network.flow.cost';
export const DIRECTION_KEY = 'network.io.direction';

const PODFLOW_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A reader that collects only when asked: one collection per exported batch. */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Last running totals of one cumulative group, to turn them into increases. */
interface CumulativeSeen {
  startTimeUnixNano: bigint;
  tx: number;
  rx: number;
  txPackets: number;
  rxPackets: number;
  costZeptoUsd: bigint | undefined;
  lastSeenMs: number;
}

/** Cumulative groups not seen for this long are forgotten (well past reduce's idle_timeout). */
const CUMULATIVE_STATE_TTL_MS = 30 * 60_000;

/** One batch, collected: the payloads (one per max_groups slice) not yet delivered. */
export interface OtlpRequest extends ExportRequest {
  readonly pending: ResourceMetrics[];
}

export class OtlpExporter implements Exporter<OtlpRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: OtlpConfig;
  readonly #exporter: PushMetricExporter;
  readonly #reader: OnDemandReader;
  readonly #provider: MeterProvider;
  readonly #bytes: Counter;
  readonly #packets: Counter;
  readonly #cost: Counter;
  readonly #cumulative = new Map<string, CumulativeSeen>();
  readonly #requests;

  constructor(ctx: ComponentContext, config: OtlpConfig) {
    this.#ctx = ctx;
    this.#config = config;
    const temporality = config.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
    type ExporterOptions = NonNullable<ConstructorParameters<typeof ProtoMetricExporter>[0]>;
    const options: ExporterOptions = {
      url: metricsUrl(config.endpoint),
      headers: config.headers,
      // CompressionAlgorithm is a string enum ('gzip' | 'none') the package does not re-export.
      compression: config.compression as ExporterOptions['compression'],
      timeoutMillis: config.timeout,
      temporalityPreference: temporality,
    };
    this.#exporter = config.encoding === 'json' ? new JsonMetricExporter(options) : new ProtoMetricExporter(options);
    const limit = cardinalityLimit(config.max_groups);
    this.#reader = new OnDemandReader({
      aggregationTemporalitySelector: () => temporality,
      cardinalitySelector: () => limit,
    });
    this.#provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'podflow', 'service.version': PODFLOW_VERSION, ...ctx.resource }),
      readers: [this.#reader],
    });
    const meter = this.#provider.getMeter('podflow', PODFLOW_VERSION);
    this.#bytes = meter.createCounter(BYTES_INSTRUMENT, { unit: 'By', valueType: ValueType.INT, description: 'Bytes of network flows (L3 length), by direction: transmit is source to destination.' });
    this.#packets = meter.createCounter(PACKETS_INSTRUMENT, { unit: '{packet}', valueType: ValueType.INT, description: 'Packets of network flows, by direction: transmit is source to destination.' });
    this.#cost = meter.createCounter(COST_INSTRUMENT, { unit: 'USD', valueType: ValueType.DOUBLE, description: 'What the flows cost by the cloud\'s billing rules (netcost processor), USD.' });
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
  }

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {
    await this.#provider.shutdown().catch(() => {});
    await this.#exporter.shutdown().catch(() => {});
  }

  async toRequests(batch: FlowBatch): Promise<OtlpRequest[]> {
    // A batch of more groups than max_groups is cut into pieces the SDK can hold without
    // overflowing, each its own HTTP request (and a warning: max_groups should match the reducer).
    const per = this.#config.max_groups + 1;
    if (batch.flows.length > per) {
      this.#ctx.logger.warn({ flows: batch.flows.length, max_groups: this.#config.max_groups }, 'batch larger than max_groups: sent in several requests (set max_groups to the reducer\'s)');
    }
    const nowMs = Date.now();
    const pending: ResourceMetrics[] = [];
    for (let i = 0; i < batch.flows.length; i += per) {
      const flows = batch.flows.slice(i, i + per);
      if (batch.temporality === 'delta') for (const flow of flows) this.#record(flow, flow.txBytes, flow.rxBytes, flow.txPackets, flow.rxPackets, flow.costZeptoUsd);
      else for (const flow of flows) this.#recordCumulative(flow, nowMs);
      const payload = await this.#collect();
      if (payload) pending.push(payload);
    }
    if (batch.temporality === 'cumulative') this.#forgetIdle(nowMs);
    return [{ pending, flowCount: batch.flows.length }];
  }

  /** Sends the payloads not yet delivered, in order (a retry resumes where the last attempt failed). */
  async send(request: OtlpRequest, signal: AbortSignal): Promise<void> {
    for (const payload of [...request.pending]) {
      if (signal.aborted) throw signal.reason;
      await this.#sendPayload(payload);
      this.#requests.inc({ exporter: this.#ctx.id });
      const i = request.pending.indexOf(payload);
      if (i >= 0) request.pending.splice(i, 1);
    }
  }

  #record(flow: Flow, tx: number, rx: number, txPackets: number, rxPackets: number, costZeptoUsd: bigint | undefined): void {
    const attrs = flow.attributes as OtelAttributes;
    if (costZeptoUsd !== undefined && costZeptoUsd > 0n) this.#cost.add(usdNumber(costZeptoUsd), attrs);
    // Zero increases are not recorded: a one-way flow has no `receive` series at all.
    if (tx > 0 || txPackets > 0) {
      const transmit = { ...attrs, [DIRECTION_KEY]: 'transmit' };
      if (tx > 0) this.#bytes.add(tx, transmit);
      if (txPackets > 0) this.#packets.add(txPackets, transmit);
    }
    if (rx > 0 || rxPackets > 0) {
      const receive = { ...attrs, [DIRECTION_KEY]: 'receive' };
      if (rx > 0) this.#bytes.add(rx, receive);
      if (rxPackets > 0) this.#packets.add(rxPackets, receive);
    }
  }

  #recordCumulative(flow: Flow, nowMs: number): void {
    const key = groupKey(flow);
    const seen = this.#cumulative.get(key);
    const cost = flow.costZeptoUsd;
    const reset = !seen || seen.startTimeUnixNano !== flow.startTimeUnixNano ||
      flow.txBytes < seen.tx || flow.rxBytes < seen.rx || flow.txPackets < seen.txPackets || flow.rxPackets < seen.rxPackets ||
      (cost ?? 0n) < (seen.costZeptoUsd ?? 0n);
    if (reset) this.#record(flow, flow.txBytes, flow.rxBytes, flow.txPackets, flow.rxPackets, cost);
    else this.#record(flow, flow.txBytes - seen.tx, flow.rxBytes - seen.rx, flow.txPackets - seen.txPackets, flow.rxPackets - seen.rxPackets, cost === undefined ? undefined : cost - (seen.costZeptoUsd ?? 0n));
    this.#cumulative.set(key, { startTimeUnixNano: flow.startTimeUnixNano, tx: flow.txBytes, rx: flow.rxBytes, txPackets: flow.txPackets, rxPackets: flow.rxPackets, costZeptoUsd: cost, lastSeenMs: nowMs });
  }

  #forgetIdle(nowMs: number): void {
    for (const [key, seen] of this.#cumulative) if (nowMs - seen.lastSeenMs > CUMULATIVE_STATE_TTL_MS) this.#cumulative.delete(key);
  }

  /** What was recorded since the last collection, or undefined when that is nothing. */
  async #collect(): Promise<ResourceMetrics | undefined> {
    const { resourceMetrics, errors } = await this.#reader.collect();
    if (errors.length) this.#ctx.logger.warn({ errors: errors.map(String) }, 'metric collection reported errors');
    const points = resourceMetrics.scopeMetrics.reduce((n, s) => n + s.metrics.reduce((m, metric) => m + metric.dataPoints.length, 0), 0);
    return points === 0 ? undefined : resourceMetrics;
  }

  #sendPayload(resourceMetrics: ResourceMetrics): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#exporter.export(resourceMetrics, (result: ExportResult) => {
        if (result.code === ExportResultCode.SUCCESS) return resolve();
        const error = result.error ?? new Error('OTLP export failed');
        // OTLPExporterError carries the HTTP status in `code`; network errors a string code
        // (ECONNREFUSED) or none (timeouts, "retryable status" after the SDK's own re-sends).
        const status = (error as { code?: unknown }).code;
        const message = `OTLP export to ${metricsUrl(this.#config.endpoint)} failed: ${typeof status === 'number' ? `HTTP ${status} ` : ''}${error.message}`;
        reject(typeof status === 'number' && !isRetryableStatus(status) ? new PermanentError(message, { cause: error }) : new RetryableError(message, undefined, { cause: error }));
      });
    });
  }
}

/** Identity of a group: its attributes, in key order. */
function groupKey(flow: Flow): string {
  const keys = Object.keys(flow.attributes).sort();
  let key = '';
  for (const k of keys) key += `${k}\xfe${String(flow.attributes[k])}\xff`;
  return key;
}
