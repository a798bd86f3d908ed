// The process entry behind bin/podflow. `--version`, `version` and `help` are answered before
// anything else is loaded; the config, the components and the pipeline are imported only for
// the commands that use them.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { enableCompileCache, getCompileCacheDir } from 'node:module';
import { answerWithoutLoading } from './command-line.ts';

const argv = process.argv.slice(2);
const answered = answerWithoutLoading(argv);
if (answered !== undefined) {
  process.exitCode = answered;
} else {
  // V8's compiled code of what follows (zod, yaml, the schemas, ...) is kept beside the
  // dependencies: a third less CPU for `validate` (bench/cli). Only a directory that can be
  // written is handed to Node (whose own attempt to create one spins on some paths); in a
  // read-only image nothing is cached. NODE_DISABLE_COMPILE_CACHE=1 turns it off. bin/podflow
  // enables it before the first module (NODE_COMPILE_CACHE); this is for `node src/main.ts`.
  const cache = new URL('../node_modules/.cache/podflow-compile/', import.meta.url).pathname;
  try {
    if (getCompileCacheDir() === undefined) {
      mkdirSync(cache, { recursive: true });
      accessSync(cache, constants.W_OK);
      enableCompileCache(cache);
    }
  } catch {
    // not writable: run without the cache
  }
  // Node programs podflow may start do not inherit it.
  delete process.env.NODE_COMPILE_CACHE;
  const [{ exitWith, main }, { FACTORIES }] = await Promise.all([import('./cli.ts'), import('./components.ts')]);
  exitWith(main(argv, FACTORIES));
}
