#!/usr/bin/env bash
# `make test-fresh`: the README's two commands on a bare Debian 12, for real.
#
# Builds a minimal Debian 12 root (debootstrap --variant=minbase: no node, npm, cargo,
# PostgreSQL, conntrack, nftables...) in a temporary folder, clones this repository's HEAD into
# it and runs `CI=true make test` there, then `make run` until its pipelines report ready. The
# root runs in its own mount and PID namespaces (unshare), with /proc, /sys, /dev, /dev/shm, /run
# (for /run/netns), bpffs and /tmp of its own, so the kernel tests run against the real kernel;
# when the run ends, however it ends, the kernel drops those mounts and kills what was left
# running, and the folder is removed.
#
# What it adds to the bare root is what the machine gives every session and what the README
# assumes: `git` and `make`, the host's DNS and CA certificates (the package registries may sit
# behind a TLS-inspecting proxy), Debian's standard apt sources (with bookworm-security) and a
# policy-rc.d that keeps package scripts from starting services, as in Debian's container images.
#
# Environment: FRESH_CACHE (a tar of the bare root, made on the first run; empty: no cache),
# DEBIAN_MIRROR, FRESH_KEEP=1 (keep the folder for a look inside), FRESH_LOG (full log path).
set -euo pipefail
# One compound command: bash reads it whole before running it, so editing this file during a run
# cannot change the run.
{
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
head=$(git -C "$repo" rev-parse HEAD)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${FRESH_CACHE-/var/cache/podflow/debian12-minbase.tar}
started=$(date +%s)

source "$repo/setup/lib.sh"
say() { printf 'test-fresh: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot, mounts): run sudo make test-fresh"; exit 2; }
[ -x /usr/sbin/debootstrap ] || { say "needs debootstrap: run apt-get install -y debootstrap"; exit 2; }

work=$(mktemp -d /var/tmp/podflow-fresh.XXXXXX)
root=$work/root
log=${FRESH_LOG:-$work.log}

cleanup() {
  local status=$?
  # Every mount was made inside the run's own mount namespace and is gone with it; a leftover
  # here would mean a bug, and rm must never walk into a mounted /dev or /sys.
  local mounted
  mounted=$(findmnt -rn -o TARGET | grep -F "$work/" || true)
  if [ -n "$mounted" ]; then
    say "unmounting leftovers under $work"
    sort -r <<<"$mounted" | while read -r m; do umount -l "$m" || true; done
  fi
  if [ "${FRESH_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf --one-file-system "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The bare root, with Debian's apt sources and policy-rc.d (setup/lib.sh).
debian_minbase_root "$root" "$cache" "$mirror" || exit 1

# 2. What the machine gives (see the head comment), then the clone.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
passenv=()
for var in NODE_EXTRA_CA_CERTS SSL_CERT_FILE GIT_SSL_CAINFO CURL_CA_BUNDLE; do
  file=${!var:-}
  [ -n "$file" ] && [ -f "$file" ] || continue
  mkdir -p "$root$(dirname "$file")" && cp -L "$file" "$root$file"
  passenv+=("$var=$file")
done
for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!var:-}" ] && passenv+=("$var=${!var}")
done
git clone --quiet --no-checkout "$repo" "$root/root/podflow"
git -C "$root/root/podflow" checkout --quiet --detach "$head"

# 3. The run, inside the root: the user's side of it is the last lines of this script.
cat >"$root/root/fresh-run.sh" <<'INSIDE'
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
found=$(for t in node npm cargo rustc psql conntrack nft bpftool prometheus; do [ -e /usr/bin/$t ] || [ -e /usr/sbin/$t ] && printf '%s ' "$t"; done)
echo "== of node npm cargo rustc psql conntrack nft bpftool prometheus, the bare root has: ${found:-none}"
[ -z "$found" ] || exit 1
apt-get update -qq && apt-get install -y -qq --no-install-recommends git make ca-certificates >/dev/null || exit 1
cd /root/podflow
echo "== make test"
start=$(date +%s)
CI=true make test
status=$?
echo "== make test exited $status after $(( $(date +%s) - start ))s"
[ "$status" = 0 ] || exit "$status"
echo "== make run"
# In a network namespace of its own: the root shares the host's, whose ports 8888 and 9464
# (config.yaml) may be taken. Ready means /readyz answers 200: every receiver started.
unshare --net /bin/bash -c '
  set -m  # make run gets a process group of its own, stopped as a whole below
  ip link set lo up
  make run > /tmp/make-run.log 2>&1 &
  pid=$!
  ready=no
  for _ in $(seq 1 120); do
    if .tools/node/bin/node -e "fetch(\"http://127.0.0.1:8888/readyz\").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" 2>/dev/null; then ready=yes; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  tail -5 /tmp/make-run.log
  kill -INT -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "== make run ready: $ready"
  [ "$ready" = yes ]
'
INSIDE

say "running CI=true make test in the bare root (log: $log)"
set +e
unshare --mount --pid --fork --propagation private -- /bin/bash -euc '
  root=$1; shift
  # The root a mount point of its own: `ip netns exec` makes / a slave mount, which fails on a
  # plain folder ("mount --make-rslave /" failed: Invalid argument).
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount -t sysfs sysfs "$root/sys"
  mount -t bpf bpf "$root/sys/fs/bpf"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
  mount -t tmpfs -o mode=755 tmpfs "$root/run"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" /bin/bash /root/fresh-run.sh
' fresh "$root" "${passenv[@]}" >"$log" 2>&1
status=$?
set -e

minutes=$(awk -v s="$(( $(date +%s) - started ))" 'BEGIN { printf "%.1f", s / 60 }')
ava=$(grep -E '^ava: [0-9]+ passed' "$log" | tail -1 || true)
cargo=$(grep -E '^test result: ' "$log" | awk '{ p += $4; f += $6 } END { if (NR) printf "cargo: %d passed, %d failed", p, f }')
run=$(grep -E '^== make run ready: ' "$log" | sed 's/^== //' || true)
tail -40 "$log" >&2
[ "$status" = 0 ] && verdict=passed || verdict="FAILED (exit $status)"
echo "test-fresh: $verdict on bare Debian 12 at ${head:0:12} in $minutes minutes; ${ava:-ava: no summary}; ${cargo:-cargo: no summary}; ${run:-make run: not reached} (log: $log)"
exit "$status"
}
