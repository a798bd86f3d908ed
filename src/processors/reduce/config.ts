// The reduce processor's configuration: every key, its default and its bounds.
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { cidrSchema } from '../../model/cidr.ts';
import {
  DESTINATION,
  DESTINATION_DOMAIN,
  DESTINATION_PORT,
  NETWORK_FLOW_COST_CLASS,
  NETWORK_FLOW_INTER_ZONE,
  NETWORK_TRANSPORT,
  SOURCE,
} from '../../model/attributes.ts';

/**
 * Workload to workload, per node, zone, port and protocol; external peers by domain name; per
 * cost class (netcost). The address types and nodes are what the shipped dashboards and the node
 * graph read (traffic leaving the cluster, the node level of the graph).
 */
export const DEFAULT_GROUP_BY: readonly string[] = [
  SOURCE.namespace,
  SOURCE.ownerName,
  SOURCE.ownerType,
  SOURCE.nodeName,
  SOURCE.zone,
  SOURCE.addressType,
  DESTINATION.namespace,
  DESTINATION.ownerName,
  DESTINATION.ownerType,
  DESTINATION.nodeName,
  DESTINATION.zone,
  DESTINATION.addressType,
  DESTINATION_PORT,
  NETWORK_TRANSPORT,
  DESTINATION_DOMAIN,
  NETWORK_FLOW_INTER_ZONE,
  NETWORK_FLOW_COST_CLASS,
];

export const DEFAULT_INTERVAL_MS = 15_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_GROUPS = 10_000;

export const reduceConfigSchema = z
  .strictObject({
    group_by: z
      .array(z.string().min(1, 'an attribute key cannot be empty'))
      .default([...DEFAULT_GROUP_BY])
      .superRefine((keys, ctx) => {
        const seen = new Set<string>();
        keys.forEach((key, i) => {
          if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `"${key}" is listed twice` });
          seen.add(key);
        });
      }),
    unidentified_addresses: z.boolean().default(true),
    interval: durationMs({ min: 100, max: 86_400_000 }).default(DEFAULT_INTERVAL_MS),
    temporality: z.enum(['delta', 'cumulative']).default('cumulative'),
    idle_timeout: durationMs({ min: 0, max: 7 * 86_400_000 }).default(DEFAULT_IDLE_TIMEOUT_MS),
    /** How a public address (either end) is shown in its group: never a made-up address. */
    public_addresses: z
      .strictObject({
        /** A public destination whose destination.domain is known is grouped by the domain; its address is left out. */
        by_domain: z.boolean().default(true),
        /** Any other public address is cut to this many bits: 32 keeps the address, 24 → 104.16.3.0/24. */
        ipv4_prefix: z.number().int().min(0).max(32).default(32),
        ipv6_prefix: z.number().int().min(0).max(128).default(128),
      })
      .prefault({}),
    /** Replaced by public_addresses: it folded every public address into a fake 0.0.0.0. */
    group_public_ips: z
      .never({ error: 'group_public_ips was replaced by public_addresses (by_domain, ipv4_prefix, ipv6_prefix): public addresses are no longer folded into 0.0.0.0; ipv4_prefix: 24 groups them by /24' })
      .optional(),
    cluster_cidrs: z.array(cidrSchema).default([]),
    max_groups: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_GROUPS),
  })
  .superRefine((config, ctx) => {
    if (config.temporality === 'cumulative' && config.idle_timeout < config.interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['idle_timeout'],
        message: `idle_timeout (${config.idle_timeout}ms) must be at least interval (${config.interval}ms)`,
      });
    }
  });

export type ReduceConfig = z.infer<typeof reduceConfigSchema>;
