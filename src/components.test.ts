// The registry: every component folder is registered once, as the kind its folder says.
import test from 'ava';
import { readdirSync } from 'node:fs';
import { FACTORIES } from './components.ts';

const KINDS = { receivers: 'receiver', processors: 'processor', exporters: 'exporter' } as const;

test('every component folder has one factory in src/components.ts, of its folder kind and named after it', (t) => {
  const folders = Object.entries(KINDS).flatMap(([dir, kind]) =>
    readdirSync(new URL(dir, import.meta.url), { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'shared')
      .map((d) => `${kind} ${d.name}`),
  );
  t.deepEqual(FACTORIES.map((f) => `${f.kind} ${f.type}`).sort(), folders.sort());
});
