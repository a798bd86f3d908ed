// The reducer: sums delta flows into a bounded set of groups and emits them once per
// wall-clock-aligned interval, as deltas or as cumulative sums.
import type { Counter, Gauge } from 'prom-client';
import { OTEL_METRIC_OVERFLOW } from '../../model/attributes.ts';
import { type Attributes, type Flow, type FlowBatch, unixNanoFromMs } from '../../model/index.ts';
import type { ComponentContext, FlowConsumer, Processor } from '../../contracts/component.ts';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ReduceConfig } from './config.ts';
import { GroupAttributes } from './group-attributes.ts';
import { GroupKeyReader, type SlotValue } from './group-key.ts';
import { CONNECTIONS, COUNTERS_PER_GROUP, GroupTable, RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS } from './group-table.ts';

/** The one group that flows beyond `max_groups` are folded into. */
interface OverflowGroup {
  live: boolean;
  touched: boolean;
  startMs: number;
  lastSeenMs: number;
  counters: Float64Array;
  /** Sum of the flows' costs; undefined while none carried one. */
  costZeptoUsd: bigint | undefined;
}

/** The first multiple of `intervalMs` since the epoch that is later than `ms`. */
function nextBoundaryMs(ms: number, intervalMs: number): number {
  return (Math.floor(ms / intervalMs) + 1) * intervalMs;
}

