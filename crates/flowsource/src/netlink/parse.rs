//! Decoding of one ctnetlink conntrack message (IPCTNL_MSG_CT_NEW from a dump,
//! IPCTNL_MSG_CT_DELETE from a destroy event) into an [`Entry`].
//!
//! Payload layout after the nlmsghdr:
//!
//! ```text
//! nfgenmsg (4)  family (AF_INET=2 | AF_INET6=10), version, res_id
//! CTA_TUPLE_ORIG (1, nested) / CTA_TUPLE_REPLY (2, nested)
//!     CTA_TUPLE_IP (1, nested):    CTA_IP_V4_SRC/DST (1,2: 4 bytes) | CTA_IP_V6_SRC/DST (3,4: 16 bytes)
//!     CTA_TUPLE_PROTO (2, nested): CTA_PROTO_NUM (1: u8), SRC/DST_PORT (2,3: u16 BE),
//!                                  ICMP id/type/code (4,5,6), ICMPv6 id/type/code (7,8,9)
//! CTA_STATUS (3: u32 BE)  CTA_TIMEOUT (7: u32 BE seconds)  CTA_MARK (8: u32 BE)
//! CTA_COUNTERS_ORIG / CTA_COUNTERS_REPLY (9, 10, nested): PACKETS (1: u64 BE), BYTES (2: u64 BE)
//!     (or the 32-bit COUNTERS32_PACKETS/BYTES, 3 and 4, from old kernels)
//! CTA_ID (12: u32 BE)  CTA_ZONE (18: u16 BE)
//! ```
//! Unknown attributes are skipped. Counters are absent when nf_conntrack_acct is off (zero).
//!
//! Two decoders with the same rules: [`parse_fast`], the hot path of every dump (no error
//! text, attribute walks inlined, ~4× cheaper), and the checked one, which runs only when the
//! fast one refuses a message, to say what is wrong with it.

use super::attr::{attrs, be_u16, be_u32, be_u64, u8_of, Attr};
use super::*;
use crate::entry::{Counters, Entry, Tuple, FAMILY_IPV4, FAMILY_IPV6};

/// Parses the payload (nfgenmsg + attributes) of a conntrack message.
#[inline]
pub fn parse_conntrack(payload: &[u8]) -> Result<Entry, String> {
    match parse_fast(payload) {
        Some(e) => Ok(e),
        None => parse_checked(payload),
    }
}

/// The attribute at the start of `rest`: (type without flag bits, total length), or None
/// when its header is cut short or its length is below 4 or past the end.
#[inline(always)]
fn attr_at(rest: &[u8]) -> Option<(u16, usize)> {
    let [l0, l1, t0, t1, ..] = *rest else { return None };
    let len = u16::from_ne_bytes([l0, l1]) as usize;
    if len < 4 || len > rest.len() {
        return None;
    }
    Some((u16::from_ne_bytes([t0, t1]) & 0x3fff, len))
}

#[inline(always)]
fn fast_u16(p: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(p.get(..2)?.try_into().ok()?))
}

#[inline(always)]
fn fast_u32(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?))
}

#[inline(always)]
fn fast_u64(p: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(p.get(..8)?.try_into().ok()?))
}

/// The hot-path decoder: the same result as the checked one, or None where that one errs.
/// Plain loops over the attributes (no iterator, closure or error value), fixed-size copies.
#[inline]
pub fn parse_fast(payload: &[u8]) -> Option<Entry> {
    let family = match *payload.first()? {
        AF_INET => FAMILY_IPV4,
        AF_INET6 => FAMILY_IPV6,
        _ => return None,
    };
    let body = payload.get(NFGENMSG_LEN..)?;
    let mut e = Entry::default();
    let (mut have_orig, mut have_reply) = (false, false);
    let mut off = 0;
    while off < body.len() {
        let (ty, len) = attr_at(&body[off..])?;
        let p = &body[off + 4..off + len];
        match ty {
            CTA_TUPLE_ORIG => {
                e.original = fast_tuple(p, family)?;
                have_orig = true;
            }
            CTA_TUPLE_REPLY => {
                e.reply = fast_tuple(p, family)?;
                have_reply = true;
            }
            CTA_STATUS => e.status = fast_u32(p)?,
            CTA_TIMEOUT => e.timeout = fast_u32(p)?,
            CTA_MARK => e.mark = fast_u32(p)?,
            CTA_ID => e.id = fast_u32(p)?,
            CTA_ZONE => e.zone = fast_u16(p)?,
            CTA_COUNTERS_ORIG => e.original_counters = fast_counters(p)?,
            CTA_COUNTERS_REPLY => e.reply_counters = fast_counters(p)?,
            _ => {}
        }
        off += align4(len);
    }
    (have_orig && have_reply).then_some(e)
}

