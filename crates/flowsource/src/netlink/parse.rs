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

use super::attr::{attrs, be_u16, be_u32, be_u64, u8_of, Attr};
use super::*;
use crate::entry::{Counters, Entry, Tuple, FAMILY_IPV4, FAMILY_IPV6};

/// Parses the payload (nfgenmsg + attributes) of a conntrack message.
pub fn parse_conntrack(payload: &[u8]) -> Result<Entry, String> {
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
