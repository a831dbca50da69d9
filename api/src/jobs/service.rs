//! Claiming periods and recording runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{job_run, job_schedule};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::{Job, JobReport};
use crate::db;
use crate::error::{AppResult, is_unique_violation};
use crate::page::{Page, PageRequest};
use crate::state::AppState;

pub enum Claim {
    /// This process runs the period that was due at `scheduled_for`.
    Won {
        scheduled_for: DateTime<Utc>,
    },
    NotDue {
        due_in: Duration,
    },
}

/// Claims the due period of `name`, if one is due and no other process took it first.
pub async fn claim(
    db: &impl ConnectionTrait,
    name: &str,
    every: Duration,
    instance: &str,
) -> AppResult<Claim> {
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
            match job_schedule::Entity::insert(first).exec(db).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
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
    if claimed.rows_affected == 1 {
        Ok(Claim::Won {
            scheduled_for: row.next_due_at,
        })
    } else {
        Ok(Claim::NotDue {
            due_in: Duration::ZERO,
        })
    }
}

/// Runs `job` once for the claimed period and records how it went. Never fails: a failure
/// is logged and recorded, and the scheduler goes on.
pub async fn record_run(state: &AppState, job: &Job, scheduled_for: DateTime<Utc>) {
    let db = &state.db;
    let started = db::now();
    let run = job_run::ActiveModel {
        job: Set(job.name.to_owned()),
        scheduled_for: Set(scheduled_for),
        instance: Set(state.instance.to_string()),
        started_at: Set(started),
        finished_at: Set(None),
        status: Set("RUNNING".to_owned()),
        items: Set(0),
        error: Set(None),
        ..Default::default()
    };
    let run = match run.insert(db).await {
        Ok(run) => run,
        Err(e) if is_unique_violation(&e) => {
            tracing::warn!(job.name = job.name, "period already ran elsewhere");
            return;
        }
        Err(e) => {
            tracing::error!(job.name = job.name, error = ?e, "cannot record the job run");
            return;
        }
    };
    let outcome = (job.run)(state.clone()).await;
    let duration_ms = (db::now() - started).num_milliseconds();
    let mut done: job_run::ActiveModel = run.into();
    done.finished_at = Set(Some(db::now()));
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
        "jobRun:ID",
        true,
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
