// A real, throw-away PostgreSQL server for tests and benchmarks: `initdb` into a temporary
// directory, listening on a free loopback port (and a private unix socket directory), stopped
// and deleted at the end — also when the test process exits early.
//
// initdb and postgres refuse to run as root, so as root the data directory is chown'ed to
// `nobody` and every server binary runs under that uid (Node's spawn `uid`/`gid`).
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

/** Where Debian puts the server binaries (`make system-deps` installs postgresql-15: setup/debian-packages.tsv). */
export const POSTGRES_BIN_DIRS = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];

const NOBODY_UID = 65534;
const NOBODY_GID = 65534;

export function postgresBinDir(): string | undefined {
  return POSTGRES_BIN_DIRS.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

/** Why no server can be started here, or undefined when one can. */
export function missingPostgres(): string | undefined {
  return postgresBinDir() ? undefined : 'needs PostgreSQL server binaries (run `make system-deps` as root: Debian package postgresql-15)';
}

export interface PostgresOptions {
  /** fsync on (benchmarks); off by default, which makes tests fast. */
  durable?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /**
   * How TCP clients authenticate: `trust` (the default) or `scram-sha-256` (roles need a
   * password). The unix socket always trusts, so the harness's own queries need none.
   */
  tcpAuth?: 'trust' | 'scram-sha-256';
  /** false: listen on the unix socket only (no TCP at all). */
  tcp?: boolean;
  /** The port (for a socket-only server, the socket's name `.s.PGSQL.<port>`); a free one by default. */
  port?: number;
}

export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly socketDir: string;
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth on loopback unless `tcpAuth` says otherwise). */
  url(database?: string): string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs one query as the superuser in `database` and returns its rows. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(database: string, sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server (`fast`: disconnects clients, `immediate`: like a crash). */
  stopServer(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data directory. */
  startServer(): Promise<void>;
  /** Stops it for good and deletes the data directory; safe to call twice. */
  stop(): Promise<void>;
}

function run(bin: string, args: string[], asNobody: boolean, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...(asNobody ? { uid: NOBODY_UID, gid: NOBODY_GID } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' },
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${bin} ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

/** Servers still running in this process, stopped synchronously if the process exits first. */
const live = new Set<{ dataDir: string; root: string }>();
let exitHookInstalled = false;

function killSync(dataDir: string, root: string): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGQUIT'); // immediate shutdown
  } catch {
    // not running
  }
  rmSync(root, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const s of live) killSync(s.dataDir, s.root);
  });
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir) throw new Error(missingPostgres());
  const asNobody = process.getuid?.() === 0;
  const root = mkdtempSync(join(tmpdir(), 'podflow-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = root;
  const logFile = join(root, 'server.log');
  if (asNobody) {
    chmodSync(root, 0o755);
    chownSync(root, NOBODY_UID, NOBODY_GID);
  }
  const entry = { dataDir, root };
  live.add(entry);
  installExitHook();

  const port = options.port ?? (await freePort());
  const host = '127.0.0.1';
  const auth = ['--auth-local=trust', `--auth-host=${options.tcpAuth ?? 'trust'}`];
  try {
    await run(join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', ...auth, '-E', 'UTF8', '--no-locale', '--no-sync'], asNobody);
  } catch (err) {
    live.delete(entry);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const settings: Record<string, string> = {
    listen_addresses: options.tcp === false ? "''" : host,
    port: String(port),
    unix_socket_directories: socketDir,
    max_connections: '50',
    // Not durable against an OS crash (no fsync), but a committed transaction is in the WAL
    // (synchronous_commit stays on), so a killed server (`stopServer('immediate')`) loses nothing.
    ...(options.durable ? {} : { fsync: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const serverOptions = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
  const pgCtl = join(binDir, 'pg_ctl');

  const startServer = async () => {
    await run(pgCtl, ['-D', dataDir, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start'], asNobody);
  };
  const stopServer = async (mode: 'fast' | 'immediate' = 'fast') => {
    await run(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'], asNobody);
  };
  try {
    await startServer();
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    killSync(dataDir, root);
    live.delete(entry);
    throw new Error(`${(err as Error).message}\n${log}`);
  }

  const url = (database = 'postgres') => `postgres://postgres@${host}:${port}/${database}`;
  let stopped = false;
  const server: PostgresServer = {
    host,
    port,
    socketDir,
    dataDir,
    url,
    async createDatabase(name) {
      await server.query('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return url(name);
    },
    async query(database, sql, params) {
      // Over the unix socket, which trusts: this works whatever TCP asks (or without TCP).
      const client = new pg.Client({ host: socketDir, port, user: 'postgres', database });
      client.on('error', () => undefined); // the query below reports it
      await client.connect();
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    stopServer,
    startServer,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await stopServer('immediate');
      } catch {
        // already stopped
      }
      live.delete(entry);
      rmSync(root, { recursive: true, force: true });
    },
  };
  return server;
}

/** psql as the superuser, for debugging a harness server by hand. */
export function psql(server: PostgresServer, database: string, sql: string): string {
  const binDir = postgresBinDir()!;
  return execFileSync(join(binDir, 'psql'), ['-X', '-A', '-t', '-h', server.host, '-p', String(server.port), '-U', 'postgres', '-d', database, '-c', sql], { encoding: 'utf8' });
}
