// The map of real kernel flows in a real browser: the simulated cluster of test/e2e (network
// namespaces, real TCP traffic, conntrack), the test Kubernetes API server, and `bin/podflow run`
// on node-a (conntrack → k8sattributes → reduce → servicemap). The details pod is served as a
// bare pod whose name is markup, quotes and control bytes.
//
// The page must draw the call graph's edges in their colours, show after a click on an edge
// exactly the bytes, packets and connections of the kernel's own conntrack counters, show the
// hostile name as text, request nothing beyond 127.0.0.1 and log no console error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { missingBrowser, openPage } from '../../../test/harness/browser.ts';
import { FakeApiServer } from '../../../test/harness/fake-apiserver.ts';
import { pod } from '../../../test/harness/k8s-objects.ts';
import { requirePrivileges, skipOrFail } from '../../../test/harness/privileges.ts';
import { loadApiServer, SimulatedCluster } from '../../../test/harness/cluster/cluster.ts';
import { groupKey, kernelAccount, readFinalTables } from '../../../test/harness/cluster/kernel-oracle.ts';
import { startPodflowNode } from '../../../test/harness/cluster/podflow-node.ts';
import { EXTERNAL, NAMESPACE, podsOf, workloadId } from '../../../test/harness/cluster/topology.ts';
import type { Graph, GraphEdge } from './graph.ts';
import { clickElement, EDGE_RGB, edgeDrawnIn, leadingNumber, panel, waitForGraph } from './testdata/page.ts';

const ROUNDS = 6;
const HOSTILE_POD = '<script>document.title="pwned"</script>\'"\u0007\u001b[1m';

test('real kernel flows: the page draws the edges and shows the kernel\'s exact counters on click', async (t) => {
  if (!requirePrivileges(t, ['ip', 'nft', 'conntrack'])) return;
  const missing = missingBrowser();
  if (missing) return skipOrFail(t, missing);
  t.timeout(180_000);
  const cleanups: Array<() => unknown> = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'podflow-servicemap-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cluster = await SimulatedCluster.create('smap');
    cleanups.push(() => cluster.destroy());
    const api = await FakeApiServer.start({ token: 'servicemap-token' });
    cleanups.push(() => api.close());
    await cluster.startApps();
    loadApiServer(api);
    // The details pod becomes a bare pod named with markup: its workload is the pod itself.
    const [details] = podsOf('details');
    const [productpage] = podsOf('productpage');
    api.remove('pods', details!.name, NAMESPACE);
    api.add('pods', pod({ namespace: NAMESPACE, name: HOSTILE_POD, ip: details!.ip, node: details!.node, labels: { app: 'details' } }));

    const node = await startPodflowNode({
      nodeName: 'node-a',
      netnsPath: cluster.node('node-a').path,
      kubeconfig: api.writeKubeconfig(),
      dir,
      servicemap: {},
      conntrackInterval: '500ms',
      reduceInterval: '1s',
    });
    cleanups.push(() => node.stop());
    const session = await openPage(node.servicemapUrl!);
    cleanups.push(() => session.close());
    const { page } = session;

    t.deepEqual(await cluster.runLoad(ROUNDS), { ok: ROUNDS, failed: 0 });
    const kernel = kernelAccount(await readFinalTables(cluster.nodes)).reportOnce;
    const want = kernel[groupKey(workloadId(productpage!.owner), workloadId(details!.owner), false, undefined)]!;
    t.is(want.connections, ROUNDS, 'the kernel saw one connection per round');

    const PRODUCTPAGE = 'workload:bookinfo/Deployment/productpage-v1';
    const HOSTILE_ID = `workload:bookinfo/Pod/${encodeURIComponent(HOSTILE_POD)}`;
    const edgeId = `${PRODUCTPAGE} -> ${HOSTILE_ID}`;
    const find = (g: Graph, id: string): GraphEdge | undefined => g.edges.find((e) => e.id === id);
    // The page follows the stream until podflow has read the closed connections' last counters.
    const graph = await waitForGraph(page, (g) => find(g, edgeId)?.tx_bytes === want.txBytes && find(g, edgeId)?.rx_bytes === want.rxBytes, 60_000);
    // node-a reports what its pods open: productpage's calls, details' to the outside, reviews (a)'s.
    t.deepEqual(graph.edges.map((e) => e.id).sort(), [
      edgeId,
      `${PRODUCTPAGE} -> workload:bookinfo/Deployment/reviews-v1`,
      `${HOSTILE_ID} -> external:${EXTERNAL.ip}`,
      'workload:bookinfo/Deployment/reviews-v1 -> workload:bookinfo/StatefulSet/ratings',
    ].sort());

    // Drawn, in their colours: within a zone; across zones (reviews runs in both); out of the cluster.
    const drawn = async (id: string, rgb: readonly number[], what: string) => {
      const { drawn, seen } = await edgeDrawnIn(page, id, rgb);
      t.true(drawn, `${what}; colours seen along it: ${JSON.stringify(seen)}`);
    };
    await drawn(edgeId, EDGE_RGB.inZone, 'productpage → details drawn in the in-zone colour');
    await drawn(`${PRODUCTPAGE} -> workload:bookinfo/Deployment/reviews-v1`, EDGE_RGB.crossZone, 'productpage → reviews drawn in the cross-zone colour');
    await drawn(`${HOSTILE_ID} -> external:${EXTERNAL.ip}`, EDGE_RGB.outside, 'details → external drawn in the leaves-the-cluster colour');

    // A click on the edge: the kernel's exact counters in the panel.
    t.deepEqual(await clickElement(page, edgeId), [edgeId]);
    const shown = await panel(page);
    t.is(shown.title, `bookinfo/productpage-v1 → bookinfo/${HOSTILE_POD}`);
    t.is(leadingNumber(shown.rows['tx bytes']), want.txBytes);
    t.is(leadingNumber(shown.rows['rx bytes']), want.rxBytes);
    t.is(leadingNumber(shown.rows.total), want.txBytes + want.rxBytes);
    t.is(shown.rows.packets, `${want.txPackets.toLocaleString('en-US')} tx, ${want.rxPackets.toLocaleString('en-US')} rx`);
    t.is(shown.rows.connections, String(want.connections));
    t.is(shown.rows['crosses zones'], 'no');

    // The hostile name is text: no element made of it, the title untouched.
    await clickElement(page, HOSTILE_ID);
    t.is((await panel(page)).title, `bookinfo/${HOSTILE_POD}`);
    t.deepEqual(await page.evaluate('[document.title, document.querySelectorAll("body script, body img").length]'), ['podflow service map', 0]);

    t.deepEqual(session.foreign, []);
    t.deepEqual(session.requests.filter((url) => !url.startsWith(node.servicemapUrl!) && !url.startsWith('data:')), []);
    t.deepEqual(session.errors, []);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  }
});
