//! DCAT-AP 3 catalog of the public datasets, as JSON-LD (`GET /v1/catalog.jsonld`).
//!
//! The output is one self-contained JSON-LD document: an inline `@context` that only declares
//! prefixes (no remote context, no `@import`), so any JSON-LD processor can turn it into RDF
//! offline, and a flat `@graph` in which every node appears once and is referenced by `@id`.
//! Values are written in expanded form (`{"@id": …}` for IRIs, `{"@value": …, "@type":
//! "xsd:dateTime"}` for dates), so the meaning never depends on term definitions.
//!
//! The document is designed against the DCAT-AP 3.0.1 SHACL shapes (`shapes.ttl` for the
//! mandatory constraints and `range.ttl` for class ranges) validated *without* RDFS inference.
//! Two consequences shape the code:
//!
//! * `range.ttl` checks `sh:class` on objects: the homepage and landing pages must be typed
//!   `foaf:Document`, media types `dct:MediaType`, file types `dct:MediaTypeOrExtent`, licences
//!   `dct:LicenseDocument`, contact points `vcard:Kind`, publishers `foaf:Agent`, themes
//!   `skos:Concept`, the theme taxonomy `skos:ConceptScheme`. Without inference a subclass is not
//!   enough, so e.g. the contact point carries both `vcard:Kind` and `vcard:Organization`, and
//!   institutions both `foaf:Agent` and `foaf:Organization`. These type statements about external
//!   IRIs (EU authority tables, IANA) are included in the graph on purpose.
//! * `shapes.ttl` requires every `skos:Concept` to have a literal `skos:prefLabel` and every
//!   `skos:ConceptScheme` a `dct:title`; that is why the EU vocabulary concepts we reference
//!   (data themes, publisher type, licence types, planned availability) carry their English label.
//!
//! The caller decides what is public: this module renders every dataset it is given, so it must
//! only receive datasets that anyone may read (restricted ones must never appear in the catalog).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde_json::{Map, Value, json};

use crate::domain::FeedFormat;

/// Catalog-level settings (from the server configuration).
#[derive(Debug, Clone)]
pub struct CatalogInfo {
    /// Public base URL of the server, absolute, e.g. `http://127.0.0.1:8080` (a trailing `/` is
    /// tolerated). Every IRI in the catalog is built from it.
    pub base_url: String,
    pub title: String,
    pub description: String,
    pub publisher_name: String,
    /// Human homepage of the portal; when absent (or not a URL) the base URL is used.
    pub homepage: Option<String>,
}

