use crate::models::{Dataset, DatasetChanges, Institution, NewDataset};
use crate::schema::{datasets, institutions};
use crate::{Access, AnyConnection, Backend, Conn};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Jsonb, Text};

/// Which datasets a caller may see. Restricted datasets of other institutions are invisible,
/// never "forbidden": queries simply do not return them.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    /// The admin sees everything.
    All,
    /// Public datasets plus everything of this institution.
    PublicAnd(i64),
    /// Anonymous callers: public datasets only.
    PublicOnly,
}

impl Visibility {
    /// Whether a dataset is visible under this scope (the rule `find` applies in SQL).
    pub fn allows(&self, d: &Dataset) -> bool {
        match self {
            Self::All => true,
            Self::PublicAnd(inst) => d.access == Access::Public || d.institution_id == *inst,
            Self::PublicOnly => d.access == Access::Public,
        }
    }
}

/// Catalog filters (`GET /v1/datasets`).
#[derive(Debug, Default, Clone)]
pub struct CatalogFilter {
    pub institution: Option<String>,
    pub theme: Option<String>,
    pub keyword: Option<String>,
    /// Case-insensitive substring of title, description or keywords.
    pub q: Option<String>,
    /// Only datasets with an id above this (cursor paging in id order).
    pub after_id: Option<i64>,
}

pub fn insert(conn: &mut Conn, new: &NewDataset<'_>) -> QueryResult<Dataset> {
    // Column by column rather than the Insertable struct: diesel's shared backend inserts
    // struct fields with each backend's native type, and SQLite's native jsonb is a binary
    // format, while this schema keeps JSON as text there (see `multi_types`).
    diesel::insert_into(datasets::table)
        .values((
            datasets::institution_id.eq(new.institution_id),
            datasets::slug.eq(new.slug),
            datasets::title.eq(new.title),
            datasets::description.eq(new.description),
            datasets::license.eq(new.license),
            datasets::access.eq(new.access),
            datasets::themes.eq(&new.themes),
            datasets::keywords.eq(&new.keywords),
            datasets::json_schema.eq(new.json_schema),
        ))
        .returning(<Dataset as Selectable<crate::MultiBackend>>::construct_selection())
        .get_result(conn)
}

/// A dataset by institution and dataset slug, with its institution, if the caller may see it.
pub fn find(
    conn: &mut Conn,
    institution_slug: &str,
    dataset_slug: &str,
    visibility: Visibility,
) -> QueryResult<Option<(Dataset, Institution)>> {
    let mut q = datasets::table
        .inner_join(institutions::table)
        .filter(institutions::slug.eq(institution_slug))
        .filter(datasets::slug.eq(dataset_slug))
        .into_boxed();
    q = match visibility {
        Visibility::All => q,
        Visibility::PublicAnd(inst) => q.filter(
            datasets::access
                .eq(Access::Public)
                .or(datasets::institution_id.eq(inst)),
        ),
        Visibility::PublicOnly => q.filter(datasets::access.eq(Access::Public)),
    };
    q.select((Dataset::as_select(), Institution::as_select()))
        .first(conn)
        .optional()
}

/// A dataset by slugs regardless of visibility (callers apply [`Visibility::allows`]).
pub fn find_any(
    conn: &mut Conn,
    institution_slug: &str,
    dataset_slug: &str,
) -> QueryResult<Option<(Dataset, Institution)>> {
    find(conn, institution_slug, dataset_slug, Visibility::All)
}

/// Locks the dataset row for the rest of the transaction. Every append takes this lock
/// first, which is what makes each dataset's `seq` gapless and unique.
pub fn lock_for_append(conn: &mut Conn, id: i64) -> QueryResult<Dataset> {
    let row = datasets::table.find(id);
    match conn {
        AnyConnection::Pg(pg) => row.for_update().select(Dataset::as_select()).first(pg),
        // The write transaction (BEGIN IMMEDIATE) already holds the database's write lock.
        AnyConnection::Sqlite(_) => row.select(Dataset::as_select()).first(conn),
    }
}

/// Datasets with more than `n` entries: the only ones that can hold more than `n` dedup keys.
pub fn ids_with_more_entries_than(conn: &mut Conn, n: i64) -> QueryResult<Vec<i64>> {
    datasets::table
        .filter(datasets::entry_count.gt(n))
        .select(datasets::id)
        .order(datasets::id)
        .load(conn)
}

