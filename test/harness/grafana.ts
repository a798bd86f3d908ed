// Grafana dashboards as shipped, for tests that run their queries against PostgreSQL.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface DashboardTarget { refId: string; rawSql: string; format: string; datasource: { uid: string } }
export interface DashboardPanel { id: number; type: string; title: string; targets: DashboardTarget[] }
export interface DashboardVariable { name: string; query: string }
export interface Dashboard { uid: string; title: string; panels: DashboardPanel[]; templating: { list: DashboardVariable[] } }

/** Where the shipped dashboards live. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../examples/bookinfo/grafana/dashboards/', import.meta.url));

/** The network dashboard (podflow-network.json), as shipped. */
export function readDashboard(file = `${DASHBOARD_DIR}podflow-network.json`): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every shipped dashboard, by file name. */
export function shippedDashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((file) => ({ file, dashboard: readDashboard(DASHBOARD_DIR + file) }));
}

/**
 * Grafana's PostgreSQL macros, expanded as its SQL engine does for a [from, to] range, and the
 * dashboard's variables (`${name}`) replaced by the given values.
 */
export function expandMacros(sql: string, from: string, to: string, intervalS: number, variables: Record<string, string> = {}): string {
  let out = sql;
  for (const [name, value] of Object.entries(variables)) out = out.replaceAll(`\${${name}}`, value).replaceAll(`$${name}`, value);
  return out
    .replaceAll('$__interval', `'${intervalS}s'`)
    .replace(/\$__timeGroupAlias\(([^,]+),\s*'(\d+)s'\)/g, (_, col: string, s: string) => `floor(extract(epoch from ${col})/${s})*${s} AS "time"`)
    .replace(/\$__timeGroup\(([^,]+),\s*'(\d+)s'\)/g, (_, col: string, s: string) => `floor(extract(epoch from ${col})/${s})*${s}`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col: string) => `${col} BETWEEN '${from}' AND '${to}'`)
    .replaceAll('$__timeFrom()', `'${from}'`)
    .replaceAll('$__timeTo()', `'${to}'`);
}
