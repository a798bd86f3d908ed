#!/usr/bin/env bash
# bench/packet: packets per second the packet receiver sustains, and what it drops.
# Two namespaces joined by a veth pair; a generator (crates/flowsource/examples/packet_gen,
# AF_PACKET + sendmmsg) floods UDP frames (FLOWS source ports, PAYLOAD bytes) into one end for
# SECONDS (GENERATORS processes in parallel); the real receiver (Node + Rust core, filter udp, 1 s interval, 64 MiB ring) captures
# the other end. Oracle: the interface's own rx_packets. Prints its figures, last one JSON line.
source "$(dirname "$0")/../kernel-bench.sh"
SECONDS_RUN=${SECONDS_RUN:-5}
FLOWS=${FLOWS:-1024}
PAYLOAD=${PAYLOAD:-64}
GENERATORS=${GENERATORS:-1}
kernel_bench packet
GEN_NS=pfpkt-gen-$$
CAP_NS=pfpkt-cap-$$
cleanup() {
  ip netns del "$GEN_NS" 2>/dev/null || true
  ip netns del "$CAP_NS" 2>/dev/null || true
}
trap cleanup EXIT
flock /tmp/podflow-netns.lock ip netns add "$GEN_NS"
flock /tmp/podflow-netns.lock ip netns add "$CAP_NS"
ip -n "$GEN_NS" link add name a type veth peer name b netns "$CAP_NS"
for ns in "$GEN_NS" "$CAP_NS"; do
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
# b gets the generator's destination MAC and no IP address: frames are captured, then dropped
# by the IP stack (no reply traffic).
ip -n "$CAP_NS" link set dev b address 02:00:00:00:00:02
ip -n "$GEN_NS" link set dev a up
ip -n "$CAP_NS" link set dev b up
(cd crates/flowsource && cargo build --release --offline --example packet_gen -q)

out=$(node bench/packet/bench.ts "/run/netns/$CAP_NS" b "$GEN_NS" a "$SECONDS_RUN" "$FLOWS" "$PAYLOAD" "$GENERATORS")
node --input-type=module -e '
const r = JSON.parse(process.argv[1]);
const round = (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const out = {
  bench: "packet",
  seconds: r.gen_seconds, flows: Number(process.argv[2]), generators: Number(process.argv[3]), frame_bytes: r.frame_bytes,
  sent: r.sent, interface_rx: r.interface_rx, captured: r.captured, kernel_drops: r.kernel_drops,
  offered_pps: round(r.interface_rx / r.gen_seconds),
  captured_pps: round(r.captured / r.gen_seconds),
  drop_ratio: round(r.kernel_drops / Math.max(1, r.interface_rx), 4),
  unaccounted: r.interface_rx - r.captured - r.kernel_drops,
  malformed: r.status?.malformed ?? null,
  node_cpu_s: round(r.cpu_user_s + r.cpu_system_s, 2),
  ns_cpu_per_captured_packet: round((r.cpu_user_s + r.cpu_system_s) * 1e9 / Math.max(1, r.captured)),
  flow_records: r.flow_records, batches: r.batches,
};
console.log(`generator: ${out.sent} frames of ${out.frame_bytes} bytes over ${out.seconds}s across ${out.flows} flows; interface counted ${out.interface_rx} (${out.offered_pps} pps)`);
console.log(`receiver: captured ${out.captured} packets (${out.captured_pps} pps), kernel drops ${out.kernel_drops} (${out.drop_ratio * 100}%), unaccounted ${out.unaccounted}`);
console.log(`receiver CPU (Node process incl. capture thread): ${out.node_cpu_s}s, ${out.ns_cpu_per_captured_packet} ns per captured packet; ${out.flow_records} flow records in ${out.batches} batches`);
console.log(JSON.stringify(out));
' "$out" "$FLOWS" "$GENERATORS"