#[inline(always)]
fn fast_tuple(buf: &[u8], family: u8) -> Option<Tuple> {
    let mut t = Tuple { family, ..Tuple::default() };
    let (mut have_src, mut have_dst, mut have_proto) = (false, false, false);
    let v4 = family == FAMILY_IPV4;
    let mut off = 0;
    while off < buf.len() {
        let (ty, len) = attr_at(&buf[off..])?;
        let p = &buf[off + 4..off + len];
        match ty {
            CTA_TUPLE_IP => {
                let mut o = 0;
                while o < p.len() {
                    let (ip_ty, ip_len) = attr_at(&p[o..])?;
                    let a = &p[o + 4..o + ip_len];
                    match (ip_ty, v4) {
                        (CTA_IP_V4_SRC, true) => (t.src[..4].copy_from_slice(a.get(..4)?), have_src = true).1,
                        (CTA_IP_V4_DST, true) => (t.dst[..4].copy_from_slice(a.get(..4)?), have_dst = true).1,
                        (CTA_IP_V6_SRC, false) => (t.src.copy_from_slice(a.get(..16)?), have_src = true).1,
                        (CTA_IP_V6_DST, false) => (t.dst.copy_from_slice(a.get(..16)?), have_dst = true).1,
                        _ => {}
                    }
                    o += align4(ip_len);
                }
            }
            CTA_TUPLE_PROTO => {
                let mut o = 0;
                while o < p.len() {
                    let (pty, plen) = attr_at(&p[o..])?;
                    let v = &p[o + 4..o + plen];
                    match pty {
                        CTA_PROTO_NUM => {
                            t.protocol = *v.first()?;
                            have_proto = true;
                        }
                        CTA_PROTO_SRC_PORT | CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => t.src_port = fast_u16(v)?,
                        CTA_PROTO_DST_PORT => t.dst_port = fast_u16(v)?,
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => t.dst_port = (t.dst_port & 0x00ff) | u16::from(*v.first()?) << 8,
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => t.dst_port = (t.dst_port & 0xff00) | u16::from(*v.first()?),
                        _ => {}
                    }
                    o += align4(plen);
                }
            }
            _ => {}
        }
        off += align4(len);
    }
    (have_src && have_dst && have_proto).then_some(t)
}

#[inline(always)]
fn fast_counters(buf: &[u8]) -> Option<Counters> {
    let mut c = Counters::default();
    let mut off = 0;
    while off < buf.len() {
        let (ty, len) = attr_at(&buf[off..])?;
        let p = &buf[off + 4..off + len];
        match ty {
            CTA_COUNTERS_PACKETS => c.packets = fast_u64(p)?,
            CTA_COUNTERS_BYTES => c.bytes = fast_u64(p)?,
            CTA_COUNTERS32_PACKETS => c.packets = u64::from(fast_u32(p)?),
            CTA_COUNTERS32_BYTES => c.bytes = u64::from(fast_u32(p)?),
            _ => {}
        }
        off += align4(len);
    }
    Some(c)
}

/// The checked decoder: the same rules, with an error that names what is wrong.
#[cold]
#[inline(never)]
pub fn parse_checked(payload: &[u8]) -> Result<Entry, String> {
    let family = match payload.first() {
        None => return Err("truncated nfgenmsg".into()),
        Some(&AF_INET) => FAMILY_IPV4,
        Some(&AF_INET6) => FAMILY_IPV6,
        Some(f) => return Err(format!("unsupported address family {f}")),
    };
    let body = payload.get(NFGENMSG_LEN..).ok_or("truncated nfgenmsg")?;
    let mut entry = Entry::default();
    let (mut have_orig, mut have_reply) = (false, false);
    for attr in attrs(body) {
        let attr = attr?;
        match attr.ty {
            CTA_TUPLE_ORIG => {
                entry.original = parse_tuple(attr.payload, family).map_err(|e| format!("CTA_TUPLE_ORIG: {e}"))?;
                have_orig = true;
            }
            CTA_TUPLE_REPLY => {
                entry.reply = parse_tuple(attr.payload, family).map_err(|e| format!("CTA_TUPLE_REPLY: {e}"))?;
                have_reply = true;
            }
            CTA_STATUS => entry.status = be_u32(&attr, "CTA_STATUS")?,
            CTA_TIMEOUT => entry.timeout = be_u32(&attr, "CTA_TIMEOUT")?,
            CTA_MARK => entry.mark = be_u32(&attr, "CTA_MARK")?,
            CTA_ID => entry.id = be_u32(&attr, "CTA_ID")?,
            CTA_ZONE => entry.zone = be_u16(&attr, "CTA_ZONE")?,
            CTA_COUNTERS_ORIG => entry.original_counters = parse_counters(attr.payload).map_err(|e| format!("CTA_COUNTERS_ORIG: {e}"))?,
            CTA_COUNTERS_REPLY => entry.reply_counters = parse_counters(attr.payload).map_err(|e| format!("CTA_COUNTERS_REPLY: {e}"))?,
            _ => {}
        }
    }
    if !have_orig || !have_reply {
        return Err(format!("missing {}", if have_orig { "CTA_TUPLE_REPLY" } else { "CTA_TUPLE_ORIG" }));
    }
    Ok(entry)
}

