// API server trouble that a person must fix (credentials, RBAC, an unreachable server, TLS, the
// kubeconfig): logged at error when it starts, again at most once a period while it lasts (with
// how many repeats were left out), and reported to /readyz through the processor's health().
// Trouble that passes by itself (a dropped watch, a 500) is left to the watcher's warning.
import type { Logger } from 'pino';
import type { Clock } from '../../contracts/clock.ts';
import type { ComponentHealth } from '../../contracts/component.ts';
import { RateLimitedLog } from '../../telemetry/rate-limited-log.ts';
import { describeApiFailure, type ApiFailure } from './api-failure.ts';
import type { KubeResource } from './cluster-cache.ts';

/** How often a lasting failure is logged again. */
export const API_FAILURE_LOG_PERIOD_MS = 60_000;

export class ApiAccessHealth {
  readonly #logger: Logger;
  readonly #server: string;
  readonly #clock: Clock;
  /** The failure each failing resource has now. */
  readonly #failing = new Map<KubeResource, ApiFailure>();
  /** One rate-limited line per failure key: five resources refused alike make one line. */
  readonly #logs = new Map<string, RateLimitedLog>();

  constructor(logger: Logger, server: string, clock: Clock) {
    this.#logger = logger;
    this.#server = server;
    this.#clock = clock;
  }

  /** A list or watch of `resource` (collection `path`) failed. */
  failed(resource: KubeResource, path: string, err: unknown): void {
    const failure = describeApiFailure(err, resource, path, this.#server);
    if (failure.cause === 'other') {
      this.#clear(resource);
      return;
    }
    const before = this.#failing.get(resource);
    this.#failing.set(resource, failure);
    if (before && before.key !== failure.key) this.#forgetUnused(before.key);
    let log = this.#logs.get(failure.key);
    if (!log) this.#logs.set(failure.key, (log = new RateLimitedLog((f, m) => this.#logger.error(f, m), API_FAILURE_LOG_PERIOD_MS, this.#clock)));
    const resources = [...this.#failing].filter(([, f]) => f.key === failure.key).map(([r]) => r);
    log.emit({ cause: failure.cause, resources, err: (err as Error)?.message ?? String(err) }, `k8sattributes: ${failure.message}`);
  }

  recovered(resource: KubeResource): void {
    const was = this.#clear(resource);
    if (was && ![...this.#failing.values()].some((f) => f.key === was.key)) {
      this.#logger.info({ cause: was.cause }, `k8sattributes: the API server answers again (was: ${was.message})`);
    }
  }

  health(): ComponentHealth {
    if (this.#failing.size === 0) return { healthy: true };
    const byMessage = new Map<string, KubeResource[]>();
    for (const [resource, f] of this.#failing) byMessage.set(f.message, [...(byMessage.get(f.message) ?? []), resource]);
    const reasons = [...byMessage].map(([message, resources]) => `${message} [${resources.join(', ')}]`);
    return { healthy: false, reason: reasons.join('; ') };
  }

  #clear(resource: KubeResource): ApiFailure | undefined {
    const was = this.#failing.get(resource);
    this.#failing.delete(resource);
    if (was) this.#forgetUnused(was.key);
    return was;
  }

  /** A failure that comes back after it was over is logged at once again. */
  #forgetUnused(key: string): void {
    if (![...this.#failing.values()].some((f) => f.key === key)) this.#logs.delete(key);
  }
}
