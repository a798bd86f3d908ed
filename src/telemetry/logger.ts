import pino, { type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Structured JSON logs on stderr (stdout belongs to the debug exporter). */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'podflow' } }, pino.destination({ fd: 2, sync: true }));
}
