//! Claiming periods and recording runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{job_run, job_schedule};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter,
};

use super::{Job, JobReport};
use crate::db;
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::page::{Page, PageRequest};
use crate::state::AppState;

/// How long a run is held without its process renewing it. A process that died is taken
/// for dead this long after its last renewal.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a running job renews its lease.
pub const LEASE_RENEWAL: Duration = Duration::from_secs(10);

const RUNNING: &str = "RUNNING";

pub enum Claim {
    /// This process runs `run` (a period that was due, or one abandoned by another process).
    Won {
        run: job_run::Model,
    },
    NotDue {
        due_in: Duration,
    },
}

fn lease_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30))
}

/// A new run row of `name` for `scheduled_for`, held by `instance`.
fn new_run(
    name: &str,
    scheduled_for: DateTime<Utc>,
    attempt: i32,
    instance: &str,
) -> job_run::ActiveModel {
    let now = db::now();
    job_run::ActiveModel {
        job: Set(name.to_owned()),
        scheduled_for: Set(scheduled_for),
        attempt: Set(attempt),
        lease_until: Set(Some(lease_end(now))),
        instance: Set(instance.to_owned()),
        started_at: Set(now),
        finished_at: Set(None),
        status: Set(RUNNING.to_owned()),
        items: Set(0),
        error: Set(None),
        ..Default::default()
    }
}

/// Claims work of `name` for `instance`, in the caller's transaction: first a run of this job
/// that another process abandoned (its lease ran out), which is marked failed and run again as
/// the next attempt; else the due period, if no other process took it first. The claim and the
/// run's row commit together, so a claimed period always has a run that can be taken over.
pub async fn claim(
    db: &impl ConnectionTrait,
    name: &str,
    every: Duration,
    instance: &str,
) -> AppResult<Claim> {
    if let Some(run) = take_over_abandoned(db, name, instance).await? {
        return Ok(Claim::Won { run });
    }
    let now = db::now();
    let row = match job_schedule::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
    {
        Some(row) => row,
        None => {
            let first = job_schedule::ActiveModel {
                name: Set(name.to_owned()),
                next_due_at: Set(now),
                claimed_by: Set(None),
                claimed_at: Set(None),
            };
            job_schedule::Entity::insert(first)
                .on_conflict_do_nothing_on([job_schedule::Column::Name])
                .exec_without_returning(db)
                .await?;
            return Ok(Claim::NotDue {
                due_in: Duration::ZERO,
            });
        }
    };
    if row.next_due_at > now {
        let due_in = (row.next_due_at - now).to_std().unwrap_or_default();
        return Ok(Claim::NotDue { due_in });
    }
    let period = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::seconds(60));
    // Periods keep their rhythm; after downtime, missed periods are skipped, not replayed.
    let mut next = row.next_due_at + period;
    if next <= now {
        next = now + period;
    }
    let claimed = job_schedule::Entity::update_many()
        .col_expr(job_schedule::Column::NextDueAt, Expr::val(next))
        .col_expr(job_schedule::Column::ClaimedBy, Expr::val(instance))
        .col_expr(job_schedule::Column::ClaimedAt, Expr::val(now))
        .filter(job_schedule::Column::Name.eq(name))
        .filter(job_schedule::Column::NextDueAt.eq(row.next_due_at))
        .exec(db)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(Claim::NotDue {
            due_in: Duration::ZERO,
        });
    }
    let run = new_run(name, row.next_due_at, 1, instance)
        .insert(db)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::Conflict(format!("the period of {name} already ran"))
            } else {
                e.into()
            }
        })?;
    Ok(Claim::Won { run })
}

