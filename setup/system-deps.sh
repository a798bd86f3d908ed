#!/usr/bin/env bash
# What `make` installs from Debian, found by each package's own file (setup/lib.sh).
#   build   npm (when no Node is installed yet and no npm can fetch one) and cargo-web (Debian
#           12's newer Rust, when there is no cargo); fails when they are missing and this is not
#           root, or when the cargo found has a rustc older than crates/flowsource's rust-version
#   test    the same, plus every package of setup/debian-packages.tsv, in one apt-get run; not
#           root, it prints what is missing and how to install it and goes on (the tests that
#           need them skip loudly, or fail under CI=true)
#   need P  the named packages of setup/debian-packages.tsv, when their files are missing
#   status  one line per package of setup/debian-packages.tsv: package, file, present|missing
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode=${1:-test}
case "$mode" in
  status)
    debian_package_status
    exit 0 ;;
  need)
    shift
    wanted=()
    while read -r pkg; do
      for want in "$@"; do [ "$pkg" = "$want" ] && wanted+=("$pkg"); done
    done < <(missing_debian_packages)
    apt_install "for make ${MAKECMDGOALS:-k8s-tools}" "${wanted[@]}"
    exit ;;
  build | test) ;;
  *) say "usage: setup/system-deps.sh build|test|need PACKAGE...|status"; exit 2 ;;
esac

mapfile -t build < <(missing_build_packages)
tests=()
[ "$mode" = test ] && mapfile -t tests < <(missing_debian_packages)

if [ "$(id -u)" = 0 ]; then
  apt_install "to build and test podflow" "${build[@]}" "${tests[@]}"
else
  [ ${#tests[@]} -eq 0 ] || apt_install "for the tests; without them they skip, or fail under CI=true" "${tests[@]}" || true
  [ ${#build[@]} -eq 0 ] || { apt_install "to build podflow" "${build[@]}"; exit 1; }
fi

# A cargo that is there but too old (Debian's own cargo 1.63) is not replaced behind the user's back.
IFS=$'\t' read -r cargo rustc_version < <(find_cargo)
need=$(rust_min_version)
if ! version_at_least "$rustc_version" "$need"; then
  say "$cargo uses rustc $rustc_version; crates/flowsource needs rustc $need or newer: run  sudo apt-get install -y --no-install-recommends cargo-web  (Debian 12's Rust $need+, replaces Debian's cargo and rustc) or use rustup"
  exit 1
fi
