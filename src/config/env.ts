// `${env:VAR}` and `${env:VAR:-default}` in YAML values, as in the OpenTelemetry Collector.
// Substitution is done on the parsed document's scalars so every error keeps its line:column.
// `$${...}` is a literal `${...}`.
//
// What a variable holds arrives byte-exact as a string: it is never read as YAML here, so a
// password such as `0123`, `null`, `a: b` or `[x` stays what it is. A value that is exactly one
// reference also carries its YAML reading (`typed`); load.ts uses that reading only where the
// schema refuses the string (a port or a count from the environment, a map of headers), as the
// Collector keeps a variable's original text for string fields.
import { isScalar, parseDocument, type Document } from 'yaml';
import { walkDocument, type PathSegment } from './positions.ts';

const REFERENCE = /\$\$\{|\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}/g;

export interface EnvProblem {
  path: readonly PathSegment[];
  offset: number;
  message: string;
}

export interface Substitution {
  path: readonly PathSegment[];
  /** The scalar as written, references and all (what messages show instead of the value). */
  written: string;
  /** The scalar after substitution. */
  value: string;
  /**
   * When the scalar is exactly one reference and its value reads as something other than a
   * string in YAML (a number, boolean, null, map or list): that reading.
   */
  typed?: { value: unknown };
}

/** Replaces references in place; returns the problems (unset variables, malformed references) and what was substituted. */
export function substituteEnv(doc: Document, env: NodeJS.ProcessEnv = process.env): { problems: EnvProblem[]; substitutions: Substitution[] } {
  const problems: EnvProblem[] = [];
  const substitutions: Substitution[] = [];
  walkDocument(doc, (node, path) => {
    if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('${')) return;
    const text = node.value;
    const offset = node.range?.[0] ?? 0;
    let whole = false;
    let referenced = false;
    const replaced = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined, index: number) => {
      if (match === '$${') return '${';
      if (name === undefined) {
        problems.push({ path: [...path], offset, message: `malformed reference ${match} (use \${env:NAME} or \${env:NAME:-default})` });
        return match;
      }
      referenced = true;
      whole = index === 0 && match.length === text.length;
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      problems.push({ path: [...path], offset, message: `environment variable ${name} is not set and has no default (\${env:${name}:-default})` });
      return match;
    });
    node.value = replaced;
    if (!referenced) return;
    const substitution: Substitution = { path: [...path], written: text, value: replaced };
    if (whole) {
      const typed = yamlReading(replaced);
      if (typed !== undefined) substitution.typed = typed;
    }
    substitutions.push(substitution);
  });
  return { problems, substitutions };
}

/** What YAML would make of a variable's text, when that is not the same string. */
function yamlReading(text: string): { value: unknown } | undefined {
  // Silent: a warning would print the value. Errors are checked here, not thrown.
  const doc = parseDocument(text, { logLevel: 'silent' });
  if (doc.errors.length > 0) return undefined; // `[x`: not YAML, so only a string
  let value: unknown;
  try {
    value = doc.toJS();
  } catch {
    return undefined;
  }
  return typeof value === 'string' ? undefined : { value };
}
