//! DNS response parsing (RFC 1035): the question name and the A, AAAA and CNAME answers,
//! reduced to address → queried name pairs with the TTL the pair is valid for.
//!
//! ```text
//! header   0 id  2 flags (bit 15 QR, bits 11-14 opcode, bits 0-3 RCODE)  4 QDCOUNT  6 ANCOUNT
//!          8 NSCOUNT  10 ARCOUNT  (12 bytes, all u16 big-endian)
//! question name, u16 type, u16 class
//! answer   name, u16 type, u16 class, u32 TTL, u16 RDLENGTH, RDATA
//!          A (1): 4 bytes; AAAA (28): 16 bytes; CNAME (5): a name
//! name     labels (len 1-63, then bytes), ended by 0; or a 2-byte pointer 0b11 + 14-bit offset
//! ```
//! CNAME chains resolve back to the queried name: for `www.shop.test CNAME cdn.test`,
//! `cdn.test A 192.0.2.7`, the pair is 192.0.2.7 → www.shop.test with the smallest TTL along
//! the chain. An address whose owner is not reachable from the question keeps its owner name.
//! Names are lower-cased (resolvers randomise case); bytes outside [a-z0-9-_] are escaped as
//! `\DDD` (dig's presentation format) so the name is always printable.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub address: IpAddr,
    pub name: String,
    pub ttl_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    Truncated,
    NotAResponse,
    BadName,
    BadRecord,
}

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const MAX_NAME: usize = 255;
const MAX_POINTERS: usize = 32;
const MAX_CHAIN: usize = 16;

fn be16(b: &[u8], at: usize) -> Result<u16, DnsError> {
    Ok(u16::from_be_bytes([*b.get(at).ok_or(DnsError::Truncated)?, *b.get(at + 1).ok_or(DnsError::Truncated)?]))
}

fn be32(b: &[u8], at: usize) -> Result<u32, DnsError> {
    Ok(u32::from_be_bytes(b.get(at..at + 4).ok_or(DnsError::Truncated)?.try_into().map_err(|_| DnsError::Truncated)?))
}

