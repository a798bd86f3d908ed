import { z } from 'zod';

export const debugConfigSchema = z.strictObject({
  /** `basic`: one summary line per batch; `detailed`: a table row per flow. */
  verbosity: z.enum(['basic', 'detailed']).default('basic'),
  /** At most this many rows per batch in `detailed` mode (the rest are counted). */
  max_rows: z.number().int().min(1).default(50),
});

export type DebugConfig = z.output<typeof debugConfigSchema>;
