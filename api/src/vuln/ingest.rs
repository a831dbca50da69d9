//! The one path from a scanner report to findings, shared by the upload mutation, the
//! streaming endpoint, `hector import KIND FILE` and scan runs: a reader thread parses items
//! from any byte source and hands them over in batches through a small channel (memory is
//! bounded by a few batches, not the file), and each batch commits in its own transaction with
//! one event per kind of change. A bad item is reported with its line and the rest go on;
//! malformed input ends the reading after every complete item before it, all committed.
//!
//! When the reading reached the end, the open findings of the hosts the report covered that
//! it no longer lists (checks of the same scanner only) become fixed, in batches. A report
//! that stopped early fixes nothing: its missing findings may be in the part never read.

use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::DatabaseConnection;

use super::parse::{self, Finding, Item, Risk};
use super::store::{self, Batch, Progress};
use super::{Kind, Source};
use crate::actor::{HostScope, Identity};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::host::service::Intake;
pub use crate::host::service::{Recorder, recorder_for};

/// Most findings committed in one transaction.
const BATCH_FINDINGS: usize = 500;
/// Most findings fixed in one transaction.
const FIX_BATCH: u64 = 1000;
/// Most rejected or skipped items listed one by one in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

/// An item that was refused or left out, or where the reading stopped: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub import_id: i64,
    /// Hosts the report covered.
    pub hosts: u64,
    /// Findings recorded (new, seen again or reopened).
    pub findings: u64,
    pub new: u64,
    pub reopened: u64,
    /// Open findings of the covered hosts the report no longer lists.
    pub fixed: u64,
    pub skipped_count: u64,
    /// The first [`MAX_LISTED`] items left out on purpose.
    pub skipped: Vec<Rejection>,
    pub rejected_count: u64,
    /// The first [`MAX_LISTED`] items refused.
    pub rejected: Vec<Rejection>,
    /// Where the reading stopped early, if it did.
    pub stopped: Option<Rejection>,
}

#[derive(Default)]
struct Chunk {
    findings: Vec<(u64, Finding)>,
    /// Hosts the report covered in this chunk (also those without findings).
    covered: Vec<IpAddr>,
    skipped: Vec<Rejection>,
    rejected: Vec<Rejection>,
}

enum Message {
    Chunk(Chunk),
    Stopped(Rejection),
}

/// The items of a report of `kind`.
fn items<R: Read + Send + 'static>(kind: Kind, input: R) -> Box<dyn Iterator<Item = Item> + Send> {
    let input = BufReader::with_capacity(64 * 1024, input);
    match kind {
        Kind::OpenVas => Box::new(parse::openvas::OpenVasReader::new(input)),
        Kind::Nessus => Box::new(parse::nessus::NessusReader::new(input)),
        Kind::NessusCsv => Box::new(parse::nessus_csv::NessusCsvReader::new(input)),
        Kind::Nmap => Box::new(nmap_items(input)),
    }
}

/// The findings of the `vulners` and `vuln` scripts in nmap XML, with every host that was up
/// as covered.
fn nmap_items<R: std::io::BufRead + Send + 'static>(input: R) -> impl Iterator<Item = Item> + Send {
    use crate::nmap_xml::{Item as Nmap, NmapReader};
    let mut reader = NmapReader::new(input);
    std::iter::from_fn(move || reader.next_item()).flat_map(|item| match item {
        Nmap::Host(h) => {
            let host = h.address.to_string();
            let mut out = vec![Item::Host {
                at: h.line,
                host: host.clone(),
                address: Some(h.address),
            }];
            for p in &h.ports {
                let target = parse::nmap_scripts::Target {
                    host: &host,
                    port: Some(p.number),
                    protocol: p.protocol.map(|p| p.as_str()),
                    service: p.service.as_deref(),
                };
                for (id, output) in &p.scripts {
                    out.extend(
                        parse::nmap_scripts::findings(&target, id, output)
                            .into_iter()
                            .map(|mut f| {
                                f.address = Some(h.address);
                                f.line = h.line;
                                Item::Finding(Box::new(f))
                            }),
                    );
                }
            }
            out
        }
        Nmap::Down { .. } => Vec::new(),
        Nmap::Rejected { line, reason } => vec![Item::Rejected { at: line, reason }],
        Nmap::Fatal { line, reason } => vec![Item::Fatal { at: line, reason }],
    })
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

