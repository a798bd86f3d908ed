# Sourced by the benches that read the kernel (bench/conntrack, bench/cilium, bench/packet):
# run from the repository root with the project's Node first on PATH; as root only.
#   kernel_bench NAME   (prints the skip line and exits when not root)
#   timed CMD...        prints "wall user sys" of a command (bash's time covers its children)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=$PWD/.tools/node/bin:$PATH

kernel_bench() {
  if [ "$(id -u)" != 0 ]; then
    echo "{\"bench\":\"$1\",\"skipped\":\"needs root\"}"
    exit 0
  fi
}

timed() {
  local TIMEFORMAT="%R %U %S"
  { time "$@" >/dev/null 2>&1; } 2>&1
}
