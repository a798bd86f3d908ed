#!/usr/bin/env bash
# bench/conntrack: reading a 262,144-entry conntrack table.
# Fills a throwaway network namespace's table over ctnetlink, then measures in one run:
#   podflow   dump + decode + delta + pre-aggregation (Rust) + JS decoding, first and steady-state tick
#   bare      a receive loop that only reads the kernel's dump (the physical floor)
#   conntrack `conntrack -L > /dev/null`
#   procfs    `cat /proc/net/nf_conntrack > /dev/null`
# Prints its figures, last one JSON line. Needs root (namespaces, CAP_NET_ADMIN).
# Env: ENTRIES (262144), RUNS ticks per reader per round (5), ROUNDS (3).
source "$(dirname "$0")/../kernel-bench.sh"
ENTRIES=${ENTRIES:-262144}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-3}
kernel_bench conntrack
NS=pfbench-$$
NS_PATH=/run/netns/$NS
MAX_FILE=/proc/sys/net/netfilter/nf_conntrack_max
OLD_MAX=$(cat $MAX_FILE 2>/dev/null || echo "")
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  if [ -n "$OLD_MAX" ]; then echo "$OLD_MAX" > $MAX_FILE || true; fi
}
trap cleanup EXIT
flock /tmp/podflow-netns.lock ip netns add "$NS"
# The table limit is global (set in the initial namespace); leave room for the bench's entries.
if [ -n "$OLD_MAX" ] && [ "$OLD_MAX" -lt $((ENTRIES + 65536)) ]; then echo $((ENTRIES + 65536)) > $MAX_FILE; fi
(cd crates/flowsource && cargo build --release --offline --example ct_bare_dump --example ct_podflow_dump -q)

fill=$(node bench/conntrack/podflow.ts fill "$NS_PATH" "$ENTRIES")
count=$(ip netns exec "$NS" conntrack -C)
echo "filled: $fill; table holds $count entries"

# Measure the same table in every way. The machine is shared and its load drifts, so the
# readers take turns: ROUNDS rounds, each running every podflow/bare reader for RUNS ticks;
# figures are means over all rounds.
podflow_rounds=() bare_rounds=() rust_rounds=()
for _ in $(seq "$ROUNDS"); do
  bare_rounds+=("$(crates/flowsource/target/release/examples/ct_bare_dump "$NS_PATH" "$RUNS")")
  podflow_rounds+=("$(node bench/conntrack/podflow.ts measure "$NS_PATH" "$RUNS")")
  rust_rounds+=("$(crates/flowsource/target/release/examples/ct_podflow_dump "$NS_PATH" "$RUNS")")
done
json_array() { local IFS=,; echo "[$*]"; }
podflow=$(json_array "${podflow_rounds[@]}")
bare=$(json_array "${bare_rounds[@]}")
rust=$(json_array "${rust_rounds[@]}")
read -r ct_wall ct_user ct_sys < <(timed ip netns exec "$NS" conntrack -L -f ipv4)
read -r proc_wall proc_user proc_sys < <(timed timeout 600 ip netns exec "$NS" cat /proc/net/nf_conntrack)

