//! DNS names for external addresses: a capture of DNS responses (UDP and TCP with source port
//! 53, filtered in the kernel), parsed (`message`) into address → queried-name pairs kept in a
//! bounded, TTL-honouring cache (`cache`) that the `dnsnames` processor queries.
//!
//! DNS over TCP is reassembled per stream (in order; a gap or a retransmission past the
//! expected sequence number resynchronises on the next segment, which is assumed to start a
//! message). Streams are bounded (`MAX_STREAMS`, idle ones dropped after `STREAM_IDLE_NS`).
//!
//! A response that crosses several captured interfaces (interface `any` on a node: in on one
//! veth, out on another or on the uplink) is captured once per interface. NAT may rewrite its
//! addresses and ports on the way, never its DNS message, so a message whose exact bytes (id,
//! question, answers, TTLs) were seen less than `DUPLICATE_WINDOW_NS` ago is a copy: it is
//! counted as a duplicate and not parsed again.

pub mod cache;
pub mod message;

use crate::entry::{PROTO_TCP, PROTO_UDP};
use crate::packet::capture::{Capture, CaptureOptions, FrameHandler};
use crate::packet::filter::FilterSpec;
use crate::packet::parse::{parse_frame, Link, PacketInfo, Parsed, TCP_FIN, TCP_RST, TCP_SYN};
use crate::packet::ring::{Frame, RingConfig};
use cache::NameCache;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use crate::js::{Fields, FromJs, JsValue};
use crate::source::Handle;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const MAX_STREAMS: usize = 1024;
const STREAM_IDLE_NS: u64 = 30_000_000_000;
/// A DNS message is at most 65,535 bytes plus its 2-byte length prefix.
const MAX_STREAM_BUFFER: usize = 65_537;
/// Copies of one response on several interfaces arrive microseconds apart; a resolver's retry
/// of a lost answer comes a second or more later and is a response of its own.
const DUPLICATE_WINDOW_NS: u64 = 500_000_000;
/// Messages remembered for the duplicate check (the oldest go first beyond this).
const MAX_RECENT_MESSAGES: usize = 8192;

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsCounts {
    pub responses: u64,
    pub names: u64,
    pub bad_messages: u64,
    pub malformed_frames: u64,
    pub tcp_resyncs: u64,
    /// Copies of a response already read (the same message on another interface).
    pub duplicates: u64,
}

/// The messages read in the last `DUPLICATE_WINDOW_NS`, by a keyed hash of their bytes
/// (random keys: the messages are not ours to choose, so collisions must not be either).
struct RecentMessages {
    keys: RandomState,
    /// hash → when it was read.
    seen: HashMap<u64, u64>,
    /// (when, hash) in reading order, to forget the old ones.
    order: VecDeque<(u64, u64)>,
}

impl RecentMessages {
    fn new() -> RecentMessages {
        RecentMessages { keys: RandomState::new(), seen: HashMap::new(), order: VecDeque::new() }
    }

    /// True when the same bytes were read less than the window ago; else remembers them.
    fn is_copy(&mut self, msg: &[u8], now_ns: u64) -> bool {
        while let Some(&(at, hash)) = self.order.front() {
            if now_ns.saturating_sub(at) < DUPLICATE_WINDOW_NS && self.order.len() < MAX_RECENT_MESSAGES {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&hash) == Some(&at) {
                self.seen.remove(&hash);
            }
        }
        let hash = self.keys.hash_one(msg);
        if matches!(self.seen.get(&hash), Some(&at) if now_ns.saturating_sub(at) < DUPLICATE_WINDOW_NS) {
            return true;
        }
        self.seen.insert(hash, now_ns);
        self.order.push_back((now_ns, hash));
        false
    }
}

/// The cache and the clock it runs on, shared by the capture thread and lookups.
pub struct Names {
    pub cache: NameCache,
    epoch: Instant,
    pub counts: DnsCounts,
    recent: RecentMessages,
}

