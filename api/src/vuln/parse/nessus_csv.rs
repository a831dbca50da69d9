//! Nessus CSV exports: HECTOR's 13 columns (`Plugin ID, CVE, CVSS, Risk, Host, Protocol, Port,
//! Name, Synopsis, Description, Solution, See Also, Plugin Output`), found by their header
//! names in any order (newer exports add columns, which are ignored). Nessus writes one row
//! per CVE of a finding; consecutive rows of the same host, port and plugin are one finding
//! with all their CVEs. Rows of risk `None` are skipped, as HECTOR skipped them.

use std::io::Read;

use super::{
    Item, MAX_LIST, MAX_LONG, MAX_SHORT, Risk, blank, complete, cves_in, cvss, port, text,
};

/// Longest row accepted; a longer one is rejected (the reading goes on).
const MAX_ROW: usize = 1024 * 1024;

/// The columns HECTOR's import reads; `Host` and `Name` must be there.
#[derive(Default)]
struct Columns {
    plugin: Option<usize>,
    cve: Option<usize>,
    cvss: Option<usize>,
    risk: Option<usize>,
    host: usize,
    protocol: Option<usize>,
    port: Option<usize>,
    name: usize,
    synopsis: Option<usize>,
    description: Option<usize>,
    solution: Option<usize>,
    see_also: Option<usize>,
    output: Option<usize>,
}

fn columns(header: &csv::ByteRecord) -> Result<Columns, String> {
    let find = |wanted: &[&str]| {
        header.iter().position(|h| {
            let h = String::from_utf8_lossy(h);
            let h = h.trim().trim_start_matches('\u{feff}');
            wanted.iter().any(|w| h.eq_ignore_ascii_case(w))
        })
    };
    let need = |wanted: &str| {
        find(&[wanted]).ok_or_else(|| {
            format!("no `{wanted}` column: not a Nessus CSV export (Plugin ID, CVE, CVSS, Risk, Host, ...)")
        })
    };
    Ok(Columns {
        plugin: find(&["Plugin ID"]),
        cve: find(&["CVE"]),
        cvss: find(&["CVSS v3.0 Base Score", "CVSS"]),
        risk: find(&["Risk"]),
        host: need("Host")?,
        protocol: find(&["Protocol"]),
        port: find(&["Port"]),
        name: need("Name")?,
        synopsis: find(&["Synopsis"]),
        description: find(&["Description"]),
        solution: find(&["Solution"]),
        see_also: find(&["See Also"]),
        output: find(&["Plugin Output"]),
    })
}

/// The findings of a Nessus CSV export, one at a time.
pub struct NessusCsvReader<R: Read> {
    rows: csv::Reader<R>,
    columns: Option<Columns>,
    row: csv::ByteRecord,
    /// A finding whose next rows may add CVEs, and the line it started on.
    pending: Option<(u64, Box<super::Finding>)>,
    /// An item met while a finding was pending, yielded after it.
    queued: Option<Item>,
    done: bool,
}

impl<R: Read> NessusCsvReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            rows: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input),
            columns: None,
            row: csv::ByteRecord::new(),
            pending: None,
            queued: None,
            done: false,
        }
    }

    /// Yields `item` after the pending finding, if any.
    fn after_pending(&mut self, item: Item) -> Item {
        match self.pending.take() {
            Some((at, f)) => {
                self.queued = Some(item);
                complete(*f, at)
            }
            None => item,
        }
    }
}

fn field(row: &csv::ByteRecord, i: Option<usize>) -> &str {
    i.and_then(|i| row.get(i))
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default()
}

/// What one row says.
enum Row {
    Finding(Box<super::Finding>),
    Skipped(String, String),
    Rejected(String),
}

fn read_row(c: &Columns, row: &csv::ByteRecord) -> Row {
    if row.as_slice().len() > MAX_ROW {
        return Row::Rejected(format!("a row over {MAX_ROW} bytes"));
    }
    if std::str::from_utf8(row.as_slice()).is_err() {
        return Row::Rejected("not UTF-8".into());
    }
    let risk_name = field(row, c.risk);
    let score = cvss(field(row, c.cvss));
    let risk = match Risk::from_name(risk_name) {
        Some(r) => r,
        None if risk_name.trim().is_empty() => score.map_or(Risk::None, Risk::from_cvss),
        None => {
            return Row::Rejected(format!(
                "unknown risk `{}`",
                super::cut(risk_name.to_owned(), 40)
            ));
        }
    };
    if risk == Risk::None {
        return Row::Skipped(
            "informational (risk None)".into(),
            text(field(row, Some(c.host)), MAX_SHORT).unwrap_or_default(),
        );
    }
    let mut f = blank(
        text(field(row, Some(c.host)), MAX_SHORT).unwrap_or_default(),
        text(field(row, Some(c.name)), MAX_SHORT).unwrap_or_default(),
    );
    match port(field(row, c.port)) {
        Ok(p) => f.port = p,
        Err(reason) => return Row::Rejected(reason),
    }
    f.protocol = text(field(row, c.protocol), 16);
    f.check_id = text(field(row, c.plugin), MAX_SHORT);
    cves_in(field(row, c.cve), &mut f.cves);
    f.cvss = score;
    f.risk = risk;
    f.description = text(field(row, c.synopsis), MAX_LONG)
        .or_else(|| text(field(row, c.description), MAX_LONG));
    f.solution = text(field(row, c.solution), MAX_LONG);
    for url in field(row, c.see_also).split_whitespace() {
        if f.references.len() < MAX_LIST
            && let Some(url) = text(url, MAX_SHORT)
        {
            f.references.push(url);
        }
    }
    f.output = text(field(row, c.output), MAX_LONG);
    Row::Finding(Box::new(f))
}

