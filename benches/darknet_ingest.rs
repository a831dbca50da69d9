//! Darknet ingest and dashboards, side by side in one run:
//!
//! - (a) the database's own bulk path for the same events into the same events table: the
//!   sqlite3 shell's `.import` (SQLite), `LOAD DATA LOCAL INFILE` through the mariadb client
//!   (MariaDB);
//! - (b) one `INSERT` per event in its own transaction (HECTOR's method), on a sample, as the
//!   floor;
//! - (c) `POST /ingest/darknet` to a real `hector` server process, with every roll-up, in
//!   batches of syslog lines from two senders, until the per-source roll-ups have folded in
//!   the last event; its request latencies (an accepted batch is
//!   committed, so visible to queries, when its answer arrives), and its peak resident memory
//!   after the first 100,000 events and at the end;
//! - (d) on what (c) stored: each dashboard query through GraphQL against the raw `GROUP BY`
//!   over the events table that gives the same answer.
//!
//! `cargo bench --bench darknet_ingest` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=mysql://root@127.0.0.1:3306` against MariaDB. `BENCH_EVENTS` (default
//! 2,000,000) sizes the run; `BENCH_BATCH` (default 10,000) is the lines per request;
//! (a) runs before and after each (c), and (c) is compared with the mean of the two;
//! `BENCH_ROUNDS` (default 1) repeats (c) and the (a) after it, and reports each round's
//! ratio and their median; `BENCH_DASHBOARDS=0` leaves (d) out; `BENCH_SENDERS`
//! (default 2) is how many requests are in flight at once; `BENCH_ALTERNATE_ENV=NAME=VALUE`
//! gives the server of rounds 2, 4... that setting, to compare two settings in one run;
//! `BENCH_PROFILE_MS=N` asks a scanner's profile every N ms during (c) and reports its times.
//! Against a MariaDB on this machine, the CPU time it spends in (a) and in (c) (until the
//! last answer, and after) is reported beside the wall times, and the server's own CPU time.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]
#![expect(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Hours the events are spread over (ending now).
const HOURS: i64 = 72;
const SOURCES: u32 = 50_000;
const COUNTRIES: [&str; 20] = [
    "CN", "US", "RU", "BR", "IN", "NL", "DE", "VN", "KR", "TW", "FR", "GB", "ID", "IR", "TR", "UA",
    "RO", "JP", "AR", "MX",
];
const PORTS: [u16; 24] = [
    23, 22, 445, 80, 443, 3389, 8080, 2323, 5555, 1433, 3306, 21, 25, 53, 123, 161, 1900, 5060,
    6379, 8443, 9200, 37215, 52869, 7547,
];

/// One generated packet.
struct Ev {
    at: DateTime<Utc>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    sport: u16,
    dport: u16,
}

/// Scanner addresses: 50,000 of them in 11.0.0.0/8, busy ones far busier than the rest.
fn source(rng: &mut impl Rng) -> Ipv4Addr {
    let u: f64 = rng.random();
    let i = (u.powi(3) * f64::from(SOURCES)) as u32;
    Ipv4Addr::from(0x0b00_0000 + i * 97 % 0x00ff_ffff)
}

/// `n` events over the last [`HOURS`], oldest first, as a sensor sends them.
fn generate(n: usize, now: DateTime<Utc>) -> Vec<Ev> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut events: Vec<Ev> = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let dport = PORTS[(u.powi(2) * PORTS.len() as f64) as usize % PORTS.len()];
            let protocol = match rng.random_range(0..20) {
                0 => 1,
                1 | 2 => 17,
                _ => 6,
            };
            Ev {
                at: now - chrono::Duration::seconds(rng.random_range(0..HOURS * 3600)),
                src: source(&mut rng),
                dst: Ipv4Addr::new(192, 0, 2, rng.random_range(1..255)),
                protocol,
                sport: rng.random_range(1024..65535),
                dport,
            }
        })
        .collect();
    events.sort_by_key(|e| e.at);
    events
}

