//! podflow's native core. Plain Rust modules (each with its own tests) plus one Node-API
//! boundary, `napi`, which is the only module that knows about Node.
//!
//! - `netlink`: ctnetlink sockets, dump, destroy events, message parsing and building
//! - `procfs`: /proc/net/nf_conntrack fallback reader
//! - `tracker`: per-connection state → per-interval deltas, pre-aggregated per flow
//! - `records`: the packed batch layout that crosses into JavaScript
//! - `source`: a conntrack source driven one tick at a time
//! - `bpf`: Cilium's eBPF conntrack maps (bpf(2), CT layouts), feeding the same tracker
//! - `sys`: hand-declared libc FFI (no crates.io dependencies)
//! - `packet`: AF_PACKET/TPACKET_V3 capture, BPF filter, header parsing, per-5-tuple flows
//! - `dns`: DNS response capture and parsing, address → name cache

pub mod bpf;
pub mod cidr;
pub mod dns;
pub mod entry;
pub mod hash;
pub mod napi;
pub mod netlink;
pub mod packet;
pub mod procfs;
pub mod records;
pub mod source;
pub mod sys;
pub mod sysctl;
pub mod testdata;
pub mod tracker;
