//! Create, update and delete for the catalogs around hosts: host groups, tags, support
//! groups, locations and URLs.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use entity::{host_group, location, support_group, tag};
use sea_orm::Value;

use super::types::{HostGroup, Location, SupportGroup, Tag, Url};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::graphql::node;
use crate::graphql::{scope, state};
use crate::host::catalog::{self, Named};
use crate::validate;

#[derive(Default)]
pub struct CatalogMutation;

/// The id of what a delete removed.
#[derive(SimpleObject)]
pub struct DeletedPayload {
    pub deleted_id: ID,
}

#[derive(SimpleObject)]
pub struct HostGroupPayload {
    pub host_group: HostGroup,
}

#[derive(SimpleObject)]
pub struct TagPayload {
    pub tag: Tag,
}

#[derive(SimpleObject)]
pub struct SupportGroupPayload {
    pub support_group: SupportGroup,
}

#[derive(SimpleObject)]
pub struct LocationPayload {
    pub location: Location,
}

#[derive(SimpleObject)]
pub struct UrlPayload {
    pub url: Url,
}

#[derive(InputObject)]
pub struct CreateHostGroupInput {
    pub name: String,
    pub detail: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateHostGroupInput {
    pub id: ID,
    pub name: Option<String>,
    pub detail: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct CreateNamedInput {
    pub name: String,
}

#[derive(InputObject)]
pub struct RenameInput {
    pub id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct CreateSupportGroupInput {
    pub name: String,
    /// Where alerts about the group's hosts go.
    pub email: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateSupportGroupInput {
    pub id: ID,
    pub name: Option<String>,
    pub email: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct CreateUrlInput {
    pub host_id: ID,
    pub url: String,
    pub screenshot: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateUrlInput {
    pub id: ID,
    pub url: Option<String>,
    pub screenshot: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct DeleteInput {
    pub id: ID,
}

fn detail(v: Option<&str>) -> AppResult<Value> {
    Ok(validate::optional_text("detail", v, validate::MAX_NOTES_LEN)?.into())
}

fn email(v: Option<&str>) -> AppResult<Value> {
    let email = validate::optional_line("email", v, 254)?;
    if let Some(e) = &email
        && (!e.contains('@') || e.contains(' '))
    {
        return Err(AppError::bad_input("`email` must be an e-mail address"));
    }
    Ok(email.into())
}

/// Creates a catalog row for the caller, in one transaction.
async fn create_row<E: Named>(
    ctx: &Context<'_>,
    name: String,
    extra: Vec<(&'static str, Value)>,
) -> AppResult<E::Model>
where
    E::Model: Send,
{
    let scope = scope(ctx);
    db::write(&state(ctx)?.db, move |txn| {
        let (scope, name, extra) = (scope.clone(), name.clone(), extra.clone());
        Box::pin(async move { catalog::create::<E>(txn, &scope, &name, extra).await })
    })
    .await
}

/// Changes a catalog row the caller owns, and the hosts that use it, in one transaction.
async fn update_row<E: Named>(
    ctx: &Context<'_>,
    id: i64,
    name: Option<String>,
    extra: Vec<(&'static str, Value)>,
) -> AppResult<E::Model>
where
    E::Model: Send,
{
    let scope = scope(ctx);
    db::write(&state(ctx)?.db, move |txn| {
        let (scope, name, extra) = (scope.clone(), name.clone(), extra.clone());
        Box::pin(async move { catalog::update::<E>(txn, &scope, id, name.as_deref(), extra).await })
    })
    .await
}

/// Deletes a catalog row the caller owns, touching the hosts that used it, in one transaction.
async fn delete_row<E: Named>(ctx: &Context<'_>, id: i64) -> AppResult<E::Model>
where
    E::Model: Send,
{
    let scope = scope(ctx);
    db::write(&state(ctx)?.db, move |txn| {
        let scope = scope.clone();
        Box::pin(async move { catalog::delete::<E>(txn, &scope, id).await })
    })
    .await
}

fn deleted(kind: &str, id: i64) -> DeletedPayload {
    DeletedPayload {
        deleted_id: node::encode(kind, id),
    }
}

#[Object]
impl CatalogMutation {
    async fn create_host_group(
        &self,
        ctx: &Context<'_>,
        input: CreateHostGroupInput,
    ) -> Result<HostGroupPayload> {
        let extra = vec![("detail", detail(input.detail.as_deref())?)];
        let group = create_row::<host_group::Entity>(ctx, input.name, extra).await?;
        Ok(HostGroupPayload {
            host_group: group.into(),
        })
    }

    async fn update_host_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostGroupInput,
    ) -> Result<HostGroupPayload> {
        let id = node::decode(&input.id, "HostGroup")?;
        let mut extra = Vec::new();
        if let Some(v) = input.detail.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("detail", detail(v)?));
        }
        let group = update_row::<host_group::Entity>(ctx, id, input.name, extra).await?;
        Ok(HostGroupPayload {
            host_group: group.into(),
        })
    }

    /// Deletes a group; its hosts stay.
    async fn delete_host_group(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, "HostGroup")?;
        delete_row::<host_group::Entity>(ctx, id).await?;
        Ok(deleted("HostGroup", id))
    }

    async fn create_tag(&self, ctx: &Context<'_>, input: CreateNamedInput) -> Result<TagPayload> {
        let tag = create_row::<tag::Entity>(ctx, input.name, Vec::new()).await?;
        Ok(TagPayload { tag: tag.into() })
    }

    async fn update_tag(&self, ctx: &Context<'_>, input: RenameInput) -> Result<TagPayload> {
        let id = node::decode(&input.id, "Tag")?;
        let tag = update_row::<tag::Entity>(ctx, id, Some(input.name), Vec::new()).await?;
        Ok(TagPayload { tag: tag.into() })
    }

    /// Deletes a tag and takes it off every host.
    async fn delete_tag(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, "Tag")?;
        delete_row::<tag::Entity>(ctx, id).await?;
        Ok(deleted("Tag", id))
    }

    async fn create_support_group(
        &self,
        ctx: &Context<'_>,
        input: CreateSupportGroupInput,
    ) -> Result<SupportGroupPayload> {
        let extra = vec![("email", email(input.email.as_deref())?)];
        let group = create_row::<support_group::Entity>(ctx, input.name, extra).await?;
        Ok(SupportGroupPayload {
            support_group: group.into(),
        })
    }

    async fn update_support_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateSupportGroupInput,
    ) -> Result<SupportGroupPayload> {
        let id = node::decode(&input.id, "SupportGroup")?;
        let mut extra = Vec::new();
        if let Some(v) = input.email.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("email", email(v)?));
        }
        let group = update_row::<support_group::Entity>(ctx, id, input.name, extra).await?;
        Ok(SupportGroupPayload {
            support_group: group.into(),
        })
    }

    /// Deletes a support group; its hosts are left without one.
    async fn delete_support_group(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, "SupportGroup")?;
        delete_row::<support_group::Entity>(ctx, id).await?;
        Ok(deleted("SupportGroup", id))
    }

    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateNamedInput,
    ) -> Result<LocationPayload> {
        let loc = create_row::<location::Entity>(ctx, input.name, Vec::new()).await?;
        Ok(LocationPayload {
            location: loc.into(),
        })
    }

