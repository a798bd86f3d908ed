// `make test-image` (opt-in, root, not part of `make test`): podflow's image built with podman
// from deploy/Dockerfile, unchanged, on the base images deploy/test-image/base-images.sh built
// locally, then run as the Helm chart runs it (chart-podman.ts: the rendered securityContext,
// hostNetwork as a network namespace, its volumes), checking:
//   build      the build succeeds without an EBADENGINE warning; the HEALTHCHECK is in the image
//   conntrack  the chart's init container sets nf_conntrack_acct as uid 0 without capabilities and
//              fails loudly as uid 65532; podflow with NET_ADMIN only, read-only root, counts real
//              TCP and UDP traffic exactly as `conntrack -L -o extended` does; HEALTHCHECK healthy
//   image config  the built-in config starts where accounting is already on, and warns (still
//              starting) where it cannot set it (a container's read-only /proc/sys)
//   cilium     with CAP_BPF and the runtime's default seccomp profile the start fails with an
//              error that names seccomp; with deploy/seccomp/podflow-cilium.json it starts and
//              reports a pinned CT map's entries exactly
// Prints one line per check, the total duration, and exits 1 when a check failed.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtFixture, flowKey, TUPLE_F_OUT, valueV115 } from '../../../src/receivers/cilium/testdata/ctmap-fixture.ts';
import { readConntrackTable } from '../conntrack-table.ts';
import { CHART, HELM, ROOT, find, parseObjects, run } from '../k8s-tools.ts';
import { createNodeTopology, Netns, POD1_V4, POD2_V4 } from '../netns.ts';
import { until } from '../wait.ts';
import { podman, podmanArgs, type PodSpec, type RunAs } from './chart-podman.ts';

const IMAGE = process.env.PODFLOW_TEST_IMAGE ?? 'localhost/podflow:test-image';
const started = Date.now();
const results: Array<{ name: string; ok: boolean; ms: number; detail: string }> = [];
const work = mkdtempSync(join(tmpdir(), 'podflow-test-image-'));
const cleanups: Array<() => Promise<unknown>> = [];

async function check(name: string, body: () => Promise<string | void>): Promise<void> {
  const t0 = Date.now();
  try {
    const detail = (await body()) ?? '';
    results.push({ name, ok: true, ms: Date.now() - t0, detail });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)${detail ? `: ${detail}` : ''}`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, detail: (e as Error).message });
    console.log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s): ${(e as Error).message}`);
  }
}

