//! IP allow-list entries (CIDR blocks).
//!
//! A credential pinned to the networks it is used from is useless to whoever steals it elsewhere.
//! Entries are parsed strictly at load time so that a typo can neither silently widen an
//! allow-list (host bits set, as in `203.0.113.5/24`) nor void it.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`) are treated as the IPv4 address they carry,
//! both as client addresses and as entries, because dual-stack sockets report IPv4 clients that
//! way. No other IPv6 form is translated: in particular the deprecated IPv4-compatible form
//! (`::203.0.113.7`, which includes `::1`) is plain IPv6.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{AuthError, ErrorCode};

/// Longer than any valid entry (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128` is 49).
const MAX_ENTRY_LEN: usize = 64;

/// A network prefix. A bare address is a single-host network (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network. Addresses of the other family never match.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & v4_mask(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & v6_mask(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }

    /// The network address (host bits are always zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }
}

impl FromStr for Cidr {
    type Err = AuthError;

    /// Parses `203.0.113.0/24`, `2001:db8::/32` or a bare address. Refusals are
    /// [`ErrorCode::InvalidConfig`] with a message naming the problem (never the input).
    fn from_str(s: &str) -> Result<Cidr, AuthError> {
        if s.is_empty() {
            return Err(invalid("IP allow-list entry is empty"));
        }
        if s.len() > MAX_ENTRY_LEN {
            return Err(invalid("IP allow-list entry is too long"));
        }
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| invalid("IP allow-list entry is not an IP address or CIDR block"))?;
        let max_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix_len = match prefix_text {
            Some(text) => parse_prefix_len(text, max_len)?,
            None => max_len,
        };
        let (network, prefix_len) = canonical_entry(addr, prefix_len);
        let has_host_bits = match network {
            IpAddr::V4(a) => u32::from(a) & !v4_mask(prefix_len) != 0,
            IpAddr::V6(a) => u128::from(a) & !v6_mask(prefix_len) != 0,
        };
        if has_host_bits {
            return Err(invalid(
                "IP allow-list entry has host bits set beyond its prefix length",
            ));
        }
        Ok(Cidr {
            network,
            prefix_len,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

fn invalid(message: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, message)
}

/// Decimal digits only: no sign, no whitespace, no leading zero (`/08` is ambiguous to humans).
fn parse_prefix_len(text: &str, max_len: u8) -> Result<u8, AuthError> {
    let well_formed = !text.is_empty()
        && text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !well_formed {
        return Err(invalid("IP allow-list prefix length is not a number"));
    }
    match text.parse::<u8>() {
        Ok(len) if len <= max_len => Ok(len),
        _ => Err(invalid("IP allow-list prefix length is out of range")),
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `::ffff:a.b.c.d/p` with `p >= 96` is the IPv4 block `a.b.c.d/(p-96)`.
fn canonical_entry(addr: IpAddr, prefix_len: u8) -> (IpAddr, u8) {
    match addr {
        IpAddr::V6(v6) if prefix_len >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix_len - 96),
            None => (addr, prefix_len),
        },
        _ => (addr, prefix_len),
    }
}

fn v4_mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0)
}

