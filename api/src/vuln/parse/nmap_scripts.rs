//! Findings in the output of nmap's `vulners` script and of its `vuln` category scripts
//! (`ssl-heartbleed`, `smb-vuln-ms17-010`, ...), as a scan result keeps them per port.
//!
//! - `vulners` lists, per product CPE, one known vulnerability a line: `id<TAB>cvss<TAB>url`
//!   (and `*EXPLOIT*` when one is public). Each CVE line is a finding named by its CVE and the
//!   product; ids of other databases are left out (they repeat the CVEs).
//! - A `vuln` script reports `VULNERABLE:` then a title, `State:`, `Risk factor:`, `IDs:` and
//!   `References:`; a state of `VULNERABLE` or `LIKELY VULNERABLE` is a finding, `NOT
//!   VULNERABLE` is none.

use super::{Finding, MAX_LIST, MAX_LONG, MAX_SHORT, Risk, blank, cut, cves_in, cvss, text};

/// Where a script ran.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub protocol: Option<&'a str>,
    pub service: Option<&'a str>,
}

fn base(t: &Target<'_>, name: String) -> Finding {
    let mut f = blank(cut(t.host.to_owned(), MAX_SHORT), cut(name, MAX_SHORT));
    f.port = t.port;
    f.protocol = t.protocol.and_then(|p| text(p, 16));
    f.service = t.service.and_then(|s| text(s, MAX_SHORT));
    f
}

/// Whether script `id` looks for vulnerabilities (`vulners`, the `vuln` category's
/// `*-vuln-*` scripts): a host it ran on without findings has none of its kind.
pub fn is_vuln_script(id: &str) -> bool {
    id == "vulners" || id.contains("vuln")
}

/// The findings in the output of script `id` run on `target`; none for other scripts.
pub fn findings(target: &Target<'_>, id: &str, output: &str) -> Vec<Finding> {
    if id == "vulners" {
        vulners(target, output)
    } else if id.contains("vuln") || output.contains("VULNERABLE") {
        vuln(target, id, output).into_iter().collect()
    } else {
        Vec::new()
    }
}

fn vulners(target: &Target<'_>, output: &str) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let mut product = String::new();
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("cpe:") {
            product = cut(trimmed.trim_end_matches(':').to_owned(), 200);
            continue;
        }
        let mut cols = trimmed.split('\t').map(str::trim);
        let (Some(vid), Some(score)) = (cols.next(), cols.next()) else {
            continue;
        };
        let mut cves = Vec::new();
        cves_in(vid, &mut cves);
        let [cve] = cves.as_slice() else {
            continue;
        };
        if out.len() >= MAX_LIST || out.iter().any(|f| f.cves.first() == Some(cve)) {
            continue;
        }
        let name = if product.is_empty() {
            cve.clone()
        } else {
            format!("{cve} in {product}")
        };
        let mut f = base(target, name);
        f.cvss = cvss(score);
        f.risk = f.cvss.map_or(Risk::None, Risk::from_cvss);
        f.check_id = Some("vulners".into());
        if let Some(url) = cols.next().and_then(|u| text(u, MAX_SHORT)) {
            f.references.push(url);
        }
        f.cves = cves;
        out.push(f);
    }
    out
}