fn listed(list: &mut Vec<Rejection>, line: u64, reason: String) {
    if list.len() < MAX_LISTED {
        list.push(Rejection { line, reason });
    }
}

/// The parsing side, on a blocking thread: items into chunks, chunks into the channel.
fn read_items(
    items: Box<dyn Iterator<Item = Item> + Send>,
    tx: tokio::sync::mpsc::Sender<Message>,
) {
    let mut chunk = Chunk::default();
    let mut items = items;
    loop {
        let item = items.next();
        let last = item.is_none() || matches!(item, Some(Item::Fatal { .. }));
        let mut stopped = None;
        match item {
            Some(Item::Finding(f)) if f.risk == Risk::None => {
                chunk.covered.extend(f.address);
                chunk.skipped.push(Rejection {
                    line: f.line,
                    reason: "informational (risk None)".into(),
                });
            }
            Some(Item::Finding(f)) => {
                chunk.covered.extend(f.address);
                chunk.findings.push((f.line, *f));
            }
            Some(Item::Host { address, .. }) => chunk.covered.extend(address),
            Some(Item::Skipped { at, reason, host }) => {
                chunk
                    .covered
                    .extend(host.and_then(|h| h.trim().parse::<IpAddr>().ok()));
                chunk.skipped.push(Rejection { line: at, reason });
            }
            Some(Item::Rejected { at, reason }) => {
                chunk.rejected.push(Rejection { line: at, reason })
            }
            Some(Item::Fatal { at, reason }) => stopped = Some(Rejection { line: at, reason }),
            None => {}
        }
        let full = last
            || chunk.findings.len() >= BATCH_FINDINGS
            || chunk.covered.len() >= 4 * BATCH_FINDINGS;
        if full
            && tx
                .blocking_send(Message::Chunk(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
        if last {
            if let Some(stopped) = stopped {
                let _ = tx.blocking_send(Message::Stopped(stopped));
            }
            return;
        }
    }
}

/// Reads a report of `kind` from `input` and records it as import `import_id`, batch by
/// batch, then fixes what the covered hosts no longer report. `read` counts the bytes
/// consumed, for progress.
pub async fn ingest<R: Read + Send + 'static>(
    db: &DatabaseConnection,
    import_id: i64,
    kind: Kind,
    input: R,
    recorder: &Recorder,
    read: Option<Arc<AtomicU64>>,
) -> AppResult<Report> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let counted = Counting {
        inner: input,
        read: read.unwrap_or_default(),
    };
    let reader = tokio::task::spawn_blocking(move || read_items(items(kind, counted), tx));
    let mut report = Report {
        import_id,
        ..Default::default()
    };
    let at = db::now();
    let source = kind.source();
    while let Some(message) = rx.recv().await {
        let chunk = match message {
            Message::Chunk(c) => c,
            Message::Stopped(r) => {
                report.stopped = Some(r);
                continue;
            }
        };
        let progress = Progress {
            skipped: chunk.skipped.len() as u64,
            rejected: chunk.rejected.len() as u64,
            ..Default::default()
        };
        for r in chunk.skipped {
            report.skipped_count += 1;
            listed(&mut report.skipped, r.line, r.reason);
        }
        for r in chunk.rejected {
            report.rejected_count += 1;
            listed(&mut report.rejected, r.line, r.reason);
        }
        let lines: Vec<u64> = chunk.findings.iter().map(|(l, _)| *l).collect();
        let findings: Arc<Vec<Finding>> =
            Arc::new(chunk.findings.into_iter().map(|(_, f)| f).collect());
        let covered = Arc::new(chunk.covered);
        let recorder = recorder.clone();
        let outcome = db::write(db, move |txn| {
            let (findings, covered, recorder) =
                (findings.clone(), covered.clone(), recorder.clone());
            Box::pin(async move {
                let outcome = store::record_batch(
                    txn,
                    Batch {
                        import_id,
                        source,
                        at,
                        findings: &findings,
                        covered: &covered,
                        intake: Intake {
                            scope: &recorder.scope,
                            new_host_group: recorder.new_host_group,
                            at,
                        },
                    },
                )
                .await?;
                store::add_progress(
                    txn,
                    import_id,
                    Progress {
                        hosts: outcome.hosts,
                        findings: outcome.findings,
                        new: outcome.new,
                        reopened: outcome.reopened,
                        rejected: progress.rejected + outcome.refused.len() as u64,
                        ..progress
                    },
                )
                .await?;
                Ok(outcome)
            })
        })
        .await?;
        report.hosts += outcome.hosts;
        report.findings += outcome.findings;
        report.new += outcome.new;
        report.reopened += outcome.reopened;
        for (i, reason) in outcome.refused {
            report.rejected_count += 1;
            listed(
                &mut report.rejected,
                lines.get(i).copied().unwrap_or_default(),
                reason,
            );
        }
    }
    reader.await.map_err(AppError::internal)?;
    if report.stopped.is_none() {
        report.fixed = fix_absent(db, import_id, source).await?;
    }
    report.rejected.sort_by_key(|r| r.line);
    report.skipped.sort_by_key(|r| r.line);
    Ok(report)
}

