//! Darknet sensors through the real server: sensors and their tokens, `POST /ingest/darknet`
//! with every kind of line (and malformed ones), idempotent retries, who may send and read,
//! roll-ups that equal what the raw events give (random events, several cases), spikes,
//! retention, the live view and `hector import iptables`.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::support::*;

mod fold;
mod live;
mod rollups;

/// A small GeoIP database (written by Hector's own writer) in a directory kept for the test.
pub(super) fn geoip_file() -> (tempfile::TempDir, std::path::PathBuf) {
    use api::geoip::build::{Entry, database};
    let entry = |net: &str, country: &str, asn: u32| Entry {
        net: net.parse().unwrap(),
        country: Some(country.to_owned()),
        asn: Some(asn),
    };
    let bytes = database(&[
        entry("203.0.113.0/24", "NL", 64500),
        entry("198.51.100.0/24", "BR", 64501),
        entry("2001:db8:66::/48", "DE", 64502),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test-country-asn.mmdb");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Creates a sensor as the admin: its id and first token.
pub(super) async fn sensor(app: &TestApp, name: &str) -> (String, String) {
    let data = app
        .ok(
            "mutation($i: CreateSensorInput!) { createSensor(input: $i) { token sensor { id name networks location enabled events lastSeenAt } } }",
            json!({ "i": { "name": name, "networks": ["192.0.2.0/24", "2001:db8:1::/48"], "location": "rack 7" } }),
        )
        .await;
    let s = &data["createSensor"]["sensor"];
    assert_eq!(s["networks"], json!(["192.0.2.0/24", "2001:db8:1::/48"]));
    assert_eq!(
        (s["enabled"].clone(), s["events"].clone()),
        (json!(true), json!(0))
    );
    assert!(s["lastSeenAt"].is_null());
    (
        s["id"].as_str().unwrap().to_owned(),
        data["createSensor"]["token"].as_str().unwrap().to_owned(),
    )
}

/// Posts a body to `/ingest/darknet`.
pub(super) async fn post(
    app: &TestApp,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
    content_type: &str,
    key: Option<&str>,
    query: &str,
) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/ingest/darknet{query}", app.base))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(super) fn syslog_time(at: DateTime<Utc>) -> String {
    at.format("%b %e %H:%M:%S").to_string()
}

const EVENT: &str = "id seenAt sensorId source destination protocol protocolNumber sourcePort destinationPort icmpType icmpCode tcpFlags ttl length country asn";

pub(super) async fn events(app: &TestApp, filter: Value) -> Vec<Value> {
    let data = app
        .ok(
            &format!("query($f: DarknetEventFilter) {{ darknetEvents(filter: $f, first: 100) {{ totalCount edges {{ node {{ {EVENT} }} }} }} }}"),
            json!({ "f": filter }),
        )
        .await;
    let edges = data["darknetEvents"]["edges"].as_array().unwrap();
    assert_eq!(data["darknetEvents"]["totalCount"], json!(edges.len()));
    edges.iter().map(|e| e["node"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_line_becomes_the_right_event_and_bad_lines_are_reported() {
    let (_dir, geoip) = geoip_file();
    let app = TestApp::spawn_with(|c| c.geoip_country_db = Some(geoip)).await;
    let (sensor_id, token) = sensor(&app, "edge-1").await;
    let at = Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(5);
    let t = syslog_time(at);
    let iso = at.to_rfc3339();
    let mut body: Vec<u8> = Vec::new();
    let mut line = |l: &[u8]| {
        body.extend_from_slice(l);
        body.push(b'\n');
    };
    // 1: HECTOR's own example line.
    line(format!("{t} sensor1 kernel: iptables IN=eth0 OUT= MAC=00:1a:a0:bb:cc:dd:00:11:22:33:44:55:08:00 SRC=203.0.113.66 DST=192.0.2.61 LEN=48 TOS=0x00 PREC=0x00 TTL=114 ID=26624 DF PROTO=TCP SPT=4089 DPT=445 WINDOW=65535 RES=0x00 SYN URGP=0").as_bytes());
    // 2: UDP, without the WINDOW= field HECTOR cut at.
    line(format!("{t} sensor1 kernel: [123.456] iptables IN=eth0 OUT= SRC=198.51.100.7 DST=192.0.2.9 LEN=78 TTL=49 ID=0 DF PROTO=UDP SPT=5353 DPT=161 LEN=58").as_bytes());
    // 3: not a log line.
    line(b"this is not a log line");
    // 4: ICMP with an RFC 5424 time.
    line(format!("<4>1 {iso} sensor kernel - - - iptables IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=84 TTL=55 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1").as_bytes());
    // 5: ip6tables, ICMPv6.
    line(format!("{iso} sensor kernel: ip6tables IN=eth0 OUT= SRC=2001:db8:66::1 DST=2001:db8:1::1 LEN=104 TC=0 HOPLIMIT=57 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1").as_bytes());
    // 6-10: an OSSEC alert around a logged TCP line (HECTOR's rule 200001 path).
    line(b"** Alert 1290000000.1234: - iptables,darknet,");
    line(
        format!(
            "{} (agent) 10.0.0.1->/var/log/messages",
            at.format("%Y %b %d %H:%M:%S")
        )
        .as_bytes(),
    );
    line(b"Rule: 200001 (level 3) -> 'Darknet packet'");
    line(format!("{t} sensor1 kernel: iptables IN=eth0 OUT= SRC=203.0.113.66 DST=192.0.2.7 LEN=40 TTL=240 PROTO=TCP SPT=40000 DPT=23 SYN").as_bytes());
    line(b"");
    // 11: another protocol (GRE).
    line(format!("{t} s kernel: iptables IN=eth0 OUT= SRC=203.0.113.9 DST=192.0.2.1 LEN=64 TTL=60 PROTO=47").as_bytes());
    // 12-15: a bad port, invalid UTF-8, a NUL byte, a line over the cap.
    line(
        format!(
            "{t} s kernel: iptables IN=eth0 SRC=203.0.113.5 DST=192.0.2.1 PROTO=TCP SPT=x DPT=2"
        )
        .as_bytes(),
    );
    line(b"\xff\xfe\xfd");
    line(b"Dec  2 10:00:00 s kernel: iptables \0 IN=eth0");
    line(&vec![b'a'; 5000]);
    // 16: a good line after the bad ones is kept.
    line(format!("{t} s kernel: iptables IN=eth0 OUT= SRC=203.0.113.66 DST=192.0.2.2 LEN=40 PROTO=TCP SPT=1 DPT=23 SYN ACK").as_bytes());

    let (status, report) = post(&app, Some(&token), body, "text/plain", None, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 7, "{report:#}");
    assert_eq!(report["skipped"], 4, "{report:#}");
    assert_eq!(report["rejectedCount"], 5, "{report:#}");
    assert_eq!(report["replayed"], false);
    assert_eq!(report["sensorId"], sensor_id.as_str());
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![3, 12, 13, 14, 15]
    );
    assert!(
        rejected[0].1.contains("is not a syslog time"),
        "{rejected:?}"
    );
    assert!(
        rejected[1].1.contains("`SPT=x` is not a valid number"),
        "{rejected:?}"
    );
    assert_eq!(rejected[2].1, "not UTF-8");
    assert_eq!(rejected[3].1, "holds a NUL byte");
    assert!(rejected[4].1.starts_with("longer than"), "{rejected:?}");

    let all = events(&app, json!({})).await;
    assert_eq!(all.len(), 7);
    let times: Vec<&str> = all.iter().map(|e| e["seenAt"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    let tcp = events(&app, json!({ "destinationPort": 445 })).await;
    assert_eq!(tcp.len(), 1);
    let e = &tcp[0];
    assert_eq!(e["source"], "203.0.113.66");
    assert_eq!(e["destination"], "192.0.2.61");
    assert_eq!(
        (e["protocol"].clone(), e["protocolNumber"].clone()),
        (json!("TCP"), json!(6))
    );
    assert_eq!(
        (e["sourcePort"].clone(), e["tcpFlags"].clone()),
        (json!(4089), json!(["SYN"]))
    );
    assert_eq!(
        (e["ttl"].clone(), e["length"].clone()),
        (json!(114), json!(48))
    );
    assert_eq!(
        (e["country"].clone(), e["asn"].clone()),
        (json!("NL"), json!(64500))
    );
    assert_eq!(e["sensorId"], sensor_id.as_str());
    assert_eq!(
        DateTime::parse_from_rfc3339(e["seenAt"].as_str().unwrap()).unwrap(),
        at
    );

    let udp = events(&app, json!({ "protocol": "UDP" })).await;
    assert_eq!(
        (udp[0]["destinationPort"].clone(), udp[0]["country"].clone()),
        (json!(161), json!("BR"))
    );
    let icmp = events(&app, json!({ "protocol": "ICMP" })).await;
    assert_eq!(icmp.len(), 1);
    assert_eq!(
        (icmp[0]["icmpType"].clone(), icmp[0]["icmpCode"].clone()),
        (json!(8), json!(0))
    );
    assert!(icmp[0]["sourcePort"].is_null() && icmp[0]["tcpFlags"] == json!([]));
    let v6 = events(&app, json!({ "protocol": "ICMPV6" })).await;
    assert_eq!(
        (v6[0]["source"].clone(), v6[0]["ttl"].clone()),
        (json!("2001:db8:66::1"), json!(57))
    );
    assert_eq!(v6[0]["country"], "DE");
    let other = events(&app, json!({ "protocol": "OTHER" })).await;
    assert_eq!(other[0]["protocolNumber"], 47);
    assert_eq!(
        events(&app, json!({ "source": "203.0.113.0/24" }))
            .await
            .len(),
        5
    );
    assert_eq!(
        events(&app, json!({ "country": "nl", "destinationPort": 23 }))
            .await
            .len(),
        2
    );
    let flags = events(
        &app,
        json!({ "source": "203.0.113.66", "destinationPort": 23 }),
    )
    .await;
    let flag_sets: BTreeSet<String> = flags.iter().map(|e| e["tcpFlags"].to_string()).collect();
    assert!(
        flag_sets.contains(&json!(["SYN", "ACK"]).to_string()),
        "{flag_sets:?}"
    );

    let data = app
        .ok(
            "query($id: ID!, $a: String!) { sensor(id: $id) { events lastSeenAt } darknetSource(address: $a) { address events distinctPorts distinctSensors country asn ports { protocol port events } sensors { sensorId events } } darknetTopPorts(limit: 100) { total ports { protocol protocolNumber port events share } } }",
            json!({ "id": sensor_id, "a": "203.0.113.66" }),
        )
        .await;
    assert_eq!(data["sensor"]["events"], 7);
    assert!(data["sensor"]["lastSeenAt"].is_string());
    let profile = &data["darknetSource"];
    assert_eq!(profile["events"], 3);
    assert_eq!(profile["distinctPorts"], 2);
    assert_eq!(profile["distinctSensors"], 1);
    assert_eq!(
        (profile["country"].clone(), profile["asn"].clone()),
        (json!("NL"), json!(64500))
    );
    assert_eq!(
        profile["ports"][0],
        json!({ "protocol": "TCP", "port": 23, "events": 2 })
    );
    assert_eq!(
        profile["sensors"],
        json!([{ "sensorId": sensor_id, "events": 3 }])
    );
    let top = &data["darknetTopPorts"];
    assert_eq!(top["total"], 7);
    assert_eq!(top["ports"][0]["port"], 23);
    assert_eq!(top["ports"][0]["share"], json!(2.0 / 7.0));
    let portless: Vec<&Value> = top["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["port"].is_null())
        .collect();
    assert_eq!(
        portless.len(),
        3,
        "ICMP, ICMPv6 and GRE have no port: {top:#}"
    );

    // NDJSON: the same fields as JSON, one event a line.
    let ndjson = format!(
        "{}\n{{\"time\": \"{iso}\", \"src\": \"nonsense\"}}\n{}\n",
        json!({ "time": iso, "src": "198.51.100.200", "dst": "192.0.2.3", "protocol": "UDP", "srcPort": 123, "dstPort": 1900, "ttl": 50, "length": 60 }),
        json!({ "time": iso, "src": "203.0.113.66", "dst": "192.0.2.3", "protocol": "TCP", "srcPort": 5, "dstPort": 22, "tcpFlags": ["SYN"] }),
    );
    let (status, report) = post(&app, Some(&token), ndjson, "application/x-ndjson", None, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["accepted"].clone(), report["rejectedCount"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(report["rejected"][0]["line"], 2);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not an event")
    );
    assert_eq!(
        events(&app, json!({ "destinationPort": 1900 })).await[0]["country"],
        "BR"
    );
    let again = app
        .ok(
            "query($a: String!) { darknetSource(address: $a) { events distinctPorts } }",
            json!({ "a": "203.0.113.66" }),
        )
        .await;
    assert_eq!(
        again["darknetSource"],
        json!({ "events": 4, "distinctPorts": 3 })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_add_nothing_and_only_a_sensor_sends_as_itself() {
    let app = TestApp::spawn_with(|c| c.max_darknet_body_bytes = 4096).await;
    let (a, token_a) = sensor(&app, "sensor-a").await;
    let (b, _) = sensor(&app, "sensor-b").await;
    let iso = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let batch = |port: u16| {
        format!(
            "{}\n",
            json!({ "time": iso, "src": "203.0.113.1", "dst": "192.0.2.1", "protocol": "TCP", "srcPort": 1, "dstPort": port })
        )
    };

    let (status, first) = post(
        &app,
        Some(&token_a),
        batch(22),
        "application/x-ndjson",
        Some("batch-1"),
        "",
    )
    .await;
    assert_eq!(
        (status, first["accepted"].clone(), first["replayed"].clone()),
        (200, json!(1), json!(false))
    );
    let (status, retry) = post(
        &app,
        Some(&token_a),
        batch(22),
        "application/x-ndjson",
        Some("batch-1"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(retry["replayed"], true, "{retry}");
    assert_eq!(retry["batchId"], first["batchId"]);
    assert_eq!(retry["accepted"], 1);
    assert_eq!(
        count(&app, a.clone()).await,
        1,
        "a retried batch adds nothing"
    );
    let (_, other) = post(
        &app,
        Some(&token_a),
        batch(23),
        "application/x-ndjson",
        Some("batch-2"),
        "",
    )
    .await;
    assert_eq!(other["replayed"], false);
    assert_eq!(count(&app, a.clone()).await, 2);
    let (status, _) = post(
        &app,
        Some(&token_a),
        batch(23),
        "application/x-ndjson",
        Some("bad key with spaces"),
        "",
    )
    .await;
    assert_eq!(status, 400);

    // Only as itself.
    let (status, body) = post(
        &app,
        Some(&token_a),
        batch(24),
        "application/x-ndjson",
        None,
        &format!("?sensorId={b}"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(count(&app, b.clone()).await, 0);
    // A sensor token reads nothing.
    let (_, body) = app
        .gql_as(Some(&token_a), "{ darknetTopPorts { total } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    // A viewer reads the darknet but cannot send.
    let (viewer, _) = user(&app, "viewer-d", "VIEWER", &[]).await;
    let (_, body) = app
        .gql_as(Some(&viewer), "{ darknetTopPorts { total } }", json!({}))
        .await;
    assert_eq!(body["data"]["darknetTopPorts"]["total"], 2, "{body}");
    let (status, _) = post(
        &app,
        Some(&viewer),
        batch(25),
        "application/x-ndjson",
        None,
        &format!("?sensorId={a}"),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(&app, None, batch(25), "application/x-ndjson", None, "").await;
    assert_eq!(status, 401);
    // An admin names the sensor.
    let (status, body) = post(
        &app,
        Some(&app.token),
        batch(26),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &app,
        Some(&app.token),
        batch(26),
        "application/x-ndjson",
        None,
        &format!("?sensorId={b}"),
    )
    .await;
    assert_eq!(
        (status, body["accepted"].clone()),
        (200, json!(1)),
        "{body}"
    );
    // Bounds: the media type and the body size.
    let (status, _) = post(&app, Some(&token_a), batch(27), "application/xml", None, "").await;
    assert_eq!(status, 415);
    let (status, body) = post(
        &app,
        Some(&token_a),
        "x".repeat(5000),
        "text/plain",
        None,
        "",
    )
    .await;
    assert_eq!(status, 413, "{body}");

    // A disabled sensor's lines are refused; enabled again, they are taken.
    app.ok(
        "mutation($id: ID!) { updateSensor(input: {id: $id, enabled: false}) { sensor { enabled } } }",
        json!({ "id": a }),
    )
    .await;
    let (status, body) = post(
        &app,
        Some(&token_a),
        batch(28),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    assert_eq!(count(&app, a.clone()).await, 2);
    app.ok(
        "mutation($id: ID!) { updateSensor(input: {id: $id, enabled: true, location: null}) { sensor { enabled location } } }",
        json!({ "id": a }),
    )
    .await;
    let (status, _) = post(
        &app,
        Some(&token_a),
        batch(28),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);

    // A second token works; a sensor that sent events cannot be deleted, one that did not can.
    let data = app
        .ok(
            "mutation($id: ID!) { createSensorToken(input: {sensorId: $id, name: \"spare\", expiresInDays: 30}) { token tokenId } }",
            json!({ "id": a }),
        )
        .await;
    let spare = data["createSensorToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post(
        &app,
        Some(&spare),
        batch(29),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let codes = app
        .error_codes(
            "mutation($id: ID!) { deleteSensor(input: {id: $id}) { deletedSensorId } }",
            json!({ "id": a }),
        )
        .await;
    assert_eq!(codes, vec!["CONFLICT"]);
    let (c, _) = sensor(&app, "sensor-c").await;
    app.ok(
        "mutation($id: ID!) { deleteSensor(input: {id: $id}) { deletedSensorId } }",
        json!({ "id": c }),
    )
    .await;
    let codes = app
        .error_codes(
            "mutation { createSensor(input: {name: \"sensor-a\"}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, vec!["CONFLICT"]);
    let codes = app
        .error_codes(
            "mutation { createSensor(input: {name: \"n\", networks: [\"not a net\"]}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, vec!["BAD_USER_INPUT"]);
    app.stop().await;
}

pub(super) async fn count(app: &TestApp, id: String) -> i64 {
    app.ok(
        "query($id: ID!) { sensor(id: $id) { events } }",
        json!({ "id": id }),
    )
    .await["sensor"]["events"]
        .as_i64()
        .unwrap()
}

/// One page of `darknetEvents` as (ids, pageInfo, totalCount).
async fn event_page(app: &TestApp, args: Value) -> (Vec<String>, Value, Value) {
    let data = app
        .ok(
            "query($f: DarknetEventFilter, $first: Int, $after: String, $last: Int, $before: String) { darknetEvents(filter: $f, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node { id } } } }",
            args,
        )
        .await;
    let list = &data["darknetEvents"];
    let ids = list["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, list["pageInfo"].clone(), list["totalCount"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sources_events_are_listed_across_weeks_page_by_page_both_ways() {
    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let (_, token) = sensor(&app, "weeks").await;
    let now = Utc::now().trunc_subsecs(0);
    // Over 60 days (a listing by source seeks a week of hours a statement): the source's
    // events, its neighbour's in the /24, and noise from elsewhere in every hour around them.
    let mut lines = String::new();
    let mut wanted: Vec<(DateTime<Utc>, &str)> = Vec::new();
    for day in 0..60i64 {
        let at = now - chrono::Duration::hours(day * 24 + day % 7);
        for (src, every) in [("203.0.113.5", 3), ("203.0.113.6", 5), ("198.51.100.9", 1)] {
            if day % every == 0 {
                lines.push_str(&format!(
                    "{}\n",
                    json!({ "time": at.to_rfc3339(), "src": src, "dst": "192.0.2.1", "protocol": "TCP", "srcPort": 1, "dstPort": 23 })
                ));
                wanted.push((at, src));
            }
        }
    }
    let (status, report) = post(&app, Some(&token), lines, "application/x-ndjson", None, "").await;
    assert_eq!(
        (status, report["accepted"].clone()),
        (200, json!(wanted.len()))
    );
    // What the listing must give, newest first, found by time alone (no source filter).
    let all = events(&app, json!({})).await;
    assert_eq!(all.len(), wanted.len());
    let ids_of = |pick: &dyn Fn(&str) -> bool| -> Vec<String> {
        all.iter()
            .filter(|e| pick(e["source"].as_str().unwrap()))
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let one = ids_of(&|s| s == "203.0.113.5");
    let net = ids_of(&|s| s.starts_with("203.0.113."));
    assert_eq!(one.len(), 20);
    assert_eq!(net.len(), 32);

    for (source, expected) in [("203.0.113.5", &one), ("203.0.113.0/24", &net)] {
        let f = json!({ "source": source });
        // Forward, 7 at a time.
        let mut got = Vec::new();
        let mut after = Value::Null;
        loop {
            let (ids, info, total) =
                event_page(&app, json!({ "f": f, "first": 7, "after": after })).await;
            assert_eq!(total, json!(expected.len()), "{source}");
            got.extend(ids);
            if info["hasNextPage"] != true {
                break;
            }
            after = info["endCursor"].clone();
        }
        assert_eq!(&got, expected, "{source}: forward");
        // Backward from the end, 6 at a time.
        let mut back: Vec<String> = Vec::new();
        let mut before = Value::Null;
        loop {
            let (ids, info, _) =
                event_page(&app, json!({ "f": f, "last": 6, "before": before })).await;
            back.splice(0..0, ids);
            if info["hasPreviousPage"] != true {
                break;
            }
            before = info["startCursor"].clone();
        }
        assert_eq!(&back, expected, "{source}: backward");
    }

    // A window: only the source's events in it, and its count.
    let from = now - chrono::Duration::days(20);
    let in_window: Vec<String> = all
        .iter()
        .filter(|e| e["source"] == "203.0.113.5")
        .filter(|e| {
            e["seenAt"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
                >= from
        })
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!in_window.is_empty() && in_window.len() < one.len());
    let (ids, _, total) = event_page(
        &app,
        json!({ "f": { "source": "203.0.113.5", "from": from.to_rfc3339() }, "first": 100 }),
    )
    .await;
    assert_eq!((ids, total), (in_window.clone(), json!(in_window.len())));
    app.stop().await;
}
