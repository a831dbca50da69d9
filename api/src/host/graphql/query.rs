//! Inventory queries.

use async_graphql::{Context, ID, Object, Result};
use entity::{host_group, location, support_group, tag};

use super::inputs::{self, HostFilterInput, HostOrderInput};
use super::types::*;
use crate::graphql::connection::{NameOrder, TotalCount, list_reader};
use crate::graphql::node;
use crate::graphql::scalars::IpAddr;
use crate::graphql::{scope, state};
use crate::host::{catalog, service};
use crate::page::{KeyOrder, PageRequest};

#[derive(Default)]
pub struct HostQuery;

/// A page of a named catalog, with its deferred count.
async fn catalog_page<E, T>(
    ctx: &Context<'_>,
    search: Option<String>,
    order: Option<NameOrder>,
    page: PageRequest,
) -> Result<(crate::page::Page<T>, TotalCount)>
where
    E: catalog::Named,
    E::Model: Sync,
    T: From<E::Model>,
{
    let db = list_reader(ctx).await?;
    let found = catalog::list::<E>(
        &db,
        search.as_deref(),
        NameOrder::or(order, KeyOrder::BY_KEY),
        &page,
    )
    .await?;
    let total = TotalCount::of(&db, catalog::count::<E>(&db)).await?;
    Ok((found.map(T::from), total))
}

#[Object]
impl HostQuery {
    /// One host by id.
    async fn host(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Host>> {
        let Some(id) = node::decode_of(&id, "Host")? else {
            return Ok(None);
        };
        Ok(service::get(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(Host))
    }

    /// The host at an address, if there is one.
    async fn host_by_address(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address, in any spelling.")] address: IpAddr,
    ) -> Result<Option<Host>> {
        Ok(service::by_address(&state(ctx)?.db, &scope(ctx), address.0)
            .await?
            .map(Host))
    }

    /// Hosts, filtered and ordered, a page at a time.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn hosts(
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
        #[graphql(desc = "Only hosts that match this filter.")] filter: Option<HostFilterInput>,
        #[graphql(desc = "The order; by address when left out.")] order_by: Option<HostOrderInput>,
    ) -> Result<HostConnection> {
        let page = page(ctx, first, after, last, before)?;
        host_connection(
            ctx,
            inputs::filter(ctx, filter)?,
            inputs::order(order_by),
            page,
        )
        .await
    }

    /// Hosts per operating system, most first (HECTOR's OS breakdown).
    async fn os_breakdown(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only hosts that match this filter.")] filter: Option<HostFilterInput>,
    ) -> Result<Vec<OsCount>> {
        let rows = service::os_breakdown(&state(ctx)?.db, &inputs::filter(ctx, filter)?).await?;
        Ok(rows
            .into_iter()
            .map(|(os, hosts)| OsCount { os, hosts })
            .collect())
    }

    /// Tags by name; each tag's `usage` is its weight in the tag cloud.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn tags(
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
        #[graphql(desc = "Only names containing this text.")] search: Option<String>,
        #[graphql(desc = "The order; by name, A to Z, when left out.")] order_by: Option<NameOrder>,
    ) -> Result<TagConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (found, total) = catalog_page::<tag::Entity, Tag>(ctx, search, order_by, page).await?;
        Ok(TagConnection::new(found, total))
    }
    /// A tag by id.
    async fn tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Tag>> {
        let Some(id) = node::decode_of(&id, "Tag")? else {
            return Ok(None);
        };
        Ok(catalog::get::<tag::Entity>(&state(ctx)?.db, id)
            .await?
            .map(Tag))
    }

    /// Host groups, by name unless ordered otherwise.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn host_groups(
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
        #[graphql(desc = "Only names containing this text (case-insensitive).")] search: Option<
            String,
        >,
        #[graphql(desc = "The order; by name, A to Z, when left out.")] order_by: Option<NameOrder>,
    ) -> Result<HostGroupConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (found, total) =
            catalog_page::<host_group::Entity, HostGroup>(ctx, search, order_by, page).await?;
        Ok(HostGroupConnection::new(found, total))
    }
    /// A host group by id.
    async fn host_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<HostGroup>> {
        let Some(id) = node::decode_of(&id, "HostGroup")? else {
            return Ok(None);
        };
        Ok(catalog::get::<host_group::Entity>(&state(ctx)?.db, id)
            .await?
            .map(HostGroup))
    }

    /// Support groups, by name unless ordered otherwise.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn support_groups(
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
        #[graphql(desc = "Only names containing this text (case-insensitive).")] search: Option<
            String,
        >,
        #[graphql(desc = "The order; by name, A to Z, when left out.")] order_by: Option<NameOrder>,
    ) -> Result<SupportGroupConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (found, total) =
            catalog_page::<support_group::Entity, SupportGroup>(ctx, search, order_by, page)
                .await?;
        Ok(SupportGroupConnection::new(found, total))
    }
    /// A support group by id.
    async fn support_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<SupportGroup>> {
        let Some(id) = node::decode_of(&id, "SupportGroup")? else {
            return Ok(None);
        };
        Ok(catalog::get::<support_group::Entity>(&state(ctx)?.db, id)
            .await?
            .map(SupportGroup))
    }

    /// Locations, by name unless ordered otherwise.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn locations(
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
        #[graphql(desc = "Only names containing this text (case-insensitive).")] search: Option<
            String,
        >,
        #[graphql(desc = "The order; by name, A to Z, when left out.")] order_by: Option<NameOrder>,
    ) -> Result<LocationConnection> {
        let page = page(ctx, first, after, last, before)?;
        let (found, total) =
            catalog_page::<location::Entity, Location>(ctx, search, order_by, page).await?;
        Ok(LocationConnection::new(found, total))
    }
    /// A location by id.
    async fn location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Location>> {
        let Some(id) = node::decode_of(&id, "Location")? else {
            return Ok(None);
        };
        Ok(catalog::get::<location::Entity>(&state(ctx)?.db, id)
            .await?
            .map(Location))
    }
    /// A URL by id (as its host is visible).
    async fn url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Url>> {
        let Some(id) = node::decode_of(&id, "Url")? else {
            return Ok(None);
        };
        Ok(catalog::url(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(Url))
    }
}
