//! Who is calling: the `Authorization: Bearer` token resolved to a [`Caller`], as an actix
//! extractor (after Lemmy). Tokens are never accepted from URLs.
//!
//! No header means anonymous; a header that is malformed, unknown or revoked is 401 at once,
//! so a revoked token cannot silently fall back to anonymous reads.

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use civicproof_schema::queries::datasets::Visibility;
use civicproof_schema::queries::tokens;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use civicproof_schema::Role;

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Admin {
        token_id: Option<Uuid>,
    },
    Member {
        token_id: Uuid,
        role: Role,
        institution_id: i64,
    },
}

impl Caller {
    /// Which datasets this caller may see at all.
    pub fn visibility(&self) -> Visibility {
        match self {
            Self::Anonymous => Visibility::PublicOnly,
            Self::Admin { .. } => Visibility::All,
            Self::Member { institution_id, .. } => Visibility::PublicAnd(*institution_id),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin { .. })
    }

    pub fn token_id(&self) -> Option<Uuid> {
        match self {
            Self::Anonymous => None,
            Self::Admin { token_id } => *token_id,
            Self::Member { token_id, .. } => Some(*token_id),
        }
    }

    /// True for the admin and for publishers of `institution_id`.
    pub fn may_publish(&self, institution_id: i64) -> bool {
        match self {
            Self::Admin { .. } => true,
            Self::Member {
                role: Role::Publisher,
                institution_id: own,
                ..
            } => *own == institution_id,
            _ => false,
        }
    }

    /// Fails with 401 for anonymous callers, so "log in" and "not allowed" stay distinct.
    pub fn require_authenticated(&self) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(ApiError::Unauthorized(
                "This route needs a bearer token.".into(),
            )),
            _ => Ok(()),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_authenticated()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "This route needs the admin token.".into(),
            ))
        }
    }
}

/// SHA-256 of a bearer token: what is stored and looked up.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh random token: `cp_` and 43 base64url characters (256 bits).
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!(
        "cp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already resolved by the rate-limit middleware.
        if let Some(caller) = req.extensions().get::<Caller>().cloned() {
            return Box::pin(std::future::ready(Ok(caller)));
        }
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let Some(header) = header else {
                return Ok(Caller::Anonymous);
            };
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let header = header.map_err(|_| bad_credentials())?;
            let token = bearer(&header).ok_or_else(bad_credentials)?;
            resolve(&state, token).await
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("The bearer token is malformed, unknown or revoked.".into())
}

/// Resolves a bearer token (the admin token from configuration, or a stored one).
pub async fn resolve(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let hash = token_hash(token);
    if let Some(admin) = &state.admin_token_hash
        && bool::from(admin.ct_eq(&hash))
    {
        return Ok(Caller::Admin { token_id: None });
    }
    let found = db::run(&state.pool, move |conn| {
        Ok(tokens::active_by_hash(conn, &hash)?)
    })
    .await?;
    let token = found.ok_or_else(bad_credentials)?;
    match (token.role, token.institution_id) {
        (Role::Admin, None) => Ok(Caller::Admin {
            token_id: Some(token.id),
        }),
        (role, Some(institution_id)) => Ok(Caller::Member {
            token_id: token.id,
            role,
            institution_id,
        }),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "token {} has an invalid role",
            token.id
        ))),
    }
}
