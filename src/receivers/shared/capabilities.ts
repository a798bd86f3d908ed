// Why the kernel refused a call, from this process's own view in /proc/self/status: its
// effective capabilities (CapEff) and whether a seccomp filter is installed (Seccomp: 2). The
// Rust core reports the errno (NativeError.code). An EPERM from bpf(2) while CAP_BPF (or
// CAP_SYS_ADMIN) is effective is not a missing capability: a seccomp filter refused the call.
// Container runtimes' default profiles allow bpf(2) only with CAP_SYS_ADMIN, so the cilium
// receiver needs the seccomp profile the project ships (deploy/seccomp/). The same account feeds
// the hints a quiet receiver logs (a missing CAP_NET_ADMIN reads nothing rather than failing in
// some set-ups, e.g. a netns the process cannot enter).
import { readFileSync } from 'node:fs';
import { NativeError } from '../../native/index.ts';

/** Capability numbers (linux/capability.h). */
const CAPABILITY_BITS = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
export type CapabilityName = keyof typeof CAPABILITY_BITS;
export const { CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF } = CAPABILITY_BITS;

export interface ProcessPrivileges {
  /** CapEff: the effective capability set, bit n = capability n. */
  effective: bigint;
  /** Seccomp: 0 none, 1 strict, 2 filter; undefined when the kernel does not say. */
  seccompMode: number | undefined;
}

/** The privileges in a /proc/<pid>/status text; undefined when it has no CapEff line. */
export function parseProcStatus(text: string): ProcessPrivileges | undefined {
  const capEff = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text)?.[1];
  if (capEff === undefined) return undefined;
  const seccomp = /^Seccomp:\s*(\d+)\s*$/m.exec(text)?.[1];
  return { effective: BigInt(`0x${capEff}`), seccompMode: seccomp === undefined ? undefined : Number(seccomp) };
}

/** This process's privileges, or undefined where /proc is not readable. */
export function readProcessPrivileges(statusPath = '/proc/self/status'): ProcessPrivileges | undefined {
  try {
    return parseProcStatus(readFileSync(statusPath, 'utf8'));
  } catch {
    return undefined;
  }
}

export function hasCapability(p: ProcessPrivileges, capability: number): boolean {
  return ((p.effective >> BigInt(capability)) & 1n) === 1n;
}

/** Where the seccomp profile that allows bpf(2) is, for the messages. */
export const BPF_SECCOMP_PROFILE = 'deploy/seccomp/podflow-cilium.json';

/**
 * The error to report for a failed bpf(2) call: when the core says EPERM although CAP_BPF or
 * CAP_SYS_ADMIN is effective, one that names seccomp as the cause; otherwise `err` unchanged
 * (its message already names the capability).
 */
export function explainBpfRefusal(err: unknown, privileges: ProcessPrivileges | undefined): unknown {
  if (!(err instanceof NativeError) || err.code !== 'EPERM' || !privileges) return err;
  const capability = hasCapability(privileges, CAP_BPF) ? 'CAP_BPF' : hasCapability(privileges, CAP_SYS_ADMIN) ? 'CAP_SYS_ADMIN' : undefined;
  if (!capability) return err;
  const capEff = privileges.effective.toString(16).padStart(16, '0');
  const message = privileges.seccompMode === 2
    ? `seccomp refused bpf(2), not a missing capability: ${err.message}; but this process has ${capability} (CapEff ${capEff}) `
      + 'and runs under a seccomp filter (/proc/self/status Seccomp: 2): the container runtime\'s default profile (RuntimeDefault) '
      + `allows bpf(2) only with CAP_SYS_ADMIN. Run podflow with the seccomp profile ${BPF_SECCOMP_PROFILE}, which allows it `
      + '(installed on each node as <kubelet root>/seccomp/podflow/cilium.json; the Helm chart\'s cilium mode sets securityContext.seccompProfile Localhost podflow/cilium.json)'
    : `bpf(2) refused although ${capability} is effective (CapEff ${capEff}) and no seccomp filter is reported `
      + `(Seccomp: ${privileges.seccompMode ?? 'unknown'}): ${err.message}; an outer sandbox or an LSM (AppArmor, SELinux, lockdown) refused it`;
  return new NativeError(err.handle, err.operation, err.cause, message);
}

/** `CAP_NET_ADMIN held`, `CAP_BPF missing`, ... for each name (one phrase). */
export function describeCapabilities(names: readonly CapabilityName[], privileges = readProcessPrivileges()): string {
  if (privileges === undefined) return `${names.join(', ')}: unknown (/proc/self/status unreadable)`;
  return names.map((n) => `${n} ${hasCapability(privileges, CAPABILITY_BITS[n]) ? 'held' : 'missing'}`).join(', ');
}
