#!/usr/bin/env bash
# bench/cilium: reading a full 524,288-entry Cilium CT map (cilium_ct4_global, LRU hash,
# key 14 B, value 56 B) pinned on a throw-away bpffs. Measures in one run:
#   read+decode  podflow's BPF_MAP_LOOKUP_BATCH + decode (read_threads auto: bucket ranges read
#                at once, and on one thread), vs the key-by-key method egressd uses (Cilium's Go
#                DumpWithCallback: GET_NEXT_KEY + LOOKUP per entry) + the same decode;
#                alternating, median of RUNS, wall and CPU (examples/cilium_read.rs)
#   podflow tick the whole receiver tick: batch read + decode + delta + pre-aggregation (Rust) +
#                JS decoding, first tick (every entry new) and steady state; also with
#                read_threads 1 and with read_method key_by_key
#   bpftool      `bpftool map dump pinned ... > /dev/null`
# Targets (wall time of podflow's batch read + decode): ≥ 10× faster than `bpftool map dump`
# and ≥ 5× faster than key-by-key read + decode. CPU-time ratios and the one-thread figures
# are printed alongside (more threads cut wall time, not CPU time).
# Prints its figures, last one JSON line. Needs root.
source "$(dirname "$0")/../kernel-bench.sh"
ENTRIES=${ENTRIES:-524288}
RUNS=${RUNS:-5}
kernel_bench cilium
ROOT=$(mktemp -d /tmp/podflow-bench-bpffs-XXXXXX)
cleanup() {
  umount "$ROOT" 2>/dev/null || umount -l "$ROOT" 2>/dev/null || true
  rmdir "$ROOT" 2>/dev/null || true
}
trap cleanup EXIT
mount -t bpf bpf "$ROOT"
mkdir -p "$ROOT/tc/globals"

READ_BIN=${CILIUM_READ_BIN:-crates/flowsource/target/release/examples/cilium_read}
if [ -z "${CILIUM_READ_BIN:-}" ]; then
  (cd crates/flowsource && cargo build --release --offline --example cilium_read -q)
fi

fill=$(node bench/cilium/podflow.ts fill "$ROOT" "$ENTRIES")
echo "filled: $fill"
reads=$("$READ_BIN" "$ROOT/tc/globals/cilium_ct4_global" "$RUNS")

batch=$(node bench/cilium/podflow.ts measure "$ROOT" "$RUNS" batch)
batch1=$(node bench/cilium/podflow.ts measure "$ROOT" "$RUNS" batch 1)
keyed=$(node bench/cilium/podflow.ts measure "$ROOT" "$RUNS" key_by_key)
read -r bt_wall bt_user bt_sys < <(timed bpftool map dump pinned "$ROOT/tc/globals/cilium_ct4_global")

