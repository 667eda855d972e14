//! IP address management, pure: default gateways and pools, pool validation, and the choice of
//! a free address. Whether an address is free is decided by the caller from the allocation
//! table; the unique key on `(network, address)` settles races.

use std::collections::HashSet;
use std::net::IpAddr;

use nt_types::net::{ip_to_u128, ip_version, u128_to_ip, Cidr};
use nt_types::subnet::AllocationPool;
use nt_types::Error;
use rand::Rng;

/// How many free addresses the random choice considers, as upstream's internal IPAM.
const CHOICE_WINDOW: usize = 1000;

/// Default gateway: IPv4 network + 1, IPv6 the subnet-router anycast address (the network
/// address itself). `None` for prefixes too small to have one.
pub fn default_gateway(cidr: &Cidr) -> Option<IpAddr> {
    let net = ip_to_u128(cidr.network());
    if cidr.version() == 6 {
        return Some(cidr.network());
    }
    if cidr.size() < 2 {
        return None;
    }
    Some(u128_to_ip(4, net + 1))
}

/// First and last usable host addresses: IPv4 skips network and broadcast for prefixes up to
/// /30; IPv6 skips the network address (the subnet-router anycast).
pub fn usable_range(cidr: &Cidr) -> (u128, u128) {
    let first = ip_to_u128(cidr.network());
    let last = ip_to_u128(cidr.last());
    match cidr.version() {
        4 if cidr.prefix_len() >= 31 => (first, last),
        4 => (first + 1, last - 1),
        _ if cidr.prefix_len() == 128 => (first, last),
        _ => (first + 1, last),
    }
}

/// Default allocation pools: the usable range with the gateway cut out.
pub fn default_pools(cidr: &Cidr, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let (first, last) = usable_range(cidr);
    let version = cidr.version();
    let mut ranges = vec![(first, last)];
    if let Some(gw) = gateway.map(ip_to_u128) {
        if gw >= first && gw <= last {
            ranges.clear();
            if gw > first {
                ranges.push((first, gw - 1));
            }
            if gw < last {
                ranges.push((gw + 1, last));
            }
        }
    }
    ranges
        .into_iter()
        .map(|(a, b)| AllocationPool {
            start: u128_to_ip(version, a).to_string(),
            end: u128_to_ip(version, b).to_string(),
        })
        .collect()
}

/// Parses pools into integer ranges.
pub fn pool_ranges(pools: &[AllocationPool]) -> Vec<(u128, u128)> {
    pools
        .iter()
        .filter_map(|p| {
            let a: IpAddr = p.start.parse().ok()?;
            let b: IpAddr = p.end.parse().ok()?;
            Some((ip_to_u128(a), ip_to_u128(b)))
        })
        .collect()
}

/// Validates requested pools against the prefix and gateway with upstream's error types.
pub fn validate_pools(
    cidr: &Cidr,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> Result<(), Error> {
    let (first, last) = usable_range(cidr);
    let mut ranges = Vec::new();
    for pool in pools {
        let start: IpAddr = pool.start.parse().map_err(|_| invalid_pool(pool))?;
        let end: IpAddr = pool.end.parse().map_err(|_| invalid_pool(pool))?;
        if ip_version(&start) != cidr.version() || ip_version(&end) != cidr.version() || start > end
        {
            return Err(invalid_pool(pool));
        }
        let (a, b) = (ip_to_u128(start), ip_to_u128(end));
        if a < first || b > last {
            return Err(Error::new(
                nt_types::ErrorKind::BadRequest,
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {}-{} spans beyond the subnet cidr {cidr}.",
                    pool.start, pool.end
                ),
            ));
        }
        ranges.push((a, b, pool));
    }
    ranges.sort_by_key(|r| r.0);
    for pair in ranges.windows(2) {
        if pair[1].0 <= pair[0].1 {
            return Err(Error::conflict(
                "OverlappingAllocationPools",
                format!(
                    "Found overlapping allocation pools: {}-{} and {}-{} for subnet {cidr}.",
                    pair[0].2.start, pair[0].2.end, pair[1].2.start, pair[1].2.end
                ),
            ));
        }
    }
    if let Some(gw) = gateway {
        let g = ip_to_u128(gw);
        if let Some((_, _, pool)) = ranges.iter().find(|(a, b, _)| *a <= g && g <= *b) {
            return Err(Error::conflict(
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {gw} conflicts with allocation pool {}-{}",
                    pool.start, pool.end
                ),
            ));
        }
    }
    Ok(())
}

