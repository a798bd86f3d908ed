// podflow's own metrics, modelled on the Collector's otelcol_receiver_accepted_* /
// otelcol_exporter_sent_* families, in Prometheus form.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { exporterQueueMetrics } from './exporter-queue-metrics.ts';

/**
 * prom-client's default gauges named like counters (`podflow_nodejs_active_handles_total`, ...),
 * each served under a gauge's name instead: the old name → the new one.
 */
export const RENAMED_GAUGES = ['handles', 'requests', 'resources'].map((what) => ({
  what,
  oldName: `podflow_nodejs_active_${what}_total`,
  name: `podflow_nodejs_active_${what}_all`,
}));

export class SelfMetrics {
  readonly registry = new Registry();
  readonly receiverAccepted = new Counter({
    name: 'podflow_receiver_accepted_flows_total',
    help: 'Flow records a receiver pushed into its pipelines.',
    labelNames: ['receiver'],
    registers: [this.registry],
  });
  readonly processorDropped = new Counter({
    name: 'podflow_processor_dropped_flows_total',
    help: 'Flow records a processor dropped on purpose (filtered, another node reports them).',
    labelNames: ['processor', 'pipeline'],
    registers: [this.registry],
  });
  // The exporter families are kept by the exporter queue (src/pipeline/exporter-queue.ts) for
  // every exporter alike; docs/exporter-helper.md says what each counts.
  readonly #exporterQueues = exporterQueueMetrics(this.registry);
  readonly exporterSent = this.#exporterQueues.exporterSent;
  readonly exporterSendFailed = this.#exporterQueues.exporterSendFailed;
  readonly exporterEnqueueFailed = this.#exporterQueues.exporterEnqueueFailed;
  readonly exporterQueueSize = this.#exporterQueues.exporterQueueSize;
  readonly exporterQueueCapacity = this.#exporterQueues.exporterQueueCapacity;
  readonly exporterRetries = this.#exporterQueues.exporterRetries;

  constructor() {
    // podflow_process_cpu_seconds_total, podflow_process_resident_memory_bytes, ...
    collectDefaultMetrics({ register: this.registry, prefix: 'podflow_' });
    // A gauge must not end in _total (Prometheus naming; `promtool check metrics` flags it): the
    // same values, read from prom-client's own gauge at each scrape, under a gauge's name.
    for (const { what, oldName, name } of RENAMED_GAUGES) {
      const original = this.registry.getSingleMetric(oldName);
      if (!original) continue;
      this.registry.removeSingleMetric(oldName);
      new Gauge({
        name,
        help: `Active ${what} of every type (the sum of podflow_nodejs_active_${what} over its type label).`,
        registers: [this.registry],
        async collect() {
          const { values } = await original.get();
          this.set(values[0]?.value ?? 0);
        },
      });
    }
    const startedAtMs = Date.now();
    new Gauge({
      name: 'podflow_process_uptime_seconds',
      help: 'Seconds since podflow started.',
      registers: [this.registry],
      collect() {
        this.set((Date.now() - startedAtMs) / 1000);
      },
    });
  }
}