fn syslog_line(e: &Ev) -> String {
    let t = e.at.to_rfc3339();
    match e.protocol {
        1 => format!(
            "{t} sensor kernel: iptables IN=eth0 OUT= SRC={} DST={} LEN=84 TTL=50 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1",
            e.src, e.dst
        ),
        17 => format!(
            "{t} sensor kernel: iptables IN=eth0 OUT= SRC={} DST={} LEN=60 TTL=50 ID=1 PROTO=UDP SPT={} DPT={} LEN=40",
            e.src, e.dst, e.sport, e.dport
        ),
        _ => format!(
            "{t} sensor kernel: iptables IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={} DST={} LEN=40 TOS=0x00 PREC=0x00 TTL=241 ID=54321 PROTO=TCP SPT={} DPT={} WINDOW=1024 RES=0x00 SYN URGP=0",
            e.src, e.dst, e.sport, e.dport
        ),
    }
}

/// The GeoIP database of the run: each /16 of the scanners' space in one of 20 countries.
fn geoip(dir: &Path) -> std::path::PathBuf {
    use api::geoip::build::{Entry, database};
    let entries: Vec<Entry> = (0..256u32)
        .map(|i| Entry {
            net: format!("11.{i}.0.0/16").parse().unwrap(),
            country: Some(COUNTRIES[i as usize % COUNTRIES.len()].to_owned()),
            asn: Some(64_512 + i),
        })
        .collect();
    let path = dir.join("bench.mmdb");
    std::fs::write(&path, database(&entries)).unwrap();
    path
}

fn hex_key(a: Ipv4Addr) -> String {
    hex::encode(api::net::ip_key(IpAddr::V4(a)))
}

/// The events as rows of the events table, tab-separated, for the bulk path: for MariaDB
/// without the id and with `\N` for NULL, for SQLite's `.import` (which fills every column
/// in order and has no NULL) with the id and empty fields.
fn write_rows(path: &Path, events: &[Ev], geo: &api::geoip::GeoIp, mysql: bool) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let null = if mysql { "\\N" } else { "" };
    for (i, e) in events.iter().enumerate() {
        let o = geo.lookup(IpAddr::V4(e.src));
        let (sport, dport, itype, icode) = if e.protocol == 1 {
            (null.to_owned(), null.to_owned(), "8", "0")
        } else {
            (e.sport.to_string(), e.dport.to_string(), null, null)
        };
        if !mysql {
            write!(out, "{}\t", i + 1).unwrap();
        }
        writeln!(
            out,
            "1\t1\t{}\t{}\t{}\t{}\t{}\t{sport}\t{dport}\t{itype}\t{icode}\t2\t241\t40\t{}\t{}",
            e.at.format("%Y-%m-%d %H:%M:%S%.f"),
            e.at.timestamp().div_euclid(3600),
            hex_key(e.src),
            hex_key(e.dst),
            e.protocol,
            o.country_code().unwrap_or_default(),
            o.asn.unwrap_or_default(),
        )
        .unwrap();
    }
}

const COLUMNS: &str = "sensor_id, batch_id, seen_at, hour, @src, @dst, protocol, src_port, dst_port, icmp_type, icmp_code, tcp_flags, ttl, length, country, asn";

/// The user, host and port of a `mysql://user@host:port` URL without a database (root and
/// 3306 when not given).
fn mysql_server(base: &str) -> (&str, &str, &str) {
    let rest = base.trim_start_matches("mysql://");
    let (user, host) = rest.split_once('@').unwrap_or(("root", rest));
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    (user, host, port)
}

/// (a): the database's own bulk path, timed around the tool.
fn bulk(url: &str, rows: &Path) -> Duration {
    let t = Instant::now();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let file = rest.split('?').next().unwrap();
        // The shell's `.import` into the same table. It has no unhex before 3.41, so the
        // address keys go in as hex text (twice the bytes of the server's 16-byte keys).
        let status = Command::new("sqlite3")
            .arg(file)
            .arg(".mode tabs")
            .arg(format!(".import {} darknet_event", rows.display()))
            .stdin(Stdio::null())
            .status()
            .expect("the sqlite3 shell (apt-get install sqlite3)");
        assert!(status.success());
    } else {
        let (base, db) = url.rsplit_once('/').unwrap();
        let (user, host, port) = mysql_server(base);
        let sql = format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE darknet_event FIELDS TERMINATED BY '\\t' ({COLUMNS}) SET src = UNHEX(@src), dst = UNHEX(@dst)",
            rows.display()
        );
        let status = Command::new("mariadb")
            .args([
                "--local-infile=1",
                "-h",
                host,
                "-P",
                port,
                "-u",
                user,
                db,
                "-e",
                &sql,
            ])
            .status()
            .expect("the mariadb client");
        assert!(status.success());
    }
    t.elapsed()
}

