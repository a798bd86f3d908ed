//! bpf(2) without libbpf: the handful of commands the Cilium CT reader needs. `union bpf_attr`
//! is declared as one `#[repr(C)]` struct per command, each the prefix of its union member in
//! include/uapi/linux/bpf.h that this code uses (as cilium/ebpf's internal/sys does), and
//! passed with its own size: the kernel zero-fills the rest of its `bpf_attr`. Every field is
//! explicit (padding included), so no byte the kernel reads is uninitialised. Offsets and sizes
//! are asserted at compile time and checked against the C header in the tests.
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

// ---------------------------------------------------------------------------------------------
// `union bpf_attr`, one struct per command. The numbers in the asserts are the kernel's
// (offsetof in include/uapi/linux/bpf.h); `tests::layouts_match_the_kernel_header` checks them
// against the header itself.

/// `BPF_OBJ_PIN`, `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` (the `info` member).
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_UPDATE_BATCH` (the `batch` member). The kernel writes
/// `count` back: how many entries it copied.
#[repr(C)]
#[derive(Default)]
struct MapBatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`,
/// `BPF_MAP_GET_NEXT_KEY`. 32 bytes, the size Cilium's Go code passes
/// (`unsafe.Sizeof(bpfAttrMapOpElem{})`): the key-by-key walk copies no more into the kernel
/// per call than the reader it is compared with does.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    /// `value`, or `next_key` for BPF_MAP_GET_NEXT_KEY.
    value: u64,
    flags: u64,
}

/// `BPF_MAP_CREATE`, up to `map_name`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// `struct bpf_map_info`, as far as `map_extra` (the kernel fills at most `info_len` bytes).
#[repr(C)]
#[derive(Default)]
struct RawMapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; 16],
    ifindex: u32,
    btf_vmlinux_value_type_id: u32,
    netns_dev: u64,
    netns_ino: u64,
    btf_id: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    _pad: u32,
    map_extra: u64,
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(ObjAttr, pathname) == 0 && offset_of!(ObjAttr, bpf_fd) == 8 && offset_of!(ObjAttr, file_flags) == 12);
    assert!(size_of::<ObjAttr>() == 16);
    assert!(offset_of!(InfoAttr, bpf_fd) == 0 && offset_of!(InfoAttr, info_len) == 4 && offset_of!(InfoAttr, info) == 8);
    assert!(size_of::<InfoAttr>() == 16);
    assert!(offset_of!(MapBatchAttr, in_batch) == 0 && offset_of!(MapBatchAttr, out_batch) == 8);
    assert!(offset_of!(MapBatchAttr, keys) == 16 && offset_of!(MapBatchAttr, values) == 24);
    assert!(offset_of!(MapBatchAttr, count) == 32 && offset_of!(MapBatchAttr, map_fd) == 36);
    assert!(offset_of!(MapBatchAttr, elem_flags) == 40 && offset_of!(MapBatchAttr, flags) == 48);
    assert!(size_of::<MapBatchAttr>() == 56);
    assert!(offset_of!(MapElemAttr, map_fd) == 0 && offset_of!(MapElemAttr, key) == 8);
    assert!(offset_of!(MapElemAttr, value) == 16 && offset_of!(MapElemAttr, flags) == 24);
    assert!(size_of::<MapElemAttr>() == 32);
    assert!(offset_of!(MapCreateAttr, map_type) == 0 && offset_of!(MapCreateAttr, key_size) == 4);
    assert!(offset_of!(MapCreateAttr, value_size) == 8 && offset_of!(MapCreateAttr, max_entries) == 12);
    assert!(offset_of!(MapCreateAttr, map_flags) == 16 && offset_of!(MapCreateAttr, inner_map_fd) == 20);
    assert!(offset_of!(MapCreateAttr, numa_node) == 24 && offset_of!(MapCreateAttr, map_name) == 28);
    assert!(size_of::<MapCreateAttr>() == 44);
    assert!(offset_of!(RawMapInfo, map_type) == 0 && offset_of!(RawMapInfo, max_entries) == 16);
    assert!(offset_of!(RawMapInfo, map_flags) == 20 && offset_of!(RawMapInfo, name) == 24);
    assert!(offset_of!(RawMapInfo, netns_dev) == 48 && offset_of!(RawMapInfo, btf_value_type_id) == 72);
    assert!(offset_of!(RawMapInfo, map_extra) == 80 && size_of::<RawMapInfo>() == 88);
};

