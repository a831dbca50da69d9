//! Schema assembly and the pieces every domain's GraphQL shares: scalars, global ids,
//! connections, the field guard and error codes.

pub mod audit;
pub mod connection;
pub mod errors;
pub mod guard;
pub mod limits;
pub mod node;
pub mod scalars;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};

use crate::auth::graphql::{AuthMutation, AuthQuery};
use crate::host::graphql::{HostMutation, HostQuery, HostSubscription};
use crate::jobs::graphql::JobQuery;
use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(node::NodeQuery, HostQuery, JobQuery, AuthQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(HostMutation, AuthMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(HostSubscription);

pub type HectorSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema once, with the limits of the configuration.
pub fn build(state: &AppState) -> HectorSchema {
    let config = &state.config;
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(state.clone())
    .data(loaders::new(state))
    .extension(limits::DocumentLimits)
    .extension(errors::ErrorCodes)
    // Audit outside the guard, so refused mutations are recorded too.
    .extension(audit::AuditMutations)
    .extension(guard::FieldGuard)
    .limit_depth(config.max_depth)
    .limit_complexity(config.max_complexity)
    .limit_recursive_depth(64)
    .limit_directives(16)
    .finish()
}

/// The schema as SDL, sorted, exactly as `schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

/// The caller of a resolver.
pub fn identity<'a>(ctx: &Context<'a>) -> &'a crate::actor::Identity {
    ctx.data_opt::<crate::actor::Identity>()
        .unwrap_or(&crate::actor::Identity::Anonymous)
}

/// Which hosts the caller of a resolver sees.
pub fn scope(ctx: &Context<'_>) -> crate::actor::HostScope {
    identity(ctx).host_scope()
}

/// The shared state of a resolver.
pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub mod loaders;
