//! A dataset: metadata, counts, its newest checkpoint and its log of records.

use crate::error::{ApiError, ApiResult};
use crate::graphql::limits::records_cost;
use crate::graphql::pagination::{parse_record_cursor, window};
use crate::graphql::types::connections::{RecordConnection, records_page};
use crate::graphql::types::enums::Access;
use crate::graphql::types::institution::Institution;
use crate::graphql::types::proofs::{Anchor, Checkpoint};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, loaders, state};
use crate::services::datasets::load_visible;
use crate::services::{self, feed};
use crate::views::DatasetView;
use async_graphql::{Context, Object};
use civicproof_schema::queries::entries::FeedFilter;
use serde_json::Value;
use tokio::sync::OnceCell;

/// A dataset. Its view (metadata, current counts, newest checkpoint) is read when a field
/// needs it: a query for records only reads none of it.
pub struct Dataset {
    institution: String,
    slug: String,
    view: OnceCell<DatasetView>,
}

impl Dataset {
    /// A dataset whose view is at hand.
    pub fn new(view: DatasetView) -> Self {
        Self {
            institution: view.institution.clone(),
            slug: view.slug.clone(),
            view: OnceCell::new_with(Some(view)),
        }
    }

    /// A dataset known to be visible to the caller; its view is read on first use.
    pub fn lazy(institution: String, slug: String) -> Self {
        Self {
            institution,
            slug,
            view: OnceCell::new(),
        }
    }

    /// The view, read with current counts (REST `GET /v1/datasets/{inst}/{ds}`) once.
    async fn view(&self, ctx: &Context<'_>) -> ApiResult<&DatasetView> {
        self.view
            .get_or_try_init(|| {
                services::datasets::get(state(ctx), caller(ctx), &self.institution, &self.slug)
            })
            .await
    }
}

#[Object]
impl Dataset {
    /// The publishing institution.
    async fn institution(&self, ctx: &Context<'_>) -> async_graphql::Result<Institution> {
        let found = loaders(ctx)
            .institutions
            .load_one(self.institution.clone())
            .await
            .map_err(|e| crate::graphql::errors::to_graphql(&e))?;
        let inst = found.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("institution {} vanished", self.institution))
        })?;
        Ok(Institution(inst))
    }

    async fn slug(&self) -> &str {
        &self.slug
    }

    /// `<prefix>/<institution>/<dataset>`: the log's origin; never changes.
    async fn origin(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.origin)
    }

    /// The signed-note verifier key for this origin.
    async fn vkey(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.vkey)
    }

    async fn title(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.title)
    }

    async fn description(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.description)
    }

    async fn license(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.license)
    }

    async fn access(&self, ctx: &Context<'_>) -> async_graphql::Result<Access> {
        Ok(self.view(ctx).await?.access.into())
    }

    async fn themes(&self, ctx: &Context<'_>) -> async_graphql::Result<&Vec<String>> {
        Ok(&self.view(ctx).await?.themes)
    }

    async fn keywords(&self, ctx: &Context<'_>) -> async_graphql::Result<&Vec<String>> {
        Ok(&self.view(ctx).await?.keywords)
    }

    /// The JSON Schema (2020-12) every payload must satisfy, if any.
    async fn schema(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&Value>> {
        Ok(self.view(ctx).await?.schema.as_ref())
    }

    /// Entries of kind `record`.
    async fn record_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Seq> {
        Ok(Seq(self.view(ctx).await?.record_count))
    }

    /// The tree size: all entries, records and erasures.
    async fn entry_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Seq> {
        Ok(Seq(self.view(ctx).await?.entry_count))
    }

    /// The newest signed checkpoint.
    async fn checkpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Checkpoint>> {
        Ok(self
            .view(ctx)
            .await?
            .checkpoint
            .as_deref()
            .map(Checkpoint::from_note)
            .transpose()?)
    }

    /// The newest confirmed anchor batch holding one of this dataset's checkpoints.
    async fn latest_anchor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Anchor>> {
        Ok(crate::services::anchors::latest_of(
            state(ctx),
            caller(ctx),
            &self.institution,
            &self.slug,
        )
        .await?
        .map(Anchor::from_batch))
    }

    /// RFC 3339, UTC.
    async fn created_at(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.created_at)
    }

    /// RFC 3339, UTC.
    async fn updated_at(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        Ok(&self.view(ctx).await?.updated_at)
    }

    /// The log's entries in seq order, with the REST feed's filters. `first`/`after` pages
    /// forward, `last`/`before` backward; cursors are the REST feed's `next_cursor` values.
    /// `hasPreviousPage` is computed when paging backward and `hasNextPage` when paging
    /// forward; the other is false (Relay allows this).
    #[graphql(complexity = "records_cost(first, last, payload.as_ref(), child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size from the start, 1 to 1000 (default 100).")] first: Option<i32>,
        #[graphql(desc = "Entries after this cursor (or seq).")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 1000.")] last: Option<i32>,
        #[graphql(desc = "Entries before this cursor (or seq).")] before: Option<String>,
        #[graphql(desc = "Only entries with this key.")] key: Option<String>,
        #[graphql(desc = "Published strictly after this RFC 3339 time.")] published_after: Option<
            String,
        >,
        #[graphql(desc = "Published strictly before this RFC 3339 time.")] published_before: Option<
            String,
        >,
        #[graphql(
            desc = "Top-level payload fields and values, e.g. `{sensor: \"s1\", pm10: 17.2}` (at most 10), compared like REST's `payload.<field>=value`: a number, or a string that reads as one, matches a numeric field by value; otherwise the text must be equal. Erased records never match."
        )]
        payload: Option<Value>,
        #[graphql(
            desc = "Only current versions: per non-null key the highest seq (even if erased); entries without a key are always current."
        )]
        current: Option<bool>,
    ) -> async_graphql::Result<RecordConnection> {
        let (st, who) = (state(ctx), caller(ctx));
        let window = window(st, first, last)?;
        let after = after
            .as_deref()
            .map(|c| parse_record_cursor("after", c))
            .transpose()?;
        let before = before
            .as_deref()
            .map(|c| parse_record_cursor("before", c))
            .transpose()?;
        let filter = feed_filter(key, published_after, published_before, payload, current)?;
        let (ds, inst) = load_visible(st, who, &self.institution, &self.slug).await?;
        Ok(records_page(st, &ds, &inst.slug, filter, after, before, window).await?)
    }
}

