// The page in a real browser (Debian's chromium, headless), against a servicemap exporter fed
// known flows: it draws every edge, shows a node's and an edge's numbers on click, shows hostile
// names as text, filters and regroups, follows new batches live, asks for a bearer token — and
// loads nothing from anywhere but podflow, with no console error. Serial: one Chromium at a time
// (each is a few hundred MB and a core while it draws).
import test, { type ExecutionContext } from 'ava';
import { missingBrowser, openPage, type BrowserSession } from '../../../test/harness/browser.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { testContext } from '../../../test/harness/context.ts';
import { skipOrFail } from '../../../test/harness/privileges.ts';
import type { Flow } from '../../model/index.ts';
import { servicemapConfigSchema } from './config.ts';
import { MAX_STREAM_CLIENTS } from './http-server.ts';
import { ServicemapExporter } from './servicemap-exporter.ts';
import { bookinfoFlows, counters, externalFlow, HOSTILE, workloadFlow } from './testdata/flows.ts';
import { clickElement, drawnIds, EDGE_RGB, edgeDrawnIn, leadingNumber, panel, waitForGraph } from './testdata/page.ts';

const TOKEN = 'token-for-the-browser-test';
const HOSTILE_WORKLOAD = { namespace: HOSTILE.namespace, name: HOSTILE.workload, zone: 'zone-a' };
const HOSTILE_ID = `workload:${encodeURIComponent(HOSTILE.namespace)}/Deployment/${encodeURIComponent(HOSTILE.workload)}`;
const DETAILS_ID = 'workload:bookinfo/Deployment/details-v1';

function flows(): Flow[] {
  return [
    ...bookinfoFlows(),
    counters(workloadFlow(HOSTILE_WORKLOAD, { namespace: 'bookinfo', name: 'details-v1', zone: 'zone-a' }), [4_321, 7], [8_765, 9], 3),
    counters(externalFlow({ namespace: 'bookinfo', name: 'details-v1' }, { address: '0.0.0.0', domain: HOSTILE.domain }), [11, 1], [22, 1]),
  ];
}

