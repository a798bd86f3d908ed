// Sets destination.domain on flows to external addresses, from DNS answers the Rust core
// captures on the node (AF_PACKET, responses from port 53 over UDP and TCP, filtered in the
// kernel) and keeps in a bounded, TTL-honouring address → name cache.
import { AddressClassifier } from '../../model/address.ts';
import { DESTINATION, DESTINATION_DOMAIN } from '../../model/attributes.ts';
import { setFlowAttribute, type FlowBatch } from '../../model/flow.ts';
import { DnsNames, type DnsStatus } from '../../native/index.ts';
import type { ComponentContext, ComponentEndpoints, FlowConsumer, Processor } from '../../contracts/component.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import type { DnsnamesConfig } from './config.ts';

export class DnsnamesProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #config: DnsnamesConfig;
  readonly #next: FlowConsumer;
  readonly #classifier: AddressClassifier;
  #names: DnsNames | undefined;
  readonly #metrics;
  /** The core's eviction and response totals already added to the counters. */
  #counted = { evictions: 0, responses: 0, duplicates: 0 };

  constructor(ctx: ComponentContext, config: DnsnamesConfig, next: FlowConsumer) {
    this.#ctx = ctx;
    this.#config = config;
    this.#next = next;
    this.#classifier = new AddressClassifier(config.cluster_cidrs);
    const reg = ctx.metrics;
    const gauge = (name: string, help: string) => sharedGauge(reg, name, help, ['processor']);
    const counter = (name: string, help: string) => sharedCounter(reg, name, help, ['processor']);
    this.#metrics = {
      named: counter('podflow_dnsnames_named_flows_total', 'Flows given a destination.domain'),
      unnamed: counter('podflow_dnsnames_unnamed_flows_total', 'Flows to eligible destinations whose address had no known name'),
      entries: gauge('podflow_dnsnames_cache_entries', 'Addresses in the DNS name cache'),
      evictions: counter('podflow_dnsnames_cache_evictions_total', 'Live names evicted because the cache was full'),
      responses: counter('podflow_dnsnames_responses_total', 'DNS responses read'),
      duplicates: counter('podflow_dnsnames_duplicate_responses_total', 'Copies of a response already read, captured again on another interface'),
    };
  }

  async start(): Promise<void> {
    const c = this.#config;
    this.#counted = { evictions: 0, responses: 0, duplicates: 0 };
    try {
      this.#names = DnsNames.open({
        netns: c.netns ?? null,
        interface: c.interface,
        maxEntries: c.max_entries,
        ttlFloorS: Math.ceil(c.ttl_floor / 1000),
        ringBytes: c.ring_size,
      });
    } catch (e) {
      throw new Error(`dnsnames: cannot capture DNS responses on interface ${c.interface}: ${(e as Error).message}`);
    }
    this.#ctx.logger.info({ interface: c.interface, netns: c.netns ?? null, maxEntries: c.max_entries, ttlFloorMs: c.ttl_floor }, 'dnsnames: capturing DNS responses');
  }

  endpoints(): ComponentEndpoints {
    return { readsFrom: [`DNS answers on ${this.#config.interface}${this.#config.netns ? ` in ${this.#config.netns}` : ''}`] };
  }

  /** Cache and parser counts since start (undefined before start / after shutdown). */
  status(): DnsStatus | undefined {
    return this.#names?.status();
  }

  #eligible(attributes: Record<string, unknown>): string | undefined {
    if (attributes[DESTINATION_DOMAIN] !== undefined) return undefined;
    const address = attributes[DESTINATION.address];
    if (typeof address !== 'string') return undefined;
    if (!this.#config.only_public) return address;
    const type = attributes[DESTINATION.addressType];
    if (type !== undefined) return type === 'public' ? address : undefined;
    return this.#classifier.isPublic(address) ? address : undefined;
  }

  async consume(batch: FlowBatch): Promise<void> {
    const dns = this.#names;
    if (dns) {
      // One native call per batch, for the distinct eligible addresses.
      const wanted = new Map<string, string>();
      const targets: Array<[number, string]> = [];
      batch.flows.forEach((f, i) => {
        const address = this.#eligible(f.attributes);
        if (address === undefined) return;
        wanted.set(address, '');
        targets.push([i, address]);
      });
      if (targets.length > 0) {
        const addresses = [...wanted.keys()];
        const names = dns.lookup(addresses);
        addresses.forEach((a, i) => wanted.set(a, names[i] ?? ''));
        let named = 0;
        for (const [i, address] of targets) {
          const name = wanted.get(address);
          if (name) {
            setFlowAttribute(batch.flows[i]!, DESTINATION_DOMAIN, name);
            named++;
          }
        }
        const labels = { processor: this.#ctx.id };
        this.#metrics.named.inc(labels, named);
        this.#metrics.unnamed.inc(labels, targets.length - named);
        const s = this.status();
        if (s) {
          this.#metrics.entries.set(labels, s.entries);
          // The core counts since it opened; the counters move by what is new.
          this.#metrics.evictions.inc(labels, Math.max(0, s.evictions - this.#counted.evictions));
          this.#metrics.responses.inc(labels, Math.max(0, s.responses - this.#counted.responses));
          this.#metrics.duplicates.inc(labels, Math.max(0, s.duplicates - this.#counted.duplicates));
          this.#counted = { evictions: s.evictions, responses: s.responses, duplicates: s.duplicates };
        }
      }
    }
    await this.#next.consume(batch);
  }

  async shutdown(): Promise<void> {
    this.#names?.close();
    this.#names = undefined;
  }
}