/** The DaemonSet's pod as the chart renders it with `--set` values. */
async function chartPod(set: string[]): Promise<PodSpec> {
  const r = await run(HELM, ['template', 'podflow', CHART, '--namespace', 'podflow', ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.code, 0, r.stderr);
  return (find(parseObjects(r.stdout), 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}

/** A directory standing in for the chart's ConfigMap, with `config.yaml`. */
function configDir(name: string, yaml: string): string {
  const dir = join(work, `config-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.yaml'), yaml);
  return dir;
}

/** A config of one receiver (a YAML flow mapping) writing every flow to /out/flows.jsonl. */
function fileConfig(name: string, receiver: string, body: string): string {
  return configDir(name, `receivers:
  ${receiver}: ${body}
exporters:
  file: {path: /out/flows.jsonl}
service:
  pipelines:
    flows: {receivers: [${receiver}], exporters: [file]}
  telemetry:
    metrics: {address: 0.0.0.0:8888}
`);
}

/** The kubelet's seccomp root with the profile installed as deploy/README.md says. */
function seccompRoot(): string {
  const root = join(work, 'kubelet/seccomp');
  mkdirSync(join(root, 'podflow'), { recursive: true });
  cpSync(join(ROOT, 'deploy/seccomp/podflow-cilium.json'), join(root, 'podflow/cilium.json'));
  return root;
}

/** Starts the podflow container detached; returns its name. Removed at the end. */
async function startPodflow(name: string, pod: PodSpec, o: RunAs): Promise<string> {
  const args = podmanArgs(pod, pod.containers[0]!, o);
  const r = await podman(['run', '-d', '--name', name, ...args]);
  assert.equal(r.code, 0, `podman run ${name}: ${r.stderr}`);
  cleanups.push(() => podman(['rm', '-f', '-t', '0', name]));
  return name;
}

async function logs(name: string): Promise<string> {
  const r = await podman(['logs', name]);
  return r.stdout + r.stderr;
}

/** GET http://127.0.0.1:<port><path> inside the namespace; the status code. */
async function httpStatus(ns: Netns, port: number, path: string): Promise<number> {
  const out = await ns.exec(process.execPath, ['-e', `fetch('http://127.0.0.1:${port}${path}').then((r) => console.log(r.status), () => console.log(0))`]).catch(() => '0');
  return Number(out.trim());
}

async function readyOrExited(ns: Netns, name: string, port = 8888): Promise<'ready' | 'exited'> {
  let state: 'ready' | 'exited' | undefined;
  await until(async () => {
    if ((await httpStatus(ns, port, '/readyz')) === 200) state = 'ready';
    else if ((await podman(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim() === 'false') state = 'exited';
    return state !== undefined;
  }, 60_000, `${name} ready or exited`, 500);
  return state!;
}

interface FlowLine { attributes: Record<string, string | number>; tx_bytes: number; rx_bytes: number; tx_packets: number; rx_packets: number }
function readFlows(file: string): FlowLine[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowLine);
}

try {
  const kubeletSeccomp = seccompRoot();

  await check('build: podman build of deploy/Dockerfile on the local bases, no EBADENGINE, HEALTHCHECK kept', async () => {
    const r = await podman(['build', '--runtime', 'runc', '--pull=never', '--format', 'docker', '-f', join(ROOT, 'deploy/Dockerfile'), '-t', IMAGE, ROOT], 1_800_000);
    writeFileSync(join(tmpdir(), 'podflow-test-image-build.log'), r.stdout + r.stderr);
    assert.equal(r.code, 0, (r.stdout + r.stderr).slice(-3000));
    assert.doesNotMatch(r.stdout + r.stderr, /EBADENGINE/);
    const health = JSON.parse((await podman(['image', 'inspect', '--format', '{{json .Config.Healthcheck}}', IMAGE])).stdout) as { Test?: string[] } | null;
    assert.match(JSON.stringify(health?.Test ?? []), /127\.0\.0\.1:8888\/healthz/);
    const user = (await podman(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE])).stdout.trim();
    assert.equal(user, '65532:65532');
    return `image ${IMAGE}, user ${user}`;
  });

  // ---- conntrack -------------------------------------------------------------------------
  const conntrackPod = await chartPod([]);
  const topo = await createNodeTopology('img', { accounting: false });
  cleanups.push(() => topo.destroy());
  const base = { image: IMAGE, netns: topo.node.path, seccompRoot: kubeletSeccomp, env: { NODE_NAME: 'test-node' } };
  const acct = async (ns: Netns) => (await ns.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_acct'])).trim();

  await check('conntrack: the init container as uid 65532 (the old defect) fails loudly and sets nothing', async () => {
    const init = conntrackPod.initContainers![0]!;
    const r = await podman(['run', '--rm', ...podmanArgs(conntrackPod, init, { ...base, configDir: work, userOverride: 65532 })]);
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /cannot write 1 to \/host\/proc\/sys\/net\/netfilter\/nf_conntrack_acct as uid 65532/);
    assert.equal(await acct(topo.node), '0');
    return r.stderr.split('\n').find((l) => l.startsWith('cannot write'));
  });

  await check('conntrack: the chart\'s init container (uid 0, no capability, read-only root) sets nf_conntrack_acct=1', async () => {
    const init = conntrackPod.initContainers![0]!;
    assert.deepEqual(init.securityContext?.capabilities, { drop: ['ALL'] });
    const r = await podman(['run', '--rm', ...podmanArgs(conntrackPod, init, { ...base, configDir: work })]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), 'net.netfilter.nf_conntrack_acct=1');
    assert.equal(await acct(topo.node), '1');
    return r.stdout.trim();
  });

  await check('conntrack: podflow with the chart\'s context (NET_ADMIN only, uid 0, read-only root) is exact to the byte', async () => {
    const out = join(work, 'out-conntrack');
    mkdirSync(out);
    const config = fileConfig('conntrack', 'conntrack', '{interval: 1s, enable_accounting: false, source: netlink}');
    const sc = conntrackPod.containers[0]!.securityContext!;
    assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
    const name = await startPodflow('podflow-test-conntrack', conntrackPod, { ...base, configDir: config, extraMounts: [`${out}:/out`] });
    assert.equal(await readyOrExited(topo.node, name), 'ready', await logs(name));
    await topo.pod2.trafficServer('tcp-server', 8080);
    await topo.pod2.trafficServer('udp-server', 5353);
    for (const [up, down] of [[1000, 50_000], [300_000, 7], [1, 1]] as const) await topo.pod1.traffic('tcp-client', [POD2_V4, 8080, up, down]);
    await topo.pod1.traffic('udp-client', [POD2_V4, 5353, 20, 512]);
    await new Promise((r) => setTimeout(r, 2500));
    const health = await podman(['healthcheck', 'run', name]);
    assert.equal(health.code, 0, `HEALTHCHECK: ${health.stdout}${health.stderr}`);
    const stop = await podman(['stop', '-t', '20', name]);
    assert.equal(stop.code, 0, stop.stderr);
    const key = (src: string, dst: string, port: number, proto: string) => `${proto} ${src}>${dst}:${port}`;
    const kernel = new Map<string, number[]>();
    for (const e of await readConntrackTable(topo.node, ['ipv4'])) {
      if (e.origSrc !== POD1_V4 || e.origDst !== POD2_V4) continue;
      const k = key(e.origSrc, e.origDst, e.origDport, e.transport);
      const sum = kernel.get(k) ?? [0, 0, 0, 0];
      kernel.set(k, [sum[0]! + e.txBytes, sum[1]! + e.rxBytes, sum[2]! + e.txPackets, sum[3]! + e.rxPackets]);
    }
    const podflow = new Map<string, number[]>();
    for (const f of readFlows(join(out, 'flows.jsonl'))) {
      const a = f.attributes;
      if (a['source.address'] !== POD1_V4 || a['destination.address'] !== POD2_V4) continue;
      const k = key(String(a['source.address']), String(a['destination.address']), Number(a['destination.port']), String(a['network.transport']));
      const sum = podflow.get(k) ?? [0, 0, 0, 0];
      podflow.set(k, [sum[0]! + f.tx_bytes, sum[1]! + f.rx_bytes, sum[2]! + f.tx_packets, sum[3]! + f.rx_packets]);
    }
    assert.deepEqual(Object.fromEntries([...podflow].sort()), Object.fromEntries([...kernel].sort()));
    assert.equal(kernel.size, 2, JSON.stringify([...kernel]));
    assert.ok(kernel.get(key(POD1_V4, POD2_V4, 8080, 'tcp'))![0]! > 300_000);
    return [...kernel].map(([k, v]) => `${k} tx=${v[0]}B rx=${v[1]}B`).join('; ');
  });

  // ---- the image's built-in config ---------------------------------------------------------
  await check('image config: starts where nf_conntrack_acct is already 1, no accounting warning', async () => {
    const name = await startPodflow('podflow-test-builtin-on', { ...conntrackPod, containers: [{ ...conntrackPod.containers[0]!, args: [], volumeMounts: [] }] }, { ...base, configDir: work });
    assert.equal(await readyOrExited(topo.node, name), 'ready', await logs(name));
    const text = await logs(name);
    assert.doesNotMatch(text, /nf_conntrack_acct/);
    await podman(['rm', '-f', '-t', '5', name]);
  });

  await check('image config: where nf_conntrack_acct is 0 and /proc/sys read-only, warns and starts', async () => {
    const off = await createNodeTopology('imgoff', { accounting: false });
    cleanups.push(() => off.destroy());
    const name = await startPodflow('podflow-test-builtin-off', { ...conntrackPod, containers: [{ ...conntrackPod.containers[0]!, args: [], volumeMounts: [] }] }, { ...base, netns: off.node.path, configDir: work });
    assert.equal(await readyOrExited(off.node, name), 'ready', await logs(name));
    const warning = (await logs(name)).split('\n').find((l) => l.includes('cannot set net.netfilter.nf_conntrack_acct=1'));
    assert.ok(warning, await logs(name));
    assert.match(warning, /"level":40/);
    assert.match(warning, /Read-only file system/);
    assert.equal(await acct(off.node), '0');
    await podman(['rm', '-f', '-t', '5', name]);
    return JSON.parse(warning).msg as string;
  });

  // ---- cilium --------------------------------------------------------------------------
  const ciliumPod = await chartPod(['mode=cilium']);
  const fx = await CtFixture.create();
  cleanups.push(() => fx.destroy());
  const CT4 = 'cilium_ct4_global';
  await fx.createMap(CT4);
  await fx.write(CT4, [{ key: flowKey('10.0.1.5', 40000, '10.0.2.7', 8080, 6, TUPLE_F_OUT), value: valueV115([5, 900], [7, 600]) }]);
  const ciliumNs = await Netns.create(`imgcilium${process.pid}`);
  cleanups.push(() => ciliumNs.destroy());
  const ciliumOut = join(work, 'out-cilium');
  mkdirSync(ciliumOut);
  const ciliumConfig = fileConfig('cilium', 'cilium', `{bpffs: /sys/fs/bpf, maps: [${CT4}], layout: v1.15, startup: count, interval: 1s}`);
  const ciliumRun: RunAs = { ...base, netns: ciliumNs.path, configDir: ciliumConfig, hostPaths: { '/sys/fs/bpf': fx.root }, extraMounts: [`${ciliumOut}:/out`] };

  await check('cilium: CAP_BPF under the runtime\'s default seccomp profile fails with an error that names seccomp', async () => {
    assert.deepEqual(ciliumPod.containers[0]!.securityContext?.capabilities, { drop: ['ALL'], add: ['BPF'] });
    const name = await startPodflow('podflow-test-cilium-default', ciliumPod, { ...ciliumRun, seccompOverride: 'RuntimeDefault' });
    assert.equal(await readyOrExited(ciliumNs, name), 'exited');
    const text = await logs(name);
    const line = text.split('\n').find((l) => l.includes('seccomp refused bpf(2)'));
    assert.ok(line, text);
    assert.match(line, /cilium_ct4_global: BPF_OBJ_GET: operation not permitted/);
    assert.match(line, /has CAP_BPF .* Seccomp: 2/);
    assert.match(line, /deploy\/seccomp\/podflow-cilium\.json/);
    return /seccomp refused bpf\(2\)[^;]*/.exec(line)![0];
  });

  await check('cilium: with deploy/seccomp/podflow-cilium.json (Localhost podflow/cilium.json) it reads the pinned map exactly', async () => {
    assert.deepEqual(ciliumPod.containers[0]!.securityContext?.seccompProfile, { type: 'Localhost', localhostProfile: 'podflow/cilium.json' });
    const name = await startPodflow('podflow-test-cilium-profile', ciliumPod, ciliumRun);
    assert.equal(await readyOrExited(ciliumNs, name), 'ready', await logs(name));
    await until(() => readFlows(join(ciliumOut, 'flows.jsonl')).length > 0, 10_000, 'the map\'s flow', 250).catch(() => {});
    assert.equal((await httpStatus(ciliumNs, 8888, '/metrics')), 200);
    await podman(['stop', '-t', '20', name]);
    const flows = readFlows(join(ciliumOut, 'flows.jsonl'));
    assert.deepEqual(flows.map((f) => [f.attributes['source.address'], f.attributes['destination.address'], f.attributes['destination.port'], f.tx_packets, f.tx_bytes, f.rx_packets, f.rx_bytes]),
      [['10.0.1.5', '10.0.2.7', 8080, 7, 600, 5, 900]]);
    return 'tcp 10.0.1.5 -> 10.0.2.7:8080 tx=7/600 rx=5/900';
  });
} catch (e) {
  results.push({ name: 'set-up', ok: false, ms: 0, detail: (e as Error).stack ?? String(e) });
  console.log(`FAIL set-up: ${(e as Error).stack ?? String(e)}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok).length;
const seconds = (Date.now() - started) / 1000;
console.log(`test-image: ${results.length - failed} passed, ${failed} failed in ${seconds.toFixed(0)}s`);
console.log(JSON.stringify({ passed: results.length - failed, failed, seconds: Math.round(seconds) }));
process.exit(failed === 0 ? 0 : 1);
