//! The authorization matrix, generated from the route table: every operation of the OpenAPI
//! document and every root field of the GraphQL schema needs a rule here (a new route or
//! field without one fails the test, and so does a rule for a route that is gone). Each rule
//! is then checked for every role against a public and a restricted dataset, over REST (SSE
//! included), GraphQL over HTTP and GraphQL over WebSocket.
//!
//! Roles: anonymous, a reader and a publisher of the datasets' institution (`city`), a
//! reader and a publisher of another institution, and the admin.

use crate::graphql::Ws;
use crate::support::{ADMIN_TOKEN, World};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Anonymous,
    Reader,
    Publisher,
    OtherReader,
    OtherPublisher,
    Admin,
}

const ROLES: [Role; 6] = [
    Role::Anonymous,
    Role::Reader,
    Role::Publisher,
    Role::OtherReader,
    Role::OtherPublisher,
    Role::Admin,
];

/// Who may do what.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone.
    Open,
    /// Reads of one dataset: a public one anyone; a restricted one its institution's tokens
    /// and the admin; to anyone else it is missing (404, GraphQL null), never forbidden.
    Read,
    /// Writes to one dataset: its institution's publishers and the admin; anonymous 401; the
    /// institution's readers 403; other institutions 403 on a public dataset, 404 on a
    /// restricted one (they cannot learn it exists).
    Write,
    /// The admin only: anonymous 401, any other token 403.
    Admin,
    /// Token management of `city`: the admin and `city`'s publishers (reader tokens).
    CityTokens,
    /// `city`'s own views (its ingest errors): every `city` token and the admin.
    CityMembers,
    /// Creating a dataset: any publisher (in its own institution) and the admin.
    CreateDataset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Unauthorized,
    Forbidden,
    Missing,
}

fn expect(rule: Rule, role: Role, restricted: bool) -> Outcome {
    use Outcome::*;
    use Role::*;
    match rule {
        Rule::Open => Allowed,
        Rule::Read => match role {
            _ if !restricted => Allowed,
            Reader | Publisher | Admin => Allowed,
            _ => Missing,
        },
        Rule::Write => match role {
            Anonymous => Unauthorized,
            Publisher | Admin => Allowed,
            Reader => Forbidden,
            OtherReader | OtherPublisher if restricted => Missing,
            OtherReader | OtherPublisher => Forbidden,
        },
        Rule::Admin => match role {
            Anonymous => Unauthorized,
            Admin => Allowed,
            _ => Forbidden,
        },
        Rule::CityTokens => match role {
            Anonymous => Unauthorized,
            Admin | Publisher => Allowed,
            _ => Forbidden,
        },
        Rule::CityMembers => match role {
            Anonymous => Unauthorized,
            Admin | Publisher | Reader => Allowed,
            _ => Forbidden,
        },
        Rule::CreateDataset => match role {
            Anonymous => Unauthorized,
            Admin | Publisher | OtherPublisher => Allowed,
            _ => Forbidden,
        },
    }
}

/// One REST operation: its rule, whether it is about one dataset (`{inst}/{ds}`), and the
/// status it answers when allowed.
struct RestRule {
    method: &'static str,
    path: &'static str,
    rule: Rule,
    allowed: u16,
}

const fn rest(method: &'static str, path: &'static str, rule: Rule, allowed: u16) -> RestRule {
    RestRule {
        method,
        path,
        rule,
        allowed,
    }
}

