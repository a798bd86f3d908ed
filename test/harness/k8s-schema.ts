// Validates rendered Kubernetes objects the way the API server would before admission:
// - types, formats, enums and required fields from the Kubernetes OpenAPI schemas, compiled into
//   `kubernetes-models` (and `@kubernetes-models/prometheus-operator` for ServiceMonitor/PodMonitor);
// - unknown fields (the API server's strict field validation, kubectl's default), which those
//   schemas do not reject, from @kubernetes/client-node's generated model type maps, which list
//   every field of every built-in kind.
import * as k8s from '@kubernetes/client-node';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: unknown) => Validatable;

interface AttributeType {
  baseName: string;
  type: string;
}
type TypeMapped = { getAttributeTypeMap(): AttributeType[] };

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const CRD_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

/** `apps/v1` DaemonSet → the kubernetes-models module path; undefined for an unknown group. */
function modelModule(apiVersion: string, kind: string): string {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const pkg = CRD_PACKAGES[group] ?? 'kubernetes-models';
  return `${pkg}/${apiVersion}/${kind}`;
}

/** Every schema error of one object, as `Kind/name: message` lines (empty when valid). */
export async function validateObject(obj: K8sObject): Promise<string[]> {
  const where = `${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
  if (typeof obj !== 'object' || obj === null) return [`${where}: not an object`];
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return [`${where}: apiVersion and kind are required`];
  let Model: ModelClass;
  try {
    const mod = (await import(modelModule(obj.apiVersion, obj.kind))) as Record<string, ModelClass>;
    const found = mod[obj.kind];
    if (!found) throw new Error('no model class');
    Model = found;
  } catch {
    return [`${where}: no schema for ${obj.apiVersion} ${obj.kind} (unknown kind or API version)`];
  }
  const errors: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
  const rootType = typeMapName(obj.apiVersion, obj.kind);
  if (rootType) errors.push(...unknownFields(obj, rootType, '').map((e) => `${where}: ${e}`));
  return errors;
}

/** `apps/v1` DaemonSet → `V1DaemonSet`, when @kubernetes/client-node has that model. */
function typeMapName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.slice(apiVersion.indexOf('/') + 1);
  const name = `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
  return modelOf(name) ? name : undefined;
}

function modelOf(name: string): TypeMapped | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[name];
  return typeof candidate === 'function' && typeof (candidate as Partial<TypeMapped>).getAttributeTypeMap === 'function'
    ? (candidate as unknown as TypeMapped)
    : undefined;
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

/** Fields the model of `type` does not have, recursively, as JSON-pointer-ish paths. */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = ARRAY.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1]!, `${path}/${i}`)) : [];
  const map = MAP.exec(type);
  if (map) {
    return typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}/${k}`)) : [];
  }
  const model = modelOf(type);
  if (!model || typeof value !== 'object' || Array.isArray(value)) return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  const errors: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childType = fields.get(key);
    if (childType === undefined) errors.push(`${path || '/'}: unknown field "${key}" (${type})`);
    else errors.push(...unknownFields(child, childType, `${path}/${key}`));
  }
  return errors;
}
