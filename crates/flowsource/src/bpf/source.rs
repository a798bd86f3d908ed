//! One Cilium CT source: the pinned maps, the layout decision and the shared delta tracker,
//! driven one tick at a time. Each tick reads every map in full (maps are re-opened by path
//! each tick, so a map Cilium recreated on upgrade, or one that appeared late, is picked up),
//! then feeds the tracker in three passes over the packed entries:
//!
//! 1. SERVICE entries → a (client, client port, transport, rev-NAT index) → VIP table; they
//!    carry no counters (offset 8 holds the backend id). IN entries are set aside.
//! 2. OUT entries → the tracker, with the VIP of their SERVICE entry as the original
//!    destination (the flow then carries `destination.original.*`). Every OUT entry marks an
//!    IN entry with the same tuple as its twin: that IN entry is the other end of the same
//!    flow on this node (pod to pod) and is not counted again. An OUT entry keeps the VIP it
//!    was first seen with while it lives, even when its SERVICE entry goes first.
//! 3. IN entries without an OUT twin → the tracker (the remote side opened the connection).
//!
//! RELATED entries (the companion ICMP entry `ct_create` writes for every connection, which
//! counts ICMP errors about it) are never turned into flows, so nothing is counted twice.

use super::clock::{self, ClockSource};
use super::ctmap::{self, CtKey, CtValue, Evidence, Layout, LayoutChoice, ServiceKey, KEY_V4_BYTES, KEY_V6_BYTES, VALUE_BYTES};
use super::map::{self, MapError, ReadMethod, Snapshot, Used};
use crate::cidr::Cidr;
use crate::hash::FxHashMap;
use crate::records::{TickHeader, HEADER_BYTES};
use crate::tracker::{Startup, Tracker};
use std::time::Instant;

/// `source` in the batch header for this reader (records.rs has 1 netlink, 2 procfs).
pub const SOURCE_CILIUM: u32 = 3;
/// Header offset 60 (reserved in records.rs) carries the layout used: 0 undecided, 1 v1.15, 2 v1.16.
pub const HEADER_LAYOUT_AT: usize = 60;

pub const DEFAULT_MAPS: [&str; 4] = ["cilium_ct4_global", "cilium_ct_any4_global", "cilium_ct6_global", "cilium_ct_any6_global"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub path: String,
    pub key_size: u32,
}

