// Run by cilium.bpf.test.ts without privileges: prints the error opening the source gives. With a
// uid as second argument it starts as root and becomes that uid (no capabilities left) once the
// addon is loaded, so the repository need not be readable by that uid (a clone in /root is not).
import { loadFlowsource, NativeSource } from '../../../native/index.ts';

const root = process.argv[2]!;
const uid = process.argv[3];
loadFlowsource();
if (uid !== undefined) {
  process.setgroups!([]);
  process.setgid!(Number(uid));
  process.setuid!(Number(uid));
}
try {
  NativeSource.open('cilium', {
    bpffs: root, maps: ['cilium_ct4_global'], layout: 'v1.15', clockSource: 'ktime', startup: 'count', excludeCidrs: [], readMethod: 'auto', readThreads: 0,
  });
  console.log('opened');
} catch (e) {
  console.log((e as Error).message);
}