/// The dataset's tree size as committed now (not through any cache).
pub fn entry_count(conn: &mut Conn, id: i64) -> QueryResult<i64> {
    datasets::table
        .find(id)
        .select(datasets::entry_count)
        .first(conn)
}

/// Records the new tree size, record count and newest sequencing time after an append.
pub fn set_counts(
    conn: &mut Conn,
    id: i64,
    entry_count: i64,
    record_count: i64,
    last_published_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(datasets::table.find(id))
        .set((
            datasets::entry_count.eq(entry_count),
            datasets::record_count.eq(record_count),
            datasets::last_published_at.eq(Some(last_published_at)),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn update(conn: &mut Conn, id: i64, changes: &DatasetChanges) -> QueryResult<Dataset> {
    diesel::update(datasets::table.find(id))
        .set(changes)
        .returning(<Dataset as Selectable<crate::MultiBackend>>::construct_selection())
        .get_result(conn)
}

/// One catalog page in id order.
pub fn list(
    conn: &mut Conn,
    filter: &CatalogFilter,
    visibility: Visibility,
    limit: i64,
) -> QueryResult<Vec<(Dataset, Institution)>> {
    let mut q = catalog(filter, visibility, conn.backend());
    if let Some(after) = filter.after_id {
        q = q.filter(datasets::id.gt(after));
    }
    q.order(datasets::id.asc())
        .limit(limit)
        .select((Dataset::as_select(), Institution::as_select()))
        .load(conn)
}

/// How many visible datasets match `filter`, ignoring `after_id` (GraphQL `totalCount`).
pub fn count(conn: &mut Conn, filter: &CatalogFilter, visibility: Visibility) -> QueryResult<i64> {
    catalog(filter, visibility, conn.backend())
        .count()
        .get_result(conn)
}

/// The visible datasets matching `filter`'s search terms, as a query to order and page.
fn catalog(
    filter: &CatalogFilter,
    visibility: Visibility,
    backend: Backend,
) -> diesel::helper_types::IntoBoxed<
    'static,
    diesel::helper_types::InnerJoin<datasets::table, institutions::table>,
    crate::MultiBackend,
> {
    let mut q = datasets::table.inner_join(institutions::table).into_boxed();
    q = match visibility {
        Visibility::All => q,
        Visibility::PublicAnd(inst) => q.filter(
            datasets::access
                .eq(Access::Public)
                .or(datasets::institution_id.eq(inst)),
        ),
        Visibility::PublicOnly => q.filter(datasets::access.eq(Access::Public)),
    };
    if let Some(inst) = &filter.institution {
        q = q.filter(institutions::slug.eq(inst.clone()));
    }
    // Membership in a JSON array of strings.
    for (column, value) in [
        ("datasets.themes", &filter.theme),
        ("datasets.keywords", &filter.keyword),
    ] {
        let Some(value) = value else { continue };
        q = match backend {
            Backend::Postgres => q.filter(
                sql::<Bool>(&format!("{column} @> ")).bind::<Jsonb, _>(serde_json::json!([value])),
            ),
            Backend::Sqlite => q.filter(
                sql::<Bool>(&format!(
                    "EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = "
                ))
                .bind::<Text, _>(value.clone())
                .sql(")"),
            ),
        };
    }
    if let Some(text) = &filter.q {
        let pattern = format!("%{}%", escape_like(text));
        // Case-insensitive on both backends (SQLite's `casefold` is Rust's Unicode
        // lowercasing, registered on every connection).
        let (title, description, keywords, like) = match backend {
            Backend::Postgres => (
                "datasets.title",
                "datasets.description",
                "datasets.keywords::text",
                " ILIKE ",
            ),
            Backend::Sqlite => (
                "casefold(datasets.title)",
                "casefold(datasets.description)",
                "casefold(datasets.keywords)",
                " LIKE casefold(",
            ),
        };
        let close = match backend {
            Backend::Postgres => " ESCAPE '\\'",
            Backend::Sqlite => ") ESCAPE '\\'",
        };
        q = q.filter(
            sql::<Bool>(&format!("({title}{like}"))
                .bind::<Text, _>(pattern.clone())
                .sql(&format!("{close} OR {description}{like}"))
                .bind::<Text, _>(pattern.clone())
                .sql(&format!("{close} OR {keywords}{like}"))
                .bind::<Text, _>(pattern)
                .sql(&format!("{close})")),
        );
    }
    q
}

/// Escapes `%`, `_` and `\` so user text matches literally inside ILIKE.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
