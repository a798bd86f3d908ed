// The packet receiver's configuration: every key, its default and its bounds.
import { z } from 'zod';
import { durationMs, sizeBytes } from '../../config/units.ts';
import { cidrSchema, LOOPBACK_CIDRS } from '../../model/cidr.ts';

export const DEFAULT_INTERVAL_MS = 5_000;
export const DEFAULT_INTERFACE = 'cni0';
/** The kernel program's jump offsets are 8-bit: this many ports keep every jump in range. */
export const MAX_FILTER_PORTS = 48;

export type PacketFilter = 'tcp' | 'udp' | 'all' | number[];

/** `tcp`, `udp`, `all` or a list of ports, with a message that says which. */
const filterSchema = z.union([z.string(), z.array(z.unknown())]).transform((value, ctx): PacketFilter => {
  if (typeof value === 'string') {
    if (value === 'tcp' || value === 'udp' || value === 'all') return value;
    ctx.addIssue({ code: 'custom', message: `"${value}" is not tcp, udp, all or a list of ports` });
    return z.NEVER;
  }
  if (value.length === 0) ctx.addIssue({ code: 'custom', message: 'a port list needs at least one port' });
  if (value.length > MAX_FILTER_PORTS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_FILTER_PORTS} ports, not ${value.length}` });
  value.forEach((p, i) => {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65_535) {
      ctx.addIssue({ code: 'custom', path: [i], message: `${JSON.stringify(p)} is not a port (a whole number 1-65535)` });
    }
  });
  return value as number[];
});

export const packetConfigSchema = z.strictObject({
  /** The interface to capture on (a bridge such as cni0, a veth, eth0), or `any` for all. */
  interface: z.string().min(1, 'interface cannot be empty').max(15, 'interface names are at most 15 characters').default(DEFAULT_INTERFACE),
  /** tcp (default), udp, all (every IP protocol), or a list of ports (TCP and UDP, either end). */
  filter: filterSchema.default('tcp'),
  /** How often the aggregated flows are emitted (deltas since the previous emission). */
  interval: durationMs({ min: 100, max: 3_600_000 }).default(DEFAULT_INTERVAL_MS),
  /** A network namespace file (e.g. /proc/1/ns/net, /run/netns/x); unset: podflow's own. */
  netns: z.string().min(1, 'netns cannot be empty (leave it out for the own namespace)').optional(),
  /** Memory of the kernel ring the packets wait in between reads (1 MiB blocks). */
  ring_size: sizeBytes({ min: 2 * 1024 * 1024, max: 1024 * 1024 * 1024 }).default(16 * 1024 * 1024),
  /** Connections whose orientation is remembered; past it, new ones are oriented by port alone. */
  max_connections: z.number().int().min(1).max(16_777_216).default(262_144),
  /** A connection without packets for this long is forgotten (a later packet starts a new one). */
  idle_timeout: durationMs({ min: 1_000, max: 86_400_000 }).default(120_000),
  /** Packets whose source or destination is in one of these ranges are not reported. */
  exclude_cidrs: z.array(cidrSchema).default([...LOOPBACK_CIDRS]),
});

export type PacketConfig = z.infer<typeof packetConfigSchema>;

/** The filter as the native core takes it: `tcp`, `udp`, `all` or `80,443`. */
export function nativeFilter(filter: PacketConfig['filter']): string {
  return typeof filter === 'string' ? filter : filter.join(',');
}
