//! Subscription fan-out: many subscribers of `hostEvents` selecting `host { address }`, a run
//! of host creations, and what it costs the server.
//!
//! `cargo bench --bench fanout` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=mysql://root@127.0.0.1:3306/hector_bench` against MariaDB (the
//! database is created if missing). `BENCH_SUBSCRIBERS` (default 2000) and `BENCH_EVENTS`
//! (default 100) set the load.
//!
//! The server runs as its own process (the `hector` binary), so its memory is measured
//! alone. Reported: whether every subscriber got every event; delivery latency from sending the
//! mutation to the event arriving; the statements sent to the database per event beyond what
//! the same mutations cost with nobody subscribed (from `/metrics`); peak memory; and memory
//! before the sockets opened and after they all closed.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PASSWORD: &str = "bench-admin-password";
/// Time between two mutations, in both phases.
const PACE: Duration = Duration::from_millis(20);
/// How long the server is left alone after the sockets close before its memory is read (the
/// allocator returns freed memory in two decay steps of about ten seconds each).
const SETTLE: Duration = Duration::from_secs(30);
/// How long each phase's statements are counted, from its first mutation.
const WINDOW: Duration = Duration::from_secs(12);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Memory of `pid` in KiB: resident minus what the allocator already gave back lazily
/// (`MADV_FREE` pages stay counted as resident until the kernel needs them), and the peak.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    (
        kib(&status, "VmRSS:").saturating_sub(kib(&smaps, "LazyFree:")),
        kib(&status, "VmHWM:"),
    )
}

/// Resident KiB per mapping of `pid`, keyed by its address range and name (for
/// `BENCH_SMAPS=1`, which prints the mappings that grew).
fn mappings(pid: u32) -> HashMap<String, u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut out = HashMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            let kib = rss.split_whitespace().next().and_then(|v| v.parse().ok());
            out.insert(current.clone(), kib.unwrap_or(0));
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap_or_default();
            let name = fields.nth(4).unwrap_or("[anon]");
            current = format!("{range} {name}");
        }
    }
    out
}

