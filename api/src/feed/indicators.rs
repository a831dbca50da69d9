//! Indicators of compromise pulled out of what a feed publishes: CVE ids, IPv4 and IPv6
//! addresses, domains, URLs and MD5/SHA-1/SHA-256 hashes, also in their defanged forms
//! (`hxxp://`, `example[.]com`, `10(.)0(.)0(.)1`, `evil(dot)net`). Text in, indicators out;
//! no database, so it is fuzzed alone.
//!
//! False hits are what makes an extractor useless, so every kind is checked beyond its shape:
//! a dotted quad that is part of a longer dotted number or follows `v`/`version` is a version,
//! not an address; a domain needs a real top-level domain and is not a file name; a hash is
//! hex of an exact length with both digits and letters.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

/// Most indicators taken from one article.
pub const MAX_PER_ARTICLE: usize = 200;
/// Longest URL kept.
pub const MAX_URL: usize = 2048;
/// Most text read from one article.
const MAX_TEXT: usize = 512 * 1024;

/// What an indicator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Cve,
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
}

impl Kind {
    pub const ALL: [Self; 8] = [
        Self::Cve,
        Self::Ipv4,
        Self::Ipv6,
        Self::Domain,
        Self::Url,
        Self::Md5,
        Self::Sha1,
        Self::Sha256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cve => "CVE",
            Self::Ipv4 => "IPV4",
            Self::Ipv6 => "IPV6",
            Self::Domain => "DOMAIN",
            Self::Url => "URL",
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One indicator, normalised: CVE ids upper case, addresses in their canonical text, domains,
/// hashes and URL schemes and hosts lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Indicator {
    pub kind: Kind,
    pub value: String,
}

impl Indicator {
    /// The address, for the address kinds.
    pub fn address(&self) -> Option<IpAddr> {
        match self.kind {
            Kind::Ipv4 | Kind::Ipv6 => self.value.parse().ok(),
            _ => None,
        }
    }
}

/// Normalises a value a user typed as an indicator of `kind` (a filter), as extraction would
/// have stored it; `None` when it is not one.
pub fn normalise(kind: Kind, value: &str) -> Option<String> {
    let found = extract(value);
    found.into_iter().find(|i| i.kind == kind).map(|i| i.value)
}

/// Compiles one of this module's constant patterns (a unit test compiles each).
#[expect(
    clippy::expect_used,
    reason = "constant patterns; `the_patterns_compile` checks each"
)]
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a constant pattern compiles")
}

static CVE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bCVE[-‐–][0-9]{4}[-‐–][0-9]{4,7}\b"));
static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"(?i)\bhttps?://[^\s<>"'`{}|\\^\[\]]+"#));
static DOMAIN: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b"));
static DOTTED: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+(?:\.[0-9]+)+"));
static HEXISH: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9A-Fa-f:.]+"));
static WORD: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9A-Za-z]+"));
static DEFANGED_DOT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\s?(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s?"));
static DEFANGED_COLON: LazyLock<Regex> = LazyLock::new(|| re(r"\[://\]|\[:\]|\(:\)"));
static DEFANGED_SCHEME: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bhxxp(s?)\b"));

/// Undoes the usual defanging, so the patterns see what the writer meant.
pub fn refang(text: &str) -> String {
    let text = DEFANGED_DOT.replace_all(text, ".");
    let text = DEFANGED_COLON.replace_all(&text, |c: &regex::Captures<'_>| {
        if c[0].contains("//") { "://" } else { ":" }.to_owned()
    });
    DEFANGED_SCHEME.replace_all(&text, "http$1").into_owned()
}

