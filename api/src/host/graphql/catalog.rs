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

/// One payload type per mutation, each carrying what its mutation changed.
macro_rules! payloads {
    ($($(#[$doc:meta])* $name:ident { $(#[$fdoc:meta])* $field:ident: $ty:ty })*) => {
        $(
            $(#[$doc])*
            #[derive(SimpleObject)]
            pub struct $name {
                $(#[$fdoc])*
                pub $field: $ty,
            }
        )*
    };
}

payloads! {
    /// The host group `createHostGroup` made.
    CreateHostGroupPayload { /// The new group.
        host_group: HostGroup }
    /// The host group `updateHostGroup` changed.
    UpdateHostGroupPayload { /// The group as it is now.
        host_group: HostGroup }
    /// What `deleteHostGroup` removed.
    DeleteHostGroupPayload { /// The id of the deleted group.
        deleted_host_group_id: ID }
    /// The tag `createTag` made.
    CreateTagPayload { /// The new tag.
        tag: Tag }
    /// The tag `updateTag` changed.
    UpdateTagPayload { /// The tag as it is now.
        tag: Tag }
    /// What `deleteTag` removed.
    DeleteTagPayload { /// The id of the deleted tag.
        deleted_tag_id: ID }
    /// The support group `createSupportGroup` made.
    CreateSupportGroupPayload { /// The new support group.
        support_group: SupportGroup }
    /// The support group `updateSupportGroup` changed.
    UpdateSupportGroupPayload { /// The support group as it is now.
        support_group: SupportGroup }
    /// What `deleteSupportGroup` removed.
    DeleteSupportGroupPayload { /// The id of the deleted support group.
        deleted_support_group_id: ID }
    /// The location `createLocation` made.
    CreateLocationPayload { /// The new location.
        location: Location }
    /// The location `updateLocation` changed.
    UpdateLocationPayload { /// The location as it is now.
        location: Location }
    /// What `deleteLocation` removed.
    DeleteLocationPayload { /// The id of the deleted location.
        deleted_location_id: ID }
    /// The URL `createUrl` recorded.
    CreateUrlPayload { /// The new URL.
        url: Url }
    /// The URL `updateUrl` changed.
    UpdateUrlPayload { /// The URL as it is now.
        url: Url }
    /// What `deleteUrl` removed.
    DeleteUrlPayload { /// The id of the deleted URL.
        deleted_url_id: ID }
}

/// One input type per delete mutation: the id of what to delete.
macro_rules! delete_inputs {
    ($($(#[$doc:meta])* $name:ident)*) => {
        $(
            $(#[$doc])*
            #[derive(InputObject)]
            pub struct $name {
                /// The id of what to delete.
                pub id: ID,
            }
        )*
    };
}

delete_inputs! {
    /// Which host group `deleteHostGroup` deletes.
    DeleteHostGroupInput
    /// Which tag `deleteTag` deletes.
    DeleteTagInput
    /// Which support group `deleteSupportGroup` deletes.
    DeleteSupportGroupInput
    /// Which location `deleteLocation` deletes.
    DeleteLocationInput
    /// Which URL `deleteUrl` deletes.
    DeleteUrlInput
}

/// A new host group.
#[derive(InputObject)]
pub struct CreateHostGroupInput {
    /// Its name, unique among host groups (case-insensitive).
    pub name: String,
    /// What the group is for.
    pub detail: Option<String>,
}

/// Changes to a host group; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateHostGroupInput {
    /// The group to change.
    pub id: ID,
    /// A new name, unique among host groups.
    pub name: Option<String>,
    /// A new description; null clears it.
    pub detail: MaybeUndefined<String>,
}

/// A new tag.
#[derive(InputObject)]
pub struct CreateTagInput {
    /// Its name, unique among tags (case-insensitive).
    pub name: String,
}

/// Changes to a tag; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateTagInput {
    /// The tag to change.
    pub id: ID,
    /// A new name, unique among tags.
    pub name: Option<String>,
}

/// A new location.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Its name, unique among locations (case-insensitive).
    pub name: String,
}

/// Changes to a location; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateLocationInput {
    /// The location to change.
    pub id: ID,
    /// A new name, unique among locations.
    pub name: Option<String>,
}

/// A new support group: the team responsible for a set of hosts.
#[derive(InputObject)]
pub struct CreateSupportGroupInput {
    /// Its name, unique among support groups (case-insensitive).
    pub name: String,
    /// Where alerts about the group's hosts go.
    pub email: Option<String>,
}

/// Changes to a support group; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateSupportGroupInput {
    /// The support group to change.
    pub id: ID,
    /// A new name, unique among support groups.
    pub name: Option<String>,
    /// A new alert address; null clears it.
    pub email: MaybeUndefined<String>,
}

/// A URL served by a host.
#[derive(InputObject)]
pub struct CreateUrlInput {
    /// The host that serves it.
    pub host_id: ID,
    /// The URL (http or https).
    pub url: String,
    /// Where a screenshot of the page is kept.
    pub screenshot: Option<String>,
}

/// Changes to a URL; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateUrlInput {
    /// The URL to change.
    pub id: ID,
    /// The new URL.
    pub url: Option<String>,
    /// A new screenshot location; null clears it.
    pub screenshot: MaybeUndefined<String>,
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

#[Object]
impl CatalogMutation {
    /// Creates a host group.
    async fn create_host_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateHostGroupInput,
    ) -> Result<CreateHostGroupPayload> {
        let extra = vec![("detail", detail(input.detail.as_deref())?)];
        let group = create_row::<host_group::Entity>(ctx, input.name, extra).await?;
        Ok(CreateHostGroupPayload {
            host_group: group.into(),
        })
    }

    /// Renames a host group or changes its description.
    async fn update_host_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateHostGroupInput,
    ) -> Result<UpdateHostGroupPayload> {
        let id = node::decode(&input.id, "HostGroup")?;
        let mut extra = Vec::new();
        if let Some(v) = input.detail.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("detail", detail(v)?));
        }
        let group = update_row::<host_group::Entity>(ctx, id, input.name, extra).await?;
        Ok(UpdateHostGroupPayload {
            host_group: group.into(),
        })
    }

    /// Deletes a group; its hosts stay.
    async fn delete_host_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteHostGroupInput,
    ) -> Result<DeleteHostGroupPayload> {
        let id = node::decode(&input.id, "HostGroup")?;
        delete_row::<host_group::Entity>(ctx, id).await?;
        Ok(DeleteHostGroupPayload {
            deleted_host_group_id: node::encode("HostGroup", id),
        })
    }

    /// Creates a tag.
    async fn create_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateTagInput,
    ) -> Result<CreateTagPayload> {
        let tag = create_row::<tag::Entity>(ctx, input.name, Vec::new()).await?;
        Ok(CreateTagPayload { tag: tag.into() })
    }

    /// Renames a tag.
    async fn update_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateTagInput,
    ) -> Result<UpdateTagPayload> {
        let id = node::decode(&input.id, "Tag")?;
        let tag = update_row::<tag::Entity>(ctx, id, input.name, Vec::new()).await?;
        Ok(UpdateTagPayload { tag: tag.into() })
    }

    /// Deletes a tag and takes it off every host.
    async fn delete_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteTagInput,
    ) -> Result<DeleteTagPayload> {
        let id = node::decode(&input.id, "Tag")?;
        delete_row::<tag::Entity>(ctx, id).await?;
        Ok(DeleteTagPayload {
            deleted_tag_id: node::encode("Tag", id),
        })
    }

    /// Creates a support group.
    async fn create_support_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateSupportGroupInput,
    ) -> Result<CreateSupportGroupPayload> {
        let extra = vec![("email", email(input.email.as_deref())?)];
        let group = create_row::<support_group::Entity>(ctx, input.name, extra).await?;
        Ok(CreateSupportGroupPayload {
            support_group: group.into(),
        })
    }

    /// Renames a support group or changes where its alerts go.
    async fn update_support_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateSupportGroupInput,
    ) -> Result<UpdateSupportGroupPayload> {
        let id = node::decode(&input.id, "SupportGroup")?;
        let mut extra = Vec::new();
        if let Some(v) = input.email.as_opt_ref().map(|v| v.map(String::as_str)) {
            extra.push(("email", email(v)?));
        }
        let group = update_row::<support_group::Entity>(ctx, id, input.name, extra).await?;
        Ok(UpdateSupportGroupPayload {
            support_group: group.into(),
        })
    }

    /// Deletes a support group; its hosts are left without one.
    async fn delete_support_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteSupportGroupInput,
    ) -> Result<DeleteSupportGroupPayload> {
        let id = node::decode(&input.id, "SupportGroup")?;
        delete_row::<support_group::Entity>(ctx, id).await?;
        Ok(DeleteSupportGroupPayload {
            deleted_support_group_id: node::encode("SupportGroup", id),
        })
    }

    /// Creates a location.
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateLocationInput,
    ) -> Result<CreateLocationPayload> {
        let loc = create_row::<location::Entity>(ctx, input.name, Vec::new()).await?;
        Ok(CreateLocationPayload {
            location: loc.into(),
        })
    }

    /// Renames a location.
    async fn update_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateLocationInput,
    ) -> Result<UpdateLocationPayload> {
        let id = node::decode(&input.id, "Location")?;
        let loc = update_row::<location::Entity>(ctx, id, input.name, Vec::new()).await?;
        Ok(UpdateLocationPayload {
            location: loc.into(),
        })
    }

    /// Deletes a location; its hosts are left without one.
    async fn delete_location(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteLocationInput,
    ) -> Result<DeleteLocationPayload> {
        let id = node::decode(&input.id, "Location")?;
        delete_row::<location::Entity>(ctx, id).await?;
        Ok(DeleteLocationPayload {
            deleted_location_id: node::encode("Location", id),
        })
    }

    /// Records a URL served by a host.
    async fn create_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateUrlInput,
    ) -> Result<CreateUrlPayload> {
        let host_id = node::decode(&input.host_id, "Host")?;
        let url = catalog::create_url(
            &state(ctx)?.db,
            &scope(ctx),
            host_id,
            &input.url,
            input.screenshot.as_deref(),
        )
        .await?;
        Ok(CreateUrlPayload { url: url.into() })
    }

    /// Changes a URL or its screenshot.
    async fn update_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateUrlInput,
    ) -> Result<UpdateUrlPayload> {
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
        Ok(UpdateUrlPayload { url: url.into() })
    }

    /// Deletes a URL.
    async fn delete_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteUrlInput,
    ) -> Result<DeleteUrlPayload> {
        let id = node::decode(&input.id, "Url")?;
        catalog::delete_url(&state(ctx)?.db, &scope(ctx), id).await?;
        Ok(DeleteUrlPayload {
            deleted_url_id: node::encode("Url", id),
        })
    }
}
