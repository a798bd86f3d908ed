// What a PostgreSQL failure means to the exporter (the client settings: ../shared/postgres-connection.ts).

/** The SQLSTATE of a server error, if it is one. */
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Data the server refuses for what it is (a value it cannot store, a row too large): sending
 * it again cannot help. Class 22 data exception, 23 integrity (but "no partition of relation
 * found for row", also 23514, which a retry fixes by creating the partition), 54 program limit exceeded.
 */
export function isRejectedData(err: unknown): boolean {
  const code = sqlState(err);
  if (!code) return false;
  if (code === '23514' && /no partition/i.test((err as Error).message)) return false;
  return code.startsWith('22') || code.startsWith('23') || code.startsWith('54');
}

/** The schema or table is gone (someone dropped it): migrating again fixes it. */
export function isMissingSchema(err: unknown): boolean {
  const code = sqlState(err);
  return code === '3F000' || code === '42P01' || code === '42883';
}

/**
 * Not a server's verdict on the request but on reaching it: refused, reset, timed out, the
 * server shutting down or starting (class 08 connection, 57 operator intervention, 53
 * resources). At start-up these mean "not yet": the exporter starts and retries.
 */
export function isConnectionProblem(err: unknown): boolean {
  const code = sqlState(err);
  if (code) return code.startsWith('08') || code.startsWith('57') || code.startsWith('53');
  const sysCode = (err as { code?: unknown } | null)?.code;
  if (typeof sysCode === 'string' && sysCode.startsWith('E')) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND...
  const message = err instanceof Error ? err.message : String(err);
  return /Connection terminated|timeout|ECONNRE|socket|closed/i.test(message);
}
