//! The one path from nmap XML to the inventory, shared by scan runs, the upload mutation, the
//! streaming endpoint and `hector import nmap`: a reader thread parses hosts from any byte
//! source and hands them over in batches through a small channel (so memory is bounded by a
//! few batches, not the file), and each batch commits in its own transaction with its events.
//! A bad host is reported with its line and the rest go on; malformed XML ends the reading
//! after every complete host before it, all of them committed.

use std::io::{BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DatabaseConnection;

use super::parse::{Item, NmapReader, RunInfo};
use super::service;
use crate::actor::Identity;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::host::service::exposure::{self, ScanBatch, ScannedHost, ScannedOs, ScannedPort};
pub use crate::host::service::{Recorder, recorder_for};

/// Most hosts, and most ports, committed in one transaction.
const BATCH_HOSTS: usize = 1000;
const BATCH_PORTS: usize = 25_000;
/// Most rejected hosts listed one by one in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

/// A host, or the reading, that was refused: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What an import or a run's results did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub run_id: i64,
    /// Hosts that were up and are recorded.
    pub hosts: u64,
    /// Hosts nmap listed as down (nothing to record).
    pub hosts_down: u64,
    pub hosts_created: u64,
    pub ports: u64,
    pub changes: u64,
    /// Vulnerability findings of nmap's `vulners`/`vuln` scripts, recorded as a finding
    /// import of kind `NMAP`.
    pub findings: u64,
    pub rejected_count: u64,
    /// The first [`MAX_LISTED`] rejected hosts.
    pub rejected: Vec<Rejection>,
    /// Where the reading stopped early, if it did.
    pub stopped: Option<Rejection>,
}

enum Message {
    Batch {
        run: Arc<RunInfo>,
        hosts: Vec<(u64, ScannedHost)>,
        rejected: Vec<Rejection>,
        down: u64,
    },
    Stopped(Rejection),
}

fn to_scanned(h: super::parse::Host) -> ScannedHost {
    ScannedHost {
        address: h.address,
        hostnames: h.hostnames,
        os: h.os.map(|o| ScannedOs {
            name: o.name,
            family: o.family,
            vendor: o.vendor,
            kind: o.kind,
        }),
        ports: h
            .ports
            .into_iter()
            .filter_map(|p| {
                Some(ScannedPort {
                    protocol: p.protocol?.as_str(),
                    port: p.number,
                    state: p.state?.as_str(),
                    name: p.service,
                    product: p.product,
                    version: p.version,
                    extra_info: p.extra_info,
                    cpe: p.cpe,
                    scripts: p.scripts,
                })
            })
            .collect(),
    }
}

/// Counts the bytes read through it (for progress bars).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The parsing side, on a blocking thread.
fn read_hosts<R: Read>(input: R, tx: tokio::sync::mpsc::Sender<Message>) {
    let mut reader = NmapReader::new(BufReader::with_capacity(64 * 1024, input));
    let mut hosts: Vec<(u64, ScannedHost)> = Vec::new();
    let mut rejected = Vec::new();
    let mut down = 0;
    let mut ports = 0;
    let mut run: Option<Arc<RunInfo>> = None;
    loop {
        let item = reader.next_item();
        let run_info = run
            .get_or_insert_with(|| Arc::new(reader.run.clone()))
            .clone();
        let last = item.is_none() || matches!(item, Some(Item::Fatal { .. }));
        let mut stopped = None;
        match item {
            Some(Item::Host(h)) => {
                ports += h.ports.len();
                hosts.push((h.line, to_scanned(h)));
            }
            Some(Item::Down { .. }) => down += 1,
            Some(Item::Rejected { line, reason }) => rejected.push(Rejection { line, reason }),
            Some(Item::Fatal { line, reason }) => stopped = Some(Rejection { line, reason }),
            None => {}
        }
        if last || hosts.len() >= BATCH_HOSTS || ports >= BATCH_PORTS {
            let batch = Message::Batch {
                run: run_info,
                hosts: std::mem::take(&mut hosts),
                rejected: std::mem::take(&mut rejected),
                down: std::mem::take(&mut down),
            };
            ports = 0;
            if tx.blocking_send(batch).is_err() {
                return;
            }
        }
        if last {
            if let Some(stopped) = stopped {
                let _ = tx.blocking_send(Message::Stopped(stopped));
            }
            return;
        }
    }
}

