//! The bridge's configuration file (TOML), checked in full before anything connects: a bad
//! file exits 2 naming its line, not an hour later on the first odd message.

use super::topic::TopicFilter;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub server: Server,
    pub broker: Broker,
    #[serde(default)]
    pub ingest: Ingest,
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<MappingFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Base URL of the civicproof server.
    pub url: String,
    /// A file holding a publisher token of the institution that owns every mapped dataset.
    pub token_file: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Protocol {
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub url: String,
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Names the persistent session: keep it stable, and run one bridge per client id.
    pub client_id: String,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls: Option<Tls>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    /// MQTT 5: how long the broker keeps the session (and queues messages) while the bridge
    /// is away.
    #[serde(default = "default_session_expiry")]
    pub session_expiry_secs: u32,
    /// MQTT 5: how many unacknowledged messages the broker may send at once.
    #[serde(default = "default_receive_maximum")]
    pub receive_maximum: u16,
    /// Largest MQTT packet read (default 16 MiB). MQTT 3.1.1 cannot tell the broker this limit,
    /// and a bigger packet breaks the connection and comes back after each reconnect, so set
    /// the broker's `message_size_limit` at or below it; messages between `max_message_bytes`
    /// and this become dead letters.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM CA certificates to trust (the system's are not used).
    pub ca_file: PathBuf,
    /// Client certificate and key (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ingest {
    /// The namespace of dedup keys; defaults to `<broker host:port>/<client_id>`.
    pub source: Option<String>,
    pub batch_records: usize,
    pub batch_linger_ms: u64,
    pub lanes_per_dataset: usize,
    /// Larger messages become dead letters with reason `oversized`.
    pub max_message_bytes: usize,
    /// Bytes of received messages the bridge holds before it stops reading from the broker
    /// until its lanes catch up (QoS 0 traffic, or a slow or absent server). QoS 1 traffic
    /// is bounded by the broker's in-flight window anyway.
    pub max_pending_bytes: usize,
    /// Retained messages are skipped (the default) or ingested.
    pub retained: Retained,
    /// `inst/ds` for dead letters; defaults to `<institution>/ingest-errors`.
    pub dead_letters: Option<String>,
    /// Serve the bridge's Prometheus metrics here.
    pub metrics_bind: Option<std::net::SocketAddr>,
}

