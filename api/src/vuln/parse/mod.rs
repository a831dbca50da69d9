//! Scanner reports read as streams into [`Finding`]s, one report item at a time, so memory is
//! bounded by the largest item and not by the file: OpenVAS/GVM XML reports ([`openvas`]),
//! Nessus `.nessus` XML ([`nessus`]), Nessus CSV exports with HECTOR's 13 columns
//! ([`nessus_csv`]), and the output of nmap's `vulners` and `vuln` scripts
//! ([`nmap_scripts`]). Each file reader yields [`Item`]s: a finding, an item skipped on
//! purpose (with why), an item rejected as unreadable (with why; the reading goes on), or a
//! fatal error that ends the reading after every complete item before it.

pub mod nessus;
pub mod nessus_csv;
pub mod nmap_scripts;
pub mod openvas;
mod xml;

use std::net::IpAddr;

/// Longest text kept of a short field (names, hosts, vectors, plugin ids).
pub const MAX_SHORT: usize = 512;
/// Longest text kept of a long field (descriptions, solutions, plugin output).
pub const MAX_LONG: usize = 16 * 1024;
/// Most CVE ids and references kept per finding.
pub const MAX_LIST: usize = 256;

/// How bad a finding is, HECTOR's five levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    /// HECTOR's mapping of a CVSS base score: above 9 critical, above 6 high, above 3
    /// medium, above 0 low, else none.
    pub fn from_cvss(score: f32) -> Self {
        if score > 9.0 {
            Self::Critical
        } else if score > 6.0 {
            Self::High
        } else if score > 3.0 {
            Self::Medium
        } else if score > 0.0 {
            Self::Low
        } else {
            Self::None
        }
    }

    /// Its stored level: 0 none to 4 critical.
    pub fn level(self) -> i16 {
        self as i16
    }

    /// The risk of a stored level.
    pub fn from_level(level: i16) -> Self {
        match level {
            i16::MIN..=0 => Self::None,
            1 => Self::Low,
            2 => Self::Medium,
            3 => Self::High,
            _ => Self::Critical,
        }
    }

    /// A risk named by a scanner (`None`, `Low`, ..., also `Info` and `Log`), any case.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "none" | "info" | "informational" | "log" | "debug" => Self::None,
            "low" => Self::Low,
            "medium" | "moderate" => Self::Medium,
            "high" => Self::High,
            "critical" | "urgent" => Self::Critical,
            _ => return None,
        })
    }
}

/// One vulnerability reported on one host (and port).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Where it starts in the report (line, or CSV row).
    pub line: u64,
    /// The host as the report names it (an address, or a name when it gives no address).
    pub host: String,
    /// Its address, when the report gives one.
    pub address: Option<IpAddr>,
    /// The port, when the finding is on one (`general/tcp` and port 0 are none).
    pub port: Option<u16>,
    /// `tcp`, `udp`, ... as the report says.
    pub protocol: Option<String>,
    /// The service name the scanner gave the port.
    pub service: Option<String>,
    /// The vulnerability's name (the plugin's or NVT's).
    pub name: String,
    /// The scanner's id of the check (Nessus plugin id, OpenVAS NVT OID).
    pub check_id: Option<String>,
    /// CVE ids, upper case, each once, in the order met.
    pub cves: Vec<String>,
    /// The CVSS base score (0 to 10).
    pub cvss: Option<f32>,
    /// The CVSS vector.
    pub cvss_vector: Option<String>,
    /// The risk the report gives, else the one its CVSS score maps to.
    pub risk: Risk,
    pub description: Option<String>,
    pub solution: Option<String>,
    /// Links for more (`see_also`, references).
    pub references: Vec<String>,
    /// What the check saw (plugin output).
    pub output: Option<String>,
}

/// What a reader yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A finding.
    Finding(Box<Finding>),
    /// A host the report covered, met before (or without) its findings: a newer report of a
    /// host that no longer lists a finding fixes it.
    Host {
        at: u64,
        host: String,
        address: Option<IpAddr>,
    },
    /// An item left out on purpose (e.g. Nessus rows of risk `None`, as HECTOR did), with the
    /// host it was about when known.
    Skipped {
        at: u64,
        reason: String,
        host: Option<String>,
    },
    /// An item that makes no sense (no host, no name, a port out of range); the reading went
    /// on after it.
    Rejected { at: u64, reason: String },
    /// The reading ended here (malformed or truncated input, a refused DTD); every item
    /// before it was complete.
    Fatal { at: u64, reason: String },
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Trimmed text cut to `max` bytes; `None` when empty.
pub(crate) fn text(s: &str, max: usize) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| cut(s.to_owned(), max))
}

