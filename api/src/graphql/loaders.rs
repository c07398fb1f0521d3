//! Batched loading (async-graphql's DataLoader): everything one request asks for by key in
//! the same execution step becomes one query. A fresh set of loaders serves each request
//! (no cache outlives it).

use crate::error::ApiError;
use crate::services;
use crate::state::AppState;
use async_graphql::dataloader::{DataLoader, Loader};
use civicproof_schema::models::Institution;
use std::collections::HashMap;
use std::sync::Arc;

/// Institutions by slug: a page of 100 datasets asking for their institution costs one query.
pub struct InstitutionLoader {
    state: AppState,
}

impl Loader<String> for InstitutionLoader {
    type Value = Institution;
    type Error = Arc<ApiError>;

    async fn load(&self, slugs: &[String]) -> Result<HashMap<String, Institution>, Self::Error> {
        let found = services::institutions::load_many(&self.state, slugs.to_vec())
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|i| (i.slug.clone(), i)).collect())
    }
}

/// The loaders of one request (or one WebSocket connection).
pub struct Loaders {
    pub institutions: DataLoader<InstitutionLoader, async_graphql::dataloader::HashMapCache>,
}

impl Loaders {
    pub fn new(state: &AppState) -> Self {
        Self {
            // Cached for the request, so a page can prime it with what it already read.
            institutions: DataLoader::with_cache(
                InstitutionLoader {
                    state: state.clone(),
                },
                tokio::spawn,
                async_graphql::dataloader::HashMapCache::default(),
            ),
        }
    }
}
