//! `hector import KIND FILE`: files read through the same paths as uploads and ingest, with a
//! progress bar on a terminal.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::ImportCommand;
use crate::darknet::ingest::{self, Format};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A bar on standard error (when it is a terminal) showing `read` of `size` bytes, until the
/// returned token is cancelled; await the handle to let it finish its line.
fn progress(
    size: u64,
    read: Arc<AtomicU64>,
) -> (CancellationToken, Option<tokio::task::JoinHandle<()>>) {
    let done = CancellationToken::new();
    let bar = std::io::stderr().is_terminal().then(|| {
        let done = done.clone();
        tokio::spawn(async move {
            loop {
                let n = read.load(Ordering::Relaxed);
                let share = if size == 0 {
                    1.0
                } else {
                    n as f64 / size as f64
                };
                let filled = ((share * 30.0).round() as usize).min(30);
                let _ = write!(
                    std::io::stderr(),
                    "\r[{}{}] {:>3.0}% {:.1} of {:.1} MiB",
                    "#".repeat(filled),
                    "-".repeat(30 - filled),
                    share * 100.0,
                    n as f64 / 1048576.0,
                    size as f64 / 1048576.0
                );
                tokio::select! {
                    () = done.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            let _ = writeln!(std::io::stderr());
        })
    });
    (done, bar)
}

fn open(file: &std::path::Path) -> AppResult<(std::fs::File, u64)> {
    let input = std::fs::File::open(file)
        .map_err(|e| AppError::bad_input(format!("cannot open {}: {e}", file.display())))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((input, size))
}

/// Runs an import command; `say` prints a line of its report.
pub async fn run(state: &AppState, cmd: ImportCommand, say: fn(&str)) -> AppResult<()> {
    match cmd {
        ImportCommand::Nmap {
            file,
            support_group,
        } => nmap(state, &file, support_group, say).await,
        ImportCommand::Iptables {
            file,
            sensor,
            ndjson,
        } => {
            let format = if ndjson {
                Format::Ndjson
            } else {
                Format::Syslog
            };
            darknet(state, &file, &sensor, format, say).await
        }
        ImportCommand::Openvas {
            file,
            support_group,
        } => findings(state, crate::vuln::Kind::OpenVas, &file, support_group, say).await,
        ImportCommand::Nessus {
            file,
            support_group,
        } => findings(state, crate::vuln::Kind::Nessus, &file, support_group, say).await,
        ImportCommand::NessusCsv {
            file,
            support_group,
        } => {
            findings(
                state,
                crate::vuln::Kind::NessusCsv,
                &file,
                support_group,
                say,
            )
            .await
        }
        ImportCommand::NmapVulns {
            file,
            support_group,
        } => findings(state, crate::vuln::Kind::Nmap, &file, support_group, say).await,
    }
}

/// Imports a scanner report as findings.
async fn findings(
    state: &AppState,
    kind: crate::vuln::Kind,
    file: &std::path::Path,
    support_group: Option<i64>,
    say: fn(&str),
) -> AppResult<()> {
    let (input, size) = open(file)?;
    let read = Arc::new(AtomicU64::new(0));
    let (done, bar) = progress(size, read.clone());
    let recorder = crate::vuln::ingest::Recorder {
        scope: crate::actor::HostScope::All,
        new_host_group: support_group,
    };
    let outcome = crate::vuln::ingest::import(
        state,
        &crate::actor::Identity::Anonymous,
        kind,
        &recorder,
        input,
        Some(read),
    )
    .await;
    done.cancel();
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    let (row, report) = outcome?;
    say(&format!(
        "import {}: {} hosts, {} findings ({} new, {} reopened), {} fixed, {} skipped, {} refused",
        row.id,
        report.hosts,
        report.findings,
        report.new,
        report.reopened,
        report.fixed,
        report.skipped_count,
        report.rejected_count
    ));
    for r in &report.rejected {
        say(&format!("line {}: refused: {}", r.line, r.reason));
    }
    if let Some(s) = &report.stopped {
        say(&format!("line {}: reading stopped: {}", s.line, s.reason));
        return Err(AppError::bad_input(
            "the file is not a complete report; every complete finding before the error is \
             recorded, and nothing was marked fixed",
        ));
    }
    Ok(())
}

async fn nmap(
    state: &AppState,
    file: &std::path::Path,
    support_group: Option<i64>,
    say: fn(&str),
) -> AppResult<()> {
    let (input, size) = open(file)?;
    let read = Arc::new(AtomicU64::new(0));
    let (done, bar) = progress(size, read.clone());
    let recorder = crate::scan::ingest::Recorder {
        scope: crate::actor::HostScope::All,
        new_host_group: support_group,
    };
    let outcome = crate::scan::ingest::import(
        state,
        &crate::actor::Identity::Anonymous,
        &recorder,
        input,
        Some(read),
    )
    .await;
    done.cancel();
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    let (run, report) = outcome?;
    say(&format!(
        "run {}: {} hosts recorded ({} new, {} down), {} ports, {} exposure changes, {} hosts refused",
        run.id,
        report.hosts,
        report.hosts_created,
        report.hosts_down,
        report.ports,
        report.changes,
        report.rejected_count
    ));
    for r in &report.rejected {
        say(&format!("line {}: refused: {}", r.line, r.reason));
    }
    if let Some(s) = &report.stopped {
        say(&format!("line {}: reading stopped: {}", s.line, s.reason));
        return Err(AppError::bad_input(
            "the file is not complete nmap XML; every complete host before the error is recorded",
        ));
    }
    Ok(())
}

/// Bytes of a file read and committed as one batch.
const CHUNK: usize = 4 * 1024 * 1024;

/// Imports a file of sensor lines in batches of whole lines. Each batch's idempotency key is
/// the hash of its bytes and position, so importing the same file again adds nothing.
async fn darknet(
    state: &AppState,
    file: &std::path::Path,
    sensor_name: &str,
    format: Format,
    say: fn(&str),
) -> AppResult<()> {
    let sensor = crate::darknet::sensor::by_name(&state.db, sensor_name)
        .await?
        .ok_or_else(|| AppError::bad_input(format!("there is no sensor named {sensor_name:?}")))?;
    let (mut input, size) = open(file)?;
    let read = Arc::new(AtomicU64::new(0));
    let (done, bar) = progress(size, read.clone());
    let mut totals = (0u64, 0u64, 0u64, 0u64);
    let mut listed = Vec::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut first_line = 1u64;
    let outcome: AppResult<()> = async {
        loop {
            let mut chunk = std::mem::take(&mut carry);
            let start = chunk.len();
            chunk.resize(start + CHUNK, 0);
            let n = input
                .read(&mut chunk[start..])
                .map_err(|e| AppError::bad_input(format!("cannot read {}: {e}", file.display())))?;
            chunk.truncate(start + n);
            let end = n == 0;
            if !end {
                // Keep a partial last line for the next chunk (unless one line fills it all).
                if let Some(cut) = chunk.iter().rposition(|b| *b == b'\n')
                    && cut + 1 < chunk.len()
                {
                    carry = chunk.split_off(cut + 1);
                }
            }
            if chunk.is_empty() {
                break;
            }
            let lines = chunk.iter().filter(|b| **b == b'\n').count() as u64
                + u64::from(chunk.last() != Some(&b'\n'));
            let key = format!(
                "file:{}:{}",
                first_line,
                &crate::auth::service::sha256_hex(&String::from_utf8_lossy(&chunk))[..32]
            );
            let parsed = ingest::read(&chunk, format, first_line, crate::db::now());
            let backend = sea_orm::ConnectionTrait::get_database_backend(&state.db);
            let batch = Arc::new(ingest::prepare(parsed, &state.geoip, sensor.id, backend));
            let report = ingest::ingest(&state.db, sensor.id, Some(key), &batch).await?;
            totals.0 += report.accepted;
            totals.1 += report.skipped;
            totals.2 += report.rejected_count;
            totals.3 += u64::from(report.replayed) * report.accepted;
            listed.extend(
                report
                    .rejected
                    .into_iter()
                    .take(ingest::MAX_LISTED.saturating_sub(listed.len())),
            );
            read.fetch_add(n as u64, Ordering::Relaxed);
            first_line += lines;
            if end {
                break;
            }
        }
        Ok(())
    }
    .await;
    done.cancel();
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    outcome?;
    // Leave the per-source roll-ups whole rather than to the next server's folder.
    crate::darknet::fold::fold_all(&state.db).await?;
    say(&format!(
        "sensor {}: {} events accepted ({} of them imported before), {} lines skipped, {} lines rejected",
        sensor.name, totals.0, totals.3, totals.1, totals.2
    ));
    for r in &listed {
        say(&format!("line {}: rejected: {}", r.line, r.reason));
    }
    Ok(())
}