fn invalid_pool(pool: &AllocationPool) -> Error {
    Error::new(
        nt_types::ErrorKind::BadRequest,
        "InvalidAllocationPool",
        format!("The allocation pool {}-{} is not valid.", pool.start, pool.end),
    )
}

/// True when `ip` lies in one of the pools.
pub fn in_pools(pools: &[(u128, u128)], ip: &IpAddr) -> bool {
    let n = ip_to_u128(*ip);
    pools.iter().any(|(a, b)| *a <= n && n <= *b)
}

/// Picks a free address: the first pool with room, uniformly among its first free addresses
/// (the lowest one when `lowest` is set, as for DHCP and metadata ports).
pub fn choose_free(
    version: u8,
    pools: &[(u128, u128)],
    taken: &HashSet<u128>,
    lowest: bool,
    rng: &mut impl Rng,
) -> Option<IpAddr> {
    for &(start, end) in pools {
        let mut window = Vec::new();
        let mut n = start;
        while n <= end && window.len() < CHOICE_WINDOW {
            if !taken.contains(&n) {
                if lowest {
                    return Some(u128_to_ip(version, n));
                }
                window.push(n);
            }
            n += 1;
        }
        if !window.is_empty() {
            return Some(u128_to_ip(version, window[rng.gen_range(0..window.len())]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool { start: a.into(), end: b.into() }
    }

    #[test]
    fn default_gateway_and_pools_follow_upstream() {
        let v4 = cidr("10.0.0.0/24");
        let gw = default_gateway(&v4);
        assert_eq!(gw.unwrap().to_string(), "10.0.0.1");
        assert_eq!(default_pools(&v4, gw), vec![pool("10.0.0.2", "10.0.0.254")]);
        let v6 = cidr("2001:db8::/64");
        let gw6 = default_gateway(&v6);
        assert_eq!(gw6.unwrap().to_string(), "2001:db8::");
        assert_eq!(
            default_pools(&v6, gw6),
            vec![pool("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")]
        );
        let gw_mid: IpAddr = "10.0.0.100".parse().unwrap();
        assert_eq!(
            default_pools(&v4, Some(gw_mid)),
            vec![pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")]
        );
        assert_eq!(default_pools(&cidr("10.0.0.0/31"), None), vec![pool("10.0.0.0", "10.0.0.1")]);
    }

    #[test]
    fn pool_validation_gives_upstream_types() {
        let v4 = cidr("10.0.0.0/24");
        let gw = Some("10.0.0.1".parse().unwrap());
        let ty = |pools: &[AllocationPool]| {
            validate_pools(&v4, pools, gw).unwrap_err().r#type.to_string()
        };
        assert_eq!(ty(&[pool("10.0.0.20", "10.0.0.10")]), "InvalidAllocationPool");
        assert_eq!(ty(&[pool("10.0.0.2", "10.0.1.10")]), "OutOfBoundsAllocationPool");
        assert_eq!(ty(&[pool("10.0.0.0", "10.0.0.10")]), "OutOfBoundsAllocationPool");
        assert_eq!(
            ty(&[pool("10.0.0.2", "10.0.0.10"), pool("10.0.0.10", "10.0.0.20")]),
            "OverlappingAllocationPools"
        );
        assert_eq!(ty(&[pool("10.0.0.1", "10.0.0.10")]), "GatewayConflictWithAllocationPools");
        assert_eq!(ty(&[pool("2001:db8::1", "2001:db8::5")]), "InvalidAllocationPool");
        assert!(validate_pools(
            &v4,
            &[pool("10.0.0.2", "10.0.0.10"), pool("10.0.0.20", "10.0.0.30")],
            gw
        )
        .is_ok());
    }

    #[test]
    fn choice_skips_taken_addresses_and_exhausts() {
        let pools = vec![(10u128, 12u128), (20, 20)];
        let mut rng = rand::thread_rng();
        let taken: HashSet<u128> = [10, 11, 12].into_iter().collect();
        assert_eq!(choose_free(4, &pools, &taken, false, &mut rng).unwrap(), u128_to_ip(4, 20));
        let taken: HashSet<u128> = [10, 11, 12, 20].into_iter().collect();
        assert!(choose_free(4, &pools, &taken, false, &mut rng).is_none());
        let taken: HashSet<u128> = [10].into_iter().collect();
        assert_eq!(choose_free(4, &pools, &taken, true, &mut rng).unwrap(), u128_to_ip(4, 11));
        for _ in 0..50 {
            let ip = choose_free(4, &pools, &HashSet::new(), false, &mut rng).unwrap();
            assert!(in_pools(&pools[..1], &ip));
        }
    }
}