/// The oldest run of `name` whose lease ran out, marked failed ("interrupted") and replaced by
/// the next attempt held by `instance`; `None` when there is none, or another process took it.
async fn take_over_abandoned(
    db: &impl ConnectionTrait,
    name: &str,
    instance: &str,
) -> AppResult<Option<job_run::Model>> {
    use sea_orm::{QueryOrder, sea_query::Condition};
    let now = db::now();
    let expired = Condition::any()
        .add(job_run::Column::LeaseUntil.lt(now))
        // Runs recorded before leases existed.
        .add(
            Condition::all()
                .add(job_run::Column::LeaseUntil.is_null())
                .add(
                    job_run::Column::StartedAt
                        .lt(now - chrono::Duration::from_std(LEASE).unwrap_or_default()),
                ),
        );
    let Some(abandoned) = job_run::Entity::find()
        .filter(job_run::Column::Job.eq(name))
        .filter(job_run::Column::Status.eq(RUNNING))
        .filter(expired.clone())
        .order_by_asc(job_run::Column::Id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let marked = job_run::Entity::update_many()
        .col_expr(job_run::Column::Status, Expr::val("FAILED"))
        .col_expr(job_run::Column::FinishedAt, Expr::val(now))
        .col_expr(
            job_run::Column::Error,
            Expr::val(format!(
                "interrupted: {} stopped renewing its lease; the period runs again",
                abandoned.instance
            )),
        )
        .filter(job_run::Column::Id.eq(abandoned.id))
        .filter(job_run::Column::Status.eq(RUNNING))
        .filter(expired)
        .exec(db)
        .await?;
    if marked.rows_affected != 1 {
        return Ok(None);
    }
    tracing::warn!(
        job.name = name,
        run.id = abandoned.id,
        abandoned_by = %abandoned.instance,
        "a job run was abandoned; running its period again"
    );
    let run = new_run(
        name,
        abandoned.scheduled_for,
        abandoned.attempt + 1,
        instance,
    )
    .insert(db)
    .await?;
    Ok(Some(run))
}

/// Extends the lease of `run` every [`LEASE_RENEWAL`]; never ends on its own.
async fn renew(db: &DatabaseConnection, run_id: i64) {
    loop {
        tokio::time::sleep(LEASE_RENEWAL).await;
        let renewed = job_run::Entity::update_many()
            .col_expr(job_run::Column::LeaseUntil, Expr::val(lease_end(db::now())))
            .filter(job_run::Column::Id.eq(run_id))
            .filter(job_run::Column::Status.eq(RUNNING))
            .exec(db)
            .await;
        if let Err(e) = renewed {
            tracing::warn!(run.id = run_id, error = ?e, "cannot renew a job run's lease");
        }
    }
}

/// Runs `job` for its claimed `run`, renewing the lease while it works, and records how it
/// went. Never fails: a failure is logged and recorded, and the scheduler goes on.
pub async fn execute(state: &AppState, job: &Job, run: job_run::Model) {
    let db = &state.db;
    let started = db::now();
    let outcome = {
        let work = (job.run)(state.clone());
        tokio::pin!(work);
        let lease = renew(db, run.id);
        tokio::pin!(lease);
        tokio::select! {
            outcome = &mut work => outcome,
            () = &mut lease => work.await,
        }
    };
    let duration_ms = (db::now() - started).num_milliseconds();
    let mut done: job_run::ActiveModel = run.into();
    done.finished_at = Set(Some(db::now()));
    done.lease_until = Set(None);
    match outcome {
        Ok(JobReport { items }) => {
            tracing::info!(job.name = job.name, items, duration_ms, "job run finished");
            done.status = Set("SUCCEEDED".to_owned());
            done.items = Set(items);
        }
        Err(e) => {
            tracing::error!(job.name = job.name, error = ?e, duration_ms, "job run failed");
            done.status = Set("FAILED".to_owned());
            done.error = Set(Some(e.message()));
        }
    }
    if let Err(e) = done.update(db).await {
        tracing::error!(job.name = job.name, error = ?e, "cannot record the end of a job run");
    }
}

fn check_job_name(job: Option<&str>) -> AppResult<()> {
    if job.is_some_and(|j| j.len() > 64) {
        return Err(crate::error::AppError::bad_input(
            "`job` is at most 64 characters",
        ));
    }
    Ok(())
}

/// Recorded runs, newest first, optionally of one job.
pub async fn runs(
    db: &impl ConnectionTrait,
    job: Option<&str>,
    newest_first: bool,
    page: &PageRequest,
) -> AppResult<Page<job_run::Model>> {
    check_job_name(job)?;
    let mut query = job_run::Entity::find();
    if let Some(job) = job {
        query = query.filter(job_run::Column::Job.eq(job));
    }
    crate::page::by_id(
        db,
        query,
        job_run::Column::Id,
        if newest_first {
            "jobRun:ID:DESC"
        } else {
            "jobRun:ID:ASC"
        },
        newest_first,
        page,
        |r| r.id,
    )
    .await
}

pub async fn run_by_id(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<job_run::Model>> {
    Ok(job_run::Entity::find_by_id(id).one(db).await?)
}

pub async fn count(db: &impl ConnectionTrait, job: Option<&str>) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    check_job_name(job)?;
    let mut query = job_run::Entity::find();
    if let Some(job) = job {
        query = query.filter(job_run::Column::Job.eq(job));
    }
    Ok(query.count(db).await?)
}
