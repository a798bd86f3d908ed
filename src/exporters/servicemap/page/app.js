// The service map page: draws /api/graph with Cytoscape.js (served by podflow from its
// node_modules) and keeps it current from /api/graph/stream (Server-Sent Events), or by polling
// when a bearer token is needed (EventSource cannot send one).
//
// Every name on this page comes from the network and is hostile: it is drawn on the canvas by
// Cytoscape, or put into the document with textContent; never parsed as HTML.
import cytoscape from './cytoscape.esm.min.mjs';

const COLORS = { inZone: '#7f8c8d', crossZone: '#e67e22', outside: '#8e44ad', internet: '#d62728' };
const WINDOW_CHOICES_MS = [60_000, 300_000, 900_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000, 31 * 86_400_000];
const EDGE_LIST_LENGTH = 50;
const TOKEN_KEY = 'podflow-servicemap-token';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const groupSelect = /** @type {HTMLSelectElement} */ ($('group'));
const namespaceSelect = /** @type {HTMLSelectElement} */ ($('namespace'));
const windowSelect = /** @type {HTMLSelectElement} */ ($('window'));
const layoutSelect = /** @type {HTMLSelectElement} */ ($('layout'));

const state = {
  /** The last graph received. */
  graph: null,
  /** The configured window: the longest one may ask for (learnt from the first answer). */
  maxWindowMs: 0,
  /** Id of the selected node or edge. */
  selected: null,
  token: null,
  /** Stops the current stream or polling loop. */
  stop: () => {},
};

// ---- numbers ---------------------------------------------------------------------------------

const exact = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 6 });

function human(bytes) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${decimal.format(v)} ${units[i]}`;
}

const bytesText = (n) => `${exact.format(n)} bytes (${human(n)})`;

function durationText(ms) {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

// ---- the address bar keeps the view (#group=...&namespace=...&window=...&layout=...) ---------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete('token');
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  for (const [select, key] of [[groupSelect, 'group'], [layoutSelect, 'layout']]) {
    const value = params.get(key);
    if (value && [...select.options].some((o) => o.value === value)) select.value = value;
  }
  const namespace = params.get('namespace');
  if (namespace) ensureOption(namespaceSelect, namespace).selected = true;
  const window = params.get('window');
  if (window) ensureOption(windowSelect, window).selected = true;
  writeHash();
}

function writeHash() {
  const params = new URLSearchParams();
  params.set('group', groupSelect.value);
  if (namespaceSelect.value) params.set('namespace', namespaceSelect.value);
  if (windowSelect.value) params.set('window', windowSelect.value);
  params.set('layout', layoutSelect.value);
  history.replaceState(null, '', `#${params}`);
}

function ensureOption(select, value, label = value) {
  let option = [...select.options].find((o) => o.value === value);
  if (!option) {
    option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    select.append(option);
  }
  return option;
}

function queryString() {
  const params = new URLSearchParams({ group: groupSelect.value });
  if (namespaceSelect.value) params.set('namespace', namespaceSelect.value);
  if (windowSelect.value) params.set('window', windowSelect.value);
  return params.toString();
}

// ---- the graph -------------------------------------------------------------------------------

const cy = cytoscape({
  container: $('graph'),
  minZoom: 0.05,
  maxZoom: 4,
  boxSelectionEnabled: false,
  style: [
    {
      selector: 'node',
      style: {
        label: 'data(title)',
        'font-size': 11,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        'text-wrap': 'ellipsis',
        'text-max-width': '180px',
        'background-color': '#4a90d9',
        shape: 'round-rectangle',
        width: 28,
        height: 28,
      },
    },
    { selector: 'node.group', style: { 'background-color': '#2c6fb2', width: 40, height: 40 } },
    { selector: 'node.host', style: { 'background-color': '#95a5a6', shape: 'rectangle' } },
    { selector: 'node.external', style: { 'background-color': COLORS.outside, shape: 'diamond' } },
    { selector: 'node.internet', style: { 'background-color': COLORS.internet, shape: 'diamond' } },
    {
      selector: 'edge',
      style: {
        width: 'data(width)',
        'line-color': COLORS.inZone,
        'target-arrow-color': COLORS.inZone,
        'target-arrow-shape': 'triangle',
        'arrow-scale': 0.9,
        'curve-style': 'bezier',
      },
    },
    { selector: 'edge.cross-zone', style: { 'line-color': COLORS.crossZone, 'target-arrow-color': COLORS.crossZone } },
    { selector: 'edge.outside', style: { 'line-color': COLORS.outside, 'target-arrow-color': COLORS.outside } },
    { selector: 'edge.internet', style: { 'line-color': COLORS.internet, 'target-arrow-color': COLORS.internet } },
    { selector: ':selected', style: { 'overlay-color': '#1f77b4', 'overlay-opacity': 0.25, 'overlay-padding': 6 } },
  ],
});