impl Default for Ingest {
    fn default() -> Self {
        Self {
            source: None,
            batch_records: 1000,
            batch_linger_ms: 50,
            lanes_per_dataset: 4,
            max_message_bytes: 64 * 1024,
            max_pending_bytes: 256 * 1024 * 1024,
            retained: Retained::Skip,
            dead_letters: None,
            metrics_bind: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Retained {
    #[default]
    Skip,
    Ingest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// An MQTT topic filter (`+` and `#` wildcards).
    pub topic: String,
    /// `inst/ds`.
    pub dataset: String,
    /// Where the record key comes from; no key when absent.
    pub key: Option<KeySource>,
    /// How a message is named for dedup; `content` (a hash of topic and payload) by default.
    #[serde(default)]
    pub dedup: DedupSource,
    #[serde(default)]
    pub transform: Transform,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum KeySource {
    /// The topic level at this index (0-based).
    TopicLevel(usize),
    /// A JSON Pointer into the payload (a string or number there).
    Pointer(String),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DedupSource {
    /// SHA-256 of the raw payload: byte-identical messages on one topic within the dedup
    /// window are one record.
    #[default]
    Content,
    /// At-least-once: every delivery is appended, redeliveries too.
    None,
    /// A message id in the payload (JSON Pointer).
    #[serde(untagged)]
    Pointer { pointer: String },
}

/// A JSON-to-JSON mapping applied in this order: rename, drop, types, set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    /// JSON Pointer of a top-level field → its new name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// JSON Pointers of fields to remove.
    #[serde(default)]
    pub drop: Vec<String>,
    /// JSON Pointer → `number`, `integer`, `string` or `boolean`: the value is converted, and
    /// a value that does not convert makes the message a `schema` dead letter.
    #[serde(default)]
    pub types: BTreeMap<String, FieldType>,
    /// Top-level field → a template: text with `{topic.N}` replaced by topic level N.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Number,
    Integer,
    String,
    Boolean,
}

fn default_protocol() -> Protocol {
    Protocol::V311
}
fn default_keep_alive() -> u64 {
    30
}
fn default_session_expiry() -> u32 {
    7 * 24 * 3600
}
fn default_receive_maximum() -> u16 {
    1000
}
fn default_max_packet() -> usize {
    16 << 20
}

/// The checked configuration the bridge runs on.
#[derive(Debug)]
pub struct Config {
    pub server_url: url::Url,
    pub token: String,
    pub broker: BrokerEndpoint,
    pub protocol: Protocol,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub tls: Option<TlsFiles>,
    pub keep_alive: Duration,
    pub session_expiry_secs: u32,
    pub receive_maximum: u16,
    pub max_packet_bytes: usize,
    pub source: String,
    pub batch_records: usize,
    pub batch_linger: Duration,
    pub lanes_per_dataset: usize,
    pub max_message_bytes: usize,
    pub max_pending_bytes: usize,
    pub retained: Retained,
    pub dead_letters: DatasetRef,
    pub metrics_bind: Option<std::net::SocketAddr>,
    pub mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

#[derive(Debug)]
pub struct TlsFiles {
    pub ca: Vec<u8>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetRef {
    pub institution: String,
    pub dataset: String,
}

impl std::fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.institution, self.dataset)
    }
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub filter: TopicFilter,
    pub dataset: DatasetRef,
    pub key: Option<KeySource>,
    pub dedup: DedupSource,
    pub transform: Transform,
}

/// Reads and checks the file at `path`. The error is one line for the operator, naming the
/// file and, where the TOML parser knows it, the line.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and checks a configuration; relative file names are read from `base`.
pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    check(file, base)
}

fn read_secret(base: &Path, path: &Path, what: &str) -> Result<String, String> {
    let full = base.join(path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| format!("cannot read the {what} file {}: {e}", full.display()))?;
    let secret = text.trim().to_owned();
    if secret.is_empty() {
        return Err(format!("the {what} file {} is empty", full.display()));
    }
    Ok(secret)
}

fn read_bytes(base: &Path, path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let full = base.join(path);
    std::fs::read(&full).map_err(|e| format!("cannot read the {what} {}: {e}", full.display()))
}

fn dataset_ref(text: &str, what: &str) -> Result<DatasetRef, String> {
    let (institution, dataset) = text
        .split_once('/')
        .filter(|(i, d)| crate::config::is_valid_slug(i) && crate::config::is_valid_slug(d))
        .ok_or_else(|| format!("{what} {text:?} must be \"institution/dataset\" (two slugs)"))?;
    Ok(DatasetRef {
        institution: institution.to_owned(),
        dataset: dataset.to_owned(),
    })
}

fn broker_endpoint(url: &str) -> Result<BrokerEndpoint, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("broker.url {url:?}: {e}"))?;
    let tls = match parsed.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => {
            return Err(format!(
                "broker.url scheme {other:?}: use mqtt:// or mqtts://"
            ));
        }
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("broker.url {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if parsed.path() != "" && parsed.path() != "/" || parsed.query().is_some() {
        return Err(format!("broker.url {url:?} must not have a path or query"));
    }
    let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
    Ok(BrokerEndpoint { host, port, tls })
}

fn check_pointer(pointer: &str, what: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "{what} {pointer:?} is not a JSON Pointer (RFC 6901): it must start with \"/\""
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "{what} {pointer:?}: \"~\" must be followed by 0 or 1 (RFC 6901)"
            ));
        }
    }
    Ok(())
}

