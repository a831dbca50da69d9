//! Source country and AS number of an address, from MaxMind-format databases (`.mmdb`: GeoLite2
//! Country or City, GeoLite2 ASN, or any database with the same fields). Both are optional:
//! without them events carry no country or AS number, and start-up says so once.
//!
//! [`build`] writes a small database of this format, so tests, benchmarks and operators with
//! their own address plans need nothing downloaded.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;

use crate::error::{AppError, AppResult};

/// What a lookup gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
}

impl Origin {
    pub fn country_code(&self) -> Option<String> {
        country_text(self.country)
    }
}

/// A country code (as [`Origin`] holds it) as text.
pub fn country_text(country: Option<[u8; 2]>) -> Option<String> {
    country.map(|c| String::from_utf8_lossy(&c).into_owned())
}

#[derive(serde::Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
}

#[derive(serde::Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// The databases the configuration names, opened once at start-up.
#[derive(Default)]
pub struct GeoIp {
    readers: Vec<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GeoIp({} databases)", self.readers.len())
    }
}

impl GeoIp {
    /// Opens each path given; a path that cannot be read or is not a MaxMind database is an
    /// error (a configured database that silently does nothing would hide the mistake).
    pub fn open(paths: &[&Path]) -> AppResult<Self> {
        let mut readers = Vec::new();
        for path in paths {
            let reader = Reader::open_readfile(path).map_err(|e| {
                AppError::Internal(
                    format!("cannot open the GeoIP database {}: {e}", path.display()).into(),
                )
            })?;
            readers.push(reader);
        }
        Ok(Self { readers })
    }

    /// From database bytes (tests).
    pub fn from_bytes(databases: Vec<Vec<u8>>) -> AppResult<Self> {
        let readers = databases
            .into_iter()
            .map(Reader::from_source)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AppError::Internal(format!("not a GeoIP database: {e}").into()))?;
        Ok(Self { readers })
    }

    pub fn is_empty(&self) -> bool {
        self.readers.is_empty()
    }

    /// The country and AS number of `addr`, from whichever database knows them; empty where
    /// none does (or a database is damaged there: a lookup never fails an event).
    pub fn lookup(&self, addr: IpAddr) -> Origin {
        let mut out = Origin::default();
        for reader in &self.readers {
            let Ok(found) = reader.lookup(addr) else {
                continue;
            };
            let Ok(Some(record)) = found.decode::<CountryRecord<'_>>() else {
                continue;
            };
            if out.country.is_none()
                && let Some(code) = record.country.and_then(|c| c.iso_code)
                && let [a, b] = code.as_bytes()
                && a.is_ascii_alphabetic()
                && b.is_ascii_alphabetic()
            {
                out.country = Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()]);
            }
            if out.asn.is_none() {
                out.asn = record.autonomous_system_number;
            }
        }
        out
    }
}

/// Writes a MaxMind DB (format 2.0, IPv6 tree, 24-bit records) with a country code and an AS
/// number per network. Networks must not overlap.
pub mod build {
    use ipnet::IpNet;

    /// One network and what it says.
    pub struct Entry {
        pub net: IpNet,
        pub country: Option<String>,
        pub asn: Option<u32>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }

