// Run by conntrack.kernel.test.ts in a mount namespace whose /proc/sys is read-only (as in a
// container): starts the conntrack receiver with enable_accounting on the namespace given as
// the first argument and prints its warnings as JSON lines, then "started".
import { capturingContext, collector } from '../../../../test/harness/context.ts';
import { conntrackConfigSchema } from '../config.ts';
import { ConntrackReceiver } from '../conntrack.ts';

const ctx = capturingContext('conntrack');
const receiver = new ConntrackReceiver(ctx, conntrackConfigSchema.parse({ netns: process.argv[2], enable_accounting: true, interval: '1h' }), collector());
await receiver.start();
await receiver.shutdown();
for (const l of ctx.logs.filter((l) => l.level === 40)) console.log(JSON.stringify(l));
console.log('started');
