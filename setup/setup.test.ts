// The set-up's promises, checked cheaply on every `make test`: each tool of
// setup/debian-packages.tsv is the Debian package's own file however PATH is shadowed (the `nft`
// of node_modules/.bin once hid a missing nftables), one Node version everywhere that satisfies
// every `engines` field, no Makefile pipe that can die of SIGPIPE, and the one-line message of
// a user who is not root. `make test-fresh` is the full proof on a bare Debian 12 (README.md here).
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DockerfileParser } from 'dockerfile-ast';
import semver from 'semver';
import { skipOrFail } from '../test/harness/privileges.ts';
import { debianTools, missingTool, systemTool } from '../test/harness/system-tools.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);
const tools = debianTools();
const NODE_VERSION = readFileSync(join(ROOT, '.node-version'), 'utf8').trim();
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager?: string };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };

/** A folder of executables named like every listed tool (and npm, cargo, rustc), each printing `fake`. */
function shadowFolder(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-shadow-'));
  const scripts: Record<string, string> = Object.fromEntries(tools.map((tool) => [basename(tool.file), 'echo fake']));
  for (const [name, body] of Object.entries({ ...scripts, npm: 'echo fake', cargo: 'echo fake', rustc: 'echo fake', ...extra })) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

test('every tool of setup/debian-packages.tsv is its Debian package\'s file, however PATH is shadowed', async (t) => {
  t.true(tools.length >= 10, 'the list has the packages the tests use');
  const shadow = shadowFolder();
  t.teardown(() => rmSync(shadow, { recursive: true, force: true }));
  // node_modules/.bin (with its real `nft`) and a folder that shadows every name, ahead of all.
  const PATH = `${shadow}:${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`;
  const { stdout } = await run('bash', [join(ROOT, 'setup/system-deps.sh'), 'status'], { env: { ...process.env, PATH } });
  const status = stdout.trim().split('\n').map((line) => line.split('\t'));
  t.deepEqual(status.map(([pkg, file]) => [pkg, file]), tools.map((tool) => [tool.debianPackage, tool.file]), 'make resolves each tool to the listed file');
  t.deepEqual(status.map(([, file, state]) => [file, state]), tools.map((tool) => [tool.file, existsSync(tool.file) ? 'present' : 'missing']));

  const missing = tools.filter((tool) => missingTool(basename(tool.file)) !== undefined).map((tool) => tool.debianPackage);
  if (missing.length > 0) return skipOrFail(t, `needs Debian packages ${missing.join(' ')} (run \`make system-deps\` as root)`);
  if (!existsSync('/usr/bin/dpkg-query')) return skipOrFail(t, 'needs dpkg-query (a Debian system)');
  for (const tool of tools) {
    const resolved = systemTool(basename(tool.file));
    t.is(resolved, tool.file, `the tests run ${basename(tool.file)} from its listed file`);
    // dpkg names the package that owns the path: the real program, not a same-named stranger.
    const owner = execFileSync('/usr/bin/dpkg-query', ['-S', resolved], { encoding: 'utf8' }).split(':')[0];
    t.is(owner, tool.debianPackage, `${resolved} belongs to ${tool.debianPackage}`);
    t.not(realpathSync(resolved), realpathSync(join(shadow, basename(tool.file))));
  }
});

test('no Makefile recipe or set-up script finds a system tool through PATH or pipes into an early exit', (t) => {
  const names = tools.map((tool) => basename(tool.file)).join('|');
  const lookups = new RegExp(`(command -v|which|type -p|hash) +(${names})\\b`);
  // A reader that stops early (head, grep -q/-m, sed …q) kills the writer with SIGPIPE, which
  // `-o pipefail` turns into a failure (kubectl | head -1 did, make: Error 141).
  const earlyExit = /\|\s*(head\b|grep\s+(-\w*[qm]|--quiet|--max-count)|sed\s+(-n\s+)?['"]?\d*q|awk\s+.*\bexit\b)/;
  const files = ['Makefile', 'setup/lib.sh', 'setup/system-deps.sh', 'setup/install-node.sh', 'setup/doctor.sh', 'setup/test-fresh.sh', 'test/run-ava.sh', '.ci/run'];
  const offenders: string[] = [];
  for (const file of files) {
    readFileSync(join(ROOT, file), 'utf8').split('\n').forEach((line, index) => {
      if (line.trimStart().startsWith('#')) return;
      if (lookups.test(line) || earlyExit.test(line)) offenders.push(`${file}:${index + 1}: ${line.trim()}`);
    });
  }
  t.deepEqual(offenders, []);
  t.true(earlyExit.test('$(KUBECTL) version --client | head -1'), 'the rule catches the pipe that failed');
  t.true(lookups.test('command -v nft >/dev/null'), 'the rule catches the lookup that failed');
});

test('one Node version: .node-version satisfies every engines field, the Dockerfile defaults to it, make installs it', (t) => {
  t.regex(NODE_VERSION, /^\d+\.\d+\.\d+$/, '.node-version holds one exact version');
  const unsatisfied = Object.entries(lock.packages)
    .filter(([, entry]) => entry.engines?.node !== undefined && !semver.satisfies(NODE_VERSION, entry.engines.node))
    .map(([path, entry]) => `${path || 'podflow'}: ${entry.engines!.node}`);
  t.deepEqual(unsatisfied, [], `Node ${NODE_VERSION} satisfies every engines.node of package-lock.json`);
  t.true(Object.values(lock.packages).filter((entry) => entry.engines?.node).length > 50, 'the lock file has its engines fields');

  const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'));
  const args = new Map(dockerfile.getInitialARGs().map((arg) => [arg.getProperty()?.getName(), arg.getProperty()?.getValue()]));
  t.is(args.get('NODE_VERSION'), NODE_VERSION, 'deploy/Dockerfile ARG NODE_VERSION defaults to .node-version');
  t.is(args.get('NODE_IMAGE'), 'node:${NODE_VERSION}-bookworm-slim');

  const npmVersion = /^npm@(\d+\.\d+\.\d+)$/.exec(packageJson.packageManager ?? '')?.[1];
  t.truthy(npmVersion, 'package.json pins npm: "packageManager": "npm@x.y.z"');
  const node = join(ROOT, '.tools/node/bin/node');
  if (!existsSync(node)) return skipOrFail(t, 'needs the project Node in .tools/node (run `make node`)');
  t.is(execFileSync(node, ['--version'], { encoding: 'utf8' }).trim(), `v${NODE_VERSION}`);
  t.is(execFileSync(node, [join(ROOT, '.tools/node/bin/npm'), '--version'], { encoding: 'utf8' }).trim(), npmVersion ?? '');
});

/** The set-up scripts and the files they read, in a scratch root with its own package list. */
function scratchRoot(packagesTsv: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-setup-'));
  chmodSync(dir, 0o755);
  cpSync(join(ROOT, 'setup'), join(dir, 'setup'), { recursive: true });
  for (const file of ['.node-version', 'package.json', 'crates/flowsource/Cargo.toml']) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    cpSync(join(ROOT, file), join(dir, file));
  }
  writeFileSync(join(dir, 'setup/debian-packages.tsv'), packagesTsv);
  return dir;
}

test('not root, a missing package gets one line that names it and the command that installs it', async (t) => {
  const dir = scratchRoot('# a package this machine does not have\npodflow-no-such-package\t/nonexistent/podflow-tool\ta test\n');
  const shadow = shadowFolder({ rustc: 'echo "rustc 1.96.0 (fake)"' });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.teardown(() => rmSync(shadow, { recursive: true, force: true }));
  chmodSync(shadow, 0o755);
  const asUser = process.getuid?.() === 0 ? [systemTool('setpriv'), '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const [file, ...args] = [...asUser, '/bin/bash', join(dir, 'setup/system-deps.sh'), 'test'];
  const { stdout, stderr } = await run(file!, args, { env: { PATH: `${shadow}:/usr/bin:/bin`, HOME: '/nonexistent' } });
  t.is(stdout, '');
  t.is(stderr, 'podflow: missing podflow-no-such-package (for the tests; without them they skip, or fail under CI=true): run  sudo apt-get install -y --no-install-recommends podflow-no-such-package\n');
});

test('a cargo whose rustc is older than rust-version is named, with what to install', async (t) => {
  const dir = scratchRoot('');
  const shadow = shadowFolder({ rustc: 'echo "rustc 1.63.0"' });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.teardown(() => rmSync(shadow, { recursive: true, force: true }));
  const error = await t.throwsAsync(run('/bin/bash', [join(dir, 'setup/system-deps.sh'), 'build'], { env: { PATH: `${shadow}:/usr/bin:/bin` } }));
  const rustVersion = /^rust-version = "([\d.]+)"/m.exec(readFileSync(join(ROOT, 'crates/flowsource/Cargo.toml'), 'utf8'))?.[1];
  t.truthy(rustVersion, 'crates/flowsource/Cargo.toml has a rust-version');
  t.is((error as Error & { stderr: string }).stderr, `podflow: ${shadow}/cargo uses rustc 1.63.0; crates/flowsource needs rustc ${rustVersion} or newer: run  sudo apt-get install -y --no-install-recommends cargo-web  (Debian 12's Rust ${rustVersion}+, replaces Debian's cargo and rustc) or use rustup\n`);
});
