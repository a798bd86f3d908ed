// /metrics (Prometheus text), /healthz (the process is alive) and /readyz (every component
// started, and none reports a failure a person must fix).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** Why not, one line each: `starting`, or `<component>: <its reason>`. */
  problems: string[];
}

export interface HealthState {
  readiness(): Readiness;
}

export class TelemetryServer {
  readonly #server: Server;

  constructor(registry: Registry, health: HealthState) {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const { ready, problems } = health.readiness();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `${problems.join('\n')}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
      }
    });
  }

  /** Listens on `host:port` (port 0 picks a free one); resolves with the bound address. */
  listen(address: string): Promise<AddressInfo> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
    const port = Number(address.slice(i + 1));
    return new Promise((resolve, reject) => {
      this.#server.once('error', (err) => reject(new Error(`service.telemetry.metrics.address ${address}: ${err.message}`)));
      this.#server.listen(port, host, () => resolve(this.#server.address() as AddressInfo));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