fn print_growth(label: &str, before: &HashMap<String, u64>, after: &HashMap<String, u64>) {
    let mut grown: Vec<(i64, &String)> = after
        .iter()
        .map(|(k, v)| (*v as i64 - before.get(k).copied().unwrap_or(0) as i64, k))
        .filter(|(d, _)| d.abs() >= 128)
        .collect();
    grown.sort();
    let total: i64 = grown.iter().map(|(d, _)| d).sum();
    println!("  mappings that changed by 128 KiB or more, {label} (total {total} KiB):");
    for (d, k) in grown {
        println!("    {d:>8} KiB  {k}");
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(url: &str, subscribers: usize, log: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hector"))
            .env("DATABASE_URL", url)
            .env("HECTOR_BIND", addr.to_string())
            .env("HECTOR_ADMIN_PASSWORD", PASSWORD)
            .env("HECTOR_RATE_LIMIT_PER_MINUTE", "0")
            .env(
                "HECTOR_MAX_SOCKETS_PER_IDENTITY",
                (subscribers + 100).to_string(),
            )
            .env("HECTOR_EVENT_POLL_MS", "50")
            .env("HECTOR_SCHEDULER", "false")
            .env("HECTOR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = http.get(format!("http://{addr}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start; see {log:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut server = Self {
            child,
            addr,
            http,
            token: String::new(),
        };
        let login = server
            .gql(
                "mutation($p: String!) { login(input: {username: \"admin\", password: $p}) { accessToken } }",
                json!({ "p": PASSWORD }),
            )
            .await;
        server.token = login["data"]["login"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        server
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query, "variables": variables }));
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    async fn metric(&self, name: &str) -> u64 {
        let body = self
            .http
            .get(format!("http://{}/metrics", self.addr))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap()
    }

    /// Creates a host at each of `addresses`, one mutation every [`PACE`]; returns when each
    /// mutation was sent.
    async fn create_hosts(&self, addresses: &[String]) -> HashMap<String, Instant> {
        let mut sent = HashMap::new();
        let mut tick = tokio::time::interval(PACE);
        for address in addresses {
            tick.tick().await;
            sent.insert(address.clone(), Instant::now());
            let res = self
                .gql(
                    "mutation($a: String!) { createHost(input: {address: $a}) { host { id } } }",
                    json!({ "a": address }),
                )
                .await;
            assert!(res.get("errors").is_none(), "{res}");
        }
        sent
    }

    /// Waits until `name` reads `want`.
    async fn wait_metric(&self, name: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.metric(name).await != want {
            assert!(Instant::now() < deadline, "{name} never reached {want}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One subscriber: connects, subscribes, and reports every host address it receives.
async fn subscriber(
    addr: SocketAddr,
    token: String,
    deliveries: mpsc::UnboundedSender<(String, Instant)>,
    stop: tokio_util::sync::CancellationToken,
    subscribed: mpsc::Sender<()>,
) {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await.unwrap();
    let ack = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(text) => break text,
            _ => continue,
        }
    };
    assert!(ack.contains("connection_ack"), "{ack}");
    let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { hostEvents { host { address } } }" } });
    ws.send(Message::text(start.to_string())).await.unwrap();
    subscribed.send(()).await.unwrap();
    loop {
        let msg = tokio::select! {
            () = stop.cancelled() => {
                let _ = ws.close(None).await;
                return;
            }
            msg = ws.next() => msg,
        };
        let Some(Ok(msg)) = msg else { return };
        if let Message::Text(text) = msg {
            let at = Instant::now();
            let value: Value = serde_json::from_str(&text).unwrap();
            if let Some(address) =
                value["payload"]["data"]["hostEvents"]["host"]["address"].as_str()
            {
                let _ = deliveries.send((address.to_owned(), at));
            } else if value["type"] == "ping" {
                let _ = ws
                    .send(Message::text(json!({ "type": "pong" }).to_string()))
                    .await;
            }
        }
    }
}

/// Opens `n` subscribers and returns once the server holds every one of them.
async fn open_crowd(
    server: &Server,
    n: usize,
    deliveries: &mpsc::UnboundedSender<(String, Instant)>,
    stop: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinSet<()> {
    let (subscribed_tx, mut subscribed_rx) = mpsc::channel(n);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(subscriber(
            server.addr,
            server.token.clone(),
            deliveries.clone(),
            stop.clone(),
            subscribed_tx.clone(),
        ));
        // Keep the connection storm modest: at most a few hundred handshakes in flight.
        if tasks.len() % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for _ in 0..n {
        subscribed_rx.recv().await.unwrap();
    }
    server
        .wait_metric("hector_subscription_callers", n as u64)
        .await;
    tasks
}

async fn create_mysql_database(url: &str) {
    use sea_orm::ConnectionTrait;
    let (base, name) = url.rsplit_once('/').unwrap();
    let name = name.split('?').next().unwrap();
    let admin = sea_orm::Database::connect(base).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
}

async fn run() {
    let subscribers: usize = env_or("BENCH_SUBSCRIBERS", 2000);
    let events: usize = env_or("BENCH_EVENTS", 100);
    // Each side of each socket is a file descriptor, in this process and the server's.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    if url.starts_with("mysql:") {
        create_mysql_database(&url).await;
    }
    let backend = url.split(':').next().unwrap().to_owned();
    let log = dir.path().join("server.log");
    let server = Server::start(&url, subscribers, &log).await;
    let pid = server.child.id();
    // Fresh addresses on every run, so a reused MySQL database does not conflict.
    let net: u32 = rand::random::<u32>() & 0x00ff_0000 | 0x0a00_0000;
    let addresses = |from: usize| -> Vec<String> {
        (from..from + events)
            .map(|i| std::net::Ipv4Addr::from(net + i as u32 + 1).to_string())
            .collect()
    };

    // Phase A: the mutations alone, nobody subscribed.
    let q0 = server.metric("hector_db_queries_total").await;
    let started = Instant::now();
    server.create_hosts(&addresses(0)).await;
    tokio::time::sleep(WINDOW.saturating_sub(started.elapsed())).await;
    let alone = server.metric("hector_db_queries_total").await - q0;
    let (rss_before, _) = memory(pid);
    let smaps = std::env::var_os("BENCH_SMAPS").is_some();
    let maps_before = if smaps { mappings(pid) } else { HashMap::new() };

    // Open the subscribers.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let opening = Instant::now();
    let mut tasks = open_crowd(&server, subscribers, &tx, &stop).await;
    let opened_in = opening.elapsed();
    // Let the server register every subscription before the first event.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_open, _) = memory(pid);

    // Phase B: the same mutations, every subscriber listening.
    let q1 = server.metric("hector_db_queries_total").await;
    let started = Instant::now();
    let sent = server.create_hosts(&addresses(events)).await;
    let expected = subscribers * events;
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut per_address: HashMap<String, usize> = HashMap::new();
    let mut received = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < expected {
        let Ok(Some((address, at))) = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            rx.recv(),
        )
        .await
        else {
            break;
        };
        if let Some(t0) = sent.get(&address) {
            latency
                .record(at.duration_since(*t0).as_micros() as u64)
                .unwrap();
            *per_address.entry(address).or_default() += 1;
            received += 1;
        }
    }
    let delivered_in = started.elapsed();
    tokio::time::sleep(WINDOW.saturating_sub(started.elapsed())).await;
    let with_subscribers = server.metric("hector_db_queries_total").await - q1;
    let (_, peak) = memory(pid);

    // Close every socket and let the server settle.
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    server.wait_metric("hector_websockets_signed_in", 0).await;
    tokio::time::sleep(SETTLE).await;
    let (rss_after, _) = memory(pid);
    if smaps {
        print_growth(
            "before the sockets to after they closed",
            &maps_before,
            &mappings(pid),
        );
    }
    // A second crowd, opened and closed: a leak would grow again, reuse would not.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = open_crowd(&server, subscribers, &tx, &stop).await;
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    server.wait_metric("hector_websockets_signed_in", 0).await;
    tokio::time::sleep(SETTLE).await;
    let (rss_again, _) = memory(pid);

    let everyone = per_address.len() == events && per_address.values().all(|n| *n == subscribers);
    let ms = |us: u64| us as f64 / 1000.0;
    println!("fan-out on {backend}: {subscribers} subscribers, {events} events");
    println!(
        "  sockets opened and subscribed in {:.1} s",
        opened_in.as_secs_f64()
    );
    println!(
        "  delivered {received} of {expected} ({}), all within {:.2} s of the first mutation",
        if everyone {
            "every subscriber got every event"
        } else {
            "SOME MISSING"
        },
        delivered_in.as_secs_f64()
    );
    println!(
        "  latency mutation sent -> event received: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max())
    );
    println!(
        "  statements in a {} s window: {alone} without subscribers, {with_subscribers} with; \
         {:.2} more per event",
        WINDOW.as_secs(),
        (with_subscribers as f64 - alone as f64) / events as f64
    );
    println!(
        "  server memory: {:.0} MiB before the sockets, {:.0} MiB with them open, peak {:.0} MiB, \
         {:.0} MiB after they closed ({:.2}x before), {:.0} MiB after a second crowd came and went",
        rss_before as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_after as f64 / rss_before as f64,
        rss_again as f64 / 1024.0,
    );
    assert!(
        everyone,
        "not every subscriber got every event; see {log:?}"
    );
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
