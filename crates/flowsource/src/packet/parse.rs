//! Frame → packet headers: Ethernet (with 802.1Q / 802.1ad tags), IPv4, IPv6 (with extension
//! headers), TCP, UDP, ICMP. Never panics on any input; malformed frames are reported, not
//! guessed at.
//!
//! Byte layouts (network order):
//! ```text
//! Ethernet   0 dst[6]  6 src[6]  12 ethertype u16   (then payload)
//! VLAN tag   0 TCI u16  2 inner ethertype u16        (after an ethertype 0x8100 / 0x88a8 / 0x9100)
//! IPv4       0 version:4 IHL:4  2 total length  6 flags:3 fragment offset:13  9 protocol
//!           12 src[4]  16 dst[4]   (header = IHL × 4 bytes, ≥ 20)
//! IPv6       0 version:4 ...  4 payload length  6 next header  8 src[16]  24 dst[16]  (40 bytes)
//!   ext.     hop-by-hop (0), routing (43), destination options (60): 1 next, 2 len → (len+1)×8 bytes
//!            fragment (44): 0 next, 2 offset:13 flags:3 (8 bytes); AH (51): (len+2)×4 bytes
//! TCP        0 sport  2 dport  4 seq u32  12 data offset:4 (× 4 bytes, ≥ 20)  13 flags
//! UDP        0 sport  2 dport  4 length  (8 bytes)
//! ICMP       0 type  1 code
//! ```
//! The byte count of a packet is its L3 length (what conntrack counts): the IPv4 total length
//! or 40 + the IPv6 payload length; when those are 0 (TSO / jumbograms) the length on the wire
//! minus the link header.

use crate::entry::{FAMILY_IPV4, FAMILY_IPV6, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};

/// How the frame starts (from sockaddr_ll.sll_hatype).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// ARPHRD_ETHER, ARPHRD_LOOPBACK: an Ethernet header.
    Ethernet,
    /// No link header (tun, WireGuard, IP-in-IP): the frame starts with the IP header.
    RawIp,
}

pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;

impl Link {
    pub fn from_hatype(hatype: u16) -> Link {
        match hatype {
            ARPHRD_ETHER | ARPHRD_LOOPBACK => Link::Ethernet,
            _ => Link::RawIp,
        }
    }
}

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketInfo {
    pub family: u8,
    pub protocol: u8,
    /// IPv4 in the first 4 bytes, rest zero.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// False for non-first fragments (no L4 header) and protocols without ports.
    pub has_ports: bool,
    pub src_port: u16,
    pub dst_port: u16,
    /// L3 bytes (see the module comment).
    pub bytes: u32,
    pub tcp_flags: u8,
    pub tcp_seq: u32,
    /// ICMP / ICMPv6 type (when protocol is ICMP).
    pub icmp_type: u8,
    /// A non-first fragment: its L4 header is in another packet.
    pub fragment: bool,
    /// Where the L4 payload starts in the frame, and how long it is (clipped to the capture).
    pub payload_offset: usize,
    pub payload_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    TruncatedLink,
    TruncatedIp,
    BadIpVersion,
    BadIpHeaderLength,
    BadIpLength,
    TooManyExtensions,
    TruncatedTransport,
    BadTcpHeaderLength,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Ip(PacketInfo),
    /// ARP, LLDP, ...: counted, not parsed.
    NotIp,
    Malformed(Malformed),
}

const ETH_HEADER: usize = 14;
const MAX_VLAN_TAGS: usize = 2;
const MAX_IPV6_EXTENSIONS: usize = 8;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one captured frame. `data` is what was captured (possibly cut at the snap length),
/// `wire_len` the frame's full length on the wire.
pub fn parse_frame(data: &[u8], wire_len: usize, link: Link) -> Parsed {
    let (mut ethertype, mut at) = match link {
        Link::Ethernet => match be16(data, 12) {
            Some(t) => (t, ETH_HEADER),
            None => return Parsed::Malformed(Malformed::TruncatedLink),
        },
        Link::RawIp => match data.first() {
            Some(b) if b >> 4 == 4 => (0x0800, 0),
            Some(b) if b >> 4 == 6 => (0x86dd, 0),
            Some(_) => return Parsed::NotIp,
            None => return Parsed::Malformed(Malformed::TruncatedLink),
        },
    };
    let mut tags = 0;
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Parsed::Malformed(Malformed::TruncatedLink);
        }
        ethertype = match be16(data, at + 2) {
            Some(t) => t,
            None => return Parsed::Malformed(Malformed::TruncatedLink),
        };
        at += 4;
    }
    let link_len = at;
    let result = match ethertype {
        0x0800 => parse_ipv4(data, at, wire_len.saturating_sub(link_len)),
        0x86dd => parse_ipv6(data, at, wire_len.saturating_sub(link_len)),
        _ => return Parsed::NotIp,
    };
    match result {
        Ok(p) => Parsed::Ip(p),
        Err(m) => Parsed::Malformed(m),
    }
}

