// Run by cilium.bpf.test.ts as an unprivileged user: prints the error opening the source gives.
import { NativeSource } from '../../../native/index.ts';

const root = process.argv[2]!;
try {
  NativeSource.open('cilium', {
    bpffs: root, maps: ['cilium_ct4_global'], layout: 'v1.15', clockSource: 'ktime', startup: 'count', excludeCidrs: [], readMethod: 'auto', readThreads: 0,
  });
  console.log('opened');
} catch (e) {
  console.log((e as Error).message);
}