fn seconds(at: Option<i64>) -> Option<DateTime<Utc>> {
    at.and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// Reads nmap XML from `input` and records it as run `run_id`, batch by batch. `read` counts
/// the bytes consumed, for progress.
pub async fn ingest<R: Read + Send + 'static>(
    db: &DatabaseConnection,
    run_id: i64,
    input: R,
    recorder: &Recorder,
    read: Option<Arc<AtomicU64>>,
) -> AppResult<Report> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let counted = Counting {
        inner: input,
        read: read.unwrap_or_default(),
    };
    let reader = tokio::task::spawn_blocking(move || read_hosts(counted, tx));
    let mut report = Report {
        run_id,
        ..Default::default()
    };
    let started = db::now();
    let mut scripts = crate::vuln::ingest::ScanFindings::default();
    while let Some(message) = rx.recv().await {
        let (run, hosts, rejected, down) = match message {
            Message::Batch {
                run,
                hosts,
                rejected,
                down,
            } => (run, hosts, rejected, down),
            Message::Stopped(r) => {
                report.stopped = Some(r);
                continue;
            }
        };
        report.hosts_down += down;
        for r in rejected {
            report.rejected_count += 1;
            if report.rejected.len() < MAX_LISTED {
                report.rejected.push(r);
            }
        }
        if hosts.is_empty() {
            continue;
        }
        let at = seconds(run.started).unwrap_or(started);
        let lines: Vec<u64> = hosts.iter().map(|(l, _)| *l).collect();
        let hosts: Arc<Vec<ScannedHost>> = Arc::new(hosts.into_iter().map(|(_, h)| h).collect());
        let found = Arc::new(crate::vuln::ingest::script_findings(&hosts));
        let import_id = if found.0.is_empty() && found.1.is_empty() {
            None
        } else {
            Some(scripts.import_for(db, run_id).await?)
        };
        let recorder = recorder.clone();
        let (outcome, findings) = db::write(db, move |txn| {
            let (hosts, run, recorder, found) =
                (hosts.clone(), run.clone(), recorder.clone(), found.clone());
            Box::pin(async move {
                let probed = move |protocol: &str, port: u16| {
                    super::parse::Protocol::parse(protocol).is_some_and(|p| run.probed(p, port))
                };
                let outcome = exposure::record_scan_batch(
                    txn,
                    ScanBatch {
                        run_id,
                        at,
                        hosts: &hosts,
                        probed: &probed,
                        scope: &recorder.scope,
                        new_host_group: recorder.new_host_group,
                    },
                )
                .await?;
                let accepted = hosts.len() - outcome.refused.len();
                service::add_progress(txn, run_id, accepted as u64, outcome.ports).await?;
                let findings = match import_id {
                    Some(id) => {
                        crate::vuln::ingest::record_script_findings(
                            txn,
                            id,
                            at,
                            &found,
                            &recorder.scope,
                            recorder.new_host_group,
                        )
                        .await?
                    }
                    None => 0,
                };
                Ok((outcome, findings))
            })
        })
        .await?;
        report.findings += findings;
        report.hosts += (lines.len() - outcome.refused.len()) as u64;
        report.hosts_created += outcome.hosts_created;
        report.ports += outcome.ports;
        report.changes += outcome.changes;
        for (i, reason) in outcome.refused {
            report.rejected_count += 1;
            if report.rejected.len() < MAX_LISTED {
                report.rejected.push(Rejection {
                    line: lines.get(i).copied().unwrap_or_default(),
                    reason,
                });
            }
        }
    }
    reader.await.map_err(AppError::internal)?;
    scripts.finish(db, report.stopped.is_none()).await?;
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// Imports nmap XML from `input` as `who`: a run of origin `IMPORT`, its results, its end.
pub async fn import<R: std::io::Read + Send + 'static>(
    st: &crate::state::AppState,
    who: &Identity,
    recorder: &Recorder,
    input: R,
    read: Option<Arc<std::sync::atomic::AtomicU64>>,
) -> AppResult<(entity::scan_run::Model, Report)> {
    if let Some(group) = recorder.new_host_group {
        crate::host::catalog::require_all::<entity::support_group::Entity>(&st.db, &[group])
            .await?;
    }
    let instance = st.instance.clone();
    let who2 = who.clone();
    let run = db::write(&st.db, move |txn| {
        let (who, instance) = (who2.clone(), instance.clone());
        Box::pin(async move { service::start_import(txn, &who, &instance).await })
    })
    .await?;
    let run_id = run.id;
    let outcome = ingest(&st.db, run_id, input, recorder, read).await;
    let end = match &outcome {
        Ok(r) => service::RunEnd {
            failed: r
                .stopped
                .as_ref()
                .map(|s| format!("the file is unreadable from line {}: {}", s.line, s.reason)),
            ..Default::default()
        },
        Err(e) => service::RunEnd {
            failed: Some(format!("internal error: {}", e.message())),
            ..Default::default()
        },
    };
    db::write(&st.db, move |txn| {
        let end = end.clone();
        Box::pin(async move { service::finish_run(txn, run_id, end).await })
    })
    .await?;
    let report = outcome?;
    let run = service::get_run(&st.db, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("scan run"))?;
    Ok((run, report))
}
