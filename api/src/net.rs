//! Addresses and networks as Hector stores them: 16-byte big-endian keys, IPv4 mapped into
//! IPv6, so that a CIDR filter is a range scan on one index for both families.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// The storage key of an address.
pub fn ip_key(addr: IpAddr) -> Vec<u8> {
    let v6 = match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6.octets().to_vec()
}

/// The address a storage key stands for (mapped IPv4 comes back as IPv4).
pub fn ip_from_key(key: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 16] = key.try_into().ok()?;
    let v6 = Ipv6Addr::from(octets);
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// First and last storage key inside a network, inclusive.
pub fn net_key_range(net: &IpNet) -> (Vec<u8>, Vec<u8>) {
    (ip_key(net.network()), ip_key(net.broadcast()))
}

/// The key range of the IPv4-mapped block when an IPv6 network strictly contains it.
pub fn mapped_block_inside(net: &IpNet) -> Option<(Vec<u8>, Vec<u8>)> {
    let IpNet::V6(v6) = net else {
        return None;
    };
    let mapped = ipnet::Ipv6Net::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96).ok()?;
    (v6.prefix_len() < 96 && v6.contains(&mapped)).then(|| net_key_range(&IpNet::V6(mapped)))
}

/// Number of addresses in a network, saturating at `u128::MAX`.
pub fn net_size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_both_families() {
        for text in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::1",
            "::1",
            "::",
        ] {
            let addr: IpAddr = text.parse().unwrap();
            assert_eq!(ip_from_key(&ip_key(addr)), Some(addr), "{text}");
        }
    }

    #[test]
    fn v4_keys_sort_inside_their_mapped_range_and_apart_from_v6() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        let (lo, hi) = net_key_range(&net);
        let inside = ip_key("10.200.1.1".parse().unwrap());
        let outside = ip_key("11.0.0.0".parse().unwrap());
        let v6 = ip_key("2001:db8::1".parse().unwrap());
        assert!(lo <= inside && inside <= hi);
        assert!(outside > hi);
        assert!(v6 > hi);
        assert_eq!(net_size(&net), 1 << 24);
        assert_eq!(net_size(&"::/0".parse().unwrap()), u128::MAX);
    }
}
