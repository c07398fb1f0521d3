//! MQTT topic filters (MQTT 3.1.1 section 4.7, the same in MQTT 5): matching a topic, and
//! whether two filters could both match one topic, which the configuration refuses, since
//! the broker would then deliver that message once per subscription.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    text: String,
}

impl TopicFilter {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > 65_535 {
            return Err("a topic filter must be 1 to 65535 bytes".into());
        }
        if text.contains('\0') {
            return Err("a topic filter must not contain NUL".into());
        }
        let levels: Vec<&str> = text.split('/').collect();
        for (i, level) in levels.iter().enumerate() {
            if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
                return Err("\"#\" must be a whole level and the last one".into());
            }
            if level.contains('+') && *level != "+" {
                return Err("\"+\" must be a whole level".into());
            }
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn levels(&self) -> impl Iterator<Item = &str> {
        self.text.split('/')
    }

    /// Whether every topic this filter matches has level `n` (counting from 0): the levels
    /// before a trailing `#`, which may match nothing.
    pub fn has_level(&self, n: usize) -> bool {
        self.levels().take_while(|l| *l != "#").count() > n
    }

    /// Whether `topic` (a topic name, no wildcards) matches.
    pub fn matches(&self, topic: &str) -> bool {
        // Wildcards at the first level do not match topics starting with '$' (section 4.7.2).
        if topic.starts_with('$') && matches!(self.levels().next(), Some("+" | "#")) {
            return false;
        }
        let mut filter = self.levels();
        let mut levels = topic.split('/');
        loop {
            match (filter.next(), levels.next()) {
                (Some("#"), _) => return true,
                (None, None) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                _ => return false,
            }
        }
    }

    /// Whether some topic matches both filters.
    pub fn overlaps(&self, other: &TopicFilter) -> bool {
        fn go(a: &[&str], b: &[&str]) -> bool {
            match (a.first(), b.first()) {
                (Some(&"#"), _) | (_, Some(&"#")) => true,
                (None, None) => true,
                (None, Some(_)) | (Some(_), None) => false,
                (Some(x), Some(y)) => (*x == "+" || *y == "+" || x == y) && go(&a[1..], &b[1..]),
            }
        }
        let a: Vec<&str> = self.levels().collect();
        let b: Vec<&str> = other.levels().collect();
        go(&a, &b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> TopicFilter {
        TopicFilter::parse(s).unwrap()
    }

    #[test]
    fn matching_follows_mqtt_4_7() {
        assert!(f("city/air/+/reading").matches("city/air/s1/reading"));
        assert!(!f("city/air/+/reading").matches("city/air/s1/x/reading"));
        assert!(!f("city/air/+/reading").matches("city/air/reading"));
        assert!(
            f("city/#").matches("city"),
            "# matches the parent level too"
        );
        assert!(f("city/#").matches("city/a/b"));
        assert!(f("+/+").matches("/x"), "an empty level is a level");
        assert!(!f("#").matches("$SYS/broker/load"));
        assert!(f("$SYS/#").matches("$SYS/broker/load"));
    }

    #[test]
    fn malformed_filters_are_refused() {
        for bad in ["", "a/#/b", "a#", "a/b+", "+a", "a\0b"] {
            assert!(TopicFilter::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overlap_is_whether_one_topic_matches_both() {
        assert!(f("city/air/+/reading").overlaps(&f("city/air/s1/reading")));
        assert!(f("city/#").overlaps(&f("city")));
        assert!(f("city/+/x").overlaps(&f("city/y/+")));
        assert!(!f("city/air/+/reading").overlaps(&f("city/traffic/+/reading")));
        assert!(!f("a/+").overlaps(&f("a/b/c")));
        assert!(!f("a/b").overlaps(&f("a")));
    }

    #[test]
    fn levels_before_a_hash_are_always_there() {
        assert!(f("city/air/+/reading").has_level(3));
        assert!(!f("city/air/+/reading").has_level(4));
        assert!(f("city/#").has_level(0));
        assert!(!f("city/#").has_level(1));
    }
}
