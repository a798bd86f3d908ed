// Bearer-token authentication of the otlp receiver (HTTP `authorization` header, gRPC metadata).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether `authorization` is `Bearer <token>`; compared in constant time (as digests: equal lengths). */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}
