//! Runs scans inside the process: claims queued runs up to the concurrency cap, runs the real
//! nmap through `tokio::process` with an argument vector (targets on its standard input, never
//! a shell), renews the run's lease while it works (and stops when the run was cancelled),
//! and records the results through [`super::ingest`]. A run that fails says why; the server and
//! the scheduler carry on.

use std::process::Stdio;
use std::time::Duration;

use entity::scan_run;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ingest::{self, Recorder};
use super::profile::{self, Options};
use super::service::{self, RunEnd, Targets};
use crate::actor::HostScope;
use crate::db;
use crate::error::AppResult;
use crate::state::AppState;

/// How often a running scan renews its lease and looks for a cancellation.
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How much of nmap's standard error a run keeps (its end).
const STDERR_TAIL: usize = 4096;

/// Starts every queued run this process may take now, each on its own task.
pub async fn drain(state: AppState) -> AppResult<u64> {
    let mut started = 0;
    loop {
        let instance = state.instance.clone();
        let cap = u64::from(state.config.scan_concurrency);
        let claimed = db::write(&state.db, move |txn| {
            let instance = instance.clone();
            Box::pin(async move { service::claim_queued(txn, &instance, cap).await })
        })
        .await?;
        let Some(run) = claimed else {
            return Ok(started);
        };
        started += 1;
        tokio::spawn(execute(state.clone(), run));
    }
}

/// Runs one claimed run to its end and records how it ended. Never fails.
pub async fn execute(state: AppState, run: scan_run::Model) {
    let run_id = run.id;
    let end = match run_nmap(&state, &run).await {
        Ok(end) => end,
        Err(e) => {
            tracing::error!(run.id = run_id, error = ?e, "a scan run failed");
            RunEnd {
                failed: Some(format!("internal error: {}", e.message())),
                ..Default::default()
            }
        }
    };
    if let Some(reason) = &end.failed {
        tracing::warn!(run.id = run_id, reason = %reason, "scan run failed");
    } else {
        tracing::info!(run.id = run_id, "scan run finished");
    }
    let finished = db::write(&state.db, move |txn| {
        let end = end.clone();
        Box::pin(async move { service::finish_run(txn, run_id, end).await })
    })
    .await;
    if let Err(e) = finished {
        tracing::error!(run.id = run_id, error = ?e, "cannot record the end of a scan run");
    }
}

fn failed(reason: impl Into<String>) -> RunEnd {
    RunEnd {
        failed: Some(reason.into()),
        ..Default::default()
    }
}