impl Names {
    pub fn new(cache: NameCache) -> Names {
        Names { cache, epoch: Instant::now(), counts: DnsCounts::default(), recent: RecentMessages::new() }
    }
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    /// Inserts the pairs of one DNS message; bad messages and copies are counted.
    pub fn message(&mut self, msg: &[u8], now_ns: u64) {
        if self.recent.is_copy(msg, now_ns) {
            self.counts.duplicates += 1;
            return;
        }
        match message::parse_response(msg) {
            Ok(pairs) => {
                self.counts.responses += 1;
                for r in pairs {
                    self.cache.insert(r.address, &r.name, r.ttl_s, now_ns);
                    self.counts.names += 1;
                }
            }
            Err(message::DnsError::NotAResponse) => {}
            Err(_) => self.counts.bad_messages += 1,
        }
    }
    /// Names for `addresses` (one per line); unknown or unparsable addresses give "".
    pub fn lookup_lines(&self, addresses: &str) -> String {
        let now = self.now_ns();
        let mut out = String::new();
        for (i, line) in addresses.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if let Ok(ip) = line.trim().parse::<IpAddr>() {
                if let Some(name) = self.cache.lookup(&ip, now) {
                    out.push_str(&name);
                }
            }
        }
        out
    }
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct StreamKey {
    src: [u8; 16],
    dst: [u8; 16],
    src_port: u16,
    dst_port: u16,
}

struct Stream {
    next_seq: u32,
    buf: Vec<u8>,
    last_ns: u64,
}

/// The capture's frame handler: UDP payloads are messages, TCP payloads are reassembled.
pub struct DnsWatcher {
    names: Arc<Mutex<Names>>,
    streams: HashMap<StreamKey, Stream>,
}

impl DnsWatcher {
    pub fn new(names: Arc<Mutex<Names>>) -> DnsWatcher {
        DnsWatcher { names, streams: HashMap::new() }
    }

    pub fn frame_bytes(&mut self, data: &[u8], wire_len: usize, link: Link) {
        let shared = self.names.clone();
        let Ok(mut names) = shared.lock() else { return };
        let now = names.now_ns();
        let p = match parse_frame(data, wire_len, link) {
            Parsed::Ip(p) if p.has_ports && p.src_port == 53 => p,
            Parsed::Malformed(_) => {
                names.counts.malformed_frames += 1;
                return;
            }
            _ => return,
        };
        let end = (p.payload_offset + p.payload_len).min(data.len());
        let payload = &data[p.payload_offset.min(end)..end];
        match p.protocol {
            PROTO_UDP => names.message(payload, now),
            PROTO_TCP => self.tcp_segment(&mut names, &p, payload, now),
            _ => {}
        }
    }

    fn tcp_segment(&mut self, names: &mut Names, p: &PacketInfo, payload: &[u8], now: u64) {
        let key = StreamKey { src: p.src, dst: p.dst, src_port: p.src_port, dst_port: p.dst_port };
        if p.tcp_flags & (TCP_FIN | TCP_RST) != 0 && payload.is_empty() {
            self.streams.remove(&key);
            return;
        }
        let data_seq = p.tcp_seq.wrapping_add(u32::from(p.tcp_flags & TCP_SYN != 0));
        if payload.is_empty() && p.tcp_flags & TCP_SYN == 0 {
            return;
        }
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            self.streams.retain(|_, s| now.saturating_sub(s.last_ns) < STREAM_IDLE_NS);
            if self.streams.len() >= MAX_STREAMS {
                return;
            }
        }
        let s = self.streams.entry(key).or_insert(Stream { next_seq: data_seq, buf: Vec::new(), last_ns: now });
        s.last_ns = now;
        if data_seq != s.next_seq {
            // Behind: a retransmission of what we have. Ahead: bytes were lost; start over.
            if (data_seq.wrapping_sub(s.next_seq) as i32) < 0 {
                return;
            }
            s.buf.clear();
            names.counts.tcp_resyncs += 1;
        }
        s.next_seq = data_seq.wrapping_add(payload.len() as u32);
        s.buf.extend_from_slice(payload);
        let mut at = 0;
        while s.buf.len() >= at + 2 {
            let len = usize::from(u16::from_be_bytes([s.buf[at], s.buf[at + 1]]));
            if s.buf.len() < at + 2 + len {
                break;
            }
            names.message(&s.buf[at + 2..at + 2 + len], now);
            at += 2 + len;
        }
        s.buf.drain(..at);
        if s.buf.len() > MAX_STREAM_BUFFER {
            s.buf.clear();
        }
        if p.tcp_flags & (TCP_FIN | TCP_RST) != 0 {
            self.streams.remove(&key);
        }
    }
}

