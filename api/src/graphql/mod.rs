//! The GraphQL toolkit every domain shares: scalars, global ids, connections, the field guard
//! machinery, document limits and error codes. It imports no domain; the schema assembly
//! (the `schema` module) sits above the domains and combines them.

pub mod connection;
pub mod errors;
pub mod guard;
pub mod limits;
pub mod live;
pub mod node;
pub mod scalars;

use async_graphql::Context;

use crate::actor::{HostScope, Identity};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The caller of a resolver.
pub fn identity<'a>(ctx: &Context<'a>) -> &'a Identity {
    ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous)
}

/// Which hosts the caller of a resolver sees.
pub fn scope(ctx: &Context<'_>) -> HostScope {
    identity(ctx).host_scope()
}

/// A read-only snapshot of the database for an answer of several reads that must agree (see
/// [`crate::db::Snapshot`]). Begin it after the arguments are checked.
pub async fn snapshot(ctx: &Context<'_>) -> AppResult<crate::db::Snapshot> {
    crate::db::Snapshot::begin(&state(ctx)?.db).await
}

/// The shared state of a resolver (registered by the schema assembly; its absence is an
/// internal error, never a panic).
pub fn state<'a>(ctx: &Context<'a>) -> AppResult<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| AppError::Internal("the application state is not registered".into()))
}
