//! Layout templates for dump messages: the kernel writes entries of one kind (family,
//! protocol, extensions) with the same attributes, lengths and nesting, so where one message
//! had its fields the next one of that kind has them too. A template records, from one message
//! the decoder walked, every attribute header the walk read (offset → header word) and where
//! each field's value was. A later message decodes through it when it has the same length and
//! the same header word at every recorded offset — then the attribute walk would visit exactly
//! the same places, so reading the fields straight from their offsets gives the same entry,
//! for ~1/5 of the instructions. Any difference (another kind, a corrupted header) misses and
//! the message takes the walking decoder ([`super::parse::parse_conntrack`]).
//!
//! Learned only from plain messages: every field attribute present at most once, no ICMP
//! type/code (which combine two attributes into one field). Others always take the walk.

use super::*;
use crate::entry::{Entry, FAMILY_IPV4, FAMILY_IPV6};

/// Offset of a field's value in the payload; 0 = absent (no value starts at offset 0, which
/// holds the nfgenmsg).
type At = u16;

#[derive(Default, Clone, Copy, Debug)]
struct TupleAt {
    src: At,
    dst: At,
    protocol: At,
    src_port: At,
    dst_port: At,
}

#[derive(Default, Clone, Copy, Debug)]
struct CountersAt {
    packets: At,
    bytes: At,
    /// 32-bit COUNTERS32_* attributes (old kernels) instead of 64-bit ones.
    packets32: bool,
    bytes32: bool,
}

#[derive(Clone, Debug)]
pub struct Template {
    payload_len: usize,
    family: u8,
    /// The bytes of every attribute header the walk reads, as 8-byte words over the payload:
    /// `mask` selects header bytes, `expected` holds their values (masked). Comparing whole
    /// words (no per-header branch) is what makes the check cheap. The last `len % 8` bytes
    /// form one more, zero-extended word.
    mask: Vec<u64>,
    expected: Vec<u64>,
    original: TupleAt,
    reply: TupleAt,
    status: At,
    timeout: At,
    mark: At,
    id: At,
    zone: At,
    original_counters: CountersAt,
    reply_counters: CountersAt,
}

#[inline(always)]
fn word_at(p: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(p[at..at + 4].try_into().unwrap())
}

/// Records one value offset; false when the field was already set (a duplicate).
fn record(slot: &mut At, at: usize) -> bool {
    if *slot != 0 {
        return false;
    }
    *slot = at as At;
    true
}

/// Walks the attributes in `p[start..end]` as the decoder does, recording headers; calls
/// `f(type, payload start, payload end)`. None when malformed or `f` refuses.
fn walk(p: &[u8], start: usize, end: usize, headers: &mut Vec<(At, u32)>, mut f: impl FnMut(&mut Vec<(At, u32)>, u16, usize, usize) -> bool) -> Option<()> {
    let mut off = start;
    while off < end {
        if end - off < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([p[off], p[off + 1]]) as usize;
        if len < 4 || len > end - off {
            return None;
        }
        headers.push((off as At, word_at(p, off)));
        let ty = u16::from_ne_bytes([p[off + 2], p[off + 3]]) & 0x3fff;
        if !f(headers, ty, off + 4, off + len) {
            return None;
        }
        off += align4(len);
    }
    Some(())
}

fn learn_tuple(p: &[u8], start: usize, end: usize, family: u8, headers: &mut Vec<(At, u32)>, t: &mut TupleAt) -> bool {
    let v4 = family == FAMILY_IPV4;
    let addr_len = if v4 { 4 } else { 16 };
    walk(p, start, end, headers, |headers, ty, s, e| match ty {
        CTA_TUPLE_IP => walk(p, s, e, headers, |_, ip_ty, a, ae| {
            let slot = match (ip_ty, v4) {
                (CTA_IP_V4_SRC, true) | (CTA_IP_V6_SRC, false) => &mut t.src,
                (CTA_IP_V4_DST, true) | (CTA_IP_V6_DST, false) => &mut t.dst,
                _ => return true,
            };
            ae - a >= addr_len && record(slot, a)
        })
        .is_some(),
        CTA_TUPLE_PROTO => walk(p, s, e, headers, |_, pty, v, ve| match pty {
            CTA_PROTO_NUM => ve > v && record(&mut t.protocol, v),
            CTA_PROTO_SRC_PORT => ve - v >= 2 && record(&mut t.src_port, v),
            CTA_PROTO_DST_PORT => ve - v >= 2 && record(&mut t.dst_port, v),
            CTA_PROTO_ICMP_ID..=CTA_PROTO_ICMPV6_CODE => false,
            _ => true,
        })
        .is_some(),
        _ => true,
    })
    .is_some()
        && t.src != 0
        && t.dst != 0
        && t.protocol != 0
}

