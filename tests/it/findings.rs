//! Vulnerabilities and findings through the real server: imports of real-format reports
//! through every door (upload, `POST /ingest/findings`, `hector import`, scan results),
//! the fixed/reopened cycle, status changes with their history and audit, scoping by
//! support group on every path, analytics against the raw rows, and `findingEvents`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

const GVM: &str = include_str!("../data/vuln/gvm-22.xml");
const NESSUS: &str = include_str!("../data/vuln/sample.nessus");
const CSV: &str = include_str!("../data/vuln/nessus-export.csv");
const NMAP: &str = include_str!("../data/nmap/nmap-7.93-os-scripts.xml");

const REPORT: &str = "findingImport { id status kind error } hosts findings newFindings reopened fixed skippedCount skipped { line reason } rejectedCount rejected { line reason } stoppedAt { line reason }";

/// Uploads `file` through `importFindings` (GraphQL multipart request).
async fn upload(app: &TestApp, token: &str, kind: &str, file: &str, group: Option<&str>) -> Value {
    let operations = json!({
        "query": format!("mutation($f: Upload!, $k: FindingImportKind!, $g: ID) {{ importFindings(input: {{kind: $k, file: $f, supportGroupId: $g}}) {{ {REPORT} }} }}"),
        "variables": { "f": null, "k": kind, "g": group }
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::text(file.to_owned())
                .file_name("report")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["importFindings"].clone()
}

/// Posts `file` to `/ingest/findings?kind=...`.
async fn post(app: &TestApp, token: &str, query: &str, file: String) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/ingest/findings?{query}", app.base))
        .bearer_auth(token)
        .body(file)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

const FINDING: &str = "id status risk port protocol service output statusChangedBy host { address } vulnerability { id name cves cvss source checkId references } history(first: 5) { totalCount edges { node { fromStatus toStatus by reason importId } } }";

/// Every finding `token` sees, by vulnerability name and host address.
async fn findings_as(
    app: &TestApp,
    token: &str,
    filter: Value,
) -> BTreeMap<(String, String), Value> {
    let (_, body) = app
        .gql_as(
            Some(token),
            &format!("query($f: FindingFilterInput) {{ findings(first: 20, filter: $f) {{ totalCount edges {{ node {{ {FINDING} }} }} }} }}"),
            json!({ "f": filter }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let conn = &body["data"]["findings"];
    let edges = conn["edges"].as_array().unwrap();
    assert_eq!(conn["totalCount"], edges.len(), "{conn}");
    edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                (
                    n["vulnerability"]["name"].as_str().unwrap().to_owned(),
                    n["host"]["address"].as_str().unwrap().to_owned(),
                ),
                n.clone(),
            )
        })
        .collect()
}

fn without_item(file: &str, start: &str) -> String {
    let from = file.find(start).unwrap();
    let to = from + file[from..].find("</ReportItem>").unwrap() + "</ReportItem>".len();
    format!("{}{}", &file[..from], &file[to..])
}

const HEARTBLEED: &str = "OpenSSL Heartbeat Information Disclosure (Heartbleed)";
const ETERNALBLUE: &str =
    "MS17-010: Security Update for Microsoft Windows SMB Server (ETERNALBLUE)";

fn key(name: &str, address: &str) -> (String, String) {
    (name.to_owned(), address.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openvas_report_records_its_findings_and_a_reimport_changes_nothing() {
    let app = TestApp::spawn().await;
    let report = upload(&app, &app.token, "OPENVAS", GVM, None).await;
    assert_eq!(report["findingImport"]["status"], "SUCCEEDED", "{report}");
    assert_eq!(report["findingImport"]["kind"], "OPENVAS");
    assert_eq!(report["hosts"], 2, "{report}");
    assert_eq!(report["findings"], 2);
    assert_eq!(report["newFindings"], 2);
    assert_eq!(report["fixed"], 0);
    // The `Log` result is informational; the result without a host is refused with its line.
    assert_eq!(report["skippedCount"], 1);
    assert_eq!(report["rejectedCount"], 1);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no host"),
        "{report}"
    );
    assert_eq!(report["stoppedAt"], Value::Null);

    let before = findings_as(&app, &app.token, json!(null)).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let hb = &before[&key("SSL/TLS: OpenSSL 'Heartbleed' Vulnerability", "192.0.2.10")];
    assert_eq!(hb["status"], "OPEN");
    assert_eq!(hb["risk"], "HIGH");
    assert_eq!(hb["port"], 443);
    assert_eq!(hb["protocol"], "tcp");
    assert_eq!(hb["vulnerability"]["source"], "OPENVAS");
    assert!(
        hb["vulnerability"]["cves"]
            .as_array()
            .unwrap()
            .contains(&json!("CVE-2014-0160")),
        "{hb}"
    );
    assert_eq!(hb["history"]["totalCount"], 1);
    assert_eq!(hb["history"]["edges"][0]["node"]["toStatus"], "OPEN");
    assert_eq!(hb["history"]["edges"][0]["node"]["fromStatus"], Value::Null);
    let ssh = &before[&key("SSH Weak Encryption Algorithms Supported", "2001:db8::7")];
    assert_eq!(ssh["risk"], "MEDIUM");
    // The report's hosts joined the inventory.
    let host = app
        .ok(
            "{ hostByAddress(address: \"2001:db8::7\") { id } }",
            json!({}),
        )
        .await;
    assert!(host["hostByAddress"]["id"].is_string());

    // The same report again: nothing new, fixed or reopened; every finding as it was.
    let again = upload(&app, &app.token, "OPENVAS", GVM, None).await;
    assert_eq!(
        (
            &again["findings"],
            &again["newFindings"],
            &again["fixed"],
            &again["reopened"]
        ),
        (&json!(2), &json!(0), &json!(0), &json!(0)),
        "{again}"
    );
    assert_eq!(findings_as(&app, &app.token, json!(null)).await, before);
    let catalog = app
        .ok("{ vulnerabilities(cve: \"cve-2014-0160\") { totalCount } findingImports { totalCount } }", json!({}))
        .await;
    assert_eq!(catalog["vulnerabilities"]["totalCount"], 1);
    assert_eq!(catalog["findingImports"]["totalCount"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_fixed_and_reopened_across_three_imports_and_ignored_ones_stay_so() {
    let app = TestApp::spawn().await;
    let token = app.token.clone();
    let (status, first) = post(&app, &token, "kind=NESSUS", NESSUS.to_owned()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["findings"], 2, "{first}");
    assert_eq!(first["newFindings"], 2);
    assert_eq!(first["skippedCount"], 1, "the informational item");
    assert_eq!(first["rejectedCount"], 1, "port 99999");
    assert_eq!(first["hosts"], 2);
    let found = findings_as(&app, &token, json!(null)).await;
    let hb = found[&key(HEARTBLEED, "192.0.2.10")]["id"].clone();
    let eb = found[&key(ETERNALBLUE, "198.51.100.7")]["id"].clone();
    assert_eq!(found[&key(ETERNALBLUE, "198.51.100.7")]["risk"], "CRITICAL");

    // EternalBlue is accepted as it is; a change that makes no sense is refused.
    let set = "mutation($i: UpdateFindingInput!) { updateFinding(input: $i) { finding { status statusReason statusChangedBy ticketUrl } } }";
    let done = app
        .ok(set, json!({ "i": { "id": eb, "status": "IGNORED", "reason": "isolated VLAN", "ticketUrl": "https://tickets.example.org/42" } }))
        .await;
    assert_eq!(
        done["updateFinding"]["finding"],
        json!({ "status": "IGNORED", "statusReason": "isolated VLAN", "statusChangedBy": "admin", "ticketUrl": "https://tickets.example.org/42" })
    );
    assert_eq!(
        app.error_codes(set, json!({ "i": { "id": eb, "status": "REOPENED" } }))
            .await,
        vec!["BAD_USER_INPUT"]
    );
    assert_eq!(
        app.error_codes(
            set,
            json!({ "i": { "id": eb, "status": "OPEN", "ticketUrl": "javascript:alert(1)" } })
        )
        .await,
        vec!["BAD_USER_INPUT"]
    );

    // The second scan lists neither finding (both hosts are still in it).
    let second_file = without_item(
        &without_item(NESSUS, "<ReportItem port=\"443\""),
        "<ReportItem port=\"445\"",
    );
    let (_, second) = post(&app, &token, "kind=nessus", second_file).await;
    assert_eq!(second["findings"], 0, "{second}");
    assert_eq!(second["hosts"], 2, "{second}");
    assert_eq!(second["fixed"], 1, "{second}");
    let found = findings_as(&app, &token, json!(null)).await;
    assert_eq!(found[&key(HEARTBLEED, "192.0.2.10")]["status"], "FIXED");
    assert_eq!(
        found[&key(ETERNALBLUE, "198.51.100.7")]["status"],
        "IGNORED"
    );

    // The third lists both again: Heartbleed is back, EternalBlue stays ignored.
    let (_, third) = post(&app, &token, "kind=NESSUS", NESSUS.to_owned()).await;
    assert_eq!(third["reopened"], 1, "{third}");
    assert_eq!(third["newFindings"], 0);
    let found = findings_as(&app, &token, json!(null)).await;
    let heartbleed = &found[&key(HEARTBLEED, "192.0.2.10")];
    assert_eq!(heartbleed["status"], "REOPENED");
    assert_eq!(
        found[&key(ETERNALBLUE, "198.51.100.7")]["status"],
        "IGNORED"
    );
    let history: Vec<(&Value, &Value)> = heartbleed["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (&e["node"]["toStatus"], &e["node"]["importId"]))
        .collect();
    assert_eq!(
        history,
        vec![
            (&json!("OPEN"), &first["findingImportId"]),
            (&json!("FIXED"), &second["findingImportId"]),
            (&json!("REOPENED"), &third["findingImportId"]),
        ]
    );
    let eternal = &found[&key(ETERNALBLUE, "198.51.100.7")]["history"]["edges"];
    assert_eq!(eternal[1]["node"]["by"], "admin");
    assert_eq!(eternal[1]["node"]["reason"], "isolated VLAN");
    assert_eq!(eternal[1]["node"]["importId"], Value::Null);

    // What changed between the imports.
    let delta = "query($a: ID!, $b: ID!) { scanDelta(from: $a, to: $b) { newCount fixedCount new { id } fixed { id } } }";
    let one_two = app
        .ok(
            delta,
            json!({ "a": first["findingImportId"], "b": second["findingImportId"] }),
        )
        .await;
    assert_eq!(
        one_two["scanDelta"],
        json!({ "newCount": 0, "fixedCount": 2, "new": [], "fixed": [{ "id": hb }, { "id": eb }] })
    );
    let two_three = app
        .ok(
            delta,
            json!({ "a": second["findingImportId"], "b": third["findingImportId"] }),
        )
        .await;
    assert_eq!(two_three["scanDelta"]["newCount"], 2);
    assert_eq!(two_three["scanDelta"]["fixedCount"], 0);

    // Every change is in the audit log, refusals too.
    let audit = app
        .ok("{ auditLog(first: 10, filter: {action: UPDATE_FINDING}) { edges { node { outcome } } } }", json!({}))
        .await;
    let outcomes: Vec<&Value> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["outcome"])
        .collect();
    assert!(outcomes.contains(&&json!("OK")), "{audit}");
    assert!(outcomes.contains(&&json!("BAD_USER_INPUT")), "{audit}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_cut_short_keeps_what_it_read_and_fixes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.token.clone();
    let (_, first) = post(&app, &token, "kind=NESSUS", NESSUS.to_owned()).await;
    assert_eq!(first["findings"], 2, "{first}");
    // Cut inside the second host, after its properties: the host was met, its item never.
    let cut = &NESSUS[..NESSUS.find("<ReportItem port=\"445\"").unwrap()];
    let (status, second) = post(&app, &token, "kind=NESSUS", cut.to_owned()).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        second["stoppedAt"]["line"].as_u64().unwrap() > 0,
        "{second}"
    );
    assert_eq!(second["findings"], 1, "{second}");
    assert_eq!(second["fixed"], 0, "{second}");
    let found = findings_as(&app, &token, json!(null)).await;
    assert_eq!(found[&key(ETERNALBLUE, "198.51.100.7")]["status"], "OPEN");
    let import = app
        .ok(
            "query($id: ID!) { findingImport(id: $id) { status error findings } }",
            json!({ "id": second["findingImportId"] }),
        )
        .await;
    assert_eq!(import["findingImport"]["status"], "FAILED");
    assert!(
        import["findingImport"]["error"]
            .as_str()
            .unwrap()
            .contains("nothing was marked fixed")
    );

    // A DTD is refused before anything is read; so is an unknown kind.
    let hostile = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"y\">]>{}",
        &NESSUS[NESSUS.find("<NessusClientData_v2").unwrap()..]
    );
    let (_, refused) = post(&app, &token, "kind=NESSUS", hostile).await;
    assert_eq!(refused["findings"], 0, "{refused}");
    assert_eq!(
        refused["stoppedAt"]["reason"], "a document type with declarations is refused",
        "{refused}"
    );
    let (status, body) = post(&app, &token, "kind=QUALYS", String::new()).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hector_import_reads_a_nessus_csv_export_from_the_command_line() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, CSV).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hector"))
        .env("DATABASE_URL", app.db.url.as_str())
        .env("HECTOR_LOG", "error")
        .env_remove("HECTOR_ENV")
        .args(["import", "nessus-csv"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 hosts, 2 findings (2 new, 0 reopened), 0 fixed, 1 skipped, 1 refused"),
        "{stdout}"
    );
    let found = findings_as(&app, &app.token, json!({ "cve": "CVE-2017-0144" })).await;
    let eb = &found[&key(ETERNALBLUE, "192.0.2.10")];
    // Nessus's one row per CVE is one finding with every CVE.
    assert_eq!(
        eb["vulnerability"]["cves"],
        json!(["CVE-2017-0143", "CVE-2017-0144", "CVE-2017-0145"])
    );
    assert_eq!(eb["vulnerability"]["cvss"], 10.0);
    assert_eq!(eb["port"], 445);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nmap_vulnerability_scripts_in_scan_results_become_findings() {
    let app = TestApp::spawn().await;
    let vulners = |cves: &[(&str, &str)]| {
        let mut output = "&#xa;  cpe:/a:openbsd:openssh:8.9p1: &#xa;".to_owned();
        for (cve, score) in cves {
            output.push_str(&format!(
                "    &#x9;{cve}&#x9;{score}&#x9;https://vulners.com/cve/{cve}&#xa;"
            ));
        }
        NMAP.replacen(
            "<cpe>cpe:/o:linux:linux_kernel</cpe></service></port>",
            &format!("<cpe>cpe:/o:linux:linux_kernel</cpe></service><script id=\"vulners\" output=\"{output}\"/></port>"),
            1,
        )
    };
    let import = "mutation($f: Upload!) { importNmapXml(input: {file: $f}) { findings } }";
    let send = |xml: String| {
        let app = &app;
        async move {
            let operations = json!({ "query": import, "variables": { "f": null } });
            let form = reqwest::multipart::Form::new()
                .text("operations", operations.to_string())
                .text("map", json!({ "0": ["variables.f"] }).to_string())
                .part(
                    "0",
                    reqwest::multipart::Part::text(xml).file_name("scan.xml"),
                );
            let body: Value = app
                .client
                .post(format!("{}/graphql", app.base))
                .bearer_auth(&app.token)
                .header("apollo-require-preflight", "true")
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["importNmapXml"]["findings"].clone()
        }
    };
    let recorded = send(vulners(&[
        ("CVE-2023-38408", "9.8"),
        ("CVE-2020-15778", "6.8"),
    ]))
    .await;
    assert_eq!(recorded, 2);
    let found = findings_as(&app, &app.token, json!(null)).await;
    let critical = &found[&key(
        "CVE-2023-38408 in cpe:/a:openbsd:openssh:8.9p1",
        "192.0.2.10",
    )];
    assert_eq!(critical["risk"], "CRITICAL");
    assert_eq!(critical["port"], 22);
    assert_eq!(critical["service"], "ssh");
    assert_eq!(critical["vulnerability"]["source"], "NMAP");

    // A scan without the script says nothing about them; one with it fixes the CVE it no
    // longer lists.
    assert_eq!(send(NMAP.to_owned()).await, 0);
    let found = findings_as(&app, &app.token, json!({ "statuses": ["OPEN"] })).await;
    assert_eq!(found.len(), 2);
    assert_eq!(send(vulners(&[("CVE-2020-15778", "6.8")])).await, 1);
    let fixed = findings_as(&app, &app.token, json!({ "statuses": ["FIXED"] })).await;
    assert_eq!(
        fixed.keys().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        vec!["CVE-2023-38408 in cpe:/a:openbsd:openssh:8.9p1"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_follow_their_hosts_support_group_on_every_path_and_analytics_match_the_rows() {
    let app = TestApp::spawn().await;
    let group = |name: &'static str| {
        let app = &app;
        async move {
            let made = app
                .ok(
                    "mutation($n: String!) { createSupportGroup(input: {name: $n}) { supportGroup { id } } }",
                    json!({ "n": name }),
                )
                .await;
            made["createSupportGroup"]["supportGroup"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a, b) = (group("Team A").await, group("Team B").await);
    let (analyst, _) = user(&app, "anna", "ANALYST", &[&a]).await;
    let mut ws = subscribe(
        app.server.addr,
        &analyst,
        "subscription { findingEvents { kind findingId finding { risk host { address } vulnerability { name } } } }",
        json!({}),
    )
    .await;

    // Team B's hosts first (the analyst must not hear of them), then Team A's.
    let csv = upload(&app, &app.token, "NESSUS_CSV", CSV, Some(&b)).await;
    assert_eq!(csv["findings"], 2, "{csv}");
    let gvm = upload(&app, &app.token, "OPENVAS", GVM, Some(&a)).await;
    assert_eq!(gvm["newFindings"], 2, "{gvm}");

    let event = next_event(&mut ws).await;
    let event = &event["findingEvents"];
    assert_eq!(event["kind"], "CREATED");
    assert_eq!(
        event["finding"]["host"]["address"], "2001:db8::7",
        "the first event the analyst hears of is on Team A's host: {event}"
    );

    // Lists, counts, node, the summaries and the delta: only Team A's host.
    let mine = findings_as(&app, &analyst, json!(null)).await;
    assert_eq!(
        mine.keys().cloned().collect::<Vec<_>>(),
        vec![key(
            "SSH Weak Encryption Algorithms Supported",
            "2001:db8::7"
        )]
    );
    let all = findings_as(&app, &app.token, json!(null)).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let theirs = &all[&key(ETERNALBLUE, "192.0.2.10")]["id"];
    let (_, node) = app
        .gql_as(
            Some(&analyst),
            "query($id: ID!) { node(id: $id) { id } finding(id: $id) { id } }",
            json!({ "id": theirs }),
        )
        .await;
    assert_eq!(
        node["data"],
        json!({ "node": null, "finding": null }),
        "{node}"
    );
    let (_, summary) = app
        .gql_as(
            Some(&analyst),
            "{ findingRiskSummary { risk findings hosts } mostAffectedHosts { host { address } total } }",
            json!({}),
        )
        .await;
    assert_eq!(
        summary["data"],
        json!({
            "findingRiskSummary": [{ "risk": "MEDIUM", "findings": 1, "hosts": 1 }],
            "mostAffectedHosts": [{ "host": { "address": "2001:db8::7" }, "total": 1 }],
        }),
        "{summary}"
    );
    let (_, refused) = app
        .gql_as(
            Some(&analyst),
            "mutation($i: UpdateFindingInput!) { updateFinding(input: $i) { finding { id } } }",
            json!({ "i": { "id": theirs, "status": "FIXED" } }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    let (_, by_group) = app
        .gql_as(
            Some(&app.token),
            "query($g: ID!) { findings(filter: {supportGroupId: $g}) { totalCount } }",
            json!({ "g": b }),
        )
        .await;
    assert_eq!(by_group["data"]["findings"]["totalCount"], 3);

    // The analytics equal what the rows give.
    let mut per_risk: BTreeMap<String, (u64, std::collections::BTreeSet<String>)> = BTreeMap::new();
    let mut per_host: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, address), f) in &all {
        let entry = per_risk
            .entry(f["risk"].as_str().unwrap().to_owned())
            .or_default();
        entry.0 += 1;
        entry.1.insert(address.clone());
        *per_host.entry(address.clone()).or_default() += 1;
    }
    let analytics = app
        .ok(
            "{ findingRiskSummary { risk findings hosts } mostAffectedHosts(first: 10) { host { address } critical high medium low total highestRisk } }",
            json!({}),
        )
        .await;
    let summary: BTreeMap<String, (u64, u64)> = analytics["findingRiskSummary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["risk"].as_str().unwrap().to_owned(),
                (
                    r["findings"].as_u64().unwrap(),
                    r["hosts"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (u64, u64)> = per_risk
        .into_iter()
        .map(|(risk, (n, hosts))| (risk, (n, hosts.len() as u64)))
        .collect();
    assert_eq!(summary, expected);
    let hosts = analytics["mostAffectedHosts"].as_array().unwrap();
    let totals: BTreeMap<String, u64> = hosts
        .iter()
        .map(|h| {
            (
                h["host"]["address"].as_str().unwrap().to_owned(),
                h["total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(totals, per_host);
    // Worst first: the host with the critical finding leads.
    assert_eq!(hosts[0]["host"]["address"], "192.0.2.10", "{analytics}");
    assert_eq!(hosts[0]["highestRisk"], "CRITICAL");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_broken_database_answers_internal_commits_nothing_and_says_so() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let db = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .unwrap();
    db.execute_unprepared("ALTER TABLE finding_sighting RENAME TO finding_sighting_broken")
        .await
        .unwrap();
    let (status, body) = post(&app, &app.token, "kind=NESSUS", NESSUS.to_owned()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL");
    assert_eq!(body["errors"][0]["message"], "internal error");
    assert!(!body.to_string().contains("finding_sighting"), "{body}");
    // The batch rolled back whole; the import says it failed.
    assert!(findings_as(&app, &app.token, json!(null)).await.is_empty());
    let imports = app
        .ok(
            "{ findingImports(first: 1) { edges { node { status error findings } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        imports["findingImports"]["edges"][0]["node"],
        json!({ "status": "FAILED", "error": "internal error; the server's log has the details", "findings": 0 })
    );
    // Repaired, the same report imports.
    db.execute_unprepared("ALTER TABLE finding_sighting_broken RENAME TO finding_sighting")
        .await
        .unwrap();
    db.close().await.ok();
    let (status, body) = post(&app, &app.token, "kind=NESSUS", NESSUS.to_owned()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["newFindings"], 2, "{body}");
    app.stop().await;
}