/// One public dataset together with its institution, as the catalog needs it.
#[derive(Debug, Clone)]
pub struct DcatDataset {
    pub institution_slug: String,
    pub institution_name: String,
    pub institution_homepage: Option<String>,
    /// An email address (optionally `mailto:`) or an absolute URL.
    pub institution_contact: Option<String>,
    pub dataset_slug: String,
    /// The log origin, `"<prefix>/<inst>/<ds>"`.
    pub origin: String,
    pub title: String,
    pub description: String,
    /// An SPDX licence id such as `CC-BY-4.0`, or a URL.
    pub license: String,
    pub themes: Vec<String>,
    pub keywords: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const NS_DCAT: &str = "http://www.w3.org/ns/dcat#";
const NS_DCT: &str = "http://purl.org/dc/terms/";
const NS_DCATAP: &str = "http://data.europa.eu/r5r/";
const NS_FOAF: &str = "http://xmlns.com/foaf/0.1/";
const NS_RDFS: &str = "http://www.w3.org/2000/01/rdf-schema#";
const NS_SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
const NS_VCARD: &str = "http://www.w3.org/2006/vcard/ns#";
const NS_XSD: &str = "http://www.w3.org/2001/XMLSchema#";

const DATA_THEME_SCHEME: &str = "http://publications.europa.eu/resource/authority/data-theme";
const EU_LICENCE: &str = "http://publications.europa.eu/resource/authority/licence/";
const EU_FILE_TYPE: &str = "http://publications.europa.eu/resource/authority/file-type/";
const IANA_MEDIA_TYPES: &str = "https://www.iana.org/assignments/media-types/";
const ADMS_LICENCE_TYPE: &str = "http://purl.org/adms/licencetype/";
const SPDX_LICENSES: &str = "https://spdx.org/licenses/";
const PLANNED_AVAILABILITY: &str =
    "http://publications.europa.eu/resource/authority/planned-availability";
/// ADMS publisher type for every agent. civicproof is run for city institutions, so "Local
/// Authority" is the closest code; it satisfies the recommended `dct:type` of `foaf:Agent`.
const PUBLISHER_TYPE: (&str, &str) = (
    "http://purl.org/adms/publishertype/LocalAuthority",
    "Local Authority",
);
const PUBLISHER_TYPE_SCHEME: &str = "http://purl.org/adms/publishertype/1.0";

/// The EU data-theme authority table (DCAT-AP's controlled vocabulary for `dcat:theme`), with the
/// English labels that `skos:Concept` needs as `skos:prefLabel`.
const EU_THEMES: &[(&str, &str)] = &[
    ("AGRI", "Agriculture, fisheries, forestry and food"),
    ("ECON", "Economy and finance"),
    ("EDUC", "Education, culture and sport"),
    ("ENER", "Energy"),
    ("ENVI", "Environment"),
    ("GOVE", "Government and public sector"),
    ("HEAL", "Health"),
    ("INTR", "International issues"),
    ("JUST", "Justice, legal system and public safety"),
    ("REGI", "Regions and cities"),
    ("SOCI", "Population and society"),
    ("TECH", "Science and technology"),
    ("TRAN", "Transport"),
    ("OP_DATPRO", "Provisional data"),
];

/// ADMS licence types (`dct:type` of a licence document, recommended by DCAT-AP).
const LT_ATTRIBUTION: LicenceType = ("Attribution", "Attribution");
const LT_PUBLIC_DOMAIN: LicenceType = ("PublicDomain", "Public domain");
const LT_SHARE_ALIKE: LicenceType = ("ViralEffect-ShareAlike", "Viral effect (share-alike)");
const LT_NON_COMMERCIAL: LicenceType = ("NonCommercialUseOnly", "Non-commercial use only");
const LT_NO_DERIVATIVES: LicenceType = ("NoDerivativeWork", "No derivative work");

/// SPDX id (compared case-insensitively, as SPDX ids are) → code in the EU licence authority
/// table and its ADMS licence types. DCAT-AP prefers the EU authority IRIs over spdx.org ones.
/// Note ODbL is `ODC_BL` in that table.
/// An ADMS licence type: (code under `http://purl.org/adms/licencetype/`, English label).
type LicenceType = (&'static str, &'static str);

const KNOWN_LICENCES: &[(&str, &str, &[LicenceType])] = &[
    ("CC-BY-4.0", "CC_BY_4_0", &[LT_ATTRIBUTION]),
    (
        "CC-BY-SA-4.0",
        "CC_BYSA_4_0",
        &[LT_ATTRIBUTION, LT_SHARE_ALIKE],
    ),
    (
        "CC-BY-ND-4.0",
        "CC_BYND_4_0",
        &[LT_ATTRIBUTION, LT_NO_DERIVATIVES],
    ),
    (
        "CC-BY-NC-4.0",
        "CC_BYNC_4_0",
        &[LT_ATTRIBUTION, LT_NON_COMMERCIAL],
    ),
    (
        "CC-BY-NC-SA-4.0",
        "CC_BYNCSA_4_0",
        &[LT_ATTRIBUTION, LT_NON_COMMERCIAL, LT_SHARE_ALIKE],
    ),
    (
        "CC-BY-NC-ND-4.0",
        "CC_BYNCND_4_0",
        &[LT_ATTRIBUTION, LT_NON_COMMERCIAL, LT_NO_DERIVATIVES],
    ),
    ("CC0-1.0", "CC0", &[LT_PUBLIC_DOMAIN]),
    ("ODbL-1.0", "ODC_BL", &[LT_ATTRIBUTION, LT_SHARE_ALIKE]),
    ("ODC-By-1.0", "ODC_BY", &[LT_ATTRIBUTION]),
    ("PDDL-1.0", "ODC_PDDL", &[LT_PUBLIC_DOMAIN]),
    ("OGL-UK-3.0", "OGL_3_0", &[LT_ATTRIBUTION]),
];

/// How the catalog presents one read format of the feed `GET …/records` (API.md); the
/// formats, their `format=` keys and media types come from [`FeedFormat`], matched here
/// exhaustively so that a new format cannot be left out of the catalog.
struct Distribution {
    label: &'static str,
    /// EU file-type code. NDJSON has no code of its own; each line is JSON, so it is `JSON`
    /// while `dcat:mediaType` tells the two apart.
    file_type: &'static str,
    what: &'static str,
}

fn distribution(f: FeedFormat) -> Distribution {
    match f {
        FeedFormat::Json => Distribution {
            label: "JSON",
            file_type: "JSON",
            what: "The record feed as JSON pages ({\"records\": [...], \"next_cursor\": ...}) in sequence order, paged by cursor.",
        },
        FeedFormat::Ndjson => Distribution {
            label: "NDJSON",
            file_type: "JSON",
            what: "The record feed as newline-delimited JSON, one record (envelope, payload, salt, leaf hash) per line, streamed in sequence order.",
        },
        FeedFormat::Csv => Distribution {
            label: "CSV",
            file_type: "CSV",
            what: "The record feed as CSV (RFC 4180, UTF-8), streamed in sequence order.",
        },
    }
}

/// Builds the DCAT-AP 3 catalog of `datasets` as a JSON-LD document.
///
/// Deterministic: the same input gives the same document (shared nodes are sorted by IRI), so
/// the response can carry a strong `ETag`.
pub fn catalog_jsonld(info: &CatalogInfo, datasets: &[DcatDataset]) -> Value {
    let base = info.base_url.trim().trim_end_matches('/');
    let mut b = Builder::default();

    let catalog_iri = format!("{base}/v1/catalog.jsonld#catalog");
    let publisher_iri = format!("{base}/v1/catalog.jsonld#publisher");
    let local_scheme_iri = format!("{base}/v1/themes");

    let mut catalog = node(&catalog_iri, &["dcat:Catalog"]);
    catalog.insert("dct:title".into(), json!(info.title));
    catalog.insert("dct:description".into(), json!(info.description));
    catalog.insert("dct:publisher".into(), id(&publisher_iri));
    b.agent(&publisher_iri, &info.publisher_name, None);

    // Recommended and at most one: prefer the configured homepage, else the server itself.
    let homepage = info
        .homepage
        .as_deref()
        .and_then(absolute_url)
        .unwrap_or_else(|| format!("{base}/"));
    catalog.insert("foaf:homepage".into(), id(&homepage));
    b.document(&homepage);

    // The catalog has no stored dates of its own: it was first issued when its oldest dataset
    // was, and it changes whenever a dataset does. With no datasets both are simply left out.
    if let Some(first) = datasets.iter().map(|d| d.created_at).min() {
        catalog.insert("dct:issued".into(), date_time(first));
    }
    if let Some(last) = datasets
        .iter()
        .map(|d| d.updated_at.max(d.created_at))
        .max()
    {
        catalog.insert("dct:modified".into(), date_time(last));
    }

    let mut dataset_refs = Vec::with_capacity(datasets.len());
    let mut uses_local_themes = false;
    let mut rest = Vec::new();
    for d in datasets {
        let inst = encode_segment(&d.institution_slug);
        let ds = encode_segment(&d.dataset_slug);
        let dataset_iri = format!("{base}/v1/datasets/{inst}/{ds}");
        let institution_iri = format!("{base}/v1/institutions/{inst}");
        dataset_refs.push(id(&dataset_iri));

        // The landing page is the dataset's own metadata URL (there is no separate HTML page),
        // so that IRI is both the dcat:Dataset and, as range.ttl requires, a foaf:Document.
        let mut n = node(&dataset_iri, &["dcat:Dataset", "foaf:Document"]);
        n.insert("dct:title".into(), json!(d.title));
        n.insert("dct:description".into(), json!(d.description));
        n.insert("dct:identifier".into(), json!(d.origin));
        n.insert("dct:issued".into(), date_time(d.created_at));
        n.insert("dct:modified".into(), date_time(d.updated_at));

        b.agent(
            &institution_iri,
            &d.institution_name,
            d.institution_homepage
                .as_deref()
                .and_then(absolute_url)
                .as_deref(),
        );
        n.insert("dct:publisher".into(), id(&institution_iri));

        if let Some(contact) = d.institution_contact.as_deref().and_then(Contact::parse) {
            let contact_iri = format!("{institution_iri}#contact");
            b.contact(&contact_iri, &d.institution_name, &contact);
            n.insert("dcat:contactPoint".into(), id(&contact_iri));
        }

        n.insert("dcat:landingPage".into(), id(&dataset_iri));

        let mut themes = Vec::new();
        for t in d.themes.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            let iri = match eu_theme(t) {
                Some((code, label)) => {
                    let iri = format!("{DATA_THEME_SCHEME}/{code}");
                    b.concept(&iri, label, Some("en"), Some(DATA_THEME_SCHEME));
                    iri
                }
                None => {
                    let iri = format!("{local_scheme_iri}/{}", encode_segment(t));
                    b.concept(&iri, t, None, Some(&local_scheme_iri));
                    uses_local_themes = true;
                    iri
                }
            };
            if !themes.contains(&iri) {
                themes.push(iri);
            }
        }
        if !themes.is_empty() {
            n.insert(
                "dcat:theme".into(),
                Value::Array(themes.iter().map(|t| id(t)).collect()),
            );
        }

        let mut keywords: Vec<&str> = Vec::new();
        for k in d
            .keywords
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
        {
            if !keywords.contains(&k) {
                keywords.push(k);
            }
        }
        if !keywords.is_empty() {
            n.insert("dcat:keyword".into(), json!(keywords));
        }

        let licence = b.licence(&d.license);
        let records = format!("{dataset_iri}/records");
        let mut dist_refs = Vec::with_capacity(FeedFormat::ALL.len());
        let mut dists = Vec::with_capacity(FeedFormat::ALL.len());
        for format in FeedFormat::ALL {
            let f = distribution(format);
            let dist_iri = format!("{dataset_iri}#distribution-{}", format.key());
            dist_refs.push(id(&dist_iri));
            // JSON is the feed's default; the streamed formats are asked for with `format=`.
            let url = match format.streams() {
                false => records.clone(),
                true => format!("{records}?format={}", format.key()),
            };
            let media_type = format!("{IANA_MEDIA_TYPES}{}", format.media_type());
            let file_type = format!("{EU_FILE_TYPE}{}", f.file_type);

            let mut dist = node(&dist_iri, &["dcat:Distribution"]);
            dist.insert(
                "dct:title".into(),
                json!(format!("{} ({})", d.title, f.label)),
            );
            dist.insert("dct:description".into(), json!(f.what));
            dist.insert("dcat:accessURL".into(), id(&url));
            // A streamed format yields the records as a file, which is what
            // `dcat:downloadURL` promises; the JSON pages only get `dcat:accessURL`.
            if format.streams() {
                dist.insert("dcat:downloadURL".into(), id(&url));
            }
            dist.insert("dcat:mediaType".into(), id(&media_type));
            b.typed(&media_type, "dct:MediaType");
            dist.insert("dct:format".into(), id(&file_type));
            b.typed(&file_type, "dct:MediaTypeOrExtent");
            if let Some(l) = &licence {
                dist.insert("dct:license".into(), id(l));
            }
            // Logs are append-only and the feed URLs are part of the stable v1 API.
            let stable = format!("{PLANNED_AVAILABILITY}/STABLE");
            b.concept(&stable, "stable", Some("en"), None);
            dist.insert("dcatap:availability".into(), id(&stable));
            dists.push(Value::Object(dist));
        }
        n.insert("dcat:distribution".into(), Value::Array(dist_refs));
        rest.push(Value::Object(n));
        rest.extend(dists);
    }
    catalog.insert("dcat:dataset".into(), Value::Array(dataset_refs));

