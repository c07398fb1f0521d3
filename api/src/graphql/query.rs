//! Reads: the catalog, one dataset, one record, anchors.

use crate::error::{ApiError, ApiResult};
use crate::graphql::limits::page_cost;
use crate::graphql::types::connections::{
    AnchorConnection, DatasetConnection, anchors_page, datasets_page,
};
use crate::graphql::types::dataset::Dataset;
use crate::graphql::types::institution::Institution;
use crate::graphql::types::record::{Log, Record};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::services;
use crate::services::datasets::load_visible;
use async_graphql::{Context, Object};
use civicproof_schema::queries::datasets::CatalogFilter;

pub struct QueryRoot;

/// `Ok(None)` for a 404: GraphQL answers null for a missing or invisible resource.
fn found<T>(r: ApiResult<T>) -> ApiResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ApiError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

#[Object(name = "Query")]
impl QueryRoot {
    /// The catalog: datasets visible to the caller, in creation order (REST `GET
    /// /v1/datasets`). Restricted datasets of other institutions are never listed or
    /// counted.
    #[graphql(complexity = "page_cost(first, None, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn datasets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (a page's `endCursor`).")] after: Option<
            String,
        >,
        #[graphql(desc = "An institution's slug.")] institution: Option<String>,
        #[graphql(desc = "A theme the dataset lists.")] theme: Option<String>,
        #[graphql(desc = "A keyword the dataset lists.")] keyword: Option<String>,
        #[graphql(desc = "Text in title, description or keywords (case-insensitive).")] q: Option<
            String,
        >,
    ) -> async_graphql::Result<DatasetConnection> {
        let filter = CatalogFilter {
            institution,
            theme,
            keyword,
            q,
            after_id: None,
        };
        Ok(datasets_page(ctx, filter, first, after).await?)
    }

    /// One dataset with current counts; null when it does not exist or is not visible to
    /// the caller.
    async fn dataset(
        &self,
        ctx: &Context<'_>,
        institution: String,
        slug: String,
    ) -> async_graphql::Result<Option<Dataset>> {
        // Visibility as REST decides it; the view is read only if a field needs it.
        let visible = found(load_visible(state(ctx), caller(ctx), &institution, &slug).await)?;
        Ok(visible.map(|(ds, inst)| Dataset::lazy(inst.slug, ds.slug)))
    }

    /// An institution; null when it does not exist.
    async fn institution(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Option<Institution>> {
        let inst = found(services::institutions::load(state(ctx), &slug).await)?;
        Ok(inst.map(Institution))
    }

    /// One entry as read; null when the dataset or the seq does not exist or is not
    /// visible.
    async fn record(
        &self,
        ctx: &Context<'_>,
        institution: String,
        dataset: String,
        seq: Seq,
    ) -> async_graphql::Result<Option<Record>> {
        let loaded = found(
            services::records::load_entry(state(ctx), caller(ctx), &institution, &dataset, seq)
                .await,
        )?;
        Ok(loaded.map(|(ds, origin, entry)| {
            Record::new(entry, Log::new(origin, &institution, &ds.slug))
        }))
    }

    /// Anchor batches in batch order, oldest first (as REST `GET /v1/anchors`); empty when
    /// the instance does not anchor.
    async fn anchors(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (a page's `endCursor`).")] after: Option<
            String,
        >,
    ) -> async_graphql::Result<AnchorConnection> {
        Ok(anchors_page(state(ctx), caller(ctx), first, after).await?)
    }
}
