//! Batched loads of what findings and catalog entries hang on: their catalog entry, its CVE
//! ids and tags. One query per kind per request, whatever the page size.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::graphql::errors::BatchError;
use crate::state::AppState;
use crate::vuln::read;

pub type Loaders = DataLoader<Batch>;

pub struct Batch {
    state: AppState,
}

/// The loaders of a resolver (registered in the schema by the assembly).
pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| {
        crate::error::AppError::Internal("the findings' loaders are not registered".into()).into()
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

/// A catalog entry by id (the caller already sees the finding that names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VulnerabilityId(pub i64);

/// The CVE ids of a catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CvesOf(pub i64);

/// The tag names of a catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOf(pub i64);

impl Loader<VulnerabilityId> for Batch {
    type Value = entity::vulnerability::Model;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[VulnerabilityId],
    ) -> Result<HashMap<VulnerabilityId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = read::vulnerabilities_by_ids(&self.state.db, &ids).await?;
        Ok(found
            .into_iter()
            .map(|(k, v)| (VulnerabilityId(k), v))
            .collect())
    }
}

impl Loader<CvesOf> for Batch {
    type Value = Vec<String>;
    type Error = BatchError;

    async fn load(&self, keys: &[CvesOf]) -> Result<HashMap<CvesOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found = read::cves_of(&self.state.db, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| (CvesOf(id), found.remove(&id).unwrap_or_default()))
            .collect())
    }
}

impl Loader<TagsOf> for Batch {
    type Value = Vec<String>;
    type Error = BatchError;

    async fn load(&self, keys: &[TagsOf]) -> Result<HashMap<TagsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found = read::tag_names_of(&self.state.db, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| (TagsOf(id), found.remove(&id).unwrap_or_default()))
            .collect())
    }
}
