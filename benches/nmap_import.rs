//! Import of nmap XML, side by side in one run with what bounds it:
//!
//! - (a) parsing alone: the streaming reader over the file, nothing written;
//! - (b) a bulk insert of the same rows built in memory (hosts, services, observations and
//!   exposure changes), multi-row `INSERT`s in one transaction;
//! - the import itself, through the same path as a scan (`api::scan::ingest::import`);
//!
//! and the peak resident memory of `hector import nmap` on the file and on a file ten times
//! larger (memory must not grow with the file: it is bounded by a few batches of hosts).
//!
//! `cargo bench --bench nmap_import` (SQLite in a temp dir), or with
//! `BENCH_DATABASE_URL=mysql://root@127.0.0.1:3306` against MariaDB (a fresh database per
//! phase). `BENCH_HOSTS` (default 10000) and `BENCH_PORTS_PER_HOST` (default 10) size the file.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::actor::{HostScope, Identity};
use api::scan::ingest::{self, Recorder};
use api::scan::parse::{Item, NmapReader};
use chrono::{TimeZone, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const START: i64 = 1_795_600_800;

fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32 + 1))
}

/// Writes an nmap XML file of `hosts` hosts with `ports` open ports each.
fn generate(path: &Path, hosts: usize, ports: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>"
    )
    .unwrap();
    writeln!(
        out,
        "<nmaprun scanner=\"nmap\" args=\"nmap -sV -oX - 10.0.0.0/8\" start=\"{START}\" version=\"7.93\" xmloutputversion=\"1.05\">"
    )
    .unwrap();
    writeln!(
        out,
        "<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"1000\" services=\"1-1000\"/>"
    )
    .unwrap();
    for h in 0..hosts {
        writeln!(
            out,
            "<host starttime=\"{START}\" endtime=\"{START}\"><status state=\"up\" reason=\"syn-ack\" reason_ttl=\"0\"/>\n<address addr=\"{}\" addrtype=\"ipv4\"/>\n<hostnames><hostname name=\"host{h}.example.org\" type=\"PTR\"/></hostnames>\n<ports><extraports state=\"closed\" count=\"{}\"/>",
            address(h),
            1000 - ports
        )
        .unwrap();
        for p in 0..ports {
            writeln!(
                out,
                "<port protocol=\"tcp\" portid=\"{}\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/><service name=\"http\" product=\"nginx\" version=\"1.{p}.0\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:igor_sysoev:nginx:1.{p}.0</cpe></service></port>",
                1 + p * 7
            )
            .unwrap();
        }
        writeln!(out, "</ports>\n<os><osmatch name=\"Linux 5.4\" accuracy=\"98\"><osclass type=\"general purpose\" vendor=\"Linux\" osfamily=\"Linux\" osgen=\"5.X\" accuracy=\"98\"/></osmatch></os>\n</host>").unwrap();
    }
    writeln!(out, "<runstats><finished time=\"{START}\"/><hosts up=\"{hosts}\" down=\"0\" total=\"{hosts}\"/></runstats>\n</nmaprun>").unwrap();
}

fn config(url: &str) -> api::config::Config {
    let mut config = api::config::Config::from_env().unwrap();
    config.database_url = url.parse().unwrap();
    config.log = "warn".into();
    config.scheduler = false;
    config
}

/// A fresh, migrated database for one phase.
async fn fresh(base: &Option<String>, dir: &Path, phase: &str) -> (String, DatabaseConnection) {
    let url = match base {
        Some(base) => {
            let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
            let name = format!("hector_bench_import_{phase}");
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
        None => format!("sqlite://{}/{phase}.db?mode=rwc", dir.display()),
    };
    let db = api::db::connect(&config(&url)).await.unwrap();
    api::db::migrate(&db, "bench").await.unwrap();
    (url, db)
}

/// (a): the reader alone.
fn parse_only(path: &Path) -> (usize, usize) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = NmapReader::new(file);
    let (mut hosts, mut ports) = (0, 0);
    while let Some(item) = reader.next_item() {
        if let Item::Host(h) = item {
            hosts += 1;
            ports += h.ports.len();
        }
    }
    (hosts, ports)
}

