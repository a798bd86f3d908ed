// deploy/Dockerfile: linted (pinned bases, non-root USER, HEALTHCHECK on /healthz, no secrets),
// its build context checked against deploy/Dockerfile.dockerignore, and the runtime file set it
// assembles (src without tests, bin, package.json, node_modules, the addon, the image config)
// run with the real podflow CLI. No container engine runs here, so nothing is built.
import test from 'ava';
import { cp, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parse as parseYaml } from 'yaml';
import { lintDockerfile, stagesOf } from '../harness/dockerfile-lint.ts';
import { ROOT, run } from '../harness/k8s-tools.ts';

const DOCKERFILE = `${ROOT}deploy/Dockerfile`;
const text = await readFile(DOCKERFILE, 'utf8');
const stages = stagesOf(DockerfileParser.parse(text));
const final = stages[stages.length - 1]!;

/** The stage a COPY copies from (`--from=build`), or undefined for the build context. */
function copyFrom(i: Instruction): string | undefined {
  const flags = (i as Instruction & { getFlags?(): { getName(): string; getValue(): string | null }[] }).getFlags?.() ?? [];
  return flags.find((f) => f.getName() === 'from')?.getValue() ?? undefined;
}

test('deploy/Dockerfile passes the lint', (t) => {
  t.deepEqual(lintDockerfile(text), []);
  // One base for both stages: the Rust toolchain is Debian's (cargo-web), so the only image
  // `make test-image` has to build locally is Node's.
  t.deepEqual(stages.map((s) => s.name), ['build', undefined]);
  // The runtime base is a slim Node 24, the same as the build stage's (the addon's glibc).
  t.regex(final.image, /^node:24\.\d+\.\d+-[a-z]+-slim$/);
  t.is(stages[0]!.image, final.image);
  // A dependency whose engines do not accept this Node fails the build instead of warning (EBADENGINE).
  t.true(stages[0]!.instructions.some((i) => i.getKeyword() === 'RUN' && /npm ci .*--engine-strict/.test(i.getArgumentsContent() ?? '')));
});

test('the lint finds every problem of a bad Dockerfile', (t) => {
  const bad = [
    'ARG BASE=node:24-slim',
    'FROM ${BASE}',
    'ENV DB_PASSWORD=hunter2 NODE_ENV=production',
    'ARG NPM_TOKEN',
    'COPY .npmrc id_rsa /root/',
    'ADD https://example.com/tool.tgz /opt/',
    'RUN apt-get update && apt-get install -y curl',
    'RUN curl -fsS https://user:s3cret@example.com/x',
    'USER root',
    'ENTRYPOINT node /app/src/main.ts',
    '',
  ].join('\n');
  t.deepEqual(lintDockerfile(bad), [
    'not multi-stage: build tools would end up in the image',
    'line 2: base image "node:24-slim" is not pinned: use an exact version (name:1.2.3) or a digest (@sha256:...)',
    'line 3: ENV DB_PASSWORD: secrets must not be baked into the image (use a runtime Secret)',
    'line 4: ARG NPM_TOKEN: secrets must not be baked into the image (use a runtime Secret)',
    'line 5: COPY .npmrc: a credentials file must not be copied into the image',
    'line 5: COPY id_rsa: a credentials file must not be copied into the image',
    'line 6: ADD https://example.com/tool.tgz: downloads at build time are not pinned',
    'line 7: apt-get install without --no-install-recommends',
    'line 7: apt lists not removed in the same RUN',
    'line 8: RUN: contains what looks like a credential',
    'final stage: USER root is root',
    'final stage: no HEALTHCHECK',
    'line 10: ENTRYPOINT in shell form: signals would go to /bin/sh, not podflow',
  ]);
  t.deepEqual(lintDockerfile('FROM node:latest AS a\nFROM a\nUSER 0:0\nHEALTHCHECK CMD ["true"]\nENTRYPOINT ["node"]\n'), [
    'line 1: base image "node:latest" is not pinned: use an exact version (name:1.2.3) or a digest (@sha256:...)',
    'final stage: USER 0:0 is root',
    'final stage: the HEALTHCHECK does not read /healthz',
  ]);
  t.deepEqual(lintDockerfile(`FROM debian@sha256:${'0'.repeat(64)} AS b\nFROM b\nUSER 65532\nHEALTHCHECK CMD ["wget", "-q", "http://127.0.0.1:8888/healthz"]\nENTRYPOINT ["x"]\n`), []);
});

/** deploy/Dockerfile.dockerignore: Docker's rules (last matching pattern wins, `!` re-includes, a pattern covers what is under it). */
function contextFilter(ignore: string): (path: string) => boolean {
  const rules = ignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((line) => {
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const source = pattern.split('/').map((part) => part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/');
    return { negate, regex: new RegExp(`^${source.replace(/^\.\*\//, '(?:.*/)?')}(?:/.*)?$`) };
  });
  return (path) => {
    let included = true;
    for (const rule of rules) if (rule.regex.test(path)) included = rule.negate;
    return included;
  };
}

async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else out.push(join(dir, rel));
  }
  return out;
}

