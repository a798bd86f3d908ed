import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { exporterHelperKeys, replacedBy } from '../shared/exporter-helper.ts';
import { postgresConnectionKeys } from '../shared/postgres-connection.ts';

const DAY_MS = 86_400_000;

function retentionMs(name: string, defaultMs: number) {
  return durationMs({ min: 0 })
    .refine((ms) => ms === 0 || ms >= 3_600_000, `${name}${name ? ' ' : ''}retention must be 0 (keep everything) or at least 1h`)
    .default(defaultMs);
}

export const postgresConfigSchema = z.strictObject({
  ...postgresConnectionKeys,
  batch: z
    .strictObject({
      /** Rows per request (one COPY): a request is sent once it has this many rows... */
      max_rows: z.number().int().min(1).max(1_000_000).default(10_000),
      /** ...or once its first row has waited this long. */
      flush_interval: durationMs({ min: 1, max: 3_600_000 }).default(1_000),
    })
    .prefault({}),
  /**
   * Raw rows: daily partitions wholly older than this are dropped, once rolled up; 0 keeps
   * everything. The tiers keep their own (rollup.retention).
   */
  retention: retentionMs('', 2 * DAY_MS),
  rollup: z
    .strictObject({
      /** Whether this exporter may run the rollup job (one exporter per database runs it, chosen by a lock). */
      enabled: z.boolean().default(true),
      /** How often the one running it rolls new raw rows into the tiers; the others try to take over as often. */
      interval: durationMs({ min: 100, max: 3_600_000 }).default(15_000),
      /** Per tier: partitions wholly older than this are dropped; 0 keeps everything. */
      retention: z
        .strictObject({
          minute: retentionMs('minute', 14 * DAY_MS),
          hour: retentionMs('hour', 90 * DAY_MS),
          day: retentionMs('day', 730 * DAY_MS),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * The exporter queue. A request is up to batch.max_rows rows, written in one transaction.
   * `sending_queue.num_consumers` requests are written at once, each on a connection of its own:
   * more than one lets the server parse one COPY on a core while another commits or waits for
   * its data. Retries never give up by default (max_elapsed_time 0): the queue bound is what
   * limits memory. `timeout` bounds one write (partitions, COPY, COMMIT).
   */
  ...exporterHelperKeys({ queue_size: 20, num_consumers: 1, max_num_consumers: 16, timeout: 120_000, max_elapsed_time: 0, file_storage: true }),
  queue_size: replacedBy('sending_queue.queue_size'),
  writers: replacedBy('sending_queue.num_consumers', 'each consumer writes on a connection of its own'),
  flush_timeout: replacedBy('service.shutdown_timeout', 'the runtime drains every exporter queue within it'),
});

export type PostgresConfig = z.output<typeof postgresConfigSchema>;
