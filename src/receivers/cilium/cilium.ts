// Reads Cilium's eBPF conntrack maps every interval through the Rust core and emits the
// per-flow deltas. The map reads (bpf(2)), decoding, delta tracking and pre-aggregation run in
// Rust off the JS thread (crates/flowsource/src/bpf); this side turns the packed records into
// Flows (the same decoder as the conntrack receiver) and owns the schedule and the logging.
import type { CiliumStatus, TickStats } from '../../native/index.ts';
import { type Clock, systemClock } from '../../contracts/clock.ts';
import type { ComponentContext, ComponentEndpoints, FlowConsumer, Receiver } from '../../contracts/component.ts';
import { describeCapabilities, explainBpfRefusal, readProcessPrivileges } from '../shared/capabilities.ts';
import { NativeReadLoop } from '../shared/native-read-loop.ts';
import { receiverMetrics } from '../shared/receiver-metrics.ts';
import type { CiliumConfig } from './config.ts';

export class CiliumReceiver implements Receiver {
  readonly #ctx: ComponentContext;
  readonly #config: CiliumConfig;
  readonly #loop: NativeReadLoop<'cilium'>;
  /** Warnings already logged (each once per distinct text). */
  readonly #warned = new Set<string>();
  #layoutLogged: string | null = null;
  readonly #metrics;

  constructor(ctx: ComponentContext, config: CiliumConfig, next: FlowConsumer, clock: Clock = systemClock) {
    this.#ctx = ctx;
    this.#config = config;
    const { gauge, counter } = receiverMetrics(ctx.metrics);
    this.#metrics = {
      entries: gauge('podflow_cilium_entries', 'CT map entries read in the last tick (all maps)'),
      tracked: gauge('podflow_cilium_tracked_connections', 'Connections whose counters are remembered between ticks'),
      readSeconds: gauge('podflow_cilium_read_seconds', 'Duration of the last read (bpf lookups + decode + delta)'),
      service: gauge('podflow_cilium_service_entries', 'SERVICE entries in the last tick (used for VIPs, never counted)'),
      expired: gauge('podflow_cilium_expired_entries', 'Entries past their lifetime that Cilium has not collected yet'),
      skipped: counter('podflow_cilium_skipped_entries_total', 'Entries without a protocol (nexthdr 0), skipped as Cilium does'),
    };
    this.#loop = new NativeReadLoop({
      ctx,
      next,
      type: 'cilium',
      intervalMs: config.interval,
      clock,
      onBatch: (stats) => this.#record(stats),
      readingWhat: 'cilium: reading the conntrack maps',
      idleHints: (last) => this.#idleHints(last),
    });
  }

  async start(): Promise<void> {
    const c = this.#config;
    try {
      this.#loop.open({
        bpffs: c.bpffs,
        maps: c.maps,
        layout: c.layout,
        clockSource: c.clock_source,
        startup: c.startup,
        excludeCidrs: c.exclude_cidrs,
        readMethod: c.read_method,
        readThreads: c.read_threads === 'auto' ? 0 : c.read_threads,
      });
    } catch (err) {
      // EPERM with CAP_BPF effective: seccomp (or an LSM), and the error says so.
      throw explainBpfRefusal(err, readProcessPrivileges());
    }
    // The first tick records the baseline (or, with startup: count, reports the maps).
    await this.#loop.tickNow();
    const status = this.status();
    this.#ctx.logger.info(
      {
        bpffs: c.bpffs,
        maps: status?.maps.filter((m) => m.present).map((m) => ({ path: m.path, maxEntries: m.maxEntries, method: m.method })),
        layout: status?.layout,
        layoutDecidedBy: status?.layoutDecidedBy,
        intervalMs: c.interval,
      },
      'cilium receiver started',
    );
    this.#loop.start();
  }

  /** The Rust source's view: maps, layout decision, last tick's counts. */
  status(): CiliumStatus | undefined {
    return this.#loop.status();
  }

  endpoints(): ComponentEndpoints {
    const present = this.status()?.maps.filter((m) => m.present).map((m) => m.path) ?? [];
    return { readsFrom: present.length > 0 ? present : [`the CT maps under ${this.#config.bpffs}`] };
  }

  /** What a person checks when a minute brought no flow: the map paths, the layout, permissions. */
  #idleHints(last: TickStats | undefined): string[] {
    const status = this.status();
    // The core's reason for a missing map starts with its path (`<path>: no such pinned map (…)`).
    const maps = status?.maps.map((m) => (m.present ? `${m.path} (${m.entries} entries)` : (m.missing ?? `${m.path}: missing`))) ?? [];
    return [
      `the map paths under bpffs ${this.#config.bpffs}: ${maps.length > 0 ? maps.join(', ') : 'none opened'}`,
      last === undefined ? 'no read of the maps has succeeded' : `${last.entries} entries at the last read`,
      status?.layout === null ? 'the CT layout is still undecided (set `layout` to the Cilium version)' : `CT layout ${status?.layout ?? 'unknown'} (Cilium ≥ 1.16 counts bytes only with --bpf-conntrack-accounting)`,
      `permissions: ${describeCapabilities(['CAP_BPF', 'CAP_SYS_ADMIN'])}`,
    ];
  }

  #warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#ctx.logger.warn(fields, message);
  }

  #record(stats: TickStats): void {
    const labels = { receiver: this.#ctx.id };
    const layout = stats.ctLayout;
    const m = this.#metrics;
    m.entries.set(labels, stats.entries);
    m.tracked.set(labels, stats.tracked);
    m.readSeconds.set(labels, stats.readSeconds);
    m.skipped.inc(labels, stats.skipped);
    const status = this.status();
    if (!status) return;
    m.service.set(labels, status.last.service);
    m.expired.set(labels, status.last.expired);
    for (const map of status.maps) {
      if (map.missing) this.#warnOnce(`missing:${map.path}`, { path: map.path }, `cilium: ${map.missing}; reading the other maps`);
      if (map.method === 'key_by_key' && this.#config.read_method === 'auto') {
        this.#warnOnce('key_by_key', { path: map.path }, 'cilium: the kernel refuses BPF_MAP_LOOKUP_BATCH (< 5.6?): reading key by key, which is several times slower');
      }
    }
    if (stats.incomplete) {
      this.#warnOnce('capped', {}, 'cilium: a key-by-key walk restarted too often and stopped at 4 × max_entries; some entries may be missing this tick');
    }
    if (layout === null) {
      this.#warnOnce(
        'undecided',
        { evidence: status.evidence },
        'cilium: layout auto cannot tell v1.15 from v1.16 yet (no entry with counters in both directions); nothing is reported until it can. Set `layout` to the Cilium version to skip the wait',
      );
    } else if (this.#layoutLogged !== layout) {
      this.#layoutLogged = layout;
      this.#ctx.logger.info({ layout, decidedBy: status.layoutDecidedBy, evidence: status.evidence }, 'cilium: CT value layout');
    }
    const flowEntries = status.last.entries - status.last.service - status.last.related - status.last.noProtocol;
    if (layout === 'v1.16' && flowEntries > 0 && status.last.withCounters === 0) {
      this.#warnOnce(
        'no-accounting',
        { entries: flowEntries },
        'cilium: every CT counter is zero: Cilium ≥ 1.16 counts bytes and packets only with --bpf-conntrack-accounting (Helm bpf.ctAccounting=true)',
      );
    }
  }

  async shutdown(): Promise<void> {
    // A last read, so what was counted since the previous interval is not lost.
    await this.#loop.close();
  }
}
