//! The one error type at the HTTP boundary.
//!
//! Error policy (after crates.io's `util/errors.rs`):
//! - The schema crate returns diesel errors; services turn the ones a client can cause
//!   (a taken slug, a missing row) into specific [`ApiError`] variants and let the rest
//!   become [`ApiError::Internal`].
//! - Every variant maps to exactly one status and one problem type (RFC 9457). GraphQL uses
//!   the same [`ApiError::code`] as `extensions.code`.
//! - Internal errors are logged with their cause and answered with a fixed text: nothing a
//!   database, a parser or the OS said ever reaches a client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// One problem with one field or one record of a request.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON Pointer to the field, e.g. `/slug`, `/3/payload/pm10`, or `/records/3` for a whole record.
    pub pointer: String,
    /// Index of the record in the batch, when the problem is in one record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub detail: String,
}

impl FieldError {
    pub fn field(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            index: None,
            detail: detail.into(),
        }
    }
    pub fn record(index: usize, detail: impl Into<String>) -> Self {
        Self {
            pointer: format!("/{index}"),
            index: Some(index),
            detail: detail.into(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound,
    Conflict(String),
    /// An Idempotency-Key is in use by a request still running.
    InFlight,
    PayloadTooLarge(usize),
    UnsupportedMediaType(String),
    /// The resource cannot be given in the representation asked for.
    NotAcceptable(String),
    /// The resource existed and was removed on purpose (an erased payload).
    Gone(String),
    Validation(Vec<FieldError>),
    /// An Idempotency-Key was reused with a different request body.
    IdempotencyMismatch,
    /// The entry exists but no signed checkpoint covers it yet.
    NotYetCheckpointed,
    /// Over the caller's rate limit (a request, or an operation on a WebSocket), or over a
    /// per-connection cap.
    RateLimited {
        detail: String,
        retry_after_secs: u64,
    },
    Unavailable(&'static str),
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn validation(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::field(pointer, detail)])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// Stable machine-readable code; the last segment of the problem `type`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not-found",
            Self::Conflict(_) => "conflict",
            Self::InFlight => "idempotency-key-in-flight",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::NotAcceptable(_) => "not-acceptable",
            Self::Gone(_) => "gone",
            Self::Validation(_) => "validation-failed",
            Self::IdempotencyMismatch => "idempotency-key-reused",
            Self::NotYetCheckpointed => "not-yet-checkpointed",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Malformed request",
            Self::Unauthorized(_) => "Missing or invalid credentials",
            Self::Forbidden(_) => "Not allowed",
            Self::NotFound => "Not found",
            Self::Conflict(_) => "Conflict",
            Self::InFlight => "Request with this Idempotency-Key is in flight",
            Self::PayloadTooLarge(_) => "Request body too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::NotAcceptable(_) => "Not acceptable",
            Self::Gone(_) => "Gone",
            Self::Validation(_) => "Validation failed",
            Self::IdempotencyMismatch => "Idempotency-Key reused with a different request",
            Self::NotYetCheckpointed => "Entry not yet checkpointed",
            Self::RateLimited { .. } => "Too many requests",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::UnsupportedMediaType(d)
            | Self::NotAcceptable(d)
            | Self::Gone(d)
            | Self::RateLimited { detail: d, .. } => d.clone(),
            Self::NotFound => "No such resource, or it is not visible to this caller.".into(),
            Self::InFlight => {
                "A request with this Idempotency-Key is still being processed; retry later.".into()
            }
            Self::PayloadTooLarge(limit) => {
                format!("The request body exceeds the limit of {limit} bytes.")
            }
            Self::Validation(errors) => match errors.as_slice() {
                [one] => one.detail.clone(),
                many => format!("{} problems; see `errors`.", many.len()),
            },
            Self::IdempotencyMismatch => {
                "This Idempotency-Key was used with a different request body.".into()
            }
            Self::NotYetCheckpointed => {
                "The entry is not yet covered by a signed checkpoint; retry shortly.".into()
            }
            Self::Unavailable(what) => format!("{what} is unavailable; retry later."),
            Self::Internal(_) => "The server failed to handle this request.".into(),
        }
    }

    /// The RFC 9457 problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            r#type: format!("https://civicproof.org/problems/{}", self.code()),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Each bad field or record, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.detail())
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::InFlight | Self::NotYetCheckpointed => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Gone(_) => StatusCode::GONE,
            Self::Validation(_) | Self::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(err) = self {
            tracing::error!(error = ?err, "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            Self::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::InFlight | Self::NotYetCheckpointed | Self::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        resp.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            // The database went away mid-request: a dependency is down, not a bug.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                tracing::warn!(error = %err, "database connection lost");
                Self::Unavailable("The database")
            }
            // PostgreSQL cancelled a statement past CIVICPROOF_DB_STATEMENT_TIMEOUT_MS.
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().contains("statement timeout") =>
            {
                tracing::warn!(error = %err, "statement cancelled by the statement timeout");
                Self::Unavailable("The database")
            }
            // SQLite's write lock stayed taken past busy_timeout: overload, retry later.
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if info.message().starts_with("database is locked") =>
            {
                tracing::warn!(error = %err, "SQLite write lock busy");
                Self::Unavailable("The database")
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %err, "database pool unavailable");
        Self::Unavailable("The database")
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
