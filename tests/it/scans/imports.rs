//! nmap XML imports through every door: the GraphQL multipart upload, the streaming
//! `POST /ingest/nmap` and `hector import nmap`; truncated, malformed and hostile files.

use serde_json::{Value, json};

use super::{OLD, SAMPLE};
use crate::support::*;

/// Posts `xml` to `/ingest/nmap` with `token`.
pub(super) async fn post_xml(
    app: &TestApp,
    token: &str,
    xml: impl Into<reqwest::Body>,
    query: &str,
) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/ingest/nmap{query}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Uploads `xml` through `importNmapXml` (GraphQL multipart request).
pub(super) async fn upload(app: &TestApp, token: &str, xml: &str, preflight: bool) -> (u16, Value) {
    let operations = json!({
        "query": "mutation($f: Upload!) { importNmapXml(input: {file: $f}) { scanRun { id status origin } hosts hostsDown hostsCreated ports changes rejectedCount rejected { line reason } stoppedAt { line reason } } }",
        "variables": { "f": null }
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::text(xml.to_owned())
                .file_name("scan.xml")
                .mime_str("application/xml")
                .unwrap(),
        );
    let mut req = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .multipart(form);
    if preflight {
        req = req.header("apollo-require-preflight", "true");
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn nmap_xml_imports_record_services_os_scripts_and_history_and_a_reimport_changes_nothing() {
    let app = TestApp::spawn().await;
    // Without the preflight header a multipart request is refused (a plain form could send it).
    let (status, _) = upload(&app, &app.token, SAMPLE, false).await;
    assert_eq!(status, 400);

    let (status, body) = upload(&app, &app.token, SAMPLE, true).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["data"]["importNmapXml"];
    assert_eq!(report["hosts"], 2, "{body}");
    assert_eq!(report["hostsDown"], 1);
    assert_eq!(report["hostsCreated"], 2);
    assert_eq!(report["ports"], 5);
    assert_eq!(report["changes"], 4, "four open ports, never seen before");
    assert_eq!(report["stoppedAt"], Value::Null);
    assert_eq!(report["scanRun"]["origin"], "IMPORT");
    assert_eq!(report["scanRun"]["status"], "SUCCEEDED");

    let q = "query($a: String!) { hostByAddress(address: $a) { names os { name family vendor type } services { protocol port state name product version extraInfo cpe scripts { id output } history(first: 5) { totalCount } } } }";
    let before = app.ok(q, json!({ "a": "192.0.2.10" })).await;
    let host = &before["hostByAddress"];
    assert_eq!(host["names"], json!(["web.example.org"]));
    assert_eq!(host["os"]["name"], "Linux 4.15 - 5.6");
    assert_eq!(host["os"]["family"], "Linux");
    let services = host["services"].as_array().unwrap();
    let http = services.iter().find(|s| s["port"] == 80).unwrap();
    assert_eq!(http["state"], "OPEN");
    assert_eq!(http["product"], "nginx");
    assert_eq!(http["version"], "1.18.0");
    assert_eq!(http["cpe"], "cpe:/a:igor_sysoev:nginx:1.18.0");
    assert_eq!(http["scripts"][0]["id"], "http-title");
    assert_eq!(http["scripts"][0]["output"], "Welcome & hello");
    let dns = services.iter().find(|s| s["port"] == 53).unwrap();
    assert_eq!(dns["protocol"], "UDP");
    assert_eq!(
        services.iter().find(|s| s["port"] == 443).unwrap()["state"],
        "FILTERED"
    );
    let v6 = app.ok(q, json!({ "a": "2001:db8::5" })).await;
    assert_eq!(v6["hostByAddress"]["services"][0]["name"], "smtp");

    // The same file again: nothing new, nothing changed, no second observation.
    let (_, again) = upload(&app, &app.token, SAMPLE, true).await;
    let report = &again["data"]["importNmapXml"];
    assert_eq!(report["hostsCreated"], 0, "{again}");
    assert_eq!(report["changes"], 0);
    assert_eq!(app.ok(q, json!({ "a": "192.0.2.10" })).await, before);

    // A later scan of the same hosts: port 80 closed, ssh upgraded, a new port opened.
    let later = SAMPLE
        .replace("start=\"1795600800\"", "start=\"1795700800\"")
        .replace(
            "<port protocol=\"tcp\" portid=\"80\"><state state=\"open\"",
            "<port protocol=\"tcp\" portid=\"80\"><state state=\"closed\"",
        )
        .replace("8.9p1 Ubuntu 3ubuntu0.4", "9.6p1 Ubuntu 3ubuntu13")
        .replace(
            "<port protocol=\"tcp\" portid=\"443\"><state state=\"filtered\"",
            "<port protocol=\"tcp\" portid=\"443\"><state state=\"open\"",
        );
    let (status, body) = post_xml(&app, &app.token, later, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"], 3, "{body}");
    let changes = app
        .ok(
            "query($r: ID!) { exposureChanges(first: 10, filter: {scanRunId: $r}) { edges { node { kind port previous current } } } }",
            json!({ "r": body["scanRunId"] }),
        )
        .await;
    let mut kinds: Vec<(i64, String)> = changes["exposureChanges"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["port"].as_i64().unwrap(),
                e["node"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            (22, "CHANGED".into()),
            (80, "CLOSED".into()),
            (443, "OPENED".into())
        ]
    );
    let after = app.ok(q, json!({ "a": "192.0.2.10" })).await;
    let http = after["hostByAddress"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["port"] == 80)
        .unwrap()
        .clone();
    assert_eq!(http["state"], "CLOSED");
    assert_eq!(http["history"]["totalCount"], 2);

    // An older file imported afterwards is history, not the present.
    let (_, body) = post_xml(&app, &app.token, OLD, "").await;
    assert_eq!(body["hosts"], 2, "{body}");
    assert_eq!(body["hostsCreated"], 2);
    let db1 = app.ok(q, json!({ "a": "198.51.100.1" })).await;
    let open: Vec<i64> = db1["hostByAddress"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "OPEN")
        .map(|s| s["port"].as_i64().unwrap())
        .collect();
    assert_eq!(open, vec![22, 3306]);
    app.stop().await;
}

#[tokio::test]
async fn a_truncated_or_malformed_file_keeps_every_complete_host_and_says_where_it_stopped() {
    let app = TestApp::spawn().await;
    let cut = &SAMPLE[..SAMPLE.find("addr=\"2001:db8::5\"").unwrap()];
    let (status, body) = post_xml(&app, &app.token, cut.to_owned(), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hosts"], 1, "{body}");
    assert_eq!(body["status"], "FAILED");
    assert!(body["stoppedAt"]["line"].as_u64().unwrap() > 40, "{body}");
    let found = app
        .ok(
            "{ hostByAddress(address: \"192.0.2.10\") { services { port } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["hostByAddress"]["services"].as_array().unwrap().len(),
        4
    );

    // A host without an address is refused with its line; the others are recorded.
    let doc = "<nmaprun>\n<host><status state=\"up\"/></host>\n<host><status state=\"up\"/><address addr=\"10.9.9.9\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"8080\"><state state=\"open\"/></port></ports></host>\n</nmaprun>\n";
    let (_, body) = post_xml(&app, &app.token, doc, "").await;
    assert_eq!(body["hosts"], 1, "{body}");
    assert_eq!(
        body["rejected"],
        json!([{ "line": 2, "reason": "a host without an IP address" }])
    );

    // A DTD with declarations is refused before anything is read.
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n<nmaprun><host><status state=\"up\"/><address addr=\"10.8.8.8\" addrtype=\"ipv4\"/><hostnames><hostname name=\"&b;\"/></hostnames></host></nmaprun>";
    let (_, body) = post_xml(&app, &app.token, bomb, "").await;
    assert_eq!(body["hosts"], 0, "{body}");
    assert!(
        body["stoppedAt"]["reason"]
            .as_str()
            .unwrap()
            .contains("document type")
    );
    assert_eq!(
        app.ok("{ hostByAddress(address: \"10.8.8.8\") { id } }", json!({}))
            .await["hostByAddress"],
        Value::Null
    );

    // New hosts may only go to a support group that exists.
    let (status, body) = post_xml(
        &app,
        &app.token,
        SAMPLE,
        &format!("?supportGroupId={}", gid("SupportGroup", 999)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hector_import_nmap_records_a_file_from_the_command_line() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.xml");
    std::fs::write(&file, OLD).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hector"))
        .env("DATABASE_URL", app.db.url.as_str())
        .env("HECTOR_LOG", "error")
        .env_remove("HECTOR_ENV")
        .args(["import", "nmap"])
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
        stdout.contains("2 hosts recorded (2 new, 0 down), 5 ports, 3 exposure changes"),
        "{stdout}"
    );
    let found = app
        .ok(
            "{ hostByAddress(address: \"198.51.100.2\") { services { port state } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["hostByAddress"]["services"],
        json!([{ "port": 80, "state": "OPEN" }])
    );

    // A truncated file: the complete host is recorded, the command says where it stopped.
    let cut = &OLD[..OLD.find("198.51.100.2").unwrap()];
    std::fs::write(&file, cut.replace("198.51.100.1", "198.51.100.9")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hector"))
        .env("DATABASE_URL", app.db.url.as_str())
        .env("HECTOR_LOG", "error")
        .env_remove("HECTOR_ENV")
        .args(["import", "nmap"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 hosts recorded") && stdout.contains("reading stopped"),
        "{stdout}"
    );
    let found = app
        .ok(
            "{ hostByAddress(address: \"198.51.100.9\") { services { port } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["hostByAddress"]["services"].as_array().unwrap().len(),
        4
    );
    app.stop().await;
}
