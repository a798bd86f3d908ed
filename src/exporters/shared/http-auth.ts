// Authentication of the exporters that serve HTTP (prometheus, servicemap): an `auth` key with
// either a bearer token or basic credentials, checked in constant time, and what counts as a
// loopback listen address.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { z } from 'zod';

/** `auth`: exactly one of `bearer_token` and `basic`. */
export const httpAuthSchema = z
  .strictObject({
    /** Requests must carry `Authorization: Bearer <token>`. */
    bearer_token: z.string().min(16, 'bearer_token must be at least 16 characters').optional(),
    /** Requests must carry HTTP basic credentials. */
    basic: z
      .strictObject({
        username: z.string().min(1).refine((u) => !u.includes(':'), 'a basic-auth username cannot contain ":"'),
        password: z.string().min(8, 'password must be at least 8 characters'),
      })
      .optional(),
  })
  .refine((a) => (a.bearer_token === undefined) !== (a.basic === undefined), 'set exactly one of auth.bearer_token and auth.basic');

export type HttpAuth = z.output<typeof httpAuthSchema>;

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export type AuthResult = { ok: true } | { ok: false; challenge: string };

/**
 * Checks the Authorization header; `challenge` is the WWW-Authenticate value to answer 401 with
 * (`realm` names what is protected).
 */
export function authenticate(auth: HttpAuth, headers: IncomingHttpHeaders, realm: string): AuthResult {
  const header = headers.authorization ?? '';
  if (auth.bearer_token !== undefined) {
    const m = /^Bearer ([^\s]+)$/i.exec(header);
    return m && sameSecret(m[1]!, auth.bearer_token) ? { ok: true } : { ok: false, challenge: `Bearer realm="${realm}"` };
  }
  const basic = auth.basic!;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const ok = colon > 0 && sameSecret(decoded.slice(0, colon), basic.username) && sameSecret(decoded.slice(colon + 1), basic.password);
  return ok ? { ok: true } : { ok: false, challenge: `Basic realm="${realm}", charset="UTF-8"` };
}

/** Whether the listen host is a loopback name or address. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
