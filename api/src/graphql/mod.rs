//! The GraphQL toolkit every domain shares: scalars, global ids, connections, the field guard
//! machinery, document limits and error codes. It imports no domain; the schema assembly
//! (the `schema` module) sits above the domains and combines them.

pub mod connection;
pub mod errors;
pub mod guard;
pub mod limits;
pub mod node;
pub mod scalars;

use async_graphql::Context;

use crate::actor::{HostScope, Identity};
use crate::state::AppState;

/// The caller of a resolver.
pub fn identity<'a>(ctx: &Context<'a>) -> &'a Identity {
    ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous)
}

/// Which hosts the caller of a resolver sees.
pub fn scope(ctx: &Context<'_>) -> HostScope {
    identity(ctx).host_scope()
}

/// The shared state of a resolver.
pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}
