//! Building the schema and exporting its SDL (`civicproof graphql-sdl`, committed as
//! `openapi/schema.graphql`).
//!
//! [`CivicSchema`] executes requests with civicproof's rules around async-graphql's engine:
//! the request limits before execution (`limits::check_request`) and the error codes after
//! (`errors::ensure_codes`). They wrap the request as a whole rather than being engine
//! extensions, because any extension makes the engine call into it for every field it
//! resolves, which a page of records (hundreds of fields) pays for on every request.

use crate::graphql::errors::ensure_codes;
use crate::graphql::limits::{MAX_COMPLEXITY, check_request};
use crate::graphql::mutation::MutationRoot;
use crate::graphql::query::QueryRoot;
use crate::graphql::raw::parse_binary;
use crate::graphql::subscription::SubscriptionRoot;
use crate::state::AppState;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Data, Executor, Request, Response, Schema, SchemaBuilder};
use futures_util::StreamExt;
use std::sync::Arc;

type Engine = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The executable schema (cheap to clone).
#[derive(Clone)]
pub struct CivicSchema(Engine);

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    // Payloads use `RawJson` for the `JSON` scalar that `serde_json::Value` also registers,
    // with the same definition.
    Schema::build_with_ignore_name_conflicts(QueryRoot, MutationRoot, SubscriptionRoot, ["JSON"])
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(20)
}

/// The schema a server executes, with its state.
pub fn build(state: AppState) -> CivicSchema {
    CivicSchema(builder().data(state).finish())
}

/// The schema's SDL.
pub fn sdl() -> String {
    builder().finish().sdl()
}

impl CivicSchema {
    /// Executes a request; payloads in the answer stay stored JSON text (`Value::Binary`),
    /// to be written with [`crate::graphql::raw::to_json`].
    pub async fn execute_raw(&self, mut request: Request) -> Response {
        let resp = match check_request(&mut request) {
            Ok(()) => self.0.execute(request).await,
            Err(e) => Response::from_errors(vec![e]),
        };
        ensure_codes(resp)
    }
}

impl Executor for CivicSchema {
    async fn execute(&self, request: Request) -> Response {
        parse_binary(self.execute_raw(request).await)
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match check_request(&mut request) {
            Ok(()) => self
                .0
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(|resp| parse_binary(ensure_codes(resp)))
                .boxed(),
            Err(e) => {
                futures_util::stream::once(
                    async move { ensure_codes(Response::from_errors(vec![e])) },
                )
                .boxed()
            }
        }
    }
}
