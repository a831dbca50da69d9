//! Scans and exposure: a real scheduled nmap scan against a loopback listener, imports of nmap
//! XML through every door (multipart upload, streaming endpoint, CLI), history and exposure
//! changes, refused profiles, and who may see what.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

mod imports;

use imports::post_xml;
use imports::upload;

pub(super) const SAMPLE: &str = include_str!("../../data/nmap/nmap-7.93-os-scripts.xml");
pub(super) const OLD: &str = include_str!("../../data/nmap/nmap-6.40-connect.xml");

/// nmap, or `None` where it is missing and missing tools may be skipped (not under CI).
fn nmap_available() -> bool {
    let found = std::process::Command::new("nmap")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "nmap is required under CI=true"
    );
    found
}

async fn create_profile(app: &TestApp, name: &str, tcp_ports: &str) -> String {
    let data = app
        .ok(
            "mutation($i: CreateScanProfileInput!) { createScanProfile(input: $i) { scanProfile { id options { tcpPorts technique timing extras } } } }",
            json!({ "i": { "name": name, "options": {
                "tcpPorts": tcp_ports, "technique": "CONNECT", "timing": 4,
                "extras": ["SKIP_HOST_DISCOVERY", "NO_DNS"], "hostTimeoutSecs": 30 } } }),
        )
        .await;
    let p = &data["createScanProfile"]["scanProfile"];
    assert_eq!(p["options"]["technique"], "CONNECT");
    assert_eq!(
        p["options"]["extras"],
        json!(["SKIP_HOST_DISCOVERY", "NO_DNS"])
    );
    p["id"].as_str().unwrap().to_owned()
}

/// The next exposure event, skipping none.
async fn next_change(ws: &mut Ws) -> Value {
    let data = tokio::time::timeout(Duration::from_secs(60), next_event(ws))
        .await
        .expect("an exposure event within 60 s");
    data["exposureEvents"].clone()
}

