//! Domain values parsed once, at the edge, and passed typed everywhere after: a REST path or
//! query parameter and the GraphQL `Seq` scalar both become a [`Seq`]; services, the log
//! and anchoring never see the text. The registries of formats live here too: the feed's
//! read formats ([`FeedFormat`]) and the batch formats of publishing ([`BatchFormat`]).

use std::fmt;

/// A sequence number, tree size, count or batch seq: an integer in [0, 2^53 − 1], exact in
/// every JSON implementation (PROTOCOL.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl Seq {
    /// 2^53 − 1.
    pub const MAX: u64 = (1 << 53) - 1;

    /// From text: decimal digits, no sign, no leading zeros, at most [`Seq::MAX`].
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty()
            || s.len() > 16
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return None;
        }
        s.parse::<u64>().ok().filter(|n| *n <= Self::MAX).map(Seq)
    }

    /// From a stored (non-negative) seq, size or count.
    pub fn of(n: i64) -> Self {
        Self(n.max(0) as u64)
    }

    /// As the database stores it.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// In a path (`web::Path<(…, Seq)>`): the text rules of [`Seq::parse`]; a path that breaks
/// them names nothing (404, see `routes::configure`).
impl<'de> serde::Deserialize<'de> for Seq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Seq::parse(&s).ok_or_else(|| serde::de::Error::custom("not a seq"))
    }
}

#[cfg(test)]
mod tests {
    use super::Seq;

    #[test]
    fn seqs_follow_the_text_rules() {
        assert_eq!(Seq::parse("0"), Some(Seq(0)));
        assert_eq!(Seq::parse("9007199254740991"), Some(Seq(Seq::MAX)));
        for bad in [
            "",
            "01",
            "-1",
            "+1",
            "1.0",
            "9007199254740992",
            "1e3",
            " 1",
            "١",
        ] {
            assert_eq!(Seq::parse(bad), None, "{bad:?}");
        }
    }
}

/// The read formats of the record feed (API.md): the one registry. Every `match` on it is
/// exhaustive, so a new format does not compile until the query parser, the renderers and
/// the DCAT catalog (`crate::dcat`) all handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// Cursor-paged JSON bodies.
    Json,
    /// Newline-delimited JSON, streamed.
    Ndjson,
    /// CSV (RFC 4180, UTF-8), streamed.
    Csv,
}

impl FeedFormat {
    pub const ALL: [Self; 3] = [Self::Json, Self::Ndjson, Self::Csv];

    /// The value of `format=`.
    pub const fn key(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::Csv => "csv",
        }
    }

    /// The IANA media type, without parameters (also `dcat:mediaType`).
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv",
        }
    }

    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// Other media types an `Accept` header may name for this format.
    const fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Json => &[],
            Self::Ndjson => &["application/ndjson"],
            Self::Csv => &[],
        }
    }

    /// Whether the whole feed streams in one response (the JSON body is paged instead).
    pub const fn streams(self) -> bool {
        match self {
            Self::Json => false,
            Self::Ndjson | Self::Csv => true,
        }
    }

    /// From the value of `format=`.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The streamed format an `Accept` header asks for, if any (JSON otherwise).
    pub fn from_accept(accept: &str) -> Self {
        let accept = accept.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| {
                f.streams()
                    && std::iter::once(f.media_type())
                        .chain(f.aliases().iter().copied())
                        .any(|m| accept.contains(m))
            })
            .unwrap_or(Self::Json)
    }

    /// "json, ndjson or csv", for error messages.
    pub fn keys_listed() -> String {
        let keys: Vec<&str> = Self::ALL.iter().map(|f| f.key()).collect();
        match keys.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// The media types a batch may be published in: the one registry (matched exhaustively by
/// the parsers in `services::input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Json,
    Ndjson,
    Csv,
}

impl BatchFormat {
    pub const ALL: [Self; 3] = [Self::Json, Self::Ndjson, Self::Csv];

    /// The media types (essence, lower case) accepted for this format; the first is its own.
    pub const fn media_types(self) -> &'static [&'static str] {
        match self {
            Self::Json => &["application/json"],
            Self::Ndjson => &[
                "application/x-ndjson",
                "application/ndjson",
                "application/jsonl",
            ],
            Self::Csv => &["text/csv"],
        }
    }

    /// From a `Content-Type` essence (parameters dropped, any case).
    pub fn from_media_type(essence: &str) -> Option<Self> {
        let essence = essence.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.media_types().contains(&essence.as_str()))
    }
}
