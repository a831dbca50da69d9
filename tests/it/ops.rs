//! Operations: health, readiness, shutdown, the exclusion job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::support::{TestApp, TestDb, config_for, next_message, subscribe};

async fn status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_for_status(app: &TestApp, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = status(app, path).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} stayed {got}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_until_migrations_are_applied() {
    let app = TestApp::spawn().await;
    assert_eq!(status(&app, "/healthz").await, 200);
    assert_eq!(status(&app, "/readyz").await, 200);
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().contains_key("x-request-id"),
        "every response carries its request id"
    );

    let db = Database::connect(app.db.url.as_str()).await.unwrap();
    let newest = "m20261124_000011_create_job_run";
    db.execute_unprepared(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{newest}'"
    ))
    .await
    .unwrap();
    wait_for_status(&app, "/readyz", 503).await;
    assert_eq!(
        status(&app, "/healthz").await,
        200,
        "the process is still alive"
    );
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{newest}', 0)"
    ))
    .await
    .unwrap();
    wait_for_status(&app, "/readyz", 200).await;
    app.stop().await;
}

/// A loopback TCP proxy in front of MySQL that a test can cut and restore.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Self { port, down, conns }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_while_the_database_is_gone_and_200_when_it_is_back() {
    let db = TestDb::new().await;
    if !db.is_mysql() {
        // SQLite is a file inside the process: no network path to cut. Make what readiness
        // reads unreadable instead, and mend it.
        let app = TestApp::around(TestApp::start_on(config_for(&db.url)).await, db).await;
        assert_eq!(status(&app, "/readyz").await, 200);
        let raw = Database::connect(app.db.url.as_str()).await.unwrap();
        raw.execute_unprepared("ALTER TABLE seaql_migrations RENAME TO seaql_migrations_gone")
            .await
            .unwrap();
        wait_for_status(&app, "/readyz", 503).await;
        assert_eq!(status(&app, "/healthz").await, 200);
        // The readiness check itself may have created an empty one meanwhile.
        raw.execute_unprepared("DROP TABLE IF EXISTS seaql_migrations")
            .await
            .unwrap();
        raw.execute_unprepared("ALTER TABLE seaql_migrations_gone RENAME TO seaql_migrations")
            .await
            .unwrap();
        wait_for_status(&app, "/readyz", 200).await;
        let data = app.ok("{ hosts { totalCount } }", json!({})).await;
        assert_eq!(data["hosts"]["totalCount"], 0, "queries work again");
        app.stop().await;
        return;
    }
    // mysql://user@host:port/name -> the same through the proxy.
    let rest = db.url.trim_start_matches("mysql://");
    let (userinfo, hostpath) = rest.split_once('@').unwrap();
    let (hostport, name) = hostpath.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_owned()).await;
    let url = format!("mysql://{userinfo}@127.0.0.1:{}/{name}", proxy.port);
    let server = TestApp::start_on(config_for(&url)).await;
    let app = TestApp::around(server, db).await;
    assert_eq!(status(&app, "/readyz").await, 200);
    proxy.cut();
    wait_for_status(&app, "/readyz", 503).await;
    assert_eq!(status(&app, "/healthz").await, 200);
    proxy.restore();
    wait_for_status(&app, "/readyz", 200).await;
    let data = app.ok("{ hosts { totalCount } }", json!({})).await;
    assert_eq!(data["hosts"]["totalCount"], 0, "queries work again");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_completes_within_five_seconds_with_a_subscription_open() {
    let app = TestApp::spawn().await;
    let mut ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    let started = Instant::now();
    app.server.stop().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    // The subscriber is told: either a `complete`, a close frame or the end of the socket.
    let mut closed = false;
    for _ in 0..3 {
        match next_message(&mut ws).await {
            None => {
                closed = true;
                break;
            }
            Some(msg) if msg["type"] == "complete" => continue,
            Some(msg) => panic!("unexpected message {msg}"),
        }
    }
    assert!(closed, "the socket was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exclusion_job_lifts_only_expired_exclusions() {
    let app = TestApp::spawn_with(|c| c.scheduler = false).await;
    let expired = app.create_host("192.0.2.7", &[], &[]).await;
    let current = app.create_host("192.0.2.8", &[], &[]).await;
    let forever = app.create_host("192.0.2.9", &[], &[]).await;
    for (id, duration) in [
        (&expired, "ONE_DAY"),
        (&current, "THIRTY_DAYS"),
        (&forever, "FOREVER"),
    ] {
        app.ok(
            "mutation($id: ID!, $d: ExclusionDuration!) { setScanExclusion(input: {hostId: $id, reason: \"maintenance\", duration: $d}) { host { id } } }",
            json!({ "id": id, "d": duration }),
        )
        .await;
    }
    // Age the one-day exclusion past its end.
    let db = Database::connect(app.db.url.as_str()).await.unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::host::Entity::update_many()
        .col_expr(
            entity::host::Column::ExclusionUntil,
            Expr::val(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(entity::host::Column::Address.eq(api::net::ip_key("192.0.2.7".parse().unwrap())))
        .exec(&db)
        .await
        .unwrap();
    let excluded = app
        .ok(
            "{ hosts(filter: {excluded: true}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        excluded["hosts"]["totalCount"], 2,
        "an expired exclusion no longer counts"
    );

    let report = api::host::jobs::run_once(&app.server.state).await.unwrap();
    assert_eq!(report.items, 1);
    let again = api::host::jobs::run_once(&app.server.state).await.unwrap();
    assert_eq!(again.items, 0, "the job is idempotent");
    let hosts = app
        .ok(
            "{ hosts { edges { node { address scanExclusion { reason } } } } }",
            json!({}),
        )
        .await;
    let exclusions: Vec<_> = hosts["hosts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["scanExclusion"].clone())
        .collect();
    assert!(exclusions[0].is_null());
    assert_eq!(exclusions[1]["reason"], "maintenance");
    assert_eq!(exclusions[2]["reason"], "maintenance");
    app.stop().await;
}

/// The counter of `name` in a Prometheus text body.
fn counter(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from {body}"))
}

/// `/metrics` counts what the process asks of the database and who is connected, for admins
/// only.
#[tokio::test]
async fn metrics_count_queries_and_sockets_for_admins_only() {
    let app = TestApp::spawn().await;
    let get = |token: Option<String>| {
        let mut req = app.client.get(format!("{}/metrics", app.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, before) = get(Some(app.token.clone())).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(counter(&before, "hector_db_up"), 1);
    assert_eq!(counter(&before, "hector_websockets_signed_in"), 0);
    app.create_host("192.0.2.77", &[], &[]).await;
    let ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    let (_, after) = get(Some(app.token.clone())).await;
    assert!(
        counter(&after, "hector_db_queries_total") > counter(&before, "hector_db_queries_total"),
        "{before}\n{after}"
    );
    assert_eq!(counter(&after, "hector_websockets_signed_in"), 1);
    assert_eq!(counter(&after, "hector_subscription_callers"), 1);
    drop(ws);

    let (viewer, _) = crate::support::user(&app, "metrics-viewer", "VIEWER", &[]).await;
    let (status, body) = get(Some(viewer)).await;
    assert_eq!((status, body.contains("FORBIDDEN")), (403, true), "{body}");
    let (status, _) = get(None).await;
    assert_eq!(status, 403);
    let (status, _) = get(Some("not-a-token".into())).await;
    assert_eq!(status, 401);
    app.stop().await;
}
