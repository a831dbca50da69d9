//! Scheduled jobs inside the process: the scheduler machinery and the record of runs. Each
//! domain declares its own jobs; the schema assembly lists them.
//!
//! Each job is a plain `run_once` plus a period. Every replica runs the same loop; a period is
//! claimed with one compare-and-set `UPDATE` of `job_schedule.next_due_at`, so with N replicas
//! each period runs exactly once, and the unique `(job, scheduled_for)` key of `job_run` backs
//! that up. Every run is recorded; a failing run is logged and the loop goes on.

pub mod graphql;
pub mod service;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::AppResult;
use crate::state::AppState;

/// What a run did, for the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// How many things it changed.
    pub items: i64,
}

pub type JobFuture = Pin<Box<dyn Future<Output = AppResult<JobReport>> + Send>>;

/// A job the scheduler runs every `every`.
#[derive(Clone)]
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    pub run: fn(AppState) -> JobFuture,
}

/// Runs every job on its schedule until `shutdown`.
pub async fn run_scheduler(state: AppState, jobs: Vec<Job>, shutdown: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        tasks.spawn(job_loop(state.clone(), job, shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

async fn job_loop(state: AppState, job: Job, shutdown: CancellationToken) {
    let db = state.db.clone();
    loop {
        let wait = match service::claim(&db, job.name, job.every, &state.instance).await {
            Ok(service::Claim::Won { scheduled_for }) => {
                service::record_run(&state, &job, scheduled_for).await;
                Duration::ZERO
            }
            Ok(service::Claim::NotDue { due_in }) => due_in,
            Err(e) => {
                tracing::error!(job.name = job.name, error = ?e, "cannot read the job schedule");
                job.every
            }
        };
        // Wake a little after the due time; never sleep longer than one period.
        let wait = (wait + Duration::from_millis(20)).min(job.every);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
