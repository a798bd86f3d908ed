// `make demo`: the e2e's simulated cluster with the traffic left running, for a person to look
// at. Builds the two nodes and their pods (cluster.ts), starts the test Kubernetes API server, a
// PostgreSQL, an OTLP receiver, a Prometheus when installed, one podflow per node and an endless
// Bookinfo load; then prints the node graph edges from PostgreSQL every few seconds, with the URLs
// to look at — the service map pages first. Ctrl-C (or DEMO_SECONDS running out) stops everything
// and removes every namespace, process and temporary file. Needs root (network namespaces).
//
//   sudo make demo                    # until Ctrl-C
//   sudo make demo DEMO_SECONDS=30    # stop by itself
//   sudo DEMO_SCREENSHOT=docs/servicemap-bookinfo.png make demo DEMO_SECONDS=40
//                                     # also saves a PNG of the cluster's service map (headless chromium)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../fake-apiserver.ts';
import { startOtlpReceiver } from '../otlp-receiver.ts';
import { missingPostgres, postgresBinDir, startPostgres } from '../postgres.ts';
import { missingBrowser, openPage } from '../browser.ts';
import { missingPrivileges } from '../privileges.ts';
import { PROMETHEUS_BIN, startPrometheus, type PrometheusServer } from '../prometheus.ts';
import { loadApiServer, SimulatedCluster } from './cluster.ts';
import { startPodflowNode, type PodflowNode } from './podflow-node.ts';
import { NODES } from './topology.ts';

const REFRESH_MS = 5_000;
const LOAD_PAUSE_MS = 200;
const seconds = Number(process.env.DEMO_SECONDS ?? 0);
const screenshot = process.env.DEMO_SCREENSHOT;
/** Traffic before the screenshot is taken: a few reduce intervals, so every edge is drawn. */
const SCREENSHOT_AFTER_MS = 20_000;

const say = (line = '') => process.stdout.write(`${line}\n`);

const problem = missingPrivileges(['ip', 'nft', 'conntrack']) ?? missingPostgres();
if (problem) {
  process.stderr.write(`make demo ${problem}\n`);
  process.exit(1);
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
let stopping: Promise<void> | undefined;

function stop(reason: string): Promise<void> {
  stopping ??= (async () => {
    say(`\n${reason}: stopping podflow and removing the simulated cluster...`);
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        process.stderr.write(`clean-up: ${(e as Error).message}\n`);
      }
    }
    say('done: every namespace, process and temporary file is gone.');
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => void stop(signal).then(() => process.exit(0)));
}

interface EdgeRow {
  source: string;
  target: string;
  mainstat: string;
  secondarystat: string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-demo-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  say('building the simulated cluster (2 nodes, 7 pods, a ClusterIP, an external host)...');
  const cluster = await SimulatedCluster.create('demo');
  cleanups.push(() => cluster.destroy());
  await cluster.startApps();
  const api = await FakeApiServer.start({ token: 'demo-token' });
  cleanups.push(() => api.close());
  loadApiServer(api);
  say('starting PostgreSQL...');
  const pg = await startPostgres();
  cleanups.push(() => pg.stop());
  const postgresUrl = await pg.createDatabase('podflow');
  const otlp = await startOtlpReceiver();
  cleanups.push(() => otlp.close());

