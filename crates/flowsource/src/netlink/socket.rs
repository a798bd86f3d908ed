//! The ctnetlink sockets: a dump socket (one full table dump per tick) and an event socket
//! subscribed to destroy events. Both are created in the configured network namespace.

use super::attr::messages;
use super::builder::MessageBuilder;
use super::parse::parse_conntrack;
use super::template::Templates;
use super::*;
use crate::entry::Entry;
use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Receive buffer per recv(): the kernel fills dump datagrams up to ~32 KiB; larger is free.
const RECV_BUFFER_BYTES: usize = 256 * 1024;
/// Socket receive queue: room for many dump datagrams / event bursts before ENOBUFS.
const SOCKET_RCVBUF_BYTES: i32 = 32 * 1024 * 1024;
/// A dump restarted this many times (ENOBUFS, NLM_F_DUMP_INTR) is taken as it is.
pub const MAX_DUMP_ATTEMPTS: u32 = 4;

/// Why a dump or socket failed, with the cause named for a person to act on.
#[derive(Debug)]
pub enum CtError {
    /// EPERM: the caller lacks CAP_NET_ADMIN (in the namespace that owns the table).
    Permission(String),
    /// ctnetlink is not available (no nf_conntrack_netlink, or the protocol is unsupported).
    Unavailable(String),
    Other(String),
}

impl std::fmt::Display for CtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtError::Permission(s) | CtError::Unavailable(s) | CtError::Other(s) => f.write_str(s),
        }
    }
}

fn classify(errno: i32, context: &str) -> CtError {
    let err = io::Error::from_raw_os_error(errno);
    match errno {
        sys::EPERM => CtError::Permission(format!(
            "{context}: permission denied (EPERM): reading conntrack over netlink needs CAP_NET_ADMIN"
        )),
        sys::EPROTONOSUPPORT | sys::EOPNOTSUPP | sys::ENOENT => {
            CtError::Unavailable(format!("{context}: ctnetlink unavailable ({err}); is nf_conntrack_netlink loaded?"))
        }
        _ => CtError::Other(format!("{context}: {err}")),
    }
}

fn io_error(e: io::Error, context: &str) -> CtError {
    match e.raw_os_error() {
        Some(errno) => classify(errno, context),
        None => CtError::Other(format!("{context}: {e}")),
    }
}

/// Figures from one dump.
#[derive(Debug, Default, Clone)]
pub struct DumpStats {
    pub entries: u64,
    /// Dumps restarted after ENOBUFS or NLM_F_DUMP_INTR.
    pub restarts: u32,
    /// Messages that failed to decode (skipped); `first_error` says why.
    pub skipped: u64,
    pub first_error: Option<String>,
    /// The last attempt was still marked NLM_F_DUMP_INTR (taken as it is).
    pub inconsistent: bool,
}

pub struct DumpSocket {
    fd: OwnedFd,
    netns: Option<String>,
    seq: u32,
    buf: Vec<u8>,
}

fn open_socket(netns: Option<&str>, groups: u32, nonblocking: bool) -> Result<OwnedFd, CtError> {
    sys::in_netns(netns, move || {
        let fd = sys::netfilter_socket(nonblocking, groups)?;
        sys::set_receive_buffer(fd.as_raw_fd(), SOCKET_RCVBUF_BYTES);
        Ok(fd)
    })
    .map_err(|e| io_error(e, "open NETLINK_NETFILTER socket"))
}

/// What one received datagram said about the dump's progress.
pub enum Progress {
    More,
    Done,
}

impl DumpSocket {
    pub fn open(netns: Option<&str>) -> Result<Self, CtError> {
        Ok(DumpSocket { fd: open_socket(netns, 0, false)?, netns: netns.map(str::to_string), seq: 0, buf: vec![0; RECV_BUFFER_BYTES] })
    }

