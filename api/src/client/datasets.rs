//! `civicproof datasets`: the catalog of datasets the caller can see, every page.

use super::Failure;
use super::http::{Api, ServerArgs};
use serde_json::Value;
use std::io::Write;

#[derive(clap::Args)]
pub struct DatasetsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this institution's datasets (its slug).
    #[arg(long)]
    pub institution: Option<String>,
    #[arg(long)]
    pub theme: Option<String>,
    #[arg(long)]
    pub keyword: Option<String>,
    /// Text search in title, description and keywords.
    #[arg(long)]
    pub q: Option<String>,
    /// Print a JSON array of the datasets as the server describes them.
    #[arg(long)]
    pub json: bool,
    /// Datasets per request (every page is fetched whatever the size).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
}

pub fn run(args: &DatasetsArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let api = Api::new(&args.server)?;
    let mut filters: Vec<(&str, &str)> = [
        ("institution", &args.institution),
        ("theme", &args.theme),
        ("keyword", &args.keyword),
        ("q", &args.q),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    .collect();
    let page_size = args.page_size.to_string();
    filters.push(("limit", &page_size));
    let mut all: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = filters.clone();
        if let Some(c) = &cursor {
            query.push(("after", c));
        }
        let page = api.get_json(api.url(&["v1", "datasets"], &query), "the catalog")?;
        all.extend(page["datasets"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if Some(next) != cursor.as_deref() => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    let text = if args.json {
        format!("{}\n", Value::from(all))
    } else {
        table(&all)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::Usage(format!("cannot write the output: {e}")))
}

/// `DATASET  ACCESS  RECORDS  TITLE`, aligned.
fn table(datasets: &[Value]) -> String {
    let rows: Vec<[String; 4]> = datasets
        .iter()
        .map(|d| {
            [
                format!(
                    "{}/{}",
                    d["institution"].as_str().unwrap_or("?"),
                    d["slug"].as_str().unwrap_or("?")
                ),
                d["access"].as_str().unwrap_or("?").to_owned(),
                d["record_count"].as_u64().unwrap_or(0).to_string(),
                d["title"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    let header = [
        "DATASET".to_owned(),
        "ACCESS".to_owned(),
        "RECORDS".to_owned(),
        "TITLE".to_owned(),
    ];
    let mut widths = [0usize; 3];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        text.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    if rows.is_empty() {
        text.push_str("(no datasets visible)\n");
    }
    text
}
