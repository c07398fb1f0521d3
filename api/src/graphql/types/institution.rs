//! An institution: a publisher of datasets (a transport authority, a utility, …).

use crate::graphql::limits::page_cost;
use crate::graphql::types::connections::{DatasetConnection, datasets_page};
use crate::views::rfc3339;
use async_graphql::{Context, Object};
use civicproof_schema::models::Institution as InstitutionRow;
use civicproof_schema::queries::datasets::CatalogFilter;

pub struct Institution(pub InstitutionRow);

#[Object]
impl Institution {
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn homepage(&self) -> Option<&str> {
        self.0.homepage.as_deref()
    }

    async fn contact(&self) -> Option<&str> {
        self.0.contact.as_deref()
    }

    /// RFC 3339, UTC.
    async fn created_at(&self) -> String {
        rfc3339(self.0.created_at)
    }

    /// This institution's datasets visible to the caller, in creation order.
    #[graphql(complexity = "page_cost(first, None, child_complexity)")]
    async fn datasets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (a page's `endCursor`).")] after: Option<
            String,
        >,
        #[graphql(desc = "A theme the dataset lists.")] theme: Option<String>,
        #[graphql(desc = "A keyword the dataset lists.")] keyword: Option<String>,
        #[graphql(desc = "Text in title, description or keywords (case-insensitive).")] q: Option<
            String,
        >,
    ) -> async_graphql::Result<DatasetConnection> {
        let filter = CatalogFilter {
            institution: Some(self.0.slug.clone()),
            theme,
            keyword,
            q,
            after_id: None,
        };
        Ok(datasets_page(ctx, filter, first, after).await?)
    }
}