/// Runs one command with its attr (retrying on EINTR); the size passed is the attr's own.
fn bpf<A>(cmd: c_long, attr: &mut A) -> io::Result<i64> {
    let size = std::mem::size_of::<A>() as u32;
    loop {
        // SAFETY: attr is a valid, fully initialised #[repr(C)] bpf_attr member of `size` bytes.
        let ret = unsafe { syscall(SYS_BPF, cmd, attr as *mut A, size) };
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
    let mut attr = ObjAttr { pathname: ptr(cpath.as_ptr()), file_flags: if writable { 0 } else { BPF_F_RDONLY }, ..ObjAttr::default() };
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
    let mut info = RawMapInfo::default();
    let mut attr = InfoAttr { bpf_fd: fd as u32, info_len: std::mem::size_of::<RawMapInfo>() as u32, info: ptr(&mut info as *mut RawMapInfo) };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = info.name.iter().position(|&b| b == 0).unwrap_or(info.name.len());
    Ok(MapInfo {
        map_type: info.map_type,
        id: info.id,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        flags: info.map_flags,
        name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
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
    let mut attr = MapBatchAttr {
        in_batch: in_token.map_or(0, |t| ptr(t.as_ptr())),
        out_batch: ptr(out_token.as_mut_ptr()),
        keys: ptr(keys.as_mut_ptr()),
        values: ptr(values.as_mut_ptr()),
        count,
        map_fd: fd as u32,
        ..MapBatchAttr::default()
    };
    match bpf(BPF_MAP_LOOKUP_BATCH, &mut attr) {
        Ok(_) => Ok(Batch::More(attr.count as usize)),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(Batch::Done(attr.count as usize)),
        Err(e) if e.raw_os_error() == Some(ENOSPC) => Ok(Batch::NoSpace),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key when None); None at the end.
pub fn get_next_key(fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: key.map_or(0, |k| ptr(k.as_ptr())), value: ptr(next.as_mut_ptr()), ..MapElemAttr::default() };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_ELEM`: false when the key is gone (deleted or evicted meanwhile).
pub fn lookup(fd: RawFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: ptr(key.as_ptr()), value: ptr(value.as_mut_ptr()), ..MapElemAttr::default() };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Write side: tests and benches build Cilium-shaped maps with these.

/// `BPF_MAP_CREATE` with a name (cut to 15 characters, as the kernel does).
pub fn map_create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, name: &str) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr { map_type, key_size, value_size, max_entries, ..MapCreateAttr::default() };
    let n = name.as_bytes();
    let len = n.len().min(15);
    attr.map_name[..len].copy_from_slice(&n[..len]);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `BPF_OBJ_PIN`: pins `fd` at `path` on a bpffs.
pub fn obj_pin(fd: RawFd, path: &str) -> io::Result<()> {
    let cpath = c_path(path)?;
    let mut attr = ObjAttr { pathname: ptr(cpath.as_ptr()), bpf_fd: fd as u32, ..ObjAttr::default() };
    bpf(BPF_OBJ_PIN, &mut attr).map(|_| ())
}

/// `BPF_MAP_UPDATE_BATCH` (kernel ≥ 5.6); returns how many entries the kernel wrote.
pub fn update_batch(fd: RawFd, keys: &[u8], values: &[u8], count: u32) -> io::Result<u32> {
    let mut attr = MapBatchAttr { keys: ptr(keys.as_ptr()), values: ptr(values.as_ptr()), count, map_fd: fd as u32, ..MapBatchAttr::default() };
    bpf(BPF_MAP_UPDATE_BATCH, &mut attr).map(|_| attr.count)
}

/// `BPF_MAP_UPDATE_ELEM` with BPF_ANY.
pub fn update(fd: RawFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: ptr(key.as_ptr()), value: ptr(value.as_ptr()), ..MapElemAttr::default() };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

/// `BPF_MAP_DELETE_ELEM`: false when the key was not there.
pub fn delete(fd: RawFd, key: &[u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: ptr(key.as_ptr()), ..MapElemAttr::default() };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of_val};
    use std::process::Command;

    /// (C expression naming the member, Rust offset, Rust size) of every field declared above.
    fn rust_layout() -> Vec<(&'static str, usize, usize)> {
        macro_rules! fields {
            ($t:ident: $($field:ident = $c:literal),* $(,)?) => {{
                let v = $t::default();
                vec![$(($c, offset_of!($t, $field), size_of_val(&v.$field))),*]
            }};
        }
        let mut all = Vec::new();
        all.extend(fields!(ObjAttr: pathname = "attr.pathname", bpf_fd = "attr.bpf_fd", file_flags = "attr.file_flags"));
        all.extend(fields!(InfoAttr: bpf_fd = "attr.info.bpf_fd", info_len = "attr.info.info_len", info = "attr.info.info"));
        all.extend(fields!(MapBatchAttr:
            in_batch = "attr.batch.in_batch", out_batch = "attr.batch.out_batch", keys = "attr.batch.keys", values = "attr.batch.values",
            count = "attr.batch.count", map_fd = "attr.batch.map_fd", elem_flags = "attr.batch.elem_flags", flags = "attr.batch.flags",
        ));
        all.extend(fields!(MapElemAttr: map_fd = "attr.map_fd", key = "attr.key", value = "attr.value", flags = "attr.flags"));
        all.extend(fields!(MapElemAttr: value = "attr.next_key"));
        all.extend(fields!(MapCreateAttr:
            map_type = "attr.map_type", key_size = "attr.key_size", value_size = "attr.value_size", max_entries = "attr.max_entries",
            map_flags = "attr.map_flags", inner_map_fd = "attr.inner_map_fd", numa_node = "attr.numa_node", map_name = "attr.map_name",
        ));
        all.extend(fields!(RawMapInfo:
            map_type = "info.type", id = "info.id", key_size = "info.key_size", value_size = "info.value_size",
            max_entries = "info.max_entries", map_flags = "info.map_flags", name = "info.name", ifindex = "info.ifindex",
            btf_vmlinux_value_type_id = "info.btf_vmlinux_value_type_id", netns_dev = "info.netns_dev", netns_ino = "info.netns_ino",
            btf_id = "info.btf_id", btf_key_type_id = "info.btf_key_type_id", btf_value_type_id = "info.btf_value_type_id",
            map_extra = "info.map_extra",
        ));
        all
    }

    /// Compiles a C program against the kernel's uapi header and compares every field's offset
    /// and size with the Rust declarations. Needs a C compiler and linux/bpf.h (linux-libc-dev):
    /// skipped loudly without them, a failure under CI=true.
    #[test]
    fn layouts_match_the_kernel_header() {
        let missing = if Command::new("cc").arg("--version").output().is_err() {
            Some("no C compiler (cc)")
        } else if !std::path::Path::new("/usr/include/linux/bpf.h").exists() {
            Some("no /usr/include/linux/bpf.h (Debian package linux-libc-dev)")
        } else {
            None
        };
        if let Some(why) = missing {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "cannot check bpf_attr layouts: {why}");
            eprintln!("SKIPPED layouts_match_the_kernel_header: {why}");
            return;
        }
        let fields = rust_layout();
        let mut c = String::from("#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\nint main(void) {\n  union bpf_attr attr; struct bpf_map_info info;\n");
        for (expr, _, _) in &fields {
            let (object, member) = expr.split_once('.').unwrap();
            let base = if object == "attr" { "union bpf_attr" } else { "struct bpf_map_info" };
            c.push_str(&format!("  printf(\"%zu %zu\\n\", offsetof({base}, {member}), sizeof({expr}));\n"));
        }
        c.push_str("  (void)attr; (void)info; return 0;\n}\n");
        let dir = std::env::temp_dir().join(format!("flowsource-bpf-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (src, bin) = (dir.join("layout.c"), dir.join("layout"));
        std::fs::write(&src, c).unwrap();
        let cc = Command::new("cc").arg("-o").arg(&bin).arg(&src).output().unwrap();
        assert!(cc.status.success(), "cc failed: {}", String::from_utf8_lossy(&cc.stderr));
        let out = Command::new(&bin).output().unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let kernel: Vec<(usize, usize)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (o, s) = l.split_once(' ').unwrap();
                (o.parse().unwrap(), s.parse().unwrap())
            })
            .collect();
        assert_eq!(kernel.len(), fields.len());
        for ((expr, offset, size), (k_offset, k_size)) in fields.iter().zip(&kernel) {
            assert_eq!((*offset, *size), (*k_offset, *k_size), "{expr}: Rust (offset, size) vs linux/bpf.h");
        }
    }
}
