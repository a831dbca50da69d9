//! Host mutations.

use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::catalog::CatalogMutation;
use super::inputs::*;
use super::types::Host;
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

#[Object]
impl HostOnlyMutation {
    async fn create_host(
        &self,
        ctx: &Context<'_>,
        input: CreateHostInput,
    ) -> Result<CreateHostPayload> {
        let host = service::create(&state(ctx).db, &scope(ctx), input.into_service()?).await?;
        Ok(CreateHostPayload { host: host.into() })
    }

    async fn update_host(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostInput,
    ) -> Result<UpdateHostPayload> {
        let (id, changes) = input.into_service()?;
        let host = service::update(&state(ctx).db, &scope(ctx), id, changes).await?;
        Ok(UpdateHostPayload { host: host.into() })
    }

    async fn delete_host(
        &self,
        ctx: &Context<'_>,
        input: DeleteHostInput,
    ) -> Result<DeleteHostPayload> {
        let id = node::decode(&input.id, "Host")?;
        let host = service::delete(&state(ctx).db, &scope(ctx), id).await?;
        Ok(DeleteHostPayload {
            deleted_host_id: node::encode("Host", host.id),
        })
    }

    /// Adds a CIDR range or a list of addresses; addresses already present are skipped.
    async fn add_hosts(&self, ctx: &Context<'_>, input: AddHostsInput) -> Result<AddHostsPayload> {
        let state = state(ctx);
        let outcome = service::add_many(
            &state.db,
            &scope(ctx),
            input.into_service()?,
            state.config.max_bulk_hosts,
        )
        .await?;
        Ok(AddHostsPayload {
            created: outcome.created,
            skipped: outcome.skipped,
        })
    }

    async fn tag_hosts(&self, ctx: &Context<'_>, input: TagHostsInput) -> Result<TagHostsPayload> {
        let ids = host_ids(&input.host_ids)?;
        let hosts = service::retag(
            &state(ctx).db,
            &scope(ctx),
            &ids,
            &input.tags,
            LinkChange::Add,
        )
        .await?;
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
        let hosts = service::retag(
            &state(ctx).db,
            &scope(ctx),
            &ids,
            &input.tags,
            LinkChange::Remove,
        )
        .await?;
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
        let hosts =
            service::regroup(&state(ctx).db, &scope(ctx), &ids, &groups, LinkChange::Add).await?;
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
        let hosts = service::regroup(
            &state(ctx).db,
            &scope(ctx),
            &ids,
            &groups,
            LinkChange::Remove,
        )
        .await?;
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
        let who = crate::graphql::identity(ctx);
        let host = service::set_exclusion(
            &state(ctx).db,
            &scope(ctx),
            id,
            &input.reason,
            input.duration.into(),
            who.display_name(),
        )
        .await?;
        Ok(ScanExclusionPayload { host: host.into() })
    }

    async fn clear_scan_exclusion(
        &self,
        ctx: &Context<'_>,
        input: ClearScanExclusionInput,
    ) -> Result<ScanExclusionPayload> {
        let id = node::decode(&input.host_id, "Host")?;
        let host = service::clear_exclusion(&state(ctx).db, &scope(ctx), id).await?;
        Ok(ScanExclusionPayload { host: host.into() })
    }
}
