//! Scheduled jobs inside the process: the scheduler machinery and the record of runs. Each
//! domain declares its own jobs; the schema assembly lists them.
//!
//! Each job is a plain `run_once` plus a period. Every replica runs the same loop; a period is
//! claimed with one compare-and-set `UPDATE` of `job_schedule.next_due_at`, in the same
//! transaction as the run's row, so with N replicas each period runs once. A run is a lease its
//! process renews while it works; a run whose lease ran out (its process died) is marked failed
//! ("interrupted") by another replica, which runs the period again as the next attempt (jobs
//! are idempotent). Every run is recorded; a failing run is logged and the loop goes on.

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
        let (name, every, instance) = (job.name, job.every, state.instance.clone());
        let claimed = crate::db::write(&db, move |txn| {
            let instance = instance.clone();
            Box::pin(async move { service::claim(txn, name, every, &instance).await })
        })
        .await;
        let wait = match claimed {
            Ok(service::Claim::Won { run }) => {
                service::execute(&state, &job, run).await;
                Duration::ZERO
            }
            Ok(service::Claim::NotDue { due_in }) => due_in,
            Err(crate::error::AppError::Conflict(_)) => Duration::ZERO,
            Err(e) => {
                tracing::error!(job.name = job.name, error = ?e, "cannot read the job schedule");
                job.every
            }
        };
        // Wake a little after the due time; never sleep longer than one period, nor so long
        // that a run abandoned by a dead replica waits for long.
        let wait = (wait + Duration::from_millis(20))
            .min(job.every)
            .min(service::LEASE_RENEWAL);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
