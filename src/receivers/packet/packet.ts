// Captures packets on an interface through the Rust core (AF_PACKET, TPACKET_V3 ring, kernel
// BPF filter) and emits per-flow deltas every interval, in the same records as the conntrack
// receiver. Capture, parsing and per-5-tuple aggregation run on a native thread; this side
// owns the schedule and turns the packed records into Flows.
import { type FlowsourceAddon, type NativeHandle, loadFlowsource } from '../../native/addon.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, FlowConsumer, Receiver } from '../../contracts/component.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import { NativeReadLoop } from '../shared/native-read-loop.ts';
import { nativeFilter, type PacketConfig } from './config.ts';

/** Totals since the capture started (packetStatus). */
export interface PacketStatus {
  packets: number;
  malformed: number;
  nonIp: number;
  filtered: number;
  fragments: number;
  tableFull: number;
  kernelDrops: number;
  connections: number;
}

// Header fields of a packet batch (crates/flowsource/src/packet/flows.rs): entries = packets
// seen, tracked = connections remembered, event overruns = kernel drops, skipped = malformed.
const HEADER_PACKETS = 16;
const HEADER_TRACKED = 24;
const HEADER_DROPS = 40;
const HEADER_MALFORMED = 44;
/** The ring's block retire timeout (20 ms in the core) plus a margin. */
export const RETIRE_WAIT_MS = 60;

export class PacketReceiver implements Receiver {
  readonly #ctx: ComponentContext;
  readonly #config: PacketConfig;
  readonly #loop: NativeReadLoop;
  #addon: FlowsourceAddon | undefined;
  #handle: NativeHandle | undefined;
  readonly #metrics;

  constructor(ctx: ComponentContext, config: PacketConfig, next: FlowConsumer, clock: Clock = systemClock) {
    this.#ctx = ctx;
    this.#config = config;
    const reg = ctx.metrics;
    const gauge = (name: string, help: string) => sharedGauge(reg, name, help, ['receiver']);
    const counter = (name: string, help: string) => sharedCounter(reg, name, help, ['receiver']);
    this.#metrics = {
      packets: counter('podflow_packet_packets_total', 'Packets captured and counted into flows (after the filter)'),
      drops: counter('podflow_packet_kernel_drops_total', 'Packets the kernel dropped because the capture ring was full'),
      malformed: counter('podflow_packet_malformed_total', 'Captured frames that could not be parsed (skipped)'),
      tracked: gauge('podflow_packet_tracked_connections', 'Connections whose orientation is remembered'),
      errors: counter('podflow_packet_tick_errors_total', 'Ticks that failed (the next tick retries)'),
    };
    this.#loop = new NativeReadLoop({
      ctx,
      next,
      intervalMs: config.interval,
      clock,
      read: () => this.#handle && this.#addon!.packetTick(this.#handle),
      onBatch: (buf) => this.#record(buf),
      readingWhat: 'packet: reading the flow table',
      errors: this.#metrics.errors,
    });
  }

  async start(): Promise<void> {
    const addon = loadFlowsource();
    this.#addon = addon;
    const c = this.#config;
    const netns = c.netns ?? null;
    try {
      this.#handle = addon.packetOpen(netns, c.interface, nativeFilter(c.filter), c.ring_size, c.max_connections, c.idle_timeout, c.exclude_cidrs.join(','));
    } catch (e) {
      throw new Error(`packet: cannot capture on interface ${c.interface}: ${(e as Error).message}`);
    }
    this.#ctx.logger.info({ interface: c.interface, filter: c.filter, netns, intervalMs: c.interval }, 'packet receiver started');
    this.#loop.start();
  }

  /** Totals since start, from the native core. */
  status(): PacketStatus | undefined {
    if (!this.#addon || !this.#handle) return undefined;
    return JSON.parse(this.#addon.packetStatus(this.#handle)) as PacketStatus;
  }

  #record(buf: Buffer): void {
    const labels = { receiver: this.#ctx.id };
    const drops = buf.readUInt32LE(HEADER_DROPS);
    this.#metrics.packets.inc(labels, Number(buf.readBigUInt64LE(HEADER_PACKETS)));
    this.#metrics.tracked.set(labels, Number(buf.readBigUInt64LE(HEADER_TRACKED)));
    this.#metrics.malformed.inc(labels, buf.readUInt32LE(HEADER_MALFORMED));
    this.#metrics.drops.inc(labels, drops);
    if (drops > 0) {
      this.#ctx.logger.warn({ drops, ringBytes: this.#config.ring_size }, 'packet: the kernel dropped packets (capture ring full); raise ring_size or narrow the filter');
    }
  }

  async shutdown(): Promise<void> {
    // The kernel hands a partly filled ring block over RETIRE_MS after its first packet: wait
    // for it, so the last read sees everything captured before shutdown.
    if (this.#handle) {
      await new Promise((r) => setTimeout(r, RETIRE_WAIT_MS));
      await this.#loop.stop();
    }
    if (this.#addon && this.#handle) this.#addon.packetClose(this.#handle);
    this.#handle = undefined;
  }
}
