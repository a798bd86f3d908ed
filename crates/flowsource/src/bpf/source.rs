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
use crate::js::{Fields, FromJs, JsValue, ToJs};
use crate::records::{self, SourceKind, TickHeader};
use crate::source::{Handle, Source};
use crate::tracker::{Startup, Tracker};
use std::time::Instant;

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

/// `{ bpffs, maps, layout, clockSource, startup, excludeCidrs, readMethod, readThreads }`
/// (src/native/ CiliumOptions).
impl FromJs for Options {
    fn from_js(value: &JsValue) -> Result<Options, String> {
        let o = Fields::of("cilium options", value)?;
        Ok(Options {
            maps: resolve_maps(&o.string("bpffs")?, &o.strings("maps")?)?,
            layout: o.parse("layout", LayoutChoice::parse)?,
            clock: o.parse("clockSource", ClockSource::parse)?,
            startup: o.parse("startup", Startup::parse)?,
            exclude: o.parse_each("excludeCidrs", Cidr::parse)?,
            method: o.parse("readMethod", ReadMethod::parse)?,
            threads: o.integer("readThreads", 0, 64)? as usize,
        })
    }
}

js_object! {
    /// What the last read of one map found.
    #[derive(Clone, Debug, Default)]
    pub struct MapStatus {
        pub path: String => "path",
        pub present: bool => "present",
        /// Why it is absent (missing maps are tolerated while at least one map is there).
        pub missing: Option<String> => "missing",
        pub map_type: u32 => "type",
        pub key_size: u32 => "keySize",
        pub value_size: u32 => "valueSize",
        pub max_entries: u32 => "maxEntries",
        pub entries: usize => "entries",
        pub method: Option<Used> => "method",
        /// Threads (bucket ranges) of the last batch read; 1 key by key, 0 before the first read.
        pub threads: usize => "threads",
    }
}

impl MapStatus {
    fn missing(spec: &MapSpec, why: String) -> MapStatus {
        MapStatus { path: spec.path.clone(), missing: Some(why), key_size: spec.key_size, value_size: VALUE_BYTES as u32, ..MapStatus::default() }
    }

    fn present(spec: &MapSpec, info: &super::sys::MapInfo) -> MapStatus {
        MapStatus { path: spec.path.clone(), present: true, map_type: info.map_type, key_size: spec.key_size, value_size: VALUE_BYTES as u32, max_entries: info.max_entries, ..MapStatus::default() }
    }
}

js_object! {
    /// Per-tick counts beyond the batch header (for status and metrics).
    #[derive(Clone, Debug, Default)]
    pub struct TickCounts {
        pub entries: u64 => "entries",
        pub service: u64 => "service",
        pub related: u64 => "related",
        pub in_twins: u64 => "inTwins",
        pub expired: u64 => "expired",
        pub no_protocol: u64 => "noProtocol",
        pub batch_grows: u64 => "batchGrows",
        pub vip_matched: u64 => "vipMatched",
        /// Flow entries (not SERVICE, not RELATED) with any non-zero counter word: 0 under v1.16
        /// without `--bpf-conntrack-accounting`.
        pub with_counters: u64 => "withCounters",
    }
}

js_object! {
    /// Entries that showed one layout or the other while `layout: auto` was undecided.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct LayoutEvidence {
        pub v115: u64 => "v1.15",
        pub v116: u64 => "v1.16",
    }
}

/// Where the layout in use came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutDecidedBy {
    Config,
    Observed,
    Undecided,
}

impl ToJs for LayoutDecidedBy {
    fn to_js(&self) -> JsValue {
        JsValue::String(
            match self {
                LayoutDecidedBy::Config => "config",
                LayoutDecidedBy::Observed => "observed",
                LayoutDecidedBy::Undecided => "undecided",
            }
            .into(),
        )
    }
}

js_object! {
    /// The maps, the layout decision and the last tick (src/native/ CiliumStatus).
    #[derive(Clone, Debug)]
    pub struct CiliumStatus {
        pub maps: Vec<MapStatus> => "maps",
        pub layout: Option<Layout> => "layout",
        pub layout_decided_by: LayoutDecidedBy => "layoutDecidedBy",
        pub evidence: LayoutEvidence => "evidence",
        pub tracked: usize => "tracked",
        pub last: TickCounts => "last",
    }
}

/// A VIP (service address and port).
type Vip = ([u8; 16], u16);
/// CT key bytes with the IN bit cleared (`ctmap::twin_key`): one flow's OUT and IN entries.
type TwinKey = [u8; KEY_V6_BYTES];

/// What pass 1 finds for passes 2 and 3.
#[derive(Default)]
struct TickIndex {
    /// The VIP each service connection was balanced from, by its SERVICE entry.
    vips: FxHashMap<ServiceKey, Vip>,
    /// IN entries, set aside: true once an OUT entry of the same flow was seen (pass 2).
    ins: FxHashMap<TwinKey, bool>,
}