fn v6_mask(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len.min(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn err(s: &str) -> String {
        let e = s.parse::<Cidr>().unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig, "{s:?}");
        e.message().to_string()
    }

    #[test]
    fn parses_blocks_and_bare_addresses() {
        let c = cidr("203.0.113.0/24");
        assert_eq!(c.network(), ip("203.0.113.0"));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(cidr("198.51.100.14").prefix_len(), 32);
        assert_eq!(cidr("2001:db8::/32").prefix_len(), 32);
        assert_eq!(cidr("2001:db8::1").prefix_len(), 128);
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::/0").to_string(), "::/0");
        assert_eq!(cidr("2001:DB8:0:0::/64").to_string(), "2001:db8::/64");
    }

    #[test]
    fn contains_matches_exactly_the_block() {
        let c = cidr("203.0.113.0/24");
        assert!(c.contains(ip("203.0.113.0")));
        assert!(c.contains(ip("203.0.113.255")));
        assert!(!c.contains(ip("203.0.114.0")));
        assert!(!c.contains(ip("203.0.112.255")));
        let host = cidr("198.51.100.14");
        assert!(host.contains(ip("198.51.100.14")));
        assert!(!host.contains(ip("198.51.100.15")));
        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(cidr("0.0.0.0/0").contains(ip("255.255.255.255")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn families_do_not_cross_except_for_ipv4_mapped() {
        assert!(cidr("203.0.113.0/24").contains(ip("::ffff:203.0.113.7")));
        assert!(!cidr("203.0.113.0/24").contains(ip("::ffff:203.0.114.7")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        // A mapped client is its IPv4 address, so an IPv6 catch-all does not cover it.
        assert!(!cidr("::/0").contains(ip("::ffff:203.0.113.7")));
        assert!(!cidr("::/0").contains(ip("203.0.113.7")));
        // IPv4-compatible addresses (including loopback ::1) are not translated.
        assert!(!cidr("0.0.0.0/8").contains(ip("::1")));
        assert!(!cidr("203.0.113.0/24").contains(ip("::203.0.113.7")));
    }

    #[test]
    fn ipv4_mapped_entries_become_ipv4_blocks() {
        let c = cidr("::ffff:203.0.113.0/120");
        assert_eq!(c.to_string(), "203.0.113.0/24");
        assert!(c.contains(ip("203.0.113.9")));
        assert!(c.contains(ip("::ffff:203.0.113.9")));
        assert_eq!(cidr("::ffff:203.0.113.7").to_string(), "203.0.113.7/32");
        assert_eq!(cidr("::ffff:0:0/96").to_string(), "0.0.0.0/0");
        // Shorter than /96 the block is not all mapped space: it stays IPv6.
        assert_eq!(cidr("::fffe:0:0/95").to_string(), "::fffe:0:0/95");
        assert!(!cidr("::fffe:0:0/95").contains(ip("203.0.113.9")));
    }

    #[test]
    fn refuses_host_bits() {
        let msg = err("203.0.113.5/24");
        assert!(msg.contains("host bits"), "{msg}");
        assert!(err("2001:db8::1/32").contains("host bits"));
        assert!(err("0.0.0.1/0").contains("host bits"));
        assert!(err("::ffff:203.0.113.5/120").contains("host bits"));
    }

    #[test]
    fn refuses_prefix_lengths_out_of_range_or_malformed() {
        assert!(err("203.0.113.0/33").contains("out of range"));
        assert!(err("2001:db8::/129").contains("out of range"));
        assert!(err("10.0.0.0/255").contains("out of range"));
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "10.0.0.0/8 ",
            "10.0.0.0/ 8",
            "10.0.0.0/1000",
            "10.0.0.0/8/8",
            "10.0.0.0/x",
            "10.0.0.0/٨",
        ] {
            assert!(err(bad).contains("prefix length is not a number"), "{bad}");
        }
    }

    #[test]
    fn refuses_garbage() {
        assert!(err("").contains("empty"));
        assert!(err(&"1".repeat(65)).contains("too long"));
        assert!(err(&"1".repeat(1_000_000)).contains("too long"));
        for bad in [
            "abc",
            "1.2.3",
            "1.2.3.4.5",
            "256.0.0.0",
            "010.0.0.1",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.0.1\n",
            "10.0.0.0\0/8",
            "/8",
            "fe80::1%eth0",
            "[2001:db8::1]",
            "2001:db8:::1",
            "１.２.３.４",
            "10.0.0.0/８",
            "localhost",
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidConfig, "{bad:?}");
        }
        assert!(err("localhost").contains("not an IP address"));
    }

    #[test]
    fn messages_never_echo_the_entry() {
        for bad in ["evil-token-abc", "203.0.113.5/24", "10.0.0.0/99"] {
            assert!(!err(bad).contains(bad));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<Cidr>();
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = s.parse::<Cidr>();
        }

        #[test]
        fn masked_v4_blocks_contain_their_members(addr in any::<u32>(), len in 0u8..=32) {
            let network = Ipv4Addr::from(addr & v4_mask(len));
            let c: Cidr = format!("{network}/{len}").parse().unwrap();
            prop_assert_eq!(c.to_string().parse::<Cidr>().unwrap(), c);
            prop_assert!(c.contains(IpAddr::V4(Ipv4Addr::from(addr))));
            prop_assert!(c.contains(IpAddr::V6(Ipv4Addr::from(addr).to_ipv6_mapped())));
            if len > 0 {
                let outside = addr ^ (1u32 << (32 - u32::from(len)));
                prop_assert!(!c.contains(IpAddr::V4(Ipv4Addr::from(outside))));
            }
        }

        #[test]
        fn masked_v6_blocks_contain_their_members(addr in any::<u128>(), len in 0u8..=128) {
            let network = Ipv6Addr::from(addr & v6_mask(len));
            let c: Cidr = format!("{network}/{len}").parse().unwrap();
            prop_assert_eq!(c.to_string().parse::<Cidr>().unwrap(), c);
            let member = Ipv6Addr::from(addr);
            if member.to_ipv4_mapped().is_none() {
                prop_assert!(c.contains(IpAddr::V6(member)));
            }
        }
    }
}
