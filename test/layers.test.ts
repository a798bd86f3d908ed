// The source tree's layers, checked on the import graph the TypeScript compiler resolves
// (`tsc --explainFiles`, type-only imports included):
//
//   model → contracts → config, telemetry → native, pipeline → components → app
//
// A file imports only from its own layer or the ones before it. A component folder imports no
// other component folder (its kind's `shared/` aside); its tests may. Test support lives in
// `test/harness/` and `<component>/testdata/`, and production code imports neither.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname;

type Layer = 'model' | 'contracts' | 'config' | 'telemetry' | 'native' | 'pipeline' | 'component' | 'app';

/** The layers each layer may import from (besides its own). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  model: [],
  contracts: ['model'],
  config: ['contracts', 'model'],
  telemetry: ['contracts', 'model'],
  native: ['telemetry', 'config', 'contracts', 'model'],
  pipeline: ['telemetry', 'config', 'contracts', 'model'],
  component: ['pipeline', 'native', 'telemetry', 'config', 'contracts', 'model'],
  app: ['component', 'pipeline', 'native', 'telemetry', 'config', 'contracts', 'model'],
};

const LAYER_FOLDERS: Record<string, Layer> = {
  model: 'model', contracts: 'contracts', config: 'config', telemetry: 'telemetry', native: 'native', pipeline: 'pipeline',
};
const COMPONENT_FOLDERS = ['receivers', 'processors', 'exporters'];

interface SourceFile {
  layer: Layer;
  /** `receivers/conntrack`, `exporters/shared`: the component folder of a component file. */
  component?: string;
  isTest: boolean;
}

/** Where a file under src/ sits; undefined for files outside src/. */
function classify(path: string): SourceFile | undefined {
  const m = /^src\/(?:([^/]+)\/)?(?:([^/]+)\/)?/.exec(path);
  if (!m) return undefined;
  const isTest = path.endsWith('.test.ts');
  const [, top, sub] = m;
  if (top !== undefined && COMPONENT_FOLDERS.includes(top)) return { layer: 'component', component: `${top}/${sub}`, isTest };
  return { layer: (top !== undefined && LAYER_FOLDERS[top]) || 'app', isTest };
}

const isTestSupport = (path: string) => path.startsWith('test/harness/') || path.includes('/testdata/');

/** `importer → imported` for every import between the project's own files, as tsc resolves them. */
async function importGraph(): Promise<Map<string, Set<string>>> {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const run = promisify(execFile);
  // Type errors make tsc exit non-zero; `make typecheck` reports them, the graph is still printed.
  const out = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--explainFiles'], { cwd: ROOT, maxBuffer: 64 << 20 })
    .then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  const graph = new Map<string, Set<string>>();
  let file: string | undefined;
  for (const line of out.split('\n')) {
    if (/^\S/.test(line)) {
      file = /^(src|test|bench)\//.test(line) ? line.trim() : undefined;
      if (file && !graph.has(file)) graph.set(file, new Set());
      continue;
    }
    const from = /^\s+Imported via (["']).*?\1 from file '([^']+)'/.exec(line)?.[2];
    if (file && from && /^(src|test|bench)\//.test(from)) {
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(file);
    }
  }
  return graph;
}

/** Why a file `from` may not import `imported` (both under src/), or undefined when it may. */
function violation(from: SourceFile, to: SourceFile, imported: string): string | undefined {
  if (from.layer === to.layer) {
    if (from.layer !== 'component' || from.component === to.component || from.isTest) return undefined;
    const shared = `${from.component!.split('/')[0]}/shared`;
    return to.component === shared ? undefined : `component ${from.component} imports another component, ${to.component}`;
  }
  if (MAY_IMPORT[from.layer].includes(to.layer)) return undefined;
  return `${from.layer} imports ${to.layer} (${imported})`;
}

let graph: Map<string, Set<string>>;
test.before(async () => {
  graph = await importGraph();
});

test('the compiler resolved the project (the graph is not empty)', (t) => {
  t.true(graph.size > 100, `${graph.size} files`);
  t.true(graph.get('src/config/load.ts')?.has('src/contracts/component.ts'), 'src/config/load.ts → src/contracts/component.ts');
});

test('every import between src/ files goes down the layers, directly or through test support', (t) => {
  const problems: string[] = [];
  for (const [importer, imports] of graph) {
    const from = classify(importer);
    // Test support is checked through the tests that import it (it may import the harness).
    if (!from || isTestSupport(importer)) continue;
    // Test support is followed: a config test must not reach components through a harness.
    const seen = new Set<string>();
    const queue = [...imports].map((imported) => ({ imported, via: '' }));
    while (queue.length > 0) {
      const { imported, via } = queue.shift()!;
      if (seen.has(imported)) continue;
      seen.add(imported);
      if (isTestSupport(imported)) {
        if (!from.isTest) problems.push(`${importer}: production code imports test support ${imported}`);
        else queue.push(...[...(graph.get(imported) ?? [])].map((next) => ({ imported: next, via: `${via} through ${imported}` })));
        continue;
      }
      const to = classify(imported);
      const why = to ? violation(from, to, imported) : `imports ${imported}, which is neither source nor test support`;
      if (why) problems.push(`${importer}: ${why}${via}`);
    }
  }
  t.deepEqual(problems, []);
});

test('every production module under src/ is part of the program (reachable from src/main.ts)', (t) => {
  const reached = new Set<string>();
  const queue = ['src/main.ts'];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    queue.push(...(graph.get(file) ?? []));
  }
  const unreached = [...graph.keys()].filter((f) => f.startsWith('src/') && !f.endsWith('.test.ts') && !isTestSupport(f) && !reached.has(f));
  t.deepEqual(unreached, [], 'modules only tests or benchmarks use belong in test/harness/ or <component>/testdata/');
});

test('test/ holds test files and test/harness/ (helpers live in test/harness/)', (t) => {
  const stray = [...graph.keys()].filter((f) => f.startsWith('test/') && !f.endsWith('.test.ts') && !f.startsWith('test/harness/'));
  t.deepEqual(stray, []);
});
