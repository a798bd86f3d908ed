// Every component type podflow knows. Adding a component: a folder under receivers/, processors/
// or exporters/ with its factory in index.ts, and its line here.
import type { AnyFactory } from './contracts/component.ts';
import { reduceFactory } from './processors/reduce/index.ts';
import { filterFactory } from './processors/filter/index.ts';
import { conntrackReceiverFactory } from './receivers/conntrack/index.ts';
import { packetReceiverFactory } from './receivers/packet/index.ts';
import { ciliumReceiverFactory } from './receivers/cilium/index.ts';
import { otlpReceiverFactory } from './receivers/otlp/index.ts';
import { k8sattributesFactory } from './processors/k8sattributes/index.ts';
import { dnsnamesFactory } from './processors/dnsnames/index.ts';
import { netcostFactory } from './processors/netcost/index.ts';
import { otlpExporterFactory } from './exporters/otlp/index.ts';
import { loadbalancingExporterFactory } from './exporters/loadbalancing/index.ts';
import { prometheusExporterFactory } from './exporters/prometheus/index.ts';
import { prometheusRemoteWriteExporterFactory } from './exporters/prometheus_remote_write/index.ts';
import { debugExporterFactory } from './exporters/debug/index.ts';
import { fileExporterFactory } from './exporters/file/index.ts';
import { postgresExporterFactory } from './exporters/postgres/index.ts';
import { servicemapExporterFactory } from './exporters/servicemap/index.ts';

export const FACTORIES: readonly AnyFactory[] = [
  conntrackReceiverFactory,
  packetReceiverFactory,
  ciliumReceiverFactory,
  otlpReceiverFactory,
  reduceFactory,
  filterFactory,
  k8sattributesFactory,
  dnsnamesFactory,
  netcostFactory,
  otlpExporterFactory,
  loadbalancingExporterFactory,
  prometheusExporterFactory,
  prometheusRemoteWriteExporterFactory,
  debugExporterFactory,
  fileExporterFactory,
  postgresExporterFactory,
  servicemapExporterFactory,
];