fn learn_counters(p: &[u8], start: usize, end: usize, headers: &mut Vec<(At, u32)>, c: &mut CountersAt) -> bool {
    walk(p, start, end, headers, |_, ty, v, ve| match ty {
        CTA_COUNTERS_PACKETS => ve - v >= 8 && record(&mut c.packets, v),
        CTA_COUNTERS_BYTES => ve - v >= 8 && record(&mut c.bytes, v),
        CTA_COUNTERS32_PACKETS => ve - v >= 4 && record(&mut c.packets, v) && {
            c.packets32 = true;
            true
        },
        CTA_COUNTERS32_BYTES => ve - v >= 4 && record(&mut c.bytes, v) && {
            c.bytes32 = true;
            true
        },
        _ => true,
    })
    .is_some()
}

impl Template {
    /// The template of `payload` (a message the walking decoder accepted), or None when the
    /// message is not plain enough to be one.
    pub fn learn(payload: &[u8]) -> Option<Template> {
        let family = match *payload.first()? {
            AF_INET => FAMILY_IPV4,
            AF_INET6 => FAMILY_IPV6,
            _ => return None,
        };
        if payload.len() < NFGENMSG_LEN || payload.len() > usize::from(At::MAX) {
            return None;
        }
        let mut t = Template {
            payload_len: payload.len(),
            family: payload[0],
            mask: Vec::new(),
            expected: Vec::new(),
            original: TupleAt::default(),
            reply: TupleAt::default(),
            status: 0,
            timeout: 0,
            mark: 0,
            id: 0,
            zone: 0,
            original_counters: CountersAt::default(),
            reply_counters: CountersAt::default(),
        };
        let (mut original, mut reply) = (t.original, t.reply);
        let (mut oc, mut rc) = (t.original_counters, t.reply_counters);
        let (mut status, mut timeout, mut mark, mut id, mut zone) = (0, 0, 0, 0, 0);
        let (mut seen_orig, mut seen_reply, mut seen_oc, mut seen_rc) = (false, false, false, false);
        let mut headers = Vec::with_capacity(32);
        walk(payload, NFGENMSG_LEN, payload.len(), &mut headers, |headers, ty, s, e| {
            let once = |seen: &mut bool| !std::mem::replace(seen, true);
            match ty {
                CTA_TUPLE_ORIG => once(&mut seen_orig) && learn_tuple(payload, s, e, family, headers, &mut original),
                CTA_TUPLE_REPLY => once(&mut seen_reply) && learn_tuple(payload, s, e, family, headers, &mut reply),
                CTA_STATUS => e - s >= 4 && record(&mut status, s),
                CTA_TIMEOUT => e - s >= 4 && record(&mut timeout, s),
                CTA_MARK => e - s >= 4 && record(&mut mark, s),
                CTA_ID => e - s >= 4 && record(&mut id, s),
                CTA_ZONE => e - s >= 2 && record(&mut zone, s),
                CTA_COUNTERS_ORIG => once(&mut seen_oc) && learn_counters(payload, s, e, headers, &mut oc),
                CTA_COUNTERS_REPLY => once(&mut seen_rc) && learn_counters(payload, s, e, headers, &mut rc),
                _ => true,
            }
        })?;
        if !seen_orig || !seen_reply {
            return None;
        }
        let mut mask = vec![0u8; payload.len().div_ceil(8) * 8];
        for &(at, _) in &headers {
            mask[usize::from(at)..usize::from(at) + 4].fill(0xff);
        }
        let mut padded = payload.to_vec();
        padded.resize(mask.len(), 0);
        let words = |b: &[u8]| b.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap())).collect::<Vec<u64>>();
        t.mask = words(&mask);
        t.expected = words(&padded).iter().zip(&t.mask).map(|(v, m)| v & m).collect();
        (t.original, t.reply, t.original_counters, t.reply_counters) = (original, reply, oc, rc);
        (t.status, t.timeout, t.mark, t.id, t.zone) = (status, timeout, mark, id, zone);
        Some(t)
    }

    /// Decodes `payload` into `out` when it has this template's layout; false (and `out`
    /// untouched) when not.
    #[inline]
    pub fn decode_into(&self, payload: &[u8], out: &mut Entry) -> bool {
        if payload.len() != self.payload_len || payload[0] != self.family {
            return false;
        }
        let whole = payload.chunks_exact(8);
        let rest = whole.remainder();
        let mut diff = 0u64;
        for ((c, m), x) in whole.zip(&self.mask).zip(&self.expected) {
            diff |= (u64::from_ne_bytes(c.try_into().unwrap()) & m) ^ x;
        }
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            let i = self.mask.len() - 1;
            diff |= (u64::from_ne_bytes(last) & self.mask[i]) ^ self.expected[i];
        }
        if diff != 0 {
            return false;
        }
        self.fill(payload, out);
        true
    }

    /// Reads the fields from their offsets (the layout has been checked).
    #[inline(always)]
    fn fill(&self, p: &[u8], out: &mut Entry) {
        #[inline(always)]
        fn bytes<const N: usize>(p: &[u8], at: At) -> [u8; N] {
            p[usize::from(at)..usize::from(at) + N].try_into().unwrap()
        }
        let u16_at = |at: At| if at == 0 { 0 } else { u16::from_be_bytes(bytes(p, at)) };
        let u32_at = |at: At| if at == 0 { 0 } else { u32::from_be_bytes(bytes(p, at)) };
        let u64_at = |at: At, narrow: bool| match (at, narrow) {
            (0, _) => 0,
            (_, true) => u64::from(u32::from_be_bytes(bytes(p, at))),
            (_, false) => u64::from_be_bytes(bytes(p, at)),
        };
        let v4 = self.family == AF_INET;
        let addr = |at: At| -> [u8; 16] {
            if v4 {
                let mut a = [0u8; 16];
                a[..4].copy_from_slice(&bytes::<4>(p, at));
                a
            } else {
                bytes(p, at)
            }
        };
        for (t, at) in [(&mut out.original, &self.original), (&mut out.reply, &self.reply)] {
            t.family = if v4 { FAMILY_IPV4 } else { FAMILY_IPV6 };
            t.protocol = p[usize::from(at.protocol)];
            t.src = addr(at.src);
            t.dst = addr(at.dst);
            t.src_port = u16_at(at.src_port);
            t.dst_port = u16_at(at.dst_port);
        }
        for (c, at) in [(&mut out.original_counters, &self.original_counters), (&mut out.reply_counters, &self.reply_counters)] {
            c.packets = u64_at(at.packets, at.packets32);
            c.bytes = u64_at(at.bytes, at.bytes32);
        }
        out.status = u32_at(self.status);
        out.timeout = u32_at(self.timeout);
        out.mark = u32_at(self.mark);
        out.zone = u16_at(self.zone);
        out.id = u32_at(self.id);
    }

    /// The entry of `payload` when it has this template's layout.
    pub fn decode(&self, payload: &[u8]) -> Option<Entry> {
        let mut e = Entry::default();
        self.decode_into(payload, &mut e).then_some(e)
    }
}

