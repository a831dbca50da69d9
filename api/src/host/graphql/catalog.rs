//! Create, update and delete for the catalogs around hosts: host groups, tags, support
//! groups, locations and URLs.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use entity::{host_group, location, support_group, tag};
use sea_orm::Value;

use super::types::{HostGroup, Location, SupportGroup, Tag, Url};
use crate::error::{AppError, AppResult};
use crate::graphql::node::{self, Kind};
use crate::graphql::{scope, state};
use crate::host::{catalog, validate};

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

fn deleted(kind: Kind, id: i64) -> DeletedPayload {
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
        let group =
            catalog::create::<host_group::Entity>(&state(ctx).db, &input.name, extra).await?;
        Ok(HostGroupPayload {
            host_group: group.into(),
        })
    }

    async fn update_host_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostGroupInput,
    ) -> Result<HostGroupPayload> {
        let id = node::decode(&input.id, Kind::HostGroup)?;
        let mut extra = Vec::new();
        if let Some(v) = input.detail.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("detail", detail(v)?));
        }
        let group =
            catalog::update::<host_group::Entity>(&state(ctx).db, id, input.name.as_deref(), extra)
                .await?;
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
        let id = node::decode(&input.id, Kind::HostGroup)?;
        catalog::delete::<host_group::Entity>(&state(ctx).db, id).await?;
        Ok(deleted(Kind::HostGroup, id))
    }

    async fn create_tag(&self, ctx: &Context<'_>, input: CreateNamedInput) -> Result<TagPayload> {
        let tag = catalog::create::<tag::Entity>(&state(ctx).db, &input.name, Vec::new()).await?;
        Ok(TagPayload { tag: tag.into() })
    }

    async fn update_tag(&self, ctx: &Context<'_>, input: RenameInput) -> Result<TagPayload> {
        let id = node::decode(&input.id, Kind::Tag)?;
        let tag = catalog::update::<tag::Entity>(&state(ctx).db, id, Some(&input.name), Vec::new())
            .await?;
        Ok(TagPayload { tag: tag.into() })
    }

    /// Deletes a tag and takes it off every host.
    async fn delete_tag(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, Kind::Tag)?;
        catalog::delete::<tag::Entity>(&state(ctx).db, id).await?;
        Ok(deleted(Kind::Tag, id))
    }

    async fn create_support_group(
        &self,
        ctx: &Context<'_>,
        input: CreateSupportGroupInput,
    ) -> Result<SupportGroupPayload> {
        let extra = vec![("email", email(input.email.as_deref())?)];
        let group =
            catalog::create::<support_group::Entity>(&state(ctx).db, &input.name, extra).await?;
        Ok(SupportGroupPayload {
            support_group: group.into(),
        })
    }

    async fn update_support_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateSupportGroupInput,
    ) -> Result<SupportGroupPayload> {
        let id = node::decode(&input.id, Kind::SupportGroup)?;
        let mut extra = Vec::new();
        if let Some(v) = input.email.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("email", email(v)?));
        }
        let group = catalog::update::<support_group::Entity>(
            &state(ctx).db,
            id,
            input.name.as_deref(),
            extra,
        )
        .await?;
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
        let id = node::decode(&input.id, Kind::SupportGroup)?;
        catalog::delete::<support_group::Entity>(&state(ctx).db, id).await?;
        Ok(deleted(Kind::SupportGroup, id))
    }

    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateNamedInput,
    ) -> Result<LocationPayload> {
        let loc =
            catalog::create::<location::Entity>(&state(ctx).db, &input.name, Vec::new()).await?;
        Ok(LocationPayload {
            location: loc.into(),
        })
    }

    async fn update_location(
        &self,
        ctx: &Context<'_>,
        input: RenameInput,
    ) -> Result<LocationPayload> {
        let id = node::decode(&input.id, Kind::Location)?;
        let loc =
            catalog::update::<location::Entity>(&state(ctx).db, id, Some(&input.name), Vec::new())
                .await?;
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
        let id = node::decode(&input.id, Kind::Location)?;
        catalog::delete::<location::Entity>(&state(ctx).db, id).await?;
        Ok(deleted(Kind::Location, id))
    }

    async fn create_url(&self, ctx: &Context<'_>, input: CreateUrlInput) -> Result<UrlPayload> {
        let host_id = node::decode(&input.host_id, Kind::Host)?;
        let url = catalog::create_url(
            &state(ctx).db,
            &scope(ctx),
            host_id,
            &input.url,
            input.screenshot.as_deref(),
        )
        .await?;
        Ok(UrlPayload { url: url.into() })
    }

    async fn update_url(&self, ctx: &Context<'_>, input: UpdateUrlInput) -> Result<UrlPayload> {
        let id = node::decode(&input.id, Kind::Url)?;
        let screenshot = input.screenshot.as_opt_ref().map(|v| v.map(String::as_str));
        let url = catalog::update_url(
            &state(ctx).db,
            &scope(ctx),
            id,
            input.url.as_deref(),
            screenshot,
        )
        .await?;
        Ok(UrlPayload { url: url.into() })
    }

    async fn delete_url(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletedPayload> {
        let id = node::decode(&input.id, Kind::Url)?;
        catalog::delete_url(&state(ctx).db, &scope(ctx), id).await?;
        Ok(deleted(Kind::Url, id))
    }
}
