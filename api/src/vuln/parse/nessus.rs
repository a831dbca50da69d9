//! Nessus `.nessus` (v2) XML files: `<ReportHost name>` with its `<HostProperties>` and one
//! `<ReportItem>` per finding. Informational items (risk `None`, severity 0) are skipped, as
//! HECTOR skipped them in Nessus exports. Risk is the item's `risk_factor`, else its severity,
//! else HECTOR's mapping of the CVSS score (version 3 when given, else 2).

use std::io::BufRead;
use std::net::IpAddr;

use super::xml::{Read, Record, Records};
use super::{
    Item, MAX_LIST, MAX_LONG, MAX_SHORT, Risk, blank, complete, cves_in, cvss, port, text,
};

/// The findings of a `.nessus` file, one `<ReportItem>` at a time.
pub struct NessusReader<R: BufRead> {
    records: Records<R>,
    /// `host-ip` of the current host's properties.
    address: Option<IpAddr>,
}

impl<R: BufRead> NessusReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            records: Records::new(
                input,
                "NessusClientData_v2",
                &["HostProperties", "ReportItem"],
            )
            .with_contexts(&["ReportHost"]),
            address: None,
        }
    }
}

impl<R: BufRead> Iterator for NessusReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        Some(match self.records.next_record()? {
            Read::Record(r) if r.name == "HostProperties" => {
                self.address = r
                    .all("tag")
                    .find(|t| t.attr("name") == Some("host-ip"))
                    .and_then(|t| t.text.trim().parse().ok());
                let host = self
                    .records
                    .context("ReportHost", "name")
                    .and_then(|h| text(h, MAX_SHORT))
                    .unwrap_or_default();
                Item::Host {
                    at: r.line,
                    address: self.address.or_else(|| host.parse().ok()),
                    host,
                }
            }
            Read::Record(r) => {
                let host = self
                    .records
                    .context("ReportHost", "name")
                    .unwrap_or_default();
                finding(&r, host, self.address)
            }
            Read::Oversized { line, reason } => Item::Rejected { at: line, reason },
            Read::Fatal { line, reason } => Item::Fatal { at: line, reason },
        })
    }
}

fn finding(r: &Record, host: &str, address: Option<IpAddr>) -> Item {
    let at = r.line;
    let name = r
        .attr("pluginName")
        .or_else(|| r.text("plugin_name"))
        .and_then(|n| text(n, MAX_SHORT));
    let mut f = blank(
        text(host, MAX_SHORT).unwrap_or_default(),
        name.unwrap_or_default(),
    );
    f.address = f.address.or(address);
    match port(r.attr("port").unwrap_or_default()) {
        Ok(p) => f.port = p,
        Err(reason) => return Item::Rejected { at, reason },
    }
    f.protocol = r.attr("protocol").and_then(|p| text(p, 16));
    f.service = r
        .attr("svc_name")
        .and_then(|s| text(s.trim_end_matches('?'), MAX_SHORT));
    f.check_id = r.attr("pluginID").and_then(|p| text(p, MAX_SHORT));
    for cve in r.all("cve") {
        cves_in(&cve.text, &mut f.cves);
    }
    let (score, vector) = match r.text("cvss3_base_score").and_then(cvss) {
        Some(s) => (Some(s), r.text("cvss3_vector")),
        None => (
            r.text("cvss_base_score").and_then(cvss),
            r.text("cvss_vector"),
        ),
    };
    f.cvss = score;
    f.cvss_vector = vector
        .map(|v| v.trim().trim_start_matches("CVSS2#"))
        .and_then(|v| text(v, MAX_SHORT));
    let by_severity = r.attr("severity").and_then(|s| match s.trim() {
        "0" => Some(Risk::None),
        "1" => Some(Risk::Low),
        "2" => Some(Risk::Medium),
        "3" => Some(Risk::High),
        "4" => Some(Risk::Critical),
        _ => None,
    });
    f.risk = r
        .text("risk_factor")
        .and_then(Risk::from_name)
        .or(by_severity)
        .or_else(|| f.cvss.map(Risk::from_cvss))
        .unwrap_or(Risk::None);
    if f.risk == Risk::None {
        return Item::Skipped {
            at,
            reason: "informational (risk None)".into(),
            host: Some(f.host),
        };
    }
    f.description = r
        .text("synopsis")
        .or_else(|| r.text("description"))
        .and_then(|d| text(d, MAX_LONG));
    f.solution = r.text("solution").and_then(|s| text(s, MAX_LONG));
    for see in r.all("see_also") {
        for url in see.text.split_whitespace() {
            if f.references.len() < MAX_LIST
                && let Some(url) = text(url, MAX_SHORT)
            {
                f.references.push(url);
            }
        }
    }
    f.output = r.text("plugin_output").and_then(|o| text(o, MAX_LONG));
    complete(f, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../tests/data/vuln/sample.nessus");

    fn read(s: &str) -> Vec<Item> {
        NessusReader::new(s.as_bytes()).collect()
    }

    #[test]
    fn reads_report_items_with_their_hosts() {
        let items = read(SAMPLE);
        let found = crate::vuln::parse::findings_of(&items);
        assert_eq!(found.len(), 2, "{items:?}");
        let hb = found[0];
        assert_eq!(hb.host, "web1.example.org");
        assert_eq!(hb.address, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(hb.port, Some(443));
        assert_eq!(hb.service.as_deref(), Some("www"));
        assert_eq!(hb.check_id.as_deref(), Some("73412"));
        assert_eq!(hb.cves, vec!["CVE-2014-0160"]);
        assert_eq!(hb.cvss, Some(7.5));
        assert_eq!(hb.risk, Risk::High);
        assert_eq!(hb.references.len(), 2);
        assert_eq!(found[1].host, "198.51.100.7");
        assert_eq!(found[1].address, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(
            found[1].cvss_vector.as_deref(),
            Some("AV:N/AC:L/Au:N/C:C/I:C/A:C")
        );
        assert_eq!(found[1].risk, Risk::Critical);
        let skipped = items
            .iter()
            .filter(|i| matches!(i, Item::Skipped { .. }))
            .count();
        assert_eq!(skipped, 1);
        assert!(
            items.iter().any(
                |i| matches!(i, Item::Rejected { reason, .. } if reason.contains("not a port"))
            )
        );
    }

    #[test]
    fn dtds_and_other_documents_are_refused() {
        let dtd = "<!DOCTYPE NessusClientData_v2 [<!ENTITY a \"aaaa\">]><NessusClientData_v2/>";
        assert!(
            matches!(&read(dtd)[0], Item::Fatal { reason, .. } if reason.contains("document type"))
        );
        assert!(matches!(&read("<report/>")[0], Item::Fatal { .. }));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
        ))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = NessusReader::new(bytes.as_slice()).count();
        }

        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((0usize..SAMPLE.len(), proptest::prelude::any::<u8>()), 1..16),
            cut in 0usize..SAMPLE.len(),
        ) {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            for (at, b) in edits {
                bytes[at] = b;
            }
            bytes.truncate(cut.max(1));
            let items: Vec<Item> = NessusReader::new(bytes.as_slice()).collect();
            let fatal = items.iter().position(|i| matches!(i, Item::Fatal { .. }));
            proptest::prop_assert!(fatal.is_none_or(|p| p == items.len() - 1));
        }
    }
}