  say('starting podflow on node-a and node-b...');
  const nodes: PodflowNode[] = [];
  // Registered before they exist: a failed start still stops the ones that did.
  cleanups.push(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  });
  for (const n of NODES) {
    nodes.push(await startPodflowNode({
      nodeName: n.name,
      netnsPath: cluster.node(n.name).path,
      kubeconfig: api.writeKubeconfig(),
      postgresUrl,
      otlpUrl: otlp.url,
      dir,
      reduceInterval: '5s',
      // Each node's map shows the flows it reports; node-a also serves the whole cluster's map,
      // read from PostgreSQL (what both nodes wrote).
      servicemap: { cluster: n.name === 'node-a' },
    }));
  }
  let prom: PrometheusServer | undefined;
  if (existsSync(PROMETHEUS_BIN)) {
    prom = await startPrometheus({ scrapeTargets: nodes.map((n) => n.prometheusTarget), scrapeIntervalSec: 5 });
    cleanups.push(() => prom?.stop());
  }
  say('starting the Bookinfo traffic (loadgen → productpage → details → external, → reviews → ratings, → ratings VIP)...');
  await cluster.startLoad(LOAD_PAUSE_MS);

  const psql = join(postgresBinDir()!, 'psql');
  say();
  say('Look at:');
  say(`  service map of the whole cluster (from PostgreSQL): ${nodes[0]!.clusterMapUrl}`);
  for (const n of nodes) say(`  service map of ${n.nodeName}'s flows (in memory):     ${n.servicemapUrl}`);
  for (const n of nodes) {
    say(`  podflow ${n.nodeName}: flows  http://${n.prometheusTarget}/metrics   self-metrics ${n.telemetryUrl}/metrics`);
    say(`                  config ${n.configFile}   log ${n.logFile}   flows ${n.flowsFile}`);
  }
  if (prom) {
    const q = encodeURIComponent('sum by (source_k8s_owner_name, destination_k8s_owner_name, network_flow_inter_zone) (rate(network_flow_io_bytes_total[1m]))');
    say(`  Prometheus:      ${prom.url}/graph?g0.expr=${q}&g0.tab=1`);
  }
  say(`  PostgreSQL:      ${postgresUrl}`);
  say(`    ${psql} -h ${pg.host} -p ${pg.port} -U postgres podflow -c "SELECT * FROM podflow.graph_edges(now() - interval '1 hour', now())"`);
  say(`  Kubernetes API:  ${api.url} (kubeconfig ${api.writeKubeconfig()})`);
  say(`  OTLP receiver:   ${otlp.url}/v1/metrics`);
  say(`  namespaces:      ip netns list | grep demo-${process.pid}`);
  say();
  say(seconds > 0 ? `running for ${seconds}s...` : 'Ctrl-C to stop.');

  if (screenshot) void takeScreenshot(nodes[0]!.clusterMapUrl!, screenshot);
  const endAt = seconds > 0 ? Date.now() + seconds * 1000 : Infinity;
  while (!stopping && Date.now() < endAt) {
    await new Promise((r) => setTimeout(r, Math.min(REFRESH_MS, endAt - Date.now())));
    if (stopping) break;
    let edges: EdgeRow[];
    try {
      edges = await pg.query<EdgeRow>('podflow', `SELECT source, target, mainstat, secondarystat FROM podflow.graph_edges(now() - interval '1 hour', now() + interval '1 minute')`);
    } catch (e) {
      say(`(graph_edges not readable yet: ${(e as Error).message})`);
      continue;
    }
    say(`\nnode graph edges at ${new Date().toISOString()} (podflow.graph_edges, last hour; OTLP requests received: ${otlp.requests.length})`);
    say(table([['source', 'target', 'bytes', 'connections'], ...edges.map((e) => [e.source, e.target, e.mainstat, e.secondarystat])]));
  }
  await stop(seconds > 0 ? `${seconds}s elapsed` : 'stopped');
}

/** Saves a PNG of the map once the traffic has run a while, with the busiest cross-zone edge clicked. */
async function takeScreenshot(url: string, file: string): Promise<void> {
  const missing = missingBrowser();
  if (missing) return void say(`(no screenshot: ${missing})`);
  await new Promise((r) => setTimeout(r, SCREENSHOT_AFTER_MS));
  if (stopping) return;
  const session = await openPage(url, { viewport: { width: 1400, height: 800 } });
  try {
    await session.page.locator('#edge-list li').nth(4).waitFor({ timeout: 20_000 });
    // The productpage → reviews edge (half of it crosses zones): click its line in the edge list.
    await session.page.getByRole('button', { name: 'bookinfo/productpage-v1 → bookinfo/reviews-v1' }).click();
    await session.page.waitForTimeout(500);
    await session.page.screenshot({ path: file });
    say(`screenshot of the service map: ${file}`);
  } catch (e) {
    say(`(no screenshot: ${(e as Error).message})`);
  } finally {
    await session.close();
  }
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
    await stop('error');
    process.exit(1);
  },
);
