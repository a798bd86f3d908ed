// Who may read the map, besides authentication (shared/http-auth.ts): the Host header check that
// keeps a loopback endpoint from being read through DNS rebinding, and CORS when configured.
import { isLoopbackHost } from '../shared/http-auth.ts';

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