function nodeClasses(node) {
  if (node.kind === 'Internet') return ['internet'];
  if (node.kind === 'External') return ['external'];
  if (node.kind === 'Node') return ['host'];
  if (node.kind === 'Namespace' || node.kind === 'Zone') return ['group'];
  return ['workload'];
}

function edgeClasses(edge) {
  if (edge.internet) return ['internet'];
  if (edge.leaves_cluster) return ['outside'];
  if (edge.cross_zone) return ['cross-zone'];
  return ['in-zone'];
}

/** 1 to 12 pixels, by bytes on a log scale relative to the biggest edge. */
function edgeWidth(edge, maxBytes) {
  const bytes = edge.tx_bytes + edge.rx_bytes;
  return 1 + 11 * (Math.log1p(bytes) / Math.log1p(Math.max(maxBytes, 1)));
}

function runLayout() {
  if (layoutSelect.value === 'force') {
    cy.layout({ name: 'cose', animate: false, nodeDimensionsIncludeLabels: true, idealEdgeLength: () => 140, nodeRepulsion: () => 12_000, padding: 40 }).run();
    return;
  }
  // Layered, left to right: callers before callees.
  const roots = cy.nodes().filter((n) => n.incomers('edge').filter((e) => e.source().id() !== n.id()).empty());
  cy.layout({
    name: 'breadthfirst',
    directed: true,
    roots: roots.nonempty() ? roots : undefined,
    spacingFactor: 1.1,
    padding: 40,
    animate: false,
    nodeDimensionsIncludeLabels: true,
    transform: (_node, position) => ({ x: position.y * 1.6, y: position.x * 0.8 }),
  }).run();
}

function render(graph) {
  state.graph = graph;
  fillWindows(graph.max_window_ms);
  fillNamespaces(graph.namespaces);

  const maxBytes = graph.edges.reduce((m, e) => Math.max(m, e.tx_bytes + e.rx_bytes), 0);
  const wanted = new Set([...graph.nodes.map((n) => n.id), ...graph.edges.map((e) => e.id)]);
  const current = cy.elements();
  const sameElements = current.length === wanted.size && current.every((el) => wanted.has(el.id()));
  cy.batch(() => {
    if (!sameElements) {
      current.remove();
      cy.add([
        ...graph.nodes.map((n) => ({ group: 'nodes', data: { ...n }, classes: nodeClasses(n) })),
        ...graph.edges.map((e) => ({ group: 'edges', data: { ...e, width: edgeWidth(e, maxBytes) }, classes: edgeClasses(e) })),
      ]);
      return;
    }
    // Same elements: new numbers only, positions kept.
    for (const n of graph.nodes) {
      const { id, ...data } = n;
      cy.getElementById(id).data(data).classes(nodeClasses(n));
    }
    for (const e of graph.edges) {
      const { id, source, target, ...data } = e;
      cy.getElementById(id).data({ ...data, width: edgeWidth(e, maxBytes) }).classes(edgeClasses(e));
    }
  });
  if (!sameElements) runLayout();
  if (state.selected !== null) {
    const el = cy.getElementById(state.selected);
    if (el.nonempty()) el.select();
  }
  showDetails();
  fillEdgeList(graph);
  showStatus(graph);
}

