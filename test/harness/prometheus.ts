// A real Prometheus server (Debian's `prometheus` binary) for tests: a temp dir with its config
// and TSDB, a loopback port, optionally scraping targets and/or accepting remote write. Query
// it through its HTTP API. Always call `stop()` (t.teardown); a process exit hook kills any
// server a crashed test left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { systemTool } from './system-tools.ts';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? systemTool('prometheus');

export interface PrometheusOptions {
  /** `host:port` targets scraped at `/metrics` (job `podflow`). */
  scrapeTargets?: string[];
  /** Default 1s (Prometheus' smallest sensible interval). */
  scrapeIntervalSec?: number;
  /** Adds `--web.enable-remote-write-receiver`. */
  remoteWriteReceiver?: boolean;
  /** How the targets are scraped: https, credentials (Prometheus' own scrape_config keys). */
  scrape?: ScrapeAuth;
}

export interface ScrapeAuth {
  /** `https` with the CA that signed the target's certificate (and a client certificate for mutual TLS). */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
}

export interface VectorSample {
  metric: Record<string, string>;
  value: number;
  timestampSec: number;
}

export interface PrometheusServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT/api/v1/write` */
  remoteWriteUrl: string;
  /** Instant query; throws with Prometheus' error text when the query fails. */
  query(expr: string): Promise<VectorSample[]>;
  /** Polls `expr` until `until(samples)` holds or `timeoutMs` passes; returns the last result. */
  waitFor(expr: string, until: (samples: VectorSample[]) => boolean, timeoutMs?: number): Promise<VectorSample[]>;
  /** Health of the scrape targets (`up` values by instance). */
  targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string }>>;
  stop(): Promise<void>;
  /** Everything Prometheus logged (for failure messages). */
  log(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function configYaml(opts: PrometheusOptions): string {
  const interval = `${opts.scrapeIntervalSec ?? 1}s`;
  const lines = ['global:', `  scrape_interval: ${interval}`, `  scrape_timeout: ${interval}`, 'scrape_configs:'];
  if (opts.scrapeTargets?.length) {
    lines.push(
      '  - job_name: podflow',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: [${opts.scrapeTargets.map((t) => JSON.stringify(t)).join(', ')}]`,
    );
    const { tls, basicAuth, bearerToken } = opts.scrape ?? {};
    const q = (text: string) => JSON.stringify(text);
    if (tls) {
      lines.push('    scheme: https', '    tls_config:', `      ca_file: ${q(tls.caFile)}`);
      if (tls.certFile && tls.keyFile) lines.push(`      cert_file: ${q(tls.certFile)}`, `      key_file: ${q(tls.keyFile)}`);
    }
    if (basicAuth) lines.push('    basic_auth:', `      username: ${q(basicAuth.username)}`, `      password: ${q(basicAuth.password)}`);
    if (bearerToken) lines.push('    authorization:', '      type: Bearer', `      credentials: ${q(bearerToken)}`);
  } else {
    lines[lines.length - 1] = 'scrape_configs: []';
  }
  return `${lines.join('\n')}\n`;
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'podflow-prometheus-'));
  writeFileSync(join(dir, 'prometheus.yml'), configYaml(opts));
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    try {
      return await launch(dir, port, opts);
    } catch (err) {
      lastError = err; // most likely the port was taken between freePort() and bind: try another
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

async function launch(dir: string, port: number, opts: PrometheusOptions): Promise<PrometheusServer> {
  const args = [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=info',
  ];
  if (opts.remoteWriteReceiver) args.push('--web.enable-remote-write-receiver');
  const child = spawn(PROMETHEUS_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(child));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`prometheus exited with ${child.exitCode} before it was ready:\n${output.slice(-2_000)}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus was not ready within 20s:\n${output.slice(-2_000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const query = async (expr: string): Promise<VectorSample[]> => {
    const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]), timestampSec: r.value[0] }));
  };

  return {
    url,
    remoteWriteUrl: `${url}/api/v1/write`,
    query,
    async waitFor(expr, until, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const samples = await query(expr);
        if (until(samples) || Date.now() > end) return samples;
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async targets() {
      const data = await api<{ activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }> }>('/api/v1/targets');
      return data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }));
    },
    stop,
    log: () => output,
  };
}