/// The CVE ids in `s` (separated by anything that is not part of one), upper case.
pub fn cves_in(s: &str, into: &mut Vec<String>) {
    for word in s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let upper = word.to_ascii_uppercase();
        let mut parts = upper.splitn(3, '-');
        let ok = parts.next() == Some("CVE")
            && parts
                .next()
                .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_some_and(|n| {
                (4..=19).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            });
        if ok && into.len() < MAX_LIST && !into.contains(&upper) {
            into.push(upper);
        }
    }
}

/// A CVSS base score: a number from 0 to 10.
pub(crate) fn cvss(s: &str) -> Option<f32> {
    let v: f32 = s.trim().parse().ok()?;
    (v.is_finite() && (0.0..=10.0).contains(&v)).then_some(v)
}

/// A port number as reports write it; `Ok(None)` for none (`0`, `general`, empty).
pub(crate) fn port(s: &str) -> Result<Option<u16>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("general") || s == "0" {
        return Ok(None);
    }
    s.parse::<u16>()
        .map(Some)
        .map_err(|_| format!("`{}` is not a port", cut(s.to_owned(), 40)))
}

/// Checks what every format needs of a finding: a host and a name.
pub(crate) fn complete(f: Finding, at: u64) -> Item {
    if f.host.is_empty() {
        return Item::Rejected {
            at,
            reason: "no host".into(),
        };
    }
    if f.name.is_empty() {
        return Item::Rejected {
            at,
            reason: "no vulnerability name".into(),
        };
    }
    Item::Finding(Box::new(Finding { line: at, ..f }))
}

/// A finding with only its host and name, the rest empty.
pub(crate) fn blank(host: String, name: String) -> Finding {
    let address = host.parse().ok();
    Finding {
        line: 0,
        host,
        address,
        port: None,
        protocol: None,
        service: None,
        name,
        check_id: None,
        cves: Vec::new(),
        cvss: None,
        cvss_vector: None,
        risk: Risk::None,
        description: None,
        solution: None,
        references: Vec::new(),
        output: None,
    }
}

/// The findings among `items` (for tests).
#[cfg(test)]
pub(crate) fn findings_of(items: &[Item]) -> Vec<&Finding> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Finding(f) => Some(f.as_ref()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_maps_to_hectors_risks() {
        assert_eq!(Risk::from_cvss(10.0), Risk::Critical);
        assert_eq!(Risk::from_cvss(9.0), Risk::High);
        assert_eq!(Risk::from_cvss(6.1), Risk::High);
        assert_eq!(Risk::from_cvss(6.0), Risk::Medium);
        assert_eq!(Risk::from_cvss(3.0), Risk::Low);
        assert_eq!(Risk::from_cvss(0.1), Risk::Low);
        assert_eq!(Risk::from_cvss(0.0), Risk::None);
        assert_eq!(Risk::from_name(" HIGH "), Some(Risk::High));
        assert_eq!(Risk::from_name("Log"), Some(Risk::None));
        assert_eq!(Risk::from_name("severe"), None);
    }

    #[test]
    fn cve_ids_are_found_normalised_and_once() {
        let mut out = Vec::new();
        cves_in(
            "cve-2021-44228, CVE-2021-44228 CVE-2014-0160;CVE-99-1 CVE-2020-123 xCVE-2019-0001",
            &mut out,
        );
        assert_eq!(out, vec!["CVE-2021-44228", "CVE-2014-0160"]);
    }

    #[test]
    fn ports_scores_and_cuts() {
        assert_eq!(port("443"), Ok(Some(443)));
        assert_eq!(port("general"), Ok(None));
        assert_eq!(port("0"), Ok(None));
        assert!(port("70000").is_err());
        assert_eq!(cvss("7.5"), Some(7.5));
        assert_eq!(cvss("11"), None);
        assert_eq!(cvss("NaN"), None);
        assert_eq!(cut("héllo".into(), 2), "h");
    }
}
