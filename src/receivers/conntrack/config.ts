// The conntrack receiver's configuration: every key, its default and its bounds.
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { cidrSchema, LOOPBACK_CIDRS } from '../../model/cidr.ts';

export const DEFAULT_INTERVAL_MS = 5_000;

export const conntrackConfigSchema = z.strictObject({
  /** How often the table is read; each read emits the deltas since the previous one. */
  interval: durationMs({ min: 100, max: 3_600_000 }).default(DEFAULT_INTERVAL_MS),
  /** netlink: ctnetlink dump; procfs: /proc/net/nf_conntrack; auto: netlink, else procfs. */
  source: z.enum(['auto', 'netlink', 'procfs']).default('auto'),
  /** A network namespace file (e.g. /proc/1/ns/net, /run/netns/x); unset: podflow's own. */
  netns: z.string().min(1, 'netns cannot be empty (leave it out for the own namespace)').optional(),
  /** Subscribe to conntrack destroy events so connections ending between reads count fully. */
  destroy_events: z.boolean().default(true),
  /** baseline: what is in the table at start-up is history (not reported); count: report it. */
  startup: z.enum(['baseline', 'count']).default('baseline'),
  /** Set net.netfilter.nf_conntrack_acct=1 when it is 0 (a failure, or false, warns that counters are zero). */
  enable_accounting: z.boolean().default(true),
  /** Connections whose source or destination is in one of these ranges are not reported. */
  exclude_cidrs: z.array(cidrSchema).default([...LOOPBACK_CIDRS]),
});

export type ConntrackConfig = z.infer<typeof conntrackConfigSchema>;
