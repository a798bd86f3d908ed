// Which capabilities podflow holds now, from the kernel's own account (/proc/self/status CapEff),
// for the hints a quiet receiver logs (a missing CAP_NET_ADMIN reads nothing rather than failing
// in some set-ups, e.g. a netns the process cannot enter).
import { readFileSync } from 'node:fs';

/** Bit numbers from linux/capability.h. */
const CAPABILITY_BITS = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;

export type CapabilityName = keyof typeof CAPABILITY_BITS;

/** The effective set as a bit mask, or undefined when /proc/self/status cannot be read. */
export function effectiveCapabilityMask(statusText?: string): bigint | undefined {
  let text = statusText;
  try {
    text ??= readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** `CAP_NET_ADMIN held`, `CAP_BPF missing`, ... for each name (one phrase). */
export function describeCapabilities(names: readonly CapabilityName[], mask = effectiveCapabilityMask()): string {
  if (mask === undefined) return `${names.join(', ')}: unknown (/proc/self/status unreadable)`;
  return names.map((n) => `${n} ${(mask >> BigInt(CAPABILITY_BITS[n])) & 1n ? 'held' : 'missing'}`).join(', ');
}
