//! GraphQL errors follow REST's error policy (`crate::error`): every error carries
//! `extensions.code` equal to [`ApiError::code`] (the last segment of REST's problem `type`),
//! `extensions.status` (the HTTP status REST would answer) and, for validation problems,
//! `extensions.errors` as `[{pointer, index?, detail}]`. Internal causes are logged, never
//! sent.
//!
//! Errors raised by the GraphQL engine itself (syntax, unknown fields, wrong argument types,
//! depth and complexity limits) are malformed requests: [`ensure_codes`] gives them the
//! code `bad-request`.

use crate::error::{ApiError, FieldError};
use actix_web::ResponseError;
use async_graphql::{Error, ErrorExtensionValues, Response, ServerError, Value};

impl From<ApiError> for Error {
    fn from(err: ApiError) -> Self {
        to_graphql(&err)
    }
}

/// The GraphQL error for `err`: the problem's `detail` as message, its code and status as
/// extensions.
pub fn to_graphql(err: &ApiError) -> Error {
    if let ApiError::Internal(cause) = err {
        tracing::error!(error = ?cause, "internal error (GraphQL)");
    }
    let problem = err.problem();
    let retry = match err {
        ApiError::InFlight | ApiError::NotYetCheckpointed | ApiError::Unavailable(_) => Some(1),
        ApiError::RateLimited {
            retry_after_secs, ..
        } => Some(*retry_after_secs),
        _ => None,
    };
    let mut ext = ErrorExtensionValues::default();
    fill(
        &mut ext,
        err.code(),
        err.status_code().as_u16(),
        problem.errors.as_deref(),
        retry,
    );
    with_extensions(problem.detail, ext)
}

fn fill(
    ext: &mut ErrorExtensionValues,
    code: &str,
    status: u16,
    errors: Option<&[FieldError]>,
    retry: Option<u64>,
) {
    ext.set("code", code);
    ext.set("status", i32::from(status));
    if let Some(errors) = errors {
        let list = errors
            .iter()
            .map(|e| Value::from_json(serde_json::to_value(e).unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_default();
        ext.set("errors", Value::List(list));
    }
    if let Some(secs) = retry {
        ext.set("retryAfter", secs);
    }
}

fn with_extensions(message: String, ext: ErrorExtensionValues) -> Error {
    Error {
        message,
        source: None,
        extensions: Some(ext),
    }
}

/// The error a stored problem document stands for (an idempotent replay of a failed
/// publishing request answers with the first request's problem).
pub fn from_problem(body: &str) -> Error {
    let Ok(problem) = serde_json::from_str::<serde_json::Value>(body) else {
        return to_graphql(&ApiError::internal(anyhow::anyhow!(
            "stored idempotent response is not JSON"
        )));
    };
    let code = problem["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("bad-request");
    let status = problem["status"].as_u64().unwrap_or(400) as u16;
    let detail = problem["detail"].as_str().unwrap_or("").to_owned();
    let errors: Option<Vec<FieldError>> = problem["errors"].as_array().map(|list| {
        list.iter()
            .map(|e| FieldError {
                pointer: e["pointer"].as_str().unwrap_or("").to_owned(),
                index: e["index"].as_u64().map(|i| i as usize),
                detail: e["detail"].as_str().unwrap_or("").to_owned(),
            })
            .collect()
    });
    let mut ext = ErrorExtensionValues::default();
    fill(&mut ext, code, status, errors.as_deref(), None);
    with_extensions(detail, ext)
}

/// A transport-level error (before any GraphQL execution), as a GraphQL response body.
pub fn response_for(err: &ApiError) -> Response {
    Response::from_errors(vec![server_error(err)])
}

/// `err` as a located-nowhere server error.
pub fn server_error(err: &ApiError) -> ServerError {
    let e = to_graphql(err);
    let mut se = ServerError::new(e.message, None);
    se.extensions = e.extensions;
    se
}

/// A request error with this code (limits checked before execution).
pub fn request_error(code: &str, status: u16, message: impl Into<String>) -> ServerError {
    let mut ext = ErrorExtensionValues::default();
    fill(&mut ext, code, status, None, None);
    let mut se = ServerError::new(message, None);
    se.extensions = Some(ext);
    se
}

/// `err` as a request-level error (no location or path): what an operation refused before
/// it ran answers.
pub fn refusal(err: &ApiError) -> ServerError {
    let e = to_graphql(err);
    let mut se = ServerError::new(e.message, None);
    se.extensions = e.extensions;
    se
}

/// Gives every error that has no code the code `bad-request` (status 400): those come from
/// the GraphQL engine rejecting the request. Applied to every response by the schema's
/// executor (`crate::graphql::schema`).
pub fn ensure_codes(mut resp: Response) -> Response {
    for e in &mut resp.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "bad-request");
            ext.set("status", 400);
        }
    }
    resp
}