/// The indicators in `text`, each once, in a stable order, at most [`MAX_PER_ARTICLE`].
pub fn extract(text: &str) -> Vec<Indicator> {
    let mut cut = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = refang(&text[..cut]);
    let mut found: BTreeSet<Indicator> = BTreeSet::new();
    let mut add = |kind: Kind, value: String| {
        found.insert(Indicator { kind, value });
    };
    for m in CVE.find_iter(&text) {
        let v: String = m
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_digit() || c.is_ascii_alphabetic() {
                    c.to_ascii_uppercase()
                } else {
                    '-'
                }
            })
            .collect();
        add(Kind::Cve, v);
    }
    for m in URL.find_iter(&text) {
        if let Some(url) = clean_url(m.as_str()) {
            add(Kind::Url, url);
        }
    }
    for m in DOTTED.find_iter(&text) {
        if let Some(ip) = ipv4_at(&text, m.start(), m.end()) {
            add(Kind::Ipv4, ip.to_string());
        }
    }
    for m in HEXISH.find_iter(&text) {
        if let Some(ip) = ipv6_at(&text, m.start(), m.end()) {
            add(Kind::Ipv6, ip.to_string());
        }
    }
    for m in DOMAIN.find_iter(&text) {
        if let Some(d) = domain_at(&text, m.start(), m.end()) {
            add(Kind::Domain, d);
        }
    }
    for m in WORD.find_iter(&text) {
        if let Some(kind) = hash_kind(m.as_str()) {
            add(kind, m.as_str().to_ascii_lowercase());
        }
    }
    found.into_iter().take(MAX_PER_ARTICLE).collect()
}

fn before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// A URL without the punctuation that ends the sentence around it; scheme and host lower case.
fn clean_url(raw: &str) -> Option<String> {
    let trimmed = raw.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
    if trimmed.len() > MAX_URL {
        return None;
    }
    let parsed = url::Url::parse(trimmed).ok()?;
    parsed.host_str()?;
    Some(parsed.to_string())
}

/// A dotted quad at `start..end`, unless it is a version number: part of a longer dotted
/// number, glued to letters or other numbers, or after `v` or the word `version`.
fn ipv4_at(text: &str, start: usize, end: usize) -> Option<Ipv4Addr> {
    let s = &text[start..end];
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    if parts
        .iter()
        .any(|p| p.len() > 3 || (p.len() > 1 && p.starts_with('0')))
    {
        return None;
    }
    if before(text, start).is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '-' || c == '_')
        || after(text, end).is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    // "1.2.3.4." ends a sentence; "1.2.3.4.5" is a longer number (DOTTED took it whole).
    let lead = text[..start].trim_end().to_ascii_lowercase();
    if lead.ends_with("version") || lead.ends_with("ver.") || lead.ends_with(" v") {
        return None;
    }
    s.parse().ok()
}

/// An IPv6 address at `start..end` (with at least two colons and a hex digit, not a time of
/// day), in its canonical form; an IPv4-mapped one is left to the IPv4 pass.
fn ipv6_at(text: &str, start: usize, end: usize) -> Option<Ipv6Addr> {
    let s = text[start..end].trim_end_matches(['.', ':']);
    let s = s.trim_start_matches('.');
    if s.matches(':').count() < 2 || s.len() < 3 {
        return None;
    }
    if before(text, start).is_some_and(|c| c.is_alphanumeric() || c == '_')
        || after(text, end).is_some_and(|c| c.is_alphanumeric() || c == '_')
    {
        return None;
    }
    let ip: Ipv6Addr = s.parse().ok()?;
    if ip.is_unspecified() || ip.to_ipv4_mapped().is_some() {
        return None;
    }
    Some(ip)
}

/// Top-level domains taken as real: the common generic ones and every two-letter country code
/// that is not also a common file extension.
const GENERIC_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "gov", "edu", "mil", "int", "io", "co", "app", "dev",
    "xyz", "top", "online", "site", "club", "shop", "store", "live", "cloud", "tech", "onion",
    "ru", "cn", "uk", "de", "fr", "nl", "jp", "kr", "br", "in", "it", "es", "se", "no", "fi", "dk",
    "pl", "ch", "at", "be", "ca", "us", "au", "nz", "ie", "ua", "tw", "hk", "sg", "ir", "kp", "tk",
    "me", "tv", "cc", "su", "to", "ws", "eu", "asia", "mobi", "name", "pro", "work", "link",
    "click", "space", "website", "news", "email", "zip", "mov",
];

