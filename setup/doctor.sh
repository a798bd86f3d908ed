#!/usr/bin/env bash
# `make doctor`: for each thing the project needs, whether it is here, where, and how to get it.
# Exits 1 when something `make test` needs is missing and `make` cannot install it (not root,
# or apt has no candidate for it), else 0. Reads the same lists as the set-up (setup/lib.sh).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

root=no
[ "$(id -u)" = 0 ] && root=yes
apt_lists=no
compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null && apt_lists=yes
blocking=0

row() { printf '%-8s %-26s %-46s %s\n' "$1" "$2" "$3" "$4"; }

# A missing Debian package: can `make` install it? Root and apt has (or may have, before the
# first apt-get update) a candidate.
installable() {
  [ "$root" = yes ] || return 1
  [ "$apt_lists" = no ] && return 0
  local policy
  policy=$(apt-cache policy "$1" 2>/dev/null)
  [[ $policy == *"Candidate: "[0-9]* ]]
}
missing() { # $1 what, $2 Debian package, $3 how
  if installable "$2"; then row missing "$1" - "make installs it: $3"
  else row MISSING "$1" - "$3 (make cannot: $([ "$root" = yes ] && echo "apt has no candidate for $2" || echo 'not root'))"; blocking=1; fi
}

row state what where "how to get it"

# Node and npm: pinned, in .tools/node.
node_v=$(node_version)
npm_v=$(npm_version)
if [ -x "$LOCAL_NODE_DIR/bin/node" ] && [ "$("$LOCAL_NODE_DIR/bin/node" --version)" = "v$node_v" ]; then
  row ok "node $node_v" "$LOCAL_NODE_DIR/bin/node" ".node-version; make installs it from the npm registry (node-linux-*)"
  row ok "npm $("$LOCAL_NODE_DIR/bin/node" "$LOCAL_NODE_DIR/bin/npm" --version)" "$LOCAL_NODE_DIR/bin/npm" "package.json packageManager (npm@$npm_v)"
else
  row missing "node $node_v" - "make installs it into .tools/node from the npm registry (.node-version)"
  row missing "npm $npm_v" - "make installs it into .tools/node beside node (package.json packageManager)"
  if npm=$(bootstrap_npm); then row ok "npm to fetch them" "$npm" "$($npm --version 2>/dev/null)"
  else missing "npm to fetch them" npm "apt-get install npm (Debian)"; fi
fi

# Rust: the user's cargo when its rustc is new enough, else Debian's cargo-web.
need=$(rust_min_version)
if IFS=$'\t' read -r cargo rustc_v < <(find_cargo); then
  if version_at_least "$rustc_v" "$need"; then row ok "cargo, rustc $rustc_v" "$cargo" "rust-version $need (crates/flowsource/Cargo.toml)"
  else row MISSING "rustc >= $need" "$cargo (rustc $rustc_v)" "apt-get install cargo-web (replaces Debian's cargo 1.63) or rustup"; blocking=1; fi
else
  missing "cargo, rustc >= $need" cargo-web "apt-get install cargo-web (Debian 12's Rust, bookworm main and security)"
fi

# The Debian packages of the tests, each by its own file.
while IFS=$'\t' read -r pkg file state; do
  if [ "$state" = present ]; then row ok "$pkg" "$file" "Debian package $pkg"
  else missing "$pkg" "$pkg" "apt-get install $pkg (make system-deps)"; fi
done < <(debian_package_status)

# The kernel side.
acct=/proc/sys/net/netfilter/nf_conntrack_acct
if [ -r "$acct" ]; then
  row ok "nf_conntrack_acct=$(cat "$acct")" "$acct" "tests set it in their own namespaces; the conntrack receiver sets 1 (enable_accounting)"
else
  row ok "nf_conntrack_acct" "(nf_conntrack not loaded)" "the kernel loads nf_conntrack with the first conntrack rule or query"
fi
if grep -qw bpf /proc/filesystems; then
  bpffs=$(findmnt -n -o TARGET -t bpf 2>/dev/null | sed -n 1p)
  row ok bpffs "${bpffs:-not mounted}" "the cilium tests mount their own (mount -t bpf)"
else
  row MISSING bpffs - "a kernel with CONFIG_BPF_SYSCALL (the cilium receiver and its tests)"; blocking=1
fi
if [ "$root" = yes ]; then row ok root "uid 0" "kernel tests, apt-get"
else row MISSING root "uid $(id -u)" "sudo make test: kernel tests need root (they skip, or fail under CI=true)"; blocking=1; fi

if [ "$blocking" = 1 ]; then say "doctor: something make test needs is missing and make cannot install it (MISSING above)"; exit 1; fi
say "doctor: make test has what it needs (or installs it)"
