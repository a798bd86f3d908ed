// Who may read the map: optional bearer or basic authentication, the Host header check that
// keeps a loopback endpoint from being read through DNS rebinding, and CORS when configured.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { ServicemapAuth } from './config.ts';

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export type AuthResult = { ok: true } | { ok: false; challenge: string };

/** Checks the Authorization header; `challenge` is the WWW-Authenticate value to answer 401 with. */
export function authenticate(auth: ServicemapAuth, headers: IncomingHttpHeaders): AuthResult {
  const header = headers.authorization ?? '';
  if (auth.bearer_token !== undefined) {
    const m = /^Bearer ([^\s]+)$/i.exec(header);
    return m && sameSecret(m[1]!, auth.bearer_token) ? { ok: true } : { ok: false, challenge: 'Bearer realm="podflow servicemap"' };
  }
  const basic = auth.basic!;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const ok = colon > 0 && sameSecret(decoded.slice(0, colon), basic.username) && sameSecret(decoded.slice(colon + 1), basic.password);
  return ok ? { ok: true } : { ok: false, challenge: 'Basic realm="podflow servicemap", charset="UTF-8"' };
}

/** Whether the listen host is a loopback name or address. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * A loopback endpoint answers only requests addressed to a loopback name: a web page from another
 * site that rebinds its own name to 127.0.0.1 sends its name in Host and is refused.
 */
export function hostAllowed(listenHost: string, hostHeader: string | undefined): boolean {
  if (!isLoopbackHost(listenHost)) return true;
  if (hostHeader === undefined) return false;
  const name = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d*$/, '');
  return isLoopbackHost(name.toLowerCase());
}

/** The Access-Control-Allow-Origin value for this request's Origin, if it is allowed. */
export function corsOrigin(allowed: readonly string[], origin: string | undefined): string | undefined {
  if (origin === undefined || allowed.length === 0) return undefined;
  return allowed.includes('*') || allowed.includes(origin) ? origin : undefined;
}
