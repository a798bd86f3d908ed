// Spreads flows over N gateways (otlp receivers) by a consistent hash of a routing key, as the
// Collector's loadbalancingexporter does: every flow of one key (by default one source address)
// reaches the same gateway, so what a gateway reduces is whole and a cumulative series never
// splits between two gateways.
//
// Each gateway has its own exporter queue (the runtime's ExporterQueue, with this exporter's
// sending_queue, retry_on_failure and timeout), as each backend of the Collector's exporter has:
// a gateway that is slow or down retries its own requests and holds no other gateway up. The
// runtime's queue in front of this exporter only hands batches over: toRequests turns a batch
// into the sent temporality (once, as the otlp exporter does), routes its flows and puts each
// gateway's share into that gateway's queue, and returns no request of its own.
//
// When the gateways change (resolver.ts) a gateway that left is retired: the requests in its
// queue, waiting or being retried, are routed again over the gateways there are when they are
// next sent, so nothing queued is lost because its gateway left. Flows for which no gateway is
// known wait in a queue of their own, retried, until one is.
import type { Attributes, Flow, FlowBatch } from '../../model/index.ts';
import { TemporalityConverter } from '../../model/temporality.ts';
import { RetryableError, type ComponentContext, type Exporter, type ExporterQueueSettings, type ExportRequest } from '../../contracts/component.ts';
import { ExporterQueue } from '../../pipeline/exporter-queue.ts';
import { exporterQueueMetrics } from '../../telemetry/exporter-queue-metrics.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import { queueSettingsOf } from '../shared/exporter-helper.ts';
import { OtlpSender, resourceOf } from '../shared/otlp/sender.ts';
import type { LoadbalancingConfig } from './config.ts';
import { HashRing } from './hash-ring.ts';
import { GatewayResolver, type AddressResolver } from './resolver.ts';

/** Series of a converted temporality not seen for this long are forgotten (as in the otlp exporter). */
const SERIES_TTL_MS = 30 * 60_000;

/** The queue of flows no gateway is known for: its id is `<exporter>/unrouted`. */
const UNROUTED = 'unrouted';

/**
 * Flows a request encodes at a time: small enough for one body of max_request_size as a rule,
 * so a request whose gateway leaves half-way gives up only the flows not yet delivered.
 */
const FLOWS_PER_CHUNK = 1024;

/** Flows bound for one gateway, sent a chunk at a time. */
export interface GatewayRequest extends ExportRequest {
  /** Lowered to the flows delivered when the rest is handed to other gateways (they count them). */
  flowCount: number;
  readonly resource: Attributes;
  readonly flows: Flow[];
  /** Flows delivered (whole chunks). */
  sentFlows: number;
  /** The chunk being sent: where it ends and its bodies not yet delivered. */
  chunk?: { end: number; bodies: Buffer[] };
}

/** The routing key of a flow. */
export function routingKeyOf(config: Pick<LoadbalancingConfig, 'routing_key' | 'routing_attributes'>): (flow: Flow) => string {
  switch (config.routing_key) {
    case 'source':
      return (f) => String(f.attributes['source.address'] ?? '');
    case 'service':
      return (f) => {
        const a = f.attributes;
        const service = a['destination.k8s.service.name'];
        if (service !== undefined) return `${String(a['destination.k8s.namespace.name'] ?? '')}/${String(service)}`;
        return String(a['destination.original.address'] ?? a['destination.address'] ?? '');
      };
    case 'attributes': {
      const keys = config.routing_attributes;
      return (f) => keys.map((k) => String(f.attributes[k] ?? '')).join('\x00');
    }
  }
}

/** What a gateway's exporter asks of the loadbalancer. */
interface Router {
  /** Routes flows again over today's gateways (into their queues); false when none is known. */
  reroute(resource: Attributes, flows: Flow[]): boolean;
}

/** One gateway as its exporter queue drives it. */
class GatewayExporter implements Exporter<GatewayRequest> {
  readonly endpoint: string;
  readonly #sender: OtlpSender | undefined;
  readonly #router: Router;
  readonly #temporality: LoadbalancingConfig['protocol']['otlp']['temporality'];
  readonly #onDelivered: (bytes: number) => void;
  /** Left the gateways (or is the unrouted queue): what it still holds is routed again. */
  retired: boolean;

