// Which node is reporting: the one chain every component that names the reporting node uses
// (the postgres exporter's `node` column, ...).
import { hostname } from 'node:os';
import type { Attributes } from '../model/index.ts';

export interface ReportingNodeSources {
  /** `service.resource` (an explicit `k8s.node.name` there is configuration, so it comes first). */
  resource?: Attributes;
  /** `node_name` of the config's k8sattributes processor(s), first non-empty. */
  k8sattributesNodeName?: string;
  env?: NodeJS.ProcessEnv;
  hostname?: () => string;
}

/**
 * `service.resource["k8s.node.name"]`, else `k8sattributes.node_name`, else the `NODE_NAME`
 * environment variable (the downward API in the DaemonSet), else the host name.
 */
export function reportingNodeName(sources: ReportingNodeSources = {}): string {
  const fromResource = sources.resource?.['k8s.node.name'];
  if (typeof fromResource === 'string' && fromResource !== '') return fromResource;
  if (sources.k8sattributesNodeName) return sources.k8sattributesNodeName;
  const env = sources.env ?? process.env;
  if (env.NODE_NAME) return env.NODE_NAME;
  return (sources.hostname ?? hostname)();
}

/** The reporting node of one batch: its own resource's (a batch from an agent) when it names one, else this process's. */
export function batchReportingNode(batchResource: Attributes | undefined, own: string | undefined): string | undefined {
  const fromBatch = batchResource?.['k8s.node.name'];
  return typeof fromBatch === 'string' && fromBatch !== '' ? fromBatch : own;
}