/// The REST feed's filters from GraphQL arguments.
pub fn feed_filter(
    key: Option<String>,
    published_after: Option<String>,
    published_before: Option<String>,
    payload: Option<Value>,
    current: Option<bool>,
) -> ApiResult<FeedFilter> {
    // PostgreSQL text cannot hold U+0000, and no stored key or payload contains it.
    let nul = |s: &str| s.contains('\0');
    if key.as_deref().is_some_and(nul)
        || payload.as_ref().is_some_and(|p| {
            p.as_object()
                .is_some_and(|m| m.iter().any(|(k, v)| nul(k) || v.as_str().is_some_and(nul)))
        })
    {
        return Err(ApiError::BadRequest(
            "Filters must not contain U+0000.".into(),
        ));
    }
    let mut filter = FeedFilter {
        key,
        published_after: published_after
            .as_deref()
            .map(|v| feed::parse_time("publishedAfter", v))
            .transpose()?,
        published_before: published_before
            .as_deref()
            .map(|v| feed::parse_time("publishedBefore", v))
            .transpose()?,
        payload: Vec::new(),
        current: current.unwrap_or(false),
    };
    match payload {
        None | Some(Value::Null) => {}
        Some(Value::Object(fields)) => {
            if fields.len() > feed::MAX_PAYLOAD_FILTERS {
                return Err(ApiError::BadRequest("At most 10 payload filters.".into()));
            }
            for (field, value) in fields {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "The payload filter on {field:?} must be a string, number or boolean."
                        )));
                    }
                };
                let f = feed::payload_filter(&field, &text).ok_or_else(|| {
                    ApiError::BadRequest(format!("Bad payload filter field {field:?}."))
                })?;
                filter.payload.push(f);
            }
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "payload must be an object of top-level fields and values.".into(),
            ));
        }
    }
    Ok(filter)
}
