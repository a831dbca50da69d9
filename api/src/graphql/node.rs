//! Relay global ids: opaque base64 of `Type:id`, refused when they name another type.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use async_graphql::Context;
use entity::{host_group, location, support_group, tag};

use crate::actor::HostScope;
use crate::error::{AppError, AppResult};
use crate::graphql::state;
use crate::host::catalog;
use crate::host::graphql::{Host as HostNode, HostGroup, Location, SupportGroup, Tag, Url};
use crate::host::service as host_service;
use crate::jobs::graphql::JobRun;
use crate::jobs::service as jobs_service;
use crate::state::AppState;

/// Every kind of object that has a global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Host,
    HostGroup,
    Tag,
    SupportGroup,
    Location,
    Url,
    JobRun,
    User,
    ApiToken,
    AuditEntry,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::Host,
        Kind::HostGroup,
        Kind::Tag,
        Kind::SupportGroup,
        Kind::Location,
        Kind::Url,
        Kind::JobRun,
        Kind::User,
        Kind::ApiToken,
        Kind::AuditEntry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Host => "Host",
            Kind::HostGroup => "HostGroup",
            Kind::Tag => "Tag",
            Kind::SupportGroup => "SupportGroup",
            Kind::Location => "Location",
            Kind::Url => "Url",
            Kind::JobRun => "JobRun",
            Kind::User => "User",
            Kind::ApiToken => "ApiToken",
            Kind::AuditEntry => "AuditEntry",
        }
    }
}

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Any global id: its kind and database id.
pub fn decode_any(id: &ID) -> AppResult<(Kind, i64)> {
    let invalid = || AppError::bad_input(format!("{:?} is not a valid id", id.as_str()));
    if id.len() > 64 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(id.as_bytes())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, num) = text.split_once(':').ok_or_else(invalid)?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .ok_or_else(invalid)?;
    let num: i64 = num.parse().map_err(|_| invalid())?;
    Ok((kind, num))
}

/// A global id that must be of `kind`.
pub fn decode(id: &ID, kind: Kind) -> AppResult<i64> {
    match decode_any(id)? {
        (k, n) if k == kind => Ok(n),
        _ => Err(AppError::bad_input(format!(
            "{:?} is not the id of a {}",
            id.as_str(),
            kind.name()
        ))),
    }
}

pub fn decode_many(ids: &[ID], kind: Kind) -> AppResult<Vec<i64>> {
    ids.iter().map(|id| decode(id, kind)).collect()
}

/// Anything with a global id.
#[derive(async_graphql::Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Host(Box<HostNode>),
    HostGroup(HostGroup),
    Tag(Tag),
    SupportGroup(SupportGroup),
    Location(Location),
    Url(Url),
    JobRun(JobRun),
}

/// Fetches any object by its global id; `None` when it does not exist.
async fn fetch(state: &AppState, scope: &HostScope, id: &ID) -> AppResult<Option<Node>> {
    let db = &state.db;
    let (kind, id) = decode_any(id)?;
    Ok(match kind {
        Kind::Host => host_service::get(db, scope, id)
            .await?
            .map(|m| Node::Host(Box::new(m.into()))),
        Kind::HostGroup => catalog::get::<host_group::Entity>(db, id)
            .await?
            .map(|m| Node::HostGroup(m.into())),
        Kind::Tag => catalog::get::<tag::Entity>(db, id)
            .await?
            .map(|m| Node::Tag(m.into())),
        Kind::SupportGroup => catalog::get::<support_group::Entity>(db, id)
            .await?
            .map(|m| Node::SupportGroup(m.into())),
        Kind::Location => catalog::get::<location::Entity>(db, id)
            .await?
            .map(|m| Node::Location(m.into())),
        Kind::Url => catalog::url(db, scope, id)
            .await?
            .map(|m| Node::Url(m.into())),
        // People, tokens and audit entries are reached through their own guarded queries.
        Kind::User | Kind::ApiToken | Kind::AuditEntry => None,
        Kind::JobRun => jobs_service::run_by_id(db, id)
            .await?
            .map(|m| Node::JobRun(m.into())),
    })
}

#[derive(Default)]
pub struct NodeQuery;

#[async_graphql::Object]
impl NodeQuery {
    /// Any object by its global id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        Ok(fetch(state(ctx), &crate::graphql::scope(ctx), &id).await?)
    }

    /// Several objects by global id, in the order asked; null where one does not exist.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > 100 {
            return Err(AppError::bad_input("`nodes` takes at most 100 ids").into());
        }
        let scope = crate::graphql::scope(ctx);
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(fetch(state(ctx), &scope, id).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_keep_their_kind() {
        let id = encode(Kind::Host, 42);
        assert_eq!(decode(&id, Kind::Host).unwrap(), 42);
        assert!(decode(&id, Kind::Tag).is_err());
        assert!(decode(&ID("garbage".into()), Kind::Host).is_err());
    }
}
