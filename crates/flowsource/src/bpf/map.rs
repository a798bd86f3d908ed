//! Opening one pinned map by path (read-only, checked against the expected shape) and reading
//! every entry into packed key / value buffers, by `BPF_MAP_LOOKUP_BATCH` or, on kernels
//! without batch operations for the map type, `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM`.
//! Batch reads of a large map split its buckets between threads (`read_batch`): the read is
//! bound by the kernel touching every scattered hash element, and more threads are the one way
//! to shorten it (docs/benchmarks.md, "Cilium receiver").

use super::sys::{self, Batch, MapInfo};
use crate::hash::FxHashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Smallest batch size (Cilium's own pressure counter reads 4,096 entries per call); the size
/// is `batch_chunk`, and grown (doubled) on ENOSPC.
pub const INITIAL_BATCH: u32 = 4096;
const MAX_BATCH: u32 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMethod {
    /// Batch lookups, falling back to key-by-key once if the kernel refuses them.
    Auto,
    Batch,
    KeyByKey,
}

impl ReadMethod {
    pub fn parse(s: &str) -> Result<ReadMethod, String> {
        match s {
            "auto" => Ok(ReadMethod::Auto),
            "batch" => Ok(ReadMethod::Batch),
            "key_by_key" => Ok(ReadMethod::KeyByKey),
            _ => Err(format!("read_method must be auto, batch or key_by_key, not {s:?}")),
        }
    }
}

/// Why a map could not be used. `Missing` is the one a reader may tolerate for some maps.
#[derive(Debug)]
pub enum MapError {
    Missing(String),
    Fatal(String),
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::Missing(s) | MapError::Fatal(s) => f.write_str(s),
        }
    }
}

/// The message for an errno from a bpf(2) call on `path`, naming the privilege when it is one.
/// - EPERM: the bpf(2) syscall itself was refused: kernels before 6.5 with
///   `kernel.unprivileged_bpf_disabled` set want CAP_BPF (≥ 5.8) or CAP_SYS_ADMIN for every command.
/// - EACCES: the pinned file's permissions: Cilium pins maps root-owned, mode 0600.
pub fn describe(path: &str, what: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(sys::EPERM) => format!(
            "{path}: {what}: operation not permitted ({e}): bpf(2) needs CAP_BPF (kernel ≥ 5.8) or CAP_SYS_ADMIN when kernel.unprivileged_bpf_disabled is set"
        ),
        Some(sys::EACCES) => format!(
            "{path}: {what}: permission denied ({e}): Cilium pins its maps root-owned with mode 0600: run podflow as uid 0, or give it CAP_DAC_READ_SEARCH (or CAP_DAC_OVERRIDE); the bpffs must be mounted readable"
        ),
        _ => format!("{path}: {what}: {e}"),
    }
}

pub struct PinnedMap {
    pub path: String,
    pub fd: OwnedFd,
    pub info: MapInfo,
}

/// Opens `path` read-only and checks the type (HASH or LRU_HASH) and the key/value sizes.
pub fn open_checked(path: &str, key_size: u32, value_size: u32) -> Result<PinnedMap, MapError> {
    let fd = sys::obj_get(path, false).map_err(|e| match e.raw_os_error() {
        Some(sys::ENOENT) => MapError::Missing(format!("{path}: no such pinned map (is Cilium running, and is `bpffs` its BPF root?)")),
        _ => MapError::Fatal(describe(path, "BPF_OBJ_GET", &e)),
    })?;
    let info = sys::map_info(fd.as_raw_fd()).map_err(|e| MapError::Fatal(describe(path, "BPF_OBJ_GET_INFO_BY_FD", &e)))?;
    if info.map_type != sys::BPF_MAP_TYPE_LRU_HASH && info.map_type != sys::BPF_MAP_TYPE_HASH {
        return Err(MapError::Fatal(format!(
            "{path}: map type {} is not a conntrack map (expected LRU_HASH (9) or HASH (1))",
            info.map_type
        )));
    }
    if info.key_size != key_size || info.value_size != value_size {
        return Err(MapError::Fatal(format!(
            "{path}: key {} B / value {} B, but a Cilium CT map has key {key_size} B / value {value_size} B (wrong map, or a Cilium layout podflow does not know)",
            info.key_size, info.value_size
        )));
    }
    Ok(PinnedMap { path: path.to_string(), fd, info })
}

