// End to end on the real kernel: the simulated two-node cluster (cluster.ts), a test Kubernetes
// API server, a real PostgreSQL, a real Prometheus, an OTLP receiver, and one `bin/podflow run`
// per node (conntrack → k8sattributes → reduce → postgres + prometheus + otlp + file).
//
// The oracle is the kernel: both nodes' conntrack tables read with `conntrack -L` once every
// connection is closed (TIME_WAIT entries keep their final counters), each connection taken once
// from the table of the node that reports it. Every output must equal it per group, and the
// topology's call graph (known connection counts, zones, service, edges) must be what it says.
// PostgreSQL is stopped in the middle of the traffic and started again: no row may be lost.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FakeApiServer } from '../harness/fake-apiserver.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../harness/otlp-receiver.ts';
import { missingPostgres, startPostgres, type PostgresServer } from '../harness/postgres.ts';
import { requirePrivileges, skipOrFail } from '../harness/privileges.ts';
import { PROMETHEUS_BIN, startPrometheus, type PrometheusServer } from '../harness/prometheus.ts';
import { loadApiServer, SimulatedCluster } from '../harness/cluster/cluster.ts';
import { addTotals, grandTotal, groupKey, kernelAccount, project, readFinalTables, type Totals, type TotalsByKey } from '../harness/cluster/kernel-oracle.ts';
import { fileRows, fileTotals, otlpTotals, postgresRows, postgresTotals, prometheusTotals } from '../harness/cluster/outputs.ts';
import { startPodflowNode, type PodflowNode } from '../harness/cluster/podflow-node.ts';
import { EXTERNAL, NODES, podByIp, RATINGS_SERVICE, roundCalls, workloadId, type Call } from '../harness/cluster/topology.ts';
import { readUntil } from '../harness/wait.ts';

/** Loadgen rounds before, during and after the PostgreSQL outage (6 connections each). */
const ROUNDS = [6, 6, 6] as const;
const TOTAL_ROUNDS = ROUNDS[0] + ROUNDS[1] + ROUNDS[2];
const ALL: ReadonlyArray<keyof Totals> = ['txBytes', 'rxBytes', 'txPackets', 'rxPackets', 'connections'];
const METRIC_FIELDS: ReadonlyArray<keyof Totals> = ['txBytes', 'rxBytes', 'txPackets', 'rxPackets'];

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The group a call's connection falls in, from the topology alone. */
function callKey(c: Call): string {
  const server = podByIp(c.server);
  const zone = (node: string) => NODES.find((n) => n.name === node)!.zone;
  const interZone = server ? zone(c.from.node) !== zone(server.node) : undefined;
  return groupKey(workloadId(c.from.owner), server ? workloadId(server.owner) : c.server, interZone, c.to === RATINGS_SERVICE.clusterIP ? RATINGS_SERVICE.name : undefined);
}

/** Connections per group, and connections in both nodes' tables, that the call graph makes. */
function expectedFromCallGraph(rounds: number): { connections: TotalsByKey; inBothTables: number; edges: string[]; initiatedBy: Record<string, number> } {
  const connections: TotalsByKey = {};
  const initiatedBy: Record<string, number> = Object.fromEntries(NODES.map((n) => [n.name, 0]));
  let inBothTables = 0;
  const edges = new Set<string>();
  for (let i = 0; i < rounds; i++) {
    for (const c of roundCalls(i)) {
      addTotals(connections, callKey(c), { connections: 1 });
      initiatedBy[c.from.node]!++;
      const serverNode = podByIp(c.server)?.node ?? EXTERNAL.via;
      if (serverNode !== c.from.node) inBothTables++;
      const server = podByIp(c.server);
      edges.add(`${workloadId(c.from.owner)} -> ${server ? workloadId(server.owner) : c.server}`);
    }
  }
  return { connections, inBothTables, edges: [...edges].sort(), initiatedBy };
}