    /// Dumps the whole table (IPv4 and IPv6), calling `on_entry` for each decoded entry.
    /// A restarted dump calls `on_entry` again for entries already seen, so `on_entry` must be
    /// idempotent per entry (the tracker is: a second sighting yields a zero delta).
    pub fn dump(&mut self, mut on_entry: impl FnMut(&Entry)) -> Result<DumpStats, CtError> {
        let mut stats = DumpStats::default();
        for attempt in 1..=MAX_DUMP_ATTEMPTS {
            stats.entries = 0;
            match self.dump_once(&mut on_entry, &mut stats) {
                Ok(interrupted) => {
                    stats.inconsistent = interrupted;
                    if !interrupted || attempt == MAX_DUMP_ATTEMPTS {
                        return Ok(stats);
                    }
                }
                Err(e) if e.raw_os_error() == Some(sys::ENOBUFS) && attempt < MAX_DUMP_ATTEMPTS => {
                    // The socket's queue overflowed and the dump's state is lost: start over on a
                    // fresh socket, so no half-read datagram of the old dump can be mistaken.
                    self.fd = open_socket(self.netns.as_deref(), 0, false)?;
                }
                Err(e) => return Err(io_error(e, "ctnetlink dump")),
            }
            stats.restarts += 1;
        }
        Ok(stats)
    }

    /// One dump attempt; Ok(true) when the kernel flagged it NLM_F_DUMP_INTR.
    fn dump_once(&mut self, on_entry: &mut impl FnMut(&Entry), stats: &mut DumpStats) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = MessageBuilder::new();
        req.dump_request(self.seq);
        sys::send_all(self.fd.as_raw_fd(), &req.buf)?;
        let mut interrupted = false;
        loop {
            let n = sys::recv_datagram(self.fd.as_raw_fd(), &mut self.buf, false)?.unwrap_or(0);
            match walk_datagram(&self.buf[..n], self.seq, &mut interrupted, stats, on_entry)? {
                Progress::More => {}
                Progress::Done => return Ok(interrupted),
            }
        }
    }
}

/// Decodes one dump datagram: entries go to `on_entry`, undecodable messages are counted in
/// `stats.skipped`; a kernel error is returned. Messages of another sequence number are ignored.
pub fn walk_datagram(
    data: &[u8],
    seq: u32,
    interrupted: &mut bool,
    stats: &mut DumpStats,
    on_entry: &mut impl FnMut(&Entry),
) -> io::Result<Progress> {
    // The entries of one datagram are mostly of one or a few kinds: decode through layouts
    // learned from the first of each kind (see template.rs).
    let mut templates = Templates::default();
    let mut entry = Entry::default();
    for msg in messages(data) {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                note_skip(stats, e);
                break;
            }
        };
        if msg.seq != seq {
            continue;
        }
        if msg.flags & NLM_F_DUMP_INTR != 0 {
            *interrupted = true;
        }
        match msg.ty {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let errno = msg.payload.get(..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).unwrap_or(0);
                if errno == 0 {
                    continue; // an ACK
                }
                return Err(io::Error::from_raw_os_error(-errno));
            }
            NLMSG_NOOP => {}
            NLMSG_OVERRUN => return Err(io::Error::from_raw_os_error(sys::ENOBUFS)),
            t if t == ctnetlink_type(IPCTNL_MSG_CT_NEW) => match templates.decode_into(msg.payload, &mut entry) {
                Ok(()) => {
                    stats.entries += 1;
                    on_entry(&entry);
                }
                Err(e) => note_skip(stats, format!("IPCTNL_MSG_CT_NEW: {e}")),
            },
            t => note_skip(stats, format!("unexpected message type {t:#06x} in dump")),
        }
    }
    Ok(Progress::More)
}

fn note_skip(stats: &mut DumpStats, why: String) {
    stats.skipped += 1;
    if stats.first_error.is_none() {
        stats.first_error = Some(why);
    }
}

/// Figures from draining the event socket.
#[derive(Debug, Default, Clone)]
pub struct EventStats {
    pub events: u64,
    /// Times the kernel dropped events because the queue was full (ENOBUFS).
    pub overruns: u64,
    pub skipped: u64,
    pub first_error: Option<String>,
}

/// Subscribed to NFNLGRP_CONNTRACK_DESTROY; read without blocking once per tick.
pub struct EventSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl EventSocket {
    pub fn open(netns: Option<&str>) -> Result<Self, CtError> {
        let groups = 1u32 << (NFNLGRP_CONNTRACK_DESTROY - 1);
        Ok(EventSocket { fd: open_socket(netns, groups, true)?, buf: vec![0; RECV_BUFFER_BYTES] })
    }

