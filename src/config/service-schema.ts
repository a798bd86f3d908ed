// The top of config.yaml: the sections and `service`. Component bodies are checked by their
// factories' own schemas (see load.ts).
import { z } from 'zod';
import { durationMs } from './units.ts';

const componentList = z.array(z.string()).default([]);

export const pipelineSchema = z.strictObject({
  receivers: componentList,
  processors: componentList,
  exporters: componentList,
});

const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8888 (port 0 picks a free one)');

export const serviceSchema = z.strictObject({
  pipelines: z.record(z.string(), pipelineSchema),
  telemetry: z
    .strictObject({
      logs: z
        .strictObject({
          level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
          /** console | json; unset: console when stderr is a terminal, else json (telemetry/logger.ts). */
          encoding: z.enum(['console', 'json']).optional(),
        })
        .prefault({}),
      metrics: z
        .strictObject({
          /** Where /metrics, /healthz and /readyz are served; empty string turns it off. */
          address: z.union([listenAddress, z.literal('')]).default('127.0.0.1:8888'),
        })
        .prefault({}),
    })
    .prefault({}),
  /** How long shutdown may take to drain in-flight batches before it gives up. */
  shutdown_timeout: durationMs({ min: 0 }).default(10_000),
  /** Who is reporting: attributes every exporter may add as its resource. */
  resource: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
});

export type ServiceSettings = z.output<typeof serviceSchema>;
export type PipelineSettings = z.output<typeof pipelineSchema>;

const section = z.record(z.string(), z.unknown()).nullish();

export const topLevelSchema = z.strictObject({
  receivers: section,
  processors: section,
  exporters: section,
  service: z.unknown().optional(),
});

export const SECTION_KINDS = {
  receivers: 'receiver',
  processors: 'processor',
  exporters: 'exporter',
} as const;
export type Section = keyof typeof SECTION_KINDS;