impl FrameHandler for DnsWatcher {
    fn frame(&mut self, f: &Frame<'_>) {
        self.frame_bytes(f.data, f.wire_len as usize, Link::from_hatype(f.hatype));
    }
}

pub struct DnsOptions {
    pub netns: Option<String>,
    pub interface: String,
    pub max_entries: usize,
    pub ttl_floor_s: u64,
    pub ring_bytes: u64,
}

/// `{ netns, interface, maxEntries, ttlFloorS, ringBytes }` (src/native/ DnsOptions).
impl FromJs for DnsOptions {
    fn from_js(value: &JsValue) -> Result<DnsOptions, String> {
        let o = Fields::of("dns options", value)?;
        Ok(DnsOptions {
            netns: o.opt_string("netns")?,
            interface: o.string("interface")?,
            max_entries: o.integer("maxEntries", 1, 1 << 32)? as usize,
            ttl_floor_s: o.integer("ttlFloorS", 0, 1 << 32)?,
            ring_bytes: o.integer("ringBytes", 0, 1 << 40)?,
        })
    }
}

js_object! {
    /// Parser and cache counts since the capture started (src/native/ DnsStatus).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DnsStatus {
        pub responses: u64 => "responses",
        pub names: u64 => "names",
        pub bad_messages: u64 => "badMessages",
        pub malformed_frames: u64 => "malformedFrames",
        pub tcp_resyncs: u64 => "tcpResyncs",
        /// Copies of a response already read (captured again on another interface).
        pub duplicates: u64 => "duplicates",
        /// Addresses in the cache now (expired ones purged first).
        pub entries: usize => "entries",
        pub evictions: u64 => "evictions",
        pub expired: u64 => "expired",
    }
}

/// What the `dnsnames` processor holds: the running capture and the address → name cache it
/// fills. Not a flow source: it is asked for names (`lookup_lines`), not ticked. Dropping it
/// stops the capture thread and closes the socket.
pub struct DnsNames {
    names: Arc<Mutex<Names>>,
    _capture: Capture,
}

impl DnsNames {
    fn names(&self) -> Result<std::sync::MutexGuard<'_, Names>, String> {
        self.names.lock().map_err(|_| "dns cache poisoned by an earlier panic".to_string())
    }

    /// Names for `addresses` (one per line); one name per line, "" when unknown.
    pub fn lookup_lines(&self, addresses: &str) -> Result<String, String> {
        Ok(self.names()?.lookup_lines(addresses))
    }
}

impl Handle for DnsNames {
    const NAME: &'static str = "dns";
    type Options = DnsOptions;
    type Status = DnsStatus;

    /// Starts the capture: DNS responses are read from now on.
    fn open(o: DnsOptions) -> Result<DnsNames, String> {
        let names = Arc::new(Mutex::new(Names::new(NameCache::new(o.max_entries, o.ttl_floor_s))));
        let watcher = Arc::new(Mutex::new(DnsWatcher::new(names.clone())));
        let capture = Capture::start(
            CaptureOptions { netns: o.netns, interface: o.interface, filter: FilterSpec::dns_responses(65_535), ring: RingConfig::with_size(o.ring_bytes, 10) },
            watcher,
        )?;
        Ok(DnsNames { names, _capture: capture })
    }

