//! OpenVAS / Greenbone (GVM) XML reports (`<report>` ... `<results><result>`), from OpenVAS 8
//! (CVEs in `nvt/cve`, links in `nvt/xref`) to GVM 22 (`nvt/refs/ref`, `nvt/severities`).
//! Risk is the result's `threat` when it names one, else HECTOR's mapping of the CVSS score.

use std::io::BufRead;

use super::xml::{Read, Record, Records};
use super::{
    Item, MAX_LIST, MAX_LONG, MAX_SHORT, Risk, blank, complete, cves_in, cvss, port, text,
};

/// The findings of an OpenVAS/GVM XML report, one `<result>` at a time.
pub struct OpenVasReader<R: BufRead> {
    records: Records<R>,
}

impl<R: BufRead> OpenVasReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            records: Records::new(input, "report", &["result"]),
        }
    }
}

impl<R: BufRead> Iterator for OpenVasReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        Some(match self.records.next_record()? {
            Read::Record(r) => finding(&r),
            Read::Oversized { line, reason } => Item::Rejected { at: line, reason },
            Read::Fatal { line, reason } => Item::Fatal { at: line, reason },
        })
    }
}

/// A `<tags>` value: `key=value|key=value`.
fn tag<'a>(tags: &'a str, key: &str) -> Option<&'a str> {
    tags.split('|')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v)
}

