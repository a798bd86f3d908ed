// The servicemap's HTTP endpoint:
//   GET /                    the page (page/index.html)
//   GET /assets/<file>       its script and style, and Cytoscape.js straight from node_modules
//   GET /api/graph           the graph as JSON (?window=5m&group=workload&namespace=...)
//   GET /api/graph/stream    the same as Server-Sent Events: one `graph` event now and one each
//                            time the source changes
// Everything the page needs is served from here: it loads nothing from anywhere else (its
// Content-Security-Policy says so too).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import type { ListenAddress } from '../shared/endpoint.ts';
import { authenticate } from '../shared/http-auth.ts';
import { corsOrigin, hostAllowed } from './access.ts';
import type { ServicemapAuth } from './config.ts';
import { parseGraphQuery, type GraphQuery, type GraphSource } from './graph.ts';

interface Asset {
  body: Buffer;
  type: string;
}

const PAGE_DIR = new URL('./page/', import.meta.url);

/** The page's files, read once at start-up; a missing one fails start() naming it. */
function loadAssets(): Map<string, Asset> {
  const page = (name: string, type: string): Asset => ({ body: readFileSync(new URL(name, PAGE_DIR)), type });
  const cytoscape = fileURLToPath(import.meta.resolve('cytoscape/dist/cytoscape.esm.min.mjs'));
  return new Map([
    ['/', page('index.html', 'text/html; charset=utf-8')],
    ['/assets/app.js', page('app.js', 'text/javascript; charset=utf-8')],
    ['/assets/app.css', page('app.css', 'text/css; charset=utf-8')],
    ['/assets/cytoscape.esm.min.mjs', { body: readFileSync(cytoscape), type: 'text/javascript; charset=utf-8' }],
  ]);
}

/** The page may run only its own scripts and talk only to this endpoint. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Clients of /api/graph/stream at once; more get 503 (each costs a graph per change). */
export const MAX_STREAM_CLIENTS = 32;
const HEARTBEAT_MS = 15_000;
/** Changes closer together than this are sent once. */
const COALESCE_MS = 200;

/**
 * JSON that stays inert wherever it lands: besides JSON's own escaping (quotes, backslashes,
 * control characters), `<`, `>`, `&` and the line separators U+2028/2029 are written as \uXXXX.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

interface StreamClient {
  res: ServerResponse;
  query: GraphQuery;
}

export interface ServicemapServerOptions {
  id: string;
  endpoint: ListenAddress;
  maxWindowMs: number;
  auth: ServicemapAuth | undefined;
  allowedOrigins: readonly string[];
  source: GraphSource;
  logger: Logger;
  /** Clients of the stream right now (a gauge). */
  onStreamClients(count: number): void;
}

export class ServicemapServer {
  readonly #o: ServicemapServerOptions;
  #assets = new Map<string, Asset>();
  readonly #streams = new Set<StreamClient>();
  readonly #failures: RateLimitedLog;
  #server: Server | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #pendingPush: NodeJS.Timeout | undefined;

  constructor(o: ServicemapServerOptions) {
    this.#o = o;
    this.#failures = new RateLimitedLog((f, m) => o.logger.warn(f, m));
  }

