// A config problem, placed by key path and line:column, and the error that carries all of them.

export interface ConfigIssue {
  /** Dotted key path, e.g. `exporters.postgres.sending_queue.queue_size` (list items as `[2]`). */
  path: string;
  /** 1-based position in the file; 0 when the text has no such place (e.g. a missing section). */
  line: number;
  column: number;
  message: string;
}

export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${file}:${issue.line}:${issue.column}` : file;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
    const lines = sorted.map((i) => formatIssue(file, i));
    super(`invalid configuration (${issues.length} error${issues.length === 1 ? '' : 's'}):\n  ${lines.join('\n  ')}`);
    this.name = 'ConfigError';
    this.file = file;
    this.issues = sorted;
  }
}

/** `['exporters', 'postgres', 'batch', 0]` → `exporters.postgres.batch[0]`. */
export function joinPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${String(s)}` : String(s);
  }
  return out;
}