/// Whether `next` is another row (another CVE) of the finding `f`.
fn same(f: &super::Finding, next: &super::Finding) -> bool {
    f.host == next.host
        && f.port == next.port
        && f.protocol == next.protocol
        && f.check_id == next.check_id
        && f.name == next.name
}

impl<R: Read> Iterator for NessusCsvReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Some(item) = self.queued.take() {
            return Some(item);
        }
        loop {
            if self.done {
                return self.pending.take().map(|(at, f)| complete(*f, at));
            }
            let at = self.rows.position().line();
            match self.rows.read_byte_record(&mut self.row) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    if self.columns.is_none() {
                        return Some(Item::Fatal {
                            at,
                            reason: "empty: no header row".into(),
                        });
                    }
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    let item = Item::Fatal {
                        at,
                        reason: format!("unreadable CSV: {}", super::cut(e.to_string(), 200)),
                    };
                    return Some(self.after_pending(item));
                }
            }
            let at = self.row.position().map_or(at, csv::Position::line);
            let Some(c) = &self.columns else {
                match columns(&self.row) {
                    Ok(c) => self.columns = Some(c),
                    Err(reason) => {
                        self.done = true;
                        return Some(Item::Fatal { at, reason });
                    }
                }
                continue;
            };
            if self
                .row
                .iter()
                .all(|f| f.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            match read_row(c, &self.row) {
                Row::Finding(f) => match self.pending.as_mut() {
                    Some((_, p)) if same(p, &f) => {
                        for cve in f.cves {
                            if p.cves.len() < MAX_LIST && !p.cves.contains(&cve) {
                                p.cves.push(cve);
                            }
                        }
                    }
                    _ => {
                        if let Some((started, done)) = self.pending.replace((at, f)) {
                            return Some(complete(*done, started));
                        }
                    }
                },
                Row::Skipped(reason, host) => {
                    let host = (!host.is_empty()).then_some(host);
                    return Some(self.after_pending(Item::Skipped { at, reason, host }));
                }
                Row::Rejected(reason) => {
                    return Some(self.after_pending(Item::Rejected { at, reason }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../tests/data/vuln/nessus-export.csv");

    fn read(s: &str) -> Vec<Item> {
        NessusCsvReader::new(s.as_bytes()).collect()
    }

    #[test]
    fn reads_hectors_thirteen_columns_and_merges_rows_of_one_finding() {
        let items = read(SAMPLE);
        let found = crate::vuln::parse::findings_of(&items);
        assert_eq!(found.len(), 2, "{items:?}");
        let eb = found[0];
        assert_eq!(eb.host, "192.0.2.10");
        assert_eq!(eb.port, Some(445));
        assert_eq!(eb.protocol.as_deref(), Some("tcp"));
        assert_eq!(
            eb.cves,
            vec!["CVE-2017-0143", "CVE-2017-0144", "CVE-2017-0145"]
        );
        assert_eq!(eb.risk, Risk::Critical);
        assert_eq!(eb.cvss, Some(10.0));
        assert_eq!(eb.check_id.as_deref(), Some("97833"));
        assert_eq!(eb.references.len(), 2);
        assert!(eb.output.as_deref().unwrap().contains("\"quoted\""));
        assert_eq!(found[1].name, "SSL Certificate Cannot Be Trusted");
        assert_eq!(found[1].risk, Risk::Medium);
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| match i {
                Item::Finding(_) => "finding",
                Item::Skipped { .. } => "skipped",
                Item::Host { .. } => "host",
                Item::Rejected { .. } => "rejected",
                Item::Fatal { .. } => "fatal",
            })
            .collect();
        assert_eq!(kinds, vec!["skipped", "finding", "rejected", "finding"]);
        assert!(
            matches!(&items[2], Item::Rejected { at: 8, reason } if reason.contains("not a port"))
        );
    }

    #[test]
    fn a_file_without_the_columns_is_refused() {
        assert!(
            matches!(&read("a,b,c\n1,2,3\n")[0], Item::Fatal { reason, .. } if reason.contains("`Host`"))
        );
        assert!(matches!(&read("")[0], Item::Fatal { .. }));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
        ))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
            let _ = NessusCsvReader::new(bytes.as_slice()).count();
        }

        #[test]
        fn mutated_exports_never_panic_and_lose_no_row(
            edits in proptest::collection::vec((0usize..SAMPLE.len(), proptest::prelude::any::<u8>()), 1..16),
        ) {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            for (at, b) in edits {
                bytes[at] = b;
            }
            let items: Vec<Item> = NessusCsvReader::new(bytes.as_slice()).collect();
            let fatal = items.iter().position(|i| matches!(i, Item::Fatal { .. }));
            proptest::prop_assert!(fatal.is_none_or(|p| p == items.len() - 1));
        }
    }
}
