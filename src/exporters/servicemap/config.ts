// The servicemap exporter's configuration: every key, its default and its bounds (README.md).
import { z } from 'zod';
import { durationMs } from '../../config/units.ts';
import { postgresConnectionKeys } from '../shared/postgres-connection.ts';
import { listenAddress } from '../shared/endpoint.ts';
import { httpAuthSchema } from '../shared/http-auth.ts';

export const DEFAULT_ENDPOINT = { host: 'localhost', port: 9470 };
export const DEFAULT_WINDOW_MS = 3_600_000;
export const DEFAULT_MAX_EDGES = 5_000;

/** An origin as browsers send it: scheme, host and optional port, nothing else (or `*`). */
const origin = z.string().refine((text) => {
  if (text === '*') return true;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}, { message: 'an origin is scheme://host[:port] with no path or trailing slash (e.g. https://grafana.example.com), or *' });

/** The PostgreSQL exporter's connection keys (the graph functions live in `schema`), and how often to re-read. */
export const postgresSourceSchema = z.strictObject({
  ...postgresConnectionKeys,
  /** Stream clients get a freshly read graph this often. */
  refresh: durationMs({ min: 1_000, max: 3_600_000 }).default(15_000),
});

const source = z
  .strictObject({
    /** The flows this exporter receives, kept for `window` (the default). */
    memory: z.strictObject({}).optional(),
    /** PostgreSQL's graph functions, as written by the postgres exporter (days of history). */
    postgres: postgresSourceSchema.optional(),
  })
  .refine((s) => !(s.memory && s.postgres), 'set one of source.memory and source.postgres');

export const servicemapConfigSchema = z.strictObject({
  /** Where the page and its API listen. Loopback by default: expose it on purpose. */
  endpoint: listenAddress().default(DEFAULT_ENDPOINT),
  /** The longest `window=` a query may ask for, and the default one; the memory source keeps this much. */
  window: durationMs({ min: 60_000, max: 31 * 86_400_000 }).default(DEFAULT_WINDOW_MS),
  /** Edges kept in memory; past it the smallest are merged into "other" (counted). */
  max_edges: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_EDGES),
  /** Bearer token (for /api/*) or basic credentials (for everything). */
  auth: httpAuthSchema.optional(),
  cors: z
    .strictObject({
      /** Origins allowed to read the API from another site; empty: no CORS headers at all. */
      allowed_origins: z.array(origin).default([]),
    })
    .prefault({}),
  /** Where the graph comes from: the flows this exporter receives, or PostgreSQL's graph functions. */
  source: source.default({ memory: {} }),
});

export type ServicemapConfig = z.output<typeof servicemapConfigSchema>;
export type PostgresSourceConfig = z.output<typeof postgresSourceSchema>;
export type ServicemapAuth = NonNullable<ServicemapConfig['auth']>;

/** The PostgreSQL source's settings, or undefined for the in-memory map. */
export function postgresSource(config: ServicemapConfig): PostgresSourceConfig | undefined {
  return config.source.postgres;
}
