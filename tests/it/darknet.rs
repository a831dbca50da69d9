//! Darknet sensors through the real server: sensors and their tokens, `POST /ingest/darknet`
//! with every kind of line (and malformed ones), idempotent retries, who may send and read,
//! roll-ups that equal what the raw events give (random events, several cases), spikes,
//! retention, the live view and `hector import iptables`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::support::*;

/// A small GeoIP database (written by Hector's own writer) in a directory kept for the test.
fn geoip_file() -> (tempfile::TempDir, std::path::PathBuf) {
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
async fn sensor(app: &TestApp, name: &str) -> (String, String) {
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
async fn post(
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

fn syslog_time(at: DateTime<Utc>) -> String {
    at.format("%b %e %H:%M:%S").to_string()
}

const EVENT: &str = "id seenAt sensorId source destination protocol protocolNumber sourcePort destinationPort icmpType icmpCode tcpFlags ttl length country asn";

async fn events(app: &TestApp, filter: Value) -> Vec<Value> {
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

async fn count(app: &TestApp, id: String) -> i64 {
    app.ok(
        "query($id: ID!) { sensor(id: $id) { events } }",
        json!({ "id": id }),
    )
    .await["sensor"]["events"]
        .as_i64()
        .unwrap()
}

/// One random event, as the test remembers it.
#[derive(Clone)]
struct Sent {
    at: DateTime<Utc>,
    sensor: usize,
    src: String,
    protocol: &'static str,
    port: Option<u16>,
    country: Option<&'static str>,
}

fn country_of(src: &str) -> Option<&'static str> {
    if src.starts_with("203.0.113.") {
        Some("NL")
    } else if src.starts_with("198.51.100.") {
        Some("BR")
    } else if src.starts_with("2001:db8:66:") {
        Some("DE")
    } else {
        None
    }
}

fn hour(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

fn label(protocol: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{protocol}/{p}"),
        None => protocol.to_owned(),
    }
}

/// Random events, sent in several batches by two sensors; every dashboard query must answer
/// exactly what the test computes from the events it sent. Several random cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_ups_answer_what_the_raw_events_give() {
    let cases: u64 = std::env::var("HECTOR_PROPERTY_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3);
    for case in 0..cases {
        let seed = rand::random::<u64>();
        check_roll_ups(seed)
            .await
            .unwrap_or_else(|e| panic!("case {case}, seed {seed}: {e}"));
    }
}

async fn check_roll_ups(seed: u64) -> Result<(), String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (_dir, geoip) = geoip_file();
    let app = TestApp::spawn_with(|c| c.geoip_country_db = Some(geoip)).await;
    let sensors = [sensor(&app, "left").await, sensor(&app, "right").await];
    let now = Utc::now().trunc_subsecs(0);
    let pool: Vec<String> = (0..12)
        .map(|i| match i % 4 {
            0 => format!("203.0.113.{}", 1 + i),
            1 => format!("198.51.100.{}", 1 + i),
            2 => format!("2001:db8:66::{:x}", 1 + i),
            _ => format!("100.64.0.{}", 1 + i),
        })
        .collect();
    let n = rng.random_range(50..400);
    let mut sent: Vec<Sent> = Vec::new();
    for _ in 0..n {
        let src = pool[rng.random_range(0..pool.len())].clone();
        let (protocol, port) = match rng.random_range(0..10) {
            0 => (if src.contains(':') { "ICMPv6" } else { "ICMP" }, None),
            1 => ("UDP", Some([53u16, 161, 1900][rng.random_range(0..3)])),
            2 => ("47", None),
            _ => (
                "TCP",
                Some([22u16, 23, 80, 443, 445, 3389][rng.random_range(0..6)]),
            ),
        };
        sent.push(Sent {
            at: now - chrono::Duration::seconds(rng.random_range(0..40 * 3600)),
            sensor: rng.random_range(0..2),
            country: country_of(&src),
            src,
            protocol,
            port,
        });
    }
    for (i, chunk) in sent.chunks(n / 3 + 1).enumerate() {
        for (s, (_, token)) in sensors.iter().enumerate() {
            let body: String = chunk
                .iter()
                .filter(|e| e.sensor == s)
                .map(|e| {
                    let dst = if e.src.contains(':') { "2001:db8:1::1" } else { "192.0.2.1" };
                    let mut v = json!({ "time": e.at.to_rfc3339(), "src": e.src, "dst": dst, "protocol": e.protocol });
                    match (e.protocol, e.port) {
                        (_, Some(p)) => {
                            v["srcPort"] = json!(40000 + i);
                            v["dstPort"] = json!(p);
                        }
                        ("ICMP" | "ICMPv6", None) => {
                            v["icmpType"] = json!(8);
                            v["icmpCode"] = json!(0);
                        }
                        _ => {}
                    }
                    format!("{v}\n")
                })
                .collect();
            let (status, report) =
                post(&app, Some(token), body, "application/x-ndjson", None, "").await;
            if status != 200 || report["rejectedCount"] != 0 {
                return Err(format!("ingest: {status} {report}"));
            }
        }
    }

    // A window of whole hours that cuts through the events.
    let end = hour(now) + 1;
    let start = end - rng.random_range(2..36);
    let in_window: Vec<&Sent> = sent
        .iter()
        .filter(|e| (start..end).contains(&hour(e.at)))
        .collect();
    let from = DateTime::from_timestamp(start * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let to = DateTime::from_timestamp(end * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let mut ports: BTreeMap<String, i64> = BTreeMap::new();
    let mut ports_left: BTreeMap<String, i64> = BTreeMap::new();
    let mut countries: BTreeMap<String, i64> = BTreeMap::new();
    let mut sources: BTreeMap<String, i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut daily_countries: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for e in &in_window {
        let l = label(e.protocol, e.port);
        *ports.entry(l.clone()).or_default() += 1;
        if e.sensor == 0 {
            *ports_left.entry(l.clone()).or_default() += 1;
        }
        let c = e.country.unwrap_or("unknown").to_owned();
        *countries.entry(c.clone()).or_default() += 1;
        *sources.entry(e.src.clone()).or_default() += 1;
        *hourly.entry((l, hour(e.at))).or_default() += 1;
    }
    // Days are whole: the DAY series widens the window to midnights.
    let days = start.div_euclid(24)..(end + 23).div_euclid(24);
    for e in &sent {
        if days.contains(&hour(e.at).div_euclid(24)) {
            let c = e.country.unwrap_or("unknown").to_owned();
            *daily_countries
                .entry((c, hour(e.at).div_euclid(24)))
                .or_default() += 1;
        }
    }
    let total = in_window.len() as i64;

    let data = app
        .ok(
            "query($from: DateTime, $to: DateTime, $left: ID) {
                all: darknetTopPorts(from: $from, to: $to, limit: 1000) { total ports { protocol protocolNumber port events } }
                left: darknetTopPorts(from: $from, to: $to, sensorId: $left, limit: 1000) { total ports { protocol protocolNumber port events } }
                darknetTopCountries(from: $from, to: $to, limit: 1000) { total countries { country events } }
                darknetTopSources(from: $from, to: $to, limit: 1000) { total sources { address events } }
                hourly: darknetTimeSeries(from: $from, to: $to, bucket: HOUR, groupBy: PORT, limit: 50) { series { label total points { at events } } }
                daily: darknetTimeSeries(from: $from, to: $to, bucket: DAY, groupBy: COUNTRY, limit: 50) { series { label total points { at events } } }
                darknetShares(field: PROTOCOL, from: $from, to: $to, limit: 50) { total other values { value events } }
            }",
            json!({ "from": from, "to": to, "left": sensors[0].0 }),
        )
        .await;
    let port_map = |top: &Value| -> BTreeMap<String, i64> {
        top["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let proto = match p["protocol"].as_str().unwrap() {
                    "OTHER" => p["protocolNumber"].to_string(),
                    "ICMPV6" => "ICMPv6".to_owned(),
                    named => named.to_owned(),
                };
                let port = p["port"].as_u64().map(|p| p as u16);
                (label(&proto, port), p["events"].as_i64().unwrap())
            })
            .collect()
    };
    let check = |what: &str, got: &Value, want: Value| {
        if *got != want {
            Err(format!("{what}: got {got}, want {want}"))
        } else {
            Ok(())
        }
    };
    check("total", &data["all"]["total"], json!(total))?;
    check("ports", &json!(port_map(&data["all"])), json!(ports))?;
    check(
        "left sensor's ports",
        &json!(port_map(&data["left"])),
        json!(ports_left),
    )?;
    let got_countries: BTreeMap<String, i64> = data["darknetTopCountries"]["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["country"].as_str().unwrap_or("unknown").to_owned(),
                c["events"].as_i64().unwrap(),
            )
        })
        .collect();
    check("countries", &json!(got_countries), json!(countries))?;
    let got_sources: BTreeMap<String, i64> = data["darknetTopSources"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_owned(),
                s["events"].as_i64().unwrap(),
            )
        })
        .collect();
    check("sources", &json!(got_sources), json!(sources))?;
    let mut got_hourly: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for s in data["hourly"]["series"].as_array().unwrap() {
        let points = s["points"].as_array().unwrap();
        check("hourly points", &json!(points.len()), json!(end - start))?;
        for p in points {
            let at = DateTime::parse_from_rfc3339(p["at"].as_str().unwrap()).unwrap();
            let n = p["events"].as_i64().unwrap();
            if n > 0 {
                got_hourly.insert(
                    (s["label"].as_str().unwrap().to_owned(), hour(at.to_utc())),
                    n,
                );
            }
        }
    }
    check(
        "hourly series",
        &json!(format!("{got_hourly:?}")),
        json!(format!("{hourly:?}")),
    )?;
    let mut got_daily: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for s in data["daily"]["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            let at = DateTime::parse_from_rfc3339(p["at"].as_str().unwrap()).unwrap();
            let n = p["events"].as_i64().unwrap();
            if n > 0 {
                got_daily.insert(
                    (
                        s["label"].as_str().unwrap().to_owned(),
                        hour(at.to_utc()).div_euclid(24),
                    ),
                    n,
                );
            }
        }
    }
    check(
        "daily countries",
        &json!(format!("{got_daily:?}")),
        json!(format!("{daily_countries:?}")),
    )?;
    let shares = &data["darknetShares"];
    check("shares total", &shares["total"], json!(total))?;
    check("shares other", &shares["other"], json!(0))?;

    // A window holding every event: the all-time answer (read off the per-source roll-up).
    let everything = app
        .ok(
            "query($from: DateTime) { darknetTopSources(from: $from, limit: 1000) { total sources { address events } } bySensor: darknetTimeSeries(from: $from, groupBy: SENSOR, bucket: DAY) { series { total } } }",
            json!({ "from": (now - chrono::Duration::hours(48)).to_rfc3339() }),
        )
        .await;
    let mut all_sources: BTreeMap<String, i64> = BTreeMap::new();
    for e in &sent {
        *all_sources.entry(e.src.clone()).or_default() += 1;
    }
    let got_all: BTreeMap<String, i64> = everything["darknetTopSources"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_owned(),
                s["events"].as_i64().unwrap(),
            )
        })
        .collect();
    check("all-time sources", &json!(got_all), json!(all_sources))?;
    check(
        "all-time total",
        &everything["darknetTopSources"]["total"],
        json!(sent.len()),
    )?;
    let per_sensor: i64 = everything["bySensor"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total"].as_i64().unwrap())
        .sum();
    check("per-sensor series", &json!(per_sensor), json!(sent.len()))?;

    // Each source's profile counts all its events, whatever the window.
    for src in &pool {
        let mine: Vec<&Sent> = sent.iter().filter(|e| &e.src == src).collect();
        let got = app
            .ok(
                "query($a: String!) { darknetSource(address: $a) { events firstSeen lastSeen distinctPorts distinctSensors country } }",
                json!({ "a": src }),
            )
            .await;
        let p = &got["darknetSource"];
        if mine.is_empty() {
            check("unseen source", p, Value::Null)?;
            continue;
        }
        let distinct_ports: BTreeSet<String> =
            mine.iter().map(|e| label(e.protocol, e.port)).collect();
        let distinct_sensors: BTreeSet<usize> = mine.iter().map(|e| e.sensor).collect();
        let first = mine.iter().map(|e| e.at).min().unwrap();
        let last = mine.iter().map(|e| e.at).max().unwrap();
        check("source events", &p["events"], json!(mine.len()))?;
        check(
            "distinct ports",
            &p["distinctPorts"],
            json!(distinct_ports.len()),
        )?;
        check(
            "distinct sensors",
            &p["distinctSensors"],
            json!(distinct_sensors.len()),
        )?;
        check("country", &p["country"], json!(country_of(src)))?;
        let parse = |v: &Value| {
            DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .to_utc()
        };
        check(
            "first seen",
            &json!(parse(&p["firstSeen"]).to_rfc3339()),
            json!(first.to_rfc3339()),
        )?;
        check(
            "last seen",
            &json!(parse(&p["lastSeen"]).to_rfc3339()),
            json!(last.to_rfc3339()),
        )?;
    }
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upkeep_raises_a_spike_once_and_retention_keeps_the_roll_ups() {
    let app = TestApp::spawn_with(|c| {
        c.darknet_tick_secs = 1;
        c.darknet_spike_min_events = 20;
        c.darknet_spike_factor = 5.0;
        c.darknet_retention_days = 30;
    })
    .await;
    let (_, token) = sensor(&app, "spiky").await;
    let mut ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { darknetSpikeEvents { spike { id hour protocol port events baseline } } }",
        json!({}),
    )
    .await;
    let now = Utc::now();
    let event = |at: DateTime<Utc>, port: u16| {
        format!(
            "{}\n",
            json!({ "time": at.to_rfc3339(), "src": "203.0.113.1", "dst": "192.0.2.1", "protocol": "TCP", "srcPort": 1, "dstPort": port })
        )
    };
    let mut body = String::new();
    // A trailing day: port 23 once an hour, port 80 twenty-four times an hour.
    for h in 1..=24 {
        let at = now - chrono::Duration::hours(h);
        body.push_str(&event(at, 23));
        for _ in 0..24 {
            body.push_str(&event(at, 80));
        }
    }
    // This hour: 30 on port 23 (30 > 5 x 1: a spike), 30 on port 80 (not above 5 x 24).
    for _ in 0..30 {
        body.push_str(&event(now, 23));
        body.push_str(&event(now, 80));
    }
    // Forty days ago: past the retention period.
    let old = now - chrono::Duration::days(40);
    for _ in 0..3 {
        body.push_str(&event(old, 8080));
    }
    let (status, report) = post(&app, Some(&token), body, "application/x-ndjson", None, "").await;
    assert_eq!(
        (status, report["accepted"].clone()),
        (200, json!(24 * 25 + 60 + 3)),
        "{report}"
    );

    let spike = tokio::time::timeout(Duration::from_secs(30), next_event(&mut ws))
        .await
        .expect("a spike within 30 s");
    let spike = &spike["darknetSpikeEvents"]["spike"];
    assert_eq!(
        (spike["protocol"].clone(), spike["port"].clone()),
        (json!("TCP"), json!(23)),
        "{spike}"
    );
    assert_eq!(spike["events"], 30);
    assert_eq!(spike["baseline"], 1.0);

    // Retention removes the old events, keeps the new, and the roll-ups still count them.
    let old_filter = json!({ "to": (now - chrono::Duration::days(39)).to_rfc3339() });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !events(&app, old_filter.clone()).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "old events still there after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let data = app
        .ok(
            "query($from: DateTime, $to: DateTime) { old: darknetTopPorts(from: $from, to: $to) { total } recent: darknetEvents(filter: {destinationPort: 23}) { totalCount } darknetSpikes { totalCount edges { node { port } } } }",
            json!({ "from": (old - chrono::Duration::hours(1)).to_rfc3339(), "to": (old + chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await;
    assert_eq!(data["old"]["total"], 3, "roll-ups stay: {data}");
    assert_eq!(data["recent"]["totalCount"], 54);
    assert_eq!(
        data["darknetSpikes"]["totalCount"], 1,
        "raised once, though the job ran again: {data}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_aggregates_per_second_and_caps_raw_events_with_a_gap_count() {
    let app = TestApp::spawn().await;
    let (sensor_id, token) = sensor(&app, "live").await;
    let (other_id, _) = sensor(&app, "quiet").await;
    let mut raw = subscribe(
        app.server.addr,
        &app.token,
        "subscription($s: ID) { darknetActivity(sensorId: $s, raw: true, maxEventsPerSecond: 5) { events batches protocols { protocol events } topPorts { port events } topSources { value events } rawEvents { source destinationPort } rawDropped } }",
        json!({ "s": sensor_id }),
    )
    .await;
    let mut quiet = subscribe(
        app.server.addr,
        &app.token,
        "subscription($s: ID) { darknetActivity(sensorId: $s) { events } }",
        json!({ "s": other_id }),
    )
    .await;
    let iso = Utc::now().to_rfc3339();
    let mut body = String::new();
    for i in 0..20 {
        let (protocol, port) = if i < 15 { ("TCP", 23) } else { ("UDP", 53) };
        body.push_str(&format!(
            "{}\n",
            json!({ "time": iso, "src": "203.0.113.1", "dst": "192.0.2.1", "protocol": protocol, "srcPort": 1, "dstPort": port })
        ));
    }
    let (status, _) = post(
        &app,
        Some(&token),
        body.clone(),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(&app, Some(&token), body, "application/x-ndjson", None, "").await;
    assert_eq!(status, 200);
    let got = next_event(&mut raw).await;
    let a = &got["darknetActivity"];
    assert_eq!(
        (a["events"].clone(), a["batches"].clone()),
        (json!(40), json!(2)),
        "both batches in one second: {a}"
    );
    assert_eq!(
        a["protocols"],
        json!([{ "protocol": "TCP", "events": 30 }, { "protocol": "UDP", "events": 10 }])
    );
    assert_eq!(a["topPorts"][0], json!({ "port": 23, "events": 30 }));
    assert_eq!(
        a["topSources"][0],
        json!({ "value": "203.0.113.1", "events": 40 })
    );
    assert_eq!(a["rawEvents"].as_array().unwrap().len(), 5);
    assert_eq!(a["rawDropped"], 35);
    // The other sensor's subscriber hears nothing of it.
    let heard = tokio::time::timeout(Duration::from_secs(2), next_message(&mut quiet)).await;
    assert!(heard.is_err(), "a message for another sensor: {heard:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_imports_from_the_command_line_once() {
    let app = TestApp::spawn().await;
    sensor(&app, "file-sensor").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages");
    let t = syslog_time(Utc::now() - chrono::Duration::minutes(2));
    let mut text = String::new();
    for i in 0..500 {
        text.push_str(&format!(
            "{t} s kernel: iptables IN=eth0 OUT= SRC=198.51.100.{} DST=192.0.2.1 PROTO=TCP SPT=1 DPT={} SYN\n",
            i % 200,
            i % 7
        ));
    }
    text.push_str("not a line\n");
    std::fs::write(&file, text).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hector"))
            .env("DATABASE_URL", &app.db.url)
            .env("HECTOR_LOG", "error")
            .env_remove("HECTOR_ENV")
            .env_remove("HECTOR_JWT_SECRET")
            .args(["import", "iptables"])
            .arg(&file)
            .args(["--sensor", "file-sensor"])
            .output()
            .unwrap()
    };
    let out = run();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("500 events accepted (0 of them imported before)"),
        "{said}"
    );
    assert!(said.contains("line 501: rejected"), "{said}");
    let again = run();
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        said.contains("500 events accepted (500 of them imported before)"),
        "{said}"
    );
    let data = app
        .ok(
            "{ darknetTopPorts { total } sensors { nodes { events } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["darknetTopPorts"]["total"], 500);
    assert_eq!(data["sensors"]["nodes"][0]["events"], 500);
    app.stop().await;
}

/// Two replicas on one database, two sensors, batches sent at once through both: every
/// batch is accepted and counted exactly once (on MariaDB the batches take turns, as InnoDB's
/// gap locks would otherwise deadlock two upserts into the same counters).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_sent_at_once_through_two_replicas_are_each_counted_once() {
    let app = TestApp::spawn().await;
    let second = TestApp::start_on(config_for(&app.db.url)).await;
    let bases = [app.base.clone(), format!("http://{}", second.addr)];
    let sensors = [sensor(&app, "one").await.1, sensor(&app, "two").await.1];
    let iso = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let body = |k: usize| -> String {
        (0..500)
            .map(|i| {
                let port = [22, 23, 80][i % 3];
                format!(
                    "{}\n",
                    json!({ "time": iso, "src": format!("203.0.113.{}", (i + k) % 50), "dst": "192.0.2.1",
                        "protocol": "TCP", "srcPort": 1000 + k, "dstPort": port })
                )
            })
            .collect()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..12 {
        let (client, base, token, body) = (
            app.client.clone(),
            bases[k % 2].clone(),
            sensors[k / 2 % 2].clone(),
            body(k),
        );
        tasks.spawn(async move {
            let res = client
                .post(format!("{base}/ingest/darknet"))
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .header("idempotency-key", format!("k-{k}"))
                .body(body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (status, report) = done.unwrap();
        assert_eq!(
            (status, report["accepted"].clone()),
            (200, json!(500)),
            "{report}"
        );
    }
    let data = app
        .ok(
            "{ darknetTopPorts { total ports { port events } } darknetTopSources(limit: 100) { sources { events } } sensors { nodes { events } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["darknetTopPorts"]["total"], 6000, "{data}");
    assert_eq!(
        data["darknetTopPorts"]["ports"][0],
        json!({ "port": 22, "events": 12 * 167 })
    );
    let by_source: i64 = data["darknetTopSources"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["events"].as_i64().unwrap())
        .sum();
    assert_eq!(by_source, 6000);
    assert_eq!(
        data["sensors"]["nodes"],
        json!([{ "events": 3000 }, { "events": 3000 }])
    );
    second.stop().await.unwrap();
    app.stop().await;
}
