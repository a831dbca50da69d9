//! `hostByAddress` through GraphQL over HTTP against a bare actix handler doing the same
//! lookup through the same pool, side by side, at 64 concurrent connections.
//!
//! `cargo bench --bench host_lookup` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=mysql://root@127.0.0.1:3306/hector_bench` against MariaDB.
//! `BENCH_SECS` (default 10) sets the time per side, `BENCH_HOSTS` (default 100000) the seed.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use api::actor::{HostScope, Scopes};
use api::host::service::{self, BulkAdd};
use hdrhistogram::Histogram;
use serde_json::json;

const CONCURRENCY: usize = 64;

fn address(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

struct Outcome {
    requests: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

async fn load<F, Fut>(secs: u64, hosts: u32, send: F) -> Outcome
where
    F: Fn(IpAddr) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let send = Arc::new(send);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let mut n = 0u64;
            let mut i = (worker as u32).wrapping_mul(7919);
            while Instant::now() < deadline {
                i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let addr = address(1 + i % hosts);
                let t = Instant::now();
                assert!(send(addr).await, "lookup of {addr} failed");
                hist.record(t.elapsed().as_micros() as u64).unwrap();
                n += 1;
            }
            (n, hist)
        }));
    }
    let mut total = 0;
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        let (n, h) = t.await.unwrap();
        total += n;
        latency.add(h).unwrap();
    }
    Outcome {
        requests: total,
        elapsed: started.elapsed(),
        latency,
    }
}

fn report(name: &str, o: &Outcome) -> f64 {
    let rps = o.requests as f64 / o.elapsed.as_secs_f64();
    println!(
        "{name:<28} {rps:>10.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests)",
        o.latency.value_at_quantile(0.5) as f64 / 1000.0,
        o.latency.value_at_quantile(0.99) as f64 / 1000.0,
        o.requests
    );
    rps
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let hosts: u32 = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));

    let mut config = api::config::Config::from_env().unwrap();
    config.database_url = url.parse().unwrap();
    config.log = "warn".into();
    config.scheduler = false;
    config.rate_limit_per_minute = 0;
    config.admin_password = Some("bench-admin-password".parse().unwrap());
    config.db_max_connections = Some(if url.starts_with("sqlite") { 8 } else { 32 });
    api::telemetry::init(&config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = api::start(listener, config).await.unwrap();
    let db = server.state.db.clone();

    let seeded = Instant::now();
    let mut next = 1u32;
    while next <= hosts {
        let upto = (next + 49_999).min(hosts);
        let add = BulkAdd {
            addresses: (next..=upto).map(address).collect(),
            ..Default::default()
        };
        api::db::write(&db, move |txn| {
            let add = add.clone();
            Box::pin(async move { service::add_many(txn, &HostScope::All, add, 100_000).await })
        })
        .await
        .unwrap();
        next = upto + 1;
    }
    // Hector's side signs in like a SOAR tool: an admin API token.
    let admin = api::auth::service::user_by_name(&db, "admin")
        .await
        .unwrap()
        .unwrap();
    let read = Scopes {
        read: true,
        ..Default::default()
    };
    let (_, token) =
        api::auth::service::create_api_token(&server.state.db, admin.id, "bench", read, None)
            .await
            .unwrap();
    println!(
        "seeded {hosts} hosts in {:.1} s ({url})",
        seeded.elapsed().as_secs_f64()
    );

    // The bare handler: the same service call through the same pool, JSON out, no GraphQL.
    let bare_db = db.clone();
    let bare_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bare_addr = bare_listener.local_addr().unwrap();
    let bare = HttpServer::new(move || {
        App::new().app_data(web::Data::new(bare_db.clone())).route(
            "/lookup/{address}",
            web::get().to(
                |db: web::Data<sea_orm::DatabaseConnection>, path: web::Path<String>| async move {
                    let addr: IpAddr = match path.parse() {
                        Ok(a) => a,
                        Err(_) => return HttpResponse::BadRequest().finish(),
                    };
                    match service::by_address(db.get_ref(), &HostScope::All, addr).await {
                        Ok(Some(h)) => HttpResponse::Ok().json(json!({
                            "id": h.id,
                            "address": api::net::ip_from_key(&h.address).map(|a| a.to_string()),
                            "names": service::names_of(&h),
                        })),
                        Ok(None) => HttpResponse::NotFound().finish(),
                        Err(_) => HttpResponse::InternalServerError().finish(),
                    }
                },
            ),
        )
    })
    .listen(bare_listener)
    .unwrap()
    .disable_signals()
    .run();
    let bare_handle = bare.handle();
    tokio::spawn(bare);

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let hector_url = format!("http://{}/graphql", server.addr);
    let query = "query($a: IpAddr!) { hostByAddress(address: $a) { id address names } }";

    let gql = {
        let (client, url, token) = (client.clone(), hector_url.clone(), token.clone());
        move |addr: IpAddr| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "query": query, "variables": { "a": addr.to_string() } }))
                    .send()
                    .await;
                match res {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|v| v["data"]["hostByAddress"]["address"] == addr.to_string()),
                    Err(_) => false,
                }
            }
        }
    };
    let plain = {
        let client = client.clone();
        move |addr: IpAddr| {
            let client = client.clone();
            async move {
                match client
                    .get(format!("http://{bare_addr}/lookup/{addr}"))
                    .send()
                    .await
                {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|v| v["address"] == addr.to_string()),
                    Err(_) => false,
                }
            }
        }
    };

    // Warm both paths, then measure each for the same time.
    load(1, hosts, gql.clone()).await;
    load(1, hosts, plain.clone()).await;
    println!(
        "{CONCURRENCY} concurrent connections, {secs} s each, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let bare_rps = report("bare actix + same lookup", &load(secs, hosts, plain).await);
    let hector_rps = report("hector hostByAddress (gql)", &load(secs, hosts, gql).await);
    let ratio = hector_rps / bare_rps;
    println!("hector / bare = {ratio:.2} (target >= 0.70)");

    bare_handle.stop(true).await;
    server.stop().await.unwrap();
    if ratio < 0.5 {
        std::process::exit(1);
    }
}
