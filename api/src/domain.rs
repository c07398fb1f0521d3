//! Domain values parsed once, at the edge, and passed typed everywhere after: a REST path or
//! query parameter and the GraphQL `Seq` scalar both become a [`Seq`]; services, the log
//! and anchoring never see the text.

use std::fmt;

/// A sequence number, tree size, count or batch seq: an integer in [0, 2^53 − 1], exact in
/// every JSON implementation (PROOFS.md section 1).
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
