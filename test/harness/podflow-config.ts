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

/** Component types a deploy config may name before their branch is merged into this build. */
const ELSEWHERE: ReadonlyArray<[section: string, type: string]> = [['receivers', 'otlp'], ['exporters', 'loadbalancing'], ['receivers', 'cilium']];

let components: Promise<string> | undefined;

/**
 * `bin/podflow validate` on the text must pass; when the text names a type of ELSEWHERE that this
 * build does not have yet, everything but those types must be valid (exactly their "unknown
 * type" errors). Returns the types it had to leave out.
 */
export async function checkConfig(t: import('ava').ExecutionContext, configText: string, envNames: readonly string[], what: string): Promise<string[]> {
  components ??= run(PODFLOW, ['components']).then((r) => r.stdout);
  const listed = await components;
  const result = await validateConfig(configText, envNames);
  const config = parseYaml(configText) as Record<string, Record<string, unknown> | undefined>;
  const missing = ELSEWHERE.filter(([section, type]) => Object.keys(config[section] ?? {}).some((id) => id.split('/')[0] === type)
    && !new RegExp(`${section}:\\n(?: {2}.*\\n)*? {2}${type}\\b`).test(listed));
  if (missing.length === 0) {
    t.is(result.code, 0, `${what}: ${result.stderr}`);
    t.is(result.stdout.trim(), 'ok');
    return [];
  }
  t.is(result.code, 1, `${what}: ${result.stderr}`);
  for (const [section, type] of missing) t.regex(result.stderr, new RegExp(`${section}\\.${type}(/\\S+)?: unknown ${section.slice(0, -1)} type "${type}"`), what);
  const errors = Number(/invalid configuration \((\d+) errors?\)/.exec(result.stderr)?.[1]);
  const ids = missing.flatMap(([section, type]) => Object.keys(config[section] ?? {}).filter((id) => id.split('/')[0] === type));
  t.is(errors, ids.length, `${what}: only the types not in this build are errors: ${result.stderr}`);
  t.log(`${what}: ${missing.map(([, type]) => type).join(', ')} not registered in this build: validated all but their bodies`);
  return missing.map(([, type]) => type);
}
