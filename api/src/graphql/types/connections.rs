//! Relay connections: datasets, records and anchors. `totalCount` is resolved only when
//! asked for (it counts every match, which is expensive on large logs).

use crate::error::{ApiError, ApiResult};
use crate::graphql::limits::COUNT_COST;
use crate::graphql::pagination::{
    RecordCursor, Window, dataset_cursor, parse_dataset_cursor, window,
};
use crate::graphql::types::dataset::Dataset;
use crate::graphql::types::proofs::Anchor;
use crate::graphql::types::record::{Log, PageRecord, Record};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::services::feed::{self, FeedFormat, FeedQuery};
use crate::state::AppState;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Object};
use civicproof_schema::models::Dataset as DatasetRow;
use civicproof_schema::queries::datasets::CatalogFilter;
use civicproof_schema::queries::entries::FeedFilter;

pub type DatasetConnection = Connection<String, Dataset, DatasetCount, EmptyFields>;
pub type RecordConnection = Connection<RecordCursor, PageRecord, RecordCount, EmptyFields>;
pub type AnchorConnection = Connection<String, Anchor, AnchorCount, EmptyFields>;

pub struct DatasetCount {
    filter: CatalogFilter,
}

#[Object]
impl DatasetCount {
    /// How many datasets visible to the caller match the filters (all pages).
    #[graphql(complexity = "COUNT_COST")]
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Seq> {
        let n =
            crate::services::datasets::count(state(ctx), caller(ctx), self.filter.clone()).await?;
        Ok(Seq(n))
    }
}

pub struct RecordCount {
    dataset_id: i64,
    filter: FeedFilter,
}

#[Object]
impl RecordCount {
    /// How many entries match the filters (all pages). Counting a large log is slow: ask
    /// only when needed.
    #[graphql(complexity = "COUNT_COST")]
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Seq> {
        Ok(Seq(
            feed::count(state(ctx), self.dataset_id, &self.filter).await?
        ))
    }
}

pub struct AnchorCount;

#[Object]
impl AnchorCount {
    /// Anchor batches made so far (every status).
    #[graphql(complexity = "COUNT_COST")]
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<Seq> {
        Ok(Seq(crate::services::anchors::count(state(ctx)).await?))
    }
}

/// One page of the catalog (`Query.datasets`, `Institution.datasets`).
pub async fn datasets_page(
    ctx: &Context<'_>,
    mut filter: CatalogFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<DatasetConnection> {
    let (st, who) = (state(ctx), caller(ctx));
    let Window::First(limit) = window(st, first, None)? else {
        return Err(ApiError::BadRequest("datasets pages forward only.".into()));
    };
    filter.after_id = after.as_deref().map(parse_dataset_cursor).transpose()?;
    let count_filter = CatalogFilter {
        after_id: None,
        ..filter.clone()
    };
    let (items, more) = crate::services::datasets::list_with_ids(st, who, filter, limit).await?;
    let mut conn = Connection::with_additional_fields(
        false,
        more,
        DatasetCount {
            filter: count_filter,
        },
    );
    // The page already read each dataset's institution: prime the loader with them, so that
    // `institution { … }` costs no query, however the resolvers' timing falls.
    crate::graphql::loaders(ctx)
        .institutions
        .feed_many(
            items
                .iter()
                .map(|(_, _, inst)| (inst.slug.clone(), inst.clone())),
        )
        .await;
    conn.edges.extend(
        items
            .into_iter()
            .map(|(id, view, _)| Edge::new(dataset_cursor(id), Dataset::new(view))),
    );
    Ok(conn)
}

/// One page of a dataset's entries (`Dataset.records`): `first` pages forward after
/// `after`, `last` backward before `before`; both bounds apply when given.
pub async fn records_page(
    st: &AppState,
    ds: &DatasetRow,
    institution: &str,
    filter: FeedFilter,
    after: Option<i64>,
    before: Option<i64>,
    window: Window,
) -> ApiResult<RecordConnection> {
    let q = FeedQuery {
        after,
        limit: None,
        format: FeedFormat::Json,
        filter: filter.clone(),
        passthrough: Vec::new(),
    };
    let (rows, has_previous, has_next) = match (window, before) {
        (Window::First(n), None) => {
            let (rows, more) = feed::page(st, ds.id, &q, n).await?;
            (rows, false, more)
        }
        (Window::First(n), Some(b)) => {
            // One row beyond the page tells whether more lie between the cursors.
            let (mut rows, _) = feed::page(st, ds.id, &q, n + 1).await?;
            rows.retain(|e| e.seq < b);
            let more = rows.len() > n;
            rows.truncate(n);
            (rows, false, more)
        }
        (Window::Last(n), before) => {
            let (rows, more) = feed::page_before(st, ds.id, &q, before, n).await?;
            (rows, more, false)
        }
    };
    let log = Log::new(st.origin(institution, &ds.slug), institution, &ds.slug);
    let mut conn = Connection::with_additional_fields(
        has_previous,
        has_next,
        RecordCount {
            dataset_id: ds.id,
            filter,
        },
    );
    conn.edges.extend(
        rows.into_iter()
            .map(|e| Edge::new(RecordCursor(e.seq), PageRecord(Record::new(e, log.clone())))),
    );
    Ok(conn)
}

/// One page of anchor batches in batch order (REST `GET /v1/anchors`).
pub async fn anchors_page(
    st: &AppState,
    who: &crate::auth::Caller,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<AnchorConnection> {
    let limit = match window(st, first, None)? {
        Window::First(n) | Window::Last(n) => n.to_string(),
    };
    let (batches, next, _) =
        crate::services::anchors::list(st, who, after.as_deref(), Some(&limit)).await?;
    let mut conn = Connection::with_additional_fields(after.is_some(), next.is_some(), AnchorCount);
    conn.edges.extend(batches.into_iter().map(|b| {
        Edge::new(
            crate::services::anchors::cursor(b.batch_seq as i64),
            Anchor::from_batch(b),
        )
    }));
    Ok(conn)
}
