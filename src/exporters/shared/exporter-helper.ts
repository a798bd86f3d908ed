// The config keys of the exporter queue, as the OpenTelemetry Collector's exporterhelper spells
// them: `sending_queue`, `retry_on_failure`, `timeout`. Every exporter that sends over a network
// spreads `exporterHelperKeys(...)` into its schema; the runtime queue reads them through the
// factory's `queueSettings` (docs/exporter-helper.md).
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import type { ExporterQueueSettings } from '../../contracts/component.ts';

/** What differs between exporters: the defaults (and the most consumers that make sense). */
export interface ExporterHelperDefaults {
  queue_size: number;
  num_consumers: number;
  max_num_consumers: number;
  /** ms */
  timeout: number;
  /** ms; 0: never give up. */
  max_elapsed_time: number;
  /**
   * Whether `sending_queue.storage: file` is offered: only exporters with a `requestCodec` whose
   * requests are recognised by the backend when sent again (postgres: batch ids).
   */
  file_storage?: boolean;
}

const RETRY_DEFAULTS = { enabled: true, initial_interval: 1_000, max_interval: 30_000, multiplier: 1.5 };

/** `sending_queue`, `retry_on_failure` and `timeout`, to spread into an exporter's strict schema. */
export function exporterHelperKeys(defaults: ExporterHelperDefaults) {
  const queueKeys = {
    /** false: no queue; the pipeline waits while each batch is sent and retried. */
    enabled: z.boolean().default(true),
    /** Requests sent at once. */
    num_consumers: z.number().int().min(1).max(defaults.max_num_consumers).default(defaults.num_consumers),
    /** Requests that may wait; past it the oldest waiting one is dropped and counted. */
    queue_size: z.number().int().min(1).max(100_000).default(defaults.queue_size),
  };
  const sendingQueue = z
    .strictObject({
      ...queueKeys,
      /** `file`: waiting requests are also kept in `directory` and survive a restart. Absent: memory. */
      storage: z.enum(['memory', 'file']).optional(),
      /** Where `storage: file` keeps its log, one file per exporter (a volume of its own). */
      directory: z.string().min(1).optional(),
    })
    .superRefine((q, ctx) => {
      const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
      if (q.storage === 'file' && !defaults.file_storage) {
        issue('storage', 'this exporter keeps its queue in memory only; storage: file is offered where a request sent again after a restart is recognised (postgres)');
        return;
      }
      if (q.storage === 'file' && q.directory === undefined) issue('directory', 'storage: file needs a directory');
      if (q.storage !== 'file' && q.directory !== undefined) issue('directory', 'directory is only used with storage: file');
      if (q.storage === 'file' && !q.enabled) issue('storage', 'storage: file needs the queue (enabled: true)');
    });
  return {
    sending_queue: sendingQueue.prefault({}),
    retry_on_failure: z
      .strictObject({
        enabled: z.boolean().default(RETRY_DEFAULTS.enabled),
        /** Wait after the first failed attempt. */
        initial_interval: durationMs({ min: 1 }).default(RETRY_DEFAULTS.initial_interval),
        /** Longest wait between two attempts. */
        max_interval: durationMs({ min: 1 }).default(RETRY_DEFAULTS.max_interval),
        /** Growth of the wait per failed attempt. */
        multiplier: z.number().min(1).max(10).default(RETRY_DEFAULTS.multiplier),
        /** Give a request up after this long since its first attempt; 0 never gives up. */
        max_elapsed_time: durationMs({ min: 0 }).default(defaults.max_elapsed_time),
      })
      .refine((r) => r.max_interval >= r.initial_interval, { message: 'max_interval must be at least initial_interval' })
      .prefault({}),
    /** One attempt's deadline. */
    timeout: durationMs({ min: 1 }).default(defaults.timeout),
  };
}

/** The runtime queue's settings out of an exporter config that has the keys above. */
export function queueSettingsOf(config: ExporterQueueSettings): ExporterQueueSettings {
  return { sending_queue: config.sending_queue, retry_on_failure: config.retry_on_failure, timeout: config.timeout };
}

/**
 * A key that no longer exists: present, it is refused with a message naming what replaced it
 * (placed on the old key, with its line:column, like every config error).
 */
export function replacedBy(newKey: string, note = '') {
  return z.never({ error: `no longer a key: use ${newKey}${note ? ` (${note})` : ''}` }).optional();
}
