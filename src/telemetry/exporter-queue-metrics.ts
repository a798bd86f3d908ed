// The metric families of an exporter queue, in a registry: the service's own (SelfMetrics), or the
// one a component is given, where an exporter that runs queues of its own (loadbalancing: one per
// gateway) finds the same families.
import type { Registry } from 'prom-client';
import { sharedCounter, sharedGauge } from './shared-metrics.ts';

export function exporterQueueMetrics(registry: Registry) {
  const labels = ['exporter'] as const;
  return {
    exporterSent: sharedCounter(registry, 'podflow_exporter_sent_flows_total', 'Flow records an exporter delivered.', labels),
    exporterSendFailed: sharedCounter(registry, 'podflow_exporter_send_failed_flows_total', 'Flow records an exporter failed to deliver: permanent error, retries given up, refused, queue full, shutdown deadline.', labels),
    exporterEnqueueFailed: sharedCounter(registry, 'podflow_exporter_enqueue_failed_flows_total', 'Flow records dropped because the exporter queue was full (oldest request first); also counted as send failed.', labels),
    exporterQueueSize: sharedGauge(registry, 'podflow_exporter_queue_size', 'Requests waiting in the exporter queue.', labels),
    exporterQueueCapacity: sharedGauge(registry, 'podflow_exporter_queue_capacity', 'Capacity of the exporter queue, in requests (sending_queue.queue_size; 0 without a queue).', labels),
    exporterRetries: sharedCounter(registry, 'podflow_exporter_retries_total', 'Requests an exporter sent again after a retryable failure.', labels),
  };
}

export type ExporterQueueMetrics = ReturnType<typeof exporterQueueMetrics>;
