//! Step 0, format: the bytes are I-JSON and every field of PROTOCOL.md section 6 is present, with
//! its JSON type, integer range, path bound and EVM encoding.
//!
//! Unknown fields are refused: `format` names one fixed shape, and a verifier that ignored extra
//! members would let a server attach claims that look verified but are not. SHA-256 values and the
//! salt are only required to be strings here; step 1 is the step that decodes them (section 1:
//! "a violation fails the step that decodes the field").

use serde_json::{Map, Value};

use super::{Anchor, AnchorPending, Bundle, Erasure, FORMAT, Inclusion, MAX_PATH_LEN};
use crate::json::{self, JsonError, MAX_SAFE_INTEGER};

/// Why bundle bytes fail step 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The bytes are not I-JSON under the rules of PROTOCOL.md section 2.
    #[error("bundle is not valid I-JSON: {0}")]
    Json(#[from] JsonError),
    /// `format` is not `civicproof/bundle/v1`.
    #[error("format is {0:?}, expected \"civicproof/bundle/v1\"")]
    UnsupportedFormat(String),
    /// A field is absent.
    #[error("field {0} is missing")]
    Missing(String),
    /// A field the format does not define is present.
    #[error("field {0} is not part of civicproof/bundle/v1")]
    Unknown(String),
    /// A field has the wrong JSON type.
    #[error("field {field} must be {expected}")]
    WrongType {
        /// Dotted field name, e.g. `inclusion.tree_size`.
        field: String,
        /// What section 6 requires.
        expected: &'static str,
    },
    /// An integer field is not an integer in [0, 2^53−1].
    #[error("field {0} must be an integer in [0, 2^53-1]")]
    Integer(String),
    /// A path has more than 64 elements.
    #[error("field {field} has {len} elements; at most 64 are allowed")]
    PathTooLong {
        /// Dotted field name.
        field: String,
        /// Its number of elements.
        len: usize,
    },
    /// An EVM value is not `0x` plus the right number of lowercase hex digits.
    #[error("field {field} must be 0x followed by {digits} lowercase hex digits")]
    Evm {
        /// Dotted field name.
        field: String,
        /// Required number of hex digits.
        digits: usize,
    },
    /// `anchor.batch_index` is not below `anchor.batch_size`.
    #[error("anchor.batch_index {index} is not below anchor.batch_size {size}")]
    BatchIndex {
        /// The claimed index.
        index: u64,
        /// The claimed batch size.
        size: u64,
    },
}

const BUNDLE_FIELDS: [&str; 10] = [
    "format",
    "envelope",
    "payload",
    "salt",
    "leaf_hash",
    "inclusion",
    "checkpoint",
    "erasure",
    "anchor",
    "anchor_pending",
];
const INCLUSION_FIELDS: [&str; 2] = ["tree_size", "path"];
const ERASURE_FIELDS: [&str; 2] = ["envelope", "path"];
const ANCHOR_FIELDS: [&str; 13] = [
    "batch_seq",
    "batch_root",
    "batch_size",
    "batch_index",
    "batch_path",
    "prev_root",
    "chain_id",
    "contract",
    "anchorer",
    "tx_hash",
    "block_number",
    "block_hash",
    "block_time",
];
const ANCHOR_PENDING_FIELDS: [&str; 2] = ["batch_seq", "tx_hash"];

/// Hex digits of an EVM address and of an EVM 32-byte hash.
const ADDRESS_DIGITS: usize = 40;
const EVM_HASH_DIGITS: usize = 64;

/// Nesting allowed in a bundle. PROTOCOL.md allows payloads nested 64 deep (section 2) and
/// asks bundles to be at most 64 deep (section 7, step 0); a payload sits one level inside
/// its bundle, so a literal 64 would make some publishable records unverifiable. We allow
/// one more level here; step 2 still holds the payload itself to 64.
pub const MAX_BUNDLE_DEPTH: usize = json::MAX_DEPTH + 1;

/// See [`Bundle::from_json_strict`].
pub(super) fn parse(bytes: &[u8]) -> Result<Bundle, FormatError> {
    let value = json::parse_strict_with_depth(bytes, MAX_BUNDLE_DEPTH)?;
    let top = Fields::new(&value, "", &BUNDLE_FIELDS)?;
    let format = top.string("format")?;
    if format != FORMAT {
        return Err(FormatError::UnsupportedFormat(format.to_owned()));
    }
    let inclusion = Fields::new(top.get("inclusion"), "inclusion.", &INCLUSION_FIELDS)?;
    Ok(Bundle {
        format: format.to_owned(),
        envelope: top.object("envelope")?.clone(),
        payload: top.nullable("payload", |f| f.object("payload").cloned())?,
        salt: top.nullable("salt", |f| f.string("salt").map(str::to_owned))?,
        leaf_hash: top.string("leaf_hash")?.to_owned(),
        inclusion: Inclusion {
            tree_size: inclusion.integer("tree_size")?,
            path: inclusion.path("path")?,
        },
        checkpoint: top.string("checkpoint")?.to_owned(),
        erasure: top.nullable("erasure", |f| erasure(f.get("erasure")))?,
        anchor: top.nullable("anchor", |f| anchor(f.get("anchor")))?,
        anchor_pending: top.nullable("anchor_pending", |f| {
            anchor_pending(f.get("anchor_pending"))
        })?,
    })
}