/// The VIP an OUT entry was first seen with, kept while the entry lives (see `VipMemory::vip`).
#[derive(Default)]
struct VipMemory {
    /// OUT entry → (VIP, tick last seen).
    by_entry: FxHashMap<TwinKey, (Vip, u32)>,
    tick: u32,
}

impl VipMemory {
    fn begin_tick(&mut self) {
        self.tick = self.tick.wrapping_add(1);
    }

    /// The VIP of OUT entry `key`: the one its SERVICE entry gives now (`found`), remembered;
    /// else the one remembered. A connection keeps the VIP it was first seen with while its
    /// OUT entry lives, even if its SERVICE entry is evicted or collected first: its identity
    /// in the tracker (the original tuple) must not change.
    #[inline]
    fn vip(&mut self, key: &[u8], found: Option<Vip>) -> Option<Vip> {
        let tick = self.tick;
        match found {
            Some(v) => {
                self.by_entry.insert(ctmap::twin_key(key), (v, tick));
                Some(v)
            }
            None => self.by_entry.get_mut(&ctmap::twin_key(key)).map(|e| {
                e.1 = tick;
                e.0
            }),
        }
    }

    /// Forgets the VIPs of OUT entries not seen this tick.
    fn forget_unseen(&mut self) {
        if !self.by_entry.is_empty() {
            let tick = self.tick;
            self.by_entry.retain(|_, e| e.1 == tick);
        }
    }
}

pub struct CiliumSource {
    opts: Options,
    tracker: Tracker,
    snaps: Vec<Snapshot>,
    maps: Vec<MapStatus>,
    layout: Option<Layout>,
    evidence: LayoutEvidence,
    method: ReadMethod,
    last: TickCounts,
    vip_memory: VipMemory,
}

impl CiliumSource {
    /// Reads every map into its snapshot; returns (restarts, capped): the walks restarted, and
    /// whether one stopped at its cap (the read is incomplete).
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
                    self.maps[i] = MapStatus { entries: snap.count, method: Some(used), threads: snap.threads.max(1), ..MapStatus::present(spec, &m.info) };
                }
                Err(MapError::Missing(why)) => {
                    missing.push(why.clone());
                    self.maps[i] = MapStatus::missing(spec, why);
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
        let mut seen = LayoutEvidence::default();
        for (k, v) in self.entries() {
            let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
            match ctmap::evidence(&key, &val) {
                Evidence::V115 => seen.v115 += 1,
                Evidence::V116 => seen.v116 += 1,
                Evidence::None => {}
            }
        }
        self.evidence = seen;
        // A plausible rx pair is the stronger sign: v1.16+ never writes those words.
        if seen.v115 > 0 {
            self.layout = Some(Layout::V115);
        } else if seen.v116 > 0 {
            self.layout = Some(Layout::V116);
        }
    }

    /// The batch of a tick whose layout is still undecided: a header, no records. The tracker
    /// is not fed (its first fed tick will be the baseline, as at start-up).
    fn undecided_batch(&self, mut header: TickHeader, started: Instant) -> Vec<u8> {
        header.read_ns = started.elapsed().as_nanos() as u64;
        header.tracked = self.tracker.tracked() as u64;
        records::new_batch(0, &header)
    }
}

/// The key bytes' nexthdr (second to last) and flags (last): the passes filter on these
/// before decoding anything.
#[inline]
fn nexthdr_and_flags(key: &[u8]) -> (u8, u8) {
    let ks = key.len();
    (key[ks - 2], key[ks - 1])
}

/// Pass 1: SERVICE entries → the VIP table; IN entries set aside; the tick's counts.
fn index_entries(snaps: &[Snapshot], now: u32, counts: &mut TickCounts) -> TickIndex {
    let mut index = TickIndex::default();
    for (k, v) in snaps.iter().flat_map(|snap| snap.iter()) {
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
            index.vips.insert(sk, (vip, vip_port));
        } else if key.is_related() {
            counts.related += 1;
        } else {
            counts.with_counters += u64::from(val.words.iter().any(|&w| w != 0));
            if key.is_in() {
                index.ins.insert(ctmap::twin_key(k), false);
            }
        }
    }
    index
}

