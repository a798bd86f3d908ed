// deploy/seccomp/podflow-cilium.json, the cilium mode's seccomp profile: an allow-list that
// refuses everything else with ENOSYS, allows bpf(2) unconditionally (runtimes' defaults tie it
// to CAP_SYS_ADMIN), and nothing podflow does not need for it. Loaded by a real runtime in
// `make test-image` (deploy/test-image/), where podflow runs under it.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { ROOT } from '../harness/k8s-tools.ts';

interface Rule { names: string[]; action: string; args?: unknown; includes?: unknown; excludes?: unknown; comment?: string }
interface Profile { defaultAction: string; defaultErrnoRet?: number; archMap: Array<{ architecture: string; subArchitectures: string[] }>; syscalls: Rule[] }

const profile = JSON.parse(await readFile(`${ROOT}deploy/seccomp/podflow-cilium.json`, 'utf8')) as Profile;
const allowed = profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names);

test('an allow-list: everything else fails with ENOSYS (callers fall back), for x86-64 and arm64', (t) => {
  t.is(profile.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(profile.defaultErrnoRet, 38);
  t.deepEqual(profile.archMap.map((a) => a.architecture), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64']);
  t.deepEqual(profile.syscalls.map((r) => r.action), profile.syscalls.map(() => 'SCMP_ACT_ALLOW'));
  t.true(profile.syscalls.every((r) => r.includes === undefined && r.excludes === undefined && typeof r.comment === 'string'), 'no capability conditions; each rule says why');
  // Only clone has an argument condition: no CLONE_NEW* flag (0x7e020000), so no new namespace.
  t.deepEqual(profile.syscalls.filter((r) => r.args !== undefined).map((r) => [r.names, r.args]), [[['clone'], [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]]]);
  t.is(new Set(allowed).size, allowed.length, 'no syscall listed twice');
  t.true(allowed.every((n) => /^[a-z0-9_]+$/.test(n)));
});

test('bpf(2) is allowed; what would widen the container is not', (t) => {
  t.true(allowed.includes('bpf'));
  for (const name of ['perf_event_open', 'mount', 'umount2', 'setns', 'unshare', 'clone3', 'ptrace', 'init_module', 'finit_module', 'kexec_load', 'keyctl', 'add_key', 'userfaultfd', 'pivot_root', 'chroot', 'reboot', 'process_vm_readv', 'open_by_handle_at', 'setuid', 'capset']) {
    t.false(allowed.includes(name), name);
  }
});

test('the chart names it where deploy/README.md says to install it', async (t) => {
  const values = await readFile(`${ROOT}deploy/helm/podflow/values.yaml`, 'utf8');
  t.regex(values, /^ {2}cilium: podflow\/cilium\.json$/m);
  const readme = await readFile(`${ROOT}deploy/README.md`, 'utf8');
  t.true(readme.includes('install -D -m 0644 deploy/seccomp/podflow-cilium.json /var/lib/kubelet/seccomp/podflow/cilium.json'));
});
