//! The SQLite migrations define the same tables as `schema.rs` (which `./run test` checks
//! against the PostgreSQL migrations with `diesel print-schema`): same tables, same columns
//! in the same order, same nullability, same primary keys, and each column's SQLite type
//! the one the type mapping in `migrations/sqlite` gives its diesel type.

use diesel::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, PartialEq)]
struct Column {
    name: String,
    sql_type: String,
    nullable: bool,
}

/// Tables of `schema.rs`: name → (primary key columns, columns).
fn declared() -> BTreeMap<String, (Vec<String>, Vec<Column>)> {
    let text = include_str!("../src/schema.rs");
    let mut tables = BTreeMap::new();
    let mut current: Option<(String, Vec<String>, Vec<Column>)> = None;
    for line in text.lines().map(str::trim) {
        if let Some((head, _)) = line.split_once(" {").filter(|_| line.contains('(')) {
            let (name, pk) = head.split_once(" (").expect("table head");
            let pk = pk
                .trim_end_matches(')')
                .split(", ")
                .map(str::to_owned)
                .collect();
            current = Some((name.to_owned(), pk, Vec::new()));
        } else if current.is_some()
            && let Some((name, ty)) = line.split_once(" -> ")
        {
            let ty = ty.trim_end_matches(',');
            let (nullable, ty) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (true, inner.trim_end_matches('>')),
                None => (false, ty),
            };
            let sqlite = match ty {
                "Int8" | "Int4" | "Int2" | "Bool" => "INTEGER",
                "Text" | "Jsonb" | "Uuid" | "Timestamptz" => "TEXT",
                "Bytea" => "BLOB",
                other => panic!("no SQLite mapping for {other}"),
            };
            current.as_mut().expect("inside a table").2.push(Column {
                name: name.to_owned(),
                sql_type: sqlite.to_owned(),
                nullable,
            });
        } else if line == "}"
            && let Some((name, pk, cols)) = current.take()
        {
            tables.insert(name, (pk, cols));
        }
    }
    tables
}

#[derive(QueryableByName)]
struct Info {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    r#type: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    notnull: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[test]
fn sqlite_migrations_match_schema_rs() {
    let dir = std::env::temp_dir().join(format!("civicproof-schema-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = dir.join("schema.db").to_string_lossy().into_owned();
    let mut conn = civicproof_schema::establish(&url).unwrap();
    civicproof_schema::run_migrations(&mut conn).unwrap();

    let tables: Vec<String> = diesel::sql_query(
        "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name",
    )
    .load::<Name>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect();
    let declared = declared();
    assert_eq!(tables, declared.keys().cloned().collect::<Vec<_>>());

    for (table, (pk, columns)) in &declared {
        let info: Vec<Info> = diesel::sql_query(format!("PRAGMA table_info({table})"))
            .load(&mut conn)
            .unwrap();
        let actual: Vec<Column> = info
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                sql_type: c.r#type.clone(),
                // SQLite reports primary-key columns of rowid tables as nullable.
                nullable: c.notnull == 0 && c.pk == 0,
            })
            .collect();
        assert_eq!(&actual, columns, "table {table}");
        let mut keys: Vec<(i32, String)> = info
            .iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name.clone()))
            .collect();
        keys.sort();
        let keys: Vec<String> = keys.into_iter().map(|k| k.1).collect();
        assert_eq!(&keys, pk, "primary key of {table}");
    }
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}