/// Fixes, in batches, the open findings the import's hosts no longer report.
async fn fix_absent(db: &DatabaseConnection, import_id: i64, source: Source) -> AppResult<u64> {
    let mut fixed = 0;
    loop {
        let n = db::write(db, move |txn| {
            Box::pin(async move {
                let ids = store::absent(txn, import_id, source, FIX_BATCH).await?;
                store::fix(txn, import_id, &ids).await?;
                store::add_progress(
                    txn,
                    import_id,
                    Progress {
                        fixed: ids.len() as u64,
                        ..Default::default()
                    },
                )
                .await?;
                Ok(ids.len() as u64)
            })
        })
        .await?;
        fixed += n;
        if n < FIX_BATCH {
            return Ok(fixed);
        }
    }
}

/// Imports a report of `kind` from `input` as `who`: the import's row, its findings, its end.
pub async fn import<R: Read + Send + 'static>(
    st: &crate::state::AppState,
    who: &Identity,
    kind: Kind,
    recorder: &Recorder,
    input: R,
    read: Option<Arc<AtomicU64>>,
) -> AppResult<(entity::finding_import::Model, Report)> {
    if let Some(group) = recorder.new_host_group {
        crate::host::catalog::require_all::<entity::support_group::Entity>(&st.db, &[group])
            .await?;
    }
    let (user_id, by) = (
        who.principal().map(|p| p.user_id),
        who.display_name().to_owned(),
    );
    let started = db::write(&st.db, move |txn| {
        let by = by.clone();
        Box::pin(async move { store::start_import(txn, kind, user_id, &by).await })
    })
    .await?;
    let import_id = started.id;
    let outcome = ingest(&st.db, import_id, kind, input, recorder, read).await;
    let error = match &outcome {
        Ok(r) => r.stopped.as_ref().map(|s| {
            format!(
                "the file is unreadable from line {}: {}; nothing was marked fixed",
                s.line, s.reason
            )
        }),
        Err(AppError::Internal(_)) => {
            Some("internal error; the server's log has the details".into())
        }
        Err(e) => Some(e.message()),
    };
    db::write(&st.db, move |txn| {
        let error = error.clone();
        Box::pin(async move { store::finish_import(txn, import_id, error).await })
    })
    .await?;
    let report = outcome?;
    let row = super::read::import(&st.db, import_id)
        .await?
        .ok_or_else(|| AppError::not_found("finding import"))?;
    Ok((row, report))
}

