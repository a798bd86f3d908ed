// The agent hop for real: the conntrack receiver reading a network namespace's kernel table →
// podflow's otlp exporter → podflow's otlp receiver. Bytes equal the kernel's own counters, and
// each delta point covers exactly what was read: the first one from the receiver's start, the
// next from the previous read (issue 19 item 6: never a made-up 1 ms span).
import test from 'ava';
import { entryTotals, flowTotals, readConntrackTable, sortedFlowTotals } from '../../../test/harness/conntrack-table.ts';
import { testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { createNodeTopology, POD1_V4, POD2_V4 } from '../../../test/harness/netns.ts';
import { requirePrivileges } from '../../../test/harness/privileges.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { unixNanoFromMs, type FlowBatch } from '../../model/index.ts';
import { conntrackConfigSchema } from '../../receivers/conntrack/config.ts';
import { ConntrackReceiver } from '../../receivers/conntrack/conntrack.ts';
import { startReceiver } from '../../receivers/otlp/testdata/round-trip.ts';
import { configSchema } from './config.ts';
import { OtlpExporter } from './otlp-exporter.ts';

const INTERVAL_MS = 3_600_000;

for (const protocol of ['http', 'grpc'] as const) {
  test(`conntrack → otlp exporter (${protocol}, delta) → otlp receiver: the kernel's bytes, each point spanning its read interval`, async (t) => {
    if (!requirePrivileges(t, ['ip', 'nft', 'conntrack'])) return;
    const topo = await createNodeTopology(`otlp${protocol[0]}`, { accounting: true });
    t.teardown(() => topo.destroy());
    const gateway = await startReceiver();
    t.teardown(() => gateway.stop());
    const exporter = new OtlpExporter(testContext('otlp', { 'k8s.node.name': 'node-a' }), configSchema.parse({ endpoint: protocol === 'grpc' ? gateway.grpcUrl : gateway.httpUrl, protocol, temporality: 'delta' }));
    t.teardown(() => exporter.shutdown());

    const startMs = Date.now() - 60_000;
    const clock = new ManualClock(startMs);
    const agent = new ConntrackReceiver(testContext('conntrack'), conntrackConfigSchema.parse({ interval: INTERVAL_MS, netns: topo.node.path }), { consume: (batch: FlowBatch) => sendNow(exporter, batch) }, clock);
    await agent.start();
    let kernel;
    try {
      await topo.pod2.trafficServer('tcp-server', 8080);
      t.deepEqual(await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 123_456, 7_890]), { sent: 123_456, received: 7_890 });
      await clock.advance(INTERVAL_MS);
      t.deepEqual(await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, 1_000, 2_000]), { sent: 1_000, received: 2_000 });
      await new Promise((r) => setTimeout(r, 300));
      kernel = entryTotals(await readConntrackTable(topo.node, ['ipv4']), (e) => (e.transport === 'tcp' && e.replySport === 8080 ? `${e.origSrc}>${e.replySrc}` : undefined));
      await clock.advance(INTERVAL_MS);
    } finally {
      await agent.shutdown();
    }
    const flows = gateway.batches.flatMap((b) => b.flows).filter((f) => f.attributes['destination.port'] === 8080);
    t.deepEqual(
      sortedFlowTotals(flowTotals(flows, (f) => `${f.attributes['source.address']}>${f.attributes['destination.address']}`)),
      sortedFlowTotals(kernel!),
    );
    t.is(flows.length > 0 && String(flows[0]!.attributes['source.address']), POD1_V4);
    // First read: [receiver start, first read); second: [first read, second read).
    const spans = [...new Set(flows.map((f) => `${f.startTimeUnixNano - unixNanoFromMs(startMs)}:${f.timeUnixNano - f.startTimeUnixNano}`))].sort();
    const interval = unixNanoFromMs(INTERVAL_MS);
    t.deepEqual(spans, [`0:${interval}`, `${interval}:${interval}`]);
    t.true(gateway.batches.every((b) => b.resource?.['k8s.node.name'] === 'node-a'));
  });
}
