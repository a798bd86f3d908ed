// Self-metrics that several exporter instances share: registering a name twice in one
// prom-client Registry throws, so each is created once and labelled by exporter id.
import { Counter, Gauge, type Registry } from 'prom-client';

export function sharedCounter(registry: Registry, name: string, help: string): Counter<'exporter'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'exporter'>;
  return new Counter({ name, help, labelNames: ['exporter'], registers: [registry] });
}

export function sharedGauge(registry: Registry, name: string, help: string): Gauge<'exporter'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<'exporter'>;
  return new Gauge({ name, help, labelNames: ['exporter'], registers: [registry] });
}