/// Resolves map names (`<bpffs>/tc/globals/<name>`) or absolute paths, and the key size from
/// the name: `ct4`/`any4`/`tcp4` are IPv4 (14 B keys), `ct6`/`any6`/`tcp6` IPv6 (38 B keys).
pub fn resolve_maps(bpffs: &str, names: &[String]) -> Result<Vec<MapSpec>, String> {
    if names.is_empty() {
        return Err("maps: at least one map is needed".into());
    }
    names
        .iter()
        .map(|n| {
            let path = if n.starts_with('/') { n.clone() } else if n.contains('/') || n.is_empty() {
                return Err(format!("maps: {n:?} is neither a map name nor an absolute path"));
            } else {
                format!("{}/tc/globals/{n}", bpffs.trim_end_matches('/'))
            };
            let base = path.rsplit('/').next().unwrap_or("");
            let has = |tags: &[&str]| tags.iter().any(|t| base.contains(t));
            let key_size = if has(&["ct4", "any4", "tcp4"]) {
                KEY_V4_BYTES
            } else if has(&["ct6", "any6", "tcp6"]) {
                KEY_V6_BYTES
            } else {
                return Err(format!("maps: cannot tell the address family of {base:?} from its name (expected ct4/any4/tcp4 or ct6/any6/tcp6, as Cilium names them)"));
            };
            Ok(MapSpec { path, key_size: key_size as u32 })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Options {
    pub maps: Vec<MapSpec>,
    pub layout: LayoutChoice,
    pub clock: ClockSource,
    pub startup: Startup,
    pub exclude: Vec<Cidr>,
    pub method: ReadMethod,
    /// `read_threads`: threads reading one map's bucket ranges in parallel (0 = auto).
    pub threads: usize,
}

/// What the last read of one map found.
#[derive(Clone, Debug, Default)]
struct MapStatus {
    present: bool,
    /// Why it is absent (missing maps are tolerated while at least one map is there).
    missing: Option<String>,
    map_type: u32,
    max_entries: u32,
    entries: usize,
    method: Option<Used>,
    /// Threads (bucket ranges) of the last batch read; 1 for key by key.
    threads: usize,
}

/// Per-tick counts beyond the batch header (for status and metrics).
#[derive(Clone, Debug, Default)]
pub struct TickCounts {
    pub entries: u64,
    pub service: u64,
    pub related: u64,
    pub in_twins: u64,
    pub expired: u64,
    pub no_protocol: u64,
    pub batch_grows: u64,
    pub vip_matched: u64,
    /// Flow entries (not SERVICE, not RELATED) with any non-zero counter word: 0 under v1.16
    /// without `--bpf-conntrack-accounting`.
    pub with_counters: u64,
}

pub struct CiliumSource {
    opts: Options,
    tracker: Tracker,
    snaps: Vec<Snapshot>,
    status: Vec<MapStatus>,
    layout: Option<Layout>,
    evidence: (u64, u64),
    method: ReadMethod,
    last: TickCounts,
    /// OUT entry key → (VIP, VIP port, tick last seen): the VIP a service connection had.
    vip_memory: FxHashMap<[u8; KEY_V6_BYTES], (([u8; 16], u16), u32)>,
    tick: u32,
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl CiliumSource {
    /// Opens every map once to check it: a map of the wrong shape, or no map at all, is an error.
    pub fn open(opts: Options) -> Result<CiliumSource, String> {
        let mut missing = Vec::new();
        let mut status = Vec::new();
        for spec in &opts.maps {
            match map::open_checked(&spec.path, spec.key_size, VALUE_BYTES as u32) {
                Ok(m) => status.push(MapStatus { present: true, map_type: m.info.map_type, max_entries: m.info.max_entries, ..MapStatus::default() }),
                Err(MapError::Missing(why)) => {
                    missing.push(why.clone());
                    status.push(MapStatus { missing: Some(why), ..MapStatus::default() });
                }
                Err(MapError::Fatal(why)) => return Err(why),
            }
        }
        if missing.len() == opts.maps.len() {
            return Err(format!("no Cilium conntrack map found: {}", missing.join("; ")));
        }
        let layout = match opts.layout {
            LayoutChoice::Fixed(l) => Some(l),
            LayoutChoice::Auto => None,
        };
        let tracker = Tracker::new(opts.startup, opts.exclude.clone());
        let snaps = opts.maps.iter().map(|_| Snapshot::default()).collect();
        let method = opts.method;
        Ok(CiliumSource { opts, tracker, snaps, status, layout, evidence: (0, 0), method, last: TickCounts::default(), vip_memory: FxHashMap::default(), tick: 0 })
    }

    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    pub fn last_counts(&self) -> &TickCounts {
        &self.last
    }

    /// Reads every map into its snapshot; returns (entries, restarts, capped, read ns).
    fn read_all(&mut self, counts: &mut TickCounts) -> Result<(u32, bool), String> {
        let mut restarts = 0u32;
        let mut capped = false;
        let mut present = 0;
        let mut missing = Vec::new();
        for (i, spec) in self.opts.maps.iter().enumerate() {
            let snap = &mut self.snaps[i];
            snap.clear();
            match map::open_checked(&spec.path, spec.key_size, VALUE_BYTES as u32) {
                Ok(m) => {
                    let used = m.read(self.method, self.opts.threads, snap)?;
                    // Remember a kernel without batch lookups: do not ask it again every tick.
                    if used == Used::KeyByKey && self.method == ReadMethod::Auto {
                        self.method = ReadMethod::KeyByKey;
                    }
                    restarts += snap.restarts;
                    capped |= snap.capped;
                    counts.batch_grows += u64::from(snap.grows);
                    counts.entries += snap.count as u64;
                    present += 1;
                    self.status[i] = MapStatus { present: true, missing: None, map_type: m.info.map_type, max_entries: m.info.max_entries, entries: snap.count, method: Some(used), threads: snap.threads.max(1) };
                }
                Err(MapError::Missing(why)) => {
                    missing.push(why.clone());
                    self.status[i] = MapStatus { missing: Some(why), ..MapStatus::default() };
                }
                Err(MapError::Fatal(why)) => return Err(why),
            }
        }
        if present == 0 {
            return Err(format!("no Cilium conntrack map found: {}", missing.join("; ")));
        }
        Ok((restarts, capped))
    }

    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.snaps.iter().flat_map(|snap| snap.iter())
    }

    /// `layout: auto`: looks for evidence (ctmap::evidence) until one layout is seen.
    fn decide_layout(&mut self) {
        if self.layout.is_some() {
            return;
        }
        let (mut v115, mut v116) = (0u64, 0u64);
        for (k, v) in self.entries() {
            let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
            match ctmap::evidence(&key, &val) {
                Evidence::V115 => v115 += 1,
                Evidence::V116 => v116 += 1,
                Evidence::None => {}
            }
        }
        self.evidence = (v115, v116);
        // A plausible rx pair is the stronger sign: v1.16+ never writes those words.
        if v115 > 0 {
            self.layout = Some(Layout::V115);
        } else if v116 > 0 {
            self.layout = Some(Layout::V116);
        }
    }

    /// One interval: read every map, decode, feed the tracker, return the packed batch.
    pub fn tick(&mut self) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let mut counts = TickCounts::default();
        let (restarts, capped) = self.read_all(&mut counts)?;
        let now = self.opts.clock.now()?;
        self.decide_layout();
        let mut header = TickHeader { source: SOURCE_CILIUM, entries: counts.entries, restarts, inconsistent: capped, ..TickHeader::default() };

        let Some(layout) = self.layout else {
            // Undecided: nothing can be counted yet, and the tracker is not fed (its first fed
            // tick will be the baseline, as at start-up).
            header.dump_ns = started.elapsed().as_nanos() as u64;
            header.tracked = self.tracker.tracked() as u64;
            let mut out = vec![0u8; HEADER_BYTES];
            crate::records::write_header(&mut out, 0, &header);
            self.last = counts;
            return Ok(out);
        };

        // Pass 1: SERVICE entries → VIP table; IN entries set aside; counts.
        let mut vips: FxHashMap<ServiceKey, ([u8; 16], u16)> = FxHashMap::default();
        let mut ins: FxHashMap<[u8; KEY_V6_BYTES], bool> = FxHashMap::default();
        for (k, v) in self.entries() {
            let Some(key) = CtKey::decode(k) else { continue };
            let Some(val) = CtValue::decode(v) else { continue };
            if clock::expired(val.lifetime, now) {
                counts.expired += 1;
            }
            if key.nexthdr == 0 {
                counts.no_protocol += 1;
            } else if key.is_service() {
                counts.service += 1;
                let (client, client_port, vip, vip_port) = key.service_endpoints();
                let sk = ServiceKey { family: key.family, protocol: key.nexthdr, client, client_port, rev_nat_index: val.rev_nat_index };
                vips.insert(sk, (vip, vip_port));
            } else if key.is_related() {
                counts.related += 1;
            } else {
                counts.with_counters += u64::from(val.words.iter().any(|&w| w != 0));
                if key.is_in() {
                    ins.insert(ctmap::twin_key(k), false);
                }
            }
        }

        // Pass 2: OUT entries.
        self.tracker.begin_tick();
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        let tracker = &mut self.tracker;
        let vip_memory = &mut self.vip_memory;
        for snap in &self.snaps {
            for (k, v) in snap.iter() {
                let ks = k.len();
                let flags = k[ks - 1];
                if k[ks - 2] == 0 || flags & (ctmap::TUPLE_F_SERVICE | ctmap::TUPLE_F_RELATED | ctmap::TUPLE_F_IN) != 0 {
                    continue;
                }
                let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
                if !ins.is_empty() {
                    if let Some(twin) = ins.get_mut(&ctmap::twin_key(k)) {
                        *twin = true;
                    }
                }
                let vip = if val.rev_nat_index == 0 {
                    None
                } else {
                    let sk = ServiceKey { family: key.family, protocol: key.nexthdr, client: key.daddr, client_port: key.sport, rev_nat_index: val.rev_nat_index };
                    let found = if vips.is_empty() { None } else { vips.get(&sk).copied() };
                    // A connection keeps the VIP it was first seen with while its OUT entry
                    // lives, even if its SERVICE entry is evicted or collected first: its
                    // identity in the tracker (the original tuple) must not change.
                    match found {
                        Some(v) => {
                            vip_memory.insert(ctmap::twin_key(k), (v, tick));
                            Some(v)
                        }
                        None => vip_memory.get_mut(&ctmap::twin_key(k)).map(|e| {
                            e.1 = tick;
                            e.0
                        }),
                    }
                };
                counts.vip_matched += u64::from(vip.is_some());
                tracker.observe(&ctmap::to_entry(&key, &val, layout, vip));
            }
        }

        if !self.vip_memory.is_empty() {
            self.vip_memory.retain(|_, e| e.1 == tick);
        }

        // Pass 3: IN entries whose flow has no OUT entry on this node.
        if !ins.is_empty() {
            for snap in &self.snaps {
                for (k, v) in snap.iter() {
                    let ks = k.len();
                    let flags = k[ks - 1];
                    if k[ks - 2] == 0 || flags & (ctmap::TUPLE_F_SERVICE | ctmap::TUPLE_F_RELATED) != 0 || flags & ctmap::TUPLE_F_IN == 0 {
                        continue;
                    }
                    if ins.get(&ctmap::twin_key(k)) == Some(&true) {
                        counts.in_twins += 1;
                        continue;
                    }
                    let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
                    tracker.observe(&ctmap::to_entry(&key, &val, layout, None));
                }
            }
        }

        header.skipped = counts.no_protocol.min(u64::from(u32::MAX)) as u32;
        header.dump_ns = started.elapsed().as_nanos() as u64;
        let mut out = self.tracker.finish_tick(header);
        let code: u32 = match layout {
            Layout::V115 => 1,
            Layout::V116 => 2,
        };
        out[HEADER_LAYOUT_AT..HEADER_LAYOUT_AT + 4].copy_from_slice(&code.to_le_bytes());
        self.last = counts;
        Ok(out)
    }

    /// A JSON object describing the maps, the layout decision and the last tick.
    pub fn status_json(&self) -> String {
        let maps: Vec<String> = self
            .opts
            .maps
            .iter()
            .zip(&self.status)
            .map(|(spec, s)| {
                let method = match s.method {
                    Some(Used::Batch) => "\"batch\"",
                    Some(Used::KeyByKey) => "\"key_by_key\"",
                    None => "null",
                };
                format!(
                    "{{\"path\":{},\"present\":{},\"missing\":{},\"type\":{},\"keySize\":{},\"valueSize\":{},\"maxEntries\":{},\"entries\":{},\"method\":{},\"threads\":{}}}",
                    json_str(&spec.path),
                    s.present,
                    s.missing.as_deref().map_or("null".into(), json_str),
                    s.map_type,
                    spec.key_size,
                    VALUE_BYTES,
                    s.max_entries,
                    s.entries,
                    method,
                    s.threads
                )
            })
            .collect();
        let layout = self.layout.map_or("null".to_string(), |l| json_str(l.name()));
        let decided_by = match (self.opts.layout, self.layout) {
            (LayoutChoice::Fixed(_), _) => "config",
            (LayoutChoice::Auto, Some(_)) => "observed",
            (LayoutChoice::Auto, None) => "undecided",
        };
        let c = &self.last;
        format!(
            "{{\"maps\":[{}],\"layout\":{layout},\"layoutDecidedBy\":\"{decided_by}\",\"evidence\":{{\"v1.15\":{},\"v1.16\":{}}},\"tracked\":{},\"last\":{{\"entries\":{},\"service\":{},\"related\":{},\"inTwins\":{},\"expired\":{},\"noProtocol\":{},\"batchGrows\":{},\"vipMatched\":{},\"withCounters\":{}}}}}",
            maps.join(","),
            self.evidence.0,
            self.evidence.1,
            self.tracker.tracked(),
            c.entries,
            c.service,
            c.related,
            c.in_twins,
            c.expired,
            c.no_protocol,
            c.batch_grows,
            c.vip_matched,
            c.with_counters
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Test and bench helper: a Cilium-shaped map filled with synthetic entries.

/// Creates an LRU hash map of Cilium's shape, pins it at `path` and writes `count` OUT TCP
/// entries (v1.15 layout: rx 2 packets / 140 bytes, tx 3 packets / 200 bytes) with batch
/// updates. Returns how many entries the map holds afterwards.
pub fn create_filled_map(path: &str, key_size: u32, max_entries: u32, count: u32) -> Result<u64, String> {
    use super::sys;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names_resolve_to_paths_and_key_sizes() {
        let names: Vec<String> = DEFAULT_MAPS.iter().map(|s| s.to_string()).collect();
        let specs = resolve_maps("/sys/fs/bpf/", &names).unwrap();
        assert_eq!(specs[0], MapSpec { path: "/sys/fs/bpf/tc/globals/cilium_ct4_global".into(), key_size: 14 });
        assert_eq!(specs[1].key_size, 14);
        assert_eq!(specs[2].key_size, 38);
        assert_eq!(specs[3], MapSpec { path: "/sys/fs/bpf/tc/globals/cilium_ct_any6_global".into(), key_size: 38 });
        let per_cluster = resolve_maps("/x", &["/run/cilium/bpffs/tc/globals/cilium_per_cluster_ct_tcp6_3".into()]).unwrap();
        assert_eq!(per_cluster[0].key_size, 38);
        assert!(resolve_maps("/x", &["cilium_lb4_services".into()]).unwrap_err().contains("address family"));
        assert!(resolve_maps("/x", &["tc/cilium_ct4_global".into()]).unwrap_err().contains("neither"));
        assert!(resolve_maps("/x", &[]).is_err());
    }
}
