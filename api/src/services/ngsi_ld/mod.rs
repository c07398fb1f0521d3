//! NGSI-LD ingestion (ETSI GS CIM 009): a context broker's notifications and batch upserts
//! become records, one per entity, keyed by the entity id; a new version of an entity
//! supersedes the last by key (`services::versions` judges unchanged and stale versions).
//!
//! The institution's `ngsi_ld_types` map entity types to its datasets. One request may carry
//! entities of several types: each dataset's entities are one all-or-nothing append, and an
//! entity that cannot be a record (no mapping, a bad id, refused by the dataset's schema) is
//! reported on its own, as NGSI-LD's batch results do, while the others go on.

pub mod entity;

use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::services::datasets::load_writable;
use crate::services::input::{Caps, Checker, ParsedRecord};
use crate::services::institutions;
use crate::services::publish::{self, Outcome};
use crate::state::AppState;
use civicproof_schema::models::Institution;
use civicproof_schema::queries::ngsi_ld as types_q;
use civicproof_verify::json as json_rules;
use entity::CORE_CONTEXT;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// The JSON-LD context link relation (JSON-LD 1.1, section 6.1; NGSI-LD Annex C.7).
const CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";

/// How the request's body names its `@context`.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// `application/ld+json`: in the body.
    LdJson,
    /// `application/json`: from the Link header, else the core context.
    Json { link: Option<String> },
}

/// The media type and Link header of a request; 415 for anything but JSON or JSON-LD.
pub fn media(content_type: Option<&str>, link: Option<&str>) -> ApiResult<Media> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/ld+json" => Ok(Media::LdJson),
        "application/json" => Ok(Media::Json {
            link: link.map(context_link).transpose()?.flatten(),
        }),
        _ => Err(ApiError::UnsupportedMediaType(
            "Send NGSI-LD as application/ld+json, or application/json with a JSON-LD context Link header.".into(),
        )),
    }
}

/// The context URL of a `Link` header with the JSON-LD context relation, if it has one.
fn context_link(header: &str) -> ApiResult<Option<String>> {
    let mut found = None;
    for part in header.split(',') {
        let part = part.trim();
        let Some(rest) = part.strip_prefix('<') else {
            continue;
        };
        let Some((url, params)) = rest.split_once('>') else {
            continue;
        };
        if params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == format!("rel=\"{CONTEXT_REL}\""))
        {
            if found.is_some() {
                return Err(ApiError::BadRequest(
                    "More than one JSON-LD context Link header.".into(),
                ));
            }
            found = Some(url.to_owned());
        }
    }
    Ok(found)
}

/// What became of one entity.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityResult {
    /// Appended; `created` when it is the entity's first version.
    Appended {
        created: bool,
    },
    Unchanged,
    Stale,
    Failed(EntityError),
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityError {
    pub entity_id: String,
    /// ProblemDetails with an NGSI-LD error type (`https://uri.etsi.org/ngsi-ld/errors/…`).
    #[schema(value_type = Object)]
    pub error: Value,
}

fn entity_error(id: &str, kind: &str, detail: impl Into<String>) -> EntityError {
    EntityError {
        entity_id: id.to_owned(),
        error: json!({
            "type": format!("https://uri.etsi.org/ngsi-ld/errors/{kind}"),
            "title": kind,
            "detail": detail.into(),
        }),
    }
}

/// Parses a body under the log's JSON rules; 400 for anything that is not JSON.
fn parse_body(body: &[u8]) -> ApiResult<Value> {
    json_rules::parse_strict_with_depth(body, json_rules::MAX_DEPTH + 2)
        .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON: {e}")))
}

/// The effective context of entities sent with `media`; `outer` is a notification's own
/// `@context`. `Err` is one entity's problem.
fn effective_context(
    media: &Media,
    own: Option<&Value>,
    outer: Option<&Value>,
) -> Result<Value, String> {
    match media {
        Media::LdJson => match own.or(outer) {
            Some(c) => entity::context_array(c),
            None => Err("application/ld+json needs an @context in the body".into()),
        },
        Media::Json { link } => match link {
            Some(url) => Ok(json!([url])),
            None => Ok(json!([CORE_CONTEXT])),
        },
    }
}