fn parse_tuple(buf: &[u8], family: u8) -> Result<Tuple, String> {
    let mut t = Tuple { family, ..Tuple::default() };
    let (mut have_src, mut have_dst, mut have_proto) = (false, false, false);
    for attr in attrs(buf) {
        let attr = attr?;
        match attr.ty {
            CTA_TUPLE_IP => {
                for ip in attrs(attr.payload) {
                    let ip = ip?;
                    match (ip.ty, family) {
                        (CTA_IP_V4_SRC, FAMILY_IPV4) => { copy_addr(&mut t.src, &ip, 4, "CTA_IP_V4_SRC")?; have_src = true }
                        (CTA_IP_V4_DST, FAMILY_IPV4) => { copy_addr(&mut t.dst, &ip, 4, "CTA_IP_V4_DST")?; have_dst = true }
                        (CTA_IP_V6_SRC, FAMILY_IPV6) => { copy_addr(&mut t.src, &ip, 16, "CTA_IP_V6_SRC")?; have_src = true }
                        (CTA_IP_V6_DST, FAMILY_IPV6) => { copy_addr(&mut t.dst, &ip, 16, "CTA_IP_V6_DST")?; have_dst = true }
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for p in attrs(attr.payload) {
                    let p = p?;
                    match p.ty {
                        CTA_PROTO_NUM => { t.protocol = u8_of(&p, "CTA_PROTO_NUM")?; have_proto = true }
                        CTA_PROTO_SRC_PORT => t.src_port = be_u16(&p, "CTA_PROTO_SRC_PORT")?,
                        CTA_PROTO_DST_PORT => t.dst_port = be_u16(&p, "CTA_PROTO_DST_PORT")?,
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => t.src_port = be_u16(&p, "CTA_PROTO_ICMP_ID")?,
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            t.dst_port = (t.dst_port & 0x00ff) | (u16::from(u8_of(&p, "CTA_PROTO_ICMP_TYPE")?) << 8)
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            t.dst_port = (t.dst_port & 0xff00) | u16::from(u8_of(&p, "CTA_PROTO_ICMP_CODE")?)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !(have_src && have_dst && have_proto) {
        return Err("tuple lacks source, destination or protocol".into());
    }
    Ok(t)
}

fn copy_addr(out: &mut [u8; 16], attr: &Attr, len: usize, what: &str) -> Result<(), String> {
    let bytes = attr.payload.get(..len).ok_or_else(|| format!("{what}: {} bytes, need {len}", attr.payload.len()))?;
    out[..len].copy_from_slice(bytes);
    Ok(())
}

fn parse_counters(buf: &[u8]) -> Result<Counters, String> {
    let mut c = Counters::default();
    for attr in attrs(buf) {
        let attr = attr?;
        match attr.ty {
            CTA_COUNTERS_PACKETS => c.packets = be_u64(&attr, "CTA_COUNTERS_PACKETS")?,
            CTA_COUNTERS_BYTES => c.bytes = be_u64(&attr, "CTA_COUNTERS_BYTES")?,
            CTA_COUNTERS32_PACKETS => c.packets = u64::from(be_u32(&attr, "CTA_COUNTERS32_PACKETS")?),
            CTA_COUNTERS32_BYTES => c.bytes = u64::from(be_u32(&attr, "CTA_COUNTERS32_BYTES")?),
            _ => {}
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::builder::MessageBuilder;

    /// The fast decoder gives exactly the checked decoder's entry, and refuses exactly what
    /// the checked one rejects, on valid messages and on 200,000 corrupted ones.
    #[test]
    fn fast_and_checked_decoders_agree() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut refused = 0;
        for i in 0..200_000u64 {
            let mut e = crate::testdata::synthetic_entry(i);
            e.id = rand() as u32;
            e.zone = (rand() % 3) as u16;
            e.original_counters = Counters { packets: rand() >> 40, bytes: rand() >> 30 };
            if i % 3 == 0 {
                e.original.family = FAMILY_IPV6;
                e.reply.family = FAMILY_IPV6;
                e.original.src[15] = rand() as u8;
            }
            if i % 5 == 0 {
                e.original.protocol = if i % 3 == 0 { crate::entry::PROTO_ICMPV6 } else { crate::entry::PROTO_ICMP };
                e.reply.protocol = e.original.protocol;
            }
            let mut b = MessageBuilder::new();
            b.entry(IPCTNL_MSG_CT_NEW, 0, 1, &e);
            let mut payload = b.buf[NLMSG_HDRLEN..].to_vec();
            if i % 4 != 0 {
                for _ in 0..1 + rand() % 3 {
                    let at = (rand() as usize) % payload.len();
                    match rand() % 4 {
                        0 => payload[at] = rand() as u8,
                        1 => payload[at] ^= 1 << (rand() % 8),
                        2 => payload.truncate(at),
                        _ => payload[at] = 0,
                    }
                    if payload.is_empty() {
                        break;
                    }
                }
            }
            let fast = parse_fast(&payload);
            let checked = parse_checked(&payload);
            assert_eq!(fast, checked.clone().ok(), "message {i}: {payload:?}");
            refused += u32::from(fast.is_none());
            if i % 4 == 0 {
                assert_eq!(fast.as_ref(), Some(&e), "valid message {i}");
            }
        }
        assert!(refused > 10_000, "corruption should be refused often; {refused}");
    }
}
