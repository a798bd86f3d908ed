//! bpf(2) without libbpf: the handful of commands the Cilium CT reader needs, with the
//! `union bpf_attr` members laid out by hand (include/uapi/linux/bpf.h). Every attr is
//! zero-initialised in full, as the kernel requires for the bytes past the members it reads.
//!
//! Read side (the receiver): `BPF_OBJ_GET` (read-only), `BPF_OBJ_GET_INFO_BY_FD`,
//! `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM`.
//! Write side (tests and benches only): `BPF_MAP_CREATE`, `BPF_OBJ_PIN`, `BPF_MAP_UPDATE_BATCH`,
//! `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`.

use std::ffi::{c_long, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[cfg(target_arch = "x86_64")]
const SYS_BPF: c_long = 321;
#[cfg(target_arch = "aarch64")]
const SYS_BPF: c_long = 280;

const BPF_MAP_CREATE: c_long = 0;
const BPF_MAP_LOOKUP_ELEM: c_long = 1;
const BPF_MAP_UPDATE_ELEM: c_long = 2;
const BPF_MAP_DELETE_ELEM: c_long = 3;
const BPF_MAP_GET_NEXT_KEY: c_long = 4;
const BPF_OBJ_PIN: c_long = 6;
const BPF_OBJ_GET: c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: c_long = 15;
const BPF_MAP_LOOKUP_BATCH: c_long = 24;
const BPF_MAP_UPDATE_BATCH: c_long = 26;

/// `file_flags` of BPF_OBJ_GET: open the map read-only (kernel ≥ 4.15).
const BPF_F_RDONLY: u32 = 1 << 3;

pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = 9;

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const EACCES: i32 = 13;
pub const EINVAL: i32 = 22;
pub const ENOSPC: i32 = 28;
pub const ENOTSUPP: i32 = 524; // kernel-internal, leaks to user space from some map ops
pub const EOPNOTSUPP: i32 = 95;

extern "C" {
    fn syscall(num: c_long, ...) -> c_long;
}

/// `union bpf_attr` as a zeroed, 8-byte aligned block (128 bytes covers every command used).
#[repr(C, align(8))]
struct Attr([u8; ATTR_BYTES as usize]);

impl Attr {
    fn new() -> Attr {
        Attr([0; ATTR_BYTES as usize])
    }
    fn u32(&mut self, at: usize, v: u32) -> &mut Attr {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, at: usize, v: u64) -> &mut Attr {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.0[at..at + 4].try_into().unwrap())
    }
}

fn bpf(cmd: c_long, attr: &mut Attr) -> io::Result<i64> {
    bpf_sized(cmd, attr, ATTR_BYTES)
}

/// The whole attr block; the per-element commands pass `ELEM_ATTR_BYTES` instead.
const ATTR_BYTES: u32 = 128;
/// The size of the per-element attr (`map_fd`, `key`, `value`/`next_key`, `flags`) as Cilium's
/// Go code passes it (`unsafe.Sizeof(bpfAttrMapOpElem{})`): the key-by-key walk copies no
/// more into the kernel per call than the reader it is compared with does.
const ELEM_ATTR_BYTES: u32 = 32;

