//! Address types: [`Cidr`] (a network prefix), [`MacAddr`], and address arithmetic used by IPAM.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// A network prefix, always in network-address form (`10.0.0.5/24` becomes `10.0.0.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Parses `addr/len`, normalising to the network address. A bare address is refused.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let net: IpNet = s.parse().map_err(|_| format!("'{s}' is not a valid IP subnet"))?;
        Ok(Cidr(net.trunc()))
    }

    /// Parses `addr/len` or a bare address (a host route / remote prefix).
    pub fn parse_lenient(s: &str) -> Result<Cidr, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Cidr(IpNet::from(ip)));
        }
        Cidr::parse(s)
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self.0 {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        }
    }

    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    /// The last address of the prefix (IPv4 broadcast).
    pub fn last(&self) -> IpAddr {
        self.0.broadcast()
    }

    /// True when `ip` lies inside the prefix.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }

    /// True when the two prefixes share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }

    /// Number of addresses in the prefix (saturating for huge IPv6 prefixes).
    pub fn size(&self) -> u128 {
        let bits = match self.0 {
            IpNet::V4(_) => 32,
            IpNet::V6(_) => 128,
        } - u32::from(self.prefix_len());
        if bits >= 128 {
            u128::MAX
        } else {
            1u128 << bits
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An address as an integer, for range arithmetic over both families.
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of family `version` with integer value `n`.
pub fn u128_to_ip(version: u8, n: u128) -> IpAddr {
    if version == 4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// The version (4/6) of an address.
pub fn ip_version(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        4
    } else {
        6
    }
}

/// The SLAAC address of `mac` in the /64 `prefix` (modified EUI-64, RFC 4291 appendix A).
pub fn eui64_address(prefix: &Cidr, mac: &MacAddr) -> IpAddr {
    let m = mac.0;
    let iid: [u8; 8] = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let net = ip_to_u128(prefix.network());
    let host = u128::from(u64::from_be_bytes(iid));
    u128_to_ip(6, (net & !u128::from(u64::MAX)) | host)
}

/// A MAC address, written lower-case with colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A random MAC under `base` (Neutron's `base_mac`, e.g. `fa:16:3e:00:00:00`): the octets of
    /// `base` that are non-zero are kept, the rest are random. At least the first three octets
    /// always come from `base`.
    pub fn random_with_base(base: &MacAddr, rng: &mut impl rand::Rng) -> MacAddr {
        let mut out = base.0;
        let mut fixed = 3;
        while fixed < 6 && base.0[fixed] != 0 {
            fixed += 1;
        }
        for b in out.iter_mut().skip(fixed) {
            *b = rng.gen();
        }
        MacAddr(out)
    }

    /// True for the all-zero address.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// True for multicast (and broadcast) addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a valid MAC address");
        let parts: Vec<&str> =
            if s.contains(':') { s.split(':').collect() } else { s.split('-').collect() };
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(bad());
            }
            out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_is_normalised_and_overlap_is_symmetric() {
        let a = Cidr::parse("10.0.0.5/24").unwrap();
        assert_eq!(a.to_string(), "10.0.0.0/24");
        let b = Cidr::parse("10.0.0.128/25").unwrap();
        let c = Cidr::parse("10.0.1.0/24").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(Cidr::parse("10.0.0.1").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert_eq!(a.size(), 256);
    }

    #[test]
    fn eui64_matches_rfc4291_example() {
        let prefix = Cidr::parse("2001:db8::/64").unwrap();
        let mac: MacAddr = "fa:16:3e:12:34:56".parse().unwrap();
        assert_eq!(eui64_address(&prefix, &mac).to_string(), "2001:db8::f816:3eff:fe12:3456");
    }

    #[test]
    fn mac_parses_and_keeps_base_prefix() {
        let base: MacAddr = "fa:16:3e:00:00:00".parse().unwrap();
        let mut rng = rand::thread_rng();
        let m = MacAddr::random_with_base(&base, &mut rng);
        assert_eq!(&m.0[..3], &[0xfa, 0x16, 0x3e]);
        assert_eq!(
            "FA-16-3E-00-00-01".parse::<MacAddr>().unwrap().to_string(),
            "fa:16:3e:00:00:01"
        );
        assert!("fa:16:3e:00:00".parse::<MacAddr>().is_err());
        assert!("zz:16:3e:00:00:00".parse::<MacAddr>().is_err());
    }
}
