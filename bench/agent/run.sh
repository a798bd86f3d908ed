#!/usr/bin/env bash
# bench/agent: the agent's CPU per tick (issue 18), end to end: podflow's real agent process
# (`bin/podflow run`, conntrack → otlp, protobuf + gzip) reading a real conntrack table of ENTRIES
# entries whose counters all change between ticks (a generator sends one packet per entry from
# its own process), exporting to an OTLP/HTTP sink over loopback; against the bare receive loop
# (ct_bare_dump) on the same table, one bare read between every two ticks. Needs root.
# Prints a table, last one JSON line.
# Env: ENTRIES (262144), TICKS measured (5, after one warm-up tick), INTERVAL (the agent's, 10s:
# the generator and the bare loop must fit between two ticks even on a loaded machine),
# COMPRESSION (the otlp exporter's: gzip, its default; zstd or none to compare),
# AGENT_CPU_PROF=<dir> (the agent writes a V8 CPU profile there when it stops).
source "$(dirname "$0")/../kernel-bench.sh"
ENTRIES=${ENTRIES:-262144}
TICKS=${TICKS:-5}
INTERVAL=${INTERVAL:-10s}
kernel_bench agent
NS=pfagent-$$
PEER=pfagent-$$-peer
MAX_FILE=/proc/sys/net/netfilter/nf_conntrack_max
OLD_MAX=$(cat $MAX_FILE 2>/dev/null || echo "")
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$PEER" 2>/dev/null || true
  if [ -n "$OLD_MAX" ]; then echo "$OLD_MAX" > $MAX_FILE || true; fi
}
trap cleanup EXIT
flock /tmp/podflow-netns.lock ip netns add "$NS"
flock /tmp/podflow-netns.lock ip netns add "$PEER"
# The table limit is global (set in the initial namespace); leave room for the bench's entries.
if [ -n "$OLD_MAX" ] && [ "$OLD_MAX" -lt $((ENTRIES + 65536)) ]; then echo $((ENTRIES + 65536)) > $MAX_FILE; fi
# The generator's packets (10.1.a.b → 10.200.0.d:53) leave through a veth pair whose other end is
# in a second namespace that drops them (no address, no forwarding): they pass conntrack's OUTPUT
# and POSTROUTING hooks once each, and nothing answers. A static neighbour: no ARP.
ip -n "$NS" link set lo up
ip -n "$NS" link add pfgen0 type veth peer name pfgen1 netns "$PEER"
ip -n "$PEER" link set pfgen1 address 02:00:00:00:00:02
ip -n "$PEER" link set pfgen1 up
ip -n "$NS" link set pfgen0 up
ip -n "$NS" addr add 10.199.0.1/24 dev pfgen0
ip -n "$NS" neigh add 10.199.0.2 lladdr 02:00:00:00:00:02 dev pfgen0 nud permanent
ip -n "$NS" route add 10.200.0.0/24 via 10.199.0.2
# Accounting on; unanswered UDP entries kept for the whole run; a rule that puts conntrack in use.
ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_udp_timeout=3600
# (nft by file: node_modules/.bin has an `nft` of its own.)
NFT=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v nft)
ip netns exec "$NS" "$NFT" 'add table ip pfbench; add chain ip pfbench out { type filter hook output priority 0; policy accept; }; add rule ip pfbench out ct state new,established accept'
(cd crates/flowsource && cargo build --release --offline --example ct_udp_gen --example ct_bare_dump -q)
node bench/agent/bench.ts "/run/netns/$NS" "$ENTRIES" "$TICKS" "$INTERVAL"