/// Templates of the kinds of message seen recently (a table mixes TCP, UDP, IPv4, IPv6).
pub struct Templates {
    slots: Vec<Template>,
    next: usize,
    /// Misses to let pass without trying to learn, after a message that could not be learned
    /// (ICMP, unusual): so a stream of those does not pay for learning each time.
    cooldown: u32,
    /// Templates learned so far; capped, so a batch mixing more kinds than there are slots
    /// costs at most a few learning walks more than plain walking.
    learned: u32,
}

/// Slots: kinds decoded through templates at once (e.g. TCP and UDP, IPv4 and IPv6).
const TEMPLATES: usize = 4;
const LEARN_COOLDOWN: u32 = 16;
/// Learning costs about two walks; a `Templates` lives for one datagram (~170 entries).
const MAX_LEARNED: u32 = 8;

impl Default for Templates {
    fn default() -> Self {
        Templates { slots: Vec::with_capacity(TEMPLATES), next: 0, cooldown: 0, learned: 0 }
    }
}

impl Templates {
    /// Decodes one conntrack message payload into `out`: through a matching template, else by
    /// walking its attributes (and learning its layout).
    #[inline]
    pub fn decode_into(&mut self, payload: &[u8], out: &mut Entry) -> Result<(), String> {
        for t in &self.slots {
            if t.decode_into(payload, out) {
                return Ok(());
            }
        }
        *out = self.decode_and_learn(payload)?;
        Ok(())
    }

    pub fn decode(&mut self, payload: &[u8]) -> Result<Entry, String> {
        let mut e = Entry::default();
        self.decode_into(payload, &mut e).map(|()| e)
    }

