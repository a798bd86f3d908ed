// The Prometheus text exposition format 0.0.4: per metric a HELP and TYPE line, then one
// `name{label="value",...} value` line per series, labels already sorted by name.
import type { StoredSeries } from '../shared/prometheus-series.ts';
import { METRIC_HELP } from '../shared/prometheus-series.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export function renderExposition(series: Iterable<StoredSeries>): string {
  const byName = new Map<string, StoredSeries[]>();
  for (const s of series) {
    let list = byName.get(s.name);
    if (!list) byName.set(s.name, (list = []));
    list.push(s);
  }
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    lines.push(`# HELP ${name} ${escapeHelp(METRIC_HELP[name] ?? name)}`, `# TYPE ${name} counter`);
    for (const s of byName.get(name)!) {
      const labels = s.labels.map(([n, v]) => `${n}="${escapeLabelValue(v)}"`).join(',');
      lines.push(`${name}{${labels}} ${formatValue(s.value)}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
