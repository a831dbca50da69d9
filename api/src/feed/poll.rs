//! One poll of one feed: claim it, fetch it (no transaction open while the network is
//! waited on), read it off the async threads, then record everything it brought in one
//! transaction. The `feed-poll` job and `refreshFeed` both come here.

use std::time::Duration;

use entity::feed;
use futures_util::StreamExt;

use super::fetch::{Egress, Fetched, Fetcher, Limits};
use super::parse;
use super::store::{self, Outcome, PollReport};
use crate::config::Config;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Most feeds one job run takes.
const DUE_PER_RUN: u64 = 200;

/// The fetcher the configuration describes.
pub fn fetcher(config: &Config) -> AppResult<Fetcher> {
    Fetcher::new(
        Egress {
            allow: config.feed_allow_nets.clone(),
        },
        Limits {
            timeout: Duration::from_secs(config.feed_timeout_secs.max(1)),
            max_bytes: config.feed_max_bytes,
            max_redirects: config.feed_max_redirects,
        },
    )
    .map_err(AppError::internal)
}

/// How long a claim holds a feed: longer than any fetch, short enough that a poll whose
/// process died is retried soon.
fn lease(config: &Config) -> Duration {
    Duration::from_secs(config.feed_timeout_secs.max(1) * 3 + 60)
}

/// Fetches and reads `f`; never fails (a failure is an outcome to record).
async fn fetch(fetcher: &Fetcher, f: &feed::Model) -> Outcome {
    let fetched = match fetcher
        .fetch(&f.url, f.etag.as_deref(), f.last_modified.as_deref())
        .await
    {
        Ok(fetched) => fetched,
        Err(e) => return e.into(),
    };
    let (bytes, etag, last_modified) = match fetched {
        Fetched::NotModified => return Outcome::NotModified,
        Fetched::Body {
            bytes,
            etag,
            last_modified,
        } => (bytes, etag, last_modified),
    };
    let parsed = tokio::task::spawn_blocking(move || parse::parse_feed(&bytes)).await;
    match parsed {
        Ok(Ok(p)) => Outcome::Read {
            entries: p.entries,
            skipped: p.skipped,
            etag,
            last_modified,
        },
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(_) => Outcome::Failed("the feed could not be read".into()),
    }
}

/// Polls feed `id` now, whether due or not; `CONFLICT` while another poll holds it.
pub async fn poll_now(state: &AppState, fetcher: &Fetcher, id: i64) -> AppResult<PollReport> {
    let lease = lease(&state.config);
    let claimed = db::write(&state.db, move |txn| {
        Box::pin(async move { store::claim(txn, id, lease, db::now()).await })
    })
    .await?;
    let Some(f) = claimed else {
        return Err(AppError::Conflict("this feed is being polled".into()));
    };
    poll_claimed(state, fetcher, f).await
}

async fn poll_claimed(
    state: &AppState,
    fetcher: &Fetcher,
    f: feed::Model,
) -> AppResult<PollReport> {
    let outcome = fetch(fetcher, &f).await;
    let id = f.id;
    let report = db::write(&state.db, move |txn| {
        let outcome = outcome.clone();
        Box::pin(async move { store::record_poll(txn, id, outcome, db::now()).await })
    })
    .await?;
    if let Some(error) = &report.error {
        tracing::info!(feed.id = id, error = %error, "feed poll failed");
    }
    Ok(report)
}

/// Polls every due feed, at most `feed_concurrency` at once; one failing feed never stops
/// the others. Answers how many articles arrived.
pub async fn poll_due(state: &AppState) -> AppResult<i64> {
    let fetcher = fetcher(&state.config)?;
    let due = store::due(&state.db, db::now(), DUE_PER_RUN).await?;
    let lease = lease(&state.config);
    let concurrency = state.config.feed_concurrency.max(1) as usize;
    let results: Vec<AppResult<usize>> = futures_util::stream::iter(due)
        .map(|f| {
            let fetcher = fetcher.clone();
            async move {
                let id = f.id;
                let claimed = db::write(&state.db, move |txn| {
                    Box::pin(async move { store::claim(txn, id, lease, db::now()).await })
                })
                .await?;
                match claimed {
                    // Another replica took it since it was read as due.
                    None => Ok(0),
                    Some(f) => Ok(poll_claimed(state, &fetcher, f).await?.new_articles.len()),
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut articles = 0;
    for r in results {
        match r {
            Ok(n) => articles += n as i64,
            Err(e) => tracing::error!(error = ?e, "a feed poll could not be recorded"),
        }
    }
    Ok(articles)
}
