// End to end in agent-gateway mode on the real kernel: the simulated two-node cluster
// (test/harness/cluster), a test Kubernetes API server, a real PostgreSQL.
//
// - Each node runs an agent as its own `bin/podflow run` process: its conntrack table → raw
//   deltas, named by its service.resource, no k8sattributes, a kubeconfig in its environment that
//   it must not use (the API server's request log must show nothing from it). Its `otlp/raw`
//   exporter also sends to a test OTLP receiver: its data points must carry its node as their
//   resource and raw addresses only, with exactly the bytes of its node's conntrack table.
// - One gateway (in this process, so the test can stop and restart it and read its metrics):
//   the real `otlp` receiver → k8sattributes (report-once judged per agent batch) → netcost (AWS
//   us-east-1, the external host as a NAT gateway) → reduce → PostgreSQL + a JSON Lines file.
// - The agents reach the gateway with their `otlp` exporter: node-a's over OTLP/HTTP, node-b's
//   over OTLP/gRPC, so both protocols carry a node's flows end to end.
//
// The gateway is stopped for 10 s in the middle of the traffic and started again: the agents'
// exporter queues keep what they read, and nothing is lost. The oracle is the kernel (both
// nodes' tables read with `conntrack -L` once every connection is closed): bytes and packets per
// group, and the cost per group and class (netcost-oracle.ts: the kernel's bytes × AWS's rule
// and rate), in the file and PostgreSQL's cost_usd alike. Last, node-b is relabelled into zone-a
// and a new gateway (new file and database) and new agents carry four more rounds: the same
// cross-node calls are then intra_zone, priced at 0.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FakeApiServer } from '../harness/fake-apiserver.ts';
import { startOtlpReceiver } from '../harness/otlp-receiver.ts';
import { node as nodeObject } from '../harness/k8s-objects.ts';
import { missingPostgres, startPostgres } from '../harness/postgres.ts';
import { requirePrivileges, skipOrFail } from '../harness/privileges.ts';
import { agentConfig, gatewayConfig, startInProcessPodflow, type InProcessPodflow } from '../harness/cluster/agent-gateway.ts';
import { loadApiServer, SimulatedCluster } from '../harness/cluster/cluster.ts';
import { grandTotal, kernelAccount, project, readFinalTables, readNewFinalTables, reporter, type Totals } from '../harness/cluster/kernel-oracle.ts';
import { assertKernelCosts, classesOf, costsByClass, NETCOST, TOPOLOGY_ZONES } from '../harness/cluster/netcost-oracle.ts';
import { fileCosts, fileRows, fileTotals, postgresCosts, postgresRows, postgresTotals } from '../harness/cluster/outputs.ts';
import { startPodflowProcess, type PodflowProcess } from '../harness/cluster/podflow-node.ts';
import { NODES, type NodeName } from '../harness/cluster/topology.ts';
import { freePort } from '../harness/ports.ts';
import { readUntil } from '../harness/wait.ts';

/** How each agent's `otlp` exporter reaches the gateway. */
const PROTOCOL: Record<NodeName, 'http' | 'grpc'> = { 'node-a': 'http', 'node-b': 'grpc' };

const ROUNDS = [6, 6, 6] as const;
const TOTAL_ROUNDS = ROUNDS[0] + ROUNDS[1] + ROUNDS[2];
/** Rounds of the netcost phase with both nodes in one zone. */
const SAME_ZONE_ROUNDS = 4;
const GATEWAY_OUTAGE_MS = 10_000;
const ALL: ReadonlyArray<keyof Totals> = ['txBytes', 'rxBytes', 'txPackets', 'rxPackets', 'connections'];

