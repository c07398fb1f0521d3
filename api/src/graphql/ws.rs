//! GraphQL over WebSocket (`graphql-transport-ws`), under the same rules as HTTP for every
//! operation, not just at connect time:
//! - the connection's token is resolved again for each operation (a revoked token's
//!   operations fail with `unauthorized`, `issueToken` included) and each operation counts
//!   against the caller's rate limit like an HTTP request;
//! - a revoked token closes its sockets at once (4403), on this replica through the
//!   revocation broadcast and on the others through the bus or the invalidation outbox;
//! - per connection: at most [`MAX_SUBSCRIPTIONS`] live subscriptions and [`MAX_RUNNING`]
//!   queries or mutations at once (more fail with `rate-limited`), messages of at most
//!   [`MAX_MESSAGE_BYTES`], and inbound messages read only as fast as they are handled
//!   (a bounded queue, so a flooding client waits on TCP instead of growing memory);
//! - the server pings every [`PING_EVERY`] and drops a client silent for [`SILENT_FOR`].
//!
//! The protocol itself is async-graphql's; this module owns the socket around it.

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult};
use crate::graphql::errors::refusal;
use crate::graphql::loaders::Loaders;
use crate::graphql::schema::CivicSchema;
use crate::graphql::subscription::ConnectionToken;
use crate::state::AppState;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response};
use futures_util::{FutureExt, StreamExt};

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};

/// The subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// Largest message: a query document's limit plus room for variables and the envelope.
pub const MAX_MESSAGE_BYTES: usize = crate::graphql::limits::MAX_QUERY_BYTES + 16 * 1024;
/// Live subscriptions per connection.
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Queries and mutations executing at once per connection.
pub const MAX_RUNNING: usize = 4;
/// Inbound messages queued before reading from the socket pauses.
const INBOUND_QUEUE: usize = 8;
pub const PING_EVERY: Duration = Duration::from_secs(15);
pub const SILENT_FOR: Duration = Duration::from_secs(45);

/// Upgrades `req` and serves the connection on this worker until either side ends it.
pub fn serve(
    schema: CivicSchema,
    state: AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let addr = crate::edge::limits::request_addr(req, &state.config.trusted_proxies);
    // The token comes later (`connection_init`): sockets count per client address.
    let slot = match state
        .cluster
        .streams
        .take(crate::edge::limits::who(&Caller::Anonymous, addr).0)
    {
        Ok(slot) => slot,
        Err(e) => return Ok(actix_web::ResponseError::error_response(&e)),
    };
    let (mut response, session, messages) = actix_ws::handle(req, payload)?;
    response
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    let conn = Arc::new(Connection::new(state, addr));
    let messages = messages
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    actix_web::rt::spawn(async move {
        run(schema, conn, session, messages).await;
        drop(slot);
    });
    Ok(response)
}

/// What one socket knows of its caller, shared by its loop and its executor.
struct Connection {
    state: AppState,
    addr: Option<IpAddr>,
    /// Set by `connection_init`: the caller and its bearer token, if any.
    who: Mutex<(Caller, Option<String>)>,
    subscriptions: Arc<Semaphore>,
    running: Arc<Semaphore>,
    /// Rung when an operation found the token revoked: the loop closes the socket.
    revoked: Notify,
}

impl Connection {
    fn new(state: AppState, addr: Option<IpAddr>) -> Self {
        Self {
            state,
            addr,
            who: Mutex::new((Caller::Anonymous, None)),
            subscriptions: Arc::new(Semaphore::new(MAX_SUBSCRIPTIONS)),
            running: Arc::new(Semaphore::new(MAX_RUNNING)),
            revoked: Notify::new(),
        }
    }

    fn token_id(&self) -> Option<uuid::Uuid> {
        let who = self.who.lock().expect("connection lock");
        who.1.as_ref().and(who.0.token_id())
    }

    /// `connection_init`: the `Authorization` member of the payload, resolved as for HTTP.
    async fn init(&self, payload: serde_json::Value) -> async_graphql::Result<Data> {
        let (caller, token) = connection_caller(&self.state, &payload)
            .await
            .map_err(|e| async_graphql::Error::new(e.problem().detail))?;
        *self.who.lock().expect("connection lock") = (caller.clone(), token.clone());
        let mut data = Data::default();
        data.insert(caller);
        if let Some(token) = token {
            data.insert(ConnectionToken(token));
        }
        data.insert(Loaders::new(&self.state));
        Ok(data)
    }

