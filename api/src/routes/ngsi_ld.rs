//! NGSI-LD: a context broker's upserts and notifications, and the institution's mapping of
//! entity types to datasets (`services::ngsi_ld`).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::services::ngsi_ld::{self as svc, EntityError, EntityResult, TypeMapping};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn header_text<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn body_of(state: &AppState, req: &HttpRequest, payload: web::Payload) -> ApiResult<Vec<u8>> {
    crate::edge::body::read(req, payload, state.config.limits.max_body_bytes).await
}

/// The answer of an upsert with failures (ETSI GS CIM 009 clause 5.2.16, BatchOperationResult).
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOperationResult {
    /// Ids of the entities stored (appended, or unchanged).
    pub success: Vec<String>,
    pub errors: Vec<EntityError>,
}

/// Batch entity upsert (ETSI GS CIM 009 clause 5.6.8). Each entity becomes a record of the
/// dataset its type is mapped to, keyed by its id; a new version supersedes the last one,
/// an unchanged or older one appends nothing. The institution is the token's (or
/// `NGSILD-Tenant`'s, which the admin must send). Answers 201 with the ids of new entities,
/// 204 when every entity existed, 207 when some failed.
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/upsert", tag = "ngsi-ld",
    params(("NGSILD-Tenant" = Option<String>, Header, description = "the institution's slug"),
           ("options" = Option<String>, Query, description = "replace (the default); update is not supported"),
           ("Link" = Option<String>, Header, description = "the JSON-LD context of an application/json body")),
    request_body(description = "an array of NGSI-LD entities",
                 content((String = "application/ld+json"), (String = "application/json"))),
    responses((status = 201, body = Vec<String>, description = "the ids of entities that did not exist"),
              (status = 204, description = "every entity existed"),
              (status = 207, body = BatchOperationResult),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem, description = "the admin's NGSILD-Tenant names no institution"),
              (status = 413, body = Problem), (status = 415, body = Problem)),
    security(("bearer" = [])))]
#[post("/ngsi-ld/v1/entityOperations/upsert")]
pub async fn upsert(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    caller.require_authenticated()?;
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match (name.as_ref(), value.as_ref()) {
            ("options", "replace") => {}
            ("options", other) => {
                return Err(ApiError::BadRequest(format!(
                    "options={other} is not supported: upserts replace entities (each version is a record)."
                )));
            }
            (other, _) => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown parameter {other:?}."
                )));
            }
        }
    }
    let media = svc::media(header_text(&req, "content-type"), header_text(&req, "link"))?;
    let inst = svc::tenant_institution(&state, &caller, header_text(&req, "ngsild-tenant")).await?;
    let body = body_of(&state, &req, payload).await?;
    let results = svc::upsert(&state, &caller, &inst, &media, &body).await?;
    let mut created = Vec::new();
    let mut success = Vec::new();
    let mut errors = Vec::new();
    for (id, r) in results {
        match r {
            EntityResult::Appended { created: true } => {
                created.push(id.clone());
                success.push(id);
            }
            EntityResult::Appended { created: false }
            | EntityResult::Unchanged
            | EntityResult::Stale => success.push(id),
            EntityResult::Failed(e) => errors.push(e),
        }
    }
    Ok(if !errors.is_empty() {
        HttpResponse::build(actix_web::http::StatusCode::MULTI_STATUS)
            .json(BatchOperationResult { success, errors })
    } else if !created.is_empty() {
        HttpResponse::Created().json(created)
    } else {
        HttpResponse::NoContent().finish()
    })
}

/// What a notification did.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationResult {
    /// Entities appended as new versions.
    pub appended: u64,
    /// Entities equal to their latest version: nothing appended.
    pub unchanged: u64,
    /// Entities older than their latest version: nothing appended.
    pub stale: u64,
    pub errors: Vec<EntityError>,
}

/// A context broker's Notification (ETSI GS CIM 009 clause 5.3.1), as a subscription whose
/// endpoint is this URL sends it (its `receiverInfo` carries the publisher token). Each entity
/// of `data` is handled as by the upsert. Answers 200 whatever became of the entities (a
/// broker counts any other status as a failed notification), with what became of them.
#[utoipa::path(post, path = "/v1/institutions/{inst}/ngsi-ld/notifications", tag = "ngsi-ld",
    params(("inst" = String, Path, description = "institution slug"),
           ("Link" = Option<String>, Header, description = "the JSON-LD context of an application/json body")),
    request_body(description = "an NGSI-LD Notification",
                 content((String = "application/ld+json"), (String = "application/json"))),
    responses((status = 200, body = NotificationResult), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem)),
    security(("bearer" = [])))]
#[post("/v1/institutions/{inst}/ngsi-ld/notifications")]
pub async fn notification(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    caller.require_authenticated()?;
    let media = svc::media(header_text(&req, "content-type"), header_text(&req, "link"))?;
    let body = body_of(&state, &req, payload).await?;
    let results = svc::notify(&state, &caller, &path, &media, &body).await?;
    let mut answer = NotificationResult {
        appended: 0,
        unchanged: 0,
        stale: 0,
        errors: Vec::new(),
    };
    for (_, r) in results {
        match r {
            EntityResult::Appended { .. } => answer.appended += 1,
            EntityResult::Unchanged => answer.unchanged += 1,
            EntityResult::Stale => answer.stale += 1,
            EntityResult::Failed(e) => answer.errors.push(e),
        }
    }
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeMappings {
    pub types: Vec<TypeMapping>,
}

/// The institution's NGSI-LD entity types and the datasets that receive them.
#[utoipa::path(get, path = "/v1/institutions/{inst}/ngsi-ld/types", tag = "ngsi-ld",
    params(("inst" = String, Path, description = "institution slug")),
    responses((status = 200, body = TypeMappings), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
#[get("/v1/institutions/{inst}/ngsi-ld/types")]
pub async fn list_types(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let types = svc::list_types(&state, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(TypeMappings { types }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetType {
    /// A dataset's slug in the institution.
    pub dataset: String,
}

/// Maps an entity type (the compacted term, as entities send it) to a dataset of the
/// institution. 201 when new, 200 when it replaced a mapping.
#[utoipa::path(put, path = "/v1/institutions/{inst}/ngsi-ld/types/{type}", tag = "ngsi-ld",
    params(("inst" = String, Path, description = "institution slug"), ("type" = String, Path, description = "entity type")),
    request_body = SetType,
    responses((status = 201, body = TypeMapping), (status = 200, body = TypeMapping), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
#[put("/v1/institutions/{inst}/ngsi-ld/types/{type}")]
pub async fn set_type(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<SetType>,
) -> ApiResult<HttpResponse> {
    let (inst, entity_type) = path.into_inner();
    let dataset = body.into_inner().dataset;
    let new = svc::set_type(&state, &caller, &inst, &entity_type, &dataset).await?;
    let view = TypeMapping {
        entity_type,
        dataset,
    };
    Ok(if new {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Removes an entity type's mapping (entities of that type are then refused).
#[utoipa::path(delete, path = "/v1/institutions/{inst}/ngsi-ld/types/{type}", tag = "ngsi-ld",
    params(("inst" = String, Path, description = "institution slug"), ("type" = String, Path, description = "entity type")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
#[delete("/v1/institutions/{inst}/ngsi-ld/types/{type}")]
pub async fn delete_type(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (inst, entity_type) = path.into_inner();
    svc::delete_type(&state, &caller, &inst, &entity_type).await?;
    Ok(HttpResponse::NoContent().finish())
}
