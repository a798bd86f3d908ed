//! Which packets a capture wants, as a predicate and as the classic BPF program that applies it
//! in the kernel (SO_ATTACH_FILTER), so unwanted packets never reach the ring.
//!
//! The kernel program loads relative to the network header (`SKF_NET_OFF`) and reads the
//! ethertype from the skb (`SKF_AD_PROTOCOL`), so it works on any link type and with VLAN tags
//! offloaded to metadata. It is a *pre*-filter: what it cannot decide cheaply (IPv6 extension
//! headers, IPv4 fragments, in-band VLAN frames) it accepts, and userspace applies the exact
//! predicate (`FilterSpec::matches`) after parsing. The program's accept value is the snap length.

use super::parse::PacketInfo;
use super::sys::SockFilter;
use crate::entry::{PROTO_TCP, PROTO_UDP};

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD: u16 = 0x00;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JSET: u16 = 0x40;
const K: u16 = 0x00;
const TAX: u16 = 0x00;

/// Ancillary load: skb->protocol (host order).
const SKF_AD_PROTOCOL: u32 = (-0x1000i32) as u32;
/// Loads at `SKF_NET_OFF + n` read byte n of the network header.
const SKF_NET_OFF: i32 = -0x100000;

const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;
const ETH_P_8021Q: u32 = 0x8100;
const ETH_P_8021AD: u32 = 0x88a8;
/// IPv6 next-header values the kernel program does not follow (hop-by-hop, routing, fragment,
/// AH, destination options): accepted, decided in userspace.
const IPV6_EXTENSIONS: [u32; 5] = [0, 43, 44, 51, 60];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    Tcp,
    Udp,
    TcpUdp,
    /// Every IP protocol (ICMP, SCTP, ...), and non-IP frames are delivered too (counted only).
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSide {
    /// Source or destination port in the list.
    Either,
    /// Source port in the list (e.g. DNS responses: source port 53).
    Source,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub protocols: Protocols,
    /// Empty: any port.
    pub ports: Vec<u16>,
    pub side: PortSide,
    /// Bytes of each packet copied into the ring (the BPF accept value).
    pub snap_bytes: u32,
}

impl FilterSpec {
    /// `tcp`, `udp`, `all`, or a comma-separated port list (TCP and UDP on those ports).
    pub fn parse(text: &str, snap_bytes: u32) -> Result<FilterSpec, String> {
        let protocols = match text {
            "tcp" => Protocols::Tcp,
            "udp" => Protocols::Udp,
            "all" => Protocols::All,
            _ => {
                let mut ports = Vec::new();
                for p in text.split(',') {
                    let port: u16 = p.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("filter: {p:?} is not tcp, udp, all or a port 1-65535"))?;
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
                if ports.len() > MAX_PORTS {
                    return Err(format!("filter: at most {MAX_PORTS} ports, not {}", ports.len()));
                }
                return Ok(FilterSpec { protocols: Protocols::TcpUdp, ports, side: PortSide::Either, snap_bytes });
            }
        };
        Ok(FilterSpec { protocols, ports: Vec::new(), side: PortSide::Either, snap_bytes })
    }

    /// DNS responses: UDP and TCP with source port 53.
    pub fn dns_responses(snap_bytes: u32) -> FilterSpec {
        FilterSpec { protocols: Protocols::TcpUdp, ports: vec![53], side: PortSide::Source, snap_bytes }
    }

    fn wants_protocol(&self, protocol: u8) -> bool {
        match self.protocols {
            Protocols::Tcp => protocol == PROTO_TCP,
            Protocols::Udp => protocol == PROTO_UDP,
            Protocols::TcpUdp => protocol == PROTO_TCP || protocol == PROTO_UDP,
            Protocols::All => true,
        }
    }

    /// The exact predicate, applied after parsing. Packets without ports (non-first
    /// fragments) match on protocol only when no port list is set.
    pub fn matches(&self, p: &PacketInfo) -> bool {
        if !self.wants_protocol(p.protocol) {
            return false;
        }
        if self.ports.is_empty() {
            return true;
        }
        if !p.has_ports {
            return false;
        }
        self.ports.contains(&p.src_port) || (self.side == PortSide::Either && self.ports.contains(&p.dst_port))
    }

