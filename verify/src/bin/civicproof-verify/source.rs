//! Where a bundle comes from, and what a proof URL says about the expected origin and seq.

use std::io::Read;
use std::path::PathBuf;

use civicproof_verify::encoding::parse_decimal;
use civicproof_verify::envelope::is_valid_origin;
use url::Url;

use crate::error::{CliError, usage};

/// A bundle's source, from the positional argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
    Url(Url),
}

impl Source {
    /// `-` or nothing is standard input; `http://` and `https://` are URLs; the rest are files.
    pub fn classify(arg: Option<&str>) -> Result<Source, CliError> {
        match arg {
            None | Some("-") => Ok(Source::Stdin),
            Some(s) if is_http(s) => parse_http_url(s).map(Source::Url),
            Some(s) => Ok(Source::File(PathBuf::from(s))),
        }
    }

    /// How the source is named in the output.
    pub fn describe(&self) -> String {
        match self {
            Source::Stdin => "standard input".to_owned(),
            Source::File(path) => path.display().to_string(),
            Source::Url(url) => url.to_string(),
        }
    }
}

/// The parts of `<base>/v1/datasets/{inst}/{ds}/records/{seq}/proof[?…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofUrl {
    /// Everything before `/v1/datasets/`, without a trailing slash.
    pub base: Url,
    pub institution: String,
    pub dataset: String,
    pub seq: u64,
}

impl ProofUrl {
    /// The expected origin under the pinned `prefix`.
    pub fn origin(&self, prefix: &str) -> String {
        format!("{prefix}/{}/{}", self.institution, self.dataset)
    }
}

/// Reads a proof URL; `None` when `url` is not of that form (the query is ignored).
pub fn parse_proof_url(url: &Url) -> Option<ProofUrl> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let at = segments.windows(2).rposition(|w| w == ["v1", "datasets"])?;
    let [inst, ds, "records", seq, "proof"] = segments[at + 2..] else {
        return None;
    };
    if !is_valid_origin(&format!("x/{inst}/{ds}")) {
        return None;
    }
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    base.set_path(&segments[..at].join("/"));
    Some(ProofUrl {
        base,
        institution: inst.to_owned(),
        dataset: ds.to_owned(),
        seq: parse_decimal(seq)?,
    })
}

/// Parses `--server`: an http(s) URL without query or fragment.
pub fn parse_base(s: &str) -> Result<Url, CliError> {
    let url = parse_http_url(s)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(usage(format!(
            "--server {s}: a base URL has no query or fragment"
        )));
    }
    Ok(url)
}

/// `<base>/<path>`, whatever path the base already has.
pub fn join(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// `<scheme>://<host>[:<port>]/.well-known/civicproof.json` of `url`.
pub fn well_known_url(url: &Url) -> String {
    format!(
        "{}/.well-known/civicproof.json",
        url.origin().ascii_serialization()
    )
}

/// Splits `<institution>/<dataset>` (both slugs).
pub fn parse_dataset(s: &str) -> Result<(String, String), CliError> {
    match s.split_once('/') {
        Some((inst, ds)) if !ds.contains('/') && is_valid_origin(&format!("x/{s}")) => {
            Ok((inst.to_owned(), ds.to_owned()))
        }
        _ => Err(usage(format!(
            "--dataset {s:?} must be <institution>/<dataset>, both slugs"
        ))),
    }
}

/// The institution and dataset slugs of a valid origin.
pub fn origin_slugs(origin: &str) -> Option<(String, String)> {
    let mut parts = origin.rsplitn(3, '/');
    let (ds, inst) = (parts.next()?, parts.next()?);
    Some((inst.to_owned(), ds.to_owned()))
}

/// Whether `prefix` is a valid instance prefix (PROTOCOL.md section 1).
pub fn is_valid_prefix(prefix: &str) -> bool {
    is_valid_origin(&format!("{prefix}/a/b"))
}

/// Reads a file, or standard input for `-`.
pub fn read_path(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    if path == std::path::Path::new("-") {
        return read_stdin();
    }
    std::fs::read(path).map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))
}

pub fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Io(format!("cannot read standard input: {e}")))?;
    Ok(bytes)
}

fn is_http(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn parse_http_url(s: &str) -> Result<Url, CliError> {
    let url = Url::parse(s).map_err(|e| usage(format!("{s}: not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(usage(format!(
            "{s}: only http and https URLs are supported"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn proof_url_gives_origin_and_seq() {
        let p = parse_proof_url(&url(
            "https://data.example/v1/datasets/city/air/records/41/proof",
        ))
        .unwrap();
        assert_eq!(p.seq, 41);
        assert_eq!(p.origin("data.example"), "data.example/city/air");
        assert_eq!(p.base.as_str(), "https://data.example/");
        assert_eq!(
            join(
                &p.base,
                "/v1/datasets/city/air/consistency?first=1&second=2"
            ),
            "https://data.example/v1/datasets/city/air/consistency?first=1&second=2"
        );
    }

    #[test]
    fn proof_url_with_query_and_base_path() {
        let u = url("http://127.0.0.1:8080/civic/v1/datasets/c/d-1/records/0/proof?tree_size=7#x");
        let p = parse_proof_url(&u).unwrap();
        assert_eq!((p.seq, p.institution.as_str()), (0, "c"));
        assert_eq!(p.base.as_str(), "http://127.0.0.1:8080/civic");
        assert_eq!(join(&p.base, "v1/x"), "http://127.0.0.1:8080/civic/v1/x");
        assert_eq!(
            well_known_url(&u),
            "http://127.0.0.1:8080/.well-known/civicproof.json"
        );
    }

    #[test]
    fn other_urls_are_not_proof_urls() {
        for s in [
            "https://d.example/v1/datasets/city/air/records/41",
            "https://d.example/v1/datasets/city/air/records/41/proof/",
            "https://d.example/v1/datasets/city/air/records/041/proof",
            "https://d.example/v1/datasets/city/air/records/-1/proof",
            "https://d.example/v1/datasets/City/air/records/1/proof",
            "https://d.example/v1/datasets/city/records/1/proof",
            "https://d.example/v2/datasets/city/air/records/1/proof",
            "https://d.example/bundle.json",
        ] {
            assert_eq!(parse_proof_url(&url(s)), None, "{s}");
        }
    }

    #[test]
    fn classify_sources() {
        assert_eq!(Source::classify(None).unwrap(), Source::Stdin);
        assert_eq!(Source::classify(Some("-")).unwrap(), Source::Stdin);
        assert_eq!(
            Source::classify(Some("b.json")).unwrap(),
            Source::File("b.json".into())
        );
        assert!(matches!(
            Source::classify(Some("HTTPS://d.example/x")).unwrap(),
            Source::Url(_)
        ));
        assert!(Source::classify(Some("http://")).is_err());
        assert!(parse_base("http://localhost:8080/?a=1").is_err());
        assert!(parse_base("ftp://localhost/").is_err());
    }

    #[test]
    fn datasets_and_prefixes() {
        assert_eq!(
            parse_dataset("city/air").unwrap(),
            ("city".into(), "air".into())
        );
        for bad in ["city", "city/air/x", "City/air", "/air", "city/"] {
            assert!(parse_dataset(bad).is_err(), "{bad}");
        }
        assert!(is_valid_prefix("localhost:8080"));
        assert!(is_valid_prefix("data.example/sub"));
        assert!(!is_valid_prefix("https://data.example"));
        assert_eq!(
            origin_slugs("a.example/x/c/d"),
            Some(("c".into(), "d".into()))
        );
    }
}