/// Reads the name at `at`; returns it (presentation form, lower case) and the offset after it
/// in the original position (pointers followed do not advance it).
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut end = None;
    let mut pointers = 0;
    let mut wire_len = 0;
    loop {
        let len = *msg.get(at).ok_or(DnsError::Truncated)?;
        match len >> 6 {
            0 if len == 0 => {
                let after = end.unwrap_or(at + 1);
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, after));
            }
            0 => {
                let label = msg.get(at + 1..at + 1 + usize::from(len)).ok_or(DnsError::Truncated)?;
                wire_len += label.len() + 1;
                if wire_len > MAX_NAME {
                    return Err(DnsError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    match c.to_ascii_lowercase() {
                        c @ (b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_') => name.push(char::from(c)),
                        c => name.push_str(&format!("\\{c:03}")),
                    }
                }
                at += 1 + usize::from(len);
            }
            3 => {
                let target = usize::from(be16(msg, at)? & 0x3fff);
                pointers += 1;
                // Pointers must go backwards (RFC 1035 §4.1.4 points to a prior occurrence).
                if pointers > MAX_POINTERS || target >= at {
                    return Err(DnsError::BadName);
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

/// The address → name pairs of one DNS message; `Ok(vec![])` for a response without usable
/// answers (NXDOMAIN, other types). Queries and malformed messages are errors.
pub fn parse_response(msg: &[u8]) -> Result<Vec<Resolution>, DnsError> {
    let flags = be16(msg, 2)?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::NotAResponse);
    }
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    if flags & 0x000f != 0 || qdcount != 1 || (flags >> 11) & 0xf != 0 {
        return Ok(Vec::new());
    }
    let (qname, mut at) = read_name(msg, 12)?;
    at += 4;
    let mut cnames: Vec<(String, String, u32)> = Vec::new();
    let mut addresses: Vec<(String, IpAddr, u32)> = Vec::new();
    for _ in 0..ancount {
        let (owner, after) = read_name(msg, at)?;
        let rtype = be16(msg, after)?;
        let class = be16(msg, after + 2)?;
        let ttl = be32(msg, after + 4)?;
        let rdlen = usize::from(be16(msg, after + 8)?);
        let rdata_at = after + 10;
        let rdata = msg.get(rdata_at..rdata_at + rdlen).ok_or(DnsError::Truncated)?;
        at = rdata_at + rdlen;
        // TTLs with the top bit set are treated as 0 (RFC 2181 §8).
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        if class != CLASS_IN {
            continue;
        }
        match rtype {
            TYPE_A => {
                let b: [u8; 4] = rdata.try_into().map_err(|_| DnsError::BadRecord)?;
                addresses.push((owner, IpAddr::from(b), ttl));
            }
            TYPE_AAAA => {
                let b: [u8; 16] = rdata.try_into().map_err(|_| DnsError::BadRecord)?;
                addresses.push((owner, IpAddr::from(b), ttl));
            }
            TYPE_CNAME => {
                let (target, _) = read_name(msg, rdata_at)?;
                cnames.push((owner, target, ttl));
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(addresses.len());
    for (owner, address, ttl) in addresses {
        // Walk back from the owner along CNAMEs pointing at it until the question name.
        let mut name = owner.clone();
        let mut min_ttl = ttl;
        let mut reached = name == qname;
        for _ in 0..MAX_CHAIN {
            if reached {
                break;
            }
            match cnames.iter().find(|(_, target, _)| *target == name) {
                Some((alias, _, t)) => {
                    name = alias.clone();
                    min_ttl = min_ttl.min(*t);
                    reached = name == qname;
                }
                None => break,
            }
        }
        let (name, ttl_s) = if reached { (qname.clone(), min_ttl) } else { (owner, ttl) };
        out.push(Resolution { address, name, ttl_s });
    }
    Ok(out)
}

/// Test and fuzz helper: builds a response for `qname` with the given answers.
pub mod build {
    pub enum Answer<'a> {
        A(&'a str, [u8; 4], u32),
        Aaaa(&'a str, [u8; 16], u32),
        Cname(&'a str, &'a str, u32),
    }

    pub fn name(out: &mut Vec<u8>, n: &str) {
        for label in n.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }

    pub fn response(id: u16, qname: &str, qtype: u16, answers: &[Answer<'_>]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&0x8180u16.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        name(&mut m, qname);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        for a in answers {
            let (owner, rtype, ttl, rdata) = match a {
                Answer::A(o, ip, t) => (*o, 1u16, *t, ip.to_vec()),
                Answer::Aaaa(o, ip, t) => (*o, 28, *t, ip.to_vec()),
                Answer::Cname(o, target, t) => {
                    let mut r = Vec::new();
                    name(&mut r, target);
                    (*o, 5, *t, r)
                }
            };
            // The owner as a pointer to the question name when equal (as servers do).
            if owner.eq_ignore_ascii_case(qname) {
                m.extend_from_slice(&0xc00cu16.to_be_bytes());
            } else {
                name(&mut m, owner);
            }
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::build::{response, Answer};
    use super::*;

    #[test]
    fn a_aaaa_and_cname_chains() {
        let msg = response(
            7,
            "WWW.Shop.test",
            1,
            &[
                Answer::Cname("www.shop.test", "edge.cdn.test", 300),
                Answer::Cname("edge.cdn.test", "e1.cdn.test", 60),
                Answer::A("e1.cdn.test", [192, 0, 2, 7], 120),
                Answer::Aaaa("e1.cdn.test", [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], 600),
                Answer::A("unrelated.test", [192, 0, 2, 9], 30),
            ],
        );
        let r = parse_response(&msg).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Resolution { address: "192.0.2.7".parse().unwrap(), name: "www.shop.test".into(), ttl_s: 60 });
        assert_eq!(r[1].name, "www.shop.test");
        assert_eq!(r[1].ttl_s, 60);
        assert_eq!(r[2], Resolution { address: "192.0.2.9".parse().unwrap(), name: "unrelated.test".into(), ttl_s: 30 });
    }

    #[test]
    fn rejects_queries_loops_and_truncation() {
        let mut msg = response(1, "a.test", 1, &[Answer::A("a.test", [1, 2, 3, 4], 5)]);
        assert_eq!(parse_response(&msg[..msg.len() - 1]), Err(DnsError::Truncated));
        msg[2] &= 0x7f;
        assert_eq!(parse_response(&msg), Err(DnsError::NotAResponse));
        // A pointer to itself.
        let mut looped = response(1, "a.test", 1, &[]);
        looped[12] = 0xc0;
        looped[13] = 12;
        assert_eq!(parse_response(&looped), Err(DnsError::BadName));
        // NXDOMAIN: no pairs.
        let mut nx = response(1, "a.test", 1, &[Answer::A("a.test", [1, 2, 3, 4], 5)]);
        nx[3] = 0x83;
        assert_eq!(parse_response(&nx), Ok(vec![]));
    }

    #[test]
    fn odd_bytes_are_escaped() {
        let mut msg = response(1, "a.test", 1, &[]);
        msg[13] = b'.';
        msg[2] |= 0x80;
        assert_eq!(read_name(&msg, 12).unwrap().0, "\\046.test");
    }
}
