import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** The Collector's `service.telemetry.logs.encoding`. */
export type LogEncoding = 'console' | 'json';

/**
 * The encoding when the config sets none: console for a person at a terminal, JSON lines for
 * whatever collects a pod's stderr (the Collector defaults to console everywhere; podflow's logs
 * are read by log pipelines far more often than by eye, hence the TTY rule).
 */
export function defaultLogEncoding(isTTY: boolean = process.stderr.isTTY === true): LogEncoding {
  return isTTY ? 'console' : 'json';
}

/**
 * Logs on stderr (stdout belongs to the debug exporter): JSON lines, or one readable line per
 * event. `redact` sees every finished JSON line before it is written (and before console
 * formatting): the one place that takes secrets out of logs (the CLI passes the config's
 * secrets, src/config/secrets.ts), whatever field or error message holds them.
 */
export function createLogger(
  level: LogLevel = 'info',
  encoding: LogEncoding = defaultLogEncoding(),
  redact?: (line: string) => string,
): Logger {
  const destination = encoding === 'console' ? consoleDestination() : pino.destination({ fd: 2, sync: true });
  return pino({ level, base: { service: 'podflow' }, ...(redact ? { hooks: { streamWrite: redact } } : {}) }, destination);
}

/** pino-pretty, loaded only when console logs are asked for: JSON runs never pay for it at start-up. */
function consoleDestination(): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    singleLine: true,
    translateTime: 'SYS:standard',
    // The start line's message already says what these fields hold, for a reader.
    ignore: 'service,pipelines,metrics,listening,readsFrom,writesTo',
  });
}
