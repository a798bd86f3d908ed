//! `/proc/net/nf_conntrack` reader (fallback when ctnetlink is unavailable).
//!
//! One line per entry, e.g.
//!
//! ```text
//! ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=36888 dport=80 packets=6 bytes=372
//!     src=10.0.0.2 dst=10.0.0.1 sport=80 dport=36888 packets=4 bytes=290 [ASSURED] mark=0 zone=0 use=2
//! ipv6    10 ipv6-icmp 58 29 src=fd00::1 dst=fd00::2 type=128 code=0 id=7 packets=1 bytes=104 src=... type=129 ...
//! ```
//! family name, family number, protocol name, protocol number, seconds to expiry, an optional
//! state word, the original tuple (from the first `src=`), the reply tuple (from the second),
//! then flags in brackets and `mark=`, `zone=`, `use=`. `packets=`/`bytes=` appear only with
//! nf_conntrack_acct=1. There is no conntrack id (identity is tuple + zone).
//!
//! The kernel re-walks the hash table from bucket 0 on every read() of this file, so reading
//! it costs O(n²) in the number of entries: on big tables it takes minutes (netlink does not).

use crate::entry::{Counters, Entry, Tuple, FAMILY_IPV4, FAMILY_IPV6};
use std::io::{self, BufRead, BufReader};
use std::net::IpAddr;

pub const PATH: &str = "/proc/net/nf_conntrack";
/// What is opened: /proc/net is the namespace of the *process*; thread-self/net follows the
/// thread, which matters when a thread has entered another namespace with setns.
const THREAD_PATH: &str = "/proc/thread-self/net/nf_conntrack";

#[derive(Debug, Default, Clone)]
pub struct ReadStats {
    pub entries: u64,
    pub skipped: u64,
    pub first_error: Option<String>,
}

/// Opens the file in the namespace `netns` (it shows the table of the opener's namespace).
pub fn open(netns: Option<&str>) -> io::Result<std::fs::File> {
    crate::sys::in_netns(netns, || {
        std::fs::File::open(THREAD_PATH).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(e.kind(), format!("{PATH}: permission denied: reading conntrack needs CAP_NET_ADMIN (root)"))
            } else {
                io::Error::new(e.kind(), format!("{PATH}: {e} (is CONFIG_NF_CONNTRACK_PROCFS enabled and nf_conntrack loaded?)"))
            }
        })
    })
}

/// Reads every line, calling `on_entry` for each that parses; others are counted and skipped.
pub fn read(file: std::fs::File, mut on_entry: impl FnMut(&Entry)) -> io::Result<ReadStats> {
    let mut stats = ReadStats::default();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(stats);
        }
        number += 1;
        match parse_line(&line) {
            Ok(e) => {
                stats.entries += 1;
                on_entry(&e);
            }
            Err(why) => {
                stats.skipped += 1;
                stats.first_error.get_or_insert_with(|| format!("{PATH} line {number}: {why}"));
            }
        }
    }
}

