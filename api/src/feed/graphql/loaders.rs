//! Batched loads of what articles and matches hang on: feeds, articles, tags and
//! indicators. One query per kind per request, whatever the page size.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{article, article_indicator, feed};

use crate::feed::read;
use crate::graphql::errors::BatchError;
use crate::state::AppState;

pub type Loaders = DataLoader<Batch>;

pub struct Batch {
    state: AppState,
}

/// The loaders of a resolver (registered in the schema by the assembly).
pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a Loaders> {
    ctx.data::<Loaders>().map_err(|_| {
        crate::error::AppError::Internal("the feeds' loaders are not registered".into()).into()
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

/// A feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedId(pub i64);

/// An article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArticleId(pub i64);

/// An indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndicatorId(pub i64);

/// The tag names of an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOf(pub i64);

/// The indicators of an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndicatorsOf(pub i64);

impl Loader<FeedId> for Batch {
    type Value = feed::Model;
    type Error = BatchError;

    async fn load(&self, keys: &[FeedId]) -> Result<HashMap<FeedId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(read::feeds_by_ids(&self.state.db, &ids)
            .await?
            .into_iter()
            .map(|(id, f)| (FeedId(id), f))
            .collect())
    }
}

impl Loader<ArticleId> for Batch {
    type Value = article::Model;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[ArticleId],
    ) -> Result<HashMap<ArticleId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(read::articles_by_ids(&self.state.db, &ids)
            .await?
            .into_iter()
            .map(|(id, a)| (ArticleId(id), a))
            .collect())
    }
}

impl Loader<IndicatorId> for Batch {
    type Value = article_indicator::Model;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[IndicatorId],
    ) -> Result<HashMap<IndicatorId, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        Ok(read::indicators_by_ids(&self.state.db, &ids)
            .await?
            .into_iter()
            .map(|(id, i)| (IndicatorId(id), i))
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

impl Loader<IndicatorsOf> for Batch {
    type Value = Vec<article_indicator::Model>;
    type Error = BatchError;

    async fn load(
        &self,
        keys: &[IndicatorsOf],
    ) -> Result<HashMap<IndicatorsOf, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found = read::indicators_of(&self.state.db, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| (IndicatorsOf(id), found.remove(&id).unwrap_or_default()))
            .collect())
    }
}
