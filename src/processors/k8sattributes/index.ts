// The k8sattributes factory (see README.md).
import type { ProcessorFactory } from '../../contracts/component.ts';
import { k8sattributesConfigSchema, type K8sAttributesConfig } from './config.ts';

export const k8sattributesFactory: ProcessorFactory<K8sAttributesConfig> = {
  kind: 'processor',
  type: 'k8sattributes',
  description: 'Kubernetes identity (pod, workload, node, zone, service) for both ends of every flow; report-once per node',
  configSchema: k8sattributesConfigSchema,
  // Loads the Kubernetes client only when a config uses this processor.
  create: async (ctx, config, next) => new (await import('./processor.ts')).K8sAttributesProcessor(ctx, config, next),
};

export type { K8sAttributesConfig } from './config.ts';