/// Entries read into one pair of packed buffers (keys `key_size`, values `value_size` apart):
/// one per reader thread. Buffers are kept across reads: after the first tick a read neither
/// allocates nor zeroes anything.
#[derive(Default)]
pub struct Part {
    keys: Vec<u8>,
    values: Vec<u8>,
    count: usize,
}

impl Part {
    /// Room for `entries` entries (grown, zero-filled, only when a read needs more than ever).
    fn ensure(&mut self, entries: usize, ks: usize, vs: usize) {
        if self.keys.len() < entries * ks {
            self.keys.resize(entries * ks, 0);
        }
        if self.values.len() < entries * vs {
            self.values.resize(entries * vs, 0);
        }
    }
}

/// Reusable buffers holding one full read of a map, in one part per reader thread.
#[derive(Default)]
pub struct Snapshot {
    parts: Vec<Part>,
    key_size: usize,
    value_size: usize,
    /// Entries held, over all parts.
    pub count: usize,
    /// Times a batch was grown after ENOSPC.
    pub grows: u32,
    /// Key-by-key: times GET_NEXT_KEY started over (its key vanished) and the walk was cut.
    pub restarts: u32,
    /// Key-by-key walk stopped at the 4 × max_entries cap (the snapshot may be incomplete).
    pub capped: bool,
    /// Batch: reader threads (bucket ranges) of the last read.
    pub threads: usize,
    /// Batch with threads: entries read twice where one range's last call ran into the next
    /// range, dropped (see `read_batch`).
    pub seam_duplicates: u32,
}

impl Snapshot {
    /// Empties the snapshot (the buffers are kept).
    pub fn clear(&mut self) {
        for p in &mut self.parts {
            p.count = 0;
        }
        self.count = 0;
        self.grows = 0;
        self.restarts = 0;
        self.capped = false;
        self.threads = 0;
        self.seam_duplicates = 0;
    }

    /// Every entry as (key, value) byte slices, straight out of the read buffers.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (ks, vs) = (self.key_size.max(1), self.value_size.max(1));
        self.parts.iter().flat_map(move |p| p.keys[..p.count * ks].chunks_exact(ks).zip(p.values[..p.count * vs].chunks_exact(vs)))
    }

    fn prepare(&mut self, parts: usize, ks: usize, vs: usize) {
        self.clear();
        if self.parts.len() < parts {
            self.parts.resize_with(parts, Part::default);
        }
        self.key_size = ks;
        self.value_size = vs;
    }
}

/// The method a read used (status: `batch` or `key_by_key`, as `read_method` spells them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Used {
    Batch,
    KeyByKey,
}

impl crate::js::ToJs for Used {
    fn to_js(&self) -> crate::js::JsValue {
        crate::js::JsValue::String(match self { Used::Batch => "batch", Used::KeyByKey => "key_by_key" }.into())
    }
}

/// How many threads read one map: `setting` 0 is auto (the CPUs there are, at most
/// `AUTO_MAX_THREADS`, and one per `AUTO_MIN_BUCKETS` buckets so small maps stay on one thread);
/// an explicit setting is used as asked for, but never more than one per 1,024 buckets.
pub fn reader_threads(setting: usize, max_entries: u32) -> usize {
    let buckets = buckets_of(max_entries) as usize;
    if setting == 0 {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.min(AUTO_MAX_THREADS).min(buckets / AUTO_MIN_BUCKETS).max(1)
    } else {
        setting.min(buckets / 1024).max(1)
    }
}

/// `read_threads: auto` uses at most this many threads per map…
pub const AUTO_MAX_THREADS: usize = 4;
/// …and one per this many buckets (a 524,288-entry map: up to 16; below 65,536 buckets: one).
pub const AUTO_MIN_BUCKETS: usize = 32_768;

/// A hash map has roundup_pow_of_two(max_entries) buckets (kernel/bpf/hashtab.c,
/// htab_map_alloc); the batch token of a hash map is the index of the next bucket to read.
fn buckets_of(max_entries: u32) -> u32 {
    max_entries.max(1).checked_next_power_of_two().unwrap_or(1 << 31)
}