    // The taxonomies the themes come from (recommended); range.ttl wants skos:ConceptScheme and
    // shapes.ttl a dct:title on each.
    let mut taxonomies = vec![id(DATA_THEME_SCHEME)];
    b.scheme(DATA_THEME_SCHEME, "Data theme (EU Vocabularies)");
    if uses_local_themes {
        taxonomies.push(id(&local_scheme_iri));
        b.scheme(&local_scheme_iri, &format!("{} themes", info.title));
    }
    catalog.insert("dcat:themeTaxonomy".into(), Value::Array(taxonomies));

    let mut graph = vec![Value::Object(catalog)];
    graph.extend(rest);
    graph.extend(b.shared.into_values().map(Value::Object));
    let mut blank: Vec<_> = b.blank_licences.into_iter().collect();
    blank.sort_by(|a, b| a.1.cmp(&b.1));
    graph.extend(blank.into_iter().map(
        |(text, label)| json!({"@id": label, "@type": "dct:LicenseDocument", "rdfs:label": text}),
    ));

    json!({ "@context": context(), "@graph": graph })
}

/// Prefix-only context: terms are used as compact IRIs, so no term definitions are needed and
/// nothing is ever fetched.
fn context() -> Value {
    json!({
        "dcat": NS_DCAT,
        "dct": NS_DCT,
        "dcatap": NS_DCATAP,
        "foaf": NS_FOAF,
        "rdfs": NS_RDFS,
        "skos": NS_SKOS,
        "vcard": NS_VCARD,
        "xsd": NS_XSD,
    })
}