/// Pass 2: OUT entries → the tracker, with the VIP of their SERVICE entry as the original
/// destination. Each marks the IN entry of the same flow as its twin.
fn feed_out_entries(snaps: &[Snapshot], layout: Layout, index: &mut TickIndex, memory: &mut VipMemory, tracker: &mut Tracker, counts: &mut TickCounts) {
    for snap in snaps {
        for (k, v) in snap.iter() {
            let (nexthdr, flags) = nexthdr_and_flags(k);
            if nexthdr == 0 || flags & (ctmap::TUPLE_F_SERVICE | ctmap::TUPLE_F_RELATED | ctmap::TUPLE_F_IN) != 0 {
                continue;
            }
            let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
            if !index.ins.is_empty() {
                if let Some(twin) = index.ins.get_mut(&ctmap::twin_key(k)) {
                    *twin = true;
                }
            }
            let vip = if val.rev_nat_index == 0 {
                None
            } else {
                let sk = ServiceKey { family: key.family, protocol: key.nexthdr, client: key.daddr, client_port: key.sport, rev_nat_index: val.rev_nat_index };
                let found = if index.vips.is_empty() { None } else { index.vips.get(&sk).copied() };
                memory.vip(k, found)
            };
            counts.vip_matched += u64::from(vip.is_some());
            tracker.observe(&ctmap::to_entry(&key, &val, layout, vip));
        }
    }
}

/// Pass 3: IN entries whose flow has no OUT entry on this node (the remote side opened it).
fn feed_lone_in_entries(snaps: &[Snapshot], layout: Layout, index: &TickIndex, tracker: &mut Tracker, counts: &mut TickCounts) {
    if index.ins.is_empty() {
        return;
    }
    for snap in snaps {
        for (k, v) in snap.iter() {
            let (nexthdr, flags) = nexthdr_and_flags(k);
            if nexthdr == 0 || flags & (ctmap::TUPLE_F_SERVICE | ctmap::TUPLE_F_RELATED) != 0 || flags & ctmap::TUPLE_F_IN == 0 {
                continue;
            }
            if index.ins.get(&ctmap::twin_key(k)) == Some(&true) {
                counts.in_twins += 1;
                continue;
            }
            let (Some(key), Some(val)) = (CtKey::decode(k), CtValue::decode(v)) else { continue };
            tracker.observe(&ctmap::to_entry(&key, &val, layout, None));
        }
    }
}

impl Handle for CiliumSource {
    const NAME: &'static str = "cilium";
    type Options = Options;
    type Status = CiliumStatus;

    /// Opens every map once to check it: a map of the wrong shape, or no map at all, is an error.
    fn open(opts: Options) -> Result<CiliumSource, String> {
        let mut missing = Vec::new();
        let mut maps = Vec::new();
        for spec in &opts.maps {
            match map::open_checked(&spec.path, spec.key_size, VALUE_BYTES as u32) {
                Ok(m) => maps.push(MapStatus::present(spec, &m.info)),
                Err(MapError::Missing(why)) => {
                    missing.push(why.clone());
                    maps.push(MapStatus::missing(spec, why));
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
        Ok(CiliumSource { opts, tracker, snaps, maps, layout, evidence: LayoutEvidence::default(), method, last: TickCounts::default(), vip_memory: VipMemory::default() })
    }

    fn status(&self) -> Result<CiliumStatus, String> {
        let layout_decided_by = match (self.opts.layout, self.layout) {
            (LayoutChoice::Fixed(_), _) => LayoutDecidedBy::Config,
            (LayoutChoice::Auto, Some(_)) => LayoutDecidedBy::Observed,
            (LayoutChoice::Auto, None) => LayoutDecidedBy::Undecided,
        };
        Ok(CiliumStatus {
            maps: self.maps.clone(),
            layout: self.layout,
            layout_decided_by,
            evidence: self.evidence,
            tracked: self.tracker.tracked(),
            last: self.last.clone(),
        })
    }
}

impl Source for CiliumSource {
    /// One interval: read every map, decide the layout, feed the tracker in three passes
    /// (module doc), return the packed batch.
    fn tick(&mut self) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let mut counts = TickCounts::default();
        let (restarts, capped) = self.read_all(&mut counts)?;
        let now = self.opts.clock.now()?;
        self.decide_layout();
        let mut header = TickHeader { source: SourceKind::Cilium, entries: counts.entries, restarts, incomplete: capped, ..TickHeader::default() };
        let out = match self.layout {
            None => self.undecided_batch(header, started),
            Some(layout) => {
                let mut index = index_entries(&self.snaps, now, &mut counts);
                self.tracker.begin_tick();
                self.vip_memory.begin_tick();
                feed_out_entries(&self.snaps, layout, &mut index, &mut self.vip_memory, &mut self.tracker, &mut counts);
                self.vip_memory.forget_unseen();
                feed_lone_in_entries(&self.snaps, layout, &index, &mut self.tracker, &mut counts);
                header.skipped = counts.no_protocol.min(u64::from(u32::MAX)) as u32;
                header.read_ns = started.elapsed().as_nanos() as u64;
                header.ct_layout = layout.code();
                self.tracker.finish_tick(header)
            }
        };
        self.last = counts;
        Ok(out)
    }
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