/// (b): one statement and one transaction per event, on `sample` events.
async fn row_at_a_time(db: &DatabaseConnection, events: &[Ev]) -> Duration {
    let b = db.get_database_backend();
    let t = Instant::now();
    for e in events {
        let stmt = Statement::from_sql_and_values(
            b,
            match b {
                sea_orm::DbBackend::MySql => {
                    "INSERT INTO darknet_event (sensor_id, batch_id, seen_at, hour, src, dst, protocol, src_port, dst_port, tcp_flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                }
                _ => {
                    "INSERT INTO darknet_event (sensor_id, batch_id, seen_at, hour, src, dst, protocol, src_port, dst_port, tcp_flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                }
            },
            [
                1i64.into(),
                1i64.into(),
                e.at.into(),
                e.at.timestamp().div_euclid(3600).into(),
                api::net::ip_key(IpAddr::V4(e.src)).into(),
                api::net::ip_key(IpAddr::V4(e.dst)).into(),
                i16::from(e.protocol).into(),
                i32::from(e.sport).into(),
                i32::from(e.dport).into(),
                2i16.into(),
            ],
        );
        db.execute_raw(stmt).await.unwrap();
    }
    t.elapsed()
}

/// A fresh, migrated database for one phase.
async fn fresh(base: &Option<String>, dir: &Path, phase: &str) -> (String, DatabaseConnection) {
    let url = match base {
        Some(base) => {
            let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
            let name = format!("hector_bench_darknet_{phase}");
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ))
                .await
                .unwrap();
            admin.close().await.unwrap();
            format!("{base}/{name}")
        }
        None => {
            // A file of an earlier round goes first.
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{phase}.db{suffix}")));
            }
            format!("sqlite://{}/{phase}.db?mode=rwc", dir.display())
        }
    };
    let mut config = api::config::Config::from_env().unwrap();
    config.database_url = url.parse().unwrap();
    config.log = "warn".into();
    let db = api::db::connect(&config).await.unwrap();
    api::db::migrate(&db, "bench").await.unwrap();
    (url, db)
}

fn kib(pid: u32, name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user and system) process `pid` has used so far, if it can be read.
fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from the third: utime is the
    // 14th field of the line, stime the 15th, both in clock ticks (100 a second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The MariaDB server at `base`, when `base` is on this machine and one runs here (found by
/// name): its CPU time is reported beside each run's wall time, which this machine's drifting
/// speed moves more.
fn mariadb_pid(base: &str) -> Option<u32> {
    let (_, host, _) = mysql_server(base);
    if host != "localhost" && !host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return None;
    }
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            matches!(comm.trim(), "mariadbd" | "mysqld").then_some(pid)
        })
}

/// A process's CPU time from a start (nothing when the process is not known or readable).
struct CpuClock {
    pid: Option<u32>,
    start: Option<Duration>,
}

impl CpuClock {
    fn start(pid: Option<u32>) -> CpuClock {
        CpuClock {
            pid,
            start: pid.and_then(cpu_of),
        }
    }

    fn used(&self) -> Option<Duration> {
        Some(cpu_of(self.pid?)?.saturating_sub(self.start?))
    }
}

/// `; MariaDB used .. s of CPU`, when that is known.
fn db_cpu_note(cpu: Option<Duration>) -> String {
    cpu.map(|c| format!("; MariaDB used {:.1} s of CPU", c.as_secs_f64()))
        .unwrap_or_default()
}

/// A setting (`NAME=VALUE`) that every other round's server gets (`BENCH_ALTERNATE_ENV`), to
/// compare two settings in one run, round by round, on a machine whose speed drifts. One that
/// is not `NAME=VALUE` stops the run rather than comparing a setting with itself.
fn alternate_env() -> Option<(String, String)> {
    let setting = std::env::var("BENCH_ALTERNATE_ENV").ok()?;
    let (name, value) = setting
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .expect("BENCH_ALTERNATE_ENV is NAME=VALUE");
    Some((name.to_owned(), value.to_owned()))
}

