// What a podflow command loads: a child process started with moduleTraceEnv(file) writes every
// module it loaded to `file` when it exits (module-trace-preload.ts); loadedModules reads it as
// paths relative to the repository (`src/cli.ts`, `node_modules/pg/lib/index.js`).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const PRELOAD = fileURLToPath(new URL('./module-trace-preload.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function moduleTraceEnv(file: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim(), PODFLOW_MODULE_TRACE: file };
}

/** The project's modules and packages the process loaded (node: built-ins left out). */
export async function loadedModules(file: string): Promise<string[]> {
  const urls = (await readFile(file, 'utf8')).split('\n').filter((u) => u.startsWith('file:'));
  return urls.map((u) => fileURLToPath(u)).map((p) => (p.startsWith(ROOT) ? p.slice(ROOT.length) : p)).filter((p) => !p.includes('module-trace-preload'));
}

/** `node_modules/@opentelemetry/sdk-metrics/...` → `@opentelemetry/sdk-metrics`. */
export function packagesOf(modules: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const m of modules) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m);
    if (match) names.add(match[1]!);
  }
  return names;
}