test('two simulated nodes: every output equals the kernel per workload pair, once per connection, across a PostgreSQL restart', async (t) => {
  if (!requirePrivileges(t, ['ip', 'nft', 'conntrack'])) return;
  const missing = missingPostgres() ?? (existsSync(PROMETHEUS_BIN) ? undefined : `needs ${PROMETHEUS_BIN} (Debian package prometheus)`);
  if (missing) return skipOrFail(t, missing);
  t.timeout(240_000);
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const startedAt = Date.now();
  try {
    const dir = mkdtempSync(join(tmpdir(), 'podflow-e2e-'));
    // PODFLOW_E2E_KEEP=1 keeps the podflow configs, logs and flow files for a look afterwards.
    if (process.env.PODFLOW_E2E_KEEP === '1') t.log(`podflow configs, logs and flow files: ${dir}`);
    else cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Each part is registered for clean-up as soon as it exists, even if another fails to start.
    const started = <T>(value: Promise<T>, stop: (v: T) => Promise<unknown>) => value.then((v) => (cleanups.push(() => stop(v)), v));
    const [cluster, api, pg, otlp] = await Promise.all([
      started(SimulatedCluster.create('e2e'), (c) => c.destroy()),
      started(FakeApiServer.start({ token: 'e2e-token' }), (a) => a.close()),
      started(startPostgres(), (p) => p.stop()),
      started(startOtlpReceiver(), (o) => o.close()),
    ]);
    await cluster.startApps();
    loadApiServer(api);
    const kubeconfig = api.writeKubeconfig();
    const database = 'podflow';
    const postgresUrl = await pg.createDatabase(database);

    const nodes: PodflowNode[] = await Promise.all(NODES.map((n) => started(startPodflowNode({
      nodeName: n.name,
      netnsPath: cluster.node(n.name).path,
      kubeconfig,
      postgresUrl,
      otlpUrl: otlp.url,
      dir,
      conntrackInterval: '500ms',
      reduceInterval: '1s',
    }), async (node) => node.kill())));
    const prom: PrometheusServer = await started(startPrometheus({ scrapeTargets: nodes.map((n) => n.prometheusTarget) }), (p) => p.stop());

    // ---- traffic, with PostgreSQL down in the middle --------------------------------------------
    t.deepEqual(await cluster.runLoad(ROUNDS[0]), { ok: ROUNDS[0], failed: 0 });
    await pg.stopServer('fast');
    t.deepEqual(await cluster.runLoad(ROUNDS[1]), { ok: ROUNDS[1], failed: 0 });
    // Both podflows must have tried to write the outage's rows and failed.
    const retries = await readUntil(
      () => Promise.all(nodes.map((n) => n.selfMetric('podflow_exporter_retries_total', { exporter: 'postgres' }))),
      (r) => r.every((n) => n > 0),
      20_000,
    );
    t.true(retries.every((n) => n > 0), `write retries per node during the outage: ${retries.join(', ')}`);
    await pg.startServer();
    t.deepEqual(await cluster.runLoad(ROUNDS[2]), { ok: ROUNDS[2], failed: 0 });

    // ---- the kernel's account ------------------------------------------------------------------
    const entries = await readFinalTables(cluster.nodes);
    const kernel = kernelAccount(entries);
    const expected = expectedFromCallGraph(TOTAL_ROUNDS);
    // The oracle covers exactly the call graph: connections per group as the topology says.
    t.deepEqual(project(kernel.reportOnce, ['connections']), project(expected.connections, ['connections']));
    t.is(grandTotal(kernel.reportOnce).connections, 6 * TOTAL_ROUNDS);
    // Cross-node connections are in both tables (same counters), so a naive sum over-counts them.
    t.is(grandTotal(kernel.naive).connections - grandTotal(kernel.reportOnce).connections, expected.inBothTables);
    t.true(expected.inBothTables > 0);
    // node-b's view of node-a's masqueraded egress: a node-to-external connection, node-a's to report.
    const masqueraded = `node/node-a -> ${EXTERNAL.ip} inter_zone= service=`;
    t.is(kernel.naive[masqueraded]?.connections, TOTAL_ROUNDS);
    t.is(kernel.reportOnce[masqueraded], undefined);

    // ---- Prometheus (read while podflow runs: its series go stale once the targets stop) -------
    const want = project(kernel.reportOnce, METRIC_FIELDS);
    const fromPrometheus = await readUntil(() => prometheusTotals(prom), (v) => same(project(v, METRIC_FIELDS), want), 30_000);
    t.deepEqual(project(fromPrometheus, METRIC_FIELDS), want, 'Prometheus (scraped) vs kernel conntrack counters');
    const dropped = await Promise.all(nodes.map(async (n) => (await n.selfMetric('podflow_postgres_dropped_rows_total')) + (await n.selfMetric('podflow_exporter_send_failed_flows_total', { exporter: 'postgres' }))));
    t.deepEqual(dropped, [0, 0], 'no row dropped by the postgres exporters or their queues');
    // Each node saw connections that are the other node's to report, and dropped them.
    const droppedByReportOnce = await Promise.all(nodes.map((n) => n.selfMetric('podflow_processor_dropped_flows_total')));
    t.true(droppedByReportOnce.every((n) => n > 0), `flows dropped by report-once per node: ${droppedByReportOnce.join(', ')}`);

    // ---- graceful stop: last conntrack read, reduce flush, exporters drain ----------------------
    t.deepEqual(await Promise.all(nodes.map((n) => n.stop())), [0, 0]);

    const fromPostgres = await postgresTotals(pg, database);
    t.deepEqual(project(fromPostgres, ALL), project(kernel.reportOnce, ALL), 'PostgreSQL vs kernel conntrack counters');
    t.deepEqual(project(otlpTotals(otlp.points()), METRIC_FIELDS), want, 'OTLP payloads vs kernel conntrack counters');
    // Each podflow's OTLP resource names its node, and carries what that node wrote to PostgreSQL.
    const bytesByNode = (rows: Array<{ node: string; bytes: number }>) => Object.fromEntries(rows.map((r) => [r.node, r.bytes]).sort());
    const otlpByNode: Record<string, number> = {};
    for (const p of otlp.points()) if (p.metric === 'network.flow.io') otlpByNode[String(p.resource['k8s.node.name'])] = (otlpByNode[String(p.resource['k8s.node.name'])] ?? 0) + p.value;
    const pgByNode = await pg.query<{ node: string; bytes: string }>(database, 'SELECT node, sum(tx_bytes + rx_bytes) AS bytes FROM podflow.flow_details GROUP BY 1');
    t.deepEqual(bytesByNode(Object.entries(otlpByNode).map(([node, bytes]) => ({ node, bytes }))), bytesByNode(pgByNode.map((r) => ({ node: r.node, bytes: Number(r.bytes) }))));
    t.deepEqual(Object.keys(otlpByNode).sort(), ['node-a', 'node-b']);
    const files = nodes.map((n) => n.flowsFile);
    t.deepEqual(project(fileTotals(files), ALL), project(kernel.reportOnce, ALL), 'file exporter vs kernel conntrack counters');
    // No row lost across the restart: PostgreSQL holds exactly the rows the file exporters wrote
    // from the same reduced batches.
    const pgRows = await postgresRows(pg, database);
    t.deepEqual(pgRows, fileRows(nodes.map((n) => ({ node: n.nodeName, file: n.flowsFile }))));
    t.true(pgRows.length >= 8);

    // ---- the attributes the groups carry ------------------------------------------------------
    const vip = await pg.query<{ dst_workload: string; dst_workload_kind: string; dst_service: string; inter_zone: boolean; connections: string }>(database,
      `SELECT dst_workload, dst_workload_kind, dst_service, inter_zone, sum(connections) AS connections FROM podflow.flow_details
       WHERE dst_service IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY inter_zone`);
    // reviews on node-a (zone-a) and on node-b (zone-b) each call the VIP, DNATed to ratings-1 (zone-b).
    t.deepEqual(vip.map((r) => ({ ...r, connections: Number(r.connections) })), [
      { dst_workload: 'ratings', dst_workload_kind: 'StatefulSet', dst_service: 'ratings', inter_zone: false, connections: TOTAL_ROUNDS / 2 },
      { dst_workload: 'ratings', dst_workload_kind: 'StatefulSet', dst_service: 'ratings', inter_zone: true, connections: TOTAL_ROUNDS / 2 },
    ]);
    const zones = await pg.query<{ src: string; dst: string; inter_zone: boolean | null; src_zone: string; dst_zone: string | null }>(database,
      `SELECT DISTINCT src_workload AS src, coalesce(dst_workload, host(dst_address)) AS dst, inter_zone, src_zone, dst_zone FROM podflow.flow_details ORDER BY 1, 2, 3`);
    t.deepEqual(zones, [
      { src: 'details-v1', dst: EXTERNAL.ip, inter_zone: null, src_zone: 'zone-a', dst_zone: null },
      { src: 'loadgen', dst: 'productpage-v1', inter_zone: true, src_zone: 'zone-b', dst_zone: 'zone-a' },
      { src: 'productpage-v1', dst: 'details-v1', inter_zone: false, src_zone: 'zone-a', dst_zone: 'zone-a' },
      { src: 'productpage-v1', dst: 'reviews-v1', inter_zone: false, src_zone: 'zone-a', dst_zone: 'zone-a' },
      { src: 'productpage-v1', dst: 'reviews-v1', inter_zone: true, src_zone: 'zone-a', dst_zone: 'zone-b' },
      { src: 'reviews-v1', dst: 'ratings', inter_zone: false, src_zone: 'zone-a', dst_zone: 'zone-a' },
      { src: 'reviews-v1', dst: 'ratings', inter_zone: false, src_zone: 'zone-b', dst_zone: 'zone-b' },
      { src: 'reviews-v1', dst: 'ratings', inter_zone: true, src_zone: 'zone-a', dst_zone: 'zone-b' },
    ]);
    // Report-once: each node wrote only the connections its own pods initiated.
    const perNode = await pg.query<{ node: string; connections: string }>(database, 'SELECT node, sum(connections) AS connections FROM podflow.flow_details GROUP BY 1 ORDER BY 1');
    t.deepEqual(perNode.map((r) => [r.node, Number(r.connections)]), NODES.map((n) => [n.name, expected.initiatedBy[n.name]]));

    // ---- the node graph -------------------------------------------------------------------------
    const edges = await pg.query<{ source: string; target: string; mainstat: string; secondarystat: string }>(database,
      `SELECT source, target, mainstat, secondarystat FROM podflow.graph_edges(now() - interval '1 hour', now() + interval '1 hour')`);
    t.deepEqual(edges.map((e) => `${e.source} -> ${e.target}`).sort(), expected.edges);
    const kernelEdges: TotalsByKey = {};
    for (const [key, v] of Object.entries(kernel.reportOnce)) addTotals(kernelEdges, key.split(' inter_zone=')[0]!, v);
    t.deepEqual(
      Object.fromEntries(edges.map((e) => [`${e.source} -> ${e.target}`, [Number(e.mainstat), Number(e.secondarystat)]]).sort()),
      Object.fromEntries(Object.entries(kernelEdges).map(([k, v]) => [k, [v.txBytes + v.rxBytes, v.connections]]).sort()),
    );

    const seconds = (Date.now() - startedAt) / 1000;
    t.log(`e2e: ${6 * TOTAL_ROUNDS} connections, ${Object.keys(kernel.reportOnce).length} groups, ${pgRows.length} rows, ${grandTotal(kernel.reportOnce).txBytes + grandTotal(kernel.reportOnce).rxBytes} bytes, ${seconds.toFixed(1)} s`);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  }
});
