//! Cilium's conntrack map entries: key and value layouts, tuple flags, the stored-address
//! quirk, and the two counter layouts (../../../../../shared/reference/cilium-ct-maps.md).
//!
//! Key (`struct ipv4_ct_tuple`, 14 B / `ipv6_ct_tuple`, 38 B, packed, unchanged in every version):
//! ```text
//!   v4: 0 daddr[4]  4 saddr[4]   8 dport(BE)  10 sport(BE)  12 nexthdr  13 flags
//!   v6: 0 daddr[16] 16 saddr[16] 32 dport(BE) 34 sport(BE)  36 nexthdr  37 flags
//! ```
//! flags: TUPLE_F_OUT 0, TUPLE_F_IN 1, TUPLE_F_RELATED 2, TUPLE_F_SERVICE 4.
//!
//! Storage: non-service entries are in "reply layout": the initiator is `daddr:sport` and the
//! responder `saddr:dport` (what `cilium bpf ct list global` prints as `daddr:sport -> saddr:dport`).
//! SERVICE entries are in "forward layout": client `saddr:dport` → VIP `daddr:sport`.
//! ICMP echo: the identifier is in `sport`, `dport` is 0.
//!
//! Value (`struct ct_entry`, 56 B, host-endian unless marked):
//! ```text
//!          v1.15 (≈v1.10–v1.15)             v1.16 (v1.16–v1.18)
//!    0 u64 rx_packets                       reserved0 (0)
//!    8 u64 rx_bytes | backend_id (SERVICE)  backend_id (SERVICE entries only)
//!   16 u64 tx_packets                       packets (both directions, opt-in accounting)
//!   24 u64 tx_bytes                         bytes
//!   32 u32 lifetime   36 u16 flags   38 u16 rev_nat_index (BE)   40 u16 ifindex / reserved
//!   42 u8 tx_flags_seen   43 u8 rx_flags_seen   44 u32 src_sec_id
//!   48 u32 last_tx_report   52 u32 last_rx_report
//! ```
//! v1.15 counts rx/tx from the local endpoint's side: for OUT entries tx is the original
//! direction, for IN entries rx is. v1.16 has one pair counting both directions.

use crate::entry::{Counters, Entry, Tuple, FAMILY_IPV4, FAMILY_IPV6, PROTO_TCP};

pub const KEY_V4_BYTES: usize = 14;
pub const KEY_V6_BYTES: usize = 38;
pub const VALUE_BYTES: usize = 56;

pub const TUPLE_F_IN: u8 = 1;
pub const TUPLE_F_RELATED: u8 = 2;
pub const TUPLE_F_SERVICE: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// ≈v1.10–v1.15: rx_packets, rx_bytes, tx_packets, tx_bytes.
    V115,
    /// v1.16–v1.18: reserved0, backend_id, packets, bytes.
    V116,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutChoice {
    Fixed(Layout),
    Auto,
}

impl LayoutChoice {
    pub fn parse(s: &str) -> Result<LayoutChoice, String> {
        match s {
            "v1.15" => Ok(LayoutChoice::Fixed(Layout::V115)),
            "v1.16" => Ok(LayoutChoice::Fixed(Layout::V116)),
            "auto" => Ok(LayoutChoice::Auto),
            _ => Err(format!("layout must be auto, v1.15 or v1.16, not {s:?}")),
        }
    }
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::V115 => "v1.15",
            Layout::V116 => "v1.16",
        }
    }

    /// Its code in the batch header (crate::records: 0 is undecided).
    pub fn code(self) -> u32 {
        match self {
            Layout::V115 => 1,
            Layout::V116 => 2,
        }
    }
}

impl crate::js::ToJs for Layout {
    fn to_js(&self) -> crate::js::JsValue {
        crate::js::JsValue::String(self.name().into())
    }
}

/// A decoded key, still in Cilium's storage layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtKey {
    pub family: u8,
    pub daddr: [u8; 16],
    pub saddr: [u8; 16],
    pub dport: u16,
    pub sport: u16,
    pub nexthdr: u8,
    pub flags: u8,
}

impl CtKey {
    /// `key` must be 14 (IPv4) or 38 (IPv6) bytes; anything else is None.
    pub fn decode(key: &[u8]) -> Option<CtKey> {
        let (family, alen) = match key.len() {
            KEY_V4_BYTES => (FAMILY_IPV4, 4),
            KEY_V6_BYTES => (FAMILY_IPV6, 16),
            _ => return None,
        };
        let mut daddr = [0u8; 16];
        let mut saddr = [0u8; 16];
        daddr[..alen].copy_from_slice(&key[..alen]);
        saddr[..alen].copy_from_slice(&key[alen..2 * alen]);
        let p = 2 * alen;
        Some(CtKey {
            family,
            daddr,
            saddr,
            dport: u16::from_be_bytes([key[p], key[p + 1]]),
            sport: u16::from_be_bytes([key[p + 2], key[p + 3]]),
            nexthdr: key[p + 4],
            flags: key[p + 5],
        })
    }

