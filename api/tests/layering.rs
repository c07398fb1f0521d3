//! The layering of `api/src`, checked by a machine (docs/ARCHITECTURE.md, "Layers"):
//!
//! - **engines** (`log`, `anchor`, `cluster`, `fanout`) do the work of the verifiable logs,
//!   anchoring and the shared caches; they take narrow handles (a pool, a node cache, the
//!   cluster, the anchoring settings) and never import the request layer or the
//!   application state;
//! - **the request layer** (`services`, with `auth` and `views`) holds every rule of the API
//!   once; it never imports a surface;
//! - **surfaces** (`routes` for REST, `graphql`) parse, call one service and shape the answer;
//!   neither imports the other;
//! - **composition** (`server`, `state`, `lib`) wires everything.
//!
//! Edges are the `crate::<module>` paths in non-test code. The module graph has no cycle but
//! the one utoipa requires (`openapi` lists the routes, a route serves the document).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ENGINES: &[&str] = &["log", "anchor", "cluster", "fanout"];
/// What engines may not import.
const ABOVE_ENGINES: &[&str] = &[
    "services",
    "routes",
    "graphql",
    "edge",
    "auth",
    "views",
    "state",
    "server",
    "client",
    "maintenance",
    "dcat",
    "openapi",
];
const SURFACES: &[&str] = &["routes", "graphql"];
/// Cycles that a framework requires, as (a, b) with a < b.
const ALLOWED_CYCLES: &[(&str, &str)] = &[("openapi", "routes")];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level module edges of the sources under `src` (file path relative to `src` ->
/// its text).
fn graph(files: &BTreeMap<String, String>) -> Graph {
    let mut g = Graph::new();
    for (path, text) in files {
        let from = path
            .trim_end_matches(".rs")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `crate::Config` is the re-export of `config::Config`.
                let to = if name == "Config" {
                    "config".into()
                } else {
                    name
                };
                if !to.is_empty() && to != from && to.chars().all(|c| !c.is_ascii_uppercase()) {
                    g.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    g
}

/// Every way the graph breaks the rules above.
fn violations(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (from, tos) in g {
        for to in tos {
            let from_engine = ENGINES.contains(&from.as_str());
            if from_engine && ABOVE_ENGINES.contains(&to.as_str()) {
                out.push(format!("engine `{from}` imports `{to}`"));
            }
            if from == "services" && SURFACES.contains(&to.as_str()) {
                out.push(format!("`services` imports the surface `{to}`"));
            }
            if SURFACES.contains(&from.as_str()) && SURFACES.contains(&to.as_str()) {
                out.push(format!("surface `{from}` imports surface `{to}`"));
            }
        }
    }
    let reaches = |a: &str, b: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![a.to_owned()];
        while let Some(x) = stack.pop() {
            for y in g.get(&x).into_iter().flatten() {
                if y == b {
                    return true;
                }
                if seen.insert(y.clone()) {
                    stack.push(y.clone());
                }
            }
        }
        false
    };
    for (from, tos) in g {
        for to in tos {
            let pair = if from < to {
                (from.as_str(), to.as_str())
            } else {
                (to.as_str(), from.as_str())
            };
            if from < to && reaches(to, from) && !ALLOWED_CYCLES.contains(&pair) {
                out.push(format!("cycle through `{from}` and `{to}`"));
            }
        }
    }
    out
}

fn sources(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sources(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            out.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn the_layers_hold_and_the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &src, &mut files);
    let g = graph(&files);
    assert!(g.contains_key("services") && g.contains_key("log"), "{g:?}");
    assert_eq!(violations(&g), Vec::<String>::new());
}

/// The check is live: a deliberately wrong import, in otherwise real sources, fails it.
#[test]
fn a_wrong_import_fails_the_check() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&src, &src, &mut files);
    let tree = files.get_mut("log/tree.rs").unwrap();
    tree.insert_str(0, "use crate::services::records::parse_seq;\n");
    let graphql = files.get_mut("graphql/http.rs").unwrap();
    graphql.insert_str(0, "use crate::routes::records;\n");
    let found = violations(&graph(&files));
    assert!(
        found.contains(&"engine `log` imports `services`".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"surface `graphql` imports surface `routes`".to_owned()),
        "{found:?}"
    );
    assert!(found.iter().any(|v| v.starts_with("cycle")), "{found:?}");
}