const REST: &[RestRule] = &[
    rest("get", "/.well-known/civicproof.json", Rule::Open, 200),
    rest("get", "/healthz", Rule::Open, 200),
    rest("get", "/readyz", Rule::Open, 200),
    rest("get", "/openapi.json", Rule::Open, 200),
    rest("get", "/metrics", Rule::Admin, 200),
    rest("get", "/v1/admin/tokens", Rule::Admin, 200),
    // An id that names no admin token: the admin gets past authorization to a 404.
    rest("delete", "/v1/admin/tokens/{id}", Rule::Admin, 404),
    rest("get", "/v1/anchors", Rule::Open, 200),
    // This instance does not anchor: no batch exists.
    rest("get", "/v1/anchors/{batch_seq}", Rule::Open, 404),
    rest("get", "/v1/catalog.jsonld", Rule::Open, 200),
    rest("get", "/v1/datasets", Rule::Open, 200),
    rest("post", "/v1/datasets", Rule::CreateDataset, 201),
    rest("get", "/v1/datasets/{inst}/{ds}", Rule::Read, 200),
    rest("get", "/v1/datasets/{inst}/{ds}/arrivals", Rule::Read, 200),
    rest("patch", "/v1/datasets/{inst}/{ds}", Rule::Write, 200),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/checkpoint",
        Rule::Read,
        200,
    ),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/checkpoints/{size}",
        Rule::Read,
        200,
    ),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/consistency",
        Rule::Read,
        200,
    ),
    rest("get", "/v1/datasets/{inst}/{ds}/events", Rule::Read, 200),
    // The level-0 partial tile of a one-entry log.
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/tile/{tile}",
        Rule::Read,
        200,
    ),
    rest("get", "/v1/datasets/{inst}/{ds}/records", Rule::Read, 200),
    rest("post", "/v1/datasets/{inst}/{ds}/records", Rule::Write, 201),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/records/{seq}",
        Rule::Read,
        200,
    ),
    rest(
        "post",
        "/v1/datasets/{inst}/{ds}/records/{seq}/erasure",
        Rule::Write,
        201,
    ),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/records/{seq}/leaf",
        Rule::Read,
        200,
    ),
    rest(
        "get",
        "/v1/datasets/{inst}/{ds}/records/{seq}/proof",
        Rule::Read,
        200,
    ),
    rest("get", "/v1/institutions", Rule::Open, 200),
    rest("post", "/v1/institutions", Rule::Admin, 201),
    rest("get", "/v1/institutions/{inst}", Rule::Open, 200),
    rest(
        "get",
        "/v1/institutions/{inst}/ingest/errors",
        Rule::CityMembers,
        200,
    ),
    // NGSI-LD: writes to `city` (the upsert names it in NGSILD-Tenant). An entity of an
    // unmapped type: 207 (the upsert) and 200 (the notification) with its error.
    rest(
        "post",
        "/ngsi-ld/v1/entityOperations/upsert",
        Rule::Write,
        207,
    ),
    rest(
        "post",
        "/v1/institutions/{inst}/ngsi-ld/notifications",
        Rule::Write,
        200,
    ),
    rest(
        "get",
        "/v1/institutions/{inst}/ngsi-ld/types",
        Rule::CityMembers,
        200,
    ),
    // A fresh type each call: 201; deleting a type that has no mapping: 404.
    rest(
        "put",
        "/v1/institutions/{inst}/ngsi-ld/types/{type}",
        Rule::Write,
        201,
    ),
    rest(
        "delete",
        "/v1/institutions/{inst}/ngsi-ld/types/{type}",
        Rule::Write,
        404,
    ),
    rest(
        "get",
        "/v1/institutions/{inst}/tokens",
        Rule::CityTokens,
        200,
    ),
    rest(
        "post",
        "/v1/institutions/{inst}/tokens",
        Rule::CityTokens,
        201,
    ),
    rest(
        "delete",
        "/v1/institutions/{inst}/tokens/{id}",
        Rule::CityTokens,
        200,
    ),
];

/// One GraphQL root field: its rule and an operation using it (`$DS` is the dataset slug,
/// `$SEQ` a seq of it, `$N` a fresh number).
struct GqlRule {
    field: &'static str,
    rule: Rule,
    operation: &'static str,
}