  get address(): AddressInfo {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') throw new Error(`${this.#o.id}: not listening`);
    return address;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#o.endpoint;
    this.#assets = loadAssets();
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`${this.#o.id}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    this.#heartbeat = setInterval(() => {
      for (const c of this.#streams) if (c.res.writableLength === 0) c.res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS).unref();
  }

  /** The source changed: stream clients get the new graph (changes close together are sent once). */
  changed(): void {
    if (this.#streams.size === 0 || this.#pendingPush) return;
    this.#pendingPush = setTimeout(() => {
      this.#pendingPush = undefined;
      void this.#push();
    }, COALESCE_MS);
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#pendingPush);
    for (const c of this.#streams) c.res.end();
    this.#streams.clear();
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://servicemap.invalid');
    const path = url.pathname;
    const api = path === '/api/graph' || path === '/api/graph/stream';
    if (!hostAllowed(this.#o.endpoint.host, req.headers.host)) {
      return this.#error(res, 403, `Host "${req.headers.host ?? ''}" refused: this endpoint listens on loopback and answers loopback names only`);
    }
    const origin = api ? corsOrigin(this.#o.allowedOrigins, req.headers.origin) : undefined;
    if (origin) res.setHeader('access-control-allow-origin', origin);
    if (this.#o.allowedOrigins.length) res.setHeader('vary', 'Origin');
    if (req.method === 'OPTIONS' && origin) {
      res.writeHead(204, { 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': 'Authorization', 'access-control-max-age': '600' }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...COMMON_HEADERS, allow: 'GET, HEAD' }).end();
      return;
    }
    // Basic auth guards everything (the browser asks once); a bearer token guards the data only,
    // since the page has to load to ask for it.
    const auth = this.#o.auth;
    if (auth && (api || auth.basic)) {
      const result = authenticate(auth, req.headers, 'podflow servicemap');
      if (!result.ok) {
        res.setHeader('www-authenticate', result.challenge);
        return this.#error(res, 401, 'authentication required');
      }
    }
    if (path === '/api/graph') return void this.#graph(url.searchParams, req, res);
    if (path === '/api/graph/stream') return this.#stream(url.searchParams, req, res);
    const asset = this.#assets.get(path);
    if (!asset) return this.#error(res, 404, 'not found: the map is at /, its data at /api/graph and /api/graph/stream');
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      ...(path === '/' ? { 'content-security-policy': PAGE_CSP } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  #error(res: ServerResponse, status: number, message: string): void {
    const body = safeJson({ error: message });
    res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  }

  #query(params: URLSearchParams, res: ServerResponse): GraphQuery | undefined {
    const query = parseGraphQuery(params, this.#o.maxWindowMs, this.#o.source.groupings);
    if (query instanceof Error) {
      this.#error(res, 400, query.message);
      return undefined;
    }
    return query;
  }

  async #graph(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const query = this.#query(params, res);
    if (!query) return;
    let body: string;
    try {
      body = safeJson(await this.#o.source.graph(query, Date.now()));
    } catch (err) {
      this.#failures.emit({ err: (err as Error).message }, 'servicemap: cannot read the graph');
      return this.#error(res, 503, `${this.#o.source.kind} source: ${(err as Error).message}`);
    }
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #stream(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const query = this.#query(params, res);
    if (!query) return;
    if (this.#streams.size >= MAX_STREAM_CLIENTS) return this.#error(res, 503, `too many stream clients (${MAX_STREAM_CLIENTS}); poll /api/graph instead`);
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    if (req.method === 'HEAD') return void res.end();
    const client: StreamClient = { res, query };
    this.#streams.add(client);
    this.#o.onStreamClients(this.#streams.size);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      this.#streams.delete(client);
      this.#o.onStreamClients(this.#streams.size);
    });
    void this.#send([client]);
  }

  /** One graph per distinct query, written to every client that asked it. */
  async #push(): Promise<void> {
    const byQuery = new Map<string, StreamClient[]>();
    for (const c of this.#streams) {
      const key = JSON.stringify(c.query);
      byQuery.set(key, [...(byQuery.get(key) ?? []), c]);
    }
    for (const clients of byQuery.values()) await this.#send(clients);
  }

  async #send(clients: StreamClient[]): Promise<void> {
    let event: string;
    try {
      event = `event: graph\ndata: ${safeJson(await this.#o.source.graph(clients[0]!.query, Date.now()))}\n\n`;
    } catch (err) {
      this.#failures.emit({ err: (err as Error).message }, 'servicemap: cannot read the graph');
      event = `event: failure\ndata: ${safeJson({ error: `${this.#o.source.kind} source: ${(err as Error).message}` })}\n\n`;
    }
    // A client still reading the previous graph skips this one (the next supersedes it): a slow
    // reader holds at most one graph in memory, not one per change.
    for (const c of clients) if (!c.res.writableEnded && c.res.writableLength === 0) c.res.write(event);
  }
}