/// What looks like a domain but is a file name (`readme.md`, `setup.exe`).
const FILE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "php", "html", "htm", "txt", "md", "py", "sh", "js", "json", "xml", "pdf", "doc",
    "docx", "xls", "xlsx", "rar", "jar", "bat", "ps1", "cs", "rs", "go", "png", "jpg", "jpeg",
    "gif", "svg", "css", "yml", "yaml", "conf", "cfg", "ini", "log", "tmp", "bak", "dat", "bin",
    "sys", "msi", "vbs", "lnk", "hta", "asp", "aspx", "jsp", "so", "pl", "rb", "java", "class",
    "ts", "tar", "gz", "tgz", "bz2", "xz", "iso", "img", "dmg", "apk", "deb", "rpm", "csv", "sql",
    "db", "sqlite",
];

/// A domain at `start..end`: a real top-level domain, a letter somewhere before it, not a
/// file name, not inside an e-mail address's user part, not a dotted number.
fn domain_at(text: &str, start: usize, end: usize) -> Option<String> {
    let d = text[start..end].to_ascii_lowercase();
    if before(text, start).is_some_and(|c| c == '@' || c == '.' || c == '-' || c == '_')
        || after(text, end).is_some_and(|c| c == '-' || c == '_' || c == '@')
    {
        return None;
    }
    let (rest, tld) = d.rsplit_once('.')?;
    if !GENERIC_TLDS.contains(&tld) || FILE_EXTENSIONS.contains(&tld) {
        return None;
    }
    if !rest.chars().any(|c| c.is_ascii_alphabetic()) || d.len() > 253 {
        return None;
    }
    Some(d)
}

