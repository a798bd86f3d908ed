//! podflow's native core. Plain Rust modules (each with its own tests) plus one Node-API
//! boundary, `napi`, which is the only module that knows about Node.
//!
//! The contract with JavaScript (docs/native-contract.md):
//! - `source`: the `Handle` / `Source` traits every native handle implements (napi binds them once)
//! - `records`: the packed batch layout and the source kinds it names
//! - `js`: plain-data JS values: options in (`FromJs`), statuses out (`ToJs`, `js_object!`)
//!
//! The sources and what they read:
//! - `conntrack`: the conntrack source (ctnetlink dump or procfs, destroy events), one tick at a time
//! - `netlink`: ctnetlink sockets, dump, destroy events, message parsing and building
//! - `procfs`: /proc/net/nf_conntrack fallback reader
//! - `tracker`: per-connection state → per-interval deltas, pre-aggregated per flow
//! - `bpf`: Cilium's eBPF conntrack maps (bpf(2), CT layouts), feeding the same tracker
//! - `packet`: AF_PACKET/TPACKET_V3 capture, BPF filter, header parsing, per-5-tuple flows
//! - `dns`: DNS response capture and parsing, address → name cache (a handle, not a source)
//! - `sys`: hand-declared libc FFI (no crates.io dependencies)
//! - `testdata`: synthetic data for benches and tests (exported to JS apart, as `testSupport`)

#[macro_use]
pub mod js;

pub mod bpf;
pub mod cidr;
pub mod conntrack;
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