pub fn parse_line(line: &str) -> Result<Entry, String> {
    let mut words = line.split_ascii_whitespace();
    let family = match words.next() {
        Some("ipv4") => FAMILY_IPV4,
        Some("ipv6") => FAMILY_IPV6,
        other => return Err(format!("unknown family {other:?}")),
    };
    words.next().ok_or("missing family number")?;
    words.next().ok_or("missing protocol name")?;
    let protocol: u8 = words.next().and_then(|w| w.parse().ok()).ok_or("bad protocol number")?;
    let timeout: u32 = words.next().and_then(|w| w.parse().ok()).ok_or("bad timeout")?;
    let mut e = Entry { timeout, ..Entry::default() };
    // 0: before the first src=, 1: original tuple, 2: reply tuple.
    let mut direction = 0usize;
    let mut tuples = [Tuple { family, protocol, ..Tuple::default() }; 2];
    let mut counters = [Counters::default(); 2];
    for word in words {
        let Some((key, value)) = word.split_once('=') else { continue };
        if key == "src" {
            direction += 1;
            if direction > 2 {
                return Err("more than two tuples".into());
            }
        }
        if direction == 0 {
            continue;
        }
        let (t, c) = (&mut tuples[direction - 1], &mut counters[direction - 1]);
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("bad {key}={v}"));
        match key {
            "src" => t.src = addr(value, family)?,
            "dst" => t.dst = addr(value, family)?,
            "sport" | "id" => t.src_port = num(value)? as u16,
            "dport" => t.dst_port = num(value)? as u16,
            "type" => t.dst_port = (t.dst_port & 0xff) | ((num(value)? as u16 & 0xff) << 8),
            "code" => t.dst_port = (t.dst_port & 0xff00) | (num(value)? as u16 & 0xff),
            "packets" => c.packets = num(value)?,
            "bytes" => c.bytes = num(value)?,
            "mark" => e.mark = num(value)? as u32,
            "zone" | "zone-orig" => e.zone = num(value)? as u16,
            _ => {}
        }
    }
    if direction != 2 {
        return Err("expected an original and a reply tuple".into());
    }
    [e.original, e.reply] = tuples;
    [e.original_counters, e.reply_counters] = counters;
    Ok(e)
}

fn addr(text: &str, family: u8) -> Result<[u8; 16], String> {
    let mut out = [0u8; 16];
    match (text.parse::<IpAddr>(), family) {
        (Ok(IpAddr::V4(a)), FAMILY_IPV4) => out[..4].copy_from_slice(&a.octets()),
        (Ok(IpAddr::V6(a)), FAMILY_IPV6) => out = a.octets(),
        _ => return Err(format!("bad address {text:?}")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_with_counters() {
        let e = parse_line("ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=36888 dport=80 packets=6 bytes=372 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=36888 packets=4 bytes=290 [ASSURED] mark=7 zone=3 use=2\n").unwrap();
        assert_eq!(e.original.protocol, 6);
        assert_eq!(&e.original.src[..4], &[10, 0, 0, 1]);
        assert_eq!(&e.reply.src[..4], &[10, 0, 0, 2]);
        assert_eq!((e.original.src_port, e.original.dst_port), (36888, 80));
        assert_eq!(e.original_counters, Counters { packets: 6, bytes: 372 });
        assert_eq!(e.reply_counters, Counters { packets: 4, bytes: 290 });
        assert_eq!((e.mark, e.zone, e.timeout), (7, 3, 117));
    }

    #[test]
    fn parses_ipv6_icmp_and_uncompressed_addresses() {
        let e = parse_line("ipv6     10 ipv6-icmp 58 29 src=fd00:0000:0000:0000:0000:0000:0000:0001 dst=fd00::2 type=128 code=0 id=7 packets=1 bytes=104 src=fd00::2 dst=fd00::1 type=129 code=0 id=7 packets=1 bytes=104 mark=0 use=1").unwrap();
        assert_eq!(e.original.family, FAMILY_IPV6);
        assert_eq!(e.original.src, "fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        assert_eq!(e.original.src_port, 7);
        assert_eq!(e.original.dst_port, 128 << 8);
        assert_eq!(e.reply_counters.bytes, 104);
    }

    #[test]
    fn without_accounting_counters_are_zero() {
        let e = parse_line("ipv4 2 udp 17 29 src=10.0.0.1 dst=10.0.0.2 sport=5 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5 mark=0 use=1").unwrap();
        assert_eq!(e.original_counters, Counters::default());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "ipv5 2 tcp 6 1", "ipv4 2 tcp x 1", "ipv4 2 tcp 6 1 src=1.2.3.4 dst=1.2.3.5", "ipv4 2 tcp 6 1 src=::1 dst=1.1.1.1 src=1.1.1.1 dst=1.1.1.1", "ipv4 2 tcp 6 1 src=1.1.1.1 sport=x src=1.1.1.1"] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
