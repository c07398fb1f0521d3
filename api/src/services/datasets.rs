//! Dataset metadata: create, read, list (the catalog) and patch. The log itself is never
//! touched here.

use crate::auth::Caller;
use crate::config::is_valid_slug;
use crate::db;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::json_schemas;
use crate::state::AppState;
use crate::views::{Access, DatasetView};
use chrono::Utc;
use civicproof_schema::models::{Dataset, DatasetChanges, Institution, NewDataset};
use civicproof_schema::queries::checkpoints::{self, CheckpointRow};
use civicproof_schema::queries::datasets::{self, CatalogFilter, Visibility};
use civicproof_schema::queries::institutions;
use civicproof_verify::checkpoint::Checkpoint;
use civicproof_verify::{jcs, json};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub license: String,
    pub access: Access,
    #[serde(default)]
    pub themes: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// JSON Schema 2020-12 that every payload must satisfy.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Only for the admin token, which belongs to no institution.
    pub institution: Option<String>,
}

/// Loads a dataset the caller may see; 404 otherwise (restricted looks like missing).
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
) -> ApiResult<(Dataset, Institution)> {
    // A slug outside the grammar names nothing: no lookup (and no odd bytes reach SQL).
    if !is_valid_slug(institution) || !is_valid_slug(dataset) {
        return Err(ApiError::NotFound);
    }
    let key = (institution.to_owned(), dataset.to_owned());
    let found = match state.datasets.get(&key) {
        Some(hit) => hit,
        None => {
            let (st, k) = (state.clone(), key.clone());
            db::run(&state.pool, move |conn| lookup(&st, conn, k)).await?
        }
    };
    visible(found, caller.visibility())
}

/// Like [`load_visible`] inside a blocking closure (shares the cache).
pub fn find_visible(
    state: &AppState,
    conn: &mut civicproof_schema::Conn,
    institution: &str,
    dataset: &str,
    visibility: Visibility,
) -> ApiResult<(Dataset, Institution)> {
    // A slug outside the grammar names nothing: no lookup (and no odd bytes reach SQL).
    if !is_valid_slug(institution) || !is_valid_slug(dataset) {
        return Err(ApiError::NotFound);
    }
    let key = (institution.to_owned(), dataset.to_owned());
    let found = match state.datasets.get(&key) {
        Some(hit) => hit,
        None => lookup(state, conn, key)?,
    };
    visible(found, visibility)
}

/// Reads a dataset by slugs and caches the answer, *including* "no such dataset": a missing
/// and a restricted dataset then cost the same, so response times reveal nothing.
fn lookup(
    state: &AppState,
    conn: &mut civicproof_schema::Conn,
    key: (String, String),
) -> ApiResult<Option<(Dataset, Institution)>> {
    let found = datasets::find_any(conn, &key.0, &key.1)?;
    state.datasets.put(key, found.clone());
    Ok(found)
}

fn visible(
    found: Option<(Dataset, Institution)>,
    visibility: Visibility,
) -> ApiResult<(Dataset, Institution)> {
    found
        .filter(|(d, _)| visibility.allows(d))
        .ok_or(ApiError::NotFound)
}

/// Loads a dataset for a write: 401 without a token, 404 when invisible, 403 when the
/// caller may see but not change it.
pub async fn load_writable(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
) -> ApiResult<(Dataset, Institution)> {
    caller.require_authenticated()?;
    let found = load_visible(state, caller, institution, dataset).await?;
    if !caller.may_publish(found.0.institution_id) {
        return Err(ApiError::Forbidden(
            "This token may not change this dataset.".into(),
        ));
    }
    Ok(found)
}

/// The API view of a dataset with its newest signed checkpoint.
pub fn view(
    state: &AppState,
    d: Dataset,
    inst: &Institution,
    checkpoint: Option<String>,
) -> DatasetView {
    let origin = state.origin(&inst.slug, &d.slug);
    let vkey = state.log_key.vkey(&origin);
    let mut v = DatasetView::new(d, inst.slug.clone(), origin, vkey);
    v.checkpoint = checkpoint;
    v
}

