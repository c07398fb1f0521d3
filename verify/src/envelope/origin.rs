//! Dataset origins, `<prefix>/<institution-slug>/<dataset-slug>` (PROTOCOL.md section 1).
//!
//! The origin is also the checkpoint key name, so a verifier refuses any envelope whose
//! `dataset` could not have been an origin. Hand-written matching keeps regex out of the crate.

/// Whether `s` is a valid dataset origin.
///
/// The prefix matches `^[a-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._~-]+)*$` and both slugs match
/// `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn is_valid_origin(s: &str) -> bool {
    let mut parts = s.rsplitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(dataset), Some(institution), Some(prefix)) => {
            is_slug(dataset) && is_slug(institution) && is_prefix(prefix)
        }
        _ => false,
    }
}

fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && matches!(b[0], b'a'..=b'z' | b'0'..=b'9')
        && b.iter()
            .all(|&c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

fn is_prefix(s: &str) -> bool {
    let mut segments = s.split('/');
    let host_port = segments.next().unwrap_or_default();
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'));
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()));
    let path_ok = segments.all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'-'))
    });
    host_ok && port_ok && path_ok
}

#[cfg(test)]
mod tests {
    use super::is_valid_origin;

    #[test]
    fn accepts_spec_shapes() {
        for ok in [
            "localhost/city/air",
            "data.katowice.example/city-hall/budget-2026",
            "localhost:8080/a/b",
            "example.org/civic~proof/v_1/inst/ds",
        ] {
            assert!(is_valid_origin(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "localhost",
            "localhost/city",
            "Localhost/city/air",
            "localhost/-city/air",
            "localhost/city/air/",
            "localhost//city/air",
            "localhost:/city/air",
            "localhost:123456/city/air",
            "localhost:80:80/city/air",
            "/city/air",
            "localhost/city/a_ir",
            "localhost/city/żółw",
        ] {
            assert!(!is_valid_origin(bad), "{bad:?}");
        }
    }
}
