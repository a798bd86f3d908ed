// Spreads flows over N gateways (otlp receivers) by a consistent hash of a routing key, as the
// Collector's loadbalancingexporter does: every flow of one key (by default one source address)
// reaches the same gateway, so what a gateway reduces is whole and a cumulative series never
// splits between two gateways.
//
// toRequests turns the batch into the sent temporality (once, as the otlp exporter does) and cuts
// it into one request per gateway. send encodes a request's flows for its gateway and delivers
// them. When the gateways change (resolver.ts), a request whose gateway is gone is routed again,
// over the gateways there are then, and sent to them: a queued request is never lost because its
// gateway left. With no gateway known the attempt fails as retryable and waits in the queue.
import type { Attributes, Flow, FlowBatch } from '../../model/index.ts';
import { TemporalityConverter } from '../../model/temporality.ts';
import { RetryableError, type ComponentContext, type Exporter, type ExportRequest } from '../../contracts/component.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import { OtlpSender, resourceOf } from '../shared/otlp/sender.ts';
import type { LoadbalancingConfig } from './config.ts';
import { HashRing } from './hash-ring.ts';
import { GatewayResolver, type AddressResolver } from './resolver.ts';

/** Series of a converted temporality not seen for this long are forgotten (as in the otlp exporter). */
const SERIES_TTL_MS = 30 * 60_000;

/** Flows bound for one gateway, with their bodies once encoded for it. */
interface Part {
  endpoint: string;
  flows: Flow[];
  /** Bodies not yet delivered (undefined until encoded for `endpoint`). */
  bodies?: Buffer[];
}

export interface LoadbalancingRequest extends ExportRequest {
  readonly resource: Attributes;
  parts: Part[];
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

export class LoadbalancingExporter implements Exporter<LoadbalancingRequest> {
  readonly #ctx: ComponentContext;
  readonly #config: LoadbalancingConfig;
  readonly #temporality: TemporalityConverter;
  readonly #routingKey: (flow: Flow) => string;
  readonly #resolver: GatewayResolver;
  readonly #senders = new Map<string, OtlpSender>();
  #ring = new HashRing([]);
  readonly #gateways;
  readonly #rerouted;
  readonly #requests;
  readonly #requestBytes;

  constructor(ctx: ComponentContext, config: LoadbalancingConfig, resolver: AddressResolver) {
    this.#ctx = ctx;
    this.#config = config;
    this.#temporality = new TemporalityConverter(config.protocol.otlp.temporality, SERIES_TTL_MS);
    this.#routingKey = routingKeyOf(config);
    this.#resolver = new GatewayResolver(config, resolver, (endpoints) => this.#setGateways(endpoints), ctx.logger);
    this.#gateways = sharedGauge(ctx.metrics, 'podflow_loadbalancer_gateways', 'Gateways a loadbalancing exporter sends to.', ['exporter']);
    this.#rerouted = sharedCounter(ctx.metrics, 'podflow_loadbalancer_rerouted_flows_total', 'Flows a loadbalancing exporter sent to another gateway than first chosen, because that one left.', ['exporter']);
    this.#requests = sharedCounter(ctx.metrics, 'podflow_exporter_requests_total', 'Requests an exporter got accepted by its backend.', ['exporter']);
    this.#requestBytes = sharedCounter(ctx.metrics, 'podflow_exporter_request_bytes_total', 'Bytes (compressed, as sent) of accepted requests.', ['exporter']);
  }

  /** The gateways flows are routed over now. */
  get gateways(): readonly string[] {
    return this.#ring.endpoints;
  }

  async start(): Promise<void> {
    await this.#resolver.start();
  }

  async shutdown(): Promise<void> {
    this.#resolver.stop();
    await Promise.all([...this.#senders.values()].map((s) => s.close()));
    this.#senders.clear();
  }

  toRequests(batch: FlowBatch): LoadbalancingRequest[] {
    const flows = this.#temporality.convert(batch, Date.now());
    const resource = resourceOf(batch.resource, this.#ctx.resource);
    return this.#route(flows).map((part) => ({ resource, parts: [part], flowCount: part.flows.length }));
  }

  async send(request: LoadbalancingRequest, signal: AbortSignal): Promise<void> {
    this.#rerouteOrphans(request);
    if (request.parts.some((p) => !this.#senders.has(p.endpoint))) {
      throw new RetryableError(`no gateway known yet (${this.#describeResolver()})`);
    }
    while (request.parts.length > 0) {
      if (signal.aborted) throw signal.reason;
      const part = request.parts[0]!;
      const sender = this.#senders.get(part.endpoint)!;
      part.bodies ??= sender.encode(request.resource, this.#config.protocol.otlp.temporality, part.flows);
      while (part.bodies.length > 0) {
        await sender.send(part.bodies[0]!, signal);
        this.#requests.inc({ exporter: this.#ctx.id });
        this.#requestBytes.inc({ exporter: this.#ctx.id }, part.bodies[0]!.length);
        part.bodies.shift();
      }
      request.parts.shift();
    }
  }

  /** Flows by the gateway that owns their key (endpoint '' when none is known). */
  #route(flows: readonly Flow[]): Part[] {
    const byEndpoint = new Map<string, Flow[]>();
    const ownerOf = new Map<string, string>();
    for (const flow of flows) {
      const key = this.#routingKey(flow);
      let endpoint = ownerOf.get(key);
      if (endpoint === undefined) {
        endpoint = this.#ring.owner(key) ?? '';
        ownerOf.set(key, endpoint);
      }
      let list = byEndpoint.get(endpoint);
      if (!list) byEndpoint.set(endpoint, (list = []));
      list.push(flow);
    }
    return [...byEndpoint].map(([endpoint, routed]) => ({ endpoint, flows: routed }));
  }

  /** Parts whose gateway is gone (or was never known) are routed again over today's gateways. */
  #rerouteOrphans(request: LoadbalancingRequest): void {
    const orphans = request.parts.filter((p) => !this.#senders.has(p.endpoint));
    if (orphans.length === 0 || this.#ring.size === 0) return;
    const flows = orphans.flatMap((p) => p.flows);
    const kept = request.parts.filter((p) => this.#senders.has(p.endpoint));
    const moved = this.#route(flows);
    if (orphans.some((p) => p.endpoint !== '')) this.#rerouted.inc({ exporter: this.#ctx.id }, orphans.filter((p) => p.endpoint !== '').reduce((n, p) => n + p.flows.length, 0));
    request.parts = [...kept, ...moved];
  }

  #setGateways(endpoints: string[]): void {
    const next = new Set(endpoints);
    for (const [endpoint, sender] of this.#senders) {
      if (next.has(endpoint)) continue;
      this.#senders.delete(endpoint);
      void sender.close();
    }
    for (const endpoint of endpoints) {
      if (this.#senders.has(endpoint)) continue;
      const scheme = this.#config.protocol.otlp.tls ? 'https' : 'http';
      this.#senders.set(endpoint, new OtlpSender({ ...this.#config.protocol.otlp, endpoint: `${scheme}://${endpoint}` }, this.#ctx.logger));
    }
    this.#ring = new HashRing(endpoints);
    this.#gateways.set({ exporter: this.#ctx.id }, endpoints.length);
  }

  #describeResolver(): string {
    const dns = this.#config.resolver.dns;
    return dns ? `resolving ${dns.hostname} every ${dns.interval} ms` : 'static list';
  }
}
