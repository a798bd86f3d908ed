#!/bin/sh
# Creates the Secret podflow-example (namespace podflow) with random passwords, once: an
# existing Secret is kept, so PostgreSQL's roles keep matching it. Nothing is stored in the repo.
# Usage: examples/bookinfo/create-secret.sh [kubectl]
set -eu
kubectl=${1:-kubectl}
random() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
"$kubectl" get namespace podflow >/dev/null 2>&1 || "$kubectl" create namespace podflow
"$kubectl" label namespace podflow pod-security.kubernetes.io/enforce=privileged --overwrite >/dev/null
if "$kubectl" -n podflow get secret podflow-example >/dev/null 2>&1; then
  echo "secret podflow/podflow-example exists: kept"
  exit 0
fi
"$kubectl" -n podflow create secret generic podflow-example \
  --from-literal=postgres-password="$(random)" \
  --from-literal=podflow-password="$(random)" \
  --from-literal=grafana-password="$(random)" \
  --from-literal=grafana-admin-password="$(random)"
