// Reads the kernel's conntrack table every interval through the Rust core and emits the
// per-flow deltas. The dump, decoding, delta tracking and pre-aggregation run in Rust off the
// JS thread (the source and its schedule: ../shared/native-read-loop.ts); this side opens it
// with the receiver's options and keeps its metrics and logs.
import { conntrackAccounting, type TickStats } from '../../native/index.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, ComponentEndpoints, FlowConsumer, Receiver } from '../../contracts/component.ts';
import { describeCapabilities } from '../shared/capabilities.ts';
import { NativeReadLoop } from '../shared/native-read-loop.ts';
import { receiverMetrics } from '../shared/receiver-metrics.ts';
import type { ConntrackConfig } from './config.ts';

export class ConntrackReceiver implements Receiver {
  readonly #ctx: ComponentContext;
  readonly #config: ConntrackConfig;
  readonly #loop: NativeReadLoop<'conntrack'>;
  #fallbackLogged = false;
  readonly #metrics;

  constructor(ctx: ComponentContext, config: ConntrackConfig, next: FlowConsumer, clock: Clock = systemClock) {
    this.#ctx = ctx;
    this.#config = config;
    const { gauge, counter } = receiverMetrics(ctx.metrics);
    this.#metrics = {
      entries: gauge('podflow_conntrack_entries', 'Conntrack entries read in the last tick'),
      tracked: gauge('podflow_conntrack_tracked_connections', 'Connections whose counters are remembered between ticks'),
      dumpSeconds: gauge('podflow_conntrack_dump_seconds', 'Duration of the last table read (dump + decode + delta)'),
      restarts: counter('podflow_conntrack_dump_restarts_total', 'Dumps restarted after ENOBUFS or NLM_F_DUMP_INTR'),
      destroyEvents: counter('podflow_conntrack_destroy_events_total', 'Destroy events applied'),
      overruns: counter('podflow_conntrack_event_overruns_total', 'Times destroy events were lost to a full socket queue (ENOBUFS)'),
      skipped: counter('podflow_conntrack_skipped_messages_total', 'Conntrack messages or lines that could not be decoded'),
    };
    this.#loop = new NativeReadLoop({
      ctx,
      next,
      type: 'conntrack',
      intervalMs: config.interval,
      clock,
      onBatch: (stats) => this.#record(stats),
      readingWhat: 'conntrack: reading the table',
      idleHints: (last) => this.#idleHints(last),
    });
  }

  async start(): Promise<void> {
    const c = this.#config;
    const netns = c.netns ?? null;
    this.#checkAccounting(netns);
    this.#loop.open({
      netns,
      source: c.source,
      destroyEvents: c.destroy_events,
      startup: c.startup,
      excludeCidrs: c.exclude_cidrs,
    });
    // The first tick records the baseline (or, with startup: count, reports the table).
    await this.#loop.tickNow();
    const status = this.#loop.status();
    this.#ctx.logger.info(
      { source: status?.source, destroyEvents: status?.destroyEvents, netns, intervalMs: this.#config.interval },
      'conntrack receiver started',
    );
    this.#loop.start();
  }

  endpoints(): ComponentEndpoints {
    const netns = this.#config.netns ?? "podflow's own network namespace";
    return { readsFrom: [`the conntrack table (${this.#loop.status()?.source ?? this.#config.source}) of ${netns}`] };
  }

  /** What a person checks when a minute brought no flow: accounting, the table, permissions. */
  #idleHints(last: TickStats | undefined): string[] {
    const netns = this.#config.netns ?? null;
    let accounting: string;
    try {
      accounting = conntrackAccounting(netns, false) ? '1' : '0, so every byte and packet counter stays zero (set it to 1, or enable_accounting: true)';
    } catch (e) {
      accounting = `unreadable (${(e as Error).message})`;
    }
    return [
      `net.netfilter.nf_conntrack_acct is ${accounting}`,
      last === undefined
        ? 'no read of the table has succeeded'
        : `the table had ${last.entries} entries at the last read${last.entries === 0 ? ' (is conntrack in use in this network namespace? it needs a netfilter rule or NAT that uses it)' : ''}`,
      `permissions: ${describeCapabilities(netns ? ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'] : ['CAP_NET_ADMIN'])}`,
      `network namespace ${netns ?? "podflow's own"}`,
    ];
  }

  #checkAccounting(netns: string | null): void {
    const enable = this.#config.enable_accounting;
    let was: boolean;
    try {
      was = conntrackAccounting(netns, enable);
    } catch (e) {
      // Reading conntrack does not depend on it (a container's /proc/sys is read-only; the
      // Helm chart's init container sets it on the node): start, and say what it costs.
      const what = enable ? 'cannot set net.netfilter.nf_conntrack_acct=1' : 'cannot read net.netfilter.nf_conntrack_acct';
      this.#ctx.logger.warn({ netns, err: (e as Error).message }, `conntrack: ${what}: byte and packet counters stay zero while it is 0 (set it on the node: sysctl -w net.netfilter.nf_conntrack_acct=1)`);
      return;
    }
    if (was) return;
    if (enable) {
      this.#ctx.logger.info({ netns }, 'conntrack: set net.netfilter.nf_conntrack_acct=1 (was 0); connections opened before keep zero counters');
    } else {
      this.#ctx.logger.warn({ netns }, 'conntrack: net.netfilter.nf_conntrack_acct is 0 and enable_accounting is false: byte and packet counters will be zero');
    }
  }

  #record(stats: TickStats): void {
    const labels = { receiver: this.#ctx.id };
    const m = this.#metrics;
    m.entries.set(labels, stats.entries);
    m.tracked.set(labels, stats.tracked);
    m.dumpSeconds.set(labels, stats.readSeconds);
    m.restarts.inc(labels, stats.restarts);
    m.destroyEvents.inc(labels, stats.destroyEvents);
    m.overruns.inc(labels, stats.overruns);
    m.skipped.inc(labels, stats.skipped);
    if (stats.source === 'procfs' && this.#config.source === 'auto' && !this.#fallbackLogged) {
      this.#fallbackLogged = true;
      this.#ctx.logger.warn(
        { reason: this.#loop.status()?.fallbackReason },
        'conntrack: ctnetlink unavailable, reading /proc/net/nf_conntrack instead (slow on big tables; no destroy events)',
      );
    }
    if (stats.overruns > 0) {
      this.#ctx.logger.warn({ overruns: stats.overruns }, 'conntrack: destroy events lost (socket queue full); the last bytes of some connections are missing');
    }
  }

  async shutdown(): Promise<void> {
    // A last read, so what was counted since the previous interval is not lost.
    await this.#loop.close();
  }
}
