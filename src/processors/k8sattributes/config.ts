// Configuration of the k8sattributes processor: every key, its default and its bounds.
import { z } from 'zod';
import { cidrSchema } from '../../model/cidr.ts';
import { durationMs, sizeBytes } from '../../config/units.ts';

/** Pod label and annotation keys are DNS-subdomain-prefixed names (`app.kubernetes.io/name`). */
const metadataKey = z.string().min(1).max(317).regex(/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/, 'not a Kubernetes label/annotation key');

export const k8sattributesConfigSchema = z.strictObject({
  /**
   * How to reach the API server. auto: in-cluster when a service account is mounted, else
   * `kubeconfig` / `KUBECONFIG` / `~/.kube/config`, else none (one warning, network-only attributes).
   */
  auth_type: z.enum(['auto', 'serviceAccount', 'kubeConfig', 'none']).default('auto'),
  /** Kubeconfig file for `kubeConfig` (and `auto`); empty: `KUBECONFIG`, else `~/.kube/config`. */
  kubeconfig: z.string().default(''),
  /** Kubeconfig context; empty: the file's current-context. */
  context: z.string().default(''),
  /**
   * The reporting node of every batch, for report-once. Empty (always on a gateway): a batch
   * received from an agent is its sender's (its resource's `k8s.node.name`); a batch of this
   * podflow's own receivers is `NODE_NAME`'s, else `service.resource["k8s.node.name"]`'s; when
   * none is known nothing is dropped.
   */
  node_name: z.string().default(''),
  /** Drop flows another node reports (design "Report once"); off: keep everything. */
  report_once: z.boolean().default(true),
  /** How long a deleted (or finished) pod stays resolvable by IP, for late conntrack entries. */
  deleted_pod_grace: durationMs({ min: 0, max: 86_400_000 }).default(120_000),
  /** start() waits this long for the initial list of every kind; then flows pass with what is known. */
  wait_for_sync: durationMs({ min: 0, max: 600_000 }).default(10_000),
  /**
   * The longest watch event line accepted; a longer one drops the watch (logged) and relists,
   * so a broken or hostile server cannot exhaust memory. Real objects are far smaller (etcd
   * refuses values over 1.5 MiB).
   */
  max_watch_line_size: sizeBytes({ min: 64 * 1024, max: 256 * 1024 * 1024 }).default(16 * 1024 * 1024),
  /** Pod and service ranges: never classified `public`, even when globally routable. */
  cluster_cidrs: z.array(cidrSchema).default([]),
  extract: z.strictObject({
    /** Pod labels copied to `<end>.k8s.pod.label.<key>`. */
    labels: z.array(metadataKey).default([]),
    /** Pod annotations copied to `<end>.k8s.pod.annotation.<key>`. */
    annotations: z.array(metadataKey).default([]),
  }).default({ labels: [], annotations: [] }),
});

export type K8sAttributesConfig = z.infer<typeof k8sattributesConfigSchema>;