fn vuln(target: &Target<'_>, id: &str, output: &str) -> Option<Finding> {
    let state = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("State:"))
        .map(str::trim)?;
    let vulnerable = state.starts_with("VULNERABLE") || state.starts_with("LIKELY VULNERABLE");
    if !vulnerable {
        return None;
    }
    let mut lines = output.lines().map(str::trim);
    let title = lines
        .by_ref()
        .skip_while(|l| !l.ends_with("VULNERABLE:"))
        .nth(1)
        .filter(|t| !t.is_empty() && !t.starts_with("State:"))
        .unwrap_or(id);
    let mut f = base(target, title.to_owned());
    f.check_id = text(id, MAX_SHORT);
    cves_in(output, &mut f.cves);
    f.risk = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Risk factor:"))
        .and_then(|r| Risk::from_name(r.split_whitespace().next().unwrap_or_default()))
        .unwrap_or(Risk::Medium);
    f.cvss = output
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("CVSSv2:")
                .or(l.trim().strip_prefix("CVSS:"))
        })
        .and_then(|s| cvss(s.split_whitespace().next().unwrap_or_default()));
    let mut in_refs = false;
    for line in output.lines().map(str::trim) {
        if line.starts_with("References:") {
            in_refs = true;
            continue;
        }
        if in_refs && (line.starts_with("http://") || line.starts_with("https://")) {
            if f.references.len() < MAX_LIST
                && let Some(url) = text(line, MAX_SHORT)
            {
                f.references.push(url);
            }
        } else if in_refs && !line.is_empty() {
            in_refs = false;
        }
    }
    f.output = text(output, MAX_LONG);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        host: "192.0.2.10",
        port: Some(22),
        protocol: Some("tcp"),
        service: Some("ssh"),
    };

    #[test]
    fn vulners_lines_become_one_finding_per_cve() {
        let output = "\n  cpe:/a:openbsd:openssh:7.4: \n    \tCVE-2023-38408\t9.8\thttps://vulners.com/cve/CVE-2023-38408\n    \tB8190CDB-3EB9-5631-9828-8064A1575B23\t9.8\thttps://vulners.com/githubexploit/B8190CDB\t*EXPLOIT*\n    \tCVE-2020-15778\t6.8\thttps://vulners.com/cve/CVE-2020-15778\n    \tCVE-2023-38408\t9.8\thttps://vulners.com/cve/CVE-2023-38408\n";
        let found = findings(&TARGET, "vulners", output);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].name,
            "CVE-2023-38408 in cpe:/a:openbsd:openssh:7.4"
        );
        assert_eq!(found[0].cves, vec!["CVE-2023-38408"]);
        assert_eq!(found[0].risk, Risk::Critical);
        assert_eq!(found[0].port, Some(22));
        assert_eq!(found[1].risk, Risk::High);
        assert_eq!(
            found[1].references,
            vec!["https://vulners.com/cve/CVE-2020-15778"]
        );
    }

    #[test]
    fn a_vulnerable_state_is_a_finding_and_not_vulnerable_is_none() {
        let output = "\n  VULNERABLE:\n  Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010)\n    State: VULNERABLE\n    IDs:  CVE:CVE-2017-0143\n    Risk factor: HIGH\n      A critical remote code execution vulnerability exists in Microsoft SMBv1\n           \n    Disclosure date: 2017-03-14\n    References:\n      https://technet.microsoft.com/en-us/library/security/ms17-010.aspx\n      https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2017-0143\n";
        let found = findings(&TARGET, "smb-vuln-ms17-010", output);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(
            f.name,
            "Remote Code Execution vulnerability in Microsoft SMBv1 servers (ms17-010)"
        );
        assert_eq!(f.cves, vec!["CVE-2017-0143"]);
        assert_eq!(f.risk, Risk::High);
        assert_eq!(f.check_id.as_deref(), Some("smb-vuln-ms17-010"));
        assert_eq!(f.references.len(), 2);
        let safe = "\n  NOT VULNERABLE:\n  Heartbleed\n    State: NOT VULNERABLE\n";
        assert!(findings(&TARGET, "ssl-heartbleed", safe).is_empty());
        assert!(findings(&TARGET, "http-title", "Welcome").is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
        ))]
        #[test]
        fn any_output_never_panics_and_findings_are_bounded(
            id in "(vulners|ssl-heartbleed|smb-vuln-x|http-title)",
            output in proptest::string::string_regex("(VULNERABLE:\n|State: (LIKELY )?VULNERABLE\n|Risk factor: [A-Za-z]*\n|References:\n|https://x\n|cpe:/a:x:\n|\tCVE-20[0-9]{2}-[0-9]{4,6}\t[0-9.]{0,4}\t|[^\t\n]{0,20}\n?){0,40}").unwrap(),
        ) {
            let found = findings(&TARGET, &id, &output);
            proptest::prop_assert!(found.len() <= MAX_LIST);
            for f in found {
                proptest::prop_assert!(!f.name.is_empty());
                proptest::prop_assert!(f.cvss.is_none_or(|s| (0.0..=10.0).contains(&s)));
            }
        }
    }
}
