//! Batched loads of what incidents hang on: their hosts (as the caller sees them), attacker
//! addresses, vulnerabilities, tags and classification values. One query per kind per
//! request, whatever the page size.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::actor::HostScope;
use crate::graphql::errors::BatchError;
use crate::incident::read;
use crate::state::AppState;

pub type Loaders = DataLoader<Batch>;

pub struct Batch {
    state: AppState,
}

/// The loaders of a resolver (registered in the schema by the assembly).
pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| {
        crate::error::AppError::Internal("the incidents' loaders are not registered".into()).into()
    })
}

pub fn new(state: &AppState) -> Loaders {
    DataLoader::new(
        Batch {
            state: state.clone(),
        },
        tokio::spawn,
    )
}

/// The hosts of an incident that a scope sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostsOf(pub i64, pub HostScope);

/// The attacker addresses of an incident (16-byte keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressesOf(pub i64);

/// The vulnerability ids of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VulnerabilitiesOf(pub i64);

/// The articles about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArticlesOf(pub i64);

/// The tag names of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOf(pub i64);

/// A classification value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupId(pub i64);

impl Loader<HostsOf> for Batch {
    type Value = Vec<entity::host::Model>;
    type Error = BatchError;

    async fn load(&self, keys: &[HostsOf]) -> Result<HashMap<HostsOf, Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        let mut by_scope: HashMap<&HostScope, Vec<i64>> = HashMap::new();
        for k in keys {
            by_scope.entry(&k.1).or_default().push(k.0);
        }
        for (scope, ids) in by_scope {
            let mut found = read::hosts_of(&self.state.db, scope, &ids).await?;
            for id in ids {
                out.insert(
                    HostsOf(id, scope.clone()),
                    found.remove(&id).unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }
}

impl Loader<AddressesOf> for Batch {
    type Value = Vec<Vec<u8>>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[AddressesOf],
    ) -> Result<HashMap<AddressesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found = read::addresses_of(&self.state.db, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| (AddressesOf(id), found.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<VulnerabilitiesOf> for Batch {
    type Value = Vec<entity::vulnerability::Model>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[VulnerabilitiesOf],
    ) -> Result<HashMap<VulnerabilitiesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let links = read::vulnerabilities_of(&self.state.db, &ids).await?;
        let all: Vec<i64> = links.values().flatten().copied().collect();
        let vulns = crate::vuln::read::vulnerabilities_by_ids(&self.state.db, &all).await?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let list = links
                    .get(&id)
                    .map(|v| v.iter().filter_map(|v| vulns.get(v).cloned()).collect())
                    .unwrap_or_default();
                (VulnerabilitiesOf(id), list)
            })
            .collect())
    }
}

impl Loader<ArticlesOf> for Batch {
    type Value = Vec<entity::article::Model>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[ArticlesOf],
    ) -> Result<HashMap<ArticlesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let links = read::articles_of(&self.state.db, &ids).await?;
        let all: Vec<i64> = links.values().flatten().copied().collect();
        let articles = crate::feed::read::articles_by_ids(&self.state.db, &all).await?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let list = links
                    .get(&id)
                    .map(|a| a.iter().filter_map(|a| articles.get(a).cloned()).collect())
                    .unwrap_or_default();
                (ArticlesOf(id), list)
            })
            .collect())
    }
}

impl Loader<TagsOf> for Batch {
    type Value = Vec<String>;
    type Error = BatchError;

    async fn load(&self, keys: &[TagsOf]) -> Result<HashMap<TagsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found = read::tags_of(&self.state.db, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| (TagsOf(id), found.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<LookupId> for Batch {
    type Value = entity::incident_lookup::Model;
    type Error = BatchError;

    async fn load(&self, keys: &[LookupId]) -> Result<HashMap<LookupId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = read::lookups_by_ids(&self.state.db, &ids).await?;
        Ok(found.into_iter().map(|(k, v)| (LookupId(k), v)).collect())
    }
}