/// (b): the rows the import writes, built in memory and inserted in one transaction.
async fn bulk_insert(db: &DatabaseConnection, hosts: usize, ports: usize) {
    use entity::{exposure_change, host, host_service, service_observation};
    use sea_orm::TransactionTrait;
    let at = Utc.timestamp_opt(START, 0).single().unwrap();
    let txn = db.begin().await.unwrap();
    let host_rows: Vec<host::ActiveModel> = (0..hosts)
        .map(|h| host::ActiveModel {
            id: Set(h as i64 + 1),
            address: Set(api::net::ip_key(address(h))),
            names: Set(format!("host{h}.example.org")),
            name_key: Set(format!("host{h}.example.org")),
            os_name: Set(Some("Linux 5.4".into())),
            os_family: Set(Some("Linux".into())),
            os_vendor: Set(Some("Linux".into())),
            os_type: Set(Some("general purpose".into())),
            confidential_data: Set(false),
            first_seen: Set(Some(at)),
            last_seen: Set(Some(at)),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .collect();
    for chunk in host_rows.chunks(api::db::chunk_size(15)) {
        host::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    let mut services = Vec::with_capacity(hosts * ports);
    let mut observations = Vec::with_capacity(hosts * ports);
    let mut changes = Vec::with_capacity(hosts * ports);
    for h in 0..hosts {
        for p in 0..ports {
            let id = (h * ports + p) as i64 + 1;
            services.push(host_service::ActiveModel {
                id: Set(id),
                host_id: Set(h as i64 + 1),
                protocol: Set("tcp".into()),
                port: Set(1 + p as i32 * 7),
                state: Set("open".into()),
                name: Set(Some("http".into())),
                product: Set(Some("nginx".into())),
                version: Set(Some(format!("1.{p}.0"))),
                extra_info: Set(None),
                cpe: Set(Some(format!("cpe:/a:igor_sysoev:nginx:1.{p}.0"))),
                scripts: Set(None),
                first_seen: Set(at),
                last_seen: Set(at),
                state_changed_at: Set(at),
                last_run_id: Set(Some(1)),
            });
            observations.push(service_observation::ActiveModel {
                service_id: Set(id),
                run_id: Set(1),
                observed_at: Set(at),
                state: Set("open".into()),
                name: Set(Some("http".into())),
                product: Set(Some("nginx".into())),
                version: Set(Some(format!("1.{p}.0"))),
                ..Default::default()
            });
            changes.push(exposure_change::ActiveModel {
                host_id: Set(h as i64 + 1),
                service_id: Set(id),
                run_id: Set(1),
                kind: Set("OPENED".into()),
                protocol: Set("tcp".into()),
                port: Set(1 + p as i32 * 7),
                previous: Set(None),
                current: Set(Some(format!("http nginx 1.{p}.0"))),
                at: Set(at),
                ..Default::default()
            });
        }
    }
    for chunk in services.chunks(api::db::chunk_size(15)) {
        host_service::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    for chunk in observations.chunks(api::db::chunk_size(8)) {
        service_observation::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    for chunk in changes.chunks(api::db::chunk_size(10)) {
        exposure_change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
}

/// The import, in this process, through the same path as a scan.
async fn import(url: &str, db: DatabaseConnection, path: &Path) -> ingest::Report {
    let config = config(url);
    let key = api::auth::service::signing_key(&db, &config).await.unwrap();
    let state = api::state::AppState::new(db, config, Arc::from("bench"), key);
    let recorder = Recorder {
        scope: HostScope::All,
        new_host_group: None,
    };
    let file = std::fs::File::open(path).unwrap();
    let (_, report) = ingest::import(&state, &Identity::Anonymous, &recorder, file, None)
        .await
        .unwrap();
    report
}

fn kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Peak resident memory (KiB) of `hector import nmap` on `path`, and its wall time.
fn import_process(url: &str, path: &Path) -> (u64, Duration) {
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hector"))
        .env("DATABASE_URL", url)
        .env("HECTOR_LOG", "error")
        .env_remove("HECTOR_ENV")
        .args(["import", "nmap"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && text.contains("VmHWM:")
        {
            peak = peak.max(kib(&text, "VmHWM:"));
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "hector import nmap failed");
            return (peak, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn run() {
    let hosts: usize = env_or("BENCH_HOSTS", 10_000);
    let ports: usize = env_or("BENCH_PORTS_PER_HOST", 10);
    let base = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .map(|u| u.trim_end_matches('/').to_owned());
    let backend = if base.is_some() { "mysql" } else { "sqlite" };
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.xml");
    let large = dir.path().join("large.xml");
    generate(&small, hosts, ports);
    generate(&large, hosts * 10, ports);
    let size = std::fs::metadata(&small).unwrap().len();
    let rows = hosts * ports;
    println!(
        "nmap import on {backend}: {hosts} hosts, {rows} ports ({:.1} MiB of XML)",
        size as f64 / 1048576.0
    );

    let t = Instant::now();
    let (h, p) = parse_only(&small);
    let parse = t.elapsed();
    assert_eq!((h, p), (hosts, rows));

    let (_, db) = fresh(&base, dir.path(), "bulk").await;
    let t = Instant::now();
    bulk_insert(&db, hosts, ports).await;
    let bulk = t.elapsed();
    db.close().await.unwrap();

    let (url, db) = fresh(&base, dir.path(), "import").await;
    let t = Instant::now();
    let report = import(&url, db, &small).await;
    let imported = t.elapsed();
    assert_eq!(report.hosts as usize, hosts);
    assert_eq!(report.ports as usize, rows);
    assert_eq!(report.changes as usize, rows);

    let per_s = |d: Duration| rows as f64 / d.as_secs_f64();
    println!(
        "  (a) parse alone            {:>8.2} s  {:>9.0} ports/s",
        parse.as_secs_f64(),
        per_s(parse)
    );
    println!(
        "  (b) bulk insert in memory  {:>8.2} s  {:>9.0} ports/s",
        bulk.as_secs_f64(),
        per_s(bulk)
    );
    println!(
        "  import                     {:>8.2} s  {:>9.0} ports/s  = {:.2}x of (b)",
        imported.as_secs_f64(),
        per_s(imported),
        bulk.as_secs_f64() / imported.as_secs_f64()
    );

    let (url, db) = fresh(&base, dir.path(), "mem_small").await;
    db.close().await.unwrap();
    let (small_peak, small_time) = import_process(&url, &small);
    let (url, db) = fresh(&base, dir.path(), "mem_large").await;
    db.close().await.unwrap();
    let (large_peak, large_time) = import_process(&url, &large);
    println!(
        "  peak memory of `hector import nmap`: {:.1} MiB for {rows} ports ({:.1} s), {:.1} MiB for {} ports ({:.1} s) = {:.2}x",
        small_peak as f64 / 1024.0,
        small_time.as_secs_f64(),
        large_peak as f64 / 1024.0,
        rows * 10,
        large_time.as_secs_f64(),
        large_peak as f64 / small_peak as f64
    );
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