  constructor(endpoint: string, sender: OtlpSender | undefined, router: Router, config: LoadbalancingConfig, onDelivered: (bytes: number) => void) {
    this.endpoint = endpoint;
    this.#sender = sender;
    this.#router = router;
    this.#temporality = config.protocol.otlp.temporality;
    this.#onDelivered = onDelivered;
    this.retired = sender === undefined;
  }

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {
    await this.#sender?.close();
  }

  toRequests(batch: FlowBatch): GatewayRequest[] {
    return [{ resource: batch.resource ?? {}, flows: batch.flows, sentFlows: 0, flowCount: batch.flows.length }];
  }

  async send(request: GatewayRequest, signal: AbortSignal): Promise<void> {
    if (this.retired || this.#sender === undefined) {
      // What was not delivered (a chunk of several bodies half sent is sent again whole); the
      // queues that take it count it, this one only what it delivered.
      if (this.#router.reroute(request.resource, request.flows.slice(request.sentFlows))) {
        request.flowCount = request.sentFlows;
        return;
      }
      throw new RetryableError('no gateway known yet');
    }
    const { flows } = request;
    while (request.sentFlows < flows.length) {
      let chunk = request.chunk;
      if (chunk === undefined) {
        const end = Math.min(request.sentFlows + FLOWS_PER_CHUNK, flows.length);
        chunk = request.chunk = { end, bodies: this.#sender.encode(request.resource, this.#temporality, flows.slice(request.sentFlows, end)) };
      }
      while (chunk.bodies.length > 0) {
        if (signal.aborted) throw signal.reason;
        await this.#sender.send(chunk.bodies[0]!, signal);
        this.#onDelivered(chunk.bodies[0]!.length);
        chunk.bodies.shift();
      }
      request.sentFlows = chunk.end;
      request.chunk = undefined;
    }
  }
}

interface Gateway {
  exporter: GatewayExporter;
  queue: ExporterQueue<GatewayRequest>;
}

/** The runtime's queue in front of it gets no request: each gateway's queue has them. */
type NoRequest = ExportRequest;

export class LoadbalancingExporter implements Exporter<NoRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: LoadbalancingConfig;
  readonly #settings: ExporterQueueSettings;
  readonly #temporality: TemporalityConverter;
  readonly #routingKey: (flow: Flow) => string;
  readonly #resolver: GatewayResolver;
  readonly #gateways = new Map<string, Gateway>();
  /** Gateways that left, until their queues are empty. */
  readonly #retired = new Set<Gateway>();
  readonly #unrouted: Gateway;
  #ring = new HashRing([]);
  readonly #gatewayCount;
  readonly #rerouted;
  readonly #requests;
  readonly #requestBytes;

  constructor(ctx: ComponentContext, config: LoadbalancingConfig, resolver: AddressResolver) {
    this.#ctx = ctx;
    this.#config = config;
    this.#settings = queueSettingsOf(config);
    this.#temporality = new TemporalityConverter(config.protocol.otlp.temporality, SERIES_TTL_MS);
    this.#routingKey = routingKeyOf(config);
    this.#resolver = new GatewayResolver(config, resolver, (endpoints) => this.#setGateways(endpoints), ctx.logger);
    this.#gatewayCount = sharedGauge(ctx.metrics, 'podflow_loadbalancer_gateways', 'Gateways a loadbalancing exporter sends to.', ['exporter']);
    this.#rerouted = sharedCounter(ctx.metrics, 'podflow_loadbalancer_rerouted_flows_total', 'Flows a loadbalancing exporter routed again because their gateway left (or none was known).', ['exporter']);
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
    this.#requestBytes = sharedCounter(ctx.metrics, 'podflow_exporter_request_bytes_total', 'Bytes (compressed, as sent) of accepted requests.', ['exporter']);
    this.#unrouted = this.#gateway(UNROUTED, undefined);
  }

  /** The gateways flows are routed over now. */
  get gateways(): readonly string[] {
    return this.#ring.endpoints;
  }

  /** The id of a gateway's exporter queue in the podflow_exporter_* metrics: `<exporter>/<host:port>`. */
  queueId(endpoint: string): string {
    return `${this.#ctx.id}/${endpoint}`;
  }

  async start(): Promise<void> {
    await this.#resolver.start();
  }

