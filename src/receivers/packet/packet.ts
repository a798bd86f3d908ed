// Captures packets on an interface through the Rust core (AF_PACKET, TPACKET_V3 ring, kernel
// BPF filter) and emits per-flow deltas every interval, in the same records as the conntrack
// receiver. Capture, parsing and per-5-tuple aggregation run on a native thread; this side
// owns the schedule and turns the packed records into Flows.
import { Counter, Gauge } from 'prom-client';
import { nowUnixNano } from '../../model/flow.ts';
import { type FlowsourceAddon, type NativeHandle, loadFlowsource } from '../../native/addon.ts';
import { decodeBatch } from '../../native/records.ts';
import type { ComponentContext, FlowConsumer, Receiver } from '../../pipeline/component.ts';
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
  readonly #next: FlowConsumer;
  #addon: FlowsourceAddon | undefined;
  #handle: NativeHandle | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #lastTickUnixNano = 0n;
  #stopped = false;
  readonly #metrics;

  constructor(ctx: ComponentContext, config: PacketConfig, next: FlowConsumer) {
    this.#ctx = ctx;
    this.#config = config;
    this.#next = next;
    const reg = ctx.metrics;
    const gauge = (name: string, help: string) =>
      (reg.getSingleMetric(name) as Gauge<'receiver'> | undefined) ?? new Gauge({ name, help, labelNames: ['receiver'], registers: [reg] });
    const counter = (name: string, help: string) =>
      (reg.getSingleMetric(name) as Counter<'receiver'> | undefined) ?? new Counter({ name, help, labelNames: ['receiver'], registers: [reg] });
    this.#metrics = {
      packets: counter('podflow_packet_packets_total', 'Packets captured and counted into flows (after the filter)'),
      drops: counter('podflow_packet_kernel_drops_total', 'Packets the kernel dropped because the capture ring was full'),
      malformed: counter('podflow_packet_malformed_total', 'Captured frames that could not be parsed (skipped)'),
      tracked: gauge('podflow_packet_tracked_connections', 'Connections whose orientation is remembered'),
      errors: counter('podflow_packet_tick_errors_total', 'Ticks that failed (the next tick retries)'),
    };
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
    this.#lastTickUnixNano = nowUnixNano();
    this.#ctx.logger.info({ interface: c.interface, filter: c.filter, netns, intervalMs: c.interval }, 'packet receiver started');
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.tickNow().finally(() => this.#schedule());
    }, this.#config.interval);
  }

  /** Emits what was captured since the previous emission (ticks never overlap). */
  async tickNow(): Promise<void> {
    while (this.#inFlight) await this.#inFlight;
    const run = this.#tick();
    this.#inFlight = run;
    try {
      await run;
    } finally {
      this.#inFlight = undefined;
    }
  }

  /** Totals since start, from the native core. */
  status(): PacketStatus | undefined {
    if (!this.#addon || !this.#handle) return undefined;
    return JSON.parse(this.#addon.packetStatus(this.#handle)) as PacketStatus;
  }

  async #tick(): Promise<void> {
    const addon = this.#addon;
    const handle = this.#handle;
    if (!addon || !handle) return;
    let buf: Buffer;
    try {
      buf = await addon.packetTick(handle);
    } catch (e) {
      this.#metrics.errors.inc({ receiver: this.#ctx.id });
      this.#ctx.logger.error({ err: (e as Error).message }, 'packet: reading the flow table failed; retrying next interval');
      return;
    }
    const now = nowUnixNano();
    const { flows } = decodeBatch(buf, this.#lastTickUnixNano, now);
    this.#lastTickUnixNano = now;
    const labels = { receiver: this.#ctx.id };
    const drops = buf.readUInt32LE(HEADER_DROPS);
    this.#metrics.packets.inc(labels, Number(buf.readBigUInt64LE(HEADER_PACKETS)));
    this.#metrics.tracked.set(labels, Number(buf.readBigUInt64LE(HEADER_TRACKED)));
    this.#metrics.malformed.inc(labels, buf.readUInt32LE(HEADER_MALFORMED));
    this.#metrics.drops.inc(labels, drops);
    if (drops > 0) {
      this.#ctx.logger.warn({ drops, ringBytes: this.#config.ring_size }, 'packet: the kernel dropped packets (capture ring full); raise ring_size or narrow the filter');
    }
    if (flows.length > 0) await this.#next.consume({ flows, temporality: 'delta' });
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    // The kernel hands a partly filled ring block over RETIRE_MS after its first packet: wait
    // for it, so the last read sees everything captured before shutdown.
    if (this.#handle) {
      await new Promise((r) => setTimeout(r, RETIRE_WAIT_MS));
      await this.tickNow();
    }
    if (this.#addon && this.#handle) this.#addon.packetClose(this.#handle);
    this.#handle = undefined;
  }
}