#[tokio::test]
async fn a_scheduled_scan_sees_a_port_open_then_closed_and_subscribers_hear_both() {
    if !nmap_available() {
        return;
    }
    let app = TestApp::spawn_with(|c| c.scan_tick_secs = 1).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let profile = create_profile(&app, "loopback", &port.to_string()).await;
    let mut ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { exposureEvents { kind port protocol current scanRunId host { address services { port state } } } }",
        json!({}),
    )
    .await;
    let scan = app
        .ok(
            "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { id schedule timeZone nextRunAt enabled } } }",
            json!({ "i": { "name": "every two seconds", "profileId": profile,
                "targets": { "cidrs": ["127.0.0.1/32"] },
                "schedule": "*/2 * * * * *", "timeZone": "Europe/Berlin" } }),
        )
        .await;
    let scan = &scan["createScan"]["scan"];
    assert_eq!(scan["timeZone"], "Europe/Berlin");
    assert!(scan["nextRunAt"].is_string(), "{scan}");

    let opened = next_change(&mut ws).await;
    assert_eq!(opened["kind"], "OPENED", "{opened}");
    assert_eq!(opened["port"], port as i64);
    assert_eq!(opened["protocol"], "TCP");
    assert_eq!(opened["host"]["address"], "127.0.0.1");

    drop(listener);
    let closed = next_change(&mut ws).await;
    assert_eq!(closed["kind"], "CLOSED", "{closed}");
    assert_eq!(closed["port"], port as i64);
    assert_ne!(closed["scanRunId"], opened["scanRunId"]);

    // The host the scan created, its service and the port's history.
    let host = app
        .ok(
            "query($a: String!) { hostByAddress(address: $a) { services { id port state firstSeen lastSeen history(first: 10) { totalCount edges { node { state scanRunId } } } } } }",
            json!({ "a": "127.0.0.1" }),
        )
        .await;
    let services = host["hostByAddress"]["services"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(services.len(), 1, "{host}");
    assert_eq!(services[0]["state"], "CLOSED");
    let history = &services[0]["history"];
    assert!(history["totalCount"].as_i64().unwrap() >= 2, "{history}");
    assert_eq!(history["edges"][0]["node"]["state"], "CLOSED");

    // The runs say what they ran.
    let runs = app
        .ok(
            "query($s: ID!) { scanRuns(scanId: $s, first: 50) { edges { node { status origin command targets hostsUp portsSeen rawXmlBytes } } } }",
            json!({ "s": scan["id"] }),
        )
        .await;
    let done: Vec<&Value> = runs["scanRuns"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|r| r["status"] == "SUCCEEDED")
        .collect();
    assert!(done.len() >= 2, "{runs}");
    let run = done[0];
    assert_eq!(run["origin"], "SCHEDULE");
    let command = run["command"].as_str().unwrap();
    assert!(
        command.contains("-sT") && command.contains(&format!("T:{port}")),
        "{command}"
    );
    assert_eq!(run["targets"], json!(["127.0.0.1/32"]));
    assert_eq!(run["hostsUp"], 1);
    assert!(run["rawXmlBytes"].as_i64().unwrap() > 100);

    // Both changes are listed, newest first, and the top-ports report no longer counts it.
    let changes = app
        .ok(
            "query($p: Int) { exposureChanges(first: 10, filter: {port: $p}) { totalCount edges { node { kind } } } topOpenPorts { port } }",
            json!({ "p": port }),
        )
        .await;
    assert_eq!(changes["exposureChanges"]["totalCount"], 2, "{changes}");
    assert_eq!(
        changes["exposureChanges"]["edges"][0]["node"]["kind"],
        "CLOSED"
    );
    assert_eq!(changes["topOpenPorts"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_missing_nmap_fails_the_run_not_the_server() {
    let app = TestApp::spawn_with(|c| {
        c.scan_tick_secs = 1;
        c.nmap_path = "/nonexistent/nmap".into();
    })
    .await;
    let profile = create_profile(&app, "p", "22").await;
    let scan = app
        .ok(
            "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { id nextRunAt } } }",
            json!({ "i": { "name": "by hand", "profileId": profile, "targets": { "cidrs": ["127.0.0.1"] } } }),
        )
        .await;
    let scan_id = scan["createScan"]["scan"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(scan["createScan"]["scan"]["nextRunAt"], Value::Null);
    let started = app
        .ok(
            "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id status origin } } }",
            json!({ "s": scan_id }),
        )
        .await;
    let run = started["startScan"]["scanRun"].clone();
    assert_eq!(run["origin"], "MANUAL");
    let mut status = Value::Null;
    for _ in 0..100 {
        let found = app
            .ok(
                "query($r: ID!) { scanRun(id: $r) { status error } }",
                json!({ "r": run["id"] }),
            )
            .await;
        status = found["scanRun"].clone();
        if status["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "FAILED", "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("nmap is not installed"),
        "{status}"
    );
    // The server carries on: the next run is accepted, and ends the same way.
    let again = app
        .ok(
            "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id } } }",
            json!({ "s": scan_id }),
        )
        .await;
    let run = ended_run(&app, &app.token, &again["startScan"]["scanRun"]["id"]).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    app.stop().await;
}

#[tokio::test]
async fn invalid_profiles_and_schedules_are_refused_with_bad_user_input() {
    let app = TestApp::spawn().await;
    let create = "mutation($i: CreateScanProfileInput!) { createScanProfile(input: $i) { scanProfile { id } } }";
    for ports in [
        "22;rm -rf /",
        "$(id)",
        "`id`",
        "80 | nc",
        "0",
        "65536",
        "80-22",
        "",
        "1,,2",
        "-p 1-65535 --script=evil",
    ] {
        let codes = app
            .error_codes(
                create,
                json!({ "i": { "name": "bad", "options": { "tcpPorts": ports } } }),
            )
            .await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{ports:?}");
    }
    for options in [
        json!({ "tcpPorts": "22", "timing": 9 }),
        json!({ "tcpPorts": "22", "extras": ["SCRIPT_ALL"] }),
        json!({ "tcpPorts": "22", "hostTimeoutSecs": 0 }),
        json!({ "tcpPorts": "22", "flags": "-sS --script=all" }),
        json!({}),
    ] {
        let codes = app
            .error_codes(
                create,
                json!({ "i": { "name": "bad", "options": options } }),
            )
            .await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{options}");
    }
    let profile = create_profile(&app, "ok", "22,80,8000-8100").await;
    let scan = "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { id } } }";
    for (schedule, zone, cidrs) in [
        ("every day", "UTC", json!(["10.0.0.0/24"])),
        ("0 3 * * *", "Mars/Olympus", json!(["10.0.0.0/24"])),
        ("0 3 * * *", "UTC", json!(["10.0.0.0/33"])),
        ("0 3 * * *", "UTC", json!(["10.0.0.1; reboot"])),
        ("0 3 * * *", "UTC", json!([])),
    ] {
        let codes = app
            .error_codes(
                scan,
                json!({ "i": { "name": "s", "profileId": profile, "schedule": schedule, "timeZone": zone, "targets": { "cidrs": cidrs } } }),
            )
            .await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{schedule} {zone} {cidrs}");
    }
    // A good one is taken, with its next run in its own zone.
    let made = app
        .ok(
            "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { nextRunAt schedule } } }",
            json!({ "i": { "name": "nightly", "profileId": profile, "schedule": "0 3 * * *", "timeZone": "America/New_York", "targets": { "allHosts": true } } }),
        )
        .await;
    let next = made["createScan"]["scan"]["nextRunAt"].as_str().unwrap();
    let hour: u32 = next[11..13].parse().unwrap();
    assert!(
        hour == 7 || hour == 8,
        "03:00 in New York is 07:00 or 08:00 UTC: {next}"
    );
    app.stop().await;
}

#[tokio::test]
async fn scans_are_for_analysts_and_exposure_follows_the_hosts_support_group() {
    let app = TestApp::spawn().await;
    let (status, body) = upload(&app, &app.token, SAMPLE, true).await;
    assert_eq!(status, 200, "{body}");
    let groups = app
        .ok(
            "mutation { a: createSupportGroup(input: {name: \"web team\"}) { supportGroup { id } } b: createSupportGroup(input: {name: \"mail team\"}) { supportGroup { id } } }",
            json!({}),
        )
        .await;
    let web = groups["a"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = groups["b"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let web_host = app
        .ok(
            "{ hostByAddress(address: \"192.0.2.10\") { id } }",
            json!({}),
        )
        .await["hostByAddress"]["id"]
        .clone();
    app.ok(
        "mutation($h: ID!, $g: ID!) { updateHost(input: {id: $h, supportGroupId: $g}) { host { id } } }",
        json!({ "h": web_host, "g": web }),
    )
    .await;
    let (analyst, _) = user(&app, "wendy", "ANALYST", &[&web]).await;
    let (viewer, _) = user(&app, "vic", "VIEWER", &[&web]).await;
    let (other, _) = user(&app, "mo", "ANALYST", &[&mail]).await;

    let q = "{ exposureChanges(first: 10) { totalCount } topOpenPorts { port hosts } }";
    let (_, mine) = app.gql_as(Some(&analyst), q, json!({})).await;
    assert_eq!(mine["data"]["exposureChanges"]["totalCount"], 3, "{mine}");
    let (_, theirs) = app.gql_as(Some(&other), q, json!({})).await;
    assert_eq!(
        theirs["data"]["exposureChanges"]["totalCount"], 0,
        "{theirs}"
    );
    assert_eq!(theirs["data"]["topOpenPorts"], json!([]));
    let (_, admin) = app.gql_as(Some(&app.token), q, json!({})).await;
    assert_eq!(admin["data"]["exposureChanges"]["totalCount"], 4);

    // A service is a node only for who sees its host.
    let service = app
        .ok(
            "{ hostByAddress(address: \"192.0.2.10\") { services { id } } }",
            json!({}),
        )
        .await["hostByAddress"]["services"][0]["id"]
        .clone();
    let node = "query($i: ID!) { node(id: $i) { ... on Service { port } } }";
    let (_, seen) = app
        .gql_as(Some(&analyst), node, json!({ "i": service }))
        .await;
    assert!(seen["data"]["node"]["port"].is_number(), "{seen}");
    let (_, unseen) = app
        .gql_as(Some(&other), node, json!({ "i": service }))
        .await;
    assert_eq!(unseen["data"]["node"], Value::Null, "{unseen}");

    // Viewers read exposure but not scans; only admins write profiles.
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "{ scans(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let (_, body) = app
        .gql_as(
            Some(&analyst),
            "mutation { createScanProfile(input: {name: \"x\", options: {tcpPorts: \"22\"}}) { scanProfile { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // An analyst's import may not touch another group's hosts, nor add hosts outside theirs.
    let (_, body) = post_xml(&app, &analyst, SAMPLE, "").await;
    assert_eq!(body["hosts"], 1, "only the web team's host: {body}");
    assert_eq!(body["rejectedCount"], 1);
    let (status, _) = post_xml(&app, &viewer, SAMPLE, "").await;
    assert_eq!(status, 403);
    let (status, _) = post_xml(&app, &analyst, SAMPLE, &format!("?supportGroupId={mail}")).await;
    assert_eq!(status, 403);
    app.stop().await;
}

/// A replica that died during a run left it `RUNNING` with a lapsed lease: another replica
/// marks it failed ("interrupted"), and the scan's next period runs as usual.
#[tokio::test]
async fn a_run_abandoned_by_a_dead_replica_is_failed_as_interrupted_and_the_schedule_goes_on() {
    use entity::scan_run;
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn_with(|c| {
        c.scan_tick_secs = 1;
        c.nmap_path = "/nonexistent/nmap".into();
    })
    .await;
    let profile = create_profile(&app, "p", "22").await;
    let scan = app
        .ok(
            "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { id } } }",
            json!({ "i": { "name": "s", "profileId": profile, "targets": { "cidrs": ["127.0.0.1"] } } }),
        )
        .await["createScan"]["scan"]["id"]
        .clone();
    let scan_id: i64 = {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(scan.as_str().unwrap())
            .unwrap();
        String::from_utf8(raw).unwrap()["Scan:".len()..]
            .parse()
            .unwrap()
    };
    let db = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .unwrap();
    let now = api::db::now();
    let dead = scan_run::ActiveModel {
        scan_id: Set(Some(scan_id)),
        origin: Set("SCHEDULE".into()),
        status: Set("RUNNING".into()),
        queued_at: Set(now - chrono::Duration::minutes(5)),
        started_at: Set(Some(now - chrono::Duration::minutes(5))),
        lease_until: Set(Some(now - chrono::Duration::seconds(1))),
        instance: Set(Some("a replica that died".into())),
        targets: Set("127.0.0.1".into()),
        excluded: Set(String::new()),
        hosts_up: Set(0),
        ports_seen: Set(0),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let run_id = gid("ScanRun", dead.id);
    let mut found = Value::Null;
    for _ in 0..100 {
        found = app
            .ok(
                "query($r: ID!) { scanRun(id: $r) { status error finishedAt } }",
                json!({ "r": run_id }),
            )
            .await["scanRun"]
            .clone();
        if found["status"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found["status"], "FAILED", "{found}");
    assert!(
        found["error"].as_str().unwrap().starts_with("interrupted"),
        "{found}"
    );
    assert!(found["finishedAt"].is_string());
    // The scan is not stuck behind it: a new run is accepted.
    let again = app
        .gql(
            "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id } } }",
            json!({ "s": scan }),
        )
        .await;
    assert!(again.get("errors").is_none(), "{again}");
    app.stop().await;
}

#[tokio::test]
async fn the_digest_job_lists_each_support_groups_exposure_changes_for_its_members_only() {
    let app = TestApp::spawn_with(|c| c.digest_secs = 1).await;
    let group = app
        .ok(
            "mutation { createSupportGroup(input: {name: \"web team\"}) { supportGroup { id } } }",
            json!({}),
        )
        .await["createSupportGroup"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = post_xml(
        &app,
        &app.token,
        SAMPLE,
        &format!("?supportGroupId={group}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (member, _) = user(&app, "wendy", "ANALYST", &[&group]).await;
    let (outsider, _) = user(&app, "otto", "ANALYST", &[]).await;
    let q = "{ exposureDigests(first: 5) { totalCount edges { node { supportGroup { name } opened closed changed changes { kind port host { address } } } } } }";
    let mut body = Value::Null;
    for _ in 0..100 {
        body = app.gql_as(Some(&member), q, json!({})).await.1;
        if body["data"]["exposureDigests"]["totalCount"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let digest = &body["data"]["exposureDigests"]["edges"][0]["node"];
    assert_eq!(digest["supportGroup"]["name"], "web team", "{body}");
    assert_eq!(digest["opened"], 4);
    assert_eq!(digest["closed"], 0);
    assert_eq!(digest["changes"].as_array().unwrap().len(), 4);
    let (_, body) = app.gql_as(Some(&outsider), q, json!({})).await;
    assert_eq!(body["data"]["exposureDigests"]["totalCount"], 0, "{body}");
    // The next period lists only what changed since: nothing yet, so no new digest.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = app.gql_as(Some(&member), q, json!({})).await;
    assert_eq!(body["data"]["exposureDigests"]["totalCount"], 1, "{body}");
    app.stop().await;
}

/// The newest exposure digest's ports once `n` digests exist (within 10 s).
async fn nth_digest_ports(app: &TestApp, n: u64) -> Vec<Value> {
    let q = "{ exposureDigests(first: 1) { totalCount edges { node { changes { port } } } } }";
    let mut body = Value::Null;
    for _ in 0..100 {
        body = app.gql_as(Some(&app.token), q, json!({})).await.1;
        if body["data"]["exposureDigests"]["totalCount"] == n {
            let changes = &body["data"]["exposureDigests"]["edges"][0]["node"]["changes"];
            return changes
                .as_array()
                .unwrap_or_else(|| panic!("{body}"))
                .iter()
                .map(|c| c["port"].clone())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no digest number {n}: {body}");
}

/// A change of another import on the host and service of `seen`, with the id it was handed.
fn another_imports_change(
    seen: &entity::exposure_change::Model,
    id: i64,
    port: i32,
) -> entity::exposure_change::ActiveModel {
    use sea_orm::Set;
    entity::exposure_change::ActiveModel {
        id: Set(id),
        host_id: Set(seen.host_id),
        service_id: Set(seen.service_id),
        run_id: Set(seen.run_id),
        kind: Set("CHANGED".into()),
        protocol: Set(seen.protocol.clone()),
        port: Set(port),
        previous: Set(seen.current.clone()),
        current: Set(Some("nginx 1.27".into())),
        at: Set(seen.at),
        digested: Set(false),
    }
}

/// On MySQL an id is handed out at insert, so an import that commits after a digest may hold
/// ids below the ones that digest listed: its changes go into the next digest, not nowhere.
#[tokio::test]
async fn a_change_committed_after_a_digest_with_a_lower_id_goes_into_the_next_one() {
    use entity::exposure_change;
    use sea_orm::{ActiveModelTrait, EntityTrait};
    let app = TestApp::spawn_with(|c| c.digest_secs = 1).await;
    let (status, body) = post_xml(&app, &app.token, SAMPLE, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(nth_digest_ports(&app, 1).await.len(), 4);
    let db = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .unwrap();
    let seen = exposure_change::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let committed = |id, port| another_imports_change(&seen, id, port);
    committed(100, 1100).insert(&db).await.unwrap();
    assert_eq!(nth_digest_ports(&app, 2).await, vec![json!(1100)]);
    // Handed id 50 before the import above was handed 100, committed after its digest.
    committed(50, 1050).insert(&db).await.unwrap();
    assert_eq!(nth_digest_ports(&app, 3).await, vec![json!(1050)]);
    app.stop().await;
}

/// Upgrading to the `digested` mark (migration 044) marks listed the changes at or below the
/// last digest's `through_change_id` and no other, so the first digest after the upgrade lists
/// only what was recorded since.
#[tokio::test]
async fn the_upgrade_marks_listed_what_the_digests_before_it_listed() {
    use api::host::service::exposure::make_digests;
    use entity::{exposure_change, exposure_digest};
    use migration::{MigratorTrait, SchemaManager};
    use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder};
    let app = TestApp::spawn_with(|c| c.digest_secs = 3600).await;
    // The job's first run (at start, with nothing to list) is over: the next is an hour away.
    let runs = "{ jobRuns(job: \"exposure-digest\") { edges { node { status } } } }";
    let mut done = false;
    for _ in 0..100 {
        done =
            app.ok(runs, json!({})).await["jobRuns"]["edges"][0]["node"]["status"] == "SUCCEEDED";
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the digest job's first run did not end");
    let (status, body) = post_xml(&app, &app.token, SAMPLE, "").await;
    assert_eq!(status, 200, "{body}");
    let db = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .unwrap();
    assert_eq!(make_digests(&db).await.unwrap(), 1);
    let listed = exposure_change::Entity::find().all(&db).await.unwrap();
    let seen = listed[0].clone();
    another_imports_change(&seen, 100, 1100)
        .insert(&db)
        .await
        .unwrap();
    // As the upgrade finds them: the column just added, nothing marked.
    db.execute_unprepared("UPDATE exposure_change SET digested = FALSE")
        .await
        .unwrap();
    let upgrade = migration::Migrator::migrations()
        .into_iter()
        .find(|m| m.name().ends_with("add_exposure_change_digested"))
        .unwrap();
    upgrade.up(&SchemaManager::new(&db)).await.unwrap();
    let marked: Vec<(i64, bool)> = exposure_change::Entity::find()
        .order_by_asc(exposure_change::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.digested))
        .collect();
    let mut expected: Vec<(i64, bool)> = listed.iter().map(|c| (c.id, true)).collect();
    expected.push((100, false));
    assert_eq!(marked, expected);
    assert_eq!(make_digests(&db).await.unwrap(), 1);
    let newest = exposure_digest::Entity::find()
        .order_by_desc(exposure_digest::Column::Id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.change_ids, "[100]");
    assert_eq!(make_digests(&db).await.unwrap(), 0, "nothing left to list");
    app.stop().await;
}

/// Waits for run `id` to end and returns it with its targets.
async fn ended_run(app: &TestApp, token: &str, id: &Value) -> Value {
    for _ in 0..100 {
        let (_, body) = app
            .gql_as(
                Some(token),
                "query($r: ID!) { scanRun(id: $r) { status error targets excluded command } }",
                json!({ "r": id }),
            )
            .await;
        let run = body["data"]["scanRun"].clone();
        if run["status"] != "QUEUED" && run["status"] != "RUNNING" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} did not end");
}

#[tokio::test]
async fn a_run_skips_excluded_hosts_and_reaches_only_what_its_creator_sees() {
    // No nmap here: the run fails at the start, after it recorded what it was to scan.
    let app = TestApp::spawn_with(|c| c.nmap_path = "/nonexistent/nmap".into()).await;
    let group = app
        .ok(
            "mutation { createSupportGroup(input: {name: \"lab\"}) { supportGroup { id } } }",
            json!({}),
        )
        .await["createSupportGroup"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (address, in_group) in [("10.1.2.3", true), ("10.1.2.4", true), ("10.1.2.5", false)] {
        let sg = if in_group { json!(group) } else { Value::Null };
        app.ok(
            "mutation($a: IpAddr!, $g: ID) { createHost(input: {address: $a, supportGroupId: $g}) { host { id } } }",
            json!({ "a": address, "g": sg }),
        )
        .await;
    }
    let fragile = app
        .ok("{ hostByAddress(address: \"10.1.2.3\") { id } }", json!({}))
        .await["hostByAddress"]["id"]
        .clone();
    app.ok(
        "mutation($h: ID!) { setScanExclusion(input: {hostId: $h, reason: \"fragile PLC\", duration: SEVEN_DAYS}) { host { id } } }",
        json!({ "h": fragile }),
    )
    .await;
    let profile = create_profile(&app, "p", "502").await;
    let start = |token: String, targets: Value| {
        let app = &app;
        let profile = profile.clone();
        async move {
            let (_, made) = app
                .gql_as(
                    Some(&token),
                    "mutation($i: CreateScanInput!) { createScan(input: $i) { scan { id } } }",
                    json!({ "i": { "name": format!("s{}", rand::random::<u32>()), "profileId": profile, "targets": targets } }),
                )
                .await;
            let scan = made["data"]["createScan"]["scan"]["id"].clone();
            let (_, started) = app
                .gql_as(
                    Some(&token),
                    "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id } } }",
                    json!({ "s": scan }),
                )
                .await;
            let run = started["data"]["startScan"]["scanRun"]["id"].clone();
            assert!(run.is_string(), "{started}");
            ended_run(app, &token, &run).await
        }
    };
    // An admin's network goes to nmap whole, with the excluded host left out by `--exclude`.
    let run = start(app.token.clone(), json!({ "cidrs": ["10.1.2.0/24"] })).await;
    assert_eq!(run["targets"], json!(["10.1.2.0/24"]), "{run}");
    assert_eq!(run["excluded"], json!(["10.1.2.3"]));
    assert!(
        run["command"]
            .as_str()
            .unwrap()
            .contains("--exclude 10.1.2.3"),
        "{run}"
    );
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("nmap is not installed"),
        "{run}"
    );
    // Every host: the excluded one is skipped and listed.
    let run = start(app.token.clone(), json!({ "allHosts": true })).await;
    assert_eq!(run["targets"], json!(["10.1.2.4", "10.1.2.5"]), "{run}");
    assert_eq!(run["excluded"], json!(["10.1.2.3"]));
    // An analyst of the lab group reaches only the lab's hosts, whatever the network says.
    let (analyst, _) = user(&app, "ana", "ANALYST", &[&group]).await;
    let run = start(analyst.clone(), json!({ "cidrs": ["10.0.0.0/8"] })).await;
    assert_eq!(run["targets"], json!(["10.1.2.4"]), "{run}");
    assert_eq!(run["excluded"], json!(["10.1.2.3"]));
    // Another analyst may not start the admin's scans, nor read the admin's run details.
    let (other, _) = user(&app, "otto", "ANALYST", &[]).await;
    let scans = app.ok("{ scans(first: 1) { edges { node { id runs(first: 1) { edges { node { id } } } } } } }", json!({})).await;
    let admin_scan = scans["scans"]["edges"][0]["node"]["id"].clone();
    let admin_run = scans["scans"]["edges"][0]["node"]["runs"]["edges"][0]["node"]["id"].clone();
    let (_, body) = app
        .gql_as(
            Some(&other),
            "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id } } }",
            json!({ "s": admin_scan }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let (_, body) = app
        .gql_as(
            Some(&other),
            "query($r: ID!) { scanRun(id: $r) { status targets command } }",
            json!({ "r": admin_run }),
        )
        .await;
    assert_eq!(body["data"]["scanRun"]["targets"], Value::Null, "{body}");
    assert_eq!(body["data"]["scanRun"]["command"], Value::Null);
    assert_eq!(body["data"]["scanRun"]["status"], "FAILED");
    app.stop().await;
}

#[tokio::test]
async fn exposure_events_reach_only_subscribers_who_see_the_host() {
    let app = TestApp::spawn().await;
    let group = app
        .ok(
            "mutation { createSupportGroup(input: {name: \"web team\"}) { supportGroup { id } } }",
            json!({}),
        )
        .await["createSupportGroup"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (member, _) = user(&app, "wendy", "VIEWER", &[&group]).await;
    let (outsider, _) = user(&app, "otto", "VIEWER", &[]).await;
    let q = "subscription { exposureEvents { kind port host { address } } }";
    let mut mine = subscribe(app.server.addr, &member, q, json!({})).await;
    let mut theirs = subscribe(app.server.addr, &outsider, q, json!({})).await;
    // Hosts outside the group first (the outsider must not hear them), then the group's.
    let (_, body) = post_xml(&app, &app.token, OLD, "").await;
    assert_eq!(body["changes"], 3, "{body}");
    let (_, body) = post_xml(
        &app,
        &app.token,
        SAMPLE,
        &format!("?supportGroupId={group}"),
    )
    .await;
    assert_eq!(body["changes"], 4, "{body}");
    let mut ports = Vec::new();
    for _ in 0..4 {
        let event = next_change(&mut mine).await;
        assert_eq!(event["kind"], "OPENED");
        assert!(
            ["192.0.2.10", "2001:db8::5"].contains(&event["host"]["address"].as_str().unwrap()),
            "{event}"
        );
        ports.push(event["port"].as_i64().unwrap());
    }
    ports.sort();
    assert_eq!(ports, vec![22, 25, 53, 80]);
    let heard = tokio::time::timeout(Duration::from_millis(1500), next_message(&mut theirs)).await;
    assert!(heard.is_err(), "the outsider heard {heard:?}");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_running_scan_stops_nmap_and_frees_the_scan() {
    if !nmap_available() {
        return;
    }
    let app = TestApp::spawn().await;
    // Paranoid timing waits minutes between probes: the run is still going when cancelled.
    let profile = app
        .ok(
            "mutation { createScanProfile(input: {name: \"slow\", options: {tcpPorts: \"1-200\", timing: 0, extras: [SKIP_HOST_DISCOVERY, NO_DNS]}}) { scanProfile { id } } }",
            json!({}),
        )
        .await["createScanProfile"]["scanProfile"]["id"]
        .clone();
    let scan = app
        .ok(
            "mutation($p: ID!) { createScan(input: {name: \"slow\", profileId: $p, targets: {cidrs: [\"127.0.0.1\"]}}) { scan { id } } }",
            json!({ "p": profile }),
        )
        .await["createScan"]["scan"]["id"]
        .clone();
    let start = "mutation($s: ID!) { startScan(input: {scanId: $s}) { scanRun { id } } }";
    let run = app.ok(start, json!({ "s": scan })).await["startScan"]["scanRun"]["id"].clone();
    let status = "query($r: ID!) { scanRun(id: $r) { status error } }";
    for _ in 0..100 {
        if app.ok(status, json!({ "r": run })).await["scanRun"]["status"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // While it runs, the scan cannot be started twice.
    assert_eq!(
        app.error_codes(start, json!({ "s": scan })).await,
        ["CONFLICT"]
    );
    let nmap_running = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmd| {
                let cmd = String::from_utf8_lossy(&cmd);
                cmd.contains("nmap") && cmd.contains("T:1-200")
            })
        })
    };
    // RUNNING is set when the run is claimed, a moment before nmap starts.
    let mut started = false;
    for _ in 0..100 {
        if nmap_running() {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started, "nmap runs before the cancel");
    let cancelled = app
        .ok(
            "mutation($r: ID!) { cancelScanRun(input: {scanRunId: $r}) { scanRun { status finishedAt } } }",
            json!({ "r": run }),
        )
        .await;
    assert_eq!(
        cancelled["cancelScanRun"]["scanRun"]["status"], "CANCELLED",
        "{cancelled}"
    );
    assert!(cancelled["cancelScanRun"]["scanRun"]["finishedAt"].is_string());
    // nmap is stopped at the next lease renewal, and the run stays cancelled.
    let mut stopped = false;
    for _ in 0..100 {
        if !nmap_running() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "nmap still runs 10 s after the cancel");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.ok(status, json!({ "r": run })).await["scanRun"]["status"],
        "CANCELLED"
    );
    assert_eq!(
        app.error_codes(
            "mutation($r: ID!) { cancelScanRun(input: {scanRunId: $r}) { scanRun { id } } }",
            json!({ "r": run })
        )
        .await,
        ["CONFLICT"]
    );
    // The scan is free again.
    let next = app.gql(start, json!({ "s": scan })).await;
    assert!(next.get("errors").is_none(), "{next}");
    let next_run = next["data"]["startScan"]["scanRun"]["id"].clone();
    app.ok(
        "mutation($r: ID!) { cancelScanRun(input: {scanRunId: $r}) { scanRun { id } } }",
        json!({ "r": next_run }),
    )
    .await;
    app.stop().await;
}