const GRAPHQL: &[GqlRule] = &[
    GqlRule {
        field: "Query.datasets",
        rule: Rule::Open,
        operation: "{ datasets(first: 5) { nodes { slug } } }",
    },
    GqlRule {
        field: "Query.dataset",
        rule: Rule::Read,
        operation: r#"{ dataset(institution: "city", slug: "$DS") { slug } }"#,
    },
    GqlRule {
        field: "Query.institution",
        rule: Rule::Open,
        operation: r#"{ institution(slug: "city") { slug } }"#,
    },
    GqlRule {
        field: "Query.record",
        rule: Rule::Read,
        operation: r#"{ record(institution: "city", dataset: "$DS", seq: 0) { seq } }"#,
    },
    GqlRule {
        field: "Query.anchors",
        rule: Rule::Open,
        operation: "{ anchors(first: 5) { nodes { batchSeq } } }",
    },
    GqlRule {
        field: "Mutation.createDataset",
        rule: Rule::CreateDataset,
        operation: r#"mutation { createDataset(input: {slug: "gql-$N", title: "t", description: "d", license: "CC-BY-4.0", access: PUBLIC, institution: $INST}) { slug } }"#,
    },
    GqlRule {
        field: "Mutation.updateDataset",
        rule: Rule::Write,
        operation: r#"mutation { updateDataset(institution: "city", slug: "$DS", input: {title: "t$N"}) { slug } }"#,
    },
    GqlRule {
        field: "Mutation.publishRecords",
        rule: Rule::Write,
        operation: r#"mutation { publishRecords(institution: "city", dataset: "$DS", records: [{payload: {n: $N}}]) { entries { seq } } }"#,
    },
    GqlRule {
        field: "Mutation.erasePayload",
        rule: Rule::Write,
        operation: r#"mutation { erasePayload(institution: "city", dataset: "$DS", seq: $SEQ, reason: OTHER) { seq } }"#,
    },
    GqlRule {
        field: "Mutation.issueToken",
        rule: Rule::CityTokens,
        operation: r#"mutation { issueToken(institution: "city", role: READER) { id } }"#,
    },
    GqlRule {
        field: "Subscription.recordPublished",
        rule: Rule::Read,
        operation: r#"subscription { recordPublished(institution: "city", dataset: "$DS", afterSeq: 0) { seq } }"#,
    },
];

fn token(w: &World, role: Role) -> Option<String> {
    match role {
        Role::Anonymous => None,
        Role::Reader => Some(w.reader.clone()),
        Role::Publisher => Some(w.publisher.clone()),
        Role::OtherReader => Some(w.other_reader.clone()),
        Role::OtherPublisher => Some(w.other_publisher.clone()),
        Role::Admin => Some(ADMIN_TOKEN.into()),
    }
}

/// Every operation of the OpenAPI document and every root field of the SDL has a rule, and
/// every rule names one of them.
#[test]
fn every_route_and_root_field_has_a_rule() {
    let doc: Value = serde_json::from_str(&civicproof_api::openapi::document_json()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let ruled: BTreeSet<(String, String)> = REST
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&ruled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes without an authorization rule"
    );
    assert_eq!(
        ruled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "rules for routes that do not exist"
    );
    let sdl = civicproof_api::graphql::sdl();
    let fields = root_fields(&sdl);
    let ruled: BTreeSet<String> = GRAPHQL.iter().map(|g| g.field.to_owned()).collect();
    assert_eq!(fields, ruled, "GraphQL root fields and their rules");
}