    /// The caller now: the token resolved again (a revoked one fails and closes the socket).
    async fn caller_now(&self) -> ApiResult<Caller> {
        let (caller, token) = self.who.lock().expect("connection lock").clone();
        let Some(token) = token else {
            return Ok(caller);
        };
        match auth::resolve(&self.state, &token).await {
            Ok(c) => Ok(c),
            Err(e @ ApiError::Unauthorized(_)) => {
                self.revoked.notify_one();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The token and the rate limit, for one operation.
    async fn admit(&self) -> ApiResult<Caller> {
        let caller = self.caller_now().await?;
        let verdict = crate::edge::limits::judge(&self.state, &caller, self.addr).await;
        match verdict.error() {
            Some(err) => Err(err),
            None => Ok(caller),
        }
    }

    /// A place for one more operation, taken in the order operations arrive; it is held as
    /// long as the operation runs.
    fn place(&self, subscription: bool) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        let (pool, what, cap) = if subscription {
            (&self.subscriptions, "live subscriptions", MAX_SUBSCRIPTIONS)
        } else {
            (&self.running, "operations running", MAX_RUNNING)
        };
        let permit = pool
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::RateLimited {
                detail: format!(
                    "This connection already has {cap} {what}; complete one first or open \
                     another connection."
                ),
                retry_after_secs: 1,
            })?;
        Ok(permit)
    }
}

/// The executor of one connection: checks each operation, then runs it on the schema.
#[derive(Clone)]
struct ConnExecutor {
    schema: CivicSchema,
    conn: Arc<Connection>,
}

impl Executor for ConnExecutor {
    async fn execute(&self, request: Request) -> Response {
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let refused = |err: ApiError| {
            futures_util::stream::once(async move { Response::from_errors(vec![refusal(&err)]) })
                .boxed()
        };
        let subscription = is_subscription(&mut request);
        let permit = match self.conn.place(subscription) {
            Ok(p) => p,
            Err(err) => return refused(err),
        };
        let (schema, conn) = (self.schema.clone(), self.conn.clone());
        async move {
            let caller = match conn.admit().await {
                Ok(caller) => caller,
                Err(err) => return refused(err),
            };
            let request = request.data(caller);
            let responses = if subscription {
                schema.execute_stream(request, session_data)
            } else {
                // A query or mutation: one answer, under the same database budget as HTTP.
                let request = request.data(Loaders::new(&conn.state));
                futures_util::stream::once(crate::db::scoped(async move {
                    crate::graphql::raw::parse_binary(schema.execute_raw(request).await)
                }))
                .boxed()
            };
            responses
                .map(move |response| {
                    let _held = &permit;
                    response
                })
                .boxed()
        }
        .flatten_stream()
        .boxed()
    }
}

/// Whether the request's operation is a subscription (an unparsable one is not; the schema
/// reports its error).
fn is_subscription(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return false;
    };
    doc.operations.iter().any(|(op_name, op)| {
        op.node.ty == OperationType::Subscription
            && (name.is_none() || op_name.map(|n| n.as_str()) == name.as_deref())
    })
}

/// Moves messages between the socket and the protocol until either side ends.
async fn run(
    schema: CivicSchema,
    conn: Arc<Connection>,
    mut session: actix_ws::Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let (inbound, inbound_rx) = mpsc::channel::<Vec<u8>>(INBOUND_QUEUE);
    let init_conn = conn.clone();
    let protocol = async_graphql::http::WebSocket::new(
        ConnExecutor {
            schema,
            conn: conn.clone(),
        },
        stream_of(inbound_rx),
        WebSocketProtocols::GraphQLWS,
    )
    .on_connection_init(move |payload| async move { init_conn.init(payload).await });
    let mut protocol = Box::pin(protocol);
    let mut revocations = conn.state.cluster.revocations.subscribe();
    let mut stopping = conn.state.stopping.subscribe();
    let mut pending: Option<Vec<u8>> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = Instant::now();
    let revoked = || CloseReason {
        code: CloseCode::Other(4403),
        description: Some("Forbidden: the token was revoked".into()),
    };
    let close = loop {
        tokio::select! {
            permit = inbound.reserve(), if pending.is_some() => match permit {
                Ok(p) => p.send(pending.take().unwrap_or_default()),
                Err(_) => break None,
            },
            msg = messages.recv(), if pending.is_none() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(AggregatedMessage::Text(text))) => pending = Some(text.as_bytes().to_vec()),
                    Some(Ok(AggregatedMessage::Binary(bytes))) => pending = Some(bytes.to_vec()),
                    Some(Ok(AggregatedMessage::Ping(p))) => {
                        if session.pong(&p).await.is_err() {
                            break None;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => break None,
                    Some(Err(e)) => break Some(CloseReason {
                        code: CloseCode::Size,
                        description: Some(format!("{e}")),
                    }),
                }
            },
            out = protocol.next() => match out {
                Some(WsMessage::Text(text)) => {
                    if session.text(text).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break Some(CloseReason {
                    code: CloseCode::from(code),
                    description: Some(reason),
                }),
                None => break None,
            },
            r = revocations.recv() => match r {
                Ok(id) if conn.token_id() == Some(id) => break Some(revoked()),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if conn.caller_now().await.is_err() {
                        break Some(revoked());
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break None,
            },
            () = conn.revoked.notified() => break Some(revoked()),
            _ = stopping.wait_for(|s| *s) => break Some(CloseReason {
                code: CloseCode::Away,
                description: Some("The server is restarting; reconnect".into()),
            }),
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_FOR || session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = session.close(close).await;
}

/// An mpsc receiver as a stream.
fn stream_of(rx: mpsc::Receiver<Vec<u8>>) -> impl futures_util::Stream<Item = Vec<u8>> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
}

/// The caller of a WebSocket and its token: the `Authorization` member of the
/// `connection_init` payload (`"Bearer <token>"`), resolved as for HTTP; anonymous without
/// one.
async fn connection_caller(
    state: &AppState,
    init: &serde_json::Value,
) -> ApiResult<(Caller, Option<String>)> {
    let value = init.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v)
    });
    let header = match value {
        None | Some(serde_json::Value::Null) => return Ok((Caller::Anonymous, None)),
        Some(v) => v.as_str(),
    };
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| {
            ApiError::Unauthorized("The bearer token is malformed, unknown or revoked.".into())
        })?;
    Ok((auth::resolve(state, token).await?, Some(token.to_owned())))
}
