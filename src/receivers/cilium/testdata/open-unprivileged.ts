// Run by cilium.bpf.test.ts without privileges: prints the error ciliumOpen gives. With a uid as
// second argument it starts as root and becomes that uid (no capabilities left) once the addon is
// loaded, so the repository need not be readable by that uid (a clone in /root is not).
import { loadCiliumAddon } from '../native.ts';

const root = process.argv[2]!;
const uid = process.argv[3];
const addon = loadCiliumAddon();
if (uid !== undefined) {
  process.setgroups!([]);
  process.setgid!(Number(uid));
  process.setuid!(Number(uid));
}
try {
  addon.ciliumOpen(root, 'cilium_ct4_global', 'v1.15', 'ktime', 'count', '', 'auto');
  console.log('opened');
} catch (e) {
  console.log((e as Error).message);
}