fn finding(r: &Record) -> Item {
    let at = r.line;
    let host = r.text("host").and_then(|h| text(h, MAX_SHORT));
    let name = r
        .text("name")
        .and_then(|n| text(n, MAX_SHORT))
        .or_else(|| r.text("nvt/name").and_then(|n| text(n, MAX_SHORT)));
    let mut f = blank(host.unwrap_or_default(), name.unwrap_or_default());
    if let Some(p) = r.text("port").map(str::trim).filter(|p| !p.is_empty()) {
        // `443/tcp`, `general/tcp`, `package`, ...
        let (number, protocol) = p.split_once('/').unwrap_or((p, ""));
        match port(number) {
            Ok(n) => f.port = n,
            Err(reason) if number.bytes().all(|b| b.is_ascii_digit()) => {
                return Item::Rejected { at, reason };
            }
            // A word (`package`, `general`): not a port.
            Err(_) => {}
        }
        f.protocol = text(protocol.split_whitespace().next().unwrap_or_default(), 16);
    }
    f.check_id = r
        .all("nvt")
        .next()
        .and_then(|n| n.attr("oid"))
        .and_then(|o| text(o, MAX_SHORT));
    for cve in r.all("nvt/cve") {
        cves_in(&cve.text, &mut f.cves);
    }
    for reference in r.all("nvt/refs/ref") {
        match (reference.attr("type"), reference.attr("id")) {
            (Some(t), Some(id)) if t.eq_ignore_ascii_case("cve") => cves_in(id, &mut f.cves),
            (Some(t), Some(id))
                if t.eq_ignore_ascii_case("url") && f.references.len() < MAX_LIST =>
            {
                if let Some(url) = text(id, MAX_SHORT) {
                    f.references.push(url);
                }
            }
            _ => {}
        }
    }
    for xref in r.all("nvt/xref") {
        for part in xref.text.split(',') {
            if let Some(url) = part.trim().strip_prefix("URL:")
                && f.references.len() < MAX_LIST
                && let Some(url) = text(url, MAX_SHORT)
            {
                f.references.push(url);
            }
        }
    }
    f.cvss = r
        .text("severity")
        .and_then(cvss)
        .or_else(|| r.text("nvt/cvss_base").and_then(cvss));
    let tags = r.text("nvt/tags").unwrap_or_default();
    f.cvss_vector = r
        .text("nvt/severities/severity/value")
        .or_else(|| tag(tags, "cvss_base_vector"))
        .and_then(|v| text(v, MAX_SHORT));
    f.risk = r
        .text("threat")
        .and_then(Risk::from_name)
        .or_else(|| f.cvss.map(Risk::from_cvss))
        .unwrap_or(Risk::None);
    f.description = tag(tags, "summary")
        .or_else(|| r.text("nvt/description"))
        .and_then(|d| text(d, MAX_LONG));
    f.solution = r
        .text("nvt/solution")
        .or_else(|| tag(tags, "solution"))
        .and_then(|s| text(s, MAX_LONG));
    f.output = r.text("description").and_then(|d| text(d, MAX_LONG));
    complete(f, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::parse::findings_of as findings;

    const GVM: &str = include_str!("../../../../tests/data/vuln/gvm-22.xml");
    const OPENVAS8: &str = include_str!("../../../../tests/data/vuln/openvas-8.xml");

    fn read(s: &str) -> Vec<Item> {
        OpenVasReader::new(s.as_bytes()).collect()
    }

    #[test]
    fn reads_a_gvm_22_report() {
        let items = read(GVM);
        let found = findings(&items);
        assert_eq!(found.len(), 3, "{items:?}");
        let heartbleed = found[0];
        assert_eq!(heartbleed.host, "192.0.2.10");
        assert_eq!(heartbleed.address, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(heartbleed.port, Some(443));
        assert_eq!(heartbleed.protocol.as_deref(), Some("tcp"));
        assert_eq!(
            heartbleed.name,
            "SSL/TLS: OpenSSL 'Heartbleed' Vulnerability"
        );
        assert_eq!(heartbleed.cves, vec!["CVE-2014-0160"]);
        assert_eq!(heartbleed.cvss, Some(7.5));
        assert_eq!(heartbleed.risk, Risk::High);
        assert_eq!(
            heartbleed.cvss_vector.as_deref(),
            Some("AV:N/AC:L/Au:N/C:P/I:P/A:P")
        );
        assert_eq!(
            heartbleed.check_id.as_deref(),
            Some("1.3.6.1.4.1.25623.1.0.103936")
        );
        assert!(heartbleed.references[0].starts_with("https://"));
        assert!(heartbleed.solution.as_deref().unwrap().contains("Update"));
        assert!(
            heartbleed
                .output
                .as_deref()
                .unwrap()
                .contains("<vulnerable> & open")
        );
        // `general/tcp`: on the host, no port.
        assert_eq!(found[1].port, None);
        assert_eq!(found[1].risk, Risk::None);
        assert_eq!(found[2].host, "2001:db8::7");
        // The result without a host is rejected, the reading went on.
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Item::Rejected { reason, .. } if reason == "no host"))
        );
    }

    #[test]
    fn reads_an_openvas_8_report() {
        let items = read(OPENVAS8);
        let found = findings(&items);
        assert_eq!(found.len(), 1, "{items:?}");
        assert_eq!(found[0].cves, vec!["CVE-2016-2183", "CVE-2016-6329"]);
        assert_eq!(found[0].cvss, Some(5.0));
        assert_eq!(found[0].risk, Risk::Medium);
        assert_eq!(found[0].references, vec!["https://sweet32.info/"]);
        assert_eq!(
            found[0].cvss_vector.as_deref(),
            Some("AV:N/AC:L/Au:N/C:P/I:N/A:N")
        );
    }

    #[test]
    fn risk_without_a_threat_is_hectors_cvss_mapping() {
        let doc = "<report><results><result><host>192.0.2.1</host><name>x</name>\
                   <nvt oid=\"1\"><cvss_base>9.5</cvss_base></nvt></result></results></report>";
        let found = read(doc);
        assert!(matches!(&found[0], Item::Finding(f) if f.risk == Risk::Critical));
    }

    #[test]
    fn dtds_entities_and_truncation_are_refused_after_what_was_complete() {
        let dtd =
            "<!DOCTYPE report [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><report>&x;</report>";
        assert!(
            matches!(&read(dtd)[0], Item::Fatal { reason, .. } if reason.contains("document type"))
        );
        let entity = "<report><results><result><host>&x;</host></result></results></report>";
        assert!(
            matches!(&read(entity)[0], Item::Fatal { reason, .. } if reason.contains("entity"))
        );
        let cut_at = GVM.find("<result id=\"r3\"").unwrap() + 40;
        let items = read(&GVM[..cut_at]);
        assert_eq!(findings(&items).len(), 2);
        assert!(matches!(items.last(), Some(Item::Fatal { .. })));
        assert!(
            matches!(&read("<nmaprun/>")[0], Item::Fatal { reason, .. } if reason.contains("<report>"))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
        ))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = OpenVasReader::new(bytes.as_slice()).count();
        }

        #[test]
        fn mutated_reports_never_panic(
            edits in proptest::collection::vec((0usize..GVM.len(), proptest::prelude::any::<u8>()), 1..16),
            cut in 0usize..GVM.len(),
        ) {
            let mut bytes = GVM.as_bytes().to_vec();
            for (at, b) in edits {
                bytes[at] = b;
            }
            bytes.truncate(cut.max(1));
            let items: Vec<Item> = OpenVasReader::new(bytes.as_slice()).collect();
            // At most one fatal item, and it is the last.
            let fatal = items.iter().position(|i| matches!(i, Item::Fatal { .. }));
            proptest::prop_assert!(fatal.is_none_or(|p| p == items.len() - 1));
        }
    }
}