fn parse_ipv4(d: &[u8], at: usize, l3_wire: usize) -> Result<PacketInfo, Malformed> {
    let h = d.get(at..).filter(|h| h.len() >= 20).ok_or(Malformed::TruncatedIp)?;
    if h[0] >> 4 != 4 {
        return Err(Malformed::BadIpVersion);
    }
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(Malformed::BadIpHeaderLength);
    }
    if h.len() < ihl {
        return Err(Malformed::TruncatedIp);
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Total length 0: a TSO/GSO super-packet; its size is what the wire (skb) holds.
    let bytes = if total == 0 { l3_wire } else { total };
    if bytes < ihl || (total != 0 && total > l3_wire) {
        return Err(Malformed::BadIpLength);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let mut p = PacketInfo { family: FAMILY_IPV4, protocol: h[9], bytes: bytes as u32, ..PacketInfo::default() };
    p.src[..4].copy_from_slice(&h[12..16]);
    p.dst[..4].copy_from_slice(&h[16..20]);
    if frag & 0x1fff != 0 {
        p.fragment = true;
        return Ok(p);
    }
    transport(d, &mut p, at + ihl, at + bytes)?;
    Ok(p)
}

fn parse_ipv6(d: &[u8], at: usize, l3_wire: usize) -> Result<PacketInfo, Malformed> {
    let h = d.get(at..).filter(|h| h.len() >= 40).ok_or(Malformed::TruncatedIp)?;
    if h[0] >> 4 != 6 {
        return Err(Malformed::BadIpVersion);
    }
    let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // Payload length 0: a jumbogram or a BIG TCP/GSO packet; take the wire length.
    let bytes = if payload == 0 { l3_wire } else { 40 + payload };
    if bytes < 40 || (payload != 0 && bytes > l3_wire) {
        return Err(Malformed::BadIpLength);
    }
    let mut p = PacketInfo { family: FAMILY_IPV6, bytes: bytes as u32, ..PacketInfo::default() };
    p.src.copy_from_slice(&h[8..24]);
    p.dst.copy_from_slice(&h[24..40]);
    let end = at + bytes;
    let mut next = h[6];
    let mut off = at + 40;
    for _ in 0..=MAX_IPV6_EXTENSIONS {
        let ext_len = match next {
            0 | 43 | 60 => (usize::from(*d.get(off + 1).ok_or(Malformed::TruncatedIp)?) + 1) * 8,
            51 => (usize::from(*d.get(off + 1).ok_or(Malformed::TruncatedIp)?) + 2) * 4,
            44 => {
                let frag = be16(d, off + 2).ok_or(Malformed::TruncatedIp)?;
                if frag & 0xfff8 != 0 {
                    p.protocol = *d.get(off).ok_or(Malformed::TruncatedIp)?;
                    p.fragment = true;
                    return Ok(p);
                }
                8
            }
            proto => {
                p.protocol = proto;
                transport(d, &mut p, off, end)?;
                return Ok(p);
            }
        };
        next = *d.get(off).ok_or(Malformed::TruncatedIp)?;
        off += ext_len;
        if off > end {
            return Err(Malformed::BadIpLength);
        }
    }
    Err(Malformed::TooManyExtensions)
}

/// The L4 header at `at`; `end` is where the IP packet ends (may lie past the captured bytes).
fn transport(d: &[u8], p: &mut PacketInfo, at: usize, end: usize) -> Result<(), Malformed> {
    let header = match p.protocol {
        PROTO_TCP => {
            let flags = *d.get(at + 13).ok_or(Malformed::TruncatedTransport)?;
            let data_offset = usize::from(d[at + 12] >> 4) * 4;
            if data_offset < 20 || at + data_offset > end {
                return Err(Malformed::BadTcpHeaderLength);
            }
            p.tcp_flags = flags;
            p.tcp_seq = be32(d, at + 4).ok_or(Malformed::TruncatedTransport)?;
            data_offset
        }
        PROTO_UDP => {
            if at + 8 > end || d.len() < at + 8 {
                return Err(Malformed::TruncatedTransport);
            }
            8
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            p.icmp_type = *d.get(at).ok_or(Malformed::TruncatedTransport)?;
            return Ok(());
        }
        // SCTP and DCCP have ports at the same place; anything else has none.
        132 | 33 => 4,
        _ => return Ok(()),
    };
    p.src_port = be16(d, at).ok_or(Malformed::TruncatedTransport)?;
    p.dst_port = be16(d, at + 2).ok_or(Malformed::TruncatedTransport)?;
    p.has_ports = true;
    let payload_at = at + header;
    p.payload_offset = payload_at.min(d.len());
    p.payload_len = end.min(d.len()).saturating_sub(payload_at);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn eth(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    fn ipv4_tcp(payload: usize, flags: u8) -> Vec<u8> {
        let total = 20 + 20 + payload;
        let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 1, 2, 10, 0, 2, 2];
        p.extend_from_slice(&[0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, flags, 0, 0, 0, 0, 0, 0]);
        p.extend(std::iter::repeat(0xaa).take(payload));
        p
    }

    #[test]
    fn ipv4_tcp_with_vlan() {
        let l3 = ipv4_tcp(100, TCP_SYN);
        let mut tagged = vec![0, 5, 0x08, 0x00];
        tagged.extend_from_slice(&l3);
        let f = eth(0x8100, &tagged);
        let Parsed::Ip(p) = parse_frame(&f, f.len(), Link::Ethernet) else { panic!() };
        assert_eq!((p.family, p.protocol, p.src_port, p.dst_port, p.bytes, p.tcp_flags, p.tcp_seq), (4, 6, 40000, 8080, 140, TCP_SYN, 7));
        assert_eq!(&p.src[..4], &[10, 0, 1, 2]);
        assert_eq!((p.payload_offset, p.payload_len), (18 + 40, 100));
    }

    #[test]
    fn snap_cut_keeps_the_ip_length() {
        let f = eth(0x0800, &ipv4_tcp(1000, TCP_ACK));
        let Parsed::Ip(p) = parse_frame(&f[..80], f.len(), Link::Ethernet) else { panic!() };
        assert_eq!(p.bytes, 1040);
        assert_eq!(p.payload_len, 80 - 54);
    }

    #[test]
    fn ipv6_udp_behind_extension_headers() {
        let mut p = vec![0x60, 0, 0, 0, 0, 16 + 12, 0, 64];
        p.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop → dest opts
        p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // dest opts → UDP
        p.extend_from_slice(&[0, 53, 0x13, 0x88, 0, 12, 0, 0, 1, 2, 3, 4]);
        let f = eth(0x86dd, &p);
        let Parsed::Ip(i) = parse_frame(&f, f.len(), Link::Ethernet) else { panic!("{:?}", parse_frame(&f, f.len(), Link::Ethernet)) };
        assert_eq!((i.family, i.protocol, i.src_port, i.dst_port, i.bytes, i.payload_len), (6, 17, 53, 5000, 68, 4));
    }

    #[test]
    fn malformed_and_other() {
        assert_eq!(parse_frame(&eth(0x0806, &[0; 28]), 42, Link::Ethernet), Parsed::NotIp);
        assert_eq!(parse_frame(&[1, 2, 3], 3, Link::Ethernet), Parsed::Malformed(Malformed::TruncatedLink));
        let mut bad = ipv4_tcp(0, 0);
        bad[0] = 0x44;
        assert_eq!(parse_frame(&eth(0x0800, &bad), 54, Link::Ethernet), Parsed::Malformed(Malformed::BadIpHeaderLength));
        let mut bad = ipv4_tcp(0, 0);
        bad[32] = 0x40; // data offset 16
        assert_eq!(parse_frame(&eth(0x0800, &bad), 54, Link::Ethernet), Parsed::Malformed(Malformed::BadTcpHeaderLength));
        let mut frag = ipv4_tcp(0, 0);
        frag[7] = 10;
        let Parsed::Ip(p) = parse_frame(&eth(0x0800, &frag), 54, Link::Ethernet) else { panic!() };
        assert!(p.fragment && !p.has_ports);
        let Parsed::Ip(p) = parse_frame(&ipv4_tcp(5, 0), 45, Link::RawIp) else { panic!() };
        assert_eq!(p.bytes, 45);
    }
}
