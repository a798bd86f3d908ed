// A receiver's self-metrics: gauges and counters labelled by receiver id, registered once per
// registry and shared by every receiver of the same type.
import type { Registry } from 'prom-client';
import { sharedCounter, sharedGauge } from '../../telemetry/shared-metrics.ts';

export function receiverMetrics(registry: Registry) {
  return {
    gauge: (name: string, help: string) => sharedGauge(registry, name, help, ['receiver']),
    counter: (name: string, help: string) => sharedCounter(registry, name, help, ['receiver']),
  };
}