/// The institution of an NGSI-LD request: the token's own, or the `NGSILD-Tenant` header's
/// (which must then be the token's; the admin must send it).
pub async fn tenant_institution(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
) -> ApiResult<Institution> {
    caller.require_authenticated()?;
    let inst = match (caller, tenant) {
        (Caller::Admin { .. }, Some(t)) => institutions::load(state, t).await?,
        (Caller::Admin { .. }, None) => {
            return Err(ApiError::BadRequest(
                "The admin token must name the institution in the NGSILD-Tenant header.".into(),
            ));
        }
        (Caller::Member { institution_id, .. }, t) => {
            let id = *institution_id;
            let inst = db::run(&state.pool, move |conn| {
                civicproof_schema::queries::institutions::by_ids(conn, &[id])?
                    .into_iter()
                    .next()
                    .ok_or(ApiError::NotFound)
            })
            .await?;
            if let Some(t) = t
                && t != inst.slug
            {
                return Err(ApiError::Forbidden(
                    "NGSILD-Tenant names another institution than the token's.".into(),
                ));
            }
            inst
        }
        (Caller::Anonymous, _) => unreachable!("authenticated above"),
    };
    require_publisher(caller, &inst)?;
    Ok(inst)
}

fn require_publisher(caller: &Caller, inst: &Institution) -> ApiResult<()> {
    if caller.may_publish(inst.id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only the institution's publishers and the admin may send it entities.".into(),
        ))
    }
}

