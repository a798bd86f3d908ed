// Reading this process's privileges from /proc/self/status, and the bpf(2) EPERM that names
// seccomp when CAP_BPF is there. The real refusal by a container runtime's seccomp profile is
// exercised by `make test-image` (deploy/test-image/); here the errors come from the real addon.
import test from 'ava';
import { NativeError, NativeSource } from '../../native/index.ts';
import { CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, explainBpfRefusal, hasCapability, parseProcStatus, readProcessPrivileges } from './capabilities.ts';

const STATUS = (capEff: string, seccomp: string) => `Name:\tnode\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nNoNewPrivs:\t1\nSeccomp:\t${seccomp}\nSeccomp_filters:\t1\n`;
/** CAP_NET_ADMIN and CAP_BPF only, as the chart gives the cilium mode. */
const BPF_ONLY = (1n << 39n | 1n << 12n).toString(16).padStart(16, '0');

/** A real EPERM NativeError as the core raises it, but from the cilium handle: the core's message with its errno. */
function epermFromCore(): NativeError {
  const cause = Object.assign(new Error('/sys/fs/bpf/tc/globals/cilium_ct4_global: BPF_OBJ_GET: operation not permitted (Operation not permitted (os error 1)): bpf(2) needs CAP_BPF (kernel ≥ 5.8) or CAP_SYS_ADMIN when kernel.unprivileged_bpf_disabled is set'), { code: 'EPERM' });
  return new NativeError('cilium', 'open', cause);
}

test('CapEff and Seccomp are read from a status text; this process has one', (t) => {
  const p = parseProcStatus(STATUS(BPF_ONLY, '2'))!;
  t.true(hasCapability(p, CAP_BPF));
  t.true(hasCapability(p, CAP_NET_ADMIN));
  t.false(hasCapability(p, CAP_SYS_ADMIN));
  t.is(p.seccompMode, 2);
  t.is(parseProcStatus('Name:\tx\n'), undefined);
  const self = readProcessPrivileges();
  t.truthy(self);
  t.is(typeof self!.effective, 'bigint');
  t.is(readProcessPrivileges('/nonexistent/status'), undefined);
});

test('EPERM with CAP_BPF under a seccomp filter names seccomp and the profile; the place is kept', (t) => {
  const err = explainBpfRefusal(epermFromCore(), parseProcStatus(STATUS(BPF_ONLY, '2'))) as NativeError;
  t.true(err instanceof NativeError);
  t.like(err, { handle: 'cilium', operation: 'open', code: 'EPERM' });
  t.true(err.message.startsWith('seccomp refused bpf(2), not a missing capability: /sys/fs/bpf/tc/globals/cilium_ct4_global: BPF_OBJ_GET: operation not permitted'), err.message);
  t.regex(err.message, /this process has CAP_BPF \(CapEff 0000008000001000\) and runs under a seccomp filter \(\/proc\/self\/status Seccomp: 2\)/);
  t.regex(err.message, /deploy\/seccomp\/podflow-cilium\.json/);
  // CAP_SYS_ADMIN instead of CAP_BPF (kernels < 5.8): the same cause.
  const sysAdmin = (1n << 21n).toString(16).padStart(16, '0');
  t.regex((explainBpfRefusal(epermFromCore(), parseProcStatus(STATUS(sysAdmin, '2'))) as Error).message, /^seccomp refused bpf\(2\).*has CAP_SYS_ADMIN/);
  // No seccomp filter: something else refused it, and the message says it is not capabilities.
  t.regex((explainBpfRefusal(epermFromCore(), parseProcStatus(STATUS(BPF_ONLY, '0'))) as Error).message, /^bpf\(2\) refused although CAP_BPF is effective .*\(Seccomp: 0\).*AppArmor, SELinux/);
});

test('without CAP_BPF, or for another errno or error, the core\'s message (which names the capability) stands', (t) => {
  const eperm = epermFromCore();
  t.is(explainBpfRefusal(eperm, parseProcStatus(STATUS('0000000000001000', '2'))), eperm);
  t.is(explainBpfRefusal(eperm, undefined), eperm);
  const enoent = t.throws(() => NativeSource.open('conntrack', { netns: '/nonexistent/netns', source: 'netlink', destroyEvents: false, startup: 'baseline', excludeCidrs: [] }));
  t.is(explainBpfRefusal(enoent, parseProcStatus(STATUS(BPF_ONLY, '2'))), enoent);
  const plain = new Error('x');
  t.is(explainBpfRefusal(plain, parseProcStatus(STATUS(BPF_ONLY, '2'))), plain);
});
