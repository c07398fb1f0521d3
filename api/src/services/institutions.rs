use crate::auth::Caller;
use crate::config::is_valid_slug;
use crate::db;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use crate::views::InstitutionView;
use civicproof_schema::models::{Institution, NewInstitution};
use civicproof_schema::queries::institutions;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstitution {
    pub slug: String,
    pub name: String,
    pub homepage: Option<String>,
    pub contact: Option<String>,
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: CreateInstitution,
) -> ApiResult<InstitutionView> {
    caller.require_admin()?;
    let mut errors = Vec::new();
    if !is_valid_slug(&input.slug) {
        errors.push(FieldError::field(
            "/slug",
            "slug must match ^[a-z0-9][a-z0-9-]{0,62}$",
        ));
    }
    if input.name.trim().is_empty() || input.name.len() > 500 {
        errors.push(FieldError::field("/name", "name must be 1 to 500 bytes"));
    }
    if let Some(h) = &input.homepage
        && !is_http_url(h)
    {
        errors.push(FieldError::field(
            "/homepage",
            "homepage must be an http(s) URL",
        ));
    }
    if input.contact.as_ref().is_some_and(|c| c.len() > 500) {
        errors.push(FieldError::field(
            "/contact",
            "contact must be at most 500 bytes",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let inst = db::run(&state.pool, move |conn| {
        let new = NewInstitution {
            slug: &input.slug,
            name: &input.name,
            homepage: input.homepage.as_deref(),
            contact: input.contact.as_deref(),
        };
        institutions::insert(conn, &new).map_err(|e| {
            if civicproof_schema::is_unique_violation(&e) {
                ApiError::Conflict("An institution with this slug exists.".into())
            } else {
                e.into()
            }
        })
    })
    .await?;
    Ok(inst.into())
}

/// Loads an institution by slug; 404 when it does not exist.
pub async fn load(state: &AppState, slug: &str) -> ApiResult<Institution> {
    if !is_valid_slug(slug) {
        return Err(ApiError::NotFound);
    }
    let slug = slug.to_owned();
    db::run(&state.pool, move |conn| {
        institutions::by_slug(conn, &slug)?.ok_or(ApiError::NotFound)
    })
    .await
}

/// The institutions with these slugs, in one query (missing slugs are simply absent).
pub async fn load_many(state: &AppState, mut slugs: Vec<String>) -> ApiResult<Vec<Institution>> {
    slugs.retain(|s| is_valid_slug(s));
    db::run(&state.pool, move |conn| {
        Ok(institutions::by_slugs(conn, &slugs)?)
    })
    .await
}

pub async fn get(state: &AppState, slug: &str) -> ApiResult<InstitutionView> {
    Ok(load(state, slug).await?.into())
}

pub async fn list(state: &AppState) -> ApiResult<Vec<InstitutionView>> {
    let all = db::run(&state.pool, |conn| Ok(institutions::list(conn)?)).await?;
    Ok(all.into_iter().map(Into::into).collect())
}

pub fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}
