// How the processor reaches the API server (`auth_type`), as a KubeConfig, or undefined for
// none (network-only attributes).
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { K8sAttributesConfig } from './config.ts';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface AuthEnvironment {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Prefix for the service account directory (tests). */
  serviceAccountRoot: string;
}

const defaultEnvironment = (): AuthEnvironment => ({ env: process.env, home: homedir(), serviceAccountRoot: '' });

export interface ResolvedAuth {
  kubeConfig: KubeConfig | undefined;
  /** What was chosen, for the log: `serviceAccount`, `kubeConfig <path>` or `none (<why>)`. */
  description: string;
}

function serviceAccountMounted(e: AuthEnvironment): boolean {
  return existsSync(e.serviceAccountRoot + SERVICE_ACCOUNT_TOKEN) && Boolean(e.env.KUBERNETES_SERVICE_HOST) && Boolean(e.env.KUBERNETES_SERVICE_PORT);
}

/** `kubeconfig`, else the first existing file of `KUBECONFIG`, else `~/.kube/config`. */
function kubeconfigPath(config: K8sAttributesConfig, e: AuthEnvironment): { path: string; exists: boolean } {
  if (config.kubeconfig) return { path: config.kubeconfig, exists: existsSync(config.kubeconfig) };
  const fromEnv = (e.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  for (const p of fromEnv) if (existsSync(p)) return { path: p, exists: true };
  const home = join(e.home, '.kube', 'config');
  return { path: fromEnv[0] ?? home, exists: existsSync(home) && fromEnv.length === 0 };
}

function fromFile(path: string, context: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new Error(`kubeconfig ${path}: ${(err as Error).message}`);
  }
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context)) throw new Error(`kubeconfig ${path}: no context "${context}" (context)`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${path}: the current context names no cluster`);
  return kc;
}

/** KubeConfig.loadFromCluster, reading the given environment rather than process.env. */
function fromCluster(e: AuthEnvironment): KubeConfig {
  const root = `${e.serviceAccountRoot}${SERVICE_ACCOUNT_TOKEN.slice(0, -'/token'.length)}`;
  const host = e.env.KUBERNETES_SERVICE_HOST!;
  const port = e.env.KUBERNETES_SERVICE_PORT!;
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, caFile: `${root}/ca.crt`, skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: `${root}/token` } } }],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
    currentContext: 'inClusterContext',
  });
  return kc;
}

export function resolveAuth(config: K8sAttributesConfig, e: AuthEnvironment = defaultEnvironment()): ResolvedAuth {
  switch (config.auth_type) {
    case 'none':
      return { kubeConfig: undefined, description: 'none (auth_type: none)' };
    case 'serviceAccount':
      if (!serviceAccountMounted(e)) {
        throw new Error(`auth_type serviceAccount: no service account token at ${e.serviceAccountRoot + SERVICE_ACCOUNT_TOKEN} or KUBERNETES_SERVICE_HOST/PORT unset (is this running in a pod with automountServiceAccountToken?)`);
      }
      return { kubeConfig: fromCluster(e), description: 'serviceAccount' };
    case 'kubeConfig': {
      const { path, exists } = kubeconfigPath(config, e);
      if (!exists) throw new Error(`auth_type kubeConfig: kubeconfig ${path} does not exist (set kubeconfig or KUBECONFIG)`);
      return { kubeConfig: fromFile(path, config.context), description: `kubeConfig ${path}` };
    }
    case 'auto': {
      if (serviceAccountMounted(e)) return { kubeConfig: fromCluster(e), description: 'serviceAccount' };
      const { path, exists } = kubeconfigPath(config, e);
      if (exists) return { kubeConfig: fromFile(path, config.context), description: `kubeConfig ${path}` };
      return { kubeConfig: undefined, description: `none (no service account mounted, no kubeconfig at ${path})` };
    }
  }
}
