import { z } from 'zod';

export const fileConfigSchema = z.strictObject({
  /** File to append to; created with its directory if missing. */
  path: z.string().min(1),
  rotation: z
    .strictObject({
      /** Rotate once the file reaches this size. 0 turns rotation off. */
      max_megabytes: z.number().min(0).default(100),
      /** Rotated files to keep: `<path>.1` (newest) … `<path>.N`. */
      max_backups: z.number().int().min(0).max(1000).default(3),
    })
    .prefault({}),
});

export type FileConfig = z.output<typeof fileConfigSchema>;
