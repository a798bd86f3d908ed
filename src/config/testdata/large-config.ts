// Large configs for the validation-time test and bench/cli: a `service.resource` map with many
// keys, and many processors of one type, all in one pipeline. Linear-time validation is measured
// on them (bench/cli), and their results are checked (src/config/large-config.test.ts).

export interface LargeConfig {
  text: string;
  /** Keys in service.resource: `key.<i>` → `value-<i>`, on line `resourceLine(i)`. */
  resourceKeys: number;
  /** Processors `<type>/p<i>` (bodies `{}`). */
  processors: number;
  resourceLine(i: number): number;
}

export interface LargeConfigOptions {
  /** The size to reach (the text is at least this long). */
  bytes: number;
  receiver: string;
  processor: string;
  exporter: string;
  /** Each resource value written as a map, which the schema refuses: one error per key. */
  invalidValues?: boolean;
}

export function largeConfig(o: LargeConfigOptions): LargeConfig {
  // A tenth of the bytes for processors, the rest for the resource map.
  const processors = Math.max(1, Math.floor(o.bytes / 10 / 40));
  const head = [`receivers:\n  ${o.receiver}: {}\nexporters:\n  ${o.exporter}: {}\nprocessors:\n`];
  for (let i = 0; i < processors; i++) head.push(`  ${o.processor}/p${i}: {}\n`);
  head.push('service:\n  pipelines:\n    flows:\n', `      receivers: [${o.receiver}]\n`, `      exporters: [${o.exporter}]\n`, '      processors:\n');
  for (let i = 0; i < processors; i++) head.push(`        - ${o.processor}/p${i}\n`);
  head.push('  resource:\n');
  const firstResourceLine = head.join('').split('\n').length;
  const parts = head;
  let size = head.reduce((n, s) => n + s.length, 0);
  let resourceKeys = 0;
  while (size < o.bytes) {
    const line = o.invalidValues ? `    key.${resourceKeys}: {value: ${resourceKeys}}\n` : `    key.${resourceKeys}: value-${resourceKeys}\n`;
    parts.push(line);
    size += line.length;
    resourceKeys++;
  }
  return { text: parts.join(''), resourceKeys, processors, resourceLine: (i) => firstResourceLine + i };
}
