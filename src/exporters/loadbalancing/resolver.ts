// Where the gateways are: a static list, or a DNS name (the gateways' headless Service) resolved
// at start and again every `interval`. Each change of the set calls `onChange` with the new
// endpoints (`host:port`). A failed resolution keeps the last known set; a name without records
// (no gateway ready) empties it, so requests wait, retried, until a gateway is back.
import { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';
import { dnsPort, type LoadbalancingConfig } from './config.ts';

/** The part of node:dns's Resolver used here (a test may point one at its own DNS server). */
export interface AddressResolver {
  resolve4(hostname: string): Promise<string[]>;
  resolve6(hostname: string): Promise<string[]>;
}

/** Errors that mean "no such records", not "could not ask". */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

export function systemResolver(timeoutMs: number): AddressResolver {
  return new Resolver({ timeout: timeoutMs, tries: 2 });
}

export class GatewayResolver {
  readonly #config: LoadbalancingConfig;
  readonly #resolver: AddressResolver;
  readonly #onChange: (endpoints: string[]) => void;
  readonly #logger: Logger;
  #current = '';
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(config: LoadbalancingConfig, resolver: AddressResolver, onChange: (endpoints: string[]) => void, logger: Logger) {
    this.#config = config;
    this.#resolver = resolver;
    this.#onChange = onChange;
    this.#logger = logger;
  }

  async start(): Promise<void> {
    const { static: fixed, dns } = this.#config.resolver;
    if (fixed) return this.#set(fixed.hostnames);
    await this.resolveNow();
    this.#timer = setInterval(() => void this.resolveNow(), dns!.interval);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One DNS resolution (also what the interval runs). */
  async resolveNow(): Promise<void> {
    const dns = this.#config.resolver.dns!;
    const port = dnsPort(this.#config);
    const [v4, v6] = await Promise.allSettled([this.#resolver.resolve4(dns.hostname), this.#resolver.resolve6(dns.hostname)]);
    const failed = [v4, v6].filter((r): r is PromiseRejectedResult => r.status === 'rejected' && !NO_RECORDS.has((r.reason as { code?: string }).code ?? ''));
    if (failed.length === 2) {
      if (!this.#failing) this.#logger.warn({ hostname: dns.hostname, err: (failed[0]!.reason as Error).message }, 'loadbalancing: cannot resolve the gateways; keeping the last known ones');
      this.#failing = true;
      return;
    }
    this.#failing = false;
    const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value.map((a) => `[${a}]`) : [])];
    this.#set(addresses.map((a) => `${a}:${port}`));
  }

  #set(endpoints: readonly string[]): void {
    const sorted = [...new Set(endpoints)].sort();
    const key = sorted.join(',');
    if (key === this.#current) return;
    this.#current = key;
    this.#logger.info({ gateways: sorted }, 'loadbalancing: gateways changed');
    this.#onChange(sorted);
  }
}