// ---- the side panel --------------------------------------------------------------------------

function titleOf(id) {
  const node = state.graph?.nodes.find((n) => n.id === id);
  return node ? node.title : id;
}

function row(list, name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  list.append(dt, dd);
}

function showDetails() {
  const title = $('details-title');
  const subtitle = $('details-subtitle');
  const list = $('details-list');
  list.replaceChildren();
  const graph = state.graph;
  const node = graph?.nodes.find((n) => n.id === state.selected);
  const edge = graph?.edges.find((e) => e.id === state.selected);
  if (node) {
    title.textContent = node.title;
    subtitle.textContent = node.kind;
    if (node.namespace !== null) row(list, 'namespace', node.namespace);
    row(list, node.zones.length > 1 ? 'zones' : 'zone', node.zones.length ? node.zones.join(', ') : 'not known');
    row(list, 'bytes out', bytesText(node.bytes_out));
    row(list, 'bytes in', bytesText(node.bytes_in));
    const out = graph.edges.filter((e) => e.source === node.id).length;
    const into = graph.edges.filter((e) => e.target === node.id).length;
    row(list, 'edges', `${out} out, ${into} in`);
  } else if (edge) {
    title.textContent = `${titleOf(edge.source)} → ${titleOf(edge.target)}`;
    subtitle.textContent = 'source opened the connections; tx is source → target';
    row(list, 'tx bytes', bytesText(edge.tx_bytes));
    row(list, 'rx bytes', bytesText(edge.rx_bytes));
    row(list, 'total', bytesText(edge.tx_bytes + edge.rx_bytes));
    row(list, 'rate', `${human(edge.bytes_per_second)}/s`);
    row(list, 'packets', edge.tx_packets === null ? exact.format(edge.packets) : `${exact.format(edge.tx_packets)} tx, ${exact.format(edge.rx_packets)} rx`);
    row(list, 'connections', exact.format(edge.connections));
    row(list, 'crosses zones', edge.cross_zone ? `yes: ${bytesText(edge.cross_zone_bytes)}` : 'no');
    row(list, 'leaves the cluster', edge.leaves_cluster ? (edge.internet ? 'yes, to the internet' : 'yes') : 'no');
    if (edge.cost_usd !== undefined) row(list, 'cost', usd.format(edge.cost_usd));
  } else {
    title.textContent = 'Click a node or an edge';
    subtitle.textContent = '';
  }
}

function fillEdgeList(graph) {
  const list = $('edge-list');
  const items = graph.edges.slice(0, EDGE_LIST_LENGTH).map((edge) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `${titleOf(edge.source)} → ${titleOf(edge.target)}`;
    button.addEventListener('click', () => select(edge.id));
    const bytes = document.createElement('span');
    bytes.className = 'bytes';
    bytes.textContent = human(edge.tx_bytes + edge.rx_bytes);
    li.append(button, bytes);
    return li;
  });
  list.replaceChildren(...items);
  const other = graph.other;
  const otherBytes = other.tx_bytes + other.rx_bytes;
  $('other').textContent = otherBytes > 0 || other.merged_edges_total > 0
    ? `Not drawn: ${exact.format(other.merged_edges_total)} smaller edges merged into "other" since start (max_edges), ${bytesText(otherBytes)} in this window.`
    : '';
}

function fillNamespaces(namespaces) {
  const chosen = namespaceSelect.value;
  const wanted = [...new Set([...namespaces, ...(chosen ? [chosen] : [])])];
  const current = [...namespaceSelect.options].slice(1).map((o) => o.value);
  // Rebuilt only when the list changed: an open drop-down is not closed by every update.
  if (current.length === wanted.length && current.every((ns, i) => ns === wanted[i])) return;
  const options = [new Option('all namespaces', '')];
  for (const ns of wanted) {
    const option = document.createElement('option');
    option.value = ns;
    option.textContent = ns;
    options.push(option);
  }
  namespaceSelect.replaceChildren(...options);
  namespaceSelect.value = chosen;
}