    pub fn is_service(&self) -> bool {
        self.flags & TUPLE_F_SERVICE != 0
    }
    pub fn is_related(&self) -> bool {
        self.flags & TUPLE_F_RELATED != 0
    }
    pub fn is_in(&self) -> bool {
        self.flags & TUPLE_F_IN != 0
    }

    /// The flow as the initiator sent it (non-service entries): `daddr:sport → saddr:dport`.
    pub fn initiator_tuple(&self) -> Tuple {
        Tuple { family: self.family, protocol: self.nexthdr, src: self.daddr, dst: self.saddr, src_port: self.sport, dst_port: self.dport }
    }

    /// SERVICE entries: (client, client port, VIP, VIP port) from the forward layout.
    pub fn service_endpoints(&self) -> ([u8; 16], u16, [u8; 16], u16) {
        (self.saddr, self.dport, self.daddr, self.sport)
    }
}

/// A decoded value; the counter words are kept raw, their meaning depends on the layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtValue {
    pub words: [u64; 4],
    pub lifetime: u32,
    pub flags: u16,
    /// Host order (stored big-endian).
    pub rev_nat_index: u16,
    pub ifindex: u16,
    pub tx_flags_seen: u8,
    pub rx_flags_seen: u8,
    pub src_sec_id: u32,
    pub last_tx_report: u32,
    pub last_rx_report: u32,
}

fn le64(v: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(v[at..at + 8].try_into().unwrap())
}
fn le32(v: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(v[at..at + 4].try_into().unwrap())
}

impl CtValue {
    /// `value` must be 56 bytes. Host-endian fields are read little-endian (x86_64, arm64).
    pub fn decode(value: &[u8]) -> Option<CtValue> {
        if value.len() != VALUE_BYTES {
            return None;
        }
        Some(CtValue {
            words: [le64(value, 0), le64(value, 8), le64(value, 16), le64(value, 24)],
            lifetime: le32(value, 32),
            flags: u16::from_le_bytes([value[36], value[37]]),
            rev_nat_index: u16::from_be_bytes([value[38], value[39]]),
            ifindex: u16::from_le_bytes([value[40], value[41]]),
            tx_flags_seen: value[42],
            rx_flags_seen: value[43],
            src_sec_id: le32(value, 44),
            last_tx_report: le32(value, 48),
            last_rx_report: le32(value, 52),
        })
    }

    /// (original direction, reply direction) counters of a non-service entry.
    /// v1.16 has one pair for both directions: it is reported as the original direction.
    pub fn counters(&self, layout: Layout, key: &CtKey) -> (Counters, Counters) {
        match layout {
            Layout::V115 => {
                let rx = Counters { packets: self.words[0], bytes: self.words[1] };
                let tx = Counters { packets: self.words[2], bytes: self.words[3] };
                // Local endpoint's view: an OUT entry sent the original direction (tx), an IN
                // entry received it (rx).
                if key.is_in() { (rx, tx) } else { (tx, rx) }
            }
            Layout::V116 => (Counters { packets: self.words[2], bytes: self.words[3] }, Counters::default()),
        }
    }
}

/// What one entry says about the layout (`layout: auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    None,
    V115,
    V116,
}

/// The `auto` rule, applied to non-SERVICE, non-RELATED entries only:
/// - **v1.15**: `0 < word0 < 2^40` and `word1 ≥ 20 × word0` — a plausible rx_packets /
///   rx_bytes pair (an IP packet is at least 20 bytes). v1.16+ never writes offsets 0–15 in
///   these entries (reserved0; backend_id only in SERVICE entries), and ≈v1.19's `nat_addr`
///   there fails the test (IPv4: word1 is 0; IPv6: word0 is ≥ 2^40 for any routable prefix).
/// - **v1.16**: a TCP entry that saw TCP flags in both directions (`tx_flags_seen` and
///   `rx_flags_seen` non-zero) with packets at offset 16 and words 0–1 zero. Under v1.15, a
///   packet seen in the rx direction would have made rx_packets (word0) non-zero.
pub fn evidence(key: &CtKey, v: &CtValue) -> Evidence {
    if key.is_service() || key.is_related() || key.nexthdr == 0 {
        return Evidence::None;
    }
    let [w0, w1, w2, _] = v.words;
    if w0 > 0 && w0 < (1 << 40) && w1 / 20 >= w0 {
        return Evidence::V115;
    }
    if w0 == 0 && w1 == 0 && w2 > 0 && key.nexthdr == PROTO_TCP && v.tx_flags_seen != 0 && v.rx_flags_seen != 0 {
        return Evidence::V116;
    }
    Evidence::None
}