    fn status(&self) -> Result<DnsStatus, String> {
        let mut n = self.names()?;
        let now = n.now_ns();
        n.cache.purge(now);
        let c = n.counts;
        Ok(DnsStatus {
            responses: c.responses,
            names: c.names,
            bad_messages: c.bad_messages,
            malformed_frames: c.malformed_frames,
            tcp_resyncs: c.tcp_resyncs,
            duplicates: c.duplicates,
            entries: n.cache.len(),
            evictions: n.cache.evictions,
            expired: n.cache.expired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::message::build::{response, Answer};
    use super::*;

    fn frame(proto: u8, sport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let l4_len = if proto == PROTO_TCP { 20 } else { 8 };
        let total = 20 + l4_len + payload.len();
        let mut f = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 53, 10, 0, 0, 2]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&40000u16.to_be_bytes());
        if proto == PROTO_TCP {
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(payload);
        f
    }

    fn lookup(w: &DnsWatcher, a: &str) -> String {
        w.names.lock().unwrap().lookup_lines(a)
    }

    #[test]
    fn udp_and_tcp_split_across_segments() {
        let names = Arc::new(Mutex::new(Names::new(NameCache::new(100, 60))));
        let mut w = DnsWatcher::new(names.clone());
        let udp = response(1, "api.test", 1, &[Answer::A("api.test", [203, 0, 113, 5], 30)]);
        let f = frame(PROTO_UDP, 53, 0, 0, &udp);
        w.frame_bytes(&f, f.len(), Link::Ethernet);
        assert_eq!(lookup(&w, "203.0.113.5\n203.0.113.6"), "api.test\n");
        // Two messages over TCP, the second split across segments, after a SYN-ACK.
        let m1 = response(2, "a.test", 1, &[Answer::A("a.test", [198, 51, 100, 1], 30)]);
        let m2 = response(3, "b.test", 28, &[Answer::Cname("b.test", "c.test", 30), Answer::Aaaa("c.test", [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 30)]);
        let mut stream = Vec::new();
        for m in [&m1, &m2] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let cut = m1.len() + 2 + 7;
        let syn_ack = frame(PROTO_TCP, 53, 999, TCP_SYN | 0x10, &[]);
        w.frame_bytes(&syn_ack, syn_ack.len(), Link::Ethernet);
        let s1 = frame(PROTO_TCP, 53, 1000, 0x10, &stream[..cut]);
        let s2 = frame(PROTO_TCP, 53, 1000 + cut as u32, 0x10, &stream[cut..]);
        w.frame_bytes(&s1, s1.len(), Link::Ethernet);
        assert_eq!(lookup(&w, "198.51.100.1"), "a.test");
        assert_eq!(lookup(&w, "2001:db8::2"), "");
        w.frame_bytes(&s1, s1.len(), Link::Ethernet); // retransmission: ignored
        w.frame_bytes(&s2, s2.len(), Link::Ethernet);
        assert_eq!(lookup(&w, "2001:db8::2"), "b.test");
        let n = names.lock().unwrap();
        assert_eq!((n.counts.responses, n.counts.names, n.counts.bad_messages, n.counts.tcp_resyncs), (3, 3, 0, 0));
    }

    #[test]
    fn a_response_seen_on_two_interfaces_is_read_once() {
        let mut names = Names::new(NameCache::new(100, 60));
        let a = response(7, "api.test", 1, &[Answer::A("api.test", [203, 0, 113, 5], 30)]);
        let other_id = response(8, "api.test", 1, &[Answer::A("api.test", [203, 0, 113, 5], 30)]);
        let other_answer = response(7, "api.test", 1, &[Answer::A("api.test", [203, 0, 113, 6], 30)]);
        names.message(&a, 1_000);
        names.message(&a, 2_000); // the same bytes on the next interface
        names.message(&other_id, 3_000);
        names.message(&other_answer, 4_000);
        assert_eq!((names.counts.responses, names.counts.names, names.counts.duplicates), (3, 3, 1));
        // After the window the same bytes are a response of their own (a resolver's retry).
        names.message(&a, 1_000 + DUPLICATE_WINDOW_NS);
        assert_eq!((names.counts.responses, names.counts.duplicates), (4, 1));
        // The memory is bounded: the oldest are forgotten first.
        for i in 0..(MAX_RECENT_MESSAGES as u16 + 10) {
            let m = response(i, "x.test", 1, &[Answer::A("x.test", [203, 0, 113, 7], 30)]);
            names.message(&m, 2 * DUPLICATE_WINDOW_NS);
        }
        assert!(names.recent.order.len() <= MAX_RECENT_MESSAGES && names.recent.seen.len() <= MAX_RECENT_MESSAGES);
    }
}
