// Shapes of the rendered workload objects the deploy tests read (what they assert on, not the
// whole Kubernetes types; test/harness/k8s-schema.ts validates the whole objects).
import type { K8sObject } from './k8s-schema.ts';

export interface Capabilities { add?: string[]; drop?: string[] }
export interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  capabilities?: Capabilities;
  seccompProfile?: { type: string; localhostProfile?: string };
}
export interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }
export interface Probe { httpGet?: { path: string; port: string | number } }
export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: SecurityContext;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
}
export interface Volume { name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string } }
export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  dnsPolicy?: string;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  tolerations?: unknown[];
  securityContext?: { seccompProfile?: { type: string }; runAsNonRoot?: boolean; runAsUser?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
/** A DaemonSet or a Deployment. */
export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
export type DaemonSet = Workload;
export interface ServicePort { name: string; port: number; targetPort?: string | number; appProtocol?: string }
export interface Service extends K8sObject { spec: { clusterIP?: string; selector?: Record<string, string>; ports: ServicePort[] } }
export interface PolicyRule { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }

/** The RBAC k8sattributes needs, as "group/resource". */
export const K8SATTRIBUTES_RBAC = ['/nodes', '/pods', '/services', 'apps/replicasets', 'batch/jobs'];