node --input-type=module -e '
const [fill, reads, batch, batch1, keyed, btWall, btUser, btSys] = process.argv.slice(1);
const f = JSON.parse(fill), rd = JSON.parse(reads), b = JSON.parse(batch), b1 = JSON.parse(batch1), k = JSON.parse(keyed);
const r = (x) => Math.round(x * 1000) / 1000;
const btCpu = Number(btUser) + Number(btSys);
const out = {
  bench: "cilium", entries: f.held, requested_entries: f.requested,
  read_threads: rd.batch_threads,
  read_decode_batch_wall_s: r(rd.batch_wall_s), read_decode_batch_cpu_s: r(rd.batch_cpu_s), decode_s: r(rd.batch_decode_s),
  read_decode_batch_1thread_wall_s: r(rd.batch_1thread_wall_s), read_decode_batch_1thread_cpu_s: r(rd.batch_1thread_cpu_s),
  read_decode_key_by_key_wall_s: r(rd.key_by_key_wall_s), read_decode_key_by_key_cpu_s: r(rd.key_by_key_cpu_s),
  podflow_first_tick_wall_s: r(b.first_tick.wall_s), podflow_first_tick_cpu_s: r(b.first_tick.cpu_s), podflow_first_tick_flows: b.first_tick.flows,
  podflow_steady_wall_s: r(b.steady_wall_s), podflow_steady_cpu_s: r(b.steady_cpu_s), podflow_tick_threads: b.threads,
  podflow_1thread_steady_wall_s: r(b1.steady_wall_s), podflow_1thread_steady_cpu_s: r(b1.steady_cpu_s),
  key_by_key_first_tick_wall_s: r(k.first_tick.wall_s), key_by_key_steady_wall_s: r(k.steady_wall_s), key_by_key_steady_cpu_s: r(k.steady_cpu_s),
  bpftool_dump_wall_s: r(Number(btWall)), bpftool_dump_cpu_s: r(btCpu),
  ratio_bpftool_vs_batch_read_decode_wall: r(Number(btWall) / rd.batch_wall_s),
  ratio_bpftool_vs_podflow_steady: r(Number(btWall) / b.steady_wall_s),
  ratio_bpftool_vs_podflow_first: r(Number(btWall) / b.first_tick.wall_s),
  ratio_key_by_key_vs_batch_read_decode_wall: r(rd.key_by_key_wall_s / rd.batch_wall_s),
  ratio_key_by_key_vs_batch_read_decode_cpu: r(rd.key_by_key_cpu_s / rd.batch_cpu_s),
  ratio_key_by_key_vs_batch_1thread_read_decode_wall: r(rd.key_by_key_wall_s / rd.batch_1thread_wall_s),
  ratio_bpftool_vs_batch_1thread_read_decode_wall: r(Number(btWall) / rd.batch_1thread_wall_s),
  ratio_key_by_key_vs_podflow_steady: r(k.steady_wall_s / b.steady_wall_s),
  ratio_key_by_key_vs_podflow_first: r(k.first_tick.wall_s / b.first_tick.wall_s),
  peak_rss_mb: r(b.peak_rss_mb),
};
out.target_10x_bpftool = out.ratio_bpftool_vs_batch_read_decode_wall >= 10;
out.target_5x_key_by_key = out.ratio_key_by_key_vs_batch_read_decode_wall >= 5;
console.log(`map: ${out.entries} entries held (${out.requested_entries} written)`);
console.log(`read + decode (median of ${rd.runs}): batch (${out.read_threads} threads) wall ${out.read_decode_batch_wall_s}s cpu ${out.read_decode_batch_cpu_s}s (decode ${out.decode_s}s); batch on 1 thread wall ${out.read_decode_batch_1thread_wall_s}s cpu ${out.read_decode_batch_1thread_cpu_s}s; key by key wall ${out.read_decode_key_by_key_wall_s}s cpu ${out.read_decode_key_by_key_cpu_s}s -> ${out.ratio_key_by_key_vs_batch_read_decode_wall}x (cpu ${out.ratio_key_by_key_vs_batch_read_decode_cpu}x; 1 thread ${out.ratio_key_by_key_vs_batch_1thread_read_decode_wall}x)`);
console.log(`podflow batch: first tick (all new) wall ${out.podflow_first_tick_wall_s}s cpu ${out.podflow_first_tick_cpu_s}s -> ${out.podflow_first_tick_flows} flows; steady tick (${out.podflow_tick_threads} threads) wall ${out.podflow_steady_wall_s}s cpu ${out.podflow_steady_cpu_s}s; read_threads 1 wall ${out.podflow_1thread_steady_wall_s}s cpu ${out.podflow_1thread_steady_cpu_s}s`);
console.log(`podflow read_method key_by_key: first tick wall ${out.key_by_key_first_tick_wall_s}s; steady tick wall ${out.key_by_key_steady_wall_s}s cpu ${out.key_by_key_steady_cpu_s}s`);
console.log(`bpftool map dump: wall ${out.bpftool_dump_wall_s}s cpu ${out.bpftool_dump_cpu_s}s`);
console.log(`ratios: bpftool/batch read+decode ${out.ratio_bpftool_vs_batch_read_decode_wall}x, bpftool/podflow steady tick ${out.ratio_bpftool_vs_podflow_steady}x, key-by-key/batch read+decode ${out.ratio_key_by_key_vs_batch_read_decode_wall}x, whole ticks ${out.ratio_key_by_key_vs_podflow_steady}x; peak RSS ${out.peak_rss_mb} MB`);
console.log(JSON.stringify(out));
' "$fill" "$reads" "$batch" "$batch1" "$keyed" "$bt_wall" "$bt_user" "$bt_sys"
