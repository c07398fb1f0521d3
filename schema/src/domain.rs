//! The closed vocabularies the database stores as text: who a dataset is for ([`Access`]),
//! what an entry is ([`EntryKind`]), what a token may do ([`Role`]). Rows carry them typed,
//! so no code compares strings, and a value outside the vocabulary is a corrupt row.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// Implements the text mapping of a vocabulary: `as_str`, `FromStr`, `Display` and diesel's
/// `Text` for every backend.
macro_rules! vocabulary {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "{other:?} is not a {} ({})",
                        stringify!($ty),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                Ok(text.parse::<$ty>()?)
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }
    };
}

/// Who may read a dataset: anyone, or its institution's tokens (and the admin).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    AsExpression,
    FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Public,
    Restricted,
}

vocabulary!(Access { Public => "public", Restricted => "restricted" });

/// A log entry: a record, or the erasure of one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Record,
    Erasure,
}

vocabulary!(EntryKind { Record => "record", Erasure => "erasure" });

/// Roles of API.md: admin (configuration), publisher and reader (one institution each).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    AsExpression,
    FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Publisher,
    Reader,
}

vocabulary!(Role { Admin => "admin", Publisher => "publisher", Reader => "reader" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip_and_refuse_the_rest() {
        for a in [Access::Public, Access::Restricted] {
            assert_eq!(a.as_str().parse::<Access>(), Ok(a));
        }
        for k in [EntryKind::Record, EntryKind::Erasure] {
            assert_eq!(k.as_str().parse::<EntryKind>(), Ok(k));
        }
        for r in [Role::Admin, Role::Publisher, Role::Reader] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("Public".parse::<Access>().is_err());
        assert!("".parse::<EntryKind>().is_err());
    }
}
