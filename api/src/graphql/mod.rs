//! The GraphQL API (API.md, GraphQL): `POST /graphql`, GraphiQL on `GET /graphql`, and
//! subscriptions over WebSocket (`graphql-transport-ws`) on the same path.
//!
//! Resolvers are thin: they call the same service functions as the REST handlers
//! (`crate::services`, `crate::services::proofs`), so validation, authorization, limits and
//! idempotency live once. Errors carry REST's problem codes (`errors`), requests are bounded
//! before execution (`limits`), and lookups by key are batched (`loaders`).
//!
//! Layout: `schema` (build and SDL), `http` (endpoints and the WebSocket handshake), `ws`
//! (the WebSocket: per-operation token, rate limit and caps),
//! `graphiql` (the page and its vendored assets), `query`, `mutation`, `subscription` (the
//! roots), `types` (objects, inputs, enums, the `Seq` scalar, connections), `pagination`
//! (connection arguments and cursors), `raw` (stored JSON text sent as is).

pub mod errors;
mod graphiql;
mod http;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod pagination;
pub mod query;
pub mod raw;
pub mod schema;
pub mod subscription;
pub mod types;
mod ws;

pub use http::configure;
pub use schema::{CivicSchema, build, sdl};

use crate::auth::Caller;
use crate::state::AppState;
use async_graphql::Context;
use loaders::Loaders;

static ANONYMOUS: Caller = Caller::Anonymous;

/// The server state (schema data).
pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// Who is calling (request or connection data); anonymous when absent.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// This request's (or connection's) loaders.
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}
