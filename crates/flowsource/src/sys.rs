//! Hand-declared libc FFI (the crate depends on no crate from crates.io), with thin safe
//! wrappers that turn `-1` + errno into `std::io::Error`. Linux only; constants are the
//! generic Linux ABI values (identical on x86_64 and aarch64).

use std::ffi::{c_int, c_long, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const AF_NETLINK: c_int = 16;
pub const SOCK_RAW: c_int = 3;
pub const SOCK_CLOEXEC: c_int = 0o2000000;
pub const SOCK_NONBLOCK: c_int = 0o4000;
pub const NETLINK_NETFILTER: c_int = 12;

pub const SOL_SOCKET: c_int = 1;
pub const SO_RCVBUF: c_int = 8;
pub const SO_SNDBUF: c_int = 7;
pub const SO_RCVBUFFORCE: c_int = 33;
pub const SOL_NETLINK: c_int = 270;
pub const NETLINK_ADD_MEMBERSHIP: c_int = 1;

pub const MSG_DONTWAIT: c_int = 0x40;
pub const MSG_TRUNC: c_int = 0x20;

pub const CLONE_NEWNET: c_int = 0x4000_0000;

pub const EPERM: i32 = 1;
pub const EINTR: i32 = 4;
pub const EAGAIN: i32 = 11;
pub const ENOBUFS: i32 = 105;
pub const EPROTONOSUPPORT: i32 = 93;
pub const EOPNOTSUPP: i32 = 95;
pub const ENOENT: i32 = 2;
pub const EEXIST: i32 = 17;

#[repr(C)]
pub struct SockaddrNl {
    pub nl_family: u16,
    pub nl_pad: u16,
    pub nl_pid: u32,
    pub nl_groups: u32,
}

#[repr(C)]
pub struct Timeval {
    pub tv_sec: c_long,
    pub tv_usec: c_long,
}

#[repr(C)]
pub struct Rusage {
    pub ru_utime: Timeval,
    pub ru_stime: Timeval,
    pub rest: [c_long; 14],
}

extern "C" {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn bind(fd: c_int, addr: *const SockaddrNl, len: u32) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
    fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
    fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize;
    fn setns(fd: c_int, nstype: c_int) -> c_int;
    fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    fn sendmmsg(fd: c_int, msgs: *mut Mmsghdr, n: u32, flags: c_int) -> c_int;
}

#[repr(C)]
struct Iovec {
    base: *const c_void,
    len: usize,
}

#[repr(C)]
struct Msghdr {
    name: *const c_void,
    namelen: u32,
    iov: *const Iovec,
    iovlen: usize,
    control: *const c_void,
    controllen: usize,
    flags: c_int,
}

#[repr(C)]
struct Mmsghdr {
    hdr: Msghdr,
    len: u32,
}

fn check(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A bound `NETLINK_NETFILTER` socket in the calling thread's network namespace.
pub fn netfilter_socket(nonblocking: bool, groups: u32) -> io::Result<OwnedFd> {
    let flags = SOCK_RAW | SOCK_CLOEXEC | if nonblocking { SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain syscall; the fd is owned right away.
    let fd = unsafe { OwnedFd::from_raw_fd(check(socket(AF_NETLINK, flags, NETLINK_NETFILTER))?) };
    let addr = SockaddrNl { nl_family: AF_NETLINK as u16, nl_pad: 0, nl_pid: 0, nl_groups: groups };
    // SAFETY: addr is a valid sockaddr_nl for the duration of the call.
    check(unsafe { bind(fd.as_raw_fd(), &addr, std::mem::size_of::<SockaddrNl>() as u32) })?;
    Ok(fd)
}

pub fn set_int_option(fd: RawFd, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: value outlives the call; size matches.
    check(unsafe { setsockopt(fd, level, name, (&value as *const c_int).cast(), 4) }).map(|_| ())
}

/// Asks for a large receive buffer: SO_RCVBUFFORCE (needs CAP_NET_ADMIN, which reading
/// conntrack needs anyway), else SO_RCVBUF capped by net.core.rmem_max.
pub fn set_receive_buffer(fd: RawFd, bytes: c_int) {
    if set_int_option(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes).is_err() {
        let _ = set_int_option(fd, SOL_SOCKET, SO_RCVBUF, bytes);
    }
}

pub fn send_all(fd: RawFd, buf: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: buf is valid for len bytes.
        let n = unsafe { send(fd, buf.as_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(EINTR) {
            return Err(err);
        }
    }
}

/// One datagram into `buf`; `Ok(None)` when non-blocking and nothing is queued. A datagram
/// larger than `buf` is reported as an error rather than silently truncated.
pub fn recv_datagram(fd: RawFd, buf: &mut [u8], nonblocking: bool) -> io::Result<Option<usize>> {
    let flags = MSG_TRUNC | if nonblocking { MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: buf is valid for len bytes.
        let n = unsafe { recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            let n = n as usize;
            if n > buf.len() {
                return Err(io::Error::other(format!("netlink datagram of {n} bytes exceeds the {}-byte receive buffer", buf.len())));
            }
            return Ok(Some(n));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(EINTR) => continue,
            Some(EAGAIN) if nonblocking => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// Moves the calling thread into the network namespace at `path` (e.g. /proc/1/ns/net).
pub fn enter_netns(path: &str) -> io::Result<()> {
    let file = std::fs::File::open(path).map_err(|e| io::Error::new(e.kind(), format!("open netns {path}: {e}")))?;
    // SAFETY: plain syscall on an fd we own.
    check(unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) }).map(|_| ()).map_err(|e| {
        if e.raw_os_error() == Some(EPERM) {
            io::Error::new(e.kind(), format!("setns({path}): permission denied: entering a network namespace needs CAP_SYS_ADMIN"))
        } else {
            io::Error::new(e.kind(), format!("setns({path}): {e}"))
        }
    })
}

/// Runs `f` on a fresh thread that first enters the network namespace `netns` (when given).
/// Sockets and procfs files opened there stay bound to that namespace after the thread ends,
/// so only the opening needs to happen inside it.
pub fn in_netns<T: Send + 'static>(netns: Option<&str>, f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    let Some(path) = netns else { return f() };
    let path = path.to_string();
    std::thread::Builder::new()
        .name("flowsource-netns".into())
        .spawn(move || {
            enter_netns(&path)?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// CPU time (user, system) of this process in microseconds, for benchmarks.
pub fn process_cpu_us() -> (u64, u64) {
    // SAFETY: zeroed Rusage is a valid out-parameter.
    let mut usage: Rusage = unsafe { std::mem::zeroed() };
    unsafe { getrusage(0, &mut usage) };
    let us = |t: &Timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(&usage.ru_utime), us(&usage.ru_stime))
}

/// A socket of any kind (the bench generators' raw IPv4 and AF_PACKET sockets).
pub fn open_socket(domain: c_int, ty: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned from here on.
    let fd = check(unsafe { socket(domain, ty | SOCK_CLOEXEC, protocol) })?;
    // SAFETY: fd is a fresh, valid descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends datagrams with one `sendmmsg` call, each `(packet, socket address bytes)`, the address
/// as the kernel's sockaddr of the socket's family. Returns how many were sent (the rest were
/// not: the caller sends them again).
pub fn send_datagrams(fd: RawFd, datagrams: &[(&[u8], &[u8])]) -> io::Result<usize> {
    let iovs: Vec<Iovec> = datagrams.iter().map(|(p, _)| Iovec { base: p.as_ptr().cast(), len: p.len() }).collect();
    let mut msgs: Vec<Mmsghdr> = datagrams
        .iter()
        .zip(&iovs)
        .map(|((_, addr), iov)| Mmsghdr {
            hdr: Msghdr { name: addr.as_ptr().cast(), namelen: addr.len() as u32, iov, iovlen: 1, control: std::ptr::null(), controllen: 0, flags: 0 },
            len: 0,
        })
        .collect();
    // SAFETY: msgs point into iovs and datagrams, which outlive the call.
    check(unsafe { sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as u32, 0) }).map(|n| n as usize)
}