    /// Reads every queued destroy event, calling `on_destroy` with the entry's final state.
    pub fn drain(&mut self, mut on_destroy: impl FnMut(&Entry)) -> Result<EventStats, CtError> {
        let mut stats = EventStats::default();
        loop {
            let n = match sys::recv_datagram(self.fd.as_raw_fd(), &mut self.buf, true) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(stats),
                Err(e) if e.raw_os_error() == Some(sys::ENOBUFS) => {
                    stats.overruns += 1;
                    continue;
                }
                Err(e) => return Err(io_error(e, "ctnetlink events")),
            };
            for msg in messages(&self.buf[..n]) {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        stats.skipped += 1;
                        stats.first_error.get_or_insert(e);
                        break;
                    }
                };
                if msg.ty != ctnetlink_type(IPCTNL_MSG_CT_DELETE) {
                    continue;
                }
                match parse_conntrack(msg.payload) {
                    Ok(entry) => {
                        stats.events += 1;
                        on_destroy(&entry);
                    }
                    Err(e) => {
                        stats.skipped += 1;
                        stats.first_error.get_or_insert(format!("IPCTNL_MSG_CT_DELETE: {e}"));
                    }
                }
            }
        }
    }
}

/// Inserts entries with IPCTNL_MSG_CT_NEW, `batch` messages per datagram (bench and tests).
/// Returns how many the kernel refused, with the first reason.
pub fn insert_entries(netns: Option<&str>, entries: impl Iterator<Item = Entry>, batch: usize) -> Result<(u64, Option<String>), CtError> {
    let fd = open_socket(netns, 0, false)?;
    let mut buf = vec![0u8; RECV_BUFFER_BYTES];
    let mut result = (0u64, None);
    let mut b = MessageBuilder::new();
    let (mut seq, mut pending) = (0u32, 0usize);
    for e in entries {
        seq += 1;
        b.create_entry(seq, &e);
        pending += 1;
        if pending == batch {
            send_batch(&fd, &mut b, seq, &mut buf, &mut result)?;
            pending = 0;
        }
    }
    if pending > 0 {
        send_batch(&fd, &mut b, seq, &mut buf, &mut result)?;
    }
    Ok(result)
}

/// Sends the batched messages, the last one with NLM_F_ACK, and reads replies until that ACK
/// (errors of earlier messages arrive before it).
fn send_batch(fd: &OwnedFd, b: &mut MessageBuilder, last_seq: u32, buf: &mut [u8], result: &mut (u64, Option<String>)) -> Result<(), CtError> {
    mark_ack(b);
    sys::send_all(fd.as_raw_fd(), &b.buf).map_err(|e| io_error(e, "ctnetlink insert"))?;
    b.buf.clear();
    loop {
        let n = sys::recv_datagram(fd.as_raw_fd(), buf, false).map_err(|e| io_error(e, "ctnetlink insert"))?.unwrap_or(0);
        let mut acked = false;
        for msg in messages(&buf[..n]).flatten() {
            if msg.ty != NLMSG_ERROR {
                continue;
            }
            let errno = msg.payload.get(..4).map(|x| i32::from_ne_bytes(x.try_into().unwrap())).unwrap_or(0);
            if errno == -sys::EPERM {
                return Err(classify(sys::EPERM, "ctnetlink insert"));
            }
            if errno != 0 {
                result.0 += 1;
                result.1.get_or_insert_with(|| io::Error::from_raw_os_error(-errno).to_string());
            }
            acked |= msg.seq == last_seq;
        }
        if acked {
            return Ok(());
        }
    }
}

/// Sets NLM_F_ACK on the last message in the builder.
fn mark_ack(b: &mut MessageBuilder) {
    let mut off = 0;
    let mut last = None;
    while off + 16 <= b.buf.len() {
        last = Some(off);
        let len = u32::from_ne_bytes(b.buf[off..off + 4].try_into().unwrap()) as usize;
        off += align4(len.max(16));
    }
    if let Some(o) = last {
        let flags = u16::from_ne_bytes([b.buf[o + 6], b.buf[o + 7]]) | NLM_F_ACK;
        b.buf[o + 6..o + 8].copy_from_slice(&flags.to_ne_bytes());
    }
}
