// The podflow config a manifest carries, checked by the real `bin/podflow validate` in the
// environment the container would have (its env names, with placeholder values).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PODFLOW, run, type RunResult } from './k8s-tools.ts';

/** `${env:NAME}` references without a `:-default`, which must be set in the container. */
export function requiredEnvReferences(configText: string): string[] {
  const names = new Set<string>();
  for (const m of configText.matchAll(/\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) {
    if (m[2] === undefined) names.add(m[1]!);
  }
  return [...names].sort();
}

/** Runs `bin/podflow validate` on the text with exactly these environment variables set. */
export async function validateConfig(configText: string, envNames: readonly string[]): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-deploy-'));
  try {
    const file = join(dir, 'config.yaml');
    await writeFile(file, configText);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
    for (const name of envNames) env[name] = name === 'NODE_NAME' ? 'node-a' : `placeholder-${name.toLowerCase()}`;
    return await run(PODFLOW, ['validate', '--config', file], env);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pipelines that export to postgres through a reduce that is not `temporality: delta`. */
export function postgresPipelinesWithoutDelta(configText: string): string[] {
  const config = parseYaml(configText) as {
    processors?: Record<string, { temporality?: string } | null>;
    service: { pipelines: Record<string, { processors?: string[]; exporters: string[] }> };
  };
  return Object.entries(config.service.pipelines)
    .filter(([, p]) => p.exporters.some((e) => e.split('/')[0] === 'postgres'))
    .filter(([, p]) => (p.processors ?? []).some((id) => id.split('/')[0] === 'reduce' && (config.processors?.[id]?.temporality ?? 'cumulative') !== 'delta'))
    .map(([name]) => name);
}