async function mapPage(t: ExecutionContext, config: Record<string, unknown> = {}): Promise<{ exporter: ServicemapExporter; session: BrowserSession; base: string } | undefined> {
  const missing = missingBrowser();
  if (missing) return void skipOrFail(t, missing);
  const exporter = new ServicemapExporter(testContext('servicemap'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0', ...config }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  await sendNow(exporter, { temporality: 'delta', flows: flows() });
  const base = `http://127.0.0.1:${exporter.address.port}`;
  const session = await openPage(`${base}/`);
  t.teardown(() => session.close());
  return { exporter, session, base };
}

/** Nothing left the machine: every request went to the exporter (or was a data: URL). */
function onlyLocal(t: ExecutionContext, session: BrowserSession, base: string): void {
  t.deepEqual(session.foreign, []);
  t.true(session.requests.length >= 5);
  t.deepEqual(session.requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('data:')), []);
}

test.serial('draws every edge; a click shows exact numbers; hostile names are text; nothing loads from outside; no console error', async (t) => {
  const started = await mapPage(t);
  if (!started) return;
  const { session, base } = started;
  const { page } = session;
  let dialogs = 0;
  page.on('dialog', (d) => void d.dismiss().then(() => dialogs++));

  const graph = await waitForGraph(page, (g) => g.edges.length === 9);
  t.deepEqual(await drawnIds(page), { nodes: graph.nodes.map((n) => n.id).sort(), edges: graph.edges.map((e) => e.id).sort() });

  // The hostile workload's edge: drawn in the in-zone colour, its numbers in the panel after a click.
  const edgeId = `${HOSTILE_ID} -> ${DETAILS_ID}`;
  const { drawn, seen } = await edgeDrawnIn(page, edgeId, EDGE_RGB.inZone);
  t.true(drawn, JSON.stringify(seen));
  t.true((await edgeDrawnIn(page, `${DETAILS_ID} -> internet:public`, EDGE_RGB.internet)).drawn, 'details → the internet drawn in the internet colour');
  t.deepEqual(await clickElement(page, edgeId), [edgeId]);
  const edgePanel = await panel(page);
  t.is(edgePanel.title, `${HOSTILE.namespace}/${HOSTILE.workload} → bookinfo/details-v1`);
  t.is(leadingNumber(edgePanel.rows['tx bytes']), 4_321);
  t.is(leadingNumber(edgePanel.rows['rx bytes']), 8_765);
  t.is(edgePanel.rows.packets, '7 tx, 9 rx');
  t.is(edgePanel.rows.connections, '3');
  t.is(edgePanel.rows['crosses zones'], 'no');

  // A node: its totals.
  t.deepEqual(await clickElement(page, DETAILS_ID), [DETAILS_ID]);
  const nodePanel = await panel(page);
  t.is(nodePanel.title, 'bookinfo/details-v1');
  t.is(nodePanel.subtitle, 'Deployment');
  t.is(leadingNumber(nodePanel.rows['bytes in']), 12_000 + 4_321 + 420_000 + 5_000 + 22);
  t.is(leadingNumber(nodePanel.rows['bytes out']), 88_000 + 8_765 + 3_000 + 1_000 + 11);

  // Hostile names are text everywhere they appear: the panel, the edge list, the namespace filter.
  await clickElement(page, HOSTILE_ID);
  t.is((await panel(page)).title, `${HOSTILE.namespace}/${HOSTILE.workload}`);
  const dom = await page.evaluate(`({
    injected: document.querySelectorAll('body img, body svg, body script, body iframe').length,
    title: document.title,
    options: [...document.querySelectorAll('#namespace option')].map((o) => o.textContent),
    list: [...document.querySelectorAll('#edge-list button')].map((b) => b.textContent),
  })`) as { injected: number; title: string; options: string[]; list: string[] };
  t.is(dom.injected, 0);
  t.is(dom.title, 'podflow service map');
  t.true(dom.options.includes(HOSTILE.namespace));
  t.true(dom.list.includes(`${HOSTILE.namespace}/${HOSTILE.workload} → bookinfo/details-v1`));
  t.true(dom.list.includes(`bookinfo/details-v1 → ${HOSTILE.domain}`));
  t.is(dialogs, 0);

  onlyLocal(t, session, base);
  t.deepEqual(session.errors, []);
});

test.serial('grouping switch, namespace filter and live updates over SSE', async (t) => {
  const started = await mapPage(t);
  if (!started) return;
  const { exporter, session, base } = started;
  const { page } = session;
  await waitForGraph(page, (g) => g.edges.length === 9);

  await page.selectOption('#group', 'namespace');
  const byNamespace = await waitForGraph(page, (g) => g.group === 'namespace');
  t.true((await drawnIds(page)).nodes.includes('namespace:bookinfo'));
  t.deepEqual((await drawnIds(page)).edges, byNamespace.edges.map((e) => e.id).sort());
  t.regex(page.url(), /#group=namespace/);

  await page.selectOption('#namespace', 'load');
  const load = await waitForGraph(page, (g) => g.edges.length === 1 && g.edges[0]!.id === 'namespace:load -> namespace:bookinfo');
  t.is(load.edges[0]!.tx_bytes, 27_000);
  t.deepEqual((await drawnIds(page)).edges, ['namespace:load -> namespace:bookinfo']);

  // A new batch reaches the open page by itself.
  await sendNow(exporter, { temporality: 'delta', flows: [counters(workloadFlow({ namespace: 'load', name: 'loadgen' }, { namespace: 'bookinfo', name: 'productpage-v1' }), [1_000, 1], [0, 0])] });
  const updated = await waitForGraph(page, (g) => g.edges[0]?.tx_bytes === 28_000);
  t.is(updated.edges.length, 1);

  await page.selectOption('#group', 'zone');
  await waitForGraph(page, (g) => g.group === 'zone');
  t.true((await drawnIds(page)).nodes.includes('zone:zone-b'));

  onlyLocal(t, session, base);
  t.deepEqual(session.errors, []);
});

test.serial('a stream refused (too many clients): the page polls instead', async (t) => {
  const missing = missingBrowser();
  if (missing) return skipOrFail(t, missing);
  const exporter = new ServicemapExporter(testContext('servicemap'), servicemapConfigSchema.parse({ endpoint: '127.0.0.1:0' }));
  await exporter.start();
  t.teardown(() => exporter.shutdown());
  const base = `http://127.0.0.1:${exporter.address.port}`;
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  await Promise.all(Array.from({ length: MAX_STREAM_CLIENTS }, () => fetch(`${base}/api/graph/stream`, { signal: abort.signal })));
  const session = await openPage(`${base}/`);
  t.teardown(() => session.close());
  await waitForGraph(session.page, (g) => g.edges.length === 0);
  await sendNow(exporter, { temporality: 'delta', flows: flows() });
  // Polling every refresh_ms (5 s before two batches have come).
  const graph = await waitForGraph(session.page, (g) => g.edges.length === 9, 15_000);
  t.is(graph.edges.length, 9);
  t.deepEqual(session.foreign, []);
  t.deepEqual(session.errors.map((e) => e.replace(/:\d+\//, ':PORT/')), [`console: Failed to load resource: the server responded with a status of 503 (Service Unavailable)`]);
});

test.serial('bearer token: the page asks for it, then polls with it', async (t) => {
  const started = await mapPage(t, { auth: { bearer_token: TOKEN } });
  if (!started) return;
  const { session, base } = started;
  const { page } = session;
  await page.waitForSelector('#token-form:not([hidden])');
  t.is(await page.textContent('#status'), 'authentication required');
  await page.fill('#token', TOKEN);
  await page.click('#token-form button');
  const graph = await waitForGraph(page, (g) => g.edges.length === 9);
  t.is(graph.edges.length, 9);
  t.true(await page.isHidden('#token-form'));
  onlyLocal(t, session, base);
  // The one expected error: the first, token-less request answered 401.
  t.deepEqual(session.errors.map((e) => e.replace(/\d{5}/, 'PORT')), ['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
});