/// Entries asked for per BPF_MAP_LOOKUP_BATCH call, from the map's size: 1/16 of max_entries
/// (past ~5 % of the entries the per-call cost no longer shows), between 4,096 and 65,536.
pub fn batch_chunk(max_entries: u32) -> u32 {
    (max_entries / 16).clamp(INITIAL_BATCH, 65_536)
}

/// One thread's share of the buckets, and the entries asked for per call.
#[derive(Clone, Copy)]
struct Range {
    /// First bucket; None: from the first, as the kernel's NULL in_batch.
    start: Option<u32>,
    /// Stop once the kernel's token reaches this bucket (u32::MAX: the map's end).
    limit: u32,
    chunk: u32,
    /// Entries asked for by the first call.
    first_count: u32,
}

/// What one range read did: the calls it made (their in-token and the index of their first
/// entry), where it stopped, and where its last call began.
struct RangeLog {
    calls: Vec<(u32, usize)>,
    end_token: u32,
    grows: u32,
}

/// Reads buckets from `start` (None: from the first, as the kernel's NULL in_batch) until the
/// kernel's token reaches `limit` (or the map ends) into `part`. Near the limit the calls are
/// sized from the entries-per-bucket seen so far, so the last call overshoots the limit by a few
/// entries at most (the kernel has no end bucket: it fills `count` whole buckets).
fn read_range(fd: i32, part: &mut Part, ks: usize, vs: usize, range: Range) -> io::Result<RangeLog> {
    let Range { start, limit, chunk, first_count } = range;
    let mut log = RangeLog { calls: Vec::new(), end_token: u32::MAX, grows: 0 };
    let mut in_token = [0u8; 8];
    let mut out_token = [0u8; 8];
    let first_bucket = start.unwrap_or(0);
    let mut token = first_bucket;
    if let Some(s) = start {
        in_token[..4].copy_from_slice(&s.to_ne_bytes());
    }
    let mut first = start.is_none();
    // The smallest count the biggest bucket seen needs (doubled on ENOSPC, kept from then on).
    let mut floor = 1u32;
    loop {
        let mut want = if log.calls.is_empty() {
            first_count
        } else if limit != u32::MAX {
            // Entries expected before the limit, at the density read so far.
            let seen = u64::from((token - first_bucket).max(1));
            let expected = part.count as u64 * u64::from(limit.saturating_sub(token)) / seen;
            if expected >= u64::from(chunk) { chunk } else { ((expected / 2) as u32).max(32) }
        } else {
            chunk
        };
        want = want.max(floor);
        part.ensure(part.count + want as usize, ks, vs);
        let at = part.count;
        let keys = &mut part.keys[at * ks..(at + want as usize) * ks];
        let values = &mut part.values[at * vs..(at + want as usize) * vs];
        let outcome = sys::lookup_batch(fd, if first { None } else { Some(&in_token) }, &mut out_token, keys, values, want)?;
        match outcome {
            Batch::NoSpace => {
                // Only a call's first bucket can be refused (a later one ends the call): grow.
                if want >= MAX_BATCH {
                    return Err(io::Error::other(format!("a hash bucket holds more than {MAX_BATCH} entries")));
                }
                floor = want.saturating_mul(2).min(MAX_BATCH);
                log.grows += 1;
            }
            Batch::Done(n) => {
                log.calls.push((token, at));
                part.count += n;
                log.end_token = u32::MAX;
                return Ok(log);
            }
            Batch::More(n) => {
                log.calls.push((token, at));
                part.count += n;
                in_token = out_token;
                first = false;
                token = u32::from_ne_bytes(out_token[..4].try_into().unwrap());
                log.end_token = token;
                if token >= limit {
                    return Ok(log);
                }
            }
        }
    }
}

