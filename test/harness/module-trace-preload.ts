// Preloaded into a podflow process (NODE_OPTIONS=--import=<this file>, see module-trace.ts):
// every module URL the process loads, ESM or CommonJS, is written one per line to
// $PODFLOW_MODULE_TRACE when it exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.PODFLOW_MODULE_TRACE;
const loaded = new Set<string>();
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url);
    return nextLoad(url, context);
  },
});
if (out) process.on('exit', () => writeFileSync(out, [...loaded].join('\n')));
