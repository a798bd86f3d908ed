//! Opening one pinned map by path (read-only, checked against the expected shape) and reading
//! every entry into packed key / value buffers, by `BPF_MAP_LOOKUP_BATCH` or, on kernels
//! without batch operations for the map type, `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM`.

use super::sys::{self, Batch, MapInfo};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// First batch size, as Cilium's own reader uses; grown (doubled) on ENOSPC.
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

/// Reusable buffers holding one full read of a map.
#[derive(Default)]
pub struct Snapshot {
    pub keys: Vec<u8>,
    pub values: Vec<u8>,
    pub count: usize,
    /// Times a batch was grown after ENOSPC.
    pub grows: u32,
    /// Key-by-key: times GET_NEXT_KEY started over (its key vanished) and the walk was cut.
    pub restarts: u32,
    /// Key-by-key walk stopped at the 4 × max_entries cap (the snapshot may be incomplete).
    pub capped: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Used {
    Batch,
    KeyByKey,
}

impl PinnedMap {
    /// Reads every entry into `snap`. With `Auto`, a kernel that refuses batch lookups
    /// (EINVAL / ENOTSUPP / EOPNOTSUPP on the first call) is read key by key.
    pub fn read(&self, method: ReadMethod, snap: &mut Snapshot) -> Result<Used, String> {
        snap.count = 0;
        snap.grows = 0;
        snap.restarts = 0;
        snap.capped = false;
        match method {
            ReadMethod::KeyByKey => self.read_key_by_key(snap).map(|_| Used::KeyByKey),
            ReadMethod::Batch => self.read_batch(snap).map_err(|e| describe(&self.path, "BPF_MAP_LOOKUP_BATCH", &e)).map(|_| Used::Batch),
            ReadMethod::Auto => match self.read_batch(snap) {
                Ok(()) => Ok(Used::Batch),
                Err(e) if matches!(e.raw_os_error(), Some(sys::EINVAL) | Some(sys::ENOTSUPP) | Some(sys::EOPNOTSUPP)) && snap.count == 0 => {
                    self.read_key_by_key(snap).map(|_| Used::KeyByKey)
                }
                Err(e) => Err(describe(&self.path, "BPF_MAP_LOOKUP_BATCH", &e)),
            },
        }
    }

    fn sizes(&self) -> (usize, usize) {
        (self.info.key_size as usize, self.info.value_size as usize)
    }

    fn ensure(snap: &mut Snapshot, entries: usize, ks: usize, vs: usize) {
        if snap.keys.len() < entries * ks {
            snap.keys.resize(entries * ks, 0);
        }
        if snap.values.len() < entries * vs {
            snap.values.resize(entries * vs, 0);
        }
    }

    fn read_batch(&self, snap: &mut Snapshot) -> io::Result<()> {
        self.read_batch_from(snap, INITIAL_BATCH)
    }

    fn read_batch_from(&self, snap: &mut Snapshot, initial_chunk: u32) -> io::Result<()> {
        let (ks, vs) = self.sizes();
        let fd = self.fd.as_raw_fd();
        let mut chunk = initial_chunk;
        let mut in_token = [0u8; 8];
        let mut out_token = [0u8; 8];
        let mut first = true;
        loop {
            Self::ensure(snap, snap.count + chunk as usize, ks, vs);
            let at = snap.count;
            let keys = &mut snap.keys[at * ks..(at + chunk as usize) * ks];
            let values = &mut snap.values[at * vs..(at + chunk as usize) * vs];
            let token = if first { None } else { Some(&in_token) };
            match sys::lookup_batch(fd, token, &mut out_token, keys, values, chunk)? {
                Batch::More(n) => {
                    snap.count += n;
                    in_token = out_token;
                    first = false;
                }
                Batch::Done(n) => {
                    snap.count += n;
                    return Ok(());
                }
                Batch::NoSpace => {
                    if chunk >= MAX_BATCH {
                        return Err(io::Error::other(format!("a hash bucket holds more than {MAX_BATCH} entries")));
                    }
                    chunk *= 2;
                    snap.grows += 1;
                }
            }
        }
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
        loop {
            let more = sys::get_next_key(fd, if have { Some(&cur) } else { None }, &mut next).map_err(|e| describe(&self.path, "BPF_MAP_GET_NEXT_KEY", &e))?;
            if !more {
                return Ok(());
            }
            steps += 1;
            if steps > cap {
                snap.capped = true;
                return Ok(());
            }
            std::mem::swap(&mut cur, &mut next);
            have = true;
            Self::ensure(snap, snap.count + 1, ks, vs);
            let at = snap.count;
            let found = sys::lookup(fd, &cur, &mut snap.values[at * vs..(at + 1) * vs]).map_err(|e| describe(&self.path, "BPF_MAP_LOOKUP_ELEM", &e))?;
            if found {
                snap.keys[at * ks..(at + 1) * ks].copy_from_slice(&cur);
                snap.count += 1;
            } else {
                snap.restarts += 1;
            }
        }
    }
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
        let mut v: Vec<_> = (0..snap.count).map(|i| (snap.keys[i * 14..(i + 1) * 14].to_vec(), snap.values[i * 56..(i + 1) * 56].to_vec())).collect();
        v.sort();
        v
    }

    #[test]
    fn enospc_grows_the_batch_and_every_method_reads_the_same() {
        // 1,000 entries in 1,024 buckets: many buckets hold 2+ entries, so a batch of 1 hits
        // ENOSPC and must grow.
        let Some(m) = map_with_entries(1024, 1000) else { return };
        let mut small = Snapshot::default();
        m.read_batch_from(&mut small, 1).unwrap();
        assert_eq!(small.count, 1000);
        assert!(small.grows >= 1, "no ENOSPC seen");
        let mut batch = Snapshot::default();
        assert_eq!(m.read(ReadMethod::Batch, &mut batch).unwrap(), Used::Batch);
        assert_eq!(batch.grows, 0);
        let mut keyed = Snapshot::default();
        assert_eq!(m.read(ReadMethod::KeyByKey, &mut keyed).unwrap(), Used::KeyByKey);
        assert_eq!(sorted_entries(&small), sorted_entries(&batch));
        assert_eq!(sorted_entries(&keyed), sorted_entries(&batch));
        // Values come through byte-exact: tx_packets = the key's number.
        let e = sorted_entries(&batch);
        assert_eq!(u64::from_le_bytes(e[999].1[16..24].try_into().unwrap()), 999);
        // Reusing the snapshot: a second read replaces, not appends.
        m.read(ReadMethod::Batch, &mut batch).unwrap();
        assert_eq!(batch.count, 1000);
    }

    #[test]
    fn empty_map_reads_zero_entries() {
        let Some(m) = map_with_entries(64, 0) else { return };
        let mut snap = Snapshot::default();
        m.read(ReadMethod::Auto, &mut snap).unwrap();
        assert_eq!(snap.count, 0);
        m.read(ReadMethod::KeyByKey, &mut snap).unwrap();
        assert_eq!(snap.count, 0);
    }
}
