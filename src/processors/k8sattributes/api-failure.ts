// Why a list or watch of the API server failed, in words a person can act on: 401 (credentials),
// 403 (the RBAC verb and resource that are missing, read from the Status object the API server
// returns), an unreachable server, a TLS mismatch, a kubeconfig that cannot be used.
import type { KubeResource } from './cluster-cache.ts';

export type ApiFailureCause = 'unauthorized' | 'forbidden' | 'unreachable' | 'tls' | 'kubeconfig' | 'other';

export interface ApiFailure {
  cause: ApiFailureCause;
  /** Equal for failures a person would fix in one go (one error line for all resources refused alike). */
  key: string;
  /** One sentence: what failed, why, and what to check (without the component's name). */
  message: string;
}

/** The Kubernetes `Status` object (meta/v1) an API server sends with an error. */
export interface KubeStatus {
  kind: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string };
}

/** A non-200 answer to a list (whose body we read) or a watch (whose body the client library drops). */
export class ApiStatusError extends Error {
  /** Kept under the client library's name: ListWatch relists on `statusCode === 410`. */
  readonly statusCode: number;
  readonly verb: 'list' | 'watch';
  /** The collection path, e.g. `/apis/apps/v1/replicasets`. */
  readonly path: string;
  readonly status: KubeStatus | undefined;

  constructor(verb: 'list' | 'watch', path: string, statusCode: number, body: string) {
    const status = parseStatus(body);
    super(`${verb === 'list' ? 'GET' : 'WATCH'} ${path}: HTTP ${statusCode}${status?.message ? ` ${status.message}` : body ? ` ${body.slice(0, 200)}` : ''}`);
    this.name = 'ApiStatusError';
    this.statusCode = statusCode;
    this.verb = verb;
    this.path = path;
    this.status = status;
  }
}

/** The kubeconfig was loaded but cannot be used: a certificate or token file it names, an exec plugin, its server URL. */
export class KubeconfigError extends Error {
  constructor(cause: unknown) {
    super(`the kubeconfig cannot be used: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'KubeconfigError';
  }
}

function parseStatus(body: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<KubeStatus> | null;
    return parsed?.kind === 'Status' ? (parsed as KubeStatus) : undefined;
  } catch {
    return undefined;
  }
}

export interface ForbiddenAccess {
  /** `User "system:serviceaccount:podflow:podflow"`, as the API server names the subject. */
  subject: string | undefined;
  verb: string;
  resource: string;
  /** API group, "" for the core group. */
  group: string;
}

// The authorizer's wording (k8s.io/apiserver forbidden()):
//   pods is forbidden: User "system:serviceaccount:podflow:podflow" cannot list resource "pods" in API group "" at the cluster scope
const FORBIDDEN_MESSAGE = /is forbidden: (.+?) cannot (\S+) resource "([^"]+)" in API group "([^"]*)"/;

/**
 * What RBAC refused, from a 403 Status; the request's own verb, resource and group (from its
 * path, `/apis/<group>/...`) when there is no Status (the client library drops a watch's body).
 */
export function forbiddenAccess(status: KubeStatus | undefined, request: { verb: string; resource: string; path: string }): ForbiddenAccess {
  const m = status?.message ? FORBIDDEN_MESSAGE.exec(status.message) : null;
  if (m) return { subject: m[1], verb: m[2]!, resource: m[3]!, group: m[4]! };
  const group = status?.details?.group ?? /^\/apis\/([^/]+)\//.exec(request.path)?.[1] ?? '';
  return { subject: undefined, verb: request.verb, resource: status?.details?.kind ?? request.resource, group };
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** The system error under a fetch failure (undici wraps it: TypeError "fetch failed" → cause). */
function rootCause(err: unknown): { code?: string; message: string } {
  let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return { code: e.code, message: String(e.message ?? '') };
    if (!e.cause) break;
    e = e.cause as typeof e;
  }
  return { message: String((err as Error)?.message ?? err) };
}

/** Classifies the error of a list or watch of `resource` (at `path`) against `server` (the kubeconfig's URL). */
export function describeApiFailure(err: unknown, resource: KubeResource, path: string, server: string): ApiFailure {
  if (err instanceof KubeconfigError) return { cause: 'kubeconfig', key: `kubeconfig:${err.message}`, message: err.message };
  const statusCode = (err as { statusCode?: unknown })?.statusCode;
  if (statusCode === 401) {
    return {
      cause: 'unauthorized',
      key: 'unauthorized',
      message: `the API server at ${server} refused the credentials (401 Unauthorized): the token or client certificate is wrong or expired`,
    };
  }
  if (statusCode === 403) {
    const verb = err instanceof ApiStatusError ? err.verb : 'watch';
    const access = forbiddenAccess(err instanceof ApiStatusError ? err.status : undefined, { verb, resource, path });
    const group = access.group === '' ? 'core' : access.group;
    const who = access.subject ? `${access.subject} lacks` : 'missing';
    return {
      cause: 'forbidden',
      key: `forbidden:${access.verb}:${access.group}/${access.resource}`,
      message: `403 Forbidden: ${who} RBAC verb "${access.verb}" on resource "${access.resource}" (API group ${group}); grant get, list, watch on it in podflow's ClusterRole`,
    };
  }
  if (typeof statusCode === 'number') {
    return { cause: 'other', key: `http:${statusCode}`, message: `${resource}: the API server at ${server} answered HTTP ${statusCode}: ${(err as Error).message}` };
  }
  const root = rootCause(err);
  if (root.code && UNREACHABLE[root.code]) {
    return { cause: 'unreachable', key: `unreachable:${root.code}`, message: `cannot reach the API server at ${server}: ${UNREACHABLE[root.code]} (${root.code})` };
  }
  if (root.code && (root.code.startsWith('ERR_TLS') || root.code.includes('CERT') || root.code.includes('SIGNATURE') || root.code.startsWith('ERR_SSL'))) {
    return {
      cause: 'tls',
      key: `tls:${root.code}`,
      message: `TLS with the API server at ${server} failed: ${root.message} (${root.code}); check the kubeconfig's certificate-authority`,
    };
  }
  if ((err as Error)?.name === 'TimeoutError') {
    return { cause: 'unreachable', key: 'unreachable:timeout', message: `the API server at ${server} did not answer in time` };
  }
  return { cause: 'other', key: `other:${root.message}`, message: `${resource}: list/watch failed: ${root.message}` };
}
