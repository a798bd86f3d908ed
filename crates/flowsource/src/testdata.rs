//! Synthetic data for benches and tests (never used by a receiver): conntrack entries, and a
//! Cilium-shaped CT map. napi exports them in the `testSupport` section only.

use crate::bpf::ctmap::{KEY_V4_BYTES, VALUE_BYTES};
use crate::bpf::map::{self, ReadMethod, Snapshot};
use crate::bpf::sys;
use crate::entry::{Entry, Tuple, FAMILY_IPV4, PROTO_UDP};

/// Synthetic conntrack entry `i`: UDP 10.1.a.b:sport → 10.200.0.d:53. Entry i uses source
/// i % 1024, destination (i / 1024) % 64 and source port 10000 + i / 65536, so every tuple is
/// distinct and 262,144 entries reduce to 65,536 flows.
pub fn synthetic_entry(i: u64) -> Entry {
    let s = (i % 1024) as u16;
    let d = ((i / 1024) % 64) as u8;
    let sport = 10_000 + (i / 65_536) as u16;
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[10, 1, (s >> 8) as u8, s as u8]);
    let mut dst = [0u8; 16];
    dst[..4].copy_from_slice(&[10, 200, 0, d]);
    let original = Tuple { family: FAMILY_IPV4, protocol: PROTO_UDP, src, dst, src_port: sport, dst_port: 53 };
    let reply = Tuple { family: FAMILY_IPV4, protocol: PROTO_UDP, src: dst, dst: src, src_port: 53, dst_port: sport };
    Entry { original, reply, timeout: 3600, ..Entry::default() }
}

pub fn synthetic_entries(count: u64) -> impl Iterator<Item = Entry> {
    (0..count).map(synthetic_entry)
}

/// Creates an LRU hash map of Cilium's shape, pins it at `path` and writes `count` OUT TCP
/// entries (v1.15 layout: rx 2 packets / 140 bytes, tx 3 packets / 200 bytes) with batch
/// updates. Returns how many entries the map holds afterwards.
pub fn cilium_filled_map(path: &str, key_size: u32, max_entries: u32, count: u32) -> Result<u64, String> {
    let name = path.rsplit('/').next().unwrap_or("cilium_ct");
    let fd = sys::map_create(sys::BPF_MAP_TYPE_LRU_HASH, key_size, VALUE_BYTES as u32, max_entries, name).map_err(|e| map::describe(path, "BPF_MAP_CREATE", &e))?;
    sys::obj_pin(sys::raw(&fd), path).map_err(|e| map::describe(path, "BPF_OBJ_PIN", &e))?;
    let ks = key_size as usize;
    let alen = if ks == KEY_V4_BYTES { 4 } else { 16 };
    const CHUNK: u32 = 8192;
    let mut written = 0u32;
    while written < count {
        let n = CHUNK.min(count - written);
        let mut keys = vec![0u8; n as usize * ks];
        let mut values = vec![0u8; n as usize * VALUE_BYTES];
        for j in 0..n {
            let i = written + j;
            let k = &mut keys[j as usize * ks..(j as usize + 1) * ks];
            // daddr (the local pod, initiator) 10.<i>... ; saddr a server per 256 connections.
            k[0] = 10;
            k[1..4].copy_from_slice(&i.to_be_bytes()[1..4]);
            k[alen] = 10;
            k[alen + 1] = 200;
            k[alen + 3] = (i >> 16) as u8;
            k[2 * alen..2 * alen + 2].copy_from_slice(&443u16.to_be_bytes());
            k[2 * alen + 2..2 * alen + 4].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
            k[2 * alen + 4] = 6;
            let v = &mut values[j as usize * VALUE_BYTES..(j as usize + 1) * VALUE_BYTES];
            v[0..8].copy_from_slice(&2u64.to_le_bytes());
            v[8..16].copy_from_slice(&140u64.to_le_bytes());
            v[16..24].copy_from_slice(&3u64.to_le_bytes());
            v[24..32].copy_from_slice(&200u64.to_le_bytes());
            v[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
            v[42] = 0x12;
            v[43] = 0x12;
        }
        sys::update_batch(sys::raw(&fd), &keys, &values, n).map_err(|e| map::describe(path, "BPF_MAP_UPDATE_BATCH", &e))?;
        written += n;
    }
    let m = map::open_checked(path, key_size, VALUE_BYTES as u32).map_err(|e| e.to_string())?;
    let mut snap = Snapshot::default();
    m.read(ReadMethod::Batch, 1, &mut snap)?;
    Ok(snap.count as u64)
}

js_object! {
    /// What [`conntrack_insert`] did.
    #[derive(Clone, Debug)]
    pub struct InsertReport {
        pub inserted: u64 => "inserted",
        pub refused: u64 => "refused",
        /// The kernel's first refusal.
        pub first_error: Option<String> => "firstError",
    }
}

/// Fills a (throwaway) namespace's conntrack table with `count` synthetic entries over
/// ctnetlink, `batch` messages per datagram.
pub fn conntrack_insert(netns: Option<&str>, count: u64, batch: usize) -> Result<InsertReport, String> {
    let (refused, first_error) = crate::netlink::socket::insert_entries(netns, synthetic_entries(count), batch).map_err(|e| e.to_string())?;
    Ok(InsertReport { inserted: count - refused, refused, first_error })
}