  /** Sends what the gateways' queues hold, within `timeout` (still following DNS), then closes the connections. */
  async shutdown(): Promise<void> {
    const deadlineMs = Date.now() + this.#config.timeout;
    const all = [...this.#gateways.values(), ...this.#retired, this.#unrouted];
    // Retired and unrouted queues hand their flows to live gateways: drain those last.
    await Promise.all([...this.#retired, this.#unrouted].map((g) => g.queue.drain(deadlineMs)));
    await Promise.all([...this.#gateways.values()].map((g) => g.queue.drain(deadlineMs)));
    this.#resolver.stop();
    await Promise.all([...new Set([...all, ...this.#gateways.values()])].map((g) => g.exporter.shutdown()));
  }

  /**
   * Routes the batch into the gateways' queues. With sending_queue.enabled: false, waits until
   * each gateway's share is sent (or given up), as every exporter without a queue makes the
   * pipeline wait.
   */
  async toRequests(batch: FlowBatch): Promise<NoRequest[]> {
    const flows = this.#temporality.convert(batch, Date.now());
    const handed = this.#dispatch(resourceOf(batch.resource, this.#ctx.resource), flows);
    if (!this.#settings.sending_queue.enabled) await handed;
    return [];
  }

  async send(): Promise<void> {}

  /**
   * Puts each gateway's share of the flows into its queue (the unrouted queue when none is known);
   * resolves when the queues have taken them (with a queue) or sent them (without).
   */
  #dispatch(resource: Attributes, flows: readonly Flow[]): Promise<unknown> {
    const byGateway = new Map<Gateway, Flow[]>();
    const ownerOf = new Map<string, Gateway>();
    for (const flow of flows) {
      const key = this.#routingKey(flow);
      let gateway = ownerOf.get(key);
      if (gateway === undefined) {
        const endpoint = this.#ring.owner(key);
        gateway = (endpoint !== undefined && this.#gateways.get(endpoint)) || this.#unrouted;
        ownerOf.set(key, gateway);
      }
      let list = byGateway.get(gateway);
      if (!list) byGateway.set(gateway, (list = []));
      list.push(flow);
    }
    const temporality = this.#config.protocol.otlp.temporality;
    return Promise.all([...byGateway].map(([gateway, routed]) => gateway.queue.consume({ temporality, flows: routed, resource })));
  }

  #gateway(endpoint: string, sender: OtlpSender | undefined): Gateway {
    const exporter = new GatewayExporter(endpoint, sender, { reroute: (resource, flows) => this.#reroute(resource, flows) }, this.#config, (bytes) => {
      this.#requests.inc({ exporter: this.#ctx.id });
      this.#requestBytes.inc({ exporter: this.#ctx.id }, bytes);
    });
    const queue = new ExporterQueue<GatewayRequest>(this.queueId(endpoint), exporter, this.#settings, exporterQueueMetrics(this.#ctx.metrics), this.#ctx.logger);
    return { exporter, queue };
  }

  #reroute(resource: Attributes, flows: Flow[]): boolean {
    if (this.#ring.size === 0) return false;
    this.#rerouted.inc({ exporter: this.#ctx.id }, flows.length);
    // Not awaited: the queue that gives them up must not wait for the others to send them.
    void this.#dispatch(resource, flows);
    return true;
  }

  #setGateways(endpoints: string[]): void {
    const next = new Set(endpoints);
    for (const [endpoint, gateway] of this.#gateways) {
      if (next.has(endpoint)) continue;
      this.#gateways.delete(endpoint);
      gateway.exporter.retired = true;
      this.#retired.add(gateway);
      // Its queue routes what it holds to the others as it sends; then it is dropped.
      // (An attempt in flight ends within `timeout`, a wait within max_interval; then it reroutes.)
      void gateway.queue.drain(Date.now() + this.#config.retry_on_failure.max_interval + this.#config.timeout + 1_000).then(async () => {
        this.#retired.delete(gateway);
        await gateway.exporter.shutdown();
      });
    }
    for (const endpoint of endpoints) {
      if (this.#gateways.has(endpoint)) continue;
      const scheme = this.#config.protocol.otlp.tls ? 'https' : 'http';
      this.#gateways.set(endpoint, this.#gateway(endpoint, new OtlpSender({ ...this.#config.protocol.otlp, endpoint: `${scheme}://${endpoint}` }, this.#ctx.logger)));
    }
    this.#ring = new HashRing(endpoints);
    this.#gatewayCount.set({ exporter: this.#ctx.id }, endpoints.length);
  }
}