export class ReduceProcessor implements Processor {
  readonly #ctx: ComponentContext;
  readonly #next: FlowConsumer;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #idleTimeoutMs: number;
  readonly #cumulative: boolean;
  readonly #reader: GroupKeyReader;
  readonly #table: GroupTable;
  readonly #scratch: SlotValue[];
  readonly #groupAttributes: GroupAttributes;
  readonly #overflow: OverflowGroup = {
    live: false, touched: false, startMs: 0, lastSeenMs: 0, counters: new Float64Array(COUNTERS_PER_GROUP), costZeptoUsd: undefined,
  };
  readonly #overflowFlows: Counter.Internal;
  readonly #groupsGauge: Gauge.Internal<'processor'>;

  #intervalStartMs = 0;
  /** Delta: the groups without traffic so far this interval were evicted to make room (at most once per interval). */
  #compacted = false;
  #timer: unknown;
  #stopped = false;
  #warnedCumulativeInput = false;
  /** Emitted batches are handed to `next` one after another, in order. */
  #sending: Promise<void> = Promise.resolve();

  constructor(ctx: ComponentContext, config: ReduceConfig, next: FlowConsumer, clock: Clock = systemClock) {
    this.#ctx = ctx;
    this.#next = next;
    this.#clock = clock;
    this.#intervalMs = config.interval;
    this.#idleTimeoutMs = config.idle_timeout;
    this.#cumulative = config.temporality === 'cumulative';
    this.#reader = new GroupKeyReader({
      groupBy: config.group_by,
      unidentifiedAddresses: config.unidentified_addresses,
      publicAddresses: {
        byDomain: config.public_addresses.by_domain,
        ipv4Prefix: config.public_addresses.ipv4_prefix,
        ipv6Prefix: config.public_addresses.ipv6_prefix,
      },
      clusterCidrs: config.cluster_cidrs,
    });
    this.#table = new GroupTable(this.#reader.slotCount, config.max_groups);
    this.#scratch = new Array<SlotValue>(this.#reader.slotCount).fill(undefined);
    this.#groupAttributes = new GroupAttributes(this.#reader.slotKeys);
    this.#overflowFlows = sharedCounter(
      ctx.metrics,
      'podflow_processor_reduce_overflow_flows_total',
      'Flows folded into the overflow group (otel.metric.overflow=true) because max_groups was reached',
      ['processor'],
    ).labels({ processor: ctx.id });
    this.#groupsGauge = sharedGauge(
      ctx.metrics,
      'podflow_processor_reduce_groups',
      'Groups emitted for the last interval (the overflow group not included)',
      ['processor'],
    ).labels({ processor: ctx.id });
    this.#intervalStartMs = this.#alignedStart(clock.nowMs());
  }

  async start(): Promise<void> {
    const now = this.#clock.nowMs();
    this.#intervalStartMs = this.#alignedStart(now);
    this.#arm(nextBoundaryMs(now, this.#intervalMs));
  }

  consume(batch: FlowBatch): Promise<void> {
    if (batch.temporality !== 'delta') {
      // Summing cumulative values would count them many times over: pass them on untouched.
      if (!this.#warnedCumulativeInput) {
        this.#warnedCumulativeInput = true;
        this.#ctx.logger.warn({ processor: this.#ctx.id }, 'reduce received cumulative flows; it sums deltas only, so it passes them on unchanged (put reduce before any cumulative stage)');
      }
      return this.#next.consume(batch);
    }
    this.#aggregate(batch.flows);
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
      this.#timer = undefined;
      this.#flush(Math.max(this.#clock.nowMs(), this.#intervalStartMs));
    }
    await this.#sending;
  }

  /** The hot path: one slot read, one table probe and five additions per flow (six when priced). */
  #aggregate(flows: readonly Flow[]): void {
    const table = this.#table;
    const reader = this.#reader;
    const values = this.#scratch;
    let counters = table.counters;
    let touched = table.touched;
    let overflowed = 0;
    for (let i = 0; i < flows.length; i++) {
      const flow = flows[i]!;
      reader.read(flow.attributes, values);
      let g = table.find(values);
      if (g < 0) {
        let compacted = false;
        if (table.full) {
          if (!this.#makeRoom()) {
            this.#addOverflow(flow);
            overflowed++;
            continue;
          }
          compacted = true;
        }
        // After a compaction the ids `find` looked up are gone with the dictionaries it rebuilt.
        g = compacted ? table.insert(values, this.#intervalStartMs) : table.insertMissed(values, this.#intervalStartMs);
        // Inserting may have grown the table's arrays.
        counters = table.counters;
        touched = table.touched;
      }
      touched[g] = 1;
      const o = g * COUNTERS_PER_GROUP;
      counters[o + TX_BYTES]! += flow.txBytes;
      counters[o + RX_BYTES]! += flow.rxBytes;
      counters[o + TX_PACKETS]! += flow.txPackets;
      counters[o + RX_PACKETS]! += flow.rxPackets;
      counters[o + CONNECTIONS]! += flow.connections;
      const cost = flow.costZeptoUsd;
      if (cost !== undefined) table.addCost(g, cost);
    }
    if (overflowed > 0) this.#overflowFlows.inc(overflowed);
  }

  /**
   * A full table in delta mode may still hold groups kept from earlier intervals that have had
   * no traffic in this one: evicting them makes room, so `max_groups` bounds the groups of one
   * interval as when every interval started empty. Returns whether there is room now.
   */
  #makeRoom(): boolean {
    if (this.#cumulative || this.#compacted) return false;
    this.#compacted = true;
    const touched = this.#table.touched;
    this.#table.retain((g) => touched[g] === 1);
    return !this.#table.full;
  }

  #addOverflow(flow: Flow): void {
    const overflow = this.#overflow;
    if (!overflow.live) {
      overflow.live = true;
      overflow.startMs = this.#intervalStartMs;
      overflow.counters.fill(0);
      overflow.costZeptoUsd = undefined;
    }
    overflow.touched = true;
    const c = overflow.counters;
    c[TX_BYTES]! += flow.txBytes;
    c[RX_BYTES]! += flow.rxBytes;
    c[TX_PACKETS]! += flow.txPackets;
    c[RX_PACKETS]! += flow.rxPackets;
    c[CONNECTIONS]! += flow.connections;
    if (flow.costZeptoUsd !== undefined) overflow.costZeptoUsd = (overflow.costZeptoUsd ?? 0n) + flow.costZeptoUsd;
  }

  #alignedStart(ms: number): number {
    return Math.floor(ms / this.#intervalMs) * this.#intervalMs;
  }

  #arm(boundaryMs: number): void {
    if (this.#stopped) return;
    const delay = Math.max(0, boundaryMs - this.#clock.nowMs());
    this.#timer = this.#clock.setTimer(() => this.#tick(boundaryMs), delay);
  }

  /** Flushes the interval the timer was set for; resolves once its batch was handed to `next`. */
  #tick(boundaryMs: number): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return this.#sending;
    const now = this.#clock.nowMs();
    const intervalMs = this.#intervalMs;
    // On time or late (a busy event loop): end at the latest boundary passed, so the next one
    // stays aligned. A little early: end at the boundary the timer was set for. Far early: the
    // wall clock stepped back; end now. Never end before the interval started.
    const early = now < boundaryMs && boundaryMs - now <= intervalMs / 2;
    const endMs = now >= boundaryMs ? this.#alignedStart(now) : early ? boundaryMs : now;
    this.#flush(Math.max(endMs, this.#intervalStartMs));
    this.#arm(nextBoundaryMs(early ? boundaryMs : now, intervalMs));
    return this.#sending;
  }

  /** Emits the interval ending at `endMs`, evicts idle groups and starts the next interval. */
  #flush(endMs: number): void {
    const table = this.#table;
    const cumulative = this.#cumulative;
    const idleMs = this.#idleTimeoutMs;
    const intervalStartNano = unixNanoFromMs(this.#intervalStartMs);
    const endNano = unixNanoFromMs(endMs);
    const makeAttributes = this.#groupAttributes;
    const { counters, touched, lastSeenMs, startMs, values, attributes: groupAttributes } = table;
    const flows: Flow[] = [];
    let evicted = 0;

    for (let g = 0; g < table.size; g++) {
      if (touched[g]) lastSeenMs[g] = endMs;
      // Delta groups report what arrived in the interval; cumulative ones keep reporting until
      // idle_timeout without traffic.
      const emit = touched[g] === 1 || (cumulative && endMs - lastSeenMs[g]! < idleMs);
      if (!emit) {
        evicted++;
        continue;
      }
      let attributes = groupAttributes[g];
      if (attributes === undefined) attributes = groupAttributes[g] = Object.freeze(makeAttributes.make(values[g]!));
      flows.push(this.#flow(attributes, cumulative ? unixNanoFromMs(startMs[g]!) : intervalStartNano, endNano, counters, g * COUNTERS_PER_GROUP, table.cost(g)));
    }

    this.#groupsGauge.set(flows.length);
    const overflow = this.#overflow;
    if (overflow.live) {
      if (overflow.touched) overflow.lastSeenMs = endMs;
      const keep = cumulative ? overflow.touched || endMs - overflow.lastSeenMs < idleMs : overflow.touched;
      if (keep) {
        const start = cumulative ? unixNanoFromMs(overflow.startMs) : intervalStartNano;
        flows.push(this.#flow({ [OTEL_METRIC_OVERFLOW]: true }, start, endNano, overflow.counters, 0, overflow.costZeptoUsd));
      }
      overflow.live = keep && cumulative;
      overflow.touched = false;
    }

    if (!cumulative) {
      // Delta: the groups stay for the next interval (the same pod pairs talk interval after
      // interval: no new slot values, table entry or attribute map for them), with their
      // counters zeroed. Those without traffic in this interval are evicted once they are a
      // quarter of the table, and whenever the table is full (#makeRoom), so max_groups still
      // bounds the groups of one interval.
      // An interval without any traffic empties the table (keeping its dictionaries unless stale).
      if (evicted === table.size) table.clear();
      else if (evicted * 4 > table.size || table.dictionariesStale) table.retain((g) => touched[g] === 1);
      table.resetCounters();
      this.#compacted = false;
    } else if (evicted > 0 || table.dictionariesStale) {
      table.retain((g) => touched[g] === 1 || endMs - lastSeenMs[g]! < idleMs);
    }
    touched.fill(0, 0, table.size);
    this.#intervalStartMs = endMs;

    if (flows.length === 0) return;
    const batch: FlowBatch = { flows, temporality: cumulative ? 'cumulative' : 'delta' };
    this.#sending = this.#sending.then(() => this.#next.consume(batch)).catch((error: unknown) => {
      this.#ctx.logger.error({ err: error, processor: this.#ctx.id, flows: flows.length }, 'reduce: the next stage rejected an interval');
    });
  }

  #flow(attributes: Attributes, start: bigint, end: bigint, c: Float64Array, o: number, costZeptoUsd: bigint | undefined): Flow {
    const flow: Flow = {
      startTimeUnixNano: start,
      timeUnixNano: end,
      attributes,
      txBytes: c[o + TX_BYTES]!,
      rxBytes: c[o + RX_BYTES]!,
      txPackets: c[o + TX_PACKETS]!,
      rxPackets: c[o + RX_PACKETS]!,
      connections: c[o + CONNECTIONS]!,
    };
    if (costZeptoUsd !== undefined) flow.costZeptoUsd = costZeptoUsd;
    return flow;
  }
}
