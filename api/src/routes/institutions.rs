use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::services::institutions::{self, CreateInstitution};
use crate::state::AppState;
use crate::views::{InstitutionList, InstitutionView};
use actix_web::{HttpResponse, get, post, web};

/// Create an institution (admin).
#[utoipa::path(
    post, path = "/v1/institutions", tag = "institutions", request_body = CreateInstitution,
    responses((status = 201, body = InstitutionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
#[post("/v1/institutions")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateInstitution>,
) -> ApiResult<HttpResponse> {
    let inst = institutions::create(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(inst))
}

/// List institutions.
#[utoipa::path(get, path = "/v1/institutions", tag = "institutions",
    responses((status = 200, body = InstitutionList)))]
#[get("/v1/institutions")]
pub async fn list(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let institutions = institutions::list(&state).await?;
    Ok(HttpResponse::Ok().json(InstitutionList { institutions }))
}

/// One institution.
#[utoipa::path(get, path = "/v1/institutions/{inst}", tag = "institutions",
    params(("inst" = String, Path, description = "institution slug")),
    responses((status = 200, body = InstitutionView), (status = 404, body = Problem)))]
#[get("/v1/institutions/{inst}")]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(institutions::get(&state, &path).await?))
}
