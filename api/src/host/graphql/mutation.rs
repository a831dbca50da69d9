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

/// The host `createHost` made.
#[derive(SimpleObject)]
pub struct CreateHostPayload {
    /// The new host.
    pub host: Host,
}

/// The host `updateHost` changed.
#[derive(SimpleObject)]
pub struct UpdateHostPayload {
    /// The host as it is now.
    pub host: Host,
}

/// What `deleteHost` removed.
#[derive(SimpleObject)]
pub struct DeleteHostPayload {
    /// The id of the deleted host.
    pub deleted_host_id: ID,
}

/// What `addHosts` did, in counts (the hosts themselves arrive through `hostEvents`).
#[derive(SimpleObject)]
pub struct AddHostsPayload {
    /// Hosts created.
    pub created: u64,
    /// Addresses that already had a host (they still joined the groups and tags).
    pub skipped: u64,
}

/// The hosts `tagHosts` or `untagHosts` changed.
#[derive(SimpleObject)]
pub struct TagHostsPayload {
    /// The hosts as they are now.
    pub hosts: Vec<Host>,
}

/// The hosts `addHostsToGroups` or `removeHostsFromGroups` changed.
#[derive(SimpleObject)]
pub struct GroupHostsPayload {
    /// The hosts as they are now.
    pub hosts: Vec<Host>,
}

/// The host whose port-scan exclusion was set or lifted.
#[derive(SimpleObject)]
pub struct ScanExclusionPayload {
    /// The host as it is now.
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
    /// Adds a host to the inventory.
    async fn create_host(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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

    /// Changes a host; fields left out of the input stay as they are.
    async fn update_host(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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

    /// Deletes a host and everything recorded only about it.
    async fn delete_host(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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
    async fn add_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: AddHostsInput,
    ) -> Result<AddHostsPayload> {
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

    /// Puts tags on hosts, in one transaction; missing tags are created.
    async fn tag_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: TagHostsInput,
    ) -> Result<TagHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let hosts = retag(ctx, ids, input.tags, LinkChange::Add).await?;
        Ok(TagHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    /// Takes tags off hosts, in one transaction.
    async fn untag_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: TagHostsInput,
    ) -> Result<TagHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let hosts = retag(ctx, ids, input.tags, LinkChange::Remove).await?;
        Ok(TagHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    /// Adds hosts to host groups, in one transaction.
    async fn add_hosts_to_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: GroupHostsInput,
    ) -> Result<GroupHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let groups = node::decode_many(&input.group_ids, "HostGroup")?;
        let hosts = regroup(ctx, ids, groups, LinkChange::Add).await?;
        Ok(GroupHostsPayload {
            hosts: hosts.into_iter().map(Host).collect(),
        })
    }

    /// Takes hosts out of host groups, in one transaction.
    async fn remove_hosts_from_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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

    /// Lifts a host's port-scan exclusion.
    async fn clear_scan_exclusion(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
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
