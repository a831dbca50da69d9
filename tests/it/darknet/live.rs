//! The darknet's jobs and live parts: spikes and retention, the per-second live view, the
//! command-line import, and batches sent at once through two replicas.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{post, sensor, syslog_time};
use crate::support::*;

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
    // Polled by count alone: retention may delete between a page and its count.
    let old_left = || async {
        app.ok(
            "query($f: DarknetEventFilter) { darknetEvents(filter: $f, first: 1) { totalCount } }",
            json!({ "f": old_filter.clone() }),
        )
        .await["darknetEvents"]["totalCount"]
            .as_i64()
            .unwrap()
    };
    while old_left().await > 0 {
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