/// The tracker's view of a non-service, non-related entry: the original tuple is the
/// initiator's (with the service VIP as destination when one is known), the reply comes from
/// the real destination (the backend).
pub fn to_entry(key: &CtKey, v: &CtValue, layout: Layout, vip: Option<([u8; 16], u16)>) -> Entry {
    let mut original = key.initiator_tuple();
    let reply = Tuple { family: key.family, protocol: key.nexthdr, src: original.dst, dst: original.src, src_port: original.dst_port, dst_port: original.src_port };
    if let Some((addr, port)) = vip {
        original.dst = addr;
        original.dst_port = port;
    }
    let (o, r) = v.counters(layout, key);
    Entry { original, reply, original_counters: o, reply_counters: r, ..Entry::default() }
}

/// Key bytes with the IN bit cleared: the OUT and IN entries of one flow map to the same value.
pub fn twin_key(key: &[u8]) -> [u8; KEY_V6_BYTES] {
    let mut k = [0u8; KEY_V6_BYTES];
    k[..key.len()].copy_from_slice(key);
    k[key.len() - 1] &= !TUPLE_F_IN;
    k
}

/// How a SERVICE entry and the OUT entry created after load balancing find each other:
/// the client end (address, port), the transport and the reverse-NAT index both carry.
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
pub struct ServiceKey {
    pub family: u8,
    pub protocol: u8,
    pub client: [u8; 16],
    pub client_port: u16,
    pub rev_nat_index: u16,
}

