use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::services::tokens::{self, IssueToken};
use crate::state::AppState;
use crate::views::{IssuedToken, TokenList, TokenView};
use actix_web::{HttpResponse, delete, get, post, web};

/// Issue a token: the admin issues publisher and reader tokens, a publisher issues reader
/// tokens of its institution. The token appears only in this response.
#[utoipa::path(
    post, path = "/v1/institutions/{inst}/tokens", tag = "tokens", request_body = IssueToken,
    params(("inst" = String, Path, description = "institution slug")),
    responses((status = 201, body = IssuedToken), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
#[post("/v1/institutions/{inst}/tokens")]
pub async fn issue(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<IssueToken>,
) -> ApiResult<HttpResponse> {
    let issued = tokens::issue(&state, &caller, &path, body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(issued))
}

/// List an institution's tokens (never the tokens themselves).
#[utoipa::path(
    get, path = "/v1/institutions/{inst}/tokens", tag = "tokens",
    params(("inst" = String, Path, description = "institution slug")),
    responses((status = 200, body = TokenList), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/v1/institutions/{inst}/tokens")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let list = tokens::list(&state, &caller, &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenList { tokens: list }))
}

/// Revoke a token; effective at once.
#[utoipa::path(
    delete, path = "/v1/institutions/{inst}/tokens/{id}", tag = "tokens",
    params(("inst" = String, Path, description = "institution slug"), ("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[delete("/v1/institutions/{inst}/tokens/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (inst, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(tokens::revoke(&state, &caller, &inst, &id).await?))
}

/// List the admin tokens issued with `civicproof admin issue-admin-token` (never the tokens
/// themselves).
#[utoipa::path(
    get, path = "/v1/admin/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/v1/admin/tokens")]
pub async fn list_admin(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let admins = tokens::list_admin(&state, &caller).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenList { tokens: admins }))
}

/// Revoke an admin token; effective at once on every replica.
#[utoipa::path(
    delete, path = "/v1/admin/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id")),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = []))
)]
#[delete("/v1/admin/tokens/{id}")]
pub async fn revoke_admin(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(tokens::revoke_admin(&state, &caller, &path).await?))
}
