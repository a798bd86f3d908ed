// A pod's workload: its controller resolved up the chain, as `*.k8s.owner.name|type`.
//   ReplicaSet → its Deployment (or the ReplicaSet itself when it has none)
//   Job        → its CronJob (or the Job)
//   StatefulSet, DaemonSet → as they are
//   Node       → static (mirror) pods are owned by their Node
//   none, or a kind podflow does not know (custom controllers) → the pod is its own owner
import type { OwnerType } from '../../model/index.ts';
import type { ClusterCache } from './cluster-cache.ts';
import type { PodRecord } from './objects.ts';

export interface Owner {
  type: OwnerType;
  name: string;
}

export function resolveOwner(pod: PodRecord, cache: ClusterCache): Owner {
  const ref = pod.controller;
  if (!ref) return { type: 'Pod', name: pod.name };
  switch (ref.kind) {
    case 'ReplicaSet': {
      const rs = cache.replicaSet(pod.namespace, ref.name);
      if (rs) return rs.controller?.kind === 'Deployment' ? { type: 'Deployment', name: rs.controller.name } : { type: 'ReplicaSet', name: rs.name };
      // Not (yet) known: a Deployment's ReplicaSet is named `<deployment>-<pod-template-hash>`,
      // and its pods carry that hash as a label, so the name is exact, not a guess.
      const suffix = pod.templateHash ? `-${pod.templateHash}` : undefined;
      if (suffix && ref.name.endsWith(suffix) && ref.name.length > suffix.length) {
        return { type: 'Deployment', name: ref.name.slice(0, -suffix.length) };
      }
      return { type: 'ReplicaSet', name: ref.name };
    }
    case 'Job': {
      const job = cache.job(pod.namespace, ref.name);
      return job?.controller?.kind === 'CronJob' ? { type: 'CronJob', name: job.controller.name } : { type: 'Job', name: ref.name };
    }
    case 'StatefulSet':
    case 'DaemonSet':
    case 'Node':
      return { type: ref.kind, name: ref.name };
    default:
      return { type: 'Pod', name: pod.name };
  }
}
