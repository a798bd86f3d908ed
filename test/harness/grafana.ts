// The shipped Grafana dashboard and Grafana's PostgreSQL macros, for tests that run its panels'
// queries against a real PostgreSQL.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NETWORK_DASHBOARD = fileURLToPath(new URL('../../examples/bookinfo/grafana/dashboards/podflow-network.json', import.meta.url));

export interface Target { refId: string; rawSql: string; format: string; datasource: { uid: string } }
export interface Panel { id: number; type: string; title: string; targets: Target[] }

export function readDashboard(file = NETWORK_DASHBOARD): { uid: string; panels: Panel[] } {
  return JSON.parse(readFileSync(file, 'utf8')) as { uid: string; panels: Panel[] };
}

/** Grafana's PostgreSQL macros, expanded as its SQL engine does for a [from, to] range. */
export function expandMacros(sql: string, from: string, to: string, intervalS: number): string {
  return sql
    .replaceAll('$__interval', `'${intervalS}s'`)
    .replace(/\$__timeGroupAlias\(([^,]+),\s*'(\d+)s'\)/g, (_, col: string, s: string) => `floor(extract(epoch from ${col})/${s})*${s} AS "time"`)
    .replace(/\$__timeGroup\(([^,]+),\s*'(\d+)s'\)/g, (_, col: string, s: string) => `floor(extract(epoch from ${col})/${s})*${s}`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col: string) => `${col} BETWEEN '${from}' AND '${to}'`)
    .replaceAll('$__timeFrom()', `'${from}'`)
    .replaceAll('$__timeTo()', `'${to}'`);
}