    async fn update_location(
        &self,
        ctx: &Context<'_>,
        input: RenameInput,
    ) -> Result<LocationPayload> {
        let id = node::decode(&input.id, "Location")?;
        let loc = update_row::<location::Entity>(ctx, id, Some(input.name), Vec::new()).await?;
        Ok(LocationPayload {
            location: loc.into(),
        })
    }

    /// Deletes a location; its hosts are left without one.
    async fn delete_location(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, "Location")?;
        delete_row::<location::Entity>(ctx, id).await?;
        Ok(deleted("Location", id))
    }

    async fn create_url(&self, ctx: &Context<'_>, input: CreateUrlInput) -> Result<UrlPayload> {
        let host_id = node::decode(&input.host_id, "Host")?;
        let url = catalog::create_url(
            &state(ctx)?.db,
            &scope(ctx),
            host_id,
            &input.url,
            input.screenshot.as_deref(),
        )
        .await?;
        Ok(UrlPayload { url: url.into() })
    }

    async fn update_url(&self, ctx: &Context<'_>, input: UpdateUrlInput) -> Result<UrlPayload> {
        let id = node::decode(&input.id, "Url")?;
        let screenshot = input.screenshot.as_opt_ref().map(|v| v.map(String::as_str));
        let url = catalog::update_url(
            &state(ctx)?.db,
            &scope(ctx),
            id,
            input.url.as_deref(),
            screenshot,
        )
        .await?;
        Ok(UrlPayload { url: url.into() })
    }

    async fn delete_url(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, "Url")?;
        catalog::delete_url(&state(ctx)?.db, &scope(ctx), id).await?;
        Ok(deleted("Url", id))
    }
}