    /// The database's bytes.
    pub fn database(entries: &[Entry]) -> Vec<u8> {
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        let mut data: Vec<u8> = Vec::new();
        for entry in entries {
            let (bits, len) = match entry.net {
                IpNet::V4(n) => (
                    u128::from(u32::from(n.network())),
                    96 + u32::from(n.prefix_len()),
                ),
                IpNet::V6(n) => (u128::from(n.network()), u32::from(n.prefix_len())),
            };
            if len == 0 {
                continue;
            }
            let offset = data.len();
            let mut record = Vec::new();
            let mut pairs = 0;
            if let Some(c) = &entry.country {
                pairs += 1;
                string(&mut record, "country");
                header(&mut record, 7, 1);
                string(&mut record, "iso_code");
                string(&mut record, c);
            }
            if let Some(asn) = entry.asn {
                pairs += 1;
                string(&mut record, "autonomous_system_number");
                uint(&mut record, 6, u64::from(asn));
            }
            header(&mut data, 7, pairs);
            data.extend(record);
            let mut node = 0;
            for depth in 0..len {
                let bit = ((bits >> (127 - depth)) & 1) as usize;
                if depth + 1 == len {
                    if nodes[node][bit] == Rec::Empty {
                        nodes[node][bit] = Rec::Data(offset);
                    }
                    break;
                }
                node = match nodes[node][bit] {
                    Rec::Node(next) => next,
                    Rec::Data(_) => break,
                    Rec::Empty => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let next = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(next);
                        next
                    }
                };
            }
        }
        let count = nodes.len();
        let value = |r: Rec| -> u32 {
            (match r {
                Rec::Empty => count,
                Rec::Node(n) => n,
                Rec::Data(offset) => count + 16 + offset,
            }) as u32
        };
        let mut out = Vec::with_capacity(count * 6 + data.len() + 256);
        for [left, right] in &nodes {
            out.extend_from_slice(&value(*left).to_be_bytes()[1..]);
            out.extend_from_slice(&value(*right).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0; 16]);
        out.extend(data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        header(&mut out, 7, 9);
        string(&mut out, "node_count");
        uint(&mut out, 6, count as u64);
        string(&mut out, "record_size");
        uint(&mut out, 5, 24);
        string(&mut out, "ip_version");
        uint(&mut out, 5, 6);
        string(&mut out, "database_type");
        string(&mut out, "Hector-Test-Country-ASN");
        string(&mut out, "languages");
        out.extend_from_slice(&[0x00, 4]);
        string(&mut out, "binary_format_major_version");
        uint(&mut out, 5, 2);
        string(&mut out, "binary_format_minor_version");
        uint(&mut out, 5, 0);
        string(&mut out, "build_epoch");
        out.push(0x08);
        out.push(2);
        out.extend_from_slice(&1_700_000_000u64.to_be_bytes());
        string(&mut out, "description");
        header(&mut out, 7, 0);
        out
    }

    /// A control byte of type `kind` (1..=7) and `size` (< 285).
    fn header(out: &mut Vec<u8>, kind: u8, size: usize) {
        if size < 29 {
            out.push((kind << 5) | size as u8);
        } else {
            out.push((kind << 5) | 29);
            out.push((size - 29).min(255) as u8);
        }
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        header(out, 2, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        header(out, kind, 8 - skip);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Entry, database};
    use super::*;

    fn entry(net: &str, country: Option<&str>, asn: Option<u32>) -> Entry {
        Entry {
            net: net.parse().unwrap(),
            country: country.map(str::to_owned),
            asn,
        }
    }

    #[test]
    fn a_built_database_answers_for_v4_and_v6_and_is_empty_elsewhere() {
        let bytes = database(&[
            entry("203.0.113.0/24", Some("NL"), Some(64500)),
            entry("198.51.100.0/25", Some("br"), None),
            entry("2001:db8:66::/48", None, Some(64501)),
        ]);
        let geo = GeoIp::from_bytes(vec![bytes]).unwrap();
        let at = |a: &str| geo.lookup(a.parse().unwrap());
        assert_eq!(at("203.0.113.77").country_code().as_deref(), Some("NL"));
        assert_eq!(at("203.0.113.77").asn, Some(64500));
        assert_eq!(at("198.51.100.1").country_code().as_deref(), Some("BR"));
        assert_eq!(at("198.51.100.1").asn, None);
        assert_eq!(at("198.51.100.200"), Origin::default());
        assert_eq!(at("2001:db8:66::9").asn, Some(64501));
        assert_eq!(at("2001:db8:67::9"), Origin::default());
        assert_eq!(at("10.0.0.1"), Origin::default());
    }

    #[test]
    fn a_second_database_fills_what_the_first_lacks() {
        let countries = database(&[entry("203.0.113.0/24", Some("DE"), None)]);
        let asns = database(&[entry("203.0.0.0/16", None, Some(64502))]);
        let geo = GeoIp::from_bytes(vec![countries, asns]).unwrap();
        let o = geo.lookup("203.0.113.5".parse().unwrap());
        assert_eq!(
            (o.country_code().as_deref(), o.asn),
            (Some("DE"), Some(64502))
        );
    }

    #[test]
    fn garbage_is_not_a_database() {
        assert!(GeoIp::from_bytes(vec![b"not a database".to_vec()]).is_err());
    }
}
