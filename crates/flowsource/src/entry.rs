//! One conntrack entry as both readers (ctnetlink and procfs) produce it.

/// Address family as the entry records it.
pub const FAMILY_IPV4: u8 = 4;
pub const FAMILY_IPV6: u8 = 6;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// One direction of a connection. IPv4 addresses occupy the first 4 bytes of `src`/`dst`,
/// the rest is zero. For ICMP, `src_port` holds the echo id and `dst_port` is
/// `type << 8 | code` (identity only; flows report port 0 for ICMP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub family: u8,
    pub protocol: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
}

impl Tuple {
    pub fn is_icmp(&self) -> bool {
        self.protocol == PROTO_ICMP || self.protocol == PROTO_ICMPV6
    }
    /// The port a flow reports for the destination: 0 for ICMP, which has none.
    pub fn flow_dst_port(&self) -> u16 {
        if self.is_icmp() { 0 } else { self.dst_port }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Initiator → responder, as the first packet was seen (pre-NAT destination).
    pub original: Tuple,
    /// Responder → initiator; its source is the real (post-DNAT) destination.
    pub reply: Tuple,
    pub original_counters: Counters,
    pub reply_counters: Counters,
    pub status: u32,
    /// Seconds until the entry expires.
    pub timeout: u32,
    pub mark: u32,
    pub zone: u16,
    /// Conntrack id (0 when the reader has none, e.g. procfs).
    pub id: u32,
}

pub fn format_addr(family: u8, addr: &[u8; 16]) -> String {
    if family == FAMILY_IPV4 {
        std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string()
    } else {
        std::net::Ipv6Addr::from(*addr).to_string()
    }
}