test('agents and a gateway: outputs and netcost\'s costs equal the kernel per workload pair, once per connection, agents never call the API server, a 10 s gateway outage loses nothing', async (t) => {
  if (!requirePrivileges(t, ['ip', 'nft', 'conntrack'])) return;
  const missing = missingPostgres();
  if (missing) return skipOrFail(t, missing);
  t.timeout(240_000);
  const cleanups: Array<() => Promise<unknown> | void> = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'podflow-agent-gateway-'));
    if (process.env.PODFLOW_E2E_KEEP === '1') t.log(`podflow configs, logs and flow files: ${dir}`);
    else cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const started = <T>(value: Promise<T>, stop: (v: T) => Promise<unknown> | void) => value.then((v) => (cleanups.push(() => stop(v)), v));
    const [cluster, api, pg, otlp] = await Promise.all([
      started(SimulatedCluster.create('agw'), (c) => c.destroy()),
      started(FakeApiServer.start(), (a) => a.close()),
      started(startPostgres(), (p) => p.stop()),
      started(startOtlpReceiver(), (o) => o.close()),
    ]);
    await cluster.startApps();
    loadApiServer(api);
    const gatewayKubeconfig = api.writeKubeconfig('gateway-token', 'kubeconfig-gateway');
    const agentKubeconfig = api.writeKubeconfig('agent-token', 'kubeconfig-agent');
    const database = 'podflow';
    const postgresUrl = await pg.createDatabase(database);
    const flowsFile = join(dir, 'flows-gateway.jsonl');

    // ---- the gateway and the agents -------------------------------------------------------------
    t.log(`agents → the gateway's otlp receiver: ${NODES.map((n) => `${n.name} over OTLP/${PROTOCOL[n.name] === 'grpc' ? 'gRPC' : 'HTTP'}`).join(', ')}`);
    const gatewayPorts = { http: await freePort(), grpc: await freePort() };
    const gateways: InProcessPodflow[] = [];
    const startGateway = async (outputs: { postgresUrl: string; flowsFile: string } = { postgresUrl, flowsFile }) => {
      const g = await started(startInProcessPodflow(`gateway-${gateways.length}`, gatewayConfig({
        receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${gatewayPorts.http}` }, grpc: { endpoint: `127.0.0.1:${gatewayPorts.grpc}` } } } },
        kubeconfig: gatewayKubeconfig, ...outputs, netcost: NETCOST, telemetryAddress: '',
      }), dir), (p) => p.stop());
      gateways.push(g);
      return g;
    };
    let gateway = await startGateway();
    const otlpExporter = (endpoint: string, protocol: 'http' | 'grpc' = 'http') => ({ endpoint, protocol, temporality: 'delta', encoding: 'proto', compression: 'gzip', retry_on_failure: { initial_interval: '200ms', max_interval: '1s' } });
    // The agents as processes, with credentials in reach that they must not use.
    const startAgents = (name: string, exporters: Record<string, unknown>) => Promise.all(NODES.map((n) =>
      started(startPodflowProcess(`${name}-${n.name}`, agentConfig({
        nodeName: n.name,
        netnsPath: cluster.node(n.name).path,
        exporters: { ...exporters, otlp: otlpExporter(`http://127.0.0.1:${gatewayPorts[PROTOCOL[n.name]]}`, PROTOCOL[n.name]) },
        telemetryAddress: '127.0.0.1:0',
      }), { dir, env: { KUBECONFIG: agentKubeconfig, NODE_NAME: n.name } }), (p) => p.kill())));
    const agents: PodflowProcess[] = await startAgents('agent', { 'otlp/raw': otlpExporter(otlp.url) });
    const agentsMetric = (name: string, labels?: Record<string, string>) => Promise.all(agents.map((a) => a.selfMetric(name, labels)));

    // ---- traffic, with the gateway away in the middle -------------------------------------------
    t.deepEqual(await cluster.runLoad(ROUNDS[0]), { ok: ROUNDS[0], failed: 0 });
    // The first gateway has written some of it before it goes away.
    const written = await readUntil(() => postgresRows(pg, database), (rows) => rows.length > 0, 20_000);
    t.true(written.length > 0, 'the first gateway wrote rows');
    const outageStart = Date.now();
    await gateway.stop();
    t.deepEqual(await cluster.runLoad(ROUNDS[1]), { ok: ROUNDS[1], failed: 0 });
    // The agents read the outage's flows and could not deliver them: their queues retry.
    const retries = await readUntil(() => agentsMetric('podflow_exporter_retries_total', { exporter: 'otlp' }), (r) => r.every((n) => n > 0), 20_000);
    t.true(retries.every((n) => n > 0), `otlp retries per agent while the gateway is away: ${retries.join(', ')}`);
    await new Promise((r) => setTimeout(r, Math.max(0, GATEWAY_OUTAGE_MS - (Date.now() - outageStart))));
    gateway = await startGateway();
    t.deepEqual(await cluster.runLoad(ROUNDS[2]), { ok: ROUNDS[2], failed: 0 });

    // ---- the kernel's account ------------------------------------------------------------------
    const entries = await readFinalTables(cluster.nodes);
    const kernel = kernelAccount(entries);
    t.is(grandTotal(kernel.reportOnce).connections, 6 * TOTAL_ROUNDS);
    t.true(grandTotal(kernel.naive).connections > grandTotal(kernel.reportOnce).connections, 'cross-node connections are in both tables');

    // ---- graceful stop: agents' last reads reach the gateway, then the gateway flushes ---------
    const failedToGateway = await agentsMetric('podflow_exporter_send_failed_flows_total');
    t.deepEqual(await Promise.all(agents.map((p) => p.stop())), [0, 0]);
    await gateway.stop();

    // ---- the gateway's outputs vs the kernel ----------------------------------------------------
    t.deepEqual(project(await postgresTotals(pg, database), ALL), project(kernel.reportOnce, ALL), 'PostgreSQL vs kernel conntrack counters');
    t.deepEqual(project(fileTotals([flowsFile]), ALL), project(kernel.reportOnce, ALL), 'file exporter vs kernel conntrack counters');
    const pgRows = await postgresRows(pg, database);
    t.deepEqual(pgRows, fileRows([{ file: flowsFile }]), 'PostgreSQL holds exactly the rows the file exporter wrote');
    // Report-once at the gateway: each node's row count is what the kernel says that node reports.
    const reportedBy: Record<string, number> = {};
    for (const e of entries) if (reporter(e) === e.node) reportedBy[e.node] = (reportedBy[e.node] ?? 0) + 1;
    const perNode = await pg.query<{ node: string; connections: string }>(database, 'SELECT node, sum(connections) AS connections FROM podflow.flow_details GROUP BY 1 ORDER BY 1');
    t.deepEqual(Object.fromEntries(perNode.map((r) => [r.node, Number(r.connections)])), reportedBy);
    const droppedByReportOnce = (await Promise.all(gateways.map((g) => g.selfMetric('podflow_processor_dropped_flows_total', { processor: 'k8sattributes' })))).reduce((a, b) => a + b, 0);
    t.true(droppedByReportOnce > 0, 'the gateway dropped the second sighting of cross-node connections');
    const failed = failedToGateway.concat(await Promise.all(gateways.map((g) => g.selfMetric('podflow_exporter_send_failed_flows_total'))));
    t.deepEqual(failed, failed.map(() => 0), 'no batch given up by any queue');

    // ---- netcost at the gateway: the kernel's bytes × AWS's rule and rate, per group and class ---
    const costs = fileCosts([flowsFile]);
    assertKernelCosts(t, 'gateway file', entries, TOPOLOGY_ZONES, costsByClass(costs));
    t.deepEqual(classesOf(costsByClass(costs)), ['inter_zone', 'nat_gateway', 'same_node']);
    t.deepEqual(await postgresCosts(pg, database), costs, 'PostgreSQL\'s cost_usd per group and class: exactly the file\'s');
    const pricedAt = (labels?: Record<string, string>) => Promise.all(gateways.map((g) => g.selfMetric('podflow_processor_netcost_flows_total', labels)));
    t.deepEqual(await pricedAt({ class: 'unknown' }), gateways.map(() => 0), 'no flow without zones at the gateway');
    t.true((await pricedAt()).every((n) => n > 0), 'each gateway priced flows');

    // ---- the agents: raw flows named by their node, no API request ------------------------------
    const points = otlp.points().filter((p) => p.metric === 'network.flow.io');
    const otlpBytesByNode: Record<string, number> = {};
    for (const p of points) otlpBytesByNode[String(p.resource['k8s.node.name'])] = (otlpBytesByNode[String(p.resource['k8s.node.name'])] ?? 0) + p.value;
    const tableBytesByNode: Record<string, number> = {};
    for (const e of entries) tableBytesByNode[e.node] = (tableBytesByNode[e.node] ?? 0) + e.txBytes + e.rxBytes;
    t.deepEqual(otlpBytesByNode, tableBytesByNode, 'each agent sent exactly its own conntrack table\'s bytes');
    t.true(points.every((p) => typeof p.attributes['source.address'] === 'string' && typeof p.attributes['destination.address'] === 'string'), 'raw addresses');
    const named = [...new Set(points.flatMap((p) => Object.keys(p.attributes)).filter((k) => k.includes('k8s.')))];
    t.deepEqual(named, [], 'agents name nothing');
    const byToken = (token: string) => api.requests.filter((r) => r.token === token);
    t.deepEqual(byToken('agent-token'), [], 'no agent process made a request to the API server');
    t.true(byToken('gateway-token').some((r) => r.watch), 'the gateway watches the cluster');
    t.deepEqual([...new Set(api.requests.map((r) => r.token))], ['gateway-token'], 'only the gateway spoke to the API server');

    // ---- netcost, phase 2: node-b relabelled into zone-a, a new gateway and agents -------------
    // The new gateway's k8sattributes lists the new label; its outputs are a new file and database.
    const b = NODES.find((n) => n.name === 'node-b')!;
    api.modify('nodes', nodeObject({ name: b.name, internalIPs: [b.ip], zone: 'zone-a', region: b.region }));
    const sameZone = { postgresUrl: await pg.createDatabase('podflow_same_zone'), flowsFile: join(dir, 'flows-gateway-same-zone.jsonl') };
    gateway = await startGateway(sameZone);
    const sameZoneAgents = await startAgents('agent-same-zone', {});
    t.deepEqual(await cluster.runLoad(SAME_ZONE_ROUNDS), { ok: SAME_ZONE_ROUNDS, failed: 0 });
    const sameZoneEntries = await readNewFinalTables(cluster.nodes, entries);
    t.is(sameZoneEntries.filter((e) => reporter(e) === undefined || reporter(e) === e.node).length, 6 * SAME_ZONE_ROUNDS, 'same zone: the kernel saw every call once');
    t.deepEqual(await Promise.all(sameZoneAgents.map((p) => p.stop())), [0, 0]);
    await gateway.stop();
    const sameZoneCosts = fileCosts([sameZone.flowsFile]);
    assertKernelCosts(t, 'same zone, gateway file', sameZoneEntries, { 'node-a': 'zone-a', 'node-b': 'zone-a' }, costsByClass(sameZoneCosts));
    t.deepEqual(classesOf(costsByClass(sameZoneCosts)), ['intra_zone', 'nat_gateway', 'same_node']);
    t.deepEqual(await postgresCosts(pg, 'podflow_same_zone'), sameZoneCosts, 'same zone: PostgreSQL\'s cost_usd per group and class: exactly the file\'s');
    t.is(await gateway.selfMetric('podflow_processor_netcost_flows_total', { class: 'unknown' }), 0, 'same zone: no flow without zones');
    t.log(`agent-gateway e2e: ${6 * TOTAL_ROUNDS} connections, ${pgRows.length} rows, ${droppedByReportOnce} flows dropped by report-once at the gateway, ${api.requests.length} API requests (all the gateway's)`);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  }
});