/// `POST /ngsi-ld/v1/entityOperations/upsert`: an array of entities.
pub async fn upsert(
    state: &AppState,
    caller: &Caller,
    inst: &Institution,
    media: &Media,
    body: &[u8],
) -> ApiResult<Vec<(String, EntityResult)>> {
    let Value::Array(items) = parse_body(body)? else {
        return Err(ApiError::BadRequest(
            "An upsert body is a JSON array of entities.".into(),
        ));
    };
    check_count(state, items.len())?;
    let entities = items
        .into_iter()
        .map(|e| {
            let own = e.get("@context").cloned();
            if matches!(media, Media::Json { .. }) && own.is_some() {
                return Err(ApiError::BadRequest(
                    "application/json bodies take their @context from the Link header, not the body.".into(),
                ));
            }
            Ok((e, effective_context(media, own.as_ref(), None)))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    ingest(state, caller, inst, "upsert", entities).await
}

/// `POST /v1/institutions/{inst}/ngsi-ld/notifications`: a Notification (clause 5.3.1).
pub async fn notify(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    media: &Media,
    body: &[u8],
) -> ApiResult<Vec<(String, EntityResult)>> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    require_publisher(caller, &inst)?;
    let Value::Object(mut n) = parse_body(body)? else {
        return Err(ApiError::BadRequest(
            "A notification is a JSON object.".into(),
        ));
    };
    if n.get("type").and_then(Value::as_str) != Some("Notification") {
        return Err(ApiError::BadRequest(
            "A notification has \"type\": \"Notification\".".into(),
        ));
    }
    let outer = n.remove("@context");
    if matches!(media, Media::Json { .. }) && outer.is_some() {
        return Err(ApiError::BadRequest(
            "application/json bodies take their @context from the Link header, not the body."
                .into(),
        ));
    }
    let source = match n.get("subscriptionId").and_then(Value::as_str) {
        Some(s) => format!(
            "notification of {}",
            s.chars().take(200).collect::<String>()
        ),
        None => "notification".to_owned(),
    };
    let source: String = source.chars().filter(|c| (' '..='~').contains(c)).collect();
    let Some(Value::Array(data)) = n.remove("data") else {
        return Err(ApiError::BadRequest(
            "A notification carries its entities in a \"data\" array.".into(),
        ));
    };
    check_count(state, data.len())?;
    let entities = data
        .into_iter()
        .map(|e| {
            let own = e.get("@context").cloned();
            let ctx = effective_context(media, own.as_ref(), outer.as_ref());
            (e, ctx)
        })
        .collect();
    ingest(state, caller, &inst, &source, entities).await
}

fn check_count(state: &AppState, n: usize) -> ApiResult<()> {
    let max = state.config.limits.max_batch_records;
    if n > max {
        return Err(ApiError::validation(
            "",
            format!("At most {max} entities per request."),
        ));
    }
    if n == 0 {
        return Err(ApiError::BadRequest("No entities.".into()));
    }
    Ok(())
}

/// Entities (with their effective context, or why they have none) into their datasets.
async fn ingest(
    state: &AppState,
    caller: &Caller,
    inst: &Institution,
    source: &str,
    entities: Vec<(Value, Result<Value, String>)>,
) -> ApiResult<Vec<(String, EntityResult)>> {
    let inst_id = inst.id;
    let mappings: HashMap<String, String> =
        db::run(&state.pool, move |conn| Ok(types_q::list(conn, inst_id)?))
            .await?
            .into_iter()
            .map(|(t, _, slug)| (t, slug))
            .collect();
    let mut results: Vec<(String, Option<EntityResult>)> = Vec::with_capacity(entities.len());
    // Dataset slug → (index in results, entity).
    let mut by_dataset: BTreeMap<String, Vec<(usize, entity::Entity)>> = BTreeMap::new();
    for (raw, ctx) in entities {
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let converted = ctx.and_then(|c| entity::to_entity(raw, &c));
        match converted {
            Err(e) => results.push((id.clone(), Some(EntityResult::Failed(entity_error(&id, "BadRequestData", e))))),
            Ok(e) => match mappings.get(&e.entity_type) {
                None => results.push((
                    id.clone(),
                    Some(EntityResult::Failed(entity_error(
                        &id,
                        "BadRequestData",
                        format!(
                            "no dataset receives entities of type {:?} (PUT /v1/institutions/{}/ngsi-ld/types/{{type}})",
                            e.entity_type, inst.slug
                        ),
                    ))),
                )),
                Some(ds) => {
                    by_dataset
                        .entry(ds.clone())
                        .or_default()
                        .push((results.len(), e));
                    results.push((id, None));
                }
            },
        }
    }
    for (ds_slug, group) in by_dataset {
        let outcomes = append_group(state, caller, inst, source, &ds_slug, group).await?;
        for (index, result) in outcomes {
            results[index].1 = Some(result);
        }
    }
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    let out: Vec<(String, EntityResult)> = results
        .into_iter()
        .map(|(id, r)| (id, r.expect("every entity has a result")))
        .collect();
    for (_, r) in &out {
        *counts
            .entry(match r {
                EntityResult::Appended { .. } => "appended",
                EntityResult::Unchanged => "unchanged",
                EntityResult::Stale => "stale",
                EntityResult::Failed(_) => "error",
            })
            .or_default() += 1;
    }
    for (outcome, n) in counts {
        state
            .metrics
            .ngsi_ld_entities
            .with_label_values(&[outcome])
            .inc_by(n);
    }
    Ok(out)
}

/// One dataset's entities: each checked like any record, on its own so that every refused
/// entity is named however many there are, then the rest in one versioned append. A dataset
/// the caller cannot write (gone since its type was mapped) fails its entities, not the
/// request.
async fn append_group(
    state: &AppState,
    caller: &Caller,
    inst: &Institution,
    source: &str,
    ds_slug: &str,
    group: Vec<(usize, entity::Entity)>,
) -> ApiResult<Vec<(usize, EntityResult)>> {
    let ds = match load_writable(state, caller, &inst.slug, ds_slug).await {
        Ok((ds, _)) => ds,
        Err(ApiError::NotFound | ApiError::Forbidden(_)) => {
            return Ok(group
                .into_iter()
                .map(|(index, e)| {
                    let detail = format!(
                        "the dataset {}/{ds_slug} that receives entities of type {:?} is not \
                         writable with this token",
                        inst.slug, e.entity_type
                    );
                    (
                        index,
                        EntityResult::Failed(entity_error(&e.id, "ResourceNotFound", detail)),
                    )
                })
                .collect());
        }
        Err(e) => return Err(e),
    };
    let validator = match &ds.json_schema {
        Some(text) => Some(state.schemas.get(ds.id, text)?),
        None => None,
    };
    let caps = Caps::from_limits(&state.config.limits);
    let mut out = Vec::with_capacity(group.len());
    let mut kept = Vec::with_capacity(group.len());
    let mut records = Vec::with_capacity(group.len());
    for (index, e) in group {
        let mut checker = Checker::new(caps, validator.as_deref());
        let checked = checker
            .push(Ok(ParsedRecord::keyed(
                Some(e.id.clone()),
                e.payload.clone(),
            )))
            .and_then(|_| checker.finish());
        match checked {
            Ok(mut one) => {
                records.append(&mut one);
                kept.push((index, e));
            }
            Err(ApiError::Validation(errors)) => {
                // Pointers into the entity itself (the checker's are into a batch of one).
                let detail = errors
                    .iter()
                    .map(|f| {
                        let at = f.pointer.strip_prefix("/0").unwrap_or(&f.pointer);
                        let at = at.strip_prefix("/payload").unwrap_or(at);
                        if at.is_empty() {
                            f.detail.clone()
                        } else {
                            format!("{at}: {}", f.detail)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                out.push((
                    index,
                    EntityResult::Failed(entity_error(&e.id, "BadRequestData", detail)),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    if kept.is_empty() {
        return Ok(out);
    }
    finish(state, &ds, inst, source, kept, records, out).await
}

async fn finish(
    state: &AppState,
    ds: &civicproof_schema::models::Dataset,
    inst: &Institution,
    source: &str,
    group: Vec<(usize, entity::Entity)>,
    mut records: Vec<crate::services::input::CheckedRecord>,
    mut out: Vec<(usize, EntityResult)>,
) -> ApiResult<Vec<(usize, EntityResult)>> {
    for r in &mut records {
        r.versioned = true;
    }
    let arrival = publish::Arrival {
        channel: "ngsi-ld".into(),
        source: Some(source.to_owned()),
    };
    let outcomes = publish::append_records(state, ds, &inst.slug, records, Some(arrival)).await?;
    for ((index, _), outcome) in group.into_iter().zip(outcomes) {
        out.push((
            index,
            match outcome {
                Outcome::Appended { first_version, .. } => EntityResult::Appended {
                    created: first_version,
                },
                Outcome::Replayed { .. } | Outcome::Unchanged { .. } => EntityResult::Unchanged,
                Outcome::Stale => EntityResult::Stale,
            },
        ));
    }
    Ok(out)
}

/// The institution's type mappings.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypeMapping {
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The dataset's slug in the institution.
    pub dataset: String,
}

/// A type as the mapping routes take it: a compacted term (letters, digits, `_ - . :`).
fn check_type(t: &str) -> ApiResult<()> {
    if t.is_empty()
        || t.len() > 256
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(ApiError::BadRequest(
            "An entity type is 1 to 256 letters, digits, '_', '-', '.' or ':' (the compacted term).".into(),
        ));
    }
    Ok(())
}

pub async fn list_types(
    state: &AppState,
    caller: &Caller,
    institution: &str,
) -> ApiResult<Vec<TypeMapping>> {
    caller.require_authenticated()?;
    let inst = institutions::load(state, institution).await?;
    let member = match caller {
        Caller::Admin { .. } => true,
        Caller::Member { institution_id, .. } => *institution_id == inst.id,
        Caller::Anonymous => false,
    };
    if !member {
        return Err(ApiError::Forbidden(
            "Only the institution's tokens and the admin see its NGSI-LD types.".into(),
        ));
    }
    let id = inst.id;
    let rows = db::run(&state.pool, move |conn| Ok(types_q::list(conn, id)?)).await?;
    Ok(rows
        .into_iter()
        .map(|(entity_type, _, dataset)| TypeMapping {
            entity_type,
            dataset,
        })
        .collect())
}

/// Maps a type to a dataset of the institution; true when the mapping is new.
pub async fn set_type(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    entity_type: &str,
    dataset: &str,
) -> ApiResult<bool> {
    check_type(entity_type)?;
    let (ds, inst) = load_writable(state, caller, institution, dataset).await?;
    let t = entity_type.to_owned();
    db::transaction(&state.pool, move |conn| {
        Ok(types_q::set(conn, inst.id, &t, ds.id)?)
    })
    .await
}

pub async fn delete_type(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    entity_type: &str,
) -> ApiResult<()> {
    caller.require_authenticated()?;
    check_type(entity_type)?;
    let inst = institutions::load(state, institution).await?;
    require_publisher(caller, &inst)?;
    let (id, t) = (inst.id, entity_type.to_owned());
    let deleted =
        db::transaction(&state.pool, move |conn| Ok(types_q::delete(conn, id, &t)?)).await?;
    if deleted {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_comes_from_the_body_or_the_link_header() {
        assert_eq!(
            media(Some("application/ld+json; charset=utf-8"), None).unwrap(),
            Media::LdJson
        );
        let link = format!(
            "<https://example.org/ctx.jsonld>; rel=\"{CONTEXT_REL}\"; type=\"application/ld+json\""
        );
        assert_eq!(
            media(Some("application/json"), Some(&link)).unwrap(),
            Media::Json {
                link: Some("https://example.org/ctx.jsonld".into())
            }
        );
        assert_eq!(
            media(Some("application/json"), None).unwrap(),
            Media::Json { link: None }
        );
        assert!(media(Some("text/plain"), None).is_err());
        let two = format!("{link}, {link}");
        assert!(media(Some("application/json"), Some(&two)).is_err());
        let json = Media::Json { link: None };
        assert_eq!(
            effective_context(&json, None, None).unwrap(),
            json!([CORE_CONTEXT])
        );
        assert!(effective_context(&Media::LdJson, None, None).is_err());
        assert_eq!(
            effective_context(&Media::LdJson, None, Some(&json!("https://a"))).unwrap(),
            json!(["https://a"])
        );
    }
}