/// Newest checkpoint notes of these datasets, in one query.
fn latest_notes(
    conn: &mut civicproof_schema::Conn,
    ids: &[i64],
) -> ApiResult<HashMap<i64, String>> {
    Ok(checkpoints::latest_of(conn, ids)?
        .into_iter()
        .map(|c| (c.dataset_id, c.note))
        .collect())
}

async fn view_one(state: &AppState, d: Dataset, inst: &Institution) -> ApiResult<DatasetView> {
    let (id, st) = (d.id, state.clone());
    let (mut notes, anchor) = db::run(&state.pool, move |conn| {
        let notes = latest_notes(conn, &[id])?;
        let anchor = crate::services::anchors::newest_of_dataset(&st, conn, id)?;
        Ok((notes, anchor))
    })
    .await?;
    let mut v = view(state, d, inst, notes.remove(&id));
    v.anchor = anchor;
    Ok(v)
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: CreateDataset,
) -> ApiResult<DatasetView> {
    caller.require_authenticated()?;
    let institution_id = match (caller, &input.institution) {
        (Caller::Admin { .. }, Some(slug)) => {
            crate::services::institutions::load(state, slug).await?.id
        }
        (Caller::Admin { .. }, None) => {
            return Err(ApiError::validation(
                "/institution",
                "the admin token must name the institution",
            ));
        }
        (Caller::Member { institution_id, .. }, _) if caller.may_publish(*institution_id) => {
            if let Some(slug) = &input.institution {
                let named = crate::services::institutions::load(state, slug).await?;
                if named.id != *institution_id {
                    return Err(ApiError::Forbidden(
                        "A publisher creates datasets of its own institution only.".into(),
                    ));
                }
            }
            *institution_id
        }
        _ => {
            return Err(ApiError::Forbidden(
                "Creating datasets needs a publisher token.".into(),
            ));
        }
    };
    let mut errors = Vec::new();
    if !is_valid_slug(&input.slug) {
        errors.push(FieldError::field(
            "/slug",
            "slug must match ^[a-z0-9][a-z0-9-]{0,62}$",
        ));
    }
    check_text(&mut errors, "/title", &input.title, 1, 500);
    check_text(&mut errors, "/description", &input.description, 0, 20_000);
    check_text(&mut errors, "/license", &input.license, 1, 500);
    check_terms(&mut errors, "/themes", &input.themes);
    check_terms(&mut errors, "/keywords", &input.keywords);
    let schema_text = match &input.schema {
        Some(s) => match canonical_schema(state, s) {
            Ok(text) => Some(text),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let log_key = state.log_key.clone();
    let prefix = state.config.origin_prefix.clone();
    let (dataset, inst, note) = db::transaction(&state.pool, move |conn| {
        let new = NewDataset {
            institution_id,
            slug: &input.slug,
            title: &input.title,
            description: &input.description,
            license: &input.license,
            access: input.access,
            themes: Value::from(input.themes.clone()),
            keywords: Value::from(input.keywords.clone()),
            json_schema: schema_text.as_deref(),
        };
        let dataset = datasets::insert(conn, &new).map_err(|e| {
            if civicproof_schema::is_unique_violation(&e) {
                ApiError::Conflict("This institution already has a dataset with this slug.".into())
            } else {
                e.into()
            }
        })?;
        let inst = institutions::by_ids(conn, &[institution_id])?
            .pop()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("institution vanished")))?;
        // The size-0 checkpoint is signed with the dataset (PROTOCOL.md section 4).
        let origin = format!("{prefix}/{}/{}", inst.slug, dataset.slug);
        let root = civicproof_verify::merkle::empty_root();
        let note = Checkpoint {
            origin,
            size: 0,
            root,
        }
        .sign(log_key.signing_key());
        checkpoints::insert(
            conn,
            &CheckpointRow {
                dataset_id: dataset.id,
                size: 0,
                root: root.to_vec(),
                note: note.clone(),
                signed_at: Utc::now(),
                // Size 0 is never submitted to witnesses.
                cosign_until: None,
            },
        )?;
        Ok((dataset, inst, note))
    })
    .await?;
    // A lookup moments ago may have cached "no such dataset".
    state
        .datasets
        .remove(&(inst.slug.clone(), dataset.slug.clone()));
    Ok(view(state, dataset, &inst, Some(note)))
}