/// Nodes referenced from many places (agents, concepts, licences, media types…), deduplicated
/// by IRI: the first description of a node wins.
#[derive(Default)]
struct Builder {
    shared: BTreeMap<String, Map<String, Value>>,
    /// Free-text licences (neither a URL nor an SPDX-like id), as blank nodes: text → label.
    blank_licences: BTreeMap<String, String>,
}

impl Builder {
    /// Adds a node; if the IRI is already described (say a licence URL that is also the
    /// homepage), the types are merged and other properties keep their first value.
    fn put(&mut self, iri: &str, n: Map<String, Value>) {
        let Some(old) = self.shared.get_mut(iri) else {
            self.shared.insert(iri.to_owned(), n);
            return;
        };
        for (k, v) in n {
            if k == "@type" {
                let mut all = as_types(old.get("@type"));
                for t in as_types(Some(&v)) {
                    if !all.contains(&t) {
                        all.push(t);
                    }
                }
                old.insert(
                    k,
                    if all.len() == 1 {
                        json!(all[0])
                    } else {
                        json!(all)
                    },
                );
            } else {
                old.entry(k).or_insert(v);
            }
        }
    }

    fn typed(&mut self, iri: &str, class: &str) {
        self.put(iri, node(iri, &[class]));
    }

    fn document(&mut self, iri: &str) {
        self.typed(iri, "foaf:Document");
    }

