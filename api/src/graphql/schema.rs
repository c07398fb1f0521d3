//! Building the schema and exporting its SDL (`civicproof graphql-sdl`, committed as
//! `openapi/schema.graphql`).

use crate::graphql::errors::ErrorCodes;
use crate::graphql::limits::{MAX_COMPLEXITY, QueryShape};
use crate::graphql::mutation::MutationRoot;
use crate::graphql::query::QueryRoot;
use crate::graphql::subscription::SubscriptionRoot;
use crate::state::AppState;
use async_graphql::{Schema, SchemaBuilder};

pub type CivicSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(20)
        .extension(ErrorCodes)
        .extension(QueryShape)
}

/// The schema a server executes, with its state.
pub fn build(state: AppState) -> CivicSchema {
    builder().data(state).finish()
}

/// The schema's SDL.
pub fn sdl() -> String {
    builder().finish().sdl()
}
