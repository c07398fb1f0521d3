//! Issuing, listing and revoking bearer tokens. The admin manages every role; a publisher
//! manages its own institution's reader tokens and nothing else.

use crate::auth::{Caller, Role, new_token, token_hash};
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::services::institutions;
use crate::state::AppState;
use crate::views::{IssuedToken, TokenView};
use civicproof_schema::models::{Institution, NewToken, Token};
use civicproof_schema::queries::tokens;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    pub role: Role,
    pub label: Option<String>,
}

/// Which roles this caller may manage in `institution`; 404 for a publisher of another
/// institution (it cannot learn which institutions have tokens), 403 for readers.
fn manageable_roles(caller: &Caller, institution: &Institution) -> ApiResult<&'static [Role]> {
    caller.require_authenticated()?;
    match caller {
        Caller::Admin { .. } => Ok(&[Role::Publisher, Role::Reader]),
        Caller::Member {
            role: Role::Publisher,
            institution_id,
            ..
        } if *institution_id == institution.id => Ok(&[Role::Reader]),
        _ => Err(ApiError::Forbidden(
            "This token may not manage tokens of this institution.".into(),
        )),
    }
}

pub async fn issue(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    input: IssueToken,
) -> ApiResult<IssuedToken> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    let allowed = manageable_roles(caller, &inst)?;
    if input.role == Role::Admin {
        return Err(ApiError::validation(
            "/role",
            "role must be publisher or reader",
        ));
    }
    if !allowed.contains(&input.role) {
        return Err(ApiError::Forbidden(format!(
            "This token may not issue {} tokens.",
            input.role.as_str()
        )));
    }
    if input.label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(ApiError::validation(
            "/label",
            "label must be at most 200 bytes",
        ));
    }
    let token = new_token();
    let hash = token_hash(&token);
    let id = Uuid::new_v4();
    let label = input.label.clone();
    let role = input.role;
    let inst_id = inst.id;
    db::run(&state.pool, move |conn| {
        tokens::insert(
            conn,
            &NewToken {
                id,
                token_hash: &hash,
                role,
                institution_id: Some(inst_id),
                label: label.as_deref(),
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(IssuedToken {
        id: id.to_string(),
        token,
        role,
        institution: inst.slug,
        label: input.label,
    })
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    institution: &str,
) -> ApiResult<Vec<TokenView>> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    let allowed = manageable_roles(caller, &inst)?;
    let only = if allowed.len() == 1 {
        Some(allowed[0].as_str())
    } else {
        None
    };
    let inst_id = inst.id;
    let rows = db::run(&state.pool, move |conn| {
        Ok(tokens::list_for_institution(conn, inst_id, only)?)
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|t| TokenView::new(t, Some(inst.slug.clone())))
        .collect())
}

pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    id: &str,
) -> ApiResult<TokenView> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    let allowed = manageable_roles(caller, &inst)?;
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let inst_id = inst.id;
    let token = db::run(&state.pool, move |conn| {
        tokens::by_id(conn, inst_id, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    let role = token.role;
    if !allowed.contains(&role) {
        return Err(ApiError::NotFound);
    }
    let revoked = revoke_by_id(state, id).await?;
    Ok(TokenView::new(revoked, Some(inst.slug)))
}

/// Revokes a token, records the revocation in the invalidation outbox in the same
/// transaction, and closes the token's live streams and sockets here and (over the bus or
/// the outbox) on every replica. Requests that present it fail at once everywhere: tokens
/// are looked up in the database on every request and every WebSocket operation.
pub async fn revoke_by_id(state: &AppState, id: Uuid) -> ApiResult<Token> {
    let revoked = db::run(&state.pool, move |conn| {
        Ok(tokens::revoke_and_announce(conn, id)?)
    })
    .await?;
    crate::cluster::invalidations::revoked(&state.cluster, id);
    Ok(revoked)
}

/// The admin tokens issued with `civicproof admin issue-admin-token` (never the tokens).
pub async fn list_admin(state: &AppState, caller: &Caller) -> ApiResult<Vec<TokenView>> {
    caller.require_admin()?;
    let rows = db::run(&state.pool, |conn| Ok(tokens::list_admin(conn)?)).await?;
    Ok(rows.into_iter().map(|t| TokenView::new(t, None)).collect())
}

/// Revokes an admin token; effective at once. The admin token from configuration
/// (`CIVICPROOF_ADMIN_TOKEN`) is not stored and is changed by changing the configuration.
pub async fn revoke_admin(state: &AppState, caller: &Caller, id: &str) -> ApiResult<TokenView> {
    caller.require_admin()?;
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    db::run(&state.pool, move |conn| {
        tokens::admin_by_id(conn, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(TokenView::new(revoke_by_id(state, id).await?, None))
}
