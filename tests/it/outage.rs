//! A database outage seen from outside (MySQL/MariaDB, through a proxy the test cuts): the
//! server says "try again" (503 `INTERNAL`), never "your credential is bad", answers fast
//! while the database is known to be down, keeps subscriptions open through a minute of
//! outage and delivers what is committed once it is back.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::proxy::Proxy;
use crate::support::{TestApp, TestDb, config_for, next_message, subscribe};

/// How long the database stays away.
const OUTAGE: Duration = Duration::from_secs(62);

/// `url` with its `host:port` replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{user}@{addr}{path}")
}

fn target(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once('@').unwrap().1;
    let host = rest.split('/').next().unwrap();
    std::net::ToSocketAddrs::to_socket_addrs(host)
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test]
async fn an_outage_is_answered_try_again_and_subscriptions_live_through_it() {
    let mut db = TestDb::new().await;
    if !db.is_mysql() {
        // An embedded SQLite file has no network to lose; the MariaDB run of the suite
        // (which CI requires) covers this.
        return;
    }
    let proxy = Proxy::start(target(&db.url)).await;
    db.url = through(&db.url, proxy.addr);
    let server = TestApp::start_on(config_for(&db.url)).await;
    let app = TestApp::around(server, db).await;

    let mut ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { kind host { address } } }",
        json!({}),
    )
    .await;

    proxy.cut();
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < OUTAGE {
        let asked = Instant::now();
        let (status, body) = app
            .gql_as(
                Some(&app.token),
                "{ hosts(first: 1) { totalCount } }",
                json!({}),
            )
            .await;
        let took = asked.elapsed();
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("");
        assert_ne!(status, 401, "an outage is not a sign-out: {body}");
        assert_eq!(code, "INTERNAL", "{status} {body}");
        // Once the outage is known (the probe notices within about two seconds), callers
        // are told at once instead of after a pool timeout.
        if started.elapsed() > Duration::from_secs(8) {
            assert_eq!(status, 503, "{body}");
            assert!(took < Duration::from_millis(500), "answered in {took:?}");
        }
        answered += 1;
        // Meanwhile the socket stays open (reading also answers the server's pings).
        if let Ok(msg) = tokio::time::timeout(Duration::from_secs(2), next_message(&mut ws)).await {
            panic!("the subscription got {msg:?} during the outage");
        }
    }
    assert!(answered > 10);

    proxy.restore();
    let back = Instant::now();
    let created = loop {
        let (status, body) = app
            .gql_as(
                Some(&app.token),
                "mutation { createHost(input: {address: \"10.9.8.7\"}) { host { id } } }",
                json!({}),
            )
            .await;
        assert_ne!(status, 401, "{body}");
        if body["errors"].is_null() {
            break body;
        }
        assert!(back.elapsed() < Duration::from_secs(30), "not back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(created["data"]["createHost"]["host"]["id"].is_string());
    let event = next_message(&mut ws)
        .await
        .expect("the socket is still open");
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["hostEvents"],
        json!({ "kind": "CREATED", "host": { "address": "10.9.8.7" } })
    );
    app.stop().await;
}