fn bpf_sized(cmd: c_long, attr: &mut Attr, size: u32) -> io::Result<i64> {
    debug_assert!(size as usize <= attr.0.len());
    loop {
        // SAFETY: attr is a valid, fully initialised bpf_attr of at least `size` bytes.
        let ret = unsafe { syscall(SYS_BPF, cmd, attr.0.as_mut_ptr(), size) };
        if ret >= 0 {
            return Ok(ret as i64);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(4) {
            return Err(err);
        }
    }
}

fn ptr<T>(p: *const T) -> u64 {
    p as usize as u64
}

fn c_path(path: &str) -> io::Result<CString> {
    CString::new(path).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{path:?} contains a NUL byte")))
}

/// `BPF_OBJ_GET`: the pinned object at `path`. Read-only unless `writable` (tests).
pub fn obj_get(path: &str, writable: bool) -> io::Result<OwnedFd> {
    let cpath = c_path(path)?;
    let mut attr = Attr::new();
    // struct { __aligned_u64 pathname; __u32 bpf_fd; __u32 file_flags; }
    attr.u64(0, ptr(cpath.as_ptr())).u32(12, if writable { 0 } else { BPF_F_RDONLY });
    let fd = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a map (`struct bpf_map_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// Cut to 15 characters by the kernel (BPF_OBJ_NAME_LEN); identify maps by path instead.
    pub name: String,
}

pub fn map_info(fd: RawFd) -> io::Result<MapInfo> {
    // struct bpf_map_info: type u32 @0, id @4, key_size @8, value_size @12, max_entries @16,
    // map_flags @20, name[16] @24, ... (the kernel fills at most info_len bytes).
    let mut info = [0u8; 96];
    let mut attr = Attr::new();
    // struct { __u32 bpf_fd; __u32 info_len; __aligned_u64 info; }
    attr.u32(0, fd as u32).u32(4, info.len() as u32).u64(8, ptr(info.as_mut_ptr()));
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let u = |at: usize| u32::from_ne_bytes(info[at..at + 4].try_into().unwrap());
    let name_bytes = &info[24..40];
    let end = name_bytes.iter().position(|&b| b == 0).unwrap_or(16);
    Ok(MapInfo {
        map_type: u(0),
        id: u(4),
        key_size: u(8),
        value_size: u(12),
        max_entries: u(16),
        flags: u(20),
        name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
    })
}

/// Outcome of one `BPF_MAP_LOOKUP_BATCH` call.
pub enum Batch {
    /// `n` entries were copied; more follow (pass `out_token` as the next `in_token`).
    More(usize),
    /// `n` entries were copied and the map is exhausted (the kernel said ENOENT).
    Done(usize),
    /// A single hash bucket holds more entries than `count`: retry with a larger count.
    NoSpace,
}

/// `BPF_MAP_LOOKUP_BATCH` (kernel ≥ 5.6 for hash maps): up to `count` entries into `keys` /
/// `values` (packed, key_size / value_size apart). The token is the kernel's u32 bucket index.
pub fn lookup_batch(fd: RawFd, in_token: Option<&[u8; 8]>, out_token: &mut [u8; 8], keys: &mut [u8], values: &mut [u8], count: u32) -> io::Result<Batch> {
    let mut attr = Attr::new();
    // struct { __aligned_u64 in_batch, out_batch, keys, values; __u32 count, map_fd;
    //          __u64 elem_flags, flags; }
    attr.u64(0, in_token.map_or(0, |t| ptr(t.as_ptr())))
        .u64(8, ptr(out_token.as_mut_ptr()))
        .u64(16, ptr(keys.as_mut_ptr()))
        .u64(24, ptr(values.as_mut_ptr()))
        .u32(32, count)
        .u32(36, fd as u32);
    match bpf(BPF_MAP_LOOKUP_BATCH, &mut attr) {
        Ok(_) => Ok(Batch::More(attr.get_u32(32) as usize)),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(Batch::Done(attr.get_u32(32) as usize)),
        Err(e) if e.raw_os_error() == Some(ENOSPC) => Ok(Batch::NoSpace),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key when None); None at the end.
pub fn get_next_key(fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = Attr::new();
    // struct { __u32 map_fd; __aligned_u64 key; __aligned_u64 value|next_key; __u64 flags; }
    attr.u32(0, fd as u32).u64(8, key.map_or(0, |k| ptr(k.as_ptr()))).u64(16, ptr(next.as_mut_ptr()));
    match bpf_sized(BPF_MAP_GET_NEXT_KEY, &mut attr, ELEM_ATTR_BYTES) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_ELEM`: false when the key is gone (deleted or evicted meanwhile).
pub fn lookup(fd: RawFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = Attr::new();
    attr.u32(0, fd as u32).u64(8, ptr(key.as_ptr())).u64(16, ptr(value.as_mut_ptr()));
    match bpf_sized(BPF_MAP_LOOKUP_ELEM, &mut attr, ELEM_ATTR_BYTES) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Write side: tests and benches build Cilium-shaped maps with these.

/// `BPF_MAP_CREATE` with a name (cut to 15 characters, as the kernel does).
pub fn map_create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, name: &str) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    // map_type @0, key_size @4, value_size @8, max_entries @12, map_flags @16,
    // inner_map_fd @20, numa_node @24, map_name[16] @28
    attr.u32(0, map_type).u32(4, key_size).u32(8, value_size).u32(12, max_entries);
    let n = name.as_bytes();
    let len = n.len().min(15);
    attr.0[28..28 + len].copy_from_slice(&n[..len]);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `BPF_OBJ_PIN`: pins `fd` at `path` on a bpffs.
pub fn obj_pin(fd: RawFd, path: &str) -> io::Result<()> {
    let cpath = c_path(path)?;
    let mut attr = Attr::new();
    attr.u64(0, ptr(cpath.as_ptr())).u32(8, fd as u32);
    bpf(BPF_OBJ_PIN, &mut attr).map(|_| ())
}

/// `BPF_MAP_UPDATE_BATCH` (kernel ≥ 5.6); returns how many entries the kernel wrote.
pub fn update_batch(fd: RawFd, keys: &[u8], values: &[u8], count: u32) -> io::Result<u32> {
    let mut attr = Attr::new();
    attr.u64(16, ptr(keys.as_ptr())).u64(24, ptr(values.as_ptr())).u32(32, count).u32(36, fd as u32);
    bpf(BPF_MAP_UPDATE_BATCH, &mut attr).map(|_| attr.get_u32(32))
}

/// `BPF_MAP_UPDATE_ELEM` with BPF_ANY.
pub fn update(fd: RawFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = Attr::new();
    attr.u32(0, fd as u32).u64(8, ptr(key.as_ptr())).u64(16, ptr(value.as_ptr()));
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

/// `BPF_MAP_DELETE_ELEM`: false when the key was not there.
pub fn delete(fd: RawFd, key: &[u8]) -> io::Result<bool> {
    let mut attr = Attr::new();
    attr.u32(0, fd as u32).u64(8, ptr(key.as_ptr()));
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps `AsRawFd` in scope for callers holding an `OwnedFd`.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}
