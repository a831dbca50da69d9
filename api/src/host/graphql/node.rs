//! The inventory's objects behind `node(id:)`.

use async_graphql::Context;
use entity::{host_group, location, support_group, tag};

use super::types::{Host, HostGroup, Location, SupportGroup, Tag, Url};
use crate::error::AppResult;
use crate::graphql::{scope, state};
use crate::host::{catalog, service};

/// An object of the inventory that has a global id.
pub enum HostNode {
    Host(Box<Host>),
    HostGroup(HostGroup),
    Tag(Tag),
    SupportGroup(SupportGroup),
    Location(Location),
    Url(Url),
    Service(super::exposure::Service),
    ExposureChange(Box<super::exposure::ExposureChange>),
}

/// The object of type `kind` and id `id`, as the caller sees it: `None` when `kind` is not the
/// inventory's, `Some(None)` when there is no such object (or the caller may not see it).
pub async fn fetch(ctx: &Context<'_>, kind: &str, id: i64) -> AppResult<Option<Option<HostNode>>> {
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "Host" => service::get(db, &scope(ctx), id)
            .await?
            .map(|m| HostNode::Host(Box::new(m.into()))),
        "HostGroup" => catalog::get::<host_group::Entity>(db, id)
            .await?
            .map(|m| HostNode::HostGroup(m.into())),
        "Tag" => catalog::get::<tag::Entity>(db, id)
            .await?
            .map(|m| HostNode::Tag(m.into())),
        "SupportGroup" => catalog::get::<support_group::Entity>(db, id)
            .await?
            .map(|m| HostNode::SupportGroup(m.into())),
        "Location" => catalog::get::<location::Entity>(db, id)
            .await?
            .map(|m| HostNode::Location(m.into())),
        "Url" => catalog::url(db, &scope(ctx), id)
            .await?
            .map(|m| HostNode::Url(m.into())),
        "Service" => crate::host::service::exposure::service(db, &scope(ctx), id)
            .await?
            .map(|m| HostNode::Service(super::exposure::Service(m))),
        "ExposureChange" => crate::host::service::exposure::change(db, &scope(ctx), id)
            .await?
            .map(|m| HostNode::ExposureChange(Box::new(m.into()))),
        _ => return Ok(None),
    }))
}
