// `${env:VAR}` and `${env:VAR:-default}` in YAML values, as in the OpenTelemetry Collector.
// Substitution is done on the parsed document's scalars so every error keeps its line:column.
// A value that is exactly one reference is re-read as YAML (`${env:PORT}` can be a number);
// a reference inside a longer string stays text. `$${...}` is a literal `${...}`.
import { isPair, isScalar, isSeq, parse as parseYaml, visit, type Document, type Node, type Pair } from 'yaml';

const REFERENCE = /\$\$\{|\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}/g;

export interface EnvProblem {
  path: readonly (string | number)[];
  offset: number;
  message: string;
}

/** Replaces references in place; returns the problems (unset variables, malformed references). */
export function substituteEnv(doc: Document, env: NodeJS.ProcessEnv = process.env): EnvProblem[] {
  const problems: EnvProblem[] = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const text = node.value;
      const path = keyPath([...ancestors, node]);
      let whole = false;
      const replaced = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined, index: number) => {
        if (match === '$${') return '${';
        if (name === undefined) {
          problems.push({ path, offset: node.range?.[0] ?? 0, message: `malformed reference ${match} (use \${env:NAME} or \${env:NAME:-default})` });
          return match;
        }
        whole = index === 0 && match.length === text.length;
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        problems.push({ path, offset: node.range?.[0] ?? 0, message: `environment variable ${name} is not set and has no default (\${env:${name}:-default})` });
        return match;
      });
      node.value = whole ? (parseYaml(replaced) ?? replaced) : replaced;
    },
  });
  return problems;
}

/** The key path of the last node in a visitor's ancestor chain. */
function keyPath(chain: readonly unknown[]): (string | number)[] {
  const path: (string | number)[] = [];
  chain.forEach((node, i) => {
    if (isPair(node)) {
      const key = (node as Pair).key;
      path.push(isScalar(key) ? String(key.value) : String(key));
    } else if (isSeq(node)) {
      path.push(node.items.indexOf(chain[i + 1] as Node));
    }
  });
  return path;
}
