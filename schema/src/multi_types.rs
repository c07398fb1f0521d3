//! The SQL types of `schema.rs` that diesel's generated `MultiBackend` does not cover:
//! `Timestamptz`, `Jsonb` and `Uuid`. Each maps to a local SQL type (a "shim") that every
//! backend implements for the Rust type the models use: PostgreSQL's native type, and on
//! SQLite a text encoding chosen so that text order is value order:
//! - timestamps as fixed-width UTC text with microseconds, `2026-11-26T09:03:05.123456Z`
//!   (the SQLite migrations' column defaults write the same shape);
//! - JSON as its text;
//! - UUIDs in lowercase hyphenated form.

use crate::conn::{MultiBackend, MultiRawValue};
use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, Jsonb, Text, Timestamptz, Uuid};
use diesel::sqlite::Sqlite;

/// `timestamptz` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::SqlType, diesel::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct TimestampShim;

/// `jsonb` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::SqlType, diesel::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct JsonShim;

/// `uuid` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::SqlType, diesel::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UuidShim;

/// The SQLite text form of each shimmed type.
trait SqliteText: Sized {
    fn to_text(&self) -> String;
    fn from_text(text: &str) -> deserialize::Result<Self>;
}

impl SqliteText for DateTime<Utc> {
    fn to_text(&self) -> String {
        self.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
    fn from_text(text: &str) -> deserialize::Result<Self> {
        Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
    }
}

impl SqliteText for serde_json::Value {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> deserialize::Result<Self> {
        Ok(serde_json::from_str(text)?)
    }
}

impl SqliteText for uuid::Uuid {
    fn to_text(&self) -> String {
        self.hyphenated().to_string()
    }
    fn from_text(text: &str) -> deserialize::Result<Self> {
        Ok(uuid::Uuid::parse_str(text)?)
    }
}

/// Implements one shim: the PostgreSQL half delegates to diesel's native type, the SQLite
/// half goes through [`SqliteText`], and the `MultiBackend` half routes the public SQL type
/// through the shim.
macro_rules! shim {
    ($shim:ident, $public:ty, $rust:ty) => {
        impl ToSql<$shim, Pg> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <$rust as ToSql<$public, Pg>>::to_sql(self, out)
            }
        }

        impl FromSql<$shim, Pg> for $rust {
            fn from_sql(
                bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                <$rust as FromSql<$public, Pg>>::from_sql(bytes)
            }
        }

        impl ToSql<$shim, Sqlite> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(SqliteText::to_text(self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<$shim, Sqlite> for $rust {
            fn from_sql(
                bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
                <$rust as SqliteText>::from_text(&text)
            }
        }

        impl HasSqlType<$public> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$shim>(lookup)
            }
        }

        impl FromSql<$public, MultiBackend> for $rust {
            fn from_sql(bytes: MultiRawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<$rust, $shim>()
            }
        }

        impl ToSql<$public, MultiBackend> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($shim, self));
                Ok(IsNull::No)
            }
        }
    };
}

shim!(TimestampShim, Timestamptz, DateTime<Utc>);
shim!(JsonShim, Jsonb, serde_json::Value);
shim!(UuidShim, Uuid, uuid::Uuid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_are_fixed_width_and_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T09:03:05.000120Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(t.to_text(), "2026-11-26T09:03:05.000120Z");
        assert_eq!(DateTime::<Utc>::from_text(&t.to_text()).unwrap(), t);
        // The migrations' column default (milliseconds padded with 000) reads back.
        let d = DateTime::<Utc>::from_text("2026-11-26T09:56:22.426000Z").unwrap();
        assert_eq!(d.timestamp_subsec_micros(), 426_000);
        let later = t + chrono::Duration::microseconds(1);
        assert!(later.to_text() > t.to_text(), "text order is time order");
    }
}
