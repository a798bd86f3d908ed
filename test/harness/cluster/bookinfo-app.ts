// The workload of the simulated cluster, run inside a pod's (or the external host's) network
// namespace by cluster.ts: `node bookinfo-app.ts <mode> '<json>'`. Only Node built-ins.
//
//   serve {port, downstream: [{targets, request, response}]}
//     HTTP server. Every request body is read; then, for each downstream entry in order, one
//     POST of `request` body bytes to targets[n % targets.length] (n = requests served so far)
//     asking for `response` bytes back; then it answers with the number of bytes the caller asked
//     for in `x-response-bytes`. Prints {"listening":port} once ready.
//   load {target, rounds, request, response, pauseMs}
//     POSTs `rounds` requests to target one after another (rounds 0: until killed, pausing
//     pauseMs between them); prints {"started":target} first and {"ok":n,"failed":m} when done.
//
// Every call is its own TCP connection (no agent, `Connection: close`): one call, one conntrack
// entry. A downstream failure answers 502, so the load generator counts it.
import { request as httpRequest, createServer, type IncomingMessage } from 'node:http';

interface Downstream {
  targets: string[];
  request: number;
  response: number;
}

interface ServeSpec {
  port: number;
  downstream: Downstream[];
}

interface LoadSpec {
  target: string;
  rounds: number;
  request: number;
  response: number;
  pauseMs: number;
}

const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

function drain(stream: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    stream.on('data', (c: Buffer) => (n += c.length));
    stream.on('end', () => resolve(n));
    stream.on('error', reject);
  });
}

/** One POST on a fresh connection; resolves once the whole answer arrived and has the asked size. */
function call(target: string, requestBytes: number, responseBytes: number): Promise<void> {
  const [host, port] = target.split(':');
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host,
        port: Number(port),
        method: 'POST',
        path: '/',
        agent: false,
        headers: { connection: 'close', 'content-length': requestBytes, 'x-response-bytes': responseBytes },
        timeout: 10_000,
      },
      (res) => {
        drain(res).then((n) => {
          if (res.statusCode !== 200) reject(new Error(`${target}: HTTP ${res.statusCode}`));
          else if (n !== responseBytes) reject(new Error(`${target}: got ${n} bytes, asked for ${responseBytes}`));
          else resolve();
        }, reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${target}: timed out`)));
    req.on('error', reject);
    req.end(Buffer.alloc(requestBytes, 0x71));
  });
}

function serve(spec: ServeSpec): void {
  let served = 0;
  const server = createServer((req, res) => {
    const n = served++;
    void (async () => {
      await drain(req);
      const want = Number(req.headers['x-response-bytes'] ?? 0);
      try {
        for (const d of spec.downstream) await call(d.targets[n % d.targets.length]!, d.request, d.response);
      } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        res.writeHead(502, { connection: 'close' }).end();
        return;
      }
      res.writeHead(200, { connection: 'close', 'content-length': want, 'content-type': 'application/octet-stream' });
      res.end(Buffer.alloc(want, 0x72));
    })();
  });
  server.listen({ port: spec.port, host: '0.0.0.0' }, () => print({ listening: spec.port }));
}

async function load(spec: LoadSpec): Promise<void> {
  let ok = 0;
  let failed = 0;
  print({ started: spec.target });
  for (let i = 0; spec.rounds === 0 || i < spec.rounds; i++) {
    try {
      await call(spec.target, spec.request, spec.response);
      ok++;
    } catch (e) {
      failed++;
      process.stderr.write(`${(e as Error).message}\n`);
    }
    if (spec.pauseMs > 0) await new Promise((r) => setTimeout(r, spec.pauseMs));
  }
  print({ ok, failed });
}

const [mode, json] = process.argv.slice(2);
if (mode === 'serve') serve(JSON.parse(json!) as ServeSpec);
else if (mode === 'load') await load(JSON.parse(json!) as LoadSpec);
else {
  process.stderr.write(`usage: bookinfo-app.ts serve|load '<json>'\n`);
  process.exit(2);
}
