//! Hand-declared libc FFI for AF_PACKET capture (socket options, mmap, poll, if_nametoindex).
//! Constants are the generic Linux ABI values (identical on x86_64 and aarch64).

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const AF_PACKET: c_int = 17;
pub const SOCK_RAW: c_int = 3;
pub const SOCK_CLOEXEC: c_int = 0o2000000;
pub const ETH_P_ALL: u16 = 0x0003;

pub const SOL_SOCKET: c_int = 1;
pub const SO_ATTACH_FILTER: c_int = 26;
pub const SOL_PACKET: c_int = 263;
pub const PACKET_RX_RING: c_int = 5;
pub const PACKET_STATISTICS: c_int = 6;
pub const PACKET_VERSION: c_int = 10;
pub const TPACKET_V3: c_int = 2;

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

#[cfg(target_arch = "x86_64")]
const SYS_BIND: std::ffi::c_long = 49;
#[cfg(target_arch = "aarch64")]
const SYS_BIND: std::ffi::c_long = 200;

pub const POLLIN: i16 = 1;
pub const POLLERR: i16 = 8;
const EINTR: i32 = 4;
const EPERM: i32 = 1;

/// `struct sockaddr_ll` (linux/if_packet.h).
#[repr(C)]
pub struct SockaddrLl {
    pub sll_family: u16,
    pub sll_protocol: u16,
    pub sll_ifindex: i32,
    pub sll_hatype: u16,
    pub sll_pkttype: u8,
    pub sll_halen: u8,
    pub sll_addr: [u8; 8],
}

/// `struct tpacket_req3`.
#[repr(C)]
pub struct TpacketReq3 {
    pub tp_block_size: u32,
    pub tp_block_nr: u32,
    pub tp_frame_size: u32,
    pub tp_frame_nr: u32,
    pub tp_retire_blk_tov: u32,
    pub tp_sizeof_priv: u32,
    pub tp_feature_req_word: u32,
}

/// `struct sock_filter`: one classic BPF instruction.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

extern "C" {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    // bind(2) through syscall(2): crate::sys declares the `bind` symbol for sockaddr_nl.
    fn syscall(number: std::ffi::c_long, ...) -> std::ffi::c_long;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
    fn getsockopt(fd: c_int, level: c_int, name: c_int, value: *mut c_void, len: *mut u32) -> c_int;
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn poll(fds: *mut PollFd, n: u64, timeout: c_int) -> c_int;
    fn if_nametoindex(name: *const c_char) -> c_uint;
}

fn check(ret: c_int, what: &str) -> io::Result<c_int> {
    if ret >= 0 {
        return Ok(ret);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(EPERM) {
        return Err(io::Error::new(e.kind(), format!("{what}: permission denied: packet capture needs CAP_NET_RAW")));
    }
    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// An AF_PACKET raw socket that receives nothing yet (protocol 0): options and the filter are
/// set before `bind` starts delivery, so no unfiltered packet is ever queued.
pub fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned right away.
    let fd = check(unsafe { socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0) }, "socket(AF_PACKET)")?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn set_option<T>(fd: RawFd, level: c_int, name: c_int, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: value outlives the call; the size is the value's.
    check(unsafe { setsockopt(fd, level, name, (value as *const T).cast(), std::mem::size_of::<T>() as u32) }, what).map(|_| ())
}

pub fn attach_filter(fd: RawFd, program: &[SockFilter]) -> io::Result<()> {
    let prog = SockFprog { len: program.len() as u16, filter: program.as_ptr() };
    set_option(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, "SO_ATTACH_FILTER")
}

/// Starts delivery of every protocol from `ifindex` (0: all interfaces).
pub fn bind_interface(fd: RawFd, ifindex: i32) -> io::Result<()> {
    let addr = SockaddrLl { sll_family: AF_PACKET as u16, sll_protocol: ETH_P_ALL.to_be(), sll_ifindex: ifindex, sll_hatype: 0, sll_pkttype: 0, sll_halen: 0, sll_addr: [0; 8] };
    // SAFETY: addr is a valid sockaddr_ll for the call.
    let ret = unsafe { syscall(SYS_BIND, fd, &addr as *const SockaddrLl, std::mem::size_of::<SockaddrLl>() as u32) };
    check(ret as c_int, "bind(AF_PACKET)").map(|_| ())
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn interface_index(name: &str) -> io::Result<i32> {
    let c = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: c is a valid C string.
    let idx = unsafe { if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no network interface named {name:?} in this network namespace")));
    }
    Ok(idx as i32)
}

/// (packets delivered, packets dropped) since the previous call (the kernel resets on read).
pub fn take_statistics(fd: RawFd) -> io::Result<(u64, u64)> {
    let mut s = TpacketStatsV3::default();
    let mut len = std::mem::size_of::<TpacketStatsV3>() as u32;
    // SAFETY: s is a valid out-buffer of len bytes.
    check(unsafe { getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, (&mut s as *mut TpacketStatsV3).cast(), &mut len) }, "PACKET_STATISTICS")?;
    Ok((u64::from(s.tp_packets), u64::from(s.tp_drops)))
}

/// Waits up to `timeout_ms` for the socket to become readable. Ok(false) on timeout.
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = PollFd { fd, events: POLLIN | POLLERR, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(EINTR) { Ok(false) } else { Err(e) };
    }
    Ok(n > 0)
}

/// A shared memory mapping of the socket's ring; unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel; access is coordinated through
// the block status words (see ring.rs), and only the owning capture thread reads it.
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn map(fd: &OwnedFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: mapping the ring the kernel set up for this fd.
        let ptr = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.as_raw_fd(), 0) };
        if ptr == MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("mmap of the {len}-byte packet ring: {e}")));
        }
        Ok(Mapping { ptr: ptr.cast(), len })
    }
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap.
        unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