    fn agent(&mut self, iri: &str, name: &str, homepage: Option<&str>) {
        let mut n = node(iri, &["foaf:Agent", "foaf:Organization"]);
        n.insert("foaf:name".into(), json!(name));
        n.insert("dct:type".into(), id(PUBLISHER_TYPE.0));
        if let Some(h) = homepage {
            n.insert("foaf:homepage".into(), id(h));
        }
        self.put(iri, n);
        self.concept(
            PUBLISHER_TYPE.0,
            PUBLISHER_TYPE.1,
            Some("en"),
            Some(PUBLISHER_TYPE_SCHEME),
        );
    }

    fn contact(&mut self, iri: &str, name: &str, contact: &Contact) {
        let mut n = node(iri, &["vcard:Kind", "vcard:Organization"]);
        n.insert("vcard:fn".into(), json!(name));
        match contact {
            Contact::Email(mailto) => n.insert("vcard:hasEmail".into(), id(mailto)),
            Contact::Url(u) => n.insert("vcard:hasURL".into(), id(u)),
        };
        self.put(iri, n);
    }

    fn concept(&mut self, iri: &str, label: &str, lang: Option<&str>, scheme: Option<&str>) {
        let mut n = node(iri, &["skos:Concept"]);
        let label = match lang {
            Some(l) => json!({"@value": label, "@language": l}),
            None => json!(label),
        };
        n.insert("skos:prefLabel".into(), label);
        if let Some(s) = scheme {
            n.insert("skos:inScheme".into(), id(s));
        }
        self.put(iri, n);
    }

    fn scheme(&mut self, iri: &str, title: &str) {
        let mut n = node(iri, &["skos:ConceptScheme"]);
        n.insert("dct:title".into(), json!(title));
        self.put(iri, n);
    }

    /// Resolves a dataset licence to the IRI of a `dct:LicenseDocument` and describes it:
    /// known SPDX ids → EU licence authority (with ADMS licence types); other SPDX-like ids →
    /// `https://spdx.org/licenses/<id>`; absolute URLs → as given; other text → a blank node
    /// labelled with the text; empty → no licence.
    fn licence(&mut self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if let Some((_, code, types)) = KNOWN_LICENCES
            .iter()
            .find(|(spdx, _, _)| spdx.eq_ignore_ascii_case(raw))
        {
            let iri = format!("{EU_LICENCE}{code}");
            let mut n = node(&iri, &["dct:LicenseDocument"]);
            let mut type_refs = Vec::new();
            for (code, label) in *types {
                let t = format!("{ADMS_LICENCE_TYPE}{code}");
                self.concept(
                    &t,
                    label,
                    Some("en"),
                    Some("http://purl.org/adms/licencetype/1.1"),
                );
                type_refs.push(id(&t));
            }
            n.insert("dct:type".into(), Value::Array(type_refs));
            self.put(&iri, n);
            return Some(iri);
        }
        let iri = if raw.contains(':') {
            absolute_url(raw)
        } else if is_spdx_like(raw) {
            Some(format!("{SPDX_LICENSES}{raw}"))
        } else {
            None
        };
        match iri {
            Some(iri) => {
                self.typed(&iri, "dct:LicenseDocument");
                Some(iri)
            }
            None => {
                let next = format!("_:licence{}", self.blank_licences.len());
                Some(
                    self.blank_licences
                        .entry(raw.to_owned())
                        .or_insert(next)
                        .clone(),
                )
            }
        }
    }
}

/// A contact for `dcat:contactPoint`: DCAT-AP's vCard wants the email as a `mailto:` IRI.
enum Contact {
    Email(String),
    Url(String),
}

impl Contact {
    /// Anything that is neither an email address nor an absolute URL is not usable as a vCard
    /// value, so it yields no contact point rather than a broken one.
    fn parse(raw: &str) -> Option<Contact> {
        let raw = raw.trim();
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return absolute_url(raw).map(Contact::Url);
        }
        let addr = if lower.starts_with("mailto:") {
            raw.get(7..)?
        } else {
            raw
        };
        let (local, domain) = addr.split_once('@')?;
        if local.is_empty()
            || domain.is_empty()
            || addr.chars().any(|c| c.is_whitespace() || c == '?')
        {
            return None;
        }
        let url = url::Url::parse(&format!("mailto:{addr}")).ok()?;
        Some(Contact::Email(url.as_str().to_owned()))
    }
}

fn eu_theme(s: &str) -> Option<(&'static str, &'static str)> {
    EU_THEMES
        .iter()
        .copied()
        .find(|(code, _)| code.eq_ignore_ascii_case(s))
}