    #[inline(never)]
    fn decode_and_learn(&mut self, payload: &[u8]) -> Result<Entry, String> {
        let entry = super::parse::parse_conntrack(payload)?;
        if self.cooldown > 0 || self.learned >= MAX_LEARNED {
            self.cooldown = self.cooldown.saturating_sub(1);
            return Ok(entry);
        }
        match Template::learn(payload) {
            Some(t) => {
                self.learned += 1;
                if self.slots.len() < TEMPLATES {
                    self.slots.push(t);
                } else {
                    self.slots[self.next] = t;
                    self.next = (self.next + 1) % TEMPLATES;
                }
            }
            None => self.cooldown = LEARN_COOLDOWN,
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Counters, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
    use crate::netlink::builder::MessageBuilder;
    use crate::netlink::parse::parse_fast;

    fn payload(e: &Entry) -> Vec<u8> {
        let mut b = MessageBuilder::new();
        b.entry(IPCTNL_MSG_CT_NEW, 0, 1, e);
        b.buf[NLMSG_HDRLEN..].to_vec()
    }

    /// Messages decoded through a template learned from another message equal the walking
    /// decoder's result, or miss — for same-kind, other-kind and corrupted messages.
    #[test]
    fn template_decoding_equals_walking() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let kind = |i: u64, rand: &mut dyn FnMut() -> u64| {
            let mut e = crate::testdata::synthetic_entry(i);
            e.id = rand() as u32;
            e.status = rand() as u32;
            e.original_counters = Counters { packets: rand() >> 20, bytes: rand() };
            e.reply_counters = Counters { packets: rand(), bytes: rand() >> 3 };
            match i % 4 {
                0 => {}
                1 => {
                    e.original.protocol = PROTO_TCP;
                    e.reply.protocol = PROTO_TCP;
                    e.zone = 1 + (rand() % 100) as u16;
                }
                2 => {
                    for t in [&mut e.original, &mut e.reply] {
                        t.family = FAMILY_IPV6;
                        t.src[15] = rand() as u8;
                        t.dst[3] = rand() as u8;
                    }
                }
                _ => {
                    let proto = if rand() % 2 == 0 { PROTO_ICMP } else { PROTO_ICMPV6 };
                    e.original.protocol = proto;
                    e.reply.protocol = proto;
                }
            }
            e
        };
        let (mut hits, mut misses) = (0u32, 0u32);
        for i in 0..50_000u64 {
            let a = kind(i, &mut rand);
            let learned = Template::learn(&payload(&a));
            assert_eq!(learned.is_none(), a.original.is_icmp(), "only ICMP messages are not learned");
            let Some(t) = learned else { continue };
            assert_eq!(t.decode(&payload(&a)).as_ref(), Some(&a));
            let b = kind(i + 4 * (rand() % 3), &mut rand); // same kind
            let c = kind(i + 1 + rand() % 3, &mut rand); // another kind
            for other in [b, c] {
                let mut p = payload(&other);
                if rand() % 2 == 0 {
                    for _ in 0..1 + rand() % 2 {
                        let at = rand() as usize % p.len();
                        p[at] ^= 1 << (rand() % 8);
                    }
                }
                match t.decode(&p) {
                    Some(e) => {
                        hits += 1;
                        assert_eq!(Some(&e), parse_fast(&p).as_ref(), "message {i}");
                        // Decoding into a reused entry overwrites every field.
                        let mut dirty = kind(i + 2, &mut rand);
                        dirty.original.src = [0xff; 16];
                        dirty.reply.dst = [0xff; 16];
                        assert!(t.decode_into(&p, &mut dirty));
                        assert_eq!(dirty, e);
                    }
                    None => misses += 1,
                }
            }
        }
        assert!(hits > 10_000 && misses > 10_000, "hits {hits}, misses {misses}");
    }

    /// More kinds than slots, interleaved: every message still decodes as the walk says, and
    /// learning stops at the cap.
    #[test]
    fn many_kinds_decode_correctly_and_learning_is_capped() {
        let mut t = Templates::default();
        for i in 0..400u64 {
            let mut e = crate::testdata::synthetic_entry(i);
            e.zone = (i % 7) as u16; // 7 kinds: no zone attribute, or one of 6 zones (same layout)
            e.mark = (i % 3) as u32;
            if i % 2 == 0 {
                for t in [&mut e.original, &mut e.reply] {
                    t.family = FAMILY_IPV6;
                }
            }
            if i % 5 == 0 {
                e.original.protocol = PROTO_TCP;
                e.reply.protocol = PROTO_TCP;
            }
            let p = payload(&e);
            assert_eq!(t.decode(&p).unwrap(), e, "message {i}");
        }
        assert!(t.learned <= MAX_LEARNED);
    }

    #[test]
    fn duplicated_fields_are_not_learned() {
        let e = crate::testdata::synthetic_entry(1);
        let mut b = MessageBuilder::new();
        b.begin_message(ctnetlink_type(IPCTNL_MSG_CT_NEW), 0, 1, AF_INET);
        b.tuple(CTA_TUPLE_ORIG, &e.original);
        b.tuple(CTA_TUPLE_REPLY, &e.reply);
        b.attr(CTA_ID, &7u32.to_be_bytes());
        b.attr(CTA_ID, &8u32.to_be_bytes());
        b.end_message();
        let p = &b.buf[NLMSG_HDRLEN..];
        assert!(Template::learn(p).is_none());
        // The walking decoder takes the last one; through Templates the result is the same.
        assert_eq!(Templates::default().decode(p).unwrap().id, 8);
    }
}