pub async fn get(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
) -> ApiResult<DatasetView> {
    if !is_valid_slug(institution) || !is_valid_slug(dataset) {
        return Err(ApiError::NotFound);
    }
    // Counts must be current here, so read the row itself rather than the cache.
    let (inst_slug, ds_slug, vis) = (
        institution.to_owned(),
        dataset.to_owned(),
        caller.visibility(),
    );
    let (d, inst) = db::run(&state.pool, move |conn| {
        datasets::find(conn, &inst_slug, &ds_slug, vis)?.ok_or(ApiError::NotFound)
    })
    .await?;
    view_one(state, d, &inst).await
}

/// One catalog page and the id to continue after, if there may be more.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: CatalogFilter,
    limit: usize,
) -> ApiResult<(Vec<DatasetView>, Option<i64>)> {
    let (items, more) = list_with_ids(state, caller, filter, limit).await?;
    let last_id = items.last().map(|(id, _, _)| *id);
    let views = items.into_iter().map(|(_, v, _)| v).collect();
    Ok((views, if more { last_id } else { None }))
}

/// One catalog page with each dataset's id (GraphQL makes a cursor of every one), and
/// whether more follow.
pub async fn list_with_ids(
    state: &AppState,
    caller: &Caller,
    filter: CatalogFilter,
    limit: usize,
) -> ApiResult<(Vec<(i64, DatasetView, Institution)>, bool)> {
    crate::services::text::check_catalog_filter(&filter)?;
    let vis = caller.visibility();
    let (rows, mut notes) = db::run(&state.pool, move |conn| {
        let rows = datasets::list(conn, &filter, vis, limit as i64 + 1)?;
        let ids: Vec<i64> = rows.iter().map(|(d, _)| d.id).collect();
        let notes = latest_notes(conn, &ids)?;
        Ok((rows, notes))
    })
    .await?;
    let more = rows.len() > limit;
    let views = rows
        .into_iter()
        .take(limit)
        .map(|(d, inst)| {
            let note = notes.remove(&d.id);
            (d.id, view(state, d, &inst, note), inst)
        })
        .collect();
    Ok((views, more))
}

/// How many datasets the catalog `filter` matches for this caller (`after_id` ignored).
pub async fn count(state: &AppState, caller: &Caller, filter: CatalogFilter) -> ApiResult<u64> {
    crate::services::text::check_catalog_filter(&filter)?;
    db::scan()?;
    let vis = caller.visibility();
    let n = db::run(&state.pool, move |conn| {
        Ok(datasets::count(conn, &filter, vis)?)
    })
    .await?;
    Ok(n as u64)
}

