//! `hostEvents` over WebSocket, resuming from a cursor, and two replicas on one database.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestApp, config_for, next_event, subscribe};

const SUB: &str = "subscription($f: HostFilter, $after: String) { hostEvents(filter: $f, after: $after) { kind hostId cursor host { address names } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_events_arrive_over_graphql_transport_ws() {
    let app = TestApp::spawn().await;
    let mut all = subscribe(app.server.addr, SUB, json!({})).await;
    let mut v6_only = subscribe(
        app.server.addr,
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
    let mut resumed = subscribe(app.server.addr, SUB, json!({ "after": cursor })).await;
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
    let period = |c: &mut api::config::Config| c.exclusion_job_secs = 1;
    let first = TestApp::spawn_with(|c| {
        period(c);
        c.instance = Some("first".into());
    })
    .await;
    let mut config = config_for(&first.db.url);
    period(&mut config);
    config.instance = Some("second".into());
    let second = TestApp::start_on(config).await;
    let second_base = format!("http://{}", second.addr);

    let mut sub = subscribe(first.server.addr, SUB, json!({})).await;
    let res: serde_json::Value = first
        .client
        .post(format!("{second_base}/graphql"))
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
    assert!(edges.iter().all(|e| e["node"]["status"] == "SUCCEEDED"));
    second.stop().await.unwrap();
    first.stop().await;
}
