// The cilium receiver's configuration: every key, its default and its bounds.
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { cidrSchema, LOOPBACK_CIDRS } from '../../model/cidr.ts';

export const DEFAULT_BPFFS = '/sys/fs/bpf';
export const DEFAULT_MAPS: readonly string[] = ['cilium_ct4_global', 'cilium_ct_any4_global', 'cilium_ct6_global', 'cilium_ct_any6_global'];
export const DEFAULT_INTERVAL_MS = 5_000;

// A map name (pinned at <bpffs>/tc/globals/<name>) or an absolute path; the address family
// (and so the key size, 14 or 38 bytes) is read from the name, as Cilium names its maps.
const mapName = z
  .string()
  .min(1)
  .refine((s) => s.startsWith('/') || !s.includes('/'), 'a map name (cilium_ct4_global) or an absolute path')
  .refine((s) => /(ct|any|tcp)[46]/.test(s.slice(s.lastIndexOf('/') + 1)), 'the name must tell the family: ct4/any4/tcp4 or ct6/any6/tcp6, as Cilium names its CT maps');

export const ciliumConfigSchema = z.strictObject({
  /** Cilium's BPF filesystem root (its --bpf-root); maps are pinned under <bpffs>/tc/globals/. */
  bpffs: z.string().startsWith('/', 'bpffs must be an absolute path').default(DEFAULT_BPFFS),
  /** The CT maps read each interval; a missing map is a warning as long as one is there. */
  maps: z.array(mapName).min(1).default([...DEFAULT_MAPS]),
  /** Value layout: v1.15 (rx/tx pairs, Cilium ≤ 1.15), v1.16 (one combined pair, 1.16–1.18), auto. */
  layout: z.enum(['auto', 'v1.15', 'v1.16']).default('auto'),
  /** The clock Cilium writes `lifetime` in: ktime (default) or jiffies (--enable-bpf-clock-probe). */
  clock_source: z.enum(['ktime', 'jiffies']).default('ktime'),
  /** How often the maps are read; each read emits the deltas since the previous one. */
  interval: durationMs({ min: 100, max: 3_600_000 }).default(DEFAULT_INTERVAL_MS),
  /** baseline: what is in the maps at start-up is history (not reported); count: report it. */
  startup: z.enum(['baseline', 'count']).default('baseline'),
  /** auto: BPF_MAP_LOOKUP_BATCH, key by key on kernels without it (< 5.6); or force one. */
  read_method: z.enum(['auto', 'batch', 'key_by_key']).default('auto'),
  /**
   * Batch reads: threads reading one map's bucket ranges at once. auto: the CPUs there are, at
   * most 4, and one per 32,768 buckets (maps under 65,536 entries are read on one thread).
   */
  read_threads: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default('auto'),
  /** Flows whose source or destination is in one of these ranges are not reported. */
  exclude_cidrs: z.array(cidrSchema).default([...LOOPBACK_CIDRS]),
});

export type CiliumConfig = z.infer<typeof ciliumConfigSchema>;