function fillWindows(maxWindowMs) {
  if (maxWindowMs <= state.maxWindowMs) return;
  state.maxWindowMs = maxWindowMs;
  const chosen = windowSelect.value;
  const choices = [...WINDOW_CHOICES_MS.filter((ms) => ms < maxWindowMs), maxWindowMs];
  windowSelect.replaceChildren(...choices.map((ms) => new Option(`last ${durationText(ms)}`, durationText(ms))));
  windowSelect.value = chosen && choices.some((ms) => durationText(ms) === chosen) ? chosen : durationText(maxWindowMs);
}

function showStatus(graph) {
  const bytes = graph.edges.reduce((n, e) => n + e.tx_bytes + e.rx_bytes, 0);
  const time = (iso) => new Date(iso).toLocaleTimeString();
  // The memory source knows when the last batch came; PostgreSQL is read at `to`.
  const fresh = graph.source === 'postgres' ? `read from PostgreSQL at ${time(graph.to)}` : graph.updated_at ? `updated ${time(graph.updated_at)}` : 'no flows yet';
  setStatus(`${graph.nodes.length} nodes, ${graph.edges.length} edges, ${human(bytes)} since ${time(graph.from)} · ${fresh}`, false);
}

function setStatus(text, problem) {
  const status = $('status');
  status.textContent = text;
  status.classList.toggle('problem', problem);
}

function select(id) {
  state.selected = id;
  cy.elements().unselect();
  if (id !== null) cy.getElementById(id).select();
  showDetails();
}

cy.on('tap', (event) => select(event.target === cy ? null : event.target.id()));

// ---- data: a stream, or polling with a bearer token -------------------------------------------

async function fetchGraph() {
  const headers = state.token ? { authorization: `Bearer ${state.token}` } : {};
  const res = await fetch(`api/graph?${queryString()}`, { headers, cache: 'no-store' });
  if (res.status === 401) return { unauthorized: true };
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return { graph: body };
}

function stream() {
  const source = new EventSource(`api/graph/stream?${queryString()}`);
  let polling = null;
  source.addEventListener('graph', (event) => render(JSON.parse(event.data)));
  source.addEventListener('failure', (event) => setStatus(JSON.parse(event.data).error, true));
  source.addEventListener('error', () => {
    // EventSource retries by itself after a lost connection; a refused stream (503: too many
    // clients) closes it for good: poll instead.
    if (source.readyState === EventSource.CLOSED && polling === null) polling = poll();
    else setStatus('connection lost: reconnecting…', true);
  });
  return () => {
    source.close();
    polling?.();
  };
}

function poll() {
  let timer;
  let stopped = false;
  const tick = async () => {
    try {
      const result = await fetchGraph();
      if (stopped) return;
      if (result.unauthorized) return askForToken();
      render(result.graph);
    } catch (err) {
      setStatus(`cannot read the graph: ${err.message}`, true);
    }
    if (!stopped) timer = setTimeout(tick, Math.max(1_000, state.graph?.refresh_ms ?? 5_000));
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function askForToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  setStatus('authentication required', true);
  $('token-form').hidden = false;
}

async function connect() {
  state.stop();
  state.stop = () => {};
  writeHash();
  if (state.token) {
    state.stop = poll();
    return;
  }
  // One plain request first: it tells whether a token is needed before a stream is opened.
  try {
    const result = await fetchGraph();
    if (result.unauthorized) return askForToken();
    render(result.graph);
  } catch (err) {
    setStatus(`cannot read the graph: ${err.message}`, true);
  }
  state.stop = stream();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  sessionStorage.setItem(TOKEN_KEY, input.value);
  state.token = input.value;
  input.value = '';
  $('token-form').hidden = true;
  void connect();
});

for (const select of [groupSelect, namespaceSelect, windowSelect]) {
  select.addEventListener('change', () => {
    state.selected = null;
    state.graph = null;
    cy.elements().remove();
    void connect();
  });
}
layoutSelect.addEventListener('change', () => {
  writeHash();
  runLayout();
});

readHash();
void connect();

// For the browser console: the Cytoscape instance and the last graph.
window.servicemap = { cy, graph: () => state.graph };