test('the build context has what the Dockerfile copies and nothing local-only', async (t) => {
  const included = contextFilter(await readFile(`${ROOT}deploy/Dockerfile.dockerignore`, 'utf8'));
  const sources = stages.flatMap((s) => s.instructions)
    .filter((i) => i.getKeyword() === 'COPY' && copyFrom(i) === undefined)
    .flatMap((i) => i.getArguments().map((a) => a.getValue()).slice(0, -1));
  t.deepEqual(sources, ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'src', 'crates/flowsource', 'deploy/image-config.yaml']);
  for (const source of sources) {
    t.true(existsSync(join(ROOT, source)), `${source} exists`);
    const files = statSync(join(ROOT, source)).isDirectory() ? await filesUnder(source) : [source];
    const kept = files.filter((f) => !/(^|\/)(node_modules|target)\//.test(f) && !f.endsWith('.node'));
    t.true(kept.length > 0, `${source} has files`);
    for (const file of kept) t.true(included(file), `${file} is in the build context`);
  }
  for (const path of ['node_modules/yaml/package.json', '.tools/k8s/bin/helm', '.git/HEAD', 'crates/flowsource/target/release/libflowsource.so', 'crates/flowsource/flowsource.linux-x64-gnu.node', 'test/cli.test.ts', 'README.md']) {
    t.false(included(path), `${path} stays out of the build context`);
  }
});

test('the runtime file set the final stage assembles runs podflow', async (t) => {
  // Rebuild the final stage's /app from the repository the way the build stage does
  // (tests and testdata removed), with node_modules linked instead of pruned.
  const dir = await mkdtemp(join(tmpdir(), 'podflow-image-'));
  try {
    const app = join(dir, 'app');
    for (const copy of final.instructions.filter((i) => i.getKeyword() === 'COPY')) {
      const [source, dest] = copy.getArguments().map((a) => a.getValue()) as [string, string];
      if (copyFrom(copy) !== 'build') {
        t.deepEqual([source, dest], ['deploy/image-config.yaml', '/etc/podflow/config.yaml']);
        continue;
      }
      const rel = source.replace(/^\/app\//, '');
      if (rel === 'node_modules') await symlink(join(ROOT, 'node_modules'), join(app, 'node_modules'));
      else if (rel.includes('*')) continue; // the addon: not needed by validate/components
      else await cp(join(ROOT, rel), join(app, dest.replace(/^\.\//, '').replace(/\/$/, '') || rel), { recursive: true, filter: (src) => !src.endsWith('.test.ts') && !src.includes('/testdata') });
    }
    t.true(existsSync(join(app, 'src/main.ts')));
    t.false((await readdir(join(app, 'src'), { recursive: true })).some((f) => String(f).endsWith('.test.ts')));
    const entrypoint = JSON.parse(argsOf('ENTRYPOINT')) as string[];
    const cmd = JSON.parse(argsOf('CMD')) as string[];
    t.deepEqual(entrypoint, ['node', '/app/src/main.ts']);
    t.deepEqual(cmd, ['run', '--config', '/etc/podflow/config.yaml']);
    const env = { PATH: process.env.PATH ?? '', HOME: dir };
    const components = await run(process.execPath, [join(app, 'src/main.ts'), 'components'], env);
    t.is(components.code, 0, components.stderr);
    t.regex(components.stdout, /conntrack/);
    const valid = await run(process.execPath, [join(app, 'src/main.ts'), 'validate', '--config', `${ROOT}deploy/image-config.yaml`], env);
    t.is(valid.code, 0, valid.stderr);
    t.is(valid.stdout.trim(), 'ok');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function argsOf(keyword: string): string {
  const found = final.instructions.filter((i) => i.getKeyword() === keyword);
  return found[found.length - 1]?.getArgumentsContent() ?? '';
}

test('HEALTHCHECK and EXPOSE match the image config', async (t) => {
  const config = parseYaml(await readFile(`${ROOT}deploy/image-config.yaml`, 'utf8')) as {
    exporters: { prometheus: { endpoint: string } };
    service: { telemetry: { metrics: { address: string } } };
  };
  const telemetryPort = config.service.telemetry.metrics.address.split(':').pop();
  const prometheusPort = config.exporters.prometheus.endpoint.split(':').pop();
  t.is(config.service.telemetry.metrics.address, `0.0.0.0:${telemetryPort}`);
  t.true(argsOf('HEALTHCHECK').includes(`http://127.0.0.1:${telemetryPort}/healthz`));
  t.deepEqual(argsOf('EXPOSE').trim().split(/\s+/), [telemetryPort, prometheusPort]);
  t.regex(argsOf('USER'), /^65532(:65532)?$/);
});