/// The hash kind of a hex word: MD5, SHA-1 or SHA-256 by its exact length, with both digits
/// and letters (a long run of digits is a number; of letters, a word).
fn hash_kind(word: &str) -> Option<Kind> {
    let kind = match word.len() {
        32 => Kind::Md5,
        40 => Kind::Sha1,
        64 => Kind::Sha256,
        _ => return None,
    };
    let hex = word.chars().all(|c| c.is_ascii_hexdigit());
    let digits = word.chars().any(|c| c.is_ascii_digit());
    let letters = word.chars().any(|c| c.is_ascii_alphabetic());
    (hex && digits && letters).then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn of(kind: Kind, text: &str) -> Vec<String> {
        extract(text)
            .into_iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.value)
            .collect()
    }

    #[test]
    fn the_patterns_compile() {
        for pattern in [
            &*CVE,
            &*URL,
            &*DOMAIN,
            &*DOTTED,
            &*HEXISH,
            &*WORD,
            &*DEFANGED_DOT,
            &*DEFANGED_COLON,
            &*DEFANGED_SCHEME,
        ] {
            assert!(!pattern.as_str().is_empty());
        }
    }

    #[test]
    fn finds_each_kind() {
        let text = "Exploited: cve-2021-44228 (Log4Shell) from 203.0.113.7 and 2001:db8::5, \
                    C2 at evil-update.com, payload https://cdn.bad.net/x.sh?id=1. \
                    MD5 44d88612fea8a8f36de82e1278abb02f SHA1 3395856ce81f2b7382dee72602f798b642f14140 \
                    SHA256 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        assert_eq!(of(Kind::Cve, text), ["CVE-2021-44228"]);
        assert_eq!(of(Kind::Ipv4, text), ["203.0.113.7"]);
        assert_eq!(of(Kind::Ipv6, text), ["2001:db8::5"]);
        assert_eq!(of(Kind::Url, text), ["https://cdn.bad.net/x.sh?id=1"]);
        assert_eq!(of(Kind::Domain, text), ["cdn.bad.net", "evil-update.com"]);
        assert_eq!(of(Kind::Md5, text), ["44d88612fea8a8f36de82e1278abb02f"]);
        assert_eq!(
            of(Kind::Sha1, text),
            ["3395856ce81f2b7382dee72602f798b642f14140"]
        );
        assert_eq!(
            of(Kind::Sha256, text),
            ["275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"]
        );
    }

    #[test]
    fn defanged_forms_are_read_as_meant() {
        let text = "Beacon to hxxps://evil[.]example[.]com/gate and 198[.]51[.]100[.]23, \
                    also 192(.)0(.)2(.)9 and update(dot)badsite(dot)ru, hxxp[://]10.1.2.3/x";
        assert_eq!(
            of(Kind::Ipv4, text),
            ["10.1.2.3", "192.0.2.9", "198.51.100.23"]
        );
        assert!(of(Kind::Url, text).contains(&"https://evil.example.com/gate".to_owned()));
        assert!(of(Kind::Url, text).contains(&"http://10.1.2.3/x".to_owned()));
        assert!(of(Kind::Domain, text).contains(&"update.badsite.ru".to_owned()));
    }

    #[test]
    fn versions_file_names_and_numbers_are_not_indicators() {
        let text = "Upgrade to version 2.4.1.3 or v10.2.0.1 (build 1.2.3.4.5); see README.md \
                    and setup.exe; call 12:30:45; pi is 3.14159; OpenSSL 3.0.7 fixes it; \
                    e.g. i.e. etc.; 1234567890123456789012345678901234 is a number; \
                    deadbeefdeadbeefdeadbeefdeadbeef has no digit";
        let found = extract(text);
        assert!(
            found.iter().all(|i| !matches!(
                i.kind,
                Kind::Ipv4 | Kind::Ipv6 | Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Domain
            )),
            "{found:?}"
        );
    }

    #[test]
    fn a_normalised_filter_value_is_what_extraction_stores() {
        assert_eq!(
            normalise(Kind::Cve, "cve-2024-3094").as_deref(),
            Some("CVE-2024-3094")
        );
        assert_eq!(
            normalise(Kind::Ipv6, "2001:DB8:0:0::1").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            normalise(Kind::Domain, "Evil[.]Example.COM").as_deref(),
            Some("evil.example.com")
        );
        assert_eq!(normalise(Kind::Ipv4, "version 1.2.3.4"), None);
    }

    fn defang_dots(s: &str) -> String {
        s.replace('.', "[.]")
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        /// Arbitrary text never panics, and what comes out is well formed.
        #[test]
        fn arbitrary_text_gives_well_formed_indicators(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let text = String::from_utf8_lossy(&bytes);
            for i in extract(&text) {
                match i.kind {
                    Kind::Cve => prop_assert!(i.value.starts_with("CVE-")),
                    Kind::Ipv4 => prop_assert!(i.value.parse::<Ipv4Addr>().is_ok()),
                    Kind::Ipv6 => prop_assert!(i.value.parse::<Ipv6Addr>().is_ok()),
                    Kind::Url => prop_assert!(i.value.len() <= MAX_URL + 16),
                    Kind::Domain => prop_assert!(i.value.contains('.')),
                    Kind::Md5 | Kind::Sha1 | Kind::Sha256 => prop_assert!(i.value.chars().all(|c| c.is_ascii_hexdigit())),
                }
            }
        }

        /// An address or domain in prose is found, and found the same when defanged.
        #[test]
        fn addresses_are_found_plain_and_defanged(a in 1u8..=223, b: u8, c: u8, d in 1u8..=254,
                                                  label in "[a-z]{3,12}", noise in "[a-zA-Z ,;]{0,40}") {
            let ip = format!("{a}.{b}.{c}.{d}");
            let domain = format!("{label}.com");
            let plain = format!("{noise} seen from {ip} near {domain}. {noise}");
            let fanged = format!("{noise} seen from {} near {}. {noise}", defang_dots(&ip), defang_dots(&domain));
            prop_assert!(of(Kind::Ipv4, &plain).contains(&ip));
            prop_assert!(of(Kind::Domain, &plain).contains(&domain));
            prop_assert_eq!(extract(&plain), extract(&fanged));
        }

        /// Mutated real prose never panics.
        #[test]
        fn mutated_prose_never_panics(flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..40)) {
            let mut bytes = b"CVE-2021-44228 hit 203.0.113.7 via hxxps://evil[.]com/a; hash 44d88612fea8a8f36de82e1278abb02f; v6 2001:db8::1".to_vec();
            for (at, b) in flips {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            let _ = extract(&String::from_utf8_lossy(&bytes));
        }
    }
}