/// Quotes an argument for display (the command is never run through a shell).
fn shown(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

async fn run_nmap(state: &AppState, run: &scan_run::Model) -> AppResult<RunEnd> {
    let db = &state.db;
    let Some(scan) = service::get_scan(db, run.scan_id.unwrap_or_default()).await? else {
        return Ok(failed("the scan was deleted before it ran"));
    };
    let Some(profile) = service::profile(db, scan.profile_id).await? else {
        return Ok(failed("the scan's profile is gone"));
    };
    let mut options: Options = service::options_of(&profile)?;
    let scope = service::owner_scope(db, scan.created_by_user_id).await?;
    if scope == HostScope::default() {
        return Ok(failed(
            "the scan's creator sees no hosts (gone, disabled, not an analyst or admin, or in \
             no support group)",
        ));
    }
    let (targets, excluded) =
        match service::resolve_targets(db, &scope, &Targets::parse(&scan.targets)).await {
            Ok(t) => t,
            Err(crate::error::AppError::BadUserInput(m)) => return Ok(failed(m)),
            Err(e) => return Err(e),
        };
    let mut note = String::new();
    if options.needs_raw_sockets() && !profile::has_raw_sockets() {
        match options
            .unprivileged()
            .filter(|_| options.fall_back_to_connect)
        {
            Some(fallback) => {
                note = "ran as a connect scan without UDP or OS detection: this process has no \
                        raw-socket privilege (CAP_NET_RAW)\n"
                    .into();
                options = fallback;
            }
            None => {
                return Ok(failed(
                    "the profile needs raw sockets (SYN, UDP or OS detection) and this process \
                     has no CAP_NET_RAW; run Hector with that capability or let the profile \
                     fall back to a connect scan",
                ));
            }
        }
    }
    let argv = options.argv(&excluded);
    let nmap = state.config.nmap_path.clone();
    let command = std::iter::once(nmap.as_str())
        .chain(argv.iter().map(String::as_str))
        .map(shown)
        .collect::<Vec<_>>()
        .join(" ")
        + " < targets";
    {
        let (command, targets, excluded) = (command.clone(), targets.clone(), excluded.clone());
        let run_id = run.id;
        db::write(db, move |txn| {
            let (command, targets, excluded) = (command.clone(), targets.clone(), excluded.clone());
            Box::pin(async move {
                service::record_command(txn, run_id, &command, &targets, &excluded).await
            })
        })
        .await?;
    }
    if targets.is_empty() {
        return Ok(RunEnd {
            stderr_tail: Some(format!(
                "{note}nothing to scan: no target host exists, or every one is excluded"
            )),
            ..Default::default()
        });
    }
    let mut child = match tokio::process::Command::new(&nmap)
        .args(&argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(failed(format!(
                "nmap is not installed here (looked for `{nmap}`; install it or set \
                 HECTOR_NMAP_PATH)"
            )));
        }
        Err(e) => return Ok(failed(format!("cannot start nmap (`{nmap}`): {e}"))),
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Ok(failed("cannot talk to nmap (no pipes)"));
    };
    let input = targets.join("\n") + "\n";
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
    });
    let cap = state.config.max_scan_xml_bytes;
    let read_out = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut too_big = false;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return (out, too_big),
                // Past the cap, keep reading (and dropping) so nmap is never blocked on a
                // full pipe; the run fails once it ends.
                Ok(n) if too_big || out.len() + n > cap => {
                    too_big = true;
                    out = Vec::new();
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    let read_err = tokio::spawn(async move {
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > STDERR_TAIL {
                tail.drain(..tail.len() - STDERR_TAIL);
            }
        }
        String::from_utf8_lossy(&tail).into_owned()
    });
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(state.config.scan_timeout_secs);
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    let status = loop {
        tokio::select! {
            status = child.wait() => break Some(status),
            _ = tokio::time::sleep_until(deadline) => {
                let _ = child.kill().await;
                let tail = read_err.await.unwrap_or_default();
                return Ok(RunEnd {
                    failed: Some(format!(
                        "nmap ran longer than {} s (HECTOR_SCAN_TIMEOUT_SECS) and was stopped",
                        state.config.scan_timeout_secs
                    )),
                    stderr_tail: Some(note + &tail),
                    raw_xml: None,
                });
            }
            _ = renew.tick() => {
                match service::renew(db, run.id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Cancelled (or taken for abandoned): stop nmap; the row says why.
                        let _ = child.kill().await;
                        break None;
                    }
                    Err(e) => tracing::warn!(run.id = run.id, error = ?e, "cannot renew a scan run's lease"),
                }
            }
        }
    };
    let _ = feed.await;
    let (xml, too_big) = read_out.await.unwrap_or_default();
    let tail = note + &read_err.await.unwrap_or_default();
    let Some(status) = status else {
        return Ok(RunEnd {
            failed: Some("cancelled".into()),
            stderr_tail: Some(tail),
            raw_xml: None,
        });
    };
    let status = match status {
        Ok(s) => s,
        Err(e) => return Ok(failed(format!("cannot wait for nmap: {e}"))),
    };
    if too_big {
        return Ok(RunEnd {
            failed: Some(format!(
                "nmap wrote more than {cap} bytes of XML (HECTOR_MAX_SCAN_XML_BYTES); nothing \
                 was recorded"
            )),
            stderr_tail: Some(tail),
            raw_xml: None,
        });
    }
    if !status.success() {
        let last = tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Ok(RunEnd {
            failed: Some(format!("nmap failed ({status}): {last}")),
            stderr_tail: Some(tail),
            raw_xml: Some(xml),
        });
    }
    let recorder = Recorder {
        scope: scope.clone(),
        new_host_group: None,
    };
    let report = ingest::ingest(
        db,
        run.id,
        std::io::Cursor::new(xml.clone()),
        &recorder,
        None,
    )
    .await?;
    let failed = report
        .stopped
        .as_ref()
        .map(|s| format!("nmap's XML is unreadable at line {}: {}", s.line, s.reason));
    Ok(RunEnd {
        failed,
        stderr_tail: Some(tail),
        raw_xml: Some(xml),
    })
}
