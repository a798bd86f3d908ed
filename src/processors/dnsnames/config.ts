// The dnsnames processor's configuration: every key, its default and its bounds.
import { z } from 'zod';
import { durationMs, sizeBytes } from '../../config/units.ts';
import { cidrSchema } from '../../model/cidr.ts';

export const dnsnamesConfigSchema = z.strictObject({
  /** Where DNS responses are captured: an interface name, or `any` for every interface. */
  interface: z.string().min(1, 'interface cannot be empty').max(15, 'interface names are at most 15 characters').default('any'),
  /** A network namespace file (e.g. /proc/1/ns/net); unset: podflow's own. */
  netns: z.string().min(1, 'netns cannot be empty (leave it out for the own namespace)').optional(),
  /** Most addresses remembered; past it, the entry closest to expiry is evicted. */
  max_entries: z.number().int().min(1).max(10_000_000).default(65_536),
  /** A name is kept at least this long, even when its TTL is shorter. */
  ttl_floor: durationMs({ min: 0, max: 86_400_000 }).default(120_000),
  /** Memory of the kernel ring DNS responses wait in (1 MiB blocks). */
  ring_size: sizeBytes({ min: 2 * 1024 * 1024, max: 256 * 1024 * 1024 }).default(4 * 1024 * 1024),
  /** Name only external (public) destinations; false: every destination with a known name. */
  only_public: z.boolean().default(true),
  /** Pod and service ranges: never public, even when routable (as in k8sattributes/reduce). */
  cluster_cidrs: z.array(cidrSchema).default([]),
});

export type DnsnamesConfig = z.infer<typeof dnsnamesConfigSchema>;