/// `Type.field` for every field of Query, Mutation and Subscription in `sdl`.
fn root_fields(sdl: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut current: Option<&str> = None;
    let mut depth = 0usize;
    let mut in_doc = false;
    for line in sdl.lines() {
        let t = line.trim();
        if t.starts_with("\"\"\"") {
            // A block description opens or closes (a one-line one does both).
            if !(t.len() > 3 && t.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc {
            continue;
        }
        if let Some(name) = ["Query", "Mutation", "Subscription"]
            .into_iter()
            .find(|n| t == format!("type {n} {{"))
        {
            current = Some(name);
            depth = 0;
            continue;
        }
        let Some(ty) = current else { continue };
        if t == "}" && depth == 0 {
            current = None;
            continue;
        }
        if depth == 0
            && let Some(name) = t.split(['(', ':']).next().filter(|n| !n.is_empty())
        {
            out.insert(format!("{ty}.{name}"));
        }
        depth += t.matches('(').count();
        depth -= t.matches(')').count().min(depth);
    }
    out
}

/// Fills a path template for `ds`, creating what the call consumes (a record to erase, a
/// token to revoke).
async fn rest_path(w: &World, template: &str, ds: &str, n: usize) -> String {
    let mut path = template.replace("{inst}", "city").replace("{ds}", ds);
    if path.contains("/erasure") {
        let r = w
            .app
            .publish_ok(
                &w.publisher,
                "city",
                ds,
                &json!([{"payload": {"victim": n}}]),
            )
            .await;
        path = path.replace("{seq}", &r[0]["seq"].to_string());
    }
    if template == "/v1/institutions/{inst}/tokens/{id}" {
        let t: Value = w
            .app
            .post_json(
                "/v1/institutions/city/tokens",
                Some(ADMIN_TOKEN),
                &json!({"role": "reader"}),
            )
            .await
            .json()
            .await
            .unwrap();
        path = path.replace("{id}", t["id"].as_str().unwrap());
    }
    path.replace("{seq}", "0")
        .replace("{type}", &format!("Type{n}"))
        .replace("{size}", "1")
        .replace("{tile}", "0/000.p/1")
        .replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{batch_seq}", "0")
        .replace("/consistency", "/consistency?first=1&second=1")
}

fn rest_body(template: &str, method: &str, role: Role, n: usize) -> Option<Value> {
    match (method, template) {
        ("post", "/v1/datasets") => Some(json!({
            "slug": format!("made-{n}"), "title": "t", "description": "d",
            "license": "CC-BY-4.0", "access": "public",
            "institution": (role == Role::Admin).then_some("city"),
        })),
        ("patch", _) => Some(json!({"title": format!("title {n}")})),
        ("post", "/v1/datasets/{inst}/{ds}/records") => Some(json!([{"payload": {"n": n}}])),
        ("post", "/v1/datasets/{inst}/{ds}/records/{seq}/erasure") => {
            Some(json!({"reason": "other"}))
        }
        ("post", "/v1/institutions") => Some(json!({"slug": format!("inst-{n}"), "name": "I"})),
        ("post", "/v1/institutions/{inst}/tokens") => Some(json!({"role": "reader"})),
        ("post", "/ngsi-ld/v1/entityOperations/upsert") => {
            Some(json!([{"id": format!("urn:x:{n}"), "type": "Unmapped"}]))
        }
        ("post", "/v1/institutions/{inst}/ngsi-ld/notifications") => Some(json!({
            "id": format!("urn:ngsi-ld:Notification:{n}"), "type": "Notification",
            "subscriptionId": "urn:ngsi-ld:Subscription:s", "notifiedAt": "2026-12-04T10:00:00Z",
            "data": [{"id": format!("urn:x:{n}"), "type": "Unmapped"}],
        })),
        ("put", "/v1/institutions/{inst}/ngsi-ld/types/{type}") => Some(json!({"dataset": "air"})),
        _ => None,
    }
}

fn status_of(outcome: Outcome, allowed: u16) -> u16 {
    match outcome {
        Outcome::Allowed => allowed,
        Outcome::Unauthorized => 401,
        Outcome::Forbidden => 403,
        Outcome::Missing => 404,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_holds_over_rest_and_sse() {
    let w = world().await;
    let mut n = 0;
    let mut wrong = Vec::new();
    for r in REST {
        let per_dataset = r.path.contains("{ds}");
        for (ds, restricted) in [("air", false), ("cards", true)] {
            if !per_dataset && restricted {
                continue;
            }
            for role in ROLES {
                n += 1;
                let path = rest_path(&w, r.path, ds, n).await;
                let method = Method::from_bytes(r.method.to_uppercase().as_bytes()).unwrap();
                let mut rb = w.app.request(method, &path, token(&w, role).as_deref());
                if let Some(body) = rest_body(r.path, r.method, role, n) {
                    rb = rb.json(&body);
                }
                if r.path.starts_with("/ngsi-ld/") {
                    rb = rb.header("NGSILD-Tenant", "city");
                }
                let resp = rb.send().await.unwrap();
                let want = status_of(expect(r.rule, role, restricted), r.allowed);
                let got = resp.status().as_u16();
                if got != want {
                    let body = if path.ends_with("/events") {
                        String::new()
                    } else {
                        resp.text().await.unwrap_or_default()
                    };
                    wrong.push(format!(
                        "{} {path} as {role:?}: {got}, not {want} {body}",
                        r.method
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// What a GraphQL answer amounts to: allowed (data, no error), missing (null data or
/// `not-found`), or the error code's outcome.
fn graphql_outcome(field: &str, payload: &Value) -> Result<Outcome, String> {
    let name = field.split('.').nth(1).unwrap();
    match payload["errors"][0]["extensions"]["code"].as_str() {
        None if payload["data"][name].is_null() => Ok(Outcome::Missing),
        None => Ok(Outcome::Allowed),
        Some("unauthorized") => Ok(Outcome::Unauthorized),
        Some("forbidden") => Ok(Outcome::Forbidden),
        Some("not-found") => Ok(Outcome::Missing),
        Some(other) => Err(format!("code {other}: {payload}")),
    }
}

fn operation(g: &GqlRule, ds: &str, role: Role, n: usize, seq: u64) -> String {
    g.operation
        .replace("$DS", ds)
        .replace("$N", &n.to_string())
        .replace("$SEQ", &seq.to_string())
        .replace(
            "$INST",
            if role == Role::Admin {
                "\"city\""
            } else {
                "null"
            },
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_holds_over_graphql_http_and_websocket() {
    let w = world().await;
    let mut sockets = Vec::new();
    for role in ROLES {
        sockets.push((role, Ws::connect(&w.app, token(&w, role).as_deref()).await));
    }
    let mut n = 1000;
    let mut wrong = Vec::new();
    for g in GRAPHQL {
        for (ds, restricted) in [("air", false), ("cards", true)] {
            for (role, ws) in sockets.iter_mut() {
                let role = *role;
                let want = expect(g.rule, role, restricted);
                let subscription = g.field.starts_with("Subscription.");
                for over_ws in [false, true] {
                    if subscription && !over_ws {
                        continue;
                    }
                    n += 1;
                    let seq = if g.field == "Mutation.erasePayload" {
                        w.app
                            .publish_ok(&w.publisher, "city", ds, &json!([{"payload": {"v": n}}]))
                            .await[0]["seq"]
                            .as_u64()
                            .unwrap()
                    } else {
                        0
                    };
                    let op = operation(g, ds, role, n, seq);
                    let payload = if over_ws {
                        let msg = ws.operation(&format!("m{n}"), &op, json!({})).await;
                        msg["payload"].clone()
                    } else {
                        w.app
                            .request(Method::POST, "/graphql", token(&w, role).as_deref())
                            .json(&json!({"query": op}))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap()
                    };
                    if subscription && want == Outcome::Allowed {
                        ws.send(json!({"id": format!("m{n}"), "type": "complete"}))
                            .await;
                    }
                    let via = if over_ws { "ws" } else { "http" };
                    match graphql_outcome(g.field, &payload) {
                        Ok(got) if got == want => {}
                        Ok(got) => wrong.push(format!(
                            "{} on {ds} as {role:?} over {via}: {got:?}, not {want:?} {payload}",
                            g.field
                        )),
                        Err(e) => wrong.push(format!("{} as {role:?} over {via}: {e}", g.field)),
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The world of the matrix, with records and a signed checkpoint in both datasets.
async fn world() -> World {
    let w = World::new().await; // one record each in air and cards
    for ds in ["air", "cards"] {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while w
            .app
            .get(
                &format!("/v1/datasets/city/{ds}/checkpoints/1"),
                Some(ADMIN_TOKEN),
            )
            .await
            .status()
            != 200
        {
            assert!(std::time::Instant::now() < until, "no checkpoint of size 1");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    w
}