    /// Whether frames that are not IPv4/IPv6 are delivered (to be counted, never aggregated).
    pub fn wants_non_ip(&self) -> bool {
        self.protocols == Protocols::All && self.ports.is_empty()
    }

    /// The classic BPF program for SO_ATTACH_FILTER.
    pub fn program(&self) -> Vec<SockFilter> {
        let mut a = Asm::default();
        let protos: Vec<u32> = match self.protocols {
            Protocols::Tcp => vec![6],
            Protocols::Udp => vec![17],
            Protocols::TcpUdp => vec![6, 17],
            Protocols::All => vec![],
        };
        let after_proto = if self.ports.is_empty() { L_ACCEPT } else { L_V4_PORTS };
        a.op(LD | H | ABS, SKF_AD_PROTOCOL);
        a.jeq(ETH_P_IP, L_V4, L_NEXT);
        a.label(L_NEXT);
        a.jeq(ETH_P_IPV6, L_V6, L_NEXT2);
        a.label(L_NEXT2);
        a.jeq(ETH_P_8021Q, L_ACCEPT, L_NEXT3);
        a.label(L_NEXT3);
        a.jeq(ETH_P_8021AD, L_ACCEPT, if self.wants_non_ip() { L_ACCEPT } else { L_REJECT });

        // IPv4
        a.label(L_V4);
        if protos.is_empty() {
            a.jump(after_proto);
        } else {
            a.op(LD | B | ABS, net(9));
            for (i, &p) in protos.iter().enumerate() {
                let last = i + 1 == protos.len();
                a.jeq(p, after_proto, if last { L_REJECT } else { L_V4_P + i as u32 + 1 });
                if !last {
                    a.label(L_V4_P + i as u32 + 1);
                }
            }
        }
        if !self.ports.is_empty() {
            a.label(L_V4_PORTS);
            // Fragment offset ≠ 0: no L4 header here; userspace counts it.
            a.op(LD | H | ABS, net(6));
            a.jset(0x1fff, L_ACCEPT, L_V4_HDR);
            a.label(L_V4_HDR);
            a.op(LD | B | ABS, net(0));
            a.op(ALU | AND | K, 0x0f);
            a.op(ALU | LSH | K, 2);
            a.op(MISC | TAX, 0);
            self.port_checks(&mut a, IND, 0, L_V4_SPORT);
        }

        // IPv6
        a.label(L_V6);
        let after_proto6 = if self.ports.is_empty() { L_ACCEPT } else { L_V6_PORTS };
        if protos.is_empty() {
            a.jump(after_proto6);
        } else {
            a.op(LD | B | ABS, net(6));
            for (i, &p) in protos.iter().chain(IPV6_EXTENSIONS.iter()).enumerate() {
                let target = if i < protos.len() { after_proto6 } else { L_ACCEPT };
                let last = i + 1 == protos.len() + IPV6_EXTENSIONS.len();
                a.jeq(p, target, if last { L_REJECT } else { L_V6_P + i as u32 + 1 });
                if !last {
                    a.label(L_V6_P + i as u32 + 1);
                }
            }
        }
        if !self.ports.is_empty() {
            a.label(L_V6_PORTS);
            self.port_checks(&mut a, ABS, 40, L_V6_SPORT);
        }
        a.label(L_ACCEPT);
        a.op(RET | K, self.snap_bytes.max(64));
        a.label(L_REJECT);
        a.op(RET | K, 0);
        a.assemble()
    }

    /// Loads the source (then destination) port at `l4 + 0` / `l4 + 2` and jumps to accept on
    /// a listed port, else to reject.
    fn port_checks(&self, a: &mut Asm, mode: u16, l4: i32, base: u32) {
        let sides: &[i32] = if self.side == PortSide::Source { &[0] } else { &[0, 2] };
        let mut label = base;
        for (s, &off) in sides.iter().enumerate() {
            a.op(LD | H | mode, net(l4 + off));
            for (i, &port) in self.ports.iter().enumerate() {
                let last = i + 1 == self.ports.len();
                let next = if !last { label + 1 } else if s + 1 < sides.len() { label + 1 } else { L_REJECT };
                a.jeq(u32::from(port), L_ACCEPT, next);
                label += 1;
                if next != L_REJECT {
                    a.label(next);
                }
            }
        }
    }
}

