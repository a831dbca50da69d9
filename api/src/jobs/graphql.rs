//! `jobRuns`: the record of scheduled job runs.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, ID, Object, Result};
use entity::job_run;

use crate::graphql::connection::{TimeOrder, TotalCount, connection, list_reader, page, page_cost};
use crate::graphql::node;
use crate::graphql::state;

use super::service;
use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::graphql::guard::{Access, Area};

/// Scheduled jobs and their runs.
pub static JOBS: Area = Area {
    name: "jobs",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin],
};

/// Process internals, such as which replica ran a job.
pub static OPERATIONS: Area = Area {
    name: "operations",
    readers: &[Admin],
    writers: &[Admin],
};

/// The rule of `parent.field` for the fields of job runs.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    Some(match (parent, field) {
        ("Query", "jobRuns" | "jobRun") => Access::Read(&JOBS),
        ("JobRun", "instance") => Access::Read(&OPERATIONS),
        (
            "JobRun",
            "id" | "job" | "scheduledFor" | "attempt" | "startedAt" | "finishedAt" | "status"
            | "items" | "error",
        ) => Access::Read(&JOBS),
        _ => return None,
    })
}

/// The job run behind `node(id:)`: `None` when `kind` is not a job run's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<JobRun>>> {
    if kind != "JobRun" {
        return Ok(None);
    }
    Ok(Some(
        service::run_by_id(&state(ctx)?.db, id).await?.map(JobRun),
    ))
}

/// Where a job run is.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum JobRunStatus {
    /// Started and not finished; its replica renews its lease while it runs.
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error, or interrupted when its replica stopped.
    Failed,
}

/// One run of a scheduled job.
pub struct JobRun(pub job_run::Model);

impl From<job_run::Model> for JobRun {
    fn from(m: job_run::Model) -> Self {
        Self(m)
    }
}

/// One run of a scheduled job.
#[Object]
impl JobRun {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("JobRun", self.0.id)
    }

    /// The job's name, e.g. `lift-expired-scan-exclusions`.
    async fn job(&self) -> &str {
        &self.0.job
    }

    /// The period this run served (each runs once across all replicas).
    async fn scheduled_for(&self) -> DateTime {
        self.0.scheduled_for.into()
    }

    /// 1, or more when the period ran again because an earlier attempt was interrupted.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }

    /// The process that ran it.
    async fn instance(&self) -> &str {
        &self.0.instance
    }

    /// When it started.
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }

    /// When it finished; null while it runs.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }

    /// Where the run is: an interrupted run is `FAILED`, and says so in `error`.
    async fn status(&self) -> Result<JobRunStatus> {
        Ok(match self.0.status.as_str() {
            "RUNNING" => JobRunStatus::Running,
            "SUCCEEDED" => JobRunStatus::Succeeded,
            "FAILED" => JobRunStatus::Failed,
            other => {
                return Err(crate::error::AppError::Internal(
                    format!("job run {} has the unknown status {other:?}", self.0.id).into(),
                )
                .into());
            }
        })
    }

    /// How many things the run changed.
    async fn items(&self) -> i64 {
        self.0.items
    }

    /// Why it failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

connection!(JobRunConnection, JobRunEdge, JobRun);

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Recorded job runs, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn job_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "Only runs of this job.")] job: Option<String>,
        #[graphql(desc = "The order; newest first when left out.")] order_by: Option<TimeOrder>,
    ) -> Result<JobRunConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = service::runs(
            &db,
            job.as_deref(),
            TimeOrder::newest_first(order_by, true),
            &page,
        )
        .await?;
        let total = TotalCount::of(&db, service::count(&db, job.as_deref())).await?;
        Ok(JobRunConnection::new(found, total))
    }

    /// A job run by id; null when there is none (or the id is another type's).
    async fn job_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<JobRun>> {
        let Some(id) = node::decode_of(&id, "JobRun")? else {
            return Ok(None);
        };
        Ok(service::run_by_id(&state(ctx)?.db, id).await?.map(JobRun))
    }
}
