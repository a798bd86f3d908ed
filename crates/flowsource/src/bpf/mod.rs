//! Cilium's eBPF conntrack maps, read with bpf(2) (no libbpf, no crates.io).
//!
//! - `sys`: the bpf(2) commands, `union bpf_attr` laid out by hand
//! - `map`: a pinned map opened read-only and checked, read in full (batch or key by key)
//! - `ctmap`: Cilium's CT key/value layouts, tuple flags, the stored-address quirk
//! - `clock`: the clock `lifetime` is written in (ktime or jiffies)
//! - `source`: one tick = read the maps, decode, feed the shared delta tracker
//!
//! Byte layouts: ../../../../../shared/reference/cilium-ct-maps.md and the top of `ctmap`.

pub mod clock;
pub mod ctmap;
pub mod map;
pub mod source;
pub mod sys;
