// Reading and using the service map page in a real browser (test/harness/browser.ts): wait for
// a graph, click an edge or a node where Cytoscape drew it (a real mouse click on the canvas),
// read the side panel's text, and read the pixels drawn at an edge's middle.
import type { Core, EdgeSingular } from 'cytoscape';
import type { Page } from 'playwright-core';
import type { Graph } from '../graph.ts';

// The functions passed to page.evaluate run in the browser; the project compiles without the DOM
// library, so the little of the DOM they use is declared here.
interface DomElement {
  textContent: string | null;
  readonly children: ArrayLike<DomElement> & Iterable<DomElement>;
  getBoundingClientRect(): { left: number; top: number; width: number };
}
interface DomCanvas extends DomElement {
  width: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
/** The page's globals: what page/app.js leaves for the browser console, and the document. */
interface PageHandle {
  servicemap?: { cy: Core; graph(): Graph | null };
  document: { getElementById(id: string): DomElement | null; querySelectorAll(selector: string): Iterable<DomCanvas> };
}

/** The edge colours of page/app.js, as RGB. */
export const EDGE_RGB = {
  inZone: [0x7f, 0x8c, 0x8d],
  crossZone: [0xe6, 0x7e, 0x22],
  outside: [0x8e, 0x44, 0xad],
  internet: [0xd6, 0x27, 0x28],
} as const;

/** Waits until the page has drawn a graph for which `ready(graph)` holds; returns that graph. */
export async function waitForGraph(page: Page, ready: (graph: Graph) => boolean, timeoutMs = 30_000): Promise<Graph> {
  // Polled from here: the page's CSP (script-src 'self') forbids the eval a string predicate needs.
  const deadline = Date.now() + timeoutMs;
  let last: Graph | null = null;
  for (;;) {
    last = await page.evaluate(() => (globalThis as unknown as PageHandle).servicemap?.graph() ?? null);
    if (last && ready(last)) return last;
    if (Date.now() > deadline) throw new Error(`the page did not draw the expected graph within ${timeoutMs}ms; it has ${JSON.stringify(last)?.slice(0, 2_000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ids of the elements Cytoscape holds, nodes and edges. */
export function drawnIds(page: Page): Promise<{ nodes: string[]; edges: string[] }> {
  return page.evaluate(() => {
    const cy = (globalThis as unknown as PageHandle).servicemap!.cy;
    return { nodes: cy.nodes().map((n) => n.id()).sort(), edges: cy.edges().map((e) => e.id()).sort() };
  });
}

/**
 * Where an element is on the page, in page pixels, after the frames the page has pending are
 * drawn: a node's centre, or points along an edge (its middle first). The page updates live, so
 * position and pixels are read in one go.
 */
async function positions(page: Page, id: string): Promise<Array<{ x: number; y: number }>> {
  const at = await page.evaluate(async (elementId) => {
    const g = globalThis as unknown as PageHandle & { requestAnimationFrame(f: () => void): void };
    await new Promise<void>((resolve) => g.requestAnimationFrame(() => g.requestAnimationFrame(resolve)));
    const cy = g.servicemap!.cy;
    const el = cy.getElementById(elementId);
    if (el.empty()) return undefined;
    const box = (cy.container() as unknown as DomElement).getBoundingClientRect();
    if (el.isNode()) return [{ x: box.left + el.renderedPosition().x, y: box.top + el.renderedPosition().y }];
    const edge = el as unknown as EdgeSingular;
    const [s, t, m] = [edge.renderedSourceEndpoint(), edge.renderedTargetEndpoint(), edge.renderedMidpoint()];
    return [m, ...[0.3, 0.4, 0.6, 0.7].map((f) => ({ x: s.x + f * (t.x - s.x), y: s.y + f * (t.y - s.y) }))].map((p) => ({ x: box.left + p.x, y: box.top + p.y }));
  }, id);
  if (!at) throw new Error(`the page has no element ${id}`);
  return at;
}

/**
 * Clicks the element with the mouse where it is drawn; returns the ids the page then shows as
 * selected. Tries again if a live update moved the map between reading the position and clicking.
 */
export async function clickElement(page: Page, id: string): Promise<string[]> {
  let selected: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const [{ x, y }] = (await positions(page, id)) as [{ x: number; y: number }];
    await page.mouse.click(x, y);
    selected = await page.evaluate(() => (globalThis as unknown as PageHandle).servicemap!.cy.$(':selected').map((e) => e.id()));
    if (selected.length === 1 && selected[0] === id) break;
  }
  return selected;
}

/** The side panel: its title, subtitle and rows (name → text), as the document holds them. */
export function panel(page: Page): Promise<{ title: string; subtitle: string; rows: Record<string, string> }> {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as PageHandle;
    const text = (id: string) => document.getElementById(id)!.textContent ?? '';
    const rows: Record<string, string> = {};
    const cells = [...document.getElementById('details-list')!.children];
    for (let i = 0; i + 1 < cells.length; i += 2) rows[cells[i]!.textContent ?? ''] = cells[i + 1]!.textContent ?? '';
    return { title: text('details-title'), subtitle: text('details-subtitle'), rows };
  });
}

/** The exact number at the start of a panel value such as `12,345 bytes (12.3 kB)`. */
export function leadingNumber(text: string | undefined): number {
  const m = /^([\d,]+)/.exec(text ?? '');
  if (!m) throw new Error(`no number in ${JSON.stringify(text)}`);
  return Number(m[1]!.replaceAll(',', ''));
}

/** The opaque colours on Cytoscape's canvas layers in 5×5 squares at points along an edge. */
async function colorsAlongEdge(page: Page, id: string): Promise<Array<[number, number, number]>> {
  const points = await positions(page, id);
  return page.evaluate((points) => {
    const colors: Array<[number, number, number]> = [];
    const { document } = globalThis as unknown as PageHandle;
    for (const canvas of document.querySelectorAll('#graph canvas')) {
      const box = canvas.getBoundingClientRect();
      const scale = canvas.width / box.width;
      for (const { x, y } of points) {
        const data = canvas.getContext('2d')!.getImageData(Math.round((x - box.left) * scale) - 2, Math.round((y - box.top) * scale) - 2, 5, 5).data;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3] === 255) colors.push([data[i]!, data[i + 1]!, data[i + 2]!]);
      }
    }
    return colors;
  }, points);
}

/**
 * Whether the edge is drawn in `rgb` (within a small tolerance) somewhere along its length;
 * waits up to `timeoutMs` for the page to draw it. Returns the colours seen last, for a message.
 */
export async function edgeDrawnIn(page: Page, id: string, rgb: readonly number[], timeoutMs = 5_000): Promise<{ drawn: boolean; seen: Array<[number, number, number]> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await colorsAlongEdge(page, id);
    const drawn = seen.some(([r, g, b]) => Math.abs(r - rgb[0]!) + Math.abs(g - rgb[1]!) + Math.abs(b - rgb[2]!) < 12);
    if (drawn || Date.now() > deadline) return { drawn, seen: [...new Map(seen.map((c) => [c.join(','), c])).values()] };
    await new Promise((r) => setTimeout(r, 200));
  }
}
