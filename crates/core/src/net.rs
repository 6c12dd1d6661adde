//! Network addresses as the edges need them: the proxy networks trusted to name the client
//! (`auth.trusted_proxies`), and the client behind them. Pure parsing and comparison.

use std::net::IpAddr;

/// A proxy address or network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an IP address or network (a.b.c.d/n, x::y/n)");
        let (ip, bits) = match s.split_once('/') {
            Some((ip, b)) => (ip, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, max) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V6(n), IpAddr::V4(i)) => (u128::from(n), u128::from(i.to_ipv6_mapped()), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u32::from(n) as u128, u32::from(i) as u128, 32),
                None => return false,
            },
        };
        let shift = max - u32::from(self.bits);
        if shift >= 128 {
            return true;
        }
        (a >> shift) == (b >> shift)
    }
}

/// The client behind a chain of trusted proxies: walk `X-Forwarded-For` from the right
/// (nearest hop first) while the hop is trusted; the first untrusted address is the client.
/// An untrusted peer's headers are ignored (anyone can send them).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_behind_trusted_proxies() {
        use super::{client_address, Cidr};
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = vec![
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("::1").unwrap(),
        ];
        let xff = |v: &'static [&'static str]| v.iter().copied();
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_address(ip("192.0.2.9"), xff(&["1.2.3.4"]), &trusted),
            ip("192.0.2.9")
        );
        // A trusted proxy: the nearest untrusted hop wins, spoofed left entries do not.
        assert_eq!(
            client_address(
                ip("10.1.1.1"),
                xff(&["6.6.6.6, 1.2.3.4", "10.2.2.2"]),
                &trusted
            ),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address(ip("10.1.1.1"), xff(&[]), &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("::1"), xff(&["garbage"]), &trusted),
            ip("::1")
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        assert!(!Cidr::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains(ip("::ffff:127.0.0.1")));
    }
}
