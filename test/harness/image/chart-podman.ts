// A container of the Helm chart's DaemonSet run with podman as the kubelet would run it: its
// securityContext (user, capabilities dropped and added, read-only root, no privilege
// escalation, seccomp RuntimeDefault or a Localhost profile from a kubelet-style seccomp root),
// hostNetwork as a given network namespace, its volumes (configMap → a directory of ours,
// emptyDir → tmpfs, hostPath → a bind mount, possibly redirected), and its command and args.
// Used by `make test-image` (test/harness/image/test-image.ts).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

export const PODMAN = '/usr/bin/podman';
const exec = promisify(execFile);

export interface Capabilities { add?: string[]; drop?: string[] }
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: Capabilities;
  seccompProfile?: { type: string; localhostProfile?: string };
}
export interface VolumeMount { name: string; mountPath: string; readOnly?: boolean }
export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  securityContext?: SecurityContext;
  volumeMounts?: VolumeMount[];
}
export interface Volume { name: string; hostPath?: { path: string }; configMap?: unknown; emptyDir?: unknown }
export interface PodSpec {
  hostNetwork?: boolean;
  securityContext?: SecurityContext;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}

export interface RunAs {
  image: string;
  /** The network namespace file standing in for the node's (hostNetwork). */
  netns: string;
  /** The directory a configMap volume is (holds config.yaml). */
  configDir: string;
  /** Where the kubelet's seccomp profiles are (`<kubelet root>/seccomp`). */
  seccompRoot: string;
  /** hostPath redirections: node path → the path used instead (e.g. a test bpffs). */
  hostPaths?: Record<string, string>;
  /** More mounts (`-v` values) and environment variables. */
  extraMounts?: string[];
  env?: Record<string, string>;
  /** Overrides for this run (a test of what the chart must not do). */
  userOverride?: number;
  /** Instead of the profile the chart names: the runtime's default profile. */
  seccompOverride?: 'RuntimeDefault';
}

/** This machine's limits, for `--ulimit`: without CAP_SYS_RESOURCE runc cannot raise a hard limit. */
function ulimits(): string[] {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const nofile = line?.split(/\s{2,}/)[2] ?? '1024';
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096'];
}

/** `podman run` arguments for `container` of `pod` (without `run` and the detach/rm flags). */
export function podmanArgs(pod: PodSpec, container: Container, o: RunAs): string[] {
  const sc = container.securityContext ?? {};
  // runc: crun fails on hosts with hybrid cgroups. No health timer: podman runs it through
  // systemd, which a test machine may not have (`podman healthcheck run` still works).
  const args: string[] = ['--runtime', 'runc', '--health-interval', 'disable', ...ulimits()];
  if (!pod.hostNetwork) throw new Error('the chart runs podflow with hostNetwork');
  args.push('--network', `ns:${o.netns}`);
  const uid = o.userOverride ?? sc.runAsUser ?? pod.securityContext?.runAsUser;
  const gid = o.userOverride ?? sc.runAsGroup ?? pod.securityContext?.runAsGroup ?? uid;
  if (uid !== undefined) args.push('--user', `${uid}:${gid}`);
  if (sc.privileged) throw new Error(`${container.name}: privileged`);
  for (const cap of sc.capabilities?.drop ?? []) args.push('--cap-drop', cap.toLowerCase() === 'all' ? 'all' : `CAP_${cap}`);
  for (const cap of sc.capabilities?.add ?? []) args.push('--cap-add', `CAP_${cap}`);
  // podman's --read-only adds writable tmpfs mounts of its own unless told not to.
  if (sc.readOnlyRootFilesystem) args.push('--read-only', '--read-only-tmpfs=false');
  if (sc.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
  const seccomp = o.seccompOverride ? { type: o.seccompOverride } : sc.seccompProfile ?? pod.securityContext?.seccompProfile ?? { type: 'RuntimeDefault' };
  if (seccomp.type === 'Localhost') args.push('--security-opt', `seccomp=${o.seccompRoot}/${seccomp.localhostProfile}`);
  else if (seccomp.type !== 'RuntimeDefault') throw new Error(`${container.name}: seccomp ${seccomp.type}`);
  for (const m of container.volumeMounts ?? []) {
    const vol = (pod.volumes ?? []).find((v) => v.name === m.name);
    if (!vol) throw new Error(`${container.name}: no volume ${m.name}`);
    const ro = m.readOnly ? ':ro' : '';
    if (vol.configMap) args.push('-v', `${o.configDir}:${m.mountPath}:ro`);
    else if (vol.emptyDir) args.push('--tmpfs', `${m.mountPath}:rw,size=64m`);
    else if (vol.hostPath) args.push('-v', `${o.hostPaths?.[vol.hostPath.path] ?? vol.hostPath.path}:${m.mountPath}${ro}`);
    else throw new Error(`${container.name}: volume ${m.name} of an unknown kind`);
  }
  for (const mount of o.extraMounts ?? []) args.push('-v', mount);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('--env', `${k}=${v}`);
  if (container.command) args.push('--entrypoint', JSON.stringify(container.command));
  args.push(o.image, ...(container.args ?? []));
  return args;
}

export interface Result { code: number; stdout: string; stderr: string }

export async function podman(args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(PODMAN, args, { timeout: timeoutMs, maxBuffer: 256 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as Error & { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? err.message };
  }
}
