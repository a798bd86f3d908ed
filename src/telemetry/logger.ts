import pino, { type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * Structured JSON logs on stderr (stdout belongs to the debug exporter). `redact` sees every
 * finished line before it is written: the one place that takes secrets out of logs (the CLI
 * passes the config's secrets, src/config/secrets.ts), whatever field or error message holds them.
 */
export function createLogger(level: LogLevel = 'info', redact?: (line: string) => string): Logger {
  return pino(
    { level, base: { service: 'podflow' }, ...(redact ? { hooks: { streamWrite: redact } } : {}) },
    pino.destination({ fd: 2, sync: true }),
  );
}