fn erasure(v: &Value) -> Result<Erasure, FormatError> {
    let f = Fields::new(v, "erasure.", &ERASURE_FIELDS)?;
    Ok(Erasure {
        envelope: f.object("envelope")?.clone(),
        path: f.path("path")?,
    })
}

fn anchor(v: &Value) -> Result<Anchor, FormatError> {
    let f = Fields::new(v, "anchor.", &ANCHOR_FIELDS)?;
    let anchor = Anchor {
        batch_seq: f.integer("batch_seq")?,
        batch_root: f.string("batch_root")?.to_owned(),
        batch_size: f.integer("batch_size")?,
        batch_index: f.integer("batch_index")?,
        batch_path: f.path("batch_path")?,
        prev_root: f.string("prev_root")?.to_owned(),
        chain_id: f.integer("chain_id")?,
        contract: f.evm("contract", ADDRESS_DIGITS)?,
        anchorer: f.evm("anchorer", ADDRESS_DIGITS)?,
        tx_hash: f.evm("tx_hash", EVM_HASH_DIGITS)?,
        block_number: f.integer("block_number")?,
        block_hash: f.evm("block_hash", EVM_HASH_DIGITS)?,
        block_time: f.integer("block_time")?,
    };
    if anchor.batch_index >= anchor.batch_size {
        return Err(FormatError::BatchIndex {
            index: anchor.batch_index,
            size: anchor.batch_size,
        });
    }
    Ok(anchor)
}

fn anchor_pending(v: &Value) -> Result<AnchorPending, FormatError> {
    let f = Fields::new(v, "anchor_pending.", &ANCHOR_PENDING_FIELDS)?;
    Ok(AnchorPending {
        batch_seq: f.integer("batch_seq")?,
        tx_hash: f.evm("tx_hash", EVM_HASH_DIGITS)?,
    })
}

/// A JSON object known to have exactly the allowed members, with typed accessors whose errors
/// name the member by its dotted path.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    /// Checks that `v` is an object with exactly the `allowed` members.
    fn new(
        v: &'a Value,
        prefix: &'static str,
        allowed: &[&str],
    ) -> Result<Fields<'a>, FormatError> {
        let map = v.as_object().ok_or_else(|| FormatError::WrongType {
            field: prefix.strip_suffix('.').unwrap_or("bundle").to_owned(),
            expected: "an object",
        })?;
        let fields = Fields { map, prefix };
        if let Some(missing) = allowed.iter().find(|f| !map.contains_key(**f)) {
            return Err(FormatError::Missing(fields.name(missing)));
        }
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(FormatError::Unknown(fields.name(unknown)));
        }
        Ok(fields)
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn wrong_type(&self, field: &str, expected: &'static str) -> FormatError {
        FormatError::WrongType {
            field: self.name(field),
            expected,
        }
    }

    /// A member [`Fields::new`] has checked to be present.
    fn get(&self, field: &str) -> &'a Value {
        &self.map[field]
    }

    /// `None` for `null`, else `decode(self)`.
    fn nullable<T>(
        &self,
        field: &str,
        decode: impl FnOnce(&Self) -> Result<T, FormatError>,
    ) -> Result<Option<T>, FormatError> {
        match self.get(field) {
            Value::Null => Ok(None),
            _ => decode(self).map(Some),
        }
    }

    fn string(&self, field: &str) -> Result<&'a str, FormatError> {
        self.get(field)
            .as_str()
            .ok_or_else(|| self.wrong_type(field, "a string"))
    }

    fn object(&self, field: &str) -> Result<&'a Value, FormatError> {
        let v = self.get(field);
        if v.is_object() {
            Ok(v)
        } else {
            Err(self.wrong_type(field, "an object"))
        }
    }

    /// An integer in [0, 2^53−1]; the strict parser holds every number as a double.
    fn integer(&self, field: &str) -> Result<u64, FormatError> {
        let n = self
            .get(field)
            .as_number()
            .ok_or_else(|| self.wrong_type(field, "an integer"))?;
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&f) => {
                Ok(f as u64)
            }
            _ => Err(FormatError::Integer(self.name(field))),
        }
    }

    /// An array of at most 64 strings (their hex is step 1's concern).
    fn path(&self, field: &str) -> Result<Vec<String>, FormatError> {
        let items = self
            .get(field)
            .as_array()
            .ok_or_else(|| self.wrong_type(field, "an array of hex strings"))?;
        if items.len() > MAX_PATH_LEN {
            return Err(FormatError::PathTooLong {
                field: self.name(field),
                len: items.len(),
            });
        }
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| self.wrong_type(field, "an array of hex strings"))
    }

    /// `0x` followed by exactly `digits` lowercase hex digits.
    fn evm(&self, field: &str, digits: usize) -> Result<String, FormatError> {
        let s = self.string(field)?;
        match s.strip_prefix("0x") {
            Some(h) if h.len() == digits && crate::encoding::is_lower_hex(h) => Ok(s.to_owned()),
            _ => Err(FormatError::Evm {
                field: self.name(field),
                digits,
            }),
        }
    }
}
