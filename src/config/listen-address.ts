// `host:port` listen addresses (`0.0.0.0:9464`, `127.0.0.1:0`, `[::]:9464`) for config schemas.
import { z } from 'zod';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(text: string): ListenAddress | Error {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) return new Error(`"${text}" is not host:port (e.g. 0.0.0.0:9464, [::]:9464)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A listen-address key; the parsed value is { host, port }. */
export const listenAddress = () =>
  z.string().transform((text, ctx) => {
    const parsed = parseListenAddress(text);
    if (parsed instanceof Error) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    return parsed;
  });
