// Every query of every shipped Grafana dashboard returns rows against a real PostgreSQL, when
// the flows went through the shipped configuration: the Bookinfo example's `netcost` and
// `reduce/delta` (the default group_by) into the postgres exporter. Flows are what k8sattributes hands over
// (identities, nodes, zones, address types, a domain), so a group_by that drops what a panel
// reads leaves that panel empty and fails here. The node graph is checked at every level of its
// group_by variable, read from raw rows and again from the rollup tiers.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { parse } from 'yaml';
import { collector, testContext } from './harness/context.ts';
import { queued } from './harness/exporter-queue.ts';
import { expandMacros, shippedDashboards } from './harness/grafana.ts';
import { ManualClock } from './harness/manual-clock.ts';
import { missingPostgres, startPostgres, type PostgresServer } from './harness/postgres.ts';
import { skipOrFail } from './harness/privileges.ts';
import { postgresConfigSchema } from '../src/exporters/postgres/config.ts';
import { postgresExporterFactory } from '../src/exporters/postgres/index.ts';
import { PostgresExporter } from '../src/exporters/postgres/postgres-exporter.ts';
import { netcostConfigSchema } from '../src/processors/netcost/config.ts';
import { NetcostProcessor } from '../src/processors/netcost/netcost.ts';
import { reduceConfigSchema } from '../src/processors/reduce/config.ts';
import { ReduceProcessor } from '../src/processors/reduce/reduce.ts';
import type { Attributes, Flow } from '../src/model/index.ts';

const T0 = Date.UTC(2030, 6, 1, 10, 0, 3);
const CONFIG = new URL('../examples/bookinfo/podflow/config.yaml', import.meta.url);

const unavailable = missingPostgres();
let server: PostgresServer | undefined;

test.after.always(async () => {
  await server?.stop();
});

function pod(end: 'source' | 'destination', ns: string, owner: string, node: string, zone: string, address: string): Attributes {
  return {
    [`${end}.k8s.namespace.name`]: ns,
    [`${end}.k8s.pod.name`]: `${owner}-7d9f-x`,
    [`${end}.k8s.owner.name`]: owner,
    [`${end}.k8s.owner.type`]: 'Deployment',
    [`${end}.k8s.node.name`]: node,
    [`${end}.cloud.availability_zone`]: zone,
    [`${end}.address.type`]: 'pod',
    [`${end}.address`]: address,
  };
}

/** What k8sattributes hands to reduce on one node in one interval. */
function k8sFlows(): Flow[] {
  const at = (attributes: Attributes, tx: number, rx: number): Flow => ({
    startTimeUnixNano: BigInt(T0 - 5000) * 1_000_000n, timeUnixNano: BigInt(T0) * 1_000_000n, attributes,
    txBytes: tx, rxBytes: rx, txPackets: 3, rxPackets: 4, connections: 1,
  });
  return [
    at({ ...pod('source', 'bookinfo', 'productpage-v1', 'node-a', 'zone-a', '10.0.1.5'), ...pod('destination', 'bookinfo', 'reviews-v2', 'node-b', 'zone-b', '10.0.2.7'),
      'source.port': 40_000, 'destination.port': 9080, 'network.transport': 'tcp', 'network.flow.inter_zone': true }, 1200, 5400),
    at({ ...pod('source', 'bookinfo', 'reviews-v2', 'node-b', 'zone-b', '10.0.2.7'), ...pod('destination', 'bookinfo', 'ratings-v1', 'node-b', 'zone-b', '10.0.2.9'),
      'source.port': 40_001, 'destination.port': 9080, 'network.transport': 'tcp', 'network.flow.inter_zone': false }, 300, 700),
    at({ ...pod('source', 'bookinfo', 'details-v1', 'node-a', 'zone-a', '10.0.1.8'), 'destination.address': '140.82.112.3', 'destination.address.type': 'public',
      'destination.domain': 'api.github.com', 'source.port': 40_002, 'destination.port': 443, 'network.transport': 'tcp' }, 200, 800),
    at({ 'source.address': '203.0.113.9', 'source.address.type': 'public', ...pod('destination', 'bookinfo', 'productpage-v1', 'node-a', 'zone-a', '10.0.1.5'),
      'source.port': 50_000, 'destination.port': 9080, 'network.transport': 'tcp' }, 400, 4000),
  ];
}

test('every query of every shipped dashboard returns rows for flows through the shipped config', async (t) => {
  if (unavailable) return skipOrFail(t, unavailable);
  server = await startPostgres();
  const url = await server.createDatabase('dashboards');

  // The shipped pipeline's reduce (the one in front of the postgres exporter), as configured.
  const shipped = parse(readFileSync(CONFIG, 'utf8')) as { processors: Record<string, unknown>; service: { pipelines: Record<string, { processors: string[]; exporters: string[] }> } };
  const pipeline = Object.values(shipped.service.pipelines).find((p) => p.exporters.includes('postgres'))!;
  const reduceId = pipeline.processors.find((p) => p.startsWith('reduce'))!;
  const reduceConfig = reduceConfigSchema.parse(shipped.processors[reduceId] ?? {});
  t.false('group_by' in (shipped.processors[reduceId] as object), 'the shipped reduce uses the default group_by');

  const out = collector();
  const reducer = new ReduceProcessor(testContext('reduce/delta'), reduceConfig, out, new ManualClock(T0));
  // The shipped netcost (between k8sattributes and reduce), as configured: the cost panels read it.
  t.true(pipeline.processors.includes('netcost'), 'the shipped pipeline prices the flows');
  const netcost = new NetcostProcessor(testContext('netcost'), netcostConfigSchema.parse(shipped.processors['netcost']), reducer);
  await netcost.consume({ flows: k8sFlows(), temporality: 'delta' });
  await reducer.shutdown();
  const flows = out.batches.flatMap((b) => b.flows);
  t.true(flows.length > 0);

  const config = postgresConfigSchema.parse({ endpoint: url, retention: 0, rollup: { enabled: false } });
  const q = queued('postgres', postgresExporterFactory.queueSettings!(config), (ctx) => new PostgresExporter(ctx, config));
  await q.exporter.start();
  for (const b of out.batches) await q.consume(b);
  t.true(await q.shutdown());

  const from = new Date(T0 - 3_600_000).toISOString();
  const to = new Date(T0 + 3_600_000).toISOString();
  const dashboards = shippedDashboards();
  t.true(dashboards.length > 0);
  const run = async (label: string) => {
    for (const { file, dashboard } of dashboards) {
      const groupings = dashboard.templating.list.find((v) => v.name === 'group_by')?.query.split(',') ?? ['workload'];
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          for (const groupBy of target.rawSql.includes('group_by') ? groupings : ['workload']) {
            const rows = await server!.query('dashboards', expandMacros(target.rawSql, from, to, 60, { group_by: groupBy }));
            t.true(rows.length > 0, `${label}: ${file} "${panel.title}" ${target.refId} (group_by ${groupBy}) returns rows`);
          }
        }
      }
    }
  };
  await run('raw rows');
  // The same after the rollup: the node graph now reads the tiers.
  await q.exporter.runRetention(T0);
  await run('rolled up');
});
