//! Rate limits at the edge (API.md, Limits): who a request or WebSocket operation counts as,
//! the middleware that answers 429 before a handler runs, and the client address behind
//! trusted proxies. The counting itself (GCRA, in Redis or in process) is
//! `cluster::ratelimit`. Health, readiness and metrics are never limited.

use crate::auth::{Caller, Role};
use crate::cluster::ratelimit::{Class, Decision, client_addr};
use crate::state::AppState;
use std::net::IpAddr;

/// The key a caller is counted under and its class: a token under its role, a request
/// without one under its client address.
pub fn who(caller: &Caller, addr: Option<IpAddr>) -> (String, Class) {
    match caller {
        Caller::Anonymous => (
            format!(
                "ip:{}",
                addr.map_or_else(|| "unknown".into(), |a| a.to_string())
            ),
            Class::Anonymous,
        ),
        Caller::Admin { token_id } => (
            format!("tok:{}", token_id.map_or("admin".into(), |t| t.to_string())),
            Class::Admin,
        ),
        Caller::Member { token_id, role, .. } => (
            format!("tok:{token_id}"),
            match role {
                Role::Admin => Class::Admin,
                Role::Publisher => Class::Publisher,
                Role::Reader => Class::Reader,
            },
        ),
    }
}

/// What the limiter says of one request or WebSocket operation.
pub enum Verdict {
    /// No limit applies.
    Unlimited,
    Allowed(Decision),
    Refused(Decision),
    /// Redis should have answered and the limiter fails closed.
    Unavailable,
}

impl Verdict {
    /// The error a refused request or operation answers.
    pub fn error(&self) -> Option<crate::error::ApiError> {
        match self {
            Self::Unlimited | Self::Allowed(_) => None,
            Self::Refused(d) => Some(crate::error::ApiError::RateLimited {
                detail: format!(
                    "This client may make {} requests per {} s; retry in {} s.",
                    d.limit, d.window_secs, d.retry_after_secs
                ),
                retry_after_secs: d.retry_after_secs,
            }),
            Self::Unavailable => Some(crate::error::ApiError::Unavailable("The rate limiter")),
        }
    }
}

/// Counts one request (or WebSocket operation) of `caller` from `addr` against its limit:
/// per token for a token, per client address without one.
pub async fn judge(state: &AppState, caller: &Caller, addr: Option<IpAddr>) -> Verdict {
    let cluster = &state.cluster;
    let (key, class) = who(caller, addr);
    let Some(subject) = cluster.limiter.subject(key, class) else {
        return Verdict::Unlimited;
    };
    let redis = cluster.redis().map(|l| (l, cluster.prefix.as_str()));
    match cluster
        .limiter
        .check(&subject, redis, cluster.link.is_some())
        .await
    {
        Ok(d) if d.allowed => Verdict::Allowed(d),
        Ok(d) => {
            cluster
                .stats
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Verdict::Refused(d)
        }
        Err(()) => Verdict::Unavailable,
    }
}

/// The client address of a request (see [`client_addr`]).
pub fn request_addr(req: &actix_web::HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    client_addr(req.peer_addr().map(|a| a.ip()), &forwarded, trusted)
}

/// The middleware: counts every request but health, readiness and metrics, and answers 429
/// (or 503 when failing closed) before the handler runs. The caller it resolves is left in
/// the request for the `Caller` extractor, so a token costs one lookup.
pub async fn middleware(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
    if matches!(req.path(), "/healthz" | "/readyz" | "/metrics") {
        return next.call(req).await;
    }
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let caller = match req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer)
    {
        Some(token) => match crate::auth::resolve(&state, token).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller.clone());
                caller
            }
            // The handler answers 401; until then it counts as its address.
            Err(_) => Caller::Anonymous,
        },
        None => Caller::Anonymous,
    };
    let addr = request_addr(req.request(), &state.config.trusted_proxies);
    let verdict = judge(&state, &caller, addr).await;
    let decision = match &verdict {
        Verdict::Unlimited => return next.call(req).await,
        Verdict::Allowed(d) | Verdict::Refused(d) => *d,
        Verdict::Unavailable => {
            let err = verdict.error().expect("unavailable is an error");
            return Ok(req.error_response(err));
        }
    };
    let mut resp = match verdict.error() {
        None => next.call(req).await?,
        Some(err) => req.error_response(err),
    };
    let headers = [
        ("ratelimit-limit", decision.limit.to_string()),
        ("ratelimit-remaining", decision.remaining.to_string()),
        ("ratelimit-reset", decision.reset_secs.to_string()),
        (
            "ratelimit-policy",
            format!("{};w={}", decision.limit, decision.window_secs),
        ),
    ];
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    Ok(resp)
}