/// The findings of nmap's vulnerability scripts in a batch of scan results, and the hosts
/// those scripts ran on (whose findings of this kind they stand for).
pub fn script_findings(
    hosts: &[crate::host::service::exposure::ScannedHost],
) -> (Vec<Finding>, Vec<IpAddr>) {
    let mut findings = Vec::new();
    let mut covered = Vec::new();
    for h in hosts {
        let host = h.address.to_string();
        let mut ran = false;
        for p in &h.ports {
            let target = parse::nmap_scripts::Target {
                host: &host,
                port: Some(p.port),
                protocol: Some(p.protocol),
                service: p.name.as_deref(),
            };
            for (id, output) in &p.scripts {
                ran |= parse::nmap_scripts::is_vuln_script(id);
                findings.extend(
                    parse::nmap_scripts::findings(&target, id, output)
                        .into_iter()
                        .filter(|f| f.risk != Risk::None)
                        .map(|mut f| {
                            f.address = Some(h.address);
                            f
                        }),
                );
            }
        }
        if ran {
            covered.push(h.address);
        }
    }
    (findings, covered)
}

/// Scan results' findings, recorded through the same store as imports: one import of kind
/// `NMAP` per scan run that reported any, started on the first such batch.
#[derive(Debug, Default)]
pub struct ScanFindings {
    pub import_id: Option<i64>,
    pub findings: u64,
}

impl ScanFindings {
    /// The import to record a batch's script findings of scan run `run_id` in, started now
    /// if it is the first.
    pub async fn import_for(&mut self, db: &DatabaseConnection, run_id: i64) -> AppResult<i64> {
        if let Some(id) = self.import_id {
            return Ok(id);
        }
        let by = format!("scan run {run_id}");
        let row = db::write(db, move |txn| {
            let by = by.clone();
            Box::pin(async move { store::start_import(txn, Kind::Nmap, None, &by).await })
        })
        .await?;
        self.import_id = Some(row.id);
        Ok(row.id)
    }

    /// Ends the import (if one started): fixes what the scanned hosts no longer report when
    /// the results were read to the end.
    pub async fn finish(&self, db: &DatabaseConnection, complete: bool) -> AppResult<()> {
        let Some(import_id) = self.import_id else {
            return Ok(());
        };
        if complete {
            fix_absent(db, import_id, Source::Nmap).await?;
        }
        let error = (!complete)
            .then(|| "the scan results are incomplete; nothing was marked fixed".to_owned());
        db::write(db, move |txn| {
            let error = error.clone();
            Box::pin(async move { store::finish_import(txn, import_id, error).await })
        })
        .await
    }
}

/// Records script findings of a batch of scan results in import `import_id`, in the scan
/// batch's transaction; the number recorded.
pub async fn record_script_findings(
    txn: &impl sea_orm::ConnectionTrait,
    import_id: i64,
    at: chrono::DateTime<chrono::Utc>,
    found: &(Vec<Finding>, Vec<IpAddr>),
    scope: &HostScope,
    new_host_group: Option<i64>,
) -> AppResult<u64> {
    let outcome = store::record_batch(
        txn,
        Batch {
            import_id,
            source: Source::Nmap,
            at,
            findings: &found.0,
            covered: &found.1,
            intake: Intake {
                scope,
                new_host_group,
                at,
            },
        },
    )
    .await?;
    store::add_progress(
        txn,
        import_id,
        Progress {
            hosts: outcome.hosts,
            findings: outcome.findings,
            new: outcome.new,
            reopened: outcome.reopened,
            rejected: outcome.refused.len() as u64,
            ..Default::default()
        },
    )
    .await?;
    Ok(outcome.findings)
}