/// PATCH semantics: present members change, absent ones stay; `schema: null` removes the
/// schema; the slug (and with it the origin and the log) never changes.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    institution: &str,
    dataset: &str,
    patch: Map<String, Value>,
) -> ApiResult<DatasetView> {
    let (d, inst) = load_writable(state, caller, institution, dataset).await?;
    let mut changes = DatasetChanges::default();
    let mut errors = Vec::new();
    for (name, value) in patch {
        let pointer = format!("/{name}");
        match (name.as_str(), value) {
            ("slug", _) | ("origin", _) | ("institution", _) => {
                errors.push(FieldError::field(pointer, format!("{name} never changes")));
            }
            ("title", Value::String(s)) => {
                check_text(&mut errors, &pointer, &s, 1, 500);
                changes.title = Some(s);
            }
            ("description", Value::String(s)) => {
                check_text(&mut errors, &pointer, &s, 0, 20_000);
                changes.description = Some(s);
            }
            ("license", Value::String(s)) => {
                check_text(&mut errors, &pointer, &s, 1, 500);
                changes.license = Some(s);
            }
            ("access", Value::String(s)) if s.parse::<Access>().is_ok() => {
                changes.access = s.parse().ok()
            }
            ("themes" | "keywords", v) => match serde_json::from_value::<Vec<String>>(v) {
                Ok(terms) => {
                    check_terms(&mut errors, &pointer, &terms);
                    let v = Value::from(terms);
                    if name == "themes" {
                        changes.themes = Some(v);
                    } else {
                        changes.keywords = Some(v);
                    }
                }
                Err(_) => errors.push(FieldError::field(pointer, "must be an array of strings")),
            },
            ("schema", Value::Null) => changes.json_schema = Some(None),
            ("schema", s) => match canonical_schema(state, &s) {
                Ok(text) => changes.json_schema = Some(Some(text)),
                Err(e) => errors.push(e),
            },
            ("title" | "description" | "license" | "access", _) => {
                errors.push(FieldError::field(pointer, "has the wrong type or value"));
            }
            _ => errors.push(FieldError::field(
                pointer,
                format!("unknown field {name:?}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    changes.updated_at = Some(Utc::now());
    let id = d.id;
    let updated = db::run(&state.pool, move |conn| {
        Ok(datasets::update(conn, id, &changes)?)
    })
    .await?;
    state
        .datasets
        .remove(&(inst.slug.clone(), updated.slug.clone()));
    view_one(state, updated, &inst).await
}

fn check_text(errors: &mut Vec<FieldError>, pointer: &str, s: &str, min: usize, max: usize) {
    if s.trim().len() < min || s.len() > max {
        errors.push(FieldError::field(
            pointer,
            format!("must be {min} to {max} bytes"),
        ));
    } else if s
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        errors.push(FieldError::field(
            pointer,
            "must not contain control characters",
        ));
    }
}

fn check_terms(errors: &mut Vec<FieldError>, pointer: &str, terms: &[String]) {
    if terms.len() > 50 {
        errors.push(FieldError::field(pointer, "at most 50 terms"));
    }
    for (i, t) in terms.iter().enumerate() {
        check_text(errors, &format!("{pointer}/{i}"), t, 1, 100);
    }
}

/// Checks a schema (JSON rules, size, compiles without retrieval) and returns its canonical text.
fn canonical_schema(state: &AppState, schema: &Value) -> Result<String, FieldError> {
    let checked = json::check_value(schema, json::MAX_DEPTH)
        .map_err(|e| FieldError::field("/schema", e.to_string()))?;
    let text = String::from_utf8(jcs::canonicalize(&checked))
        .map_err(|_| FieldError::field("/schema", "not UTF-8"))?;
    if text.len() > state.config.limits.max_schema_bytes {
        return Err(FieldError::field(
            "/schema",
            format!(
                "the schema is {} bytes; the limit is {}",
                text.len(),
                state.config.limits.max_schema_bytes
            ),
        ));
    }
    json_schemas::compile(schema).map_err(|e| match e {
        ApiError::Validation(mut v) if !v.is_empty() => v.remove(0),
        _ => FieldError::field("/schema", "the schema does not compile"),
    })?;
    Ok(text)
}

/// The public catalog for DCAT-AP harvesting: every public dataset, whoever asks, read in
/// pages of 1,000.
pub async fn dcat_catalog(
    state: &AppState,
) -> ApiResult<(crate::dcat::CatalogInfo, Vec<crate::dcat::DcatDataset>)> {
    let rows = db::run(&state.pool, |conn| {
        let mut all = Vec::new();
        let mut filter = CatalogFilter::default();
        loop {
            let page = datasets::list(conn, &filter, Visibility::PublicOnly, 1_000)?;
            let done = page.len() < 1_000;
            filter.after_id = page.last().map(|(d, _)| d.id);
            all.extend(page);
            if done {
                break;
            }
        }
        Ok(all)
    })
    .await?;
    let items = rows
        .into_iter()
        .map(|(d, inst)| crate::dcat::DcatDataset {
            origin: state.origin(&inst.slug, &d.slug),
            institution_slug: inst.slug,
            institution_name: inst.name,
            institution_homepage: inst.homepage,
            institution_contact: inst.contact,
            dataset_slug: d.slug,
            title: d.title,
            description: d.description,
            license: d.license,
            themes: crate::views::string_list(&d.themes),
            keywords: crate::views::string_list(&d.keywords),
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
        .collect();
    let info = crate::dcat::CatalogInfo {
        base_url: state.public_url.clone(),
        title: format!("civicproof catalog of {}", state.config.origin_prefix),
        description: "Append-only, verifiable open datasets published through civicproof.".into(),
        publisher_name: state.config.origin_prefix.clone(),
        homepage: Some(state.public_url.clone()),
    };
    Ok((info, items))
}