/// Most ports a filter takes (keeps every jump within classic BPF's 8-bit offsets).
pub const MAX_PORTS: usize = 48;

fn net(offset: i32) -> u32 {
    (SKF_NET_OFF + offset) as u32
}

// Labels: fixed ones, and numbered ranges for the generated chains.
const L_ACCEPT: u32 = 1;
const L_REJECT: u32 = 2;
const L_NEXT: u32 = 3;
const L_NEXT2: u32 = 4;
const L_NEXT3: u32 = 5;
const L_V4: u32 = 6;
const L_V6: u32 = 7;
const L_V4_PORTS: u32 = 8;
const L_V6_PORTS: u32 = 9;
const L_V4_HDR: u32 = 10;
const L_V4_P: u32 = 100;
const L_V6_P: u32 = 200;
const L_V4_SPORT: u32 = 1000;
const L_V6_SPORT: u32 = 2000;

enum Ins {
    Op(u16, u32),
    /// Conditional jump: code, k, true label, false label.
    Cond(u16, u32, u32, u32),
    Ja(u32),
}

/// A tiny assembler: instructions with symbolic targets, resolved to relative offsets.
#[derive(Default)]
struct Asm {
    ins: Vec<Ins>,
    labels: Vec<(u32, usize)>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.ins.push(Ins::Op(code, k));
    }
    fn jeq(&mut self, k: u32, t: u32, f: u32) {
        self.ins.push(Ins::Cond(JMP | JEQ | K, k, t, f));
    }
    fn jset(&mut self, k: u32, t: u32, f: u32) {
        self.ins.push(Ins::Cond(JMP | JSET | K, k, t, f));
    }
    fn jump(&mut self, target: u32) {
        self.ins.push(Ins::Ja(target));
    }
    fn label(&mut self, l: u32) {
        self.labels.push((l, self.ins.len()));
    }
    fn at(&self, l: u32) -> usize {
        self.labels.iter().find(|(x, _)| *x == l).map(|(_, i)| *i).unwrap_or_else(|| panic!("BPF label {l} not placed"))
    }
    fn assemble(&self) -> Vec<SockFilter> {
        let rel = |from: usize, l: u32| -> u32 {
            let to = self.at(l);
            assert!(to > from, "BPF jumps go forward only");
            (to - from - 1) as u32
        };
        self.ins
            .iter()
            .enumerate()
            .map(|(i, ins)| match *ins {
                Ins::Op(code, k) => SockFilter { code, jt: 0, jf: 0, k },
                Ins::Cond(code, k, t, f) => {
                    let (jt, jf) = (rel(i, t), rel(i, f));
                    assert!(jt <= 255 && jf <= 255, "BPF jump too long");
                    SockFilter { code, jt: jt as u8, jf: jf as u8, k }
                }
                Ins::Ja(t) => SockFilter { code: JMP | JA, jt: 0, jf: 0, k: rel(i, t) },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters() {
        assert_eq!(FilterSpec::parse("tcp", 128).unwrap().protocols, Protocols::Tcp);
        assert_eq!(FilterSpec::parse("80, 443,80", 128).unwrap().ports, vec![80, 443]);
        assert!(FilterSpec::parse("http", 128).unwrap_err().contains("\"http\""));
        assert!(FilterSpec::parse("0", 128).is_err());
        assert!(FilterSpec::parse("70000", 128).is_err());
    }

    #[test]
    fn programs_assemble_for_every_shape() {
        for text in ["tcp", "udp", "all", "53", "1,2,3,4,5,6,7,8,9,10"] {
            let p = FilterSpec::parse(text, 256).unwrap().program();
            assert!(p.len() < 4096);
            assert_eq!(p.last().unwrap().k, 0, "{text}: ends in reject");
        }
        let many: Vec<String> = (1..=MAX_PORTS).map(|p| p.to_string()).collect();
        FilterSpec::parse(&many.join(","), 256).unwrap().program();
        FilterSpec::dns_responses(65535).program();
    }
}
