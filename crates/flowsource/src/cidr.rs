//! CIDR matching for `exclude_cidrs` (applied in Rust so excluded traffic never crosses).

use crate::entry::{FAMILY_IPV4, FAMILY_IPV6};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    family: u8,
    addr: [u8; 16],
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text.trim().split_once('/').ok_or_else(|| format!("\"{text}\" is not a CIDR (address/prefix)"))?;
        let ip: IpAddr = addr.parse().map_err(|_| format!("\"{text}\" is not a CIDR (address/prefix)"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("\"{text}\" has a bad prefix"))?;
        let (family, bytes, max) = match ip {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&v4.octets());
                (FAMILY_IPV4, b, 32)
            }
            IpAddr::V6(v6) => (FAMILY_IPV6, v6.octets(), 128),
        };
        if prefix > max {
            return Err(format!("\"{text}\" has a prefix longer than the address"));
        }
        Ok(Cidr { family, addr: bytes, prefix })
    }

    pub fn contains(&self, family: u8, addr: &[u8; 16]) -> bool {
        if family != self.family {
            return false;
        }
        let full = usize::from(self.prefix / 8);
        if addr[..full] != self.addr[..full] {
            return false;
        }
        let rest = self.prefix % 8;
        if rest == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rest);
        addr[full] & mask == self.addr[full] & mask
    }
}

/// Parses a comma-separated list (the form the Node boundary passes).
pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split(',').filter(|s| !s.trim().is_empty()).map(Cidr::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&a);
        b
    }
    #[test]
    fn matches_prefixes() {
        let c = Cidr::parse("10.1.0.0/17").unwrap();
        assert!(c.contains(4, &v4([10, 1, 127, 3])));
        assert!(!c.contains(4, &v4([10, 1, 128, 3])));
        assert!(!c.contains(6, &v4([10, 1, 0, 3])));
        let l = Cidr::parse("::1/128").unwrap();
        assert!(l.contains(6, &std::net::Ipv6Addr::LOCALHOST.octets()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(4, &v4([8, 8, 8, 8])));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("banana").is_err());
        assert_eq!(parse_list("127.0.0.0/8, ::1/128").unwrap().len(), 2);
    }
}
