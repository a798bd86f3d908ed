// The receiver side of bench/otlp's ingest figure, in a process of its own: the otlp receiver
// (OTLP/HTTP and OTLP/gRPC on free ports) feeding a pipeline that only counts what it gets.
// Talks to its parent over IPC: sends {http, grpc} once listening; answers each 'mark' with its
// process CPU so far (all threads: zlib's pool included) and the flows and bytes received.
import { otlpReceiverConfigSchema } from '../../src/receivers/otlp/config.ts';
import { OtlpReceiver } from '../../src/receivers/otlp/otlp-receiver.ts';
import { testContext } from '../../test/harness/context.ts';

let flows = 0;
let bytes = 0;
const receiver = new OtlpReceiver(
  testContext('otlp/bench'),
  otlpReceiverConfigSchema.parse({ protocols: { http: { endpoint: '127.0.0.1:0' }, grpc: { endpoint: '127.0.0.1:0' } } }),
  {
    consume: async (batch) => {
      flows += batch.flows.length;
      for (const f of batch.flows) bytes += f.txBytes + f.rxBytes;
    },
  },
);
await receiver.start();
process.send!({ http: `http://${receiver.listening.http}`, grpc: `http://${receiver.listening.grpc}` });
process.on('message', (m: string) => {
  if (m === 'mark') {
    const c = process.cpuUsage();
    process.send!({ cpuUs: c.user + c.system, flows, bytes });
  } else if (m === 'stop') void receiver.shutdown().then(() => process.exit(0));
});