node --input-type=module -e '
const [podflow, bare, rust, count, ctWall, ctUser, ctSys, procWall, procUser, procSys, entries, runs] = process.argv.slice(1);
const mean = (xs, f) => xs.reduce((s, x) => s + f(x), 0) / xs.length;
const P = JSON.parse(podflow), B = JSON.parse(bare), RS = JSON.parse(rust);
const p = {
  first_tick: { cpu_s: mean(P, (x) => x.first_tick.cpu_s), wall_s: mean(P, (x) => x.first_tick.wall_s), flows: P[0].first_tick.flows },
  steady_cpu_s: mean(P, (x) => x.steady_cpu_s), steady_wall_s: mean(P, (x) => x.steady_wall_s), steady_flows: P.at(-1).steady_flows,
  peak_rss_mb: Math.max(...P.map((x) => x.peak_rss_mb)),
};
const b = { cpu_s: mean(B, (x) => x.cpu_s), user_s: mean(B, (x) => x.user_s), sys_s: mean(B, (x) => x.sys_s), wall_s: mean(B, (x) => x.wall_s), bytes: B[0].bytes };
const rs = { steady_user_s: mean(RS, (x) => x.steady_user_s), steady_sys_s: mean(RS, (x) => x.steady_sys_s), first_user_s: mean(RS, (x) => x.first_user_s), first_sys_s: mean(RS, (x) => x.first_sys_s) };
const rustSteady = rs.steady_user_s + rs.steady_sys_s;
const rustFirst = rs.first_user_s + rs.first_sys_s;
const ctCpu = Number(ctUser) + Number(ctSys), procCpu = Number(procUser) + Number(procSys);
const r = (x) => Math.round(x * 1000) / 1000;
const out = {
  bench: "conntrack", entries: Number(count), requested_entries: Number(entries),
  podflow_first_tick_cpu_s: r(p.first_tick.cpu_s), podflow_first_tick_wall_s: r(p.first_tick.wall_s), podflow_first_tick_flows: p.first_tick.flows,
  podflow_steady_cpu_s: r(p.steady_cpu_s), podflow_steady_wall_s: r(p.steady_wall_s), podflow_steady_flows: p.steady_flows,
  bare_cpu_s: r(b.cpu_s), bare_user_s: r(b.user_s), bare_sys_s: r(b.sys_s), bare_wall_s: r(b.wall_s), dump_bytes: b.bytes,
  conntrack_L_cpu_s: r(ctCpu), conntrack_L_wall_s: r(Number(ctWall)),
  procfs_cat_cpu_s: r(procCpu), procfs_cat_wall_s: r(Number(procWall)),
  kernel_us_per_entry: r(b.sys_s / Number(count) * 1e6),
  ratio_podflow_first_vs_bare_cpu: r(p.first_tick.cpu_s / b.cpu_s),
  ratio_podflow_steady_vs_bare_cpu: r(p.steady_cpu_s / b.cpu_s),
  ratio_conntrack_L_vs_podflow_steady_cpu: r(ctCpu / p.steady_cpu_s),
  ratio_conntrack_L_vs_podflow_first_cpu: r(ctCpu / p.first_tick.cpu_s),
  ratio_procfs_vs_podflow_steady_wall: r(Number(procWall) / p.steady_wall_s),
  rust_only_steady_cpu_s: r(rustSteady), rust_only_steady_user_s: r(rs.steady_user_s), rust_only_steady_sys_s: r(rs.steady_sys_s),
  ratio_rust_only_steady_vs_bare_cpu: r(rustSteady / b.cpu_s),
  rust_only_first_cpu_s: r(rustFirst), ratio_rust_only_first_vs_bare_cpu: r(rustFirst / b.cpu_s),
  bare_cpu_s_per_round: B.map((x) => r(x.cpu_s)), podflow_steady_cpu_s_per_round: P.map((x) => r(x.steady_cpu_s)),
  rust_only_steady_cpu_s_per_round: RS.map((x) => r(x.steady_user_s + x.steady_sys_s)),
  rounds: B.length, runs_per_round: Number(runs),
  peak_rss_mb: r(p.peak_rss_mb),
  target_steady_within_1_2x_bare: p.steady_cpu_s <= 1.2 * b.cpu_s,
  target_steady_le_bare: p.steady_cpu_s <= b.cpu_s,
  target_rss_le_250mb: p.peak_rss_mb <= 250,
};
console.log(`podflow first tick (all ${out.entries} new): cpu ${out.podflow_first_tick_cpu_s}s wall ${out.podflow_first_tick_wall_s}s -> ${out.podflow_first_tick_flows} flows`);
console.log(`podflow steady tick (counters unchanged): cpu ${out.podflow_steady_cpu_s}s wall ${out.podflow_steady_wall_s}s`);
console.log(`bare receive loop: cpu ${out.bare_cpu_s}s (user ${out.bare_user_s}s, sys ${out.bare_sys_s}s) wall ${out.bare_wall_s}s, ${out.dump_bytes} bytes`);
console.log(`podflow Rust path alone (no Node), steady: cpu ${out.rust_only_steady_cpu_s}s (user ${out.rust_only_steady_user_s}s, sys ${out.rust_only_steady_sys_s}s) = ${out.ratio_rust_only_steady_vs_bare_cpu}x bare; first tick ${out.rust_only_first_cpu_s}s`);
console.log(`conntrack -L: cpu ${out.conntrack_L_cpu_s}s wall ${out.conntrack_L_wall_s}s`);
console.log(`cat /proc/net/nf_conntrack: cpu ${out.procfs_cat_cpu_s}s wall ${out.procfs_cat_wall_s}s`);
console.log(`ratios: podflow steady/bare ${out.ratio_podflow_steady_vs_bare_cpu}x, first/bare ${out.ratio_podflow_first_vs_bare_cpu}x, conntrack -L/podflow ${out.ratio_conntrack_L_vs_podflow_steady_cpu}x; peak RSS ${out.peak_rss_mb} MB`);
console.log(JSON.stringify(out));
' "$podflow" "$bare" "$rust" "$count" "$ct_wall" "$ct_user" "$ct_sys" "$proc_wall" "$proc_user" "$proc_sys" "$ENTRIES" "$RUNS"