/// SPDX license ids are made of letters, digits, `.`, `-` and `+`. `LicenseRef-…` ids are
/// local to a document and have no page on spdx.org, so they are treated as free text.
fn is_spdx_like(s: &str) -> bool {
    !s.to_ascii_lowercase().starts_with("licenseref-")
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

/// A user-supplied URL, normalised (`url` percent-encodes what an IRI may not contain), or
/// `None` if it is not absolute: a relative reference would be resolved against wherever the
/// document happens to be loaded from.
fn absolute_url(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    // `javascript:`, `data:`… are not web resources; accept hierarchical URLs and a few others.
    let ok = !u.cannot_be_a_base() || matches!(u.scheme(), "mailto" | "urn" | "tel");
    ok.then(|| u.as_str().to_owned())
}

/// Percent-encodes one path segment: everything except RFC 3986 unreserved characters, so slugs
/// and free-text theme names can never add segments, queries or fragments to an IRI.
fn encode_segment(s: &str) -> String {
    let dots_only = !s.is_empty() && s.chars().all(|c| c == '.');
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') || (b == b'.' && !dots_only)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `xsd:dateTime` in UTC; sub-second precision only when present, and at most microseconds,
/// which every XML Schema implementation reads.
fn date_time(t: DateTime<Utc>) -> Value {
    let format = if t.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    json!({"@value": t.to_rfc3339_opts(format, true), "@type": "xsd:dateTime"})
}

fn as_types(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn id(iri: &str) -> Value {
    json!({ "@id": iri })
}

fn node(iri: &str, types: &[&str]) -> Map<String, Value> {
    let mut n = Map::new();
    n.insert("@id".into(), json!(iri));
    let t = match types {
        [one] => json!(one),
        many => json!(many),
    };
    n.insert("@type".into(), t);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BASE: &str = "http://127.0.0.1:8080";

    fn info() -> CatalogInfo {
        CatalogInfo {
            base_url: format!("{BASE}/"),
            title: "City data".into(),
            description: "Verifiable open data of the city".into(),
            publisher_name: "City of Example".into(),
            homepage: Some("https://data.example.org".into()),
        }
    }

    fn ds(
        inst: &str,
        slug: &str,
        license: &str,
        themes: &[&str],
        contact: Option<&str>,
    ) -> DcatDataset {
        DcatDataset {
            institution_slug: inst.into(),
            institution_name: format!("Institution {inst}"),
            institution_homepage: Some(format!("https://{inst}.example.org")),
            institution_contact: contact.map(Into::into),
            dataset_slug: slug.into(),
            origin: format!("civicproof.example/{inst}/{slug}"),
            title: format!("Dataset {slug}"),
            description: "Some records".into(),
            license: license.into(),
            themes: themes.iter().map(|s| (*s).to_owned()).collect(),
            keywords: vec!["a".into(), "b".into(), "a".into(), " ".into()],
            created_at: Utc
                .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
                .single()
                .expect("valid date"),
            updated_at: Utc
                .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
                .single()
                .expect("valid date"),
        }
    }

    fn graph(v: &Value) -> BTreeMap<String, Value> {
        v["@graph"]
            .as_array()
            .expect("graph")
            .iter()
            .map(|n| (n["@id"].as_str().expect("@id").to_owned(), n.clone()))
            .collect()
    }

    fn types(n: &Value) -> Vec<String> {
        match &n["@type"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        }
    }

    fn refs(n: &Value, prop: &str) -> Vec<String> {
        match &n[prop] {
            Value::Array(a) => a
                .iter()
                .filter_map(|r| r["@id"].as_str().map(str::to_owned))
                .collect(),
            Value::Object(o) => o
                .get("@id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .into_iter()
                .collect(),
            _ => vec![],
        }
    }

    fn sample() -> Value {
        catalog_jsonld(
            &info(),
            &[
                ds(
                    "transport",
                    "bus-stops",
                    "CC-BY-4.0",
                    &["tran", "TRAN", "air quality"],
                    Some("data@transport.example.org"),
                ),
                ds(
                    "transport",
                    "counts",
                    "cc0-1.0",
                    &[],
                    Some("https://transport.example.org/contact"),
                ),
                ds(
                    "env",
                    "air",
                    "https://example.org/licence",
                    &["air-quality"],
                    None,
                ),
            ],
        )
    }

    #[test]
    fn context_is_inline_and_prefix_only() {
        let v = sample();
        let ctx = v["@context"].as_object().expect("inline @context object");
        assert!(!ctx.contains_key("@import"));
        for (k, val) in ctx {
            assert!(!k.starts_with('@'), "{k}");
            assert!(val.is_string(), "{k} is a plain prefix");
        }
        assert_eq!(ctx["dcat"], NS_DCAT);
    }

    #[test]
    fn catalog_structure() {
        let v = sample();
        let g = graph(&v);
        let cat = &g[&format!("{BASE}/v1/catalog.jsonld#catalog")];
        assert_eq!(types(cat), ["dcat:Catalog"]);
        assert_eq!(cat["dct:title"], "City data");
        assert_eq!(refs(cat, "dcat:dataset").len(), 3);
        assert_eq!(refs(cat, "foaf:homepage"), ["https://data.example.org/"]);
        assert_eq!(cat["dct:modified"]["@value"], "2024-06-01T00:00:00Z");
        assert_eq!(cat["dct:issued"]["@value"], "2024-01-02T03:04:05Z");
        let publisher = &g[&refs(cat, "dct:publisher")[0]];
        assert_eq!(publisher["foaf:name"], "City of Example");
        assert!(types(publisher).contains(&"foaf:Agent".to_owned()));
        assert_eq!(
            refs(cat, "dcat:themeTaxonomy"),
            [DATA_THEME_SCHEME.to_owned(), format!("{BASE}/v1/themes")]
        );
    }

    #[test]
    fn three_distributions_per_dataset() {
        let v = sample();
        let g = graph(&v);
        let d = &g[&format!("{BASE}/v1/datasets/transport/bus-stops")];
        assert!(types(d).contains(&"dcat:Dataset".to_owned()));
        assert_eq!(
            d["dct:identifier"],
            "civicproof.example/transport/bus-stops"
        );
        assert_eq!(d["dct:issued"]["@type"], "xsd:dateTime");
        assert_eq!(d["dcat:keyword"], json!(["a", "b"]));
        assert_eq!(
            refs(d, "dct:publisher"),
            [format!("{BASE}/v1/institutions/transport")]
        );
        let dists = refs(d, "dcat:distribution");
        assert_eq!(dists.len(), 3);
        let records = format!("{BASE}/v1/datasets/transport/bus-stops/records");
        let expect = [
            (records.clone(), None, "application/json", "JSON"),
            (
                format!("{records}?format=ndjson"),
                Some(()),
                "application/x-ndjson",
                "JSON",
            ),
            (format!("{records}?format=csv"), Some(()), "text/csv", "CSV"),
        ];
        for (dist, (url, download, mt, ft)) in dists.iter().zip(expect) {
            let n = &g[dist];
            assert_eq!(types(n), ["dcat:Distribution"]);
            assert_eq!(refs(n, "dcat:accessURL"), [url]);
            assert_eq!(refs(n, "dcat:downloadURL").first().map(|_| ()), download);
            assert_eq!(
                refs(n, "dcat:mediaType"),
                [format!("{IANA_MEDIA_TYPES}{mt}")]
            );
            assert_eq!(refs(n, "dct:format"), [format!("{EU_FILE_TYPE}{ft}")]);
            assert_eq!(refs(n, "dct:license"), [format!("{EU_LICENCE}CC_BY_4_0")]);
            assert!(n["dct:title"].is_string());
        }
    }

    #[test]
    fn theme_mapping() {
        let v = sample();
        let g = graph(&v);
        let d = &g[&format!("{BASE}/v1/datasets/transport/bus-stops")];
        let tran = format!("{DATA_THEME_SCHEME}/TRAN");
        let local = format!("{BASE}/v1/themes/air%20quality");
        assert_eq!(refs(d, "dcat:theme"), [tran.clone(), local.clone()]);
        assert_eq!(g[&tran]["skos:prefLabel"]["@value"], "Transport");
        assert_eq!(g[&local]["skos:prefLabel"], "air quality");
        let air = &g[&format!("{BASE}/v1/datasets/env/air")];
        assert_eq!(
            refs(air, "dcat:theme"),
            [format!("{BASE}/v1/themes/air-quality")]
        );
        assert!(
            g[&format!("{BASE}/v1/datasets/transport/counts")]
                .get("dcat:theme")
                .is_none()
        );
        assert_eq!(
            eu_theme("op_datpro"),
            Some(("OP_DATPRO", "Provisional data"))
        );
    }

    fn licence_of(license: &str) -> (Option<String>, Value) {
        let v = catalog_jsonld(&info(), &[ds("i", "d", license, &[], None)]);
        let g = graph(&v);
        let dist = &g[&format!("{BASE}/v1/datasets/i/d#distribution-csv")];
        let l = refs(dist, "dct:license").into_iter().next();
        let n = l
            .as_ref()
            .and_then(|l| g.get(l).cloned())
            .unwrap_or(Value::Null);
        (l, n)
    }

    #[test]
    fn licence_mapping() {
        let (l, n) = licence_of("CC-BY-4.0");
        assert_eq!(
            l.as_deref(),
            Some("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")
        );
        assert_eq!(types(&n), ["dct:LicenseDocument"]);
        assert_eq!(
            refs(&n, "dct:type"),
            ["http://purl.org/adms/licencetype/Attribution"]
        );
        assert_eq!(
            licence_of("cc0-1.0").0.as_deref(),
            Some("http://publications.europa.eu/resource/authority/licence/CC0")
        );
        assert_eq!(
            licence_of("ODbL-1.0").0.as_deref(),
            Some("http://publications.europa.eu/resource/authority/licence/ODC_BL")
        );
        let (l, n) = licence_of("MIT");
        assert_eq!(l.as_deref(), Some("https://spdx.org/licenses/MIT"));
        assert_eq!(types(&n), ["dct:LicenseDocument"]);
        let (l, n) = licence_of("https://example.org/licence");
        assert_eq!(l.as_deref(), Some("https://example.org/licence"));
        assert_eq!(types(&n), ["dct:LicenseDocument"]);
        let (l, n) = licence_of("All rights reserved, ask first");
        assert!(l.as_deref().is_some_and(|l| l.starts_with("_:")));
        assert_eq!(n["rdfs:label"], "All rights reserved, ask first");
        assert_eq!(licence_of("  ").0, None);
    }

    #[test]
    fn contact_points() {
        let v = sample();
        let g = graph(&v);
        let c = &g[&format!("{BASE}/v1/institutions/transport#contact")];
        assert!(types(c).contains(&"vcard:Kind".to_owned()));
        assert_eq!(
            refs(c, "vcard:hasEmail"),
            ["mailto:data@transport.example.org"]
        );
        assert!(
            g[&format!("{BASE}/v1/datasets/env/air")]
                .get("dcat:contactPoint")
                .is_none()
        );
        assert!(matches!(
            Contact::parse("https://x.example/c"),
            Some(Contact::Url(_))
        ));
        assert!(
            matches!(Contact::parse("mailto:a@b.example"), Some(Contact::Email(m)) if m == "mailto:a@b.example")
        );
        assert!(Contact::parse("call us").is_none());
        assert!(Contact::parse("@nobody").is_none());
    }

    /// Every object of a property that range.ttl constrains with sh:class has that type, and
    /// every skos:Concept / ConceptScheme has the label shapes.ttl requires.
    #[test]
    fn range_classes_are_asserted() {
        let v = sample();
        let g = graph(&v);
        let ranges = [
            ("dcat:dataset", "dcat:Dataset"),
            ("dct:publisher", "foaf:Agent"),
            ("foaf:homepage", "foaf:Document"),
            ("dcat:themeTaxonomy", "skos:ConceptScheme"),
            ("dcat:theme", "skos:Concept"),
            ("dcat:contactPoint", "vcard:Kind"),
            ("dcat:distribution", "dcat:Distribution"),
            ("dcat:landingPage", "foaf:Document"),
            ("dct:type", "skos:Concept"),
            ("dcat:mediaType", "dct:MediaType"),
            ("dct:format", "dct:MediaTypeOrExtent"),
            ("dct:license", "dct:LicenseDocument"),
            ("dcatap:availability", "skos:Concept"),
        ];
        for n in g.values() {
            for (prop, class) in ranges {
                // foaf:homepage of an institution is not range-constrained (only the catalog's).
                if prop == "foaf:homepage" && !types(n).contains(&"dcat:Catalog".to_owned()) {
                    continue;
                }
                for r in refs(n, prop) {
                    let target = g
                        .get(&r)
                        .unwrap_or_else(|| panic!("{r} ({prop}) has no node"));
                    assert!(
                        types(target).contains(&class.to_owned()),
                        "{r} via {prop} lacks {class}"
                    );
                }
            }
            let t = types(n);
            if t.contains(&"skos:Concept".to_owned()) {
                assert!(
                    !n["skos:prefLabel"].is_null(),
                    "{} has no prefLabel",
                    n["@id"]
                );
            }
            if t.contains(&"skos:ConceptScheme".to_owned()) {
                assert!(n["dct:title"].is_string());
            }
            if t.contains(&"foaf:Agent".to_owned()) {
                assert!(n["foaf:name"].is_string());
            }
        }
    }

    #[test]
    fn slugs_are_encoded_and_empty_catalog_works() {
        let v = catalog_jsonld(&info(), &[ds("a b", "c/d", "CC-BY-4.0", &["x?y#z"], None)]);
        let g = graph(&v);
        assert!(g.contains_key(&format!("{BASE}/v1/datasets/a%20b/c%2Fd")));
        assert!(g.contains_key(&format!("{BASE}/v1/themes/x%3Fy%23z")));
        assert_eq!(encode_segment(".."), "%2E%2E");

        let empty = catalog_jsonld(&info(), &[]);
        let g = graph(&empty);
        let cat = &g[&format!("{BASE}/v1/catalog.jsonld#catalog")];
        assert!(cat.get("dct:modified").is_none());
        assert_eq!(cat["dcat:dataset"], json!([]));
    }

    #[test]
    fn deterministic_and_precise_dates() {
        assert_eq!(sample(), sample());
        let t = Utc
            .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
            .single()
            .expect("date")
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(date_time(t)["@value"], "2024-01-02T03:04:05.123456Z");
    }
}