/// Text of an entry as `cilium bpf ct list global` (v1.15+) prints its tuple part.
pub fn cli_line(key: &CtKey) -> String {
    let proto = match key.nexthdr {
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        1 => "ICMP".to_string(),
        58 => "ICMPv6".to_string(),
        132 => "SCTP".to_string(),
        n => n.to_string(),
    };
    let a = |x: &[u8; 16]| crate::entry::format_addr(key.family, x);
    let mut s = if key.is_service() {
        format!("{proto} SVC {}:{} -> {}:{} ", a(&key.saddr), key.dport, a(&key.daddr), key.sport)
    } else {
        let dir = if key.is_in() { "IN" } else { "OUT" };
        format!("{proto} {dir} {}:{} -> {}:{} ", a(&key.daddr), key.sport, a(&key.saddr), key.dport)
    };
    if key.is_related() {
        s.push_str("related ");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key4(d: [u8; 4], s: [u8; 4], dport: u16, sport: u16, nh: u8, flags: u8) -> Vec<u8> {
        let mut k = Vec::new();
        k.extend_from_slice(&d);
        k.extend_from_slice(&s);
        k.extend_from_slice(&dport.to_be_bytes());
        k.extend_from_slice(&sport.to_be_bytes());
        k.push(nh);
        k.push(flags);
        k
    }

    fn value(words: [u64; 4], lifetime: u32, rev_nat: u16, txf: u8, rxf: u8) -> Vec<u8> {
        let mut v = vec![0u8; 56];
        for (i, w) in words.iter().enumerate() {
            v[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        v[32..36].copy_from_slice(&lifetime.to_le_bytes());
        v[38..40].copy_from_slice(&rev_nat.to_be_bytes());
        v[42] = txf;
        v[43] = rxf;
        v
    }

    #[test]
    fn out_entry_is_initiator_oriented_like_the_cli() {
        // Pod 10.0.1.5:40000 opened TCP to 10.0.2.7:8080; stored in reply layout.
        let k = CtKey::decode(&key4([10, 0, 1, 5], [10, 0, 2, 7], 8080, 40000, 6, 0)).unwrap();
        assert_eq!(cli_line(&k), "TCP OUT 10.0.1.5:40000 -> 10.0.2.7:8080 ");
        let t = k.initiator_tuple();
        assert_eq!((&t.src[..4], t.src_port, &t.dst[..4], t.dst_port), (&[10, 0, 1, 5][..], 40000, &[10, 0, 2, 7][..], 8080));
        let v = CtValue::decode(&value([5, 900, 7, 600], 100, 0, 0x12, 0x12)).unwrap();
        let e = to_entry(&k, &v, Layout::V115, None);
        assert_eq!((e.original_counters, e.reply_counters), (Counters { packets: 7, bytes: 600 }, Counters { packets: 5, bytes: 900 }));
        let e = to_entry(&k, &v, Layout::V116, None);
        assert_eq!((e.original_counters, e.reply_counters), (Counters { packets: 7, bytes: 600 }, Counters::default()));
    }

    #[test]
    fn in_entry_swaps_rx_and_tx_under_v115() {
        let k = CtKey::decode(&key4([10, 0, 9, 9], [10, 0, 1, 5], 80, 51000, 6, TUPLE_F_IN)).unwrap();
        assert_eq!(cli_line(&k), "TCP IN 10.0.9.9:51000 -> 10.0.1.5:80 ");
        let v = CtValue::decode(&value([3, 300, 2, 2000], 0, 0, 0, 0)).unwrap();
        let e = to_entry(&k, &v, Layout::V115, None);
        assert_eq!((e.original_counters.bytes, e.reply_counters.bytes), (300, 2000));
    }

    #[test]
    fn service_entry_forward_layout() {
        // client 10.0.1.5:40000 → VIP 10.96.0.10:53 (UDP), stored daddr=VIP, sport=VIP port.
        let k = CtKey::decode(&key4([10, 96, 0, 10], [10, 0, 1, 5], 40000, 53, 17, TUPLE_F_SERVICE)).unwrap();
        assert_eq!(cli_line(&k), "UDP SVC 10.0.1.5:40000 -> 10.96.0.10:53 ");
        let (c, cp, vip, vp) = k.service_endpoints();
        assert_eq!((&c[..4], cp, &vip[..4], vp), (&[10, 0, 1, 5][..], 40000, &[10, 96, 0, 10][..], 53));
        let v = CtValue::decode(&value([0, 42, 0, 0], 0, 7, 0, 0)).unwrap();
        assert_eq!(evidence(&k, &v), Evidence::None);
    }

    #[test]
    fn ipv6_key_and_related_label() {
        let mut k = vec![0u8; 38];
        k[0] = 0xfd;
        k[15] = 1;
        k[16] = 0xfd;
        k[31] = 2;
        k[34..36].copy_from_slice(&7u16.to_be_bytes());
        k[36] = 58;
        k[37] = TUPLE_F_RELATED;
        let key = CtKey::decode(&k).unwrap();
        assert_eq!(cli_line(&key), "ICMPv6 OUT fd00::1:7 -> fd00::2:0 related ");
        assert!(CtKey::decode(&k[..37]).is_none());
        assert!(CtValue::decode(&[0u8; 55]).is_none());
    }

    #[test]
    fn rev_nat_is_big_endian() {
        let v = CtValue::decode(&value([0; 4], 0, 0x0102, 0, 0)).unwrap();
        assert_eq!(v.rev_nat_index, 0x0102);
    }

    #[test]
    fn layout_evidence_rules() {
        let tcp = CtKey::decode(&key4([10, 0, 1, 5], [10, 0, 2, 7], 80, 40000, 6, 0)).unwrap();
        // v1.15: rx 4 packets / 400 bytes.
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([4, 400, 5, 500], 0, 0, 0x12, 0x12)).unwrap()), Evidence::V115);
        // v1.16: combined counter, flags seen both ways, words 0-1 zero.
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([0, 0, 9, 900], 0, 0, 0x12, 0x12)).unwrap()), Evidence::V116);
        // One-way traffic is no evidence either way.
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([0, 0, 3, 180], 0, 0, 0x02, 0)).unwrap()), Evidence::None);
        // ≈v1.19 nat_addr (IPv4 10.1.2.3 in word0, word1 0) is not v1.15 evidence.
        let nat = u64::from_le_bytes([10, 1, 2, 3, 0, 0, 0, 0]);
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([nat, 0, 9, 900], 0, 0, 0, 0)).unwrap()), Evidence::None);
        // IPv6 nat_addr fd00::... : word0 far above 2^40.
        let nat6 = u64::from_le_bytes([0xfd, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([nat6, 5, 9, 900], 0, 0, 0, 0)).unwrap()), Evidence::None);
        // Implausible: 4 packets of 10 bytes.
        assert_eq!(evidence(&tcp, &CtValue::decode(&value([4, 40, 5, 500], 0, 0, 0, 0)).unwrap()), Evidence::None);
    }

    #[test]
    fn twin_keys_match_out_and_in() {
        let out = key4([1, 1, 1, 1], [2, 2, 2, 2], 80, 1000, 6, 0);
        let inn = key4([1, 1, 1, 1], [2, 2, 2, 2], 80, 1000, 6, TUPLE_F_IN);
        assert_eq!(twin_key(&out), twin_key(&inn));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x1234_5678_u64;
        let mut rand = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..100_000 {
            let len = [14, 38][i % 2];
            let k: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
            let v: Vec<u8> = (0..56).map(|_| rand() as u8).collect();
            let key = CtKey::decode(&k).unwrap();
            let val = CtValue::decode(&v).unwrap();
            let _ = evidence(&key, &val);
            let _ = to_entry(&key, &val, Layout::V115, None);
            let _ = cli_line(&key);
        }
    }
}