impl PinnedMap {
    /// Reads every entry into `snap`. With `Auto`, a kernel that refuses batch lookups
    /// (EINVAL / ENOTSUPP / EOPNOTSUPP on the first call) is read key by key. `threads` is the
    /// `read_threads` setting (0 = auto, see `reader_threads`).
    pub fn read(&self, method: ReadMethod, threads: usize, snap: &mut Snapshot) -> Result<Used, String> {
        let (ks, vs) = self.sizes();
        snap.prepare(1, ks, vs);
        let threads = reader_threads(threads, self.info.max_entries);
        let chunk = batch_chunk(self.info.max_entries);
        match method {
            ReadMethod::KeyByKey => self.read_key_by_key(snap).map(|_| Used::KeyByKey),
            ReadMethod::Batch => self.read_batch(snap, threads, chunk).map_err(|e| describe(&self.path, "BPF_MAP_LOOKUP_BATCH", &e)).map(|_| Used::Batch),
            ReadMethod::Auto => match self.read_batch(snap, threads, chunk) {
                Ok(()) => Ok(Used::Batch),
                Err(e) if matches!(e.raw_os_error(), Some(sys::EINVAL) | Some(sys::ENOTSUPP) | Some(sys::EOPNOTSUPP)) && snap.count == 0 => {
                    snap.prepare(1, ks, vs);
                    self.read_key_by_key(snap).map(|_| Used::KeyByKey)
                }
                Err(e) => Err(describe(&self.path, "BPF_MAP_LOOKUP_BATCH", &e)),
            },
        }
    }

    fn sizes(&self) -> (usize, usize) {
        (self.info.key_size as usize, self.info.value_size as usize)
    }

    /// `BPF_MAP_LOOKUP_BATCH` over the whole map, the bucket range split between `threads`
    /// threads (the batch token of a hash map is a bucket index, so a read can start anywhere).
    /// The kernel copies whole buckets and has no end bucket, so a range's last call may run a
    /// little into the next range: the keys that call shares with the next range's first calls
    /// (a key lives in one bucket, so a shared key is the same entry read twice) are dropped
    /// from it. A map changing meanwhile is read as with one thread: each bucket as it was when
    /// its range reached it.
    fn read_batch(&self, snap: &mut Snapshot, threads: usize, chunk: u32) -> io::Result<()> {
        let (ks, vs) = self.sizes();
        let fd = self.fd.as_raw_fd();
        let threads = threads.max(1);
        snap.prepare(threads, ks, vs);
        snap.threads = threads;
        let buckets = u64::from(buckets_of(self.info.max_entries));
        let starts: Vec<u32> = (0..threads).map(|i| (buckets * i as u64 / threads as u64) as u32).collect();
        let limit = |i: usize| if i + 1 < threads { starts[i + 1] } else { u32::MAX };
        let parts = &mut snap.parts[..threads];
        let logs: Vec<io::Result<RangeLog>> = if threads == 1 {
            vec![read_range(fd, &mut parts[0], ks, vs, Range { start: None, limit: u32::MAX, chunk, first_count: chunk })]
        } else {
            let (head, rest) = parts.split_first_mut().expect("threads ≥ 1");
            std::thread::scope(|s| {
                // A later range starts with a small call: the seam check below reads only the
                // calls that began before the previous range's end.
                let handles: Vec<_> = rest.iter_mut().enumerate().map(|(j, part)| {
                    let i = j + 1;
                    let (start, lim) = (starts[i], limit(i));
                    s.spawn(move || read_range(fd, part, ks, vs, Range { start: Some(start), limit: lim, chunk, first_count: 256 }))
                }).collect();
                let mut logs = vec![read_range(fd, head, ks, vs, Range { start: None, limit: limit(0), chunk, first_count: chunk })];
                logs.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("a map reader thread panicked")))));
                logs
            })
        };
        let mut ok = Vec::with_capacity(threads);
        for log in logs {
            let log = log?;
            snap.grows += log.grows;
            ok.push(log);
        }
        for i in 0..threads.saturating_sub(1) {
            snap.seam_duplicates += drop_seam_duplicates(&mut snap.parts[..threads], &ok, &starts, i, ks, vs);
        }
        snap.count = snap.parts[..threads].iter().map(|p| p.count).sum();
        Ok(())
    }

    /// The method egressd (through Cilium's Go packages) uses: one GET_NEXT_KEY and one LOOKUP
    /// per entry. If the current key vanishes, GET_NEXT_KEY starts over from the first key, so
    /// the walk is capped at 4 × max_entries (as Cilium's DumpReliablyWithCallback does); the
    /// duplicates a restart produces are harmless to the tracker (a zero delta).
    fn read_key_by_key(&self, snap: &mut Snapshot) -> Result<(), String> {
        let (ks, vs) = self.sizes();
        let fd = self.fd.as_raw_fd();
        let cap = 4 * self.info.max_entries.max(1) as usize;
        let mut cur = vec![0u8; ks];
        let mut next = vec![0u8; ks];
        let mut have = false;
        let mut steps = 0usize;
        let part = &mut snap.parts[0];
        let result = loop {
            let more = match sys::get_next_key(fd, if have { Some(&cur) } else { None }, &mut next) {
                Ok(more) => more,
                Err(e) => break Err(describe(&self.path, "BPF_MAP_GET_NEXT_KEY", &e)),
            };
            if !more {
                break Ok(());
            }
            steps += 1;
            if steps > cap {
                snap.capped = true;
                break Ok(());
            }
            std::mem::swap(&mut cur, &mut next);
            have = true;
            part.ensure(part.count + 1, ks, vs);
            let at = part.count;
            match sys::lookup(fd, &cur, &mut part.values[at * vs..(at + 1) * vs]) {
                Ok(true) => {
                    part.keys[at * ks..(at + 1) * ks].copy_from_slice(&cur);
                    part.count += 1;
                }
                Ok(false) => snap.restarts += 1,
                Err(e) => break Err(describe(&self.path, "BPF_MAP_LOOKUP_ELEM", &e)),
            }
        };
        snap.count = snap.parts[0].count;
        result
    }
}

