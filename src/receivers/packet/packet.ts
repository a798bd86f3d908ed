// Captures packets on an interface through the Rust core (AF_PACKET, TPACKET_V3 ring, kernel
// BPF filter) and emits per-flow deltas every interval, in the same records as the conntrack
// receiver. Capture, parsing and per-5-tuple aggregation run on a native thread; this side
// owns the schedule and turns the packed records into Flows.
import type { PacketStatus, TickStats } from '../../native/index.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, ComponentEndpoints, FlowConsumer, Receiver } from '../../contracts/component.ts';
import { describeCapabilities } from '../shared/capabilities.ts';
import { NativeReadLoop } from '../shared/native-read-loop.ts';
import { receiverMetrics } from '../shared/receiver-metrics.ts';
import { nativeFilter, type PacketConfig } from './config.ts';

/** The ring's block retire timeout (20 ms in the core) plus a margin. */
export const RETIRE_WAIT_MS = 60;

export class PacketReceiver implements Receiver {
  readonly #ctx: ComponentContext;
  readonly #config: PacketConfig;
  readonly #loop: NativeReadLoop<'packet'>;
  readonly #metrics;

  constructor(ctx: ComponentContext, config: PacketConfig, next: FlowConsumer, clock: Clock = systemClock) {
    this.#ctx = ctx;
    this.#config = config;
    const { gauge, counter } = receiverMetrics(ctx.metrics);
    this.#metrics = {
      packets: counter('podflow_packet_packets_total', 'Packets captured and counted into flows (after the filter)'),
      drops: counter('podflow_packet_kernel_drops_total', 'Packets the kernel dropped because the capture ring was full'),
      malformed: counter('podflow_packet_malformed_total', 'Captured frames that could not be parsed (skipped)'),
      tracked: gauge('podflow_packet_tracked_connections', 'Connections whose orientation is remembered'),
    };
    this.#loop = new NativeReadLoop({
      ctx,
      next,
      type: 'packet',
      intervalMs: config.interval,
      clock,
      onBatch: (stats) => this.#record(stats),
      readingWhat: 'packet: reading the flow table',
      idleHints: (last) => [
        `interface ${config.interface}${config.netns ? ` in ${config.netns}` : ''} and filter ${JSON.stringify(config.filter)}`,
        last === undefined ? 'no read has succeeded' : `${last.entries} packets captured in the last interval`,
        `permissions: ${describeCapabilities(['CAP_NET_RAW'])}`,
      ],
    });
  }

  async start(): Promise<void> {
    const c = this.#config;
    const netns = c.netns ?? null;
    try {
      this.#loop.open({
        netns,
        interface: c.interface,
        filter: nativeFilter(c.filter),
        ringBytes: c.ring_size,
        maxConnections: c.max_connections,
        idleTimeoutMs: c.idle_timeout,
        excludeCidrs: c.exclude_cidrs,
      });
    } catch (e) {
      throw new Error(`packet: cannot capture on interface ${c.interface}: ${(e as Error).message}`);
    }
    this.#ctx.logger.info({ interface: c.interface, filter: c.filter, netns, intervalMs: c.interval }, 'packet receiver started');
    this.#loop.start();
  }

  endpoints(): ComponentEndpoints {
    return { readsFrom: [`packets on ${this.#config.interface}${this.#config.netns ? ` in ${this.#config.netns}` : ''}`] };
  }

  /** Totals since start, from the native core. */
  status(): PacketStatus | undefined {
    return this.#loop.status();
  }

  // A packet batch's header (crates/flowsource/src/packet/flows.rs): entries = packets seen,
  // tracked = connections remembered, overruns = packets the kernel dropped, skipped = malformed.
  #record(stats: TickStats): void {
    const labels = { receiver: this.#ctx.id };
    const drops = stats.overruns;
    this.#metrics.packets.inc(labels, stats.entries);
    this.#metrics.tracked.set(labels, stats.tracked);
    this.#metrics.malformed.inc(labels, stats.skipped);
    this.#metrics.drops.inc(labels, drops);
    if (drops > 0) {
      this.#ctx.logger.warn({ drops, ringBytes: this.#config.ring_size }, 'packet: the kernel dropped packets (capture ring full); raise ring_size or narrow the filter');
    }
  }

  async shutdown(): Promise<void> {
    // The kernel hands a partly filled ring block over RETIRE_MS after its first packet: wait
    // for it, so the last read sees everything captured before shutdown.
    if (this.#loop.opened) await new Promise((r) => setTimeout(r, RETIRE_WAIT_MS));
    await this.#loop.close();
  }
}
