// podflow's own metrics, modelled on the Collector's otelcol_receiver_accepted_* /
// otelcol_exporter_sent_* families, in Prometheus form.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

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
  readonly exporterSent = new Counter({
    name: 'podflow_exporter_sent_flows_total',
    help: 'Flow records an exporter delivered.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterSendFailed = new Counter({
    name: 'podflow_exporter_send_failed_flows_total',
    help: 'Flow records an exporter failed to deliver (error or timeout).',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterEnqueueFailed = new Counter({
    name: 'podflow_exporter_enqueue_failed_flows_total',
    help: 'Flow records dropped because the exporter queue was full (oldest batch first).',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterQueueSize = new Gauge({
    name: 'podflow_exporter_queue_size',
    help: 'Batches waiting in the exporter queue.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });
  readonly exporterQueueCapacity = new Gauge({
    name: 'podflow_exporter_queue_capacity',
    help: 'Capacity of the exporter queue, in batches.',
    labelNames: ['exporter'],
    registers: [this.registry],
  });

  constructor() {
    // podflow_process_cpu_seconds_total, podflow_process_resident_memory_bytes, ...
    collectDefaultMetrics({ register: this.registry, prefix: 'podflow_' });
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
