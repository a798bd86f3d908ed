// Endpoints are read here and nowhere else: URLs (postgres://, http://, https://) and listen
// addresses (host:port), so that `validate` and `run` read them the same way: the config
// schemas check with these parsers, and the components that connect or listen use what they return.
//
// The generic URI syntax (RFC 3986) is split by hand rather than by WHATWG `new URL`, for two
// reasons: WHATWG keeps a `%` that starts no percent-escape (so decoding it later throws), and it
// refuses an empty host, which libpq accepts for a unix socket named in the query
// (`postgres://user@/db?host=/var/run/postgresql`). No message here ever repeats the user
// information: it may hold a password.
import { z } from 'zod';

export interface EndpointUrl {
  /** Lower-case, without `:` (`postgres`, `http`). */
  scheme: string;
  /** Percent-decoded; empty when the URL has none. */
  username: string;
  /** Percent-decoded; undefined when the URL has no `:password`. */
  password: string | undefined;
  /** Percent-decoded, IPv6 without brackets; empty for `postgres://user@/db?host=...`. */
  host: string;
  port: number | undefined;
  /** Percent-decoded path, with its leading `/` (empty when none). */
  path: string;
  params: URLSearchParams;
  /** The URL as written with its user information replaced by `[REDACTED]`, for messages and logs. */
  redacted: string;
}

export const REDACTED = '[REDACTED]';

// RFC 3986 appendix B, with the authority required (every endpoint names one, even if empty).
const URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const DELIMITERS = 'a "/", "?" or "#" in the user or password must be percent-encoded (/ → %2F, ? → %3F, # → %23)';

/** `text` split into an EndpointUrl, or an Error whose message says what to change. */
export function parseEndpointUrl(text: string, schemes: readonly string[]): EndpointUrl | Error {
  const example = schemes.includes('postgres') ? 'postgres://user:password@host:5432/database' : `${schemes[0]}://host:port/path`;
  const m = URI.exec(text.trim());
  if (!m) return new Error(`not a URL: use ${example}`);
  const scheme = m[1]!.toLowerCase();
  const [, , authority = '', rawPath = '', rawQuery, rawFragment] = m;
  if (!schemes.includes(scheme)) return new Error(`scheme must be ${schemes.map((s) => `${s}://`).join(' or ')}, got ${scheme}://`);

  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  const colon = userinfo?.indexOf(':') ?? -1;
  const rawUser = userinfo === undefined ? '' : colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  const rawPassword = userinfo !== undefined && colon >= 0 ? userinfo.slice(colon + 1) : undefined;
  const redacted = userinfo === undefined ? text.trim() : `${scheme}://${REDACTED}@${hostPort}${rawPath}${rawQuery === undefined ? '' : `?${rawQuery}`}`;

  // A delimiter inside the password ends the authority early: the rest then holds the `@`.
  const isPostgres = scheme === 'postgres' || scheme === 'postgresql';
  if (userinfo === undefined && isPostgres && /@/.test(`${rawPath}?${rawQuery ?? ''}#${rawFragment ?? ''}`)) {
    return new Error(`the URL's user information is cut short: ${DELIMITERS}`);
  }

  const decode = (raw: string, what: string, secret: boolean): string | Error => {
    const bad = BAD_ESCAPE.exec(raw);
    if (bad) {
      const shown = secret ? '' : ` (at "${raw.slice(bad.index, bad.index + 3)}")`;
      return new Error(`the ${what} holds a "%" that starts no percent-escape${shown}: write a literal % as %25${secret ? ', or set the password with the password key' : ''}`);
    }
    try {
      return decodeURIComponent(raw);
    } catch {
      return new Error(`the ${what}'s percent-escapes are not UTF-8: encode each byte of a non-ASCII character (é → %C3%A9)`);
    }
  };

  const username = decode(rawUser, 'user name', true);
  if (username instanceof Error) return username;
  const password = rawPassword === undefined ? undefined : decode(rawPassword, 'password', true);
  if (password instanceof Error) return password;

  const hp = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*))(?::([^:]*))?$/.exec(hostPort);
  if (!hp) return new Error(`the host "${hostPort}" is not host, host:port or [IPv6]:port`);
  const host = hp[1] ?? decode(hp[2] ?? '', 'host', false);
  if (host instanceof Error) return host;
  let port: number | undefined;
  if (hp[3] !== undefined && hp[3] !== '') {
    port = /^\d{1,5}$/.test(hp[3]) ? Number(hp[3]) : NaN;
    if (!(port >= 1 && port <= 65_535)) {
      // Not repeated: when a password holds a delimiter, what looks like the port is part of it.
      return new Error(`the port is not a number from 1 to 65535${userinfo === undefined ? ` (${DELIMITERS})` : ''}`);
    }
  }
  if (host.includes(',')) return new Error('the URL names several hosts: podflow connects to one');

  const path = decode(rawPath, 'path', false);
  if (path instanceof Error) return path;
  if (rawQuery !== undefined) {
    const bad = decode(rawQuery.replace(/\+/g, ' '), 'query', false);
    if (bad instanceof Error) return bad;
  }
  const params = new URLSearchParams(rawQuery ?? '');
  if (!host && !(isPostgres && params.get('host'))) {
    return new Error(isPostgres ? 'the URL names no host (for a unix socket: postgres://user@/database?host=/var/run/postgresql)' : 'the URL names no host');
  }
  if (!isPostgres) {
    // HTTP clients (fetch, the OpenTelemetry SDK) read the URL with WHATWG's parser.
    try {
      new URL(text.trim());
    } catch {
      return new Error(`the host "${host}" is not valid in a URL`);
    }
  }
  return { scheme, username, password, host, port, path, params, redacted };
}

/** `text` with the user information of every URL in it replaced by `[REDACTED]`. */
export function redactUrls(text: string): string {
  return text.replace(/\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/g, `$1${REDACTED}@`);
}

const refineWith = (schemes: readonly string[], check?: (url: EndpointUrl) => string | undefined) =>
  z.string().superRefine((text, ctx) => {
    const url = parseEndpointUrl(text, schemes);
    const problem = url instanceof Error ? url.message : check?.(url);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** An http:// or https:// endpoint key. */
export const httpUrl = () => refineWith(['http', 'https']);

/** A postgres:// or postgresql:// endpoint key (libpq's URI form, one host; `?host=` may name a socket directory). */
export const postgresUrl = (check?: (url: EndpointUrl) => string | undefined) => refineWith(['postgres', 'postgresql'], check);

/** The parts of an endpoint a schema already accepted (throws when it did not). */
export function parsedEndpoint(text: string, schemes: readonly string[]): EndpointUrl {
  const url = parseEndpointUrl(text, schemes);
  if (url instanceof Error) throw url;
  return url;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port` (`0.0.0.0:9464`, `127.0.0.1:0`, `[::]:9464`, `:9464` for every address). */
export function parseListenAddress(text: string): ListenAddress | Error {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) return new Error(`"${text}" is not host:port (e.g. 0.0.0.0:9464, [::]:9464)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A listen-address key; the parsed value is { host, port }. */
export const listenAddress = () =>
  z.string().transform((text, ctx) => {
    const parsed = parseListenAddress(text);
    if (parsed instanceof Error) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    return parsed;
  });

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Whether two listeners would fight over one port (port 0 picks a free one, so never). */
export function sameListenPort(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const host = (h: string) => (h === 'localhost' ? '127.0.0.1' : h.toLowerCase());
  return WILDCARDS.has(a.host) || WILDCARDS.has(b.host) || host(a.host) === host(b.host);
}