/// Range `i`'s last call may have run past `starts[i + 1]`: the entries it read there are read
/// again by the later ranges, in their calls that began before range `i` ended. Those keys are
/// dropped from range `i`'s last call (swapped out from the end of its part). Returns how many.
fn drop_seam_duplicates(parts: &mut [Part], logs: &[RangeLog], starts: &[u32], i: usize, ks: usize, vs: usize) -> u32 {
    let end = logs[i].end_token;
    if end <= starts[i + 1] {
        return 0;
    }
    let Some(&(_, last_from)) = logs[i].calls.last() else { return 0 };
    let (head, later) = parts.split_at_mut(i + 1);
    let part = &mut head[i];
    let mut last_call: FxHashMap<&[u8], ()> = FxHashMap::default();
    for k in part.keys[last_from * ks..part.count * ks].chunks_exact(ks) {
        last_call.insert(k, ());
    }
    let mut dup: FxHashMap<Vec<u8>, ()> = FxHashMap::default();
    for (j, other) in later.iter().enumerate() {
        let j = j + i + 1;
        if starts[j] >= end {
            break;
        }
        let calls = &logs[j].calls;
        for (c, &(from_token, from_entry)) in calls.iter().enumerate() {
            if from_token >= end {
                break;
            }
            let to_entry = calls.get(c + 1).map_or(other.count, |&(_, e)| e);
            for k in other.keys[from_entry * ks..to_entry * ks].chunks_exact(ks) {
                if last_call.contains_key(k) {
                    dup.insert(k.to_vec(), ());
                }
            }
        }
    }
    drop(last_call);
    if dup.is_empty() {
        return 0;
    }
    let mut dropped = 0;
    let mut at = last_from;
    while at < part.count {
        if dup.contains_key(&part.keys[at * ks..(at + 1) * ks]) {
            let last = part.count - 1;
            part.keys.copy_within(last * ks..(last + 1) * ks, at * ks);
            part.values.copy_within(last * vs..(last + 1) * vs, at * vs);
            part.count -= 1;
            dropped += 1;
        } else {
            at += 1;
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_name_the_capabilities() {
        let e = io::Error::from_raw_os_error(sys::EPERM);
        let m = describe("/sys/fs/bpf/tc/globals/cilium_ct4_global", "BPF_OBJ_GET", &e);
        assert!(m.starts_with("/sys/fs/bpf/tc/globals/cilium_ct4_global: BPF_OBJ_GET: operation not permitted"), "{m}");
        assert!(m.contains("CAP_BPF (kernel ≥ 5.8) or CAP_SYS_ADMIN"), "{m}");
        let m = describe("/p", "BPF_OBJ_GET", &io::Error::from_raw_os_error(sys::EACCES));
        assert!(m.contains("permission denied") && m.contains("uid 0") && m.contains("CAP_DAC_READ_SEARCH"), "{m}");
        let m = describe("/x", "BPF_MAP_LOOKUP_BATCH", &io::Error::from_raw_os_error(sys::EINVAL));
        assert!(m.starts_with("/x: BPF_MAP_LOOKUP_BATCH: Invalid argument"), "{m}");
        assert!(ReadMethod::parse("fast").unwrap_err().contains("auto, batch or key_by_key"));
    }

    /// A real (unpinned) LRU map; skipped when bpf(2) is not allowed (unprivileged `cargo test`).
    fn map_with_entries(max_entries: u32, count: u32) -> Option<PinnedMap> {
        let fd = match sys::map_create(sys::BPF_MAP_TYPE_LRU_HASH, 14, 56, max_entries, "podflow_test") {
            Ok(fd) => fd,
            Err(e) => {
                eprintln!("SKIPPED: bpf(BPF_MAP_CREATE): {e}");
                return None;
            }
        };
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for i in 0..count {
            let mut k = [0u8; 14];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k[12] = 6;
            keys.extend_from_slice(&k);
            let mut v = [0u8; 56];
            v[16..24].copy_from_slice(&u64::from(i).to_le_bytes());
            values.extend_from_slice(&v);
        }
        assert_eq!(sys::update_batch(sys::raw(&fd), &keys, &values, count).unwrap(), count);
        let info = sys::map_info(sys::raw(&fd)).unwrap();
        assert_eq!((info.map_type, info.key_size, info.value_size, info.max_entries), (sys::BPF_MAP_TYPE_LRU_HASH, 14, 56, max_entries));
        assert_eq!(info.name, "podflow_test");
        Some(PinnedMap { path: "(test map)".into(), fd, info })
    }

    fn sorted_entries(snap: &Snapshot) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v: Vec<_> = snap.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        assert_eq!(v.len(), snap.count);
        v.sort();
        v
    }

    #[test]
    fn enospc_grows_the_batch_and_every_method_reads_the_same() {
        // 1,000 entries in 1,024 buckets: many buckets hold 2+ entries, so a batch of 1 hits
        // ENOSPC and must grow.
        let Some(m) = map_with_entries(1024, 1000) else { return };
        let mut small = Snapshot::default();
        m.read_batch(&mut small, 1, 1).unwrap();
        assert_eq!(small.count, 1000);
        assert!(small.grows >= 1, "no ENOSPC seen");
        let mut batch = Snapshot::default();
        assert_eq!(m.read(ReadMethod::Batch, 0, &mut batch).unwrap(), Used::Batch);
        assert_eq!((batch.grows, batch.threads), (0, 1));
        let mut keyed = Snapshot::default();
        assert_eq!(m.read(ReadMethod::KeyByKey, 0, &mut keyed).unwrap(), Used::KeyByKey);
        assert_eq!(sorted_entries(&small), sorted_entries(&batch));
        assert_eq!(sorted_entries(&keyed), sorted_entries(&batch));
        // Values come through byte-exact: tx_packets = the key's number.
        let e = sorted_entries(&batch);
        assert_eq!(u64::from_le_bytes(e[999].1[16..24].try_into().unwrap()), 999);
        // Reusing the snapshot: a second read replaces, not appends.
        m.read(ReadMethod::Batch, 0, &mut batch).unwrap();
        assert_eq!(batch.count, 1000);
    }

    #[test]
    fn thread_counts_and_batch_sizes_follow_the_map_size() {
        assert_eq!(reader_threads(0, 1000), 1, "small maps stay on one thread");
        assert_eq!(reader_threads(0, 32_768), 1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(reader_threads(0, 65_535), cpus.min(2), "65,536 buckets: two threads at most");
        assert_eq!(reader_threads(0, 524_288), cpus.min(AUTO_MAX_THREADS));
        assert_eq!(reader_threads(3, 524_288), 3);
        assert_eq!(reader_threads(8, 2048), 2, "never more than one thread per 1,024 buckets");
        assert_eq!(reader_threads(4, 100), 1);
        assert_eq!(batch_chunk(524_288), 32_768);
        assert_eq!(batch_chunk(1000), INITIAL_BATCH);
        assert_eq!(batch_chunk(16_777_216), 65_536);
        assert_eq!(buckets_of(524_288), 524_288);
        assert_eq!(buckets_of(500_000), 524_288);
        assert_eq!(buckets_of(u32::MAX), 1 << 31);
    }

    #[test]
    fn bucket_ranges_read_every_entry_once() {
        let Some(m) = map_with_entries(65_536, 60_000) else { return };
        let mut one = Snapshot::default();
        m.read_batch(&mut one, 1, 4096).unwrap();
        assert_eq!(one.count, 60_000);
        let want = sorted_entries(&one);
        // Chunks from tiny (many seams crossed by a few entries) to larger than the map (the
        // first range's first call reads the whole map: every later range is a duplicate).
        for (threads, chunk) in [(2, 4096), (3, 1), (4, 512), (7, 4096), (4, 65_536), (16, 100_000)] {
            let mut snap = Snapshot::default();
            m.read_batch(&mut snap, threads, chunk).unwrap();
            assert_eq!(snap.threads, threads);
            assert_eq!(snap.count, 60_000, "threads {threads} chunk {chunk}: {} seam duplicates", snap.seam_duplicates);
            assert_eq!(sorted_entries(&snap), want, "threads {threads} chunk {chunk}");
            if chunk >= 65_536 {
                assert!(snap.seam_duplicates > 40_000, "the whole-map first call must overlap every later range: {}", snap.seam_duplicates);
            }
            // Reused buffers: a second read gives the same.
            m.read_batch(&mut snap, threads, chunk).unwrap();
            assert_eq!(sorted_entries(&snap), want);
        }
    }

    #[test]
    fn bucket_ranges_under_concurrent_updates_hold_no_key_twice() {
        // Entries 0..40,000; a writer deletes and re-creates every 10th one and adds and removes
        // others (40,000..) while 4 threads read: no key may come out twice, and every entry
        // the writer never touches must come out once.
        let Some(m) = map_with_entries(65_536, 40_000) else { return };
        let fd = m.fd.as_raw_fd();
        let stop = std::sync::atomic::AtomicBool::new(false);
        // Stops the writer however the reader side ends (a failed assertion included).
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let key = |i: u32| {
            let mut k = [0u8; 14];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k[12] = 6;
            k
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                let v = [7u8; 56];
                let mut round = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for i in (0..40_000).step_by(10) {
                        sys::delete(fd, &key(i)).unwrap();
                        sys::update(fd, &key(i), &v).unwrap();
                    }
                    for i in 40_000 + (round % 2) * 5_000..45_000 + (round % 2) * 5_000 {
                        sys::update(fd, &key(i), &v).unwrap();
                    }
                    for i in 40_000 + ((round + 1) % 2) * 5_000..45_000 + ((round + 1) % 2) * 5_000 {
                        sys::delete(fd, &key(i)).unwrap();
                    }
                    round += 1;
                }
            });
            let _stop = StopOnDrop(&stop);
            for _ in 0..20 {
                let mut snap = Snapshot::default();
                m.read_batch(&mut snap, 4, 512).unwrap();
                let mut seen = std::collections::HashMap::new();
                for (k, _) in snap.iter() {
                    *seen.entry(k.to_vec()).or_insert(0u32) += 1;
                }
                assert!(seen.values().all(|&n| n == 1), "a key read twice");
                for i in (0..40_000).filter(|i| i % 10 != 0) {
                    assert_eq!(seen.get(&key(i).to_vec()), Some(&1), "untouched entry {i} missing");
                }
            }
        });
    }

    #[test]
    fn empty_map_reads_zero_entries() {
        let Some(m) = map_with_entries(64, 0) else { return };
        let mut snap = Snapshot::default();
        m.read(ReadMethod::Auto, 0, &mut snap).unwrap();
        assert_eq!(snap.count, 0);
        m.read(ReadMethod::KeyByKey, 0, &mut snap).unwrap();
        assert_eq!(snap.count, 0);
        m.read_batch(&mut snap, 4, 16).unwrap();
        assert_eq!((snap.count, snap.iter().count()), (0, 0));
    }
}
