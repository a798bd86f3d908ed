# Shared by the set-up scripts (sourced, never run): where things are and how to get them.
# Nothing here looks a system tool up through the caller's PATH as it is: node_modules/.bin (first
# on PATH under make) holds npm packages' programs, some named like system tools (`nft`).

PODFLOW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEBIAN_PACKAGES_FILE=$PODFLOW_ROOT/setup/debian-packages.tsv
LOCAL_NODE_DIR=$PODFLOW_ROOT/.tools/node

say() { printf 'podflow: %s\n' "$*" >&2; }

# "package<TAB>file" for each Debian package the tests use (setup/debian-packages.tsv).
debian_packages() { awk -F '\t' '!/^#/ && NF >= 2 { print $1 "\t" $2 }' "$DEBIAN_PACKAGES_FILE"; }

# "package<TAB>where its tool is<TAB>present|missing" for each package of the list: the one
# place that decides what is installed (system-deps, doctor, and setup.test.ts through `status`).
# A tool is its package's file; PATH is never asked (a missing nft must not be found elsewhere).
debian_package_status() {
  local pkg file
  while IFS=$'\t' read -r pkg file; do
    if [ -e "$file" ]; then printf '%s\t%s\tpresent\n' "$pkg" "$file"; else printf '%s\t%s\tmissing\n' "$pkg" "$file"; fi
  done < <(debian_packages)
}

# The packages of the list whose tool is missing.
missing_debian_packages() { debian_package_status | awk -F '\t' '$3 == "missing" { print $1 }'; }

# PATH without node_modules/.bin folders and without the project's own .tools.
clean_path() {
  local dir out=
  local IFS=:
  for dir in $PATH; do
    case "$dir" in */node_modules/.bin | */node_modules/.bin/ | "$PODFLOW_ROOT"/.tools/*) continue ;; esac
    out=${out:+$out:}$dir
  done
  printf '%s' "$out"
}

# The user's own program NAME (rustup's cargo, nvm's npm, ...), found on the clean PATH, or fails.
user_tool() { PATH=$(clean_path) command -v "$1"; }

# x.y.z of the Node every part of the project uses (.node-version, also the Dockerfile's default).
node_version() { tr -d ' \n\r' <"$PODFLOW_ROOT/.node-version"; }
# The npm installed beside it: package.json "packageManager": "npm@x.y.z".
npm_version() { sed -n 's/^ *"packageManager": *"npm@\([0-9.]*\)".*/\1/p' "$PODFLOW_ROOT/package.json"; }
# crates/flowsource's rust-version: the oldest rustc it is built and tested with.
rust_min_version() { sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$PODFLOW_ROOT/crates/flowsource/Cargo.toml"; }

# True when version $1 >= version $2 (dotted numbers).
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | sed -n 1p)" = "$2" ]; }

# The npm that can fetch the pinned Node: the user's, else Debian's. Prints its path or fails.
bootstrap_npm() {
  user_tool npm || { [ -x /usr/bin/npm ] && echo /usr/bin/npm; }
}

# The cargo to build with: the user's (rustup, ...) when its rustc is new enough, else Debian's.
# Prints "path<TAB>rustc version" of the cargo found (whatever its version) or fails.
find_cargo() {
  local cargo rustc version
  cargo=$(user_tool cargo) || { [ -x /usr/bin/cargo ] && cargo=/usr/bin/cargo; } || return 1
  rustc=$(dirname "$cargo")/rustc
  [ -x "$rustc" ] || rustc=$(user_tool rustc) || rustc=/usr/bin/rustc
  version=$("$rustc" --version 2>/dev/null | awk '{ print $2 }')
  printf '%s\t%s\n' "$cargo" "${version:-unknown}"
}

# What `apt-get install` is missing for a build: npm when no Node is installed and no npm
# can fetch one, cargo-web (Debian's newer Rust) when no cargo is there. Prints package names.
missing_build_packages() {
  if [ ! -x "$LOCAL_NODE_DIR/bin/node" ] && ! bootstrap_npm >/dev/null; then echo npm; fi
  find_cargo >/dev/null || echo cargo-web
}

# Installs Debian packages as root; otherwise prints the one line that says what and how, and
# fails. $1: what they are for (shown in that line); then the package names.
apt_install() {
  local purpose=$1
  shift
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    say "missing $* ($purpose): run  sudo apt-get install -y --no-install-recommends $*"
    return 1
  fi
  say "installing Debian packages: $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A bare Debian 12 root (debootstrap --variant=minbase bookworm) in $1, from the tar $2 when it
# is there (else made from mirror $3 and, when $2 is set, kept there), with Debian's standard
# apt sources (bookworm, -updates, -security) and a policy-rc.d that keeps package scripts from
# starting services, as in Debian's container images. `make test-fresh` and `make test-image`.
debian_minbase_root() {
  local root=$1 cache=$2 mirror=$3
  mkdir -p "$root"
  if [ -n "$cache" ] && [ -s "$cache" ]; then
    say "bare Debian 12 root from $cache"
    tar -C "$root" -xf "$cache"
  else
    say "debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
    /usr/sbin/debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
      || { tail -20 "$root.debootstrap.log" >&2; say "debootstrap failed"; return 1; }
    if [ -n "$cache" ]; then
      mkdir -p "$(dirname "$cache")" && tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    fi
  fi
  cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SOURCES
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
}
