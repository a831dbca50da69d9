//! Host mutations.

use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::catalog::CatalogMutation;
use super::inputs::*;
use super::types::Host;
use crate::db;
use crate::graphql::node;
use crate::graphql::{scope, state};
use crate::host::service::{self, LinkChange};

#[derive(async_graphql::MergedObject, Default)]
pub struct HostMutation(HostOnlyMutation, CatalogMutation);

#[derive(Default)]
pub struct HostOnlyMutation;

#[derive(SimpleObject)]
pub struct CreateHostPayload {
    pub host: Host,
}

#[derive(SimpleObject)]
pub struct UpdateHostPayload {
    pub host: Host,
}

#[derive(SimpleObject)]
pub struct DeleteHostPayload {
    pub deleted_host_id: ID,
}

#[derive(SimpleObject)]
pub struct AddHostsPayload {
    /// Hosts created.
    pub created: u64,
    /// Addresses that already had a host (they still joined the groups and tags).
    pub skipped: u64,
}

#[derive(SimpleObject)]
pub struct TagHostsPayload {
    pub hosts: Vec<Host>,
}

#[derive(SimpleObject)]
pub struct GroupHostsPayload {
    pub hosts: Vec<Host>,
}

#[derive(SimpleObject)]
pub struct ScanExclusionPayload {
    pub host: Host,
}

/// Tags or untags many hosts, in one transaction.
async fn retag(
    ctx: &Context<'_>,
    ids: Vec<i64>,
    tags: Vec<String>,
    change: LinkChange,
) -> crate::error::AppResult<Vec<entity::host::Model>> {
    let scope = scope(ctx);
    db::write(&state(ctx)?.db, move |txn| {
        let (scope, ids, tags) = (scope.clone(), ids.clone(), tags.clone());
        Box::pin(async move { service::retag(txn, &scope, &ids, &tags, change).await })
    })
    .await
}

/// Adds many hosts to groups or takes them out, in one transaction.
async fn regroup(
    ctx: &Context<'_>,
    ids: Vec<i64>,
    groups: Vec<i64>,
    change: LinkChange,
) -> crate::error::AppResult<Vec<entity::host::Model>> {
    let scope = scope(ctx);
    db::write(&state(ctx)?.db, move |txn| {
        let (scope, ids, groups) = (scope.clone(), ids.clone(), groups.clone());
        Box::pin(async move { service::regroup(txn, &scope, &ids, &groups, change).await })
    })
    .await
}

#[Object]
impl HostOnlyMutation {
    async fn create_host(
        &self,
        ctx: &Context<'_>,
        input: CreateHostInput,
    ) -> Result<CreateHostPayload> {
        let (scope, new) = (scope(ctx), input.into_service()?);
        let host = db::write(&state(ctx)?.db, move |txn| {
            let (scope, new) = (scope.clone(), new.clone());
            Box::pin(async move { service::create(txn, &scope, new).await })
        })
        .await?;
        Ok(CreateHostPayload { host: host.into() })
    }

    async fn update_host(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostInput,
    ) -> Result<UpdateHostPayload> {
        let (id, changes) = input.into_service()?;
        let scope = scope(ctx);
        let host = db::write(&state(ctx)?.db, move |txn| {
            let (scope, changes) = (scope.clone(), changes.clone());
            Box::pin(async move { service::update(txn, &scope, id, changes).await })
        })
        .await?;
        Ok(UpdateHostPayload { host: host.into() })
    }

    async fn delete_host(
        &self,
        ctx: &Context<'_>,
        input: DeleteHostInput,
    ) -> Result<DeleteHostPayload> {
        let id = node::decode(&input.id, "Host")?;
        let scope = scope(ctx);
        let host = db::write(&state(ctx)?.db, move |txn| {
            let scope = scope.clone();
            Box::pin(async move { service::delete(txn, &scope, id).await })
        })
        .await?;
        Ok(DeleteHostPayload {
            deleted_host_id: node::encode("Host", host.id),
        })
    }

    /// Adds a CIDR range or a list of addresses; addresses already present are skipped.
    async fn add_hosts(&self, ctx: &Context<'_>, input: AddHostsInput) -> Result<AddHostsPayload> {
        let state = state(ctx)?;
        let (scope, add, max) = (
            scope(ctx),
            input.into_service()?,
            state.config.max_bulk_hosts,
        );
        let outcome = db::write(&state.db, move |txn| {
            let (scope, add) = (scope.clone(), add.clone());
            Box::pin(async move { service::add_many(txn, &scope, add, max).await })
        })
        .await?;
        Ok(AddHostsPayload {
            created: outcome.created,
            skipped: outcome.skipped,
        })
    }

    async fn tag_hosts(&self, ctx: &Context<'_>, input: TagHostsInput) -> Result<TagHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let hosts = retag(ctx, ids, input.tags, LinkChange::Add).await?;
        Ok(TagHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    async fn untag_hosts(
        &self,
        ctx: &Context<'_>,
        input: TagHostsInput,
    ) -> Result<TagHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let hosts = retag(ctx, ids, input.tags, LinkChange::Remove).await?;
        Ok(TagHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    async fn add_hosts_to_groups(
        &self,
        ctx: &Context<'_>,
        input: GroupHostsInput,
    ) -> Result<GroupHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let groups = node::decode_many(&input.group_ids, "HostGroup")?;
        let hosts = regroup(ctx, ids, groups, LinkChange::Add).await?;
        Ok(GroupHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    async fn remove_hosts_from_groups(
        &self,
        ctx: &Context<'_>,
        input: GroupHostsInput,
    ) -> Result<GroupHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let groups = node::decode_many(&input.group_ids, "HostGroup")?;
        let hosts = regroup(ctx, ids, groups, LinkChange::Remove).await?;
        Ok(GroupHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    /// Excludes a host from port scans for 1, 7 or 30 days, or forever.
    async fn set_scan_exclusion(
        &self,
        ctx: &Context<'_>,
        input: SetScanExclusionInput,
    ) -> Result<ScanExclusionPayload> {
        let id = node::decode(&input.host_id, "Host")?;
        let who = crate::graphql::identity(ctx).clone();
        let (scope, duration) = (scope(ctx), input.duration.into());
        let host = db::write(&state(ctx)?.db, move |txn| {
            let (scope, reason, who) = (scope.clone(), input.reason.clone(), who.clone());
            Box::pin(async move {
                service::set_exclusion(txn, &scope, id, &reason, duration, &who).await
            })
        })
        .await?;
        Ok(ScanExclusionPayload { host: host.into() })
    }

    async fn clear_scan_exclusion(
        &self,
        ctx: &Context<'_>,
        input: ClearScanExclusionInput,
    ) -> Result<ScanExclusionPayload> {
        let id = node::decode(&input.host_id, "Host")?;
        let scope = scope(ctx);
        let host = db::write(&state(ctx)?.db, move |txn| {
            let scope = scope.clone();
            Box::pin(async move { service::clear_exclusion(txn, &scope, id).await })
        })
        .await?;
        Ok(ScanExclusionPayload { host: host.into() })
    }
}
