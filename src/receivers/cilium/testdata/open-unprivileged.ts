// Run by cilium.bpf.test.ts as an unprivileged user: prints the error ciliumOpen gives.
import { loadCiliumAddon } from '../native.ts';

const root = process.argv[2]!;
try {
  loadCiliumAddon().ciliumOpen(root, 'cilium_ct4_global', 'v1.15', 'ktime', 'count', '', 'auto');
  console.log('opened');
} catch (e) {
  console.log((e as Error).message);
}