/// A child process killed when dropped (also when the benchmark panics).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `hector` server process on `url`, with `extra` set in its environment, and its address.
fn server(url: &str, geoip: &Path, extra: Option<&(String, String)>) -> (Killed, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_hector"))
        .env("DATABASE_URL", url)
        .env("HECTOR_BIND", format!("127.0.0.1:{port}"))
        .env(
            "HECTOR_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()),
        )
        .env("HECTOR_ADMIN_PASSWORD", "bench-admin-password")
        .env("HECTOR_RATE_LIMIT_PER_MINUTE", "0")
        .env("HECTOR_GEOIP_COUNTRY_DB", geoip)
        .env("HECTOR_SCHEDULER", "false")
        .envs(extra.cloned())
        .env_remove("HECTOR_ENV")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Killed(child), format!("http://127.0.0.1:{port}"))
}

async fn gql(client: &reqwest::Client, base: &str, token: &str, query: &str, vars: Value) -> Value {
    let body: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

async fn sign_in(client: &reqwest::Client, base: &str) -> String {
    for _ in 0..300 {
        if let Ok(res) = client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": "mutation { login(input: {username: \"admin\", password: \"bench-admin-password\"}) { accessToken } }" }))
            .send()
            .await
        {
            let body: Value = res.json().await.unwrap();
            return body["data"]["login"]["accessToken"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not start");
}

/// The median of sorted `values`: the middle one, or the mean of the middle two.
fn median_of(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Median of `n` runs of `f`.
async fn median<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// What one ingest run (c) measured, and the server and database it left for (d).
struct Ingested {
    child: Killed,
    client: reqwest::Client,
    http: String,
    admin: String,
    db: DatabaseConnection,
    time: Duration,
    answered_time: Duration,
    tail: i64,
    after_first: u64,
    peak: u64,
    accepted: u64,
    failed: usize,
    stored: u64,
    latencies: Vec<Duration>,
    /// MariaDB's CPU time over `time`, when it runs on this machine.
    db_cpu: Option<Duration>,
    /// MariaDB's CPU time until the last answer.
    db_cpu_answered: Option<Duration>,
    /// The server's CPU time over `time`.
    server_cpu: Option<Duration>,
    /// The times of the profiles asked during the flood ([`probe_profiles`]), sorted: of the
    /// busiest source, and of a quiet one.
    profiles: [Vec<Duration>; 2],
}

impl Ingested {
    fn report(&self, n: usize) {
        let latencies = &self.latencies;
        println!(
            "      last answer after {:.2} s; folding the {} events still past the fold mark then took {:.2} s{}",
            self.answered_time.as_secs_f64(),
            self.tail,
            (self.time - self.answered_time).as_secs_f64(),
            match (self.db_cpu_answered, self.db_cpu) {
                (Some(a), Some(all)) => format!(
                    " (MariaDB CPU {:.1} s until the last answer, {:.1} s after)",
                    a.as_secs_f64(),
                    all.saturating_sub(a).as_secs_f64()
                ),
                _ => String::new(),
            }
        );
        println!(
            "      accepted {} of {n}, {} answers not 200, {} counted by the roll-ups; request latency (batch committed and visible) p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            self.accepted,
            self.failed,
            self.stored,
            percentile(latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(latencies, 0.99).as_secs_f64() * 1000.0,
            latencies.last().unwrap().as_secs_f64() * 1000.0
        );
        println!(
            "      peak memory of the server: {:.1} MiB after the first 100,000 events, {:.1} MiB after all = {:.2}x; its CPU time {}",
            self.after_first as f64 / 1024.0,
            self.peak as f64 / 1024.0,
            self.peak as f64 / self.after_first.max(1) as f64,
            self.server_cpu.map_or("unknown".to_owned(), |c| format!(
                "{:.1} s",
                c.as_secs_f64()
            ))
        );
        for (times, which) in self.profiles.iter().zip(["the busiest", "a quiet"]) {
            if let Some(slowest) = times.last() {
                println!(
                    "      {which} scanner's profile during the flood ({} asked): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
                    times.len(),
                    percentile(times, 0.5).as_secs_f64() * 1000.0,
                    percentile(times, 0.9).as_secs_f64() * 1000.0,
                    slowest.as_secs_f64() * 1000.0
                );
            }
        }
        assert_eq!(self.accepted as usize, n, "every event accepted");
        assert_eq!(self.stored as usize, n, "every event counted");
    }
}

/// What every ingest run (c) of a benchmark run shares.
struct Setup<'a> {
    /// The MariaDB server's URL (without a database), or none for SQLite.
    base: &'a Option<String>,
    dir: &'a Path,
    geo_path: &'a Path,
    /// The requests' bodies.
    bodies: &'a [Arc<String>],
    /// Lines per request.
    batch: usize,
    now: DateTime<Utc>,
    /// The local MariaDB server's process, if there is one.
    mariadb: Option<u32>,
}

/// (c): every body through `POST /ingest/darknet` of a fresh server (with `extra` in its
/// environment) on a fresh database, from two senders, until the per-source roll-ups have
/// folded in the last event.
async fn ingest(setup: &Setup<'_>, extra: Option<&(String, String)>) -> Ingested {
    let &Setup {
        base,
        dir,
        geo_path,
        bodies,
        batch,
        now,
        mariadb,
    } = setup;
    let (url, db) = fresh(base, dir, "ingest").await;
    let (child, http) = server(&url, geo_path, extra);
    let pid = child.0.id();
    let client = reqwest::Client::builder().build().unwrap();
    let admin = sign_in(&client, &http).await;
    let made = gql(
        &client,
        &http,
        &admin,
        "mutation { createSensor(input: {name: \"bench\", networks: [\"192.0.2.0/24\"]}) { token } }",
        json!({}),
    )
    .await;
    let token = made["createSensor"]["token"].as_str().unwrap().to_owned();
    let first_share = (100_000usize).div_ceil(batch).min(bodies.len());
    let send = |bodies: Vec<(usize, Arc<String>)>, senders: usize| {
        let (client, http, token) = (client.clone(), http.clone(), token.clone());
        async move {
            let queue = Arc::new(std::sync::Mutex::new(bodies.into_iter()));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..senders {
                let (queue, client, http, token) =
                    (queue.clone(), client.clone(), http.clone(), token.clone());
                tasks.spawn(async move {
                    let mut out: Vec<(Duration, u64, u16)> = Vec::new();
                    loop {
                        let next = queue.lock().unwrap().next();
                        let Some((i, body)) = next else { break };
                        let t = Instant::now();
                        let res = client
                            .post(format!("{http}/ingest/darknet"))
                            .bearer_auth(&token)
                            .header("content-type", "text/plain")
                            .header("idempotency-key", format!("bench-{i}"))
                            .body(body.as_ref().clone())
                            .send()
                            .await
                            .unwrap();
                        let status = res.status().as_u16();
                        let report: Value = res.json().await.unwrap_or(Value::Null);
                        out.push((
                            t.elapsed(),
                            report["accepted"].as_u64().unwrap_or(0),
                            status,
                        ));
                    }
                    out
                });
            }
            let mut all = Vec::new();
            while let Some(done) = tasks.join_next().await {
                all.extend(done.unwrap());
            }
            all
        }
    };
    let t = Instant::now();
    let db_clock = CpuClock::start(mariadb);
    let server_clock = CpuClock::start(Some(pid));
    let numbered: Vec<(usize, Arc<String>)> = bodies.iter().cloned().enumerate().collect();
    let senders: usize = env_or("BENCH_SENDERS", 2).max(1);
    let probing = tokio_util::sync::CancellationToken::new();
    let probe = tokio::spawn(probe_profiles(
        client.clone(),
        http.clone(),
        admin.clone(),
        probing.clone(),
    ));
    let mut results = send(numbered[..first_share].to_vec(), senders).await;
    let after_first = kib(pid, "VmHWM:");
    results.extend(send(numbered[first_share..].to_vec(), senders).await);
    let answered_time = t.elapsed();
    probing.cancel();
    let profiles = probe.await.unwrap();
    let db_cpu_answered = db_clock.used();
    // Every answer already counts every accepted event (per-source answers add the events not
    // folded yet); the work left is folding that tail into the per-source roll-ups. The run
    // does it now instead of leaving it to the server's folder, and counts it.
    let tail = api::darknet::fold::pending(&db).await.unwrap();
    api::darknet::fold::fold_all(&db).await.unwrap();
    let ingest_time = t.elapsed();
    let db_cpu = db_clock.used();
    let server_cpu = server_clock.used();
    let peak = kib(pid, "VmHWM:");
    let accepted: u64 = results.iter().map(|r| r.1).sum();
    let failed = results.iter().filter(|r| r.2 != 200).count();
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.0).collect();
    latencies.sort();
    let stored = gql(
        &client,
        &http,
        &admin,
        "query($from: DateTime) { darknetTopPorts(from: $from) { total } }",
        json!({ "from": (now - chrono::Duration::hours(HOURS + 1)).to_rfc3339() }),
    )
    .await["darknetTopPorts"]["total"]
        .as_u64()
        .unwrap();

    Ingested {
        child,
        client,
        http,
        admin,
        db,
        time: ingest_time,
        answered_time,
        tail,
        after_first,
        peak,
        accepted,
        failed,
        stored,
        latencies,
        db_cpu,
        db_cpu_answered,
        server_cpu,
        profiles,
    }
}

/// With `BENCH_PROFILE_MS` set, two scanners' profiles (`darknetSource`, with their 20
/// busiest ports), one after the other every that many milliseconds while the flood lasts:
/// the busiest source (about 2.7% of the events) and a quiet one (the generator's 40,000th);
/// each answer's time. What a profile costs while the per-source roll-ups are behind. Off by
/// default, since each probe adds to the flood's work.
async fn probe_profiles(
    client: reqwest::Client,
    http: String,
    admin: String,
    until: tokio_util::sync::CancellationToken,
) -> [Vec<Duration>; 2] {
    let every: u64 = env_or("BENCH_PROFILE_MS", 0);
    let mut times = [Vec::new(), Vec::new()];
    if every == 0 {
        return times;
    }
    let sources = [0u32, 40_000].map(|i| Ipv4Addr::from(0x0b00_0000 + i * 97 % 0x00ff_ffff));
    loop {
        tokio::select! {
            () = until.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(every)) => {}
        }
        for (address, times) in sources.iter().zip(times.iter_mut()) {
            let t = Instant::now();
            let answer = gql(
                &client,
                &http,
                &admin,
                "query($a: String!) { darknetSource(address: $a) { events ports { port events } } }",
                json!({ "a": address.to_string() }),
            )
            .await;
            times.push(t.elapsed());
            // A quiet source may not have been seen yet.
            assert!(answer.get("darknetSource").is_some(), "{answer}");
        }
    }
    for t in &mut times {
        t.sort();
    }
    times
}

async fn run() {
    let n: usize = env_or("BENCH_EVENTS", 2_000_000);
    let batch: usize = env_or("BENCH_BATCH", 10_000);
    let base = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .map(|u| u.trim_end_matches('/').to_owned());
    let backend = if base.is_some() { "mariadb" } else { "sqlite" };
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let events = generate(n, now);
    let geo_path = geoip(dir.path());
    let geo = api::geoip::GeoIp::open(&[geo_path.as_path()]).unwrap();
    let rows = dir.path().join("rows.tsv");
    write_rows(&rows, &events, &geo, base.is_some());
    let bodies: Vec<Arc<String>> = events
        .chunks(batch)
        .map(|c| Arc::new(c.iter().map(syslog_line).collect::<Vec<_>>().join("\n") + "\n"))
        .collect();
    drop(events);
    println!(
        "darknet ingest on {backend}: {n} events in {} requests of {batch} lines",
        bodies.len()
    );

    // (b)
    let (_, db) = fresh(&base, dir.path(), "rows").await;
    let sample = generate(n.min(20_000), now);
    let floor = row_at_a_time(&db, &sample).await;
    db.close().await.unwrap();
    let floor_rate = sample.len() as f64 / floor.as_secs_f64();
    println!(
        "  (b) a row at a time          {:>8.2} s  {:>9.0} events/s (on {} events; HECTOR's method)",
        floor.as_secs_f64(),
        floor_rate,
        sample.len()
    );

    // (a) and (c) in turn, `rounds` times, with one more (a) at the end: this machine's speed
    // drifts from minute to minute, so each ingest run is compared with the bulk loads just
    // before and just after it (their mean), which cancels a drift that runs one way.
    let rounds: usize = env_or("BENCH_ROUNDS", 1).max(1);
    let mariadb = base.as_deref().and_then(mariadb_pid);
    let alternate = alternate_env();
    let setup = Setup {
        base: &base,
        dir: dir.path(),
        geo_path: &geo_path,
        bodies: &bodies,
        batch,
        now,
        mariadb,
    };
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let bulk_load = || async {
        let (url, db) = fresh(&base, dir.path(), "bulk").await;
        db.close().await.unwrap();
        let clock = CpuClock::start(mariadb);
        let bulk_time = bulk(&url, &rows);
        let cpu = clock.used();
        println!(
            "  (a) bulk path ({})  {:>8.2} s  {:>9.0} events/s{}",
            if base.is_some() {
                "LOAD DATA LOCAL INFILE"
            } else {
                "sqlite3 .import"
            },
            bulk_time.as_secs_f64(),
            rate(bulk_time),
            db_cpu_note(cpu)
        );
        (bulk_time, cpu)
    };
    let mut ratios = Vec::new();
    let mut last = None;
    let mut before = bulk_load().await;
    for round in 1..=rounds {
        // Rounds 2, 4... with the alternate setting, if one is given.
        let extra = alternate.as_ref().filter(|_| round % 2 == 0);
        if rounds > 1 {
            match extra {
                Some((name, value)) => println!("  round {round} of {rounds}, with {name}={value}"),
                None => println!("  round {round} of {rounds}"),
            }
        }
        // The previous round's server goes before this one starts.
        drop(last.take());
        let ingested = ingest(&setup, extra).await;
        let cpu = ingested.db_cpu;
        let after = bulk_load().await;
        let bracket = (before.0 + after.0) / 2;
        let ratio = rate(ingested.time) / rate(bracket);
        println!(
            "  (c) POST /ingest/darknet     {:>8.2} s  {:>9.0} events/s = {ratio:.2}x the bulk path ({:.2} s, the mean of the loads before and after), {:.0}x a row at a time{}{}",
            ingested.time.as_secs_f64(),
            rate(ingested.time),
            bracket.as_secs_f64(),
            rate(ingested.time) / floor_rate,
            db_cpu_note(cpu),
            match (cpu, before.1, after.1) {
                (Some(c), Some(b), Some(a)) => format!(
                    " = {:.2}x that of the loads",
                    c.as_secs_f64() / ((b + a) / 2).as_secs_f64()
                ),
                _ => String::new(),
            }
        );
        ingested.report(n);
        ratios.push(ratio);
        last = Some(ingested);
        before = after;
    }
    if rounds > 1 {
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "  (c) against (a), round by round: {}; median {:.2}x",
            ratios
                .iter()
                .map(|r| format!("{r:.2}x"))
                .collect::<Vec<_>>()
                .join(", "),
            median_of(&sorted)
        );
    }
    let Ingested {
        child,
        client,
        http,
        admin,
        db,
        ..
    } = last.expect("at least one round");

    // (d)
    if std::env::var("BENCH_DASHBOARDS").is_ok_and(|v| v == "0") {
        return;
    }
    let from = (now - chrono::Duration::hours(HOURS + 1)).to_rfc3339();
    let from_time = now - chrono::Duration::hours(HOURS + 1);
    let b = db.get_database_backend();
    // The last 24 hours (a window that cuts through the events), and a /16 of the scanners.
    let day_time = now - chrono::Duration::hours(24);
    let day = day_time.to_rfc3339();
    let raw = |sqls: &'static [&'static str], since: DateTime<Utc>| {
        let db = db.clone();
        async move {
            for sql in sqls {
                db.query_all_raw(Statement::from_sql_and_values(b, *sql, [since.into()]))
                    .await
                    .unwrap();
            }
        }
    };
    let dash = |query: &'static str| {
        let (client, http, admin, from, day) = (
            client.clone(),
            http.clone(),
            admin.clone(),
            from.clone(),
            day.clone(),
        );
        async move {
            let answer = gql(
                &client,
                &http,
                &admin,
                query,
                json!({ "from": from, "day": day }),
            )
            .await;
            assert!(answer.is_object(), "{answer}");
        }
    };
    // (name, GraphQL, the raw statements giving the same answer, whether they read the last day)
    type Pair = (&'static str, &'static str, &'static [&'static str], bool);
    let pairs: [Pair; 9] = [
        (
            "top ports",
            "query($from: DateTime) { darknetTopPorts(from: $from) { ports { port events } } }",
            &[
                "SELECT protocol, dst_port, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY protocol, dst_port ORDER BY n DESC LIMIT 10",
            ],
            false,
        ),
        (
            "top countries",
            "query($from: DateTime) { darknetTopCountries(from: $from) { countries { country events } } }",
            &[
                "SELECT country, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY country ORDER BY n DESC LIMIT 10",
            ],
            false,
        ),
        (
            "top sources",
            "query($from: DateTime) { darknetTopSources(from: $from) { sources { address events } } }",
            &[
                "SELECT src, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY src ORDER BY n DESC LIMIT 10",
            ],
            false,
        ),
        (
            "top sources, last day",
            "query($day: DateTime) { darknetTopSources(from: $day) { sources { address events } } }",
            &[
                "SELECT src, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY src ORDER BY n DESC LIMIT 10",
            ],
            true,
        ),
        (
            "top sources in a /16",
            "query($from: DateTime) { darknetTopSources(from: $from, within: \"11.7.0.0/16\") { total sources { address events } } }",
            &[
                "SELECT src, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? AND src >= X'00000000000000000000ffff0b070000' AND src <= X'00000000000000000000ffff0b07ffff' GROUP BY src ORDER BY n DESC LIMIT 10",
            ],
            false,
        ),
        (
            "hourly series by port",
            "query($from: DateTime) { darknetTimeSeries(from: $from, groupBy: PORT, limit: 10) { series { label total } } }",
            &[
                "SELECT hour, protocol, dst_port, COUNT(*) FROM darknet_event WHERE seen_at >= ? GROUP BY hour, protocol, dst_port",
            ],
            false,
        ),
        (
            "daily series by country",
            "query($from: DateTime) { darknetTimeSeries(from: $from, bucket: DAY, groupBy: COUNTRY, limit: 10) { series { label total } } }",
            &[
                "SELECT hour - hour % 24, country, COUNT(*) FROM darknet_event WHERE seen_at >= ? GROUP BY hour - hour % 24, country",
            ],
            false,
        ),
        (
            "shares by protocol",
            "query($from: DateTime) { darknetShares(field: PROTOCOL, from: $from) { total values { value events } } }",
            &[
                "SELECT protocol, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY protocol ORDER BY n DESC LIMIT 10",
            ],
            false,
        ),
        (
            "24-hour snapshot",
            "{ darknetSnapshot { events distinctSources hourly { events } topPorts { port } topCountries { country } topSources { address } } }",
            &[
                "SELECT COUNT(*), COUNT(DISTINCT src) FROM darknet_event WHERE seen_at >= ?",
                "SELECT hour, COUNT(*) FROM darknet_event WHERE seen_at >= ? GROUP BY hour",
                "SELECT protocol, dst_port, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY protocol, dst_port ORDER BY n DESC LIMIT 10",
                "SELECT country, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY country ORDER BY n DESC LIMIT 10",
                "SELECT src, COUNT(*) AS n FROM darknet_event WHERE seen_at >= ? GROUP BY src ORDER BY n DESC LIMIT 10",
            ],
            true,
        ),
    ];
    println!("  (d) dashboards on {n} events: roll-ups through GraphQL vs a raw GROUP BY");
    for (name, query, sqls, last_day) in pairs {
        let since = if last_day { day_time } else { from_time };
        let fast = median(5, || dash(query)).await;
        let slow = median(3, || raw(sqls, since)).await;
        println!(
            "      {name:<24} {:>8.1} ms vs {:>9.1} ms = {:>6.0}x",
            fast.as_secs_f64() * 1000.0,
            slow.as_secs_f64() * 1000.0,
            slow.as_secs_f64() / fast.as_secs_f64()
        );
    }
    drop(child);
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
