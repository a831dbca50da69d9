//! `hostEvents` over WebSocket, resuming from a cursor, and two replicas on one database.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, TestDb, config_for, next_event, subscribe};

const SUB: &str = "subscription($f: HostFilter, $after: String) { hostEvents(filter: $f, after: $after) { kind hostId cursor host { address names } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_events_arrive_over_graphql_transport_ws() {
    let app = TestApp::spawn().await;
    let mut all = subscribe(app.server.addr, &app.token, SUB, json!({})).await;
    let mut v6_only = subscribe(
        app.server.addr,
        &app.token,
        SUB,
        json!({ "f": { "within": "2001:db8::/32" } }),
    )
    .await;

    let id = app.create_host("192.0.2.50", &["one"], &[]).await;
    let created = next_event(&mut all).await;
    assert_eq!(created["hostEvents"]["kind"], "CREATED");
    assert_eq!(created["hostEvents"]["hostId"], id.as_str());
    assert_eq!(created["hostEvents"]["host"]["address"], "192.0.2.50");
    let cursor = created["hostEvents"]["cursor"].clone();

    app.ok(
        "mutation($id: ID!) { updateHost(input: {id: $id, names: [\"renamed\"]}) { host { id } } }",
        json!({ "id": id }),
    )
    .await;
    let updated = next_event(&mut all).await;
    assert_eq!(updated["hostEvents"]["kind"], "UPDATED");
    assert_eq!(updated["hostEvents"]["host"]["names"], json!(["renamed"]));
    let v6 = app.create_host("2001:db8::50", &[], &[]).await;
    assert_eq!(
        next_event(&mut all).await["hostEvents"]["hostId"],
        v6.as_str()
    );
    app.ok(
        "mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedHostId } }",
        json!({ "id": id }),
    )
    .await;
    let deleted = next_event(&mut all).await;
    assert_eq!(deleted["hostEvents"]["kind"], "DELETED");
    assert!(deleted["hostEvents"]["host"].is_null());

    // The filtered subscriber saw the v6 host first: the v4 create and update did not match.
    let first = next_event(&mut v6_only).await;
    assert_eq!(first["hostEvents"]["hostId"], v6.as_str());

    // Resuming after the first event replays the rest, in order.
    let mut resumed = subscribe(app.server.addr, &app.token, SUB, json!({ "after": cursor })).await;
    let kinds: Vec<_> = [
        next_event(&mut resumed).await,
        next_event(&mut resumed).await,
        next_event(&mut resumed).await,
    ]
    .iter()
    .map(|e| e["hostEvents"]["kind"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(kinds, ["UPDATED", "CREATED", "DELETED"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_events_and_run_each_job_period_once() {
    // Both start at once on a fresh database: migrations serialise on their lock.
    let db = TestDb::new().await;
    let config = |name: &str| {
        let mut c = config_for(&db.url);
        c.exclusion_job_secs = 1;
        c.instance = Some(name.into());
        c
    };
    let (first, second) = tokio::join!(
        TestApp::start_on(config("first")),
        TestApp::start_on(config("second"))
    );
    let first = TestApp::around(first, db).await;
    let second_base = format!("http://{}", second.addr);

    let mut sub = subscribe(first.server.addr, &first.token, SUB, json!({})).await;
    let res: serde_json::Value = first
        .client
        .post(format!("{second_base}/graphql"))
        .bearer_auth(&first.token)
        .json(&json!({ "query": "mutation { createHost(input: {address: \"203.0.113.7\"}) { host { id } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(res.get("errors").is_none(), "{res}");
    let event = next_event(&mut sub).await;
    assert_eq!(event["hostEvents"]["host"]["address"], "203.0.113.7");

    // Let both schedulers compete for a few periods.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let runs = first
        .ok(
            "{ jobRuns(first: 100, job: \"lift-expired-scan-exclusions\") { totalCount edges { node { scheduledFor instance status } } } }",
            json!({}),
        )
        .await;
    let edges = runs["jobRuns"]["edges"].as_array().unwrap();
    let mut periods: Vec<chrono::DateTime<chrono::Utc>> = edges
        .iter()
        .map(|e| e["node"]["scheduledFor"].as_str().unwrap().parse().unwrap())
        .collect();
    periods.sort();
    assert!(
        periods.len() >= 3 && periods.len() <= 7,
        "about one run a second: {edges:?}"
    );
    for pair in periods.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(990),
            "two runs in one period: {periods:?}"
        );
    }
    // The newest run may still be going; none may have failed.
    assert!(
        edges.iter().all(|e| e["node"]["status"] != "FAILED"),
        "a run failed: {edges:?}"
    );
    second.stop().await.unwrap();
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_graphql_ws_clients_receive_host_events() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::spawn().await;
    let mut request = format!("ws://{}/graphql", app.server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: serde_json::Value| Message::text(v.to_string());
    ws.send(send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", app.token) } })))
        .await
        .unwrap();
    ws.send(send(json!({ "id": "1", "type": "start", "payload": { "query": "subscription { hostEvents { kind host { address } } }" } })))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.create_host("192.0.2.77", &[], &[]).await;
    let data = loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "data" {
                break v["payload"]["data"].clone();
            }
        }
    };
    assert_eq!(data["hostEvents"]["kind"], "CREATED");
    assert_eq!(data["hostEvents"]["host"]["address"], "192.0.2.77");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_a_graphql_protocol_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    app.stop().await;
}

const LIGHT: &str = "subscription($f: HostFilter, $after: String) { hostEvents(filter: $f, after: $after) { kind hostId cursor } }";

async fn outbox_rows(url: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM event",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    db.close().await.ok();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_add_writes_a_few_outbox_rows_and_every_host_still_arrives() {
    let app = TestApp::spawn().await;
    let mut all = subscribe(app.server.addr, &app.token, LIGHT, json!({})).await;
    let mut one_net = subscribe(
        app.server.addr,
        &app.token,
        LIGHT,
        json!({ "f": { "within": "198.51.100.0/24" } }),
    )
    .await;
    let before = outbox_rows(&app.db.url).await;
    let added = app
        .ok(
            "mutation { addHosts(input: {cidr: \"198.51.96.0/20\"}) { created } }",
            json!({}),
        )
        .await;
    assert_eq!(added["addHosts"]["created"], 4094);
    let rows = outbox_rows(&app.db.url).await - before;
    assert!(
        (1..=10).contains(&rows),
        "{rows} outbox rows for 4,094 hosts"
    );

    let mut ids = std::collections::HashSet::new();
    let mut cursors = Vec::new();
    for _ in 0..4094 {
        let e = next_event(&mut all).await;
        assert_eq!(e["hostEvents"]["kind"], "CREATED");
        ids.insert(e["hostEvents"]["hostId"].as_str().unwrap().to_owned());
        cursors.push((
            e["hostEvents"]["cursor"].clone(),
            e["hostEvents"]["hostId"].clone(),
        ));
    }
    assert_eq!(ids.len(), 4094, "every host, once");
    let mut filtered = 0;
    while let Ok(e) =
        tokio::time::timeout(Duration::from_millis(1500), next_event(&mut one_net)).await
    {
        assert_eq!(e["hostEvents"]["kind"], "CREATED");
        filtered += 1;
    }
    assert_eq!(filtered, 256, "only the hosts of 198.51.100.0/24");

    // A cursor inside a batch resumes with the next host of the same batch.
    let mut resumed = subscribe(
        app.server.addr,
        &app.token,
        LIGHT,
        json!({ "after": cursors[99].0 }),
    )
    .await;
    let next = next_event(&mut resumed).await;
    assert_eq!(next["hostEvents"]["hostId"], cursors[100].1);
    app.stop().await;
}

/// Without `after`, a subscription starts at its own start: an event committed just before it
/// is not delivered, even when this replica has not broadcast it yet (its tail polls slowly
/// here), and the first event delivered is the first one committed after it.
#[tokio::test]
async fn a_subscription_without_after_starts_at_its_own_start() {
    let app = TestApp::spawn_with(|c| c.event_poll_ms = 1500).await;
    app.create_host("192.0.2.31", &[], &[]).await;
    let mut sub = subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { host { address } } }",
        json!({}),
    )
    .await;
    app.create_host("192.0.2.32", &[], &[]).await;
    let event = next_event(&mut sub).await;
    assert_eq!(event["hostEvents"]["host"]["address"], "192.0.2.32");
    app.stop().await;
}