fn check(file: File, base: &Path) -> Result<Config, String> {
    let server_url = url::Url::parse(&file.server.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("server.url {:?} must be an http(s) URL", file.server.url))?;
    let token = read_secret(base, &file.server.token_file, "server.token_file")?;
    let broker = broker_endpoint(&file.broker.url)?;
    let b = &file.broker;
    if b.client_id.is_empty() || b.client_id.len() > 64 {
        return Err("broker.client_id must be 1 to 64 characters".into());
    }
    let credentials = match (&b.username, &b.password_file) {
        (Some(user), Some(pw)) => {
            Some((user.clone(), read_secret(base, pw, "broker.password_file")?))
        }
        (Some(user), None) => Some((user.clone(), String::new())),
        (None, Some(_)) => return Err("broker.password_file needs broker.username".into()),
        (None, None) => None,
    };
    let tls = match (&b.tls, broker.tls) {
        (Some(t), true) => Some(TlsFiles {
            ca: read_bytes(base, &t.ca_file, "broker.tls.ca_file")?,
            client: match (&t.cert_file, &t.key_file) {
                (Some(c), Some(k)) => Some((
                    read_bytes(base, c, "broker.tls.cert_file")?,
                    read_bytes(base, k, "broker.tls.key_file")?,
                )),
                (None, None) => None,
                _ => {
                    return Err("broker.tls.cert_file and broker.tls.key_file go together".into());
                }
            },
        }),
        (Some(_), false) => return Err("broker.tls is set but broker.url is not mqtts://".into()),
        (None, true) => return Err("broker.url is mqtts://: set broker.tls.ca_file".into()),
        (None, false) => None,
    };
    if b.keep_alive_secs < 5 || b.keep_alive_secs > 3600 {
        return Err("broker.keep_alive_secs must be between 5 and 3600".into());
    }
    if b.receive_maximum == 0 {
        return Err("broker.receive_maximum must be at least 1".into());
    }
    let i = &file.ingest;
    if i.batch_records == 0 || i.batch_records > 10_000 {
        return Err(
            "ingest.batch_records must be between 1 and 10000 (the server's batch limit)".into(),
        );
    }
    if i.batch_linger_ms > 60_000 {
        return Err("ingest.batch_linger_ms must be at most 60000".into());
    }
    if i.lanes_per_dataset == 0 || i.lanes_per_dataset > 64 {
        return Err("ingest.lanes_per_dataset must be between 1 and 64".into());
    }
    if i.max_message_bytes == 0 || i.max_message_bytes >= b.max_packet_bytes {
        return Err(format!(
            "ingest.max_message_bytes must be positive and below broker.max_packet_bytes ({}), \
             so that larger messages arrive and become dead letters instead of breaking the connection",
            b.max_packet_bytes
        ));
    }
    if i.max_pending_bytes < b.max_packet_bytes {
        return Err(format!(
            "ingest.max_pending_bytes must be at least broker.max_packet_bytes ({}): the bridge \
             must be able to hold one message of the largest size",
            b.max_packet_bytes
        ));
    }
    if file.mappings.is_empty() {
        return Err("no [[mapping]]: map at least one topic filter to a dataset".into());
    }
    let mut mappings: Vec<Mapping> = Vec::new();
    for (n, m) in file.mappings.into_iter().enumerate() {
        let at = format!("mapping {} (topic {:?})", n + 1, m.topic);
        let filter = TopicFilter::parse(&m.topic).map_err(|e| format!("{at}: {e}"))?;
        let dataset = dataset_ref(&m.dataset, &format!("{at}: dataset"))?;
        if let Some(KeySource::TopicLevel(level)) = &m.key
            && !filter.has_level(*level)
        {
            return Err(format!(
                "{at}: key.topic_level {level} is beyond the filter's levels (they count from 0)"
            ));
        }
        if let Some(KeySource::Pointer(p)) = &m.key {
            check_pointer(p, &format!("{at}: key.pointer"))?;
        }
        if let DedupSource::Pointer { pointer } = &m.dedup {
            check_pointer(pointer, &format!("{at}: dedup.pointer"))?;
        }
        for p in m
            .transform
            .rename
            .keys()
            .chain(&m.transform.drop)
            .chain(m.transform.types.keys())
        {
            check_pointer(p, &format!("{at}: transform"))?;
            if p.is_empty() {
                return Err(format!(
                    "{at}: transform: the empty pointer names the whole payload"
                ));
            }
        }
        for template in m.transform.set.values() {
            super::transform::check_template(template, &filter)
                .map_err(|e| format!("{at}: transform.set: {e}"))?;
        }
        if let Some(earlier) = mappings.iter().find(|e| e.filter.overlaps(&filter)) {
            return Err(format!(
                "{at} overlaps the filter {:?}: one message would be delivered to both",
                earlier.filter.as_str()
            ));
        }
        mappings.push(Mapping {
            filter,
            dataset,
            key: m.key,
            dedup: m.dedup,
            transform: m.transform,
        });
    }
    let institution = mappings[0].dataset.institution.clone();
    if let Some(other) = mappings
        .iter()
        .find(|m| m.dataset.institution != institution)
    {
        return Err(format!(
            "every mapping must go to one institution (the token's): {} and {}",
            mappings[0].dataset, other.dataset
        ));
    }
    let dead_letters = match &i.dead_letters {
        Some(d) => dataset_ref(d, "ingest.dead_letters")?,
        None => DatasetRef {
            institution: institution.clone(),
            dataset: "ingest-errors".into(),
        },
    };
    if dead_letters.institution != institution {
        return Err(format!(
            "ingest.dead_letters {dead_letters} must belong to the mappings' institution {institution:?}"
        ));
    }
    if mappings.iter().any(|m| m.dataset == dead_letters) {
        return Err(format!(
            "{dead_letters} is the dead-letter dataset; map no topic to it"
        ));
    }
    let source = i
        .source
        .clone()
        .unwrap_or_else(|| format!("{}:{}/{}", broker.host, broker.port, b.client_id));
    Ok(Config {
        server_url,
        token,
        protocol: b.protocol,
        client_id: b.client_id.clone(),
        credentials,
        tls,
        keep_alive: Duration::from_secs(b.keep_alive_secs),
        session_expiry_secs: b.session_expiry_secs,
        receive_maximum: b.receive_maximum,
        max_packet_bytes: b.max_packet_bytes,
        broker,
        source,
        batch_records: i.batch_records,
        batch_linger: Duration::from_millis(i.batch_linger_ms),
        lanes_per_dataset: i.lanes_per_dataset,
        max_message_bytes: i.max_message_bytes,
        max_pending_bytes: i.max_pending_bytes,
        retained: i.retained,
        dead_letters,
        metrics_bind: i.metrics_bind,
        mappings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with a token file in a directory of its own.
    fn parse_with(rest: &str) -> Result<Config, String> {
        let dir =
            std::env::temp_dir().join(format!("civicproof-ingest-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "secret\n").unwrap();
        let text = format!(
            "[server]\nurl = \"http://127.0.0.1:8080\"\ntoken_file = \"token\"\n\n[broker]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"b1\"\n\n{rest}"
        );
        parse(&text, &dir)
    }

    const AIR: &str = "[[mapping]]\ntopic = \"city/air/+/reading\"\ndataset = \"city/air\"\nkey = { topic_level = 2 }\n";

    #[test]
    fn a_minimal_file_gets_the_documented_defaults() {
        let c = parse_with(AIR).unwrap();
        assert_eq!(c.token, "secret");
        assert_eq!(c.batch_records, 1000);
        assert_eq!(c.batch_linger, Duration::from_millis(50));
        assert_eq!(c.lanes_per_dataset, 4);
        assert_eq!(c.protocol, Protocol::V311);
        assert_eq!(c.source, "127.0.0.1:1883/b1");
        assert_eq!(c.dead_letters.to_string(), "city/ingest-errors");
        assert_eq!(c.mappings[0].key, Some(KeySource::TopicLevel(2)));
        assert_eq!(c.mappings[0].dedup, DedupSource::Content);
    }

    #[test]
    fn every_dedup_form_parses() {
        for (text, want) in [
            ("dedup = \"none\"", DedupSource::None),
            ("dedup = \"content\"", DedupSource::Content),
            (
                "dedup = { pointer = \"/msgId\" }",
                DedupSource::Pointer {
                    pointer: "/msgId".into(),
                },
            ),
        ] {
            let c = parse_with(&format!("{AIR}{text}\n")).unwrap();
            assert_eq!(c.mappings[0].dedup, want, "{text}");
        }
    }

    #[test]
    fn mistakes_are_named_before_anything_connects() {
        let cases = [
            ("[ingest]\nbatch_lingr_ms = 5\n", "batch_lingr_ms"),
            (
                "[[mapping]]\ntopic = \"city/#\"\ndataset = \"city/a\"\n[[mapping]]\ntopic = \"city/air/x\"\ndataset = \"city/b\"\n",
                "overlaps",
            ),
            (
                "[[mapping]]\ntopic = \"city/+\"\ndataset = \"city/a\"\nkey = { topic_level = 2 }\n",
                "beyond the filter",
            ),
            (
                "[[mapping]]\ntopic = \"city/+\"\ndataset = \"city/a\"\nkey = { pointer = \"id\" }\n",
                "JSON Pointer",
            ),
            (
                "[[mapping]]\ntopic = \"city/a#\"\ndataset = \"city/a\"\n",
                "whole level",
            ),
            (
                "[[mapping]]\ntopic = \"city/a\"\ndataset = \"City/a\"\n",
                "two slugs",
            ),
            (
                "[[mapping]]\ntopic = \"a\"\ndataset = \"city/a\"\n[[mapping]]\ntopic = \"b\"\ndataset = \"town/b\"\n",
                "one institution",
            ),
            (
                "[[mapping]]\ntopic = \"a\"\ndataset = \"city/ingest-errors\"\n",
                "dead-letter dataset",
            ),
            ("", "no [[mapping]]"),
            (
                &format!("{AIR}[mapping.transform]\nset = {{ s = \"{{topic.9}}\" }}\n"),
                "topic level 9",
            ),
            (
                &format!("[ingest]\nmax_message_bytes = 20000000\n{AIR}"),
                "max_packet_bytes",
            ),
        ];
        for (text, want) in cases {
            let err = parse_with(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = parse_with("[ingest]\nbatch_lingr_ms = 5\n").unwrap_err();
        assert!(err.contains("line 10"), "the line is named: {err}");
    }

    #[test]
    fn tls_needs_mqtts_and_a_ca() {
        let text = "[server]\nurl = \"http://x\"\ntoken_file = \"token\"\n[broker]\nurl = \"mqtts://h\"\nclient_id = \"c\"\n[[mapping]]\ntopic = \"a\"\ndataset = \"city/a\"\n";
        let dir =
            std::env::temp_dir().join(format!("civicproof-ingest-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "t").unwrap();
        assert!(parse(text, &dir).unwrap_err().contains("ca_file"));
    }
}
