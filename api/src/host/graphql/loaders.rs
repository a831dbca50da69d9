//! The inventory's batch loaders, for relations asked of many objects at once (tags of every
//! host of a page, ...). They batch but never cache, so one loader serves every request
//! safely.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{location, support_group, tag, url};

use crate::actor::HostScope;
use crate::error::AppError;
pub use crate::graphql::errors::BatchError;
use crate::host::catalog;
use crate::state::AppState;

pub type Loaders = DataLoader<Batch>;

pub struct Batch {
    state: AppState,
}

/// The loaders of a resolver (registered in the schema by the assembly).
pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::Internal("the inventory's loaders are not registered".into()).into())
}

pub fn new(state: &AppState) -> Loaders {
    DataLoader::new(
        Batch {
            state: state.clone(),
        },
        tokio::spawn,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOfHost(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UrlsOfHost(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SupportGroupId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocationId(pub i64);
/// A tag, counted over the hosts a scope sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagUsage(pub i64, pub HostScope);

impl Loader<TagsOfHost> for Batch {
    type Value = Vec<tag::Model>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[TagsOfHost],
    ) -> Result<HashMap<TagsOfHost, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = catalog::tags_of_hosts(&self.state.db, &ids).await?;
        Ok(found.into_iter().map(|(k, v)| (TagsOfHost(k), v)).collect())
    }
}

impl Loader<UrlsOfHost> for Batch {
    type Value = Vec<url::Model>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[UrlsOfHost],
    ) -> Result<HashMap<UrlsOfHost, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = catalog::urls_of_hosts(&self.state.db, &ids).await?;
        Ok(found.into_iter().map(|(k, v)| (UrlsOfHost(k), v)).collect())
    }
}

impl Loader<SupportGroupId> for Batch {
    type Value = support_group::Model;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[SupportGroupId],
    ) -> Result<HashMap<SupportGroupId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = catalog::by_ids::<support_group::Entity>(&self.state.db, &ids).await?;
        Ok(found
            .into_iter()
            .map(|m| (SupportGroupId(m.id), m))
            .collect())
    }
}

impl Loader<LocationId> for Batch {
    type Value = location::Model;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[LocationId],
    ) -> Result<HashMap<LocationId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = catalog::by_ids::<location::Entity>(&self.state.db, &ids).await?;
        Ok(found.into_iter().map(|m| (LocationId(m.id), m)).collect())
    }
}

impl Loader<TagUsage> for Batch {
    type Value = i64;
    type Error = BatchError;

    async fn load(&self, keys: &[TagUsage]) -> Result<HashMap<TagUsage, Self::Value>, Self::Error> {
        // One request has one scope; group by scope anyway, so a batch never mixes callers.
        let mut out = HashMap::new();
        let mut scopes: Vec<&HostScope> = keys.iter().map(|k| &k.1).collect();
        scopes.dedup();
        for scope in scopes {
            let ids: Vec<i64> = keys.iter().filter(|k| &k.1 == scope).map(|k| k.0).collect();
            let found = catalog::tag_usage(&self.state.db, scope, &ids).await?;
            for id in ids {
                out.insert(
                    TagUsage(id, scope.clone()),
                    found.get(&id).copied().unwrap_or(0),
                );
            }
        }
        Ok(out)
    }
}

/// A host by id, for objects that hang on one (services, exposure changes): the caller has
/// already been allowed to see the object, and so its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostId(pub i64);

impl Loader<HostId> for Batch {
    type Value = entity::host::Model;
    type Error = BatchError;

    async fn load(&self, keys: &[HostId]) -> Result<HashMap<HostId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = crate::host::service::any_by_ids(&self.state.db, &ids).await?;
        Ok(found.into_iter().map(|(k, v)| (HostId(k), v)).collect())
    }
}
