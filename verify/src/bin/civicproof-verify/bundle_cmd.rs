//! `civicproof-verify bundle`: verify one bundle, then the stateful check against the trust file.

use std::process::ExitCode;

use civicproof_verify::bundle::{Expect, VerifyOptions, verify_bundle_with};
use civicproof_verify::chain::{ChainRpc, Finality, HttpRpc};
use url::Url;

use crate::args::BundleArgs;
use crate::consistency::Signed;
use crate::error::{CliError, usage};
use crate::fetch::{BUNDLE_MEDIA_TYPE, Http};
use crate::output::{AnchorSetup, BundleOutcome};
use crate::source::{self, ProofUrl, Source};
use crate::state::{self, StateOutcome, Status};
use crate::trust::{self, Resolved};
use crate::trust_store::TrustStore;

pub fn run(args: &BundleArgs) -> Result<ExitCode, CliError> {
    let source = Source::classify(args.source.as_deref())?;
    let proof_url = match &source {
        Source::Url(url) => source::parse_proof_url(url),
        _ => None,
    };
    // The server asked for consistency proofs; `--tofu` may also ask any bundle URL's host.
    let server = match (&args.server, &proof_url) {
        (Some(s), _) => Some(source::parse_base(s)?),
        (None, Some(p)) => Some(p.base.clone()),
        (None, None) => None,
    };
    let identity_from = match (&server, &source) {
        (Some(s), _) => Some(s),
        (None, Source::Url(url)) => Some(url),
        _ => None,
    };
    let mut store = open_store(args.common.trust_file.as_deref())?;
    let http = Http::new(token(&args.common));
    let resolved = trust::resolve(
        &args.common,
        Some(&args.anchor),
        &mut store,
        identity_from,
        &http,
    )?;
    let expect = expectation(args, proof_url.as_ref(), &resolved.trust.prefix)?;
    let bytes = match &source {
        Source::Stdin => source::read_stdin()?,
        Source::File(path) => source::read_path(path)?,
        Source::Url(url) => http.get(url.as_str(), BUNDLE_MEDIA_TYPE)?,
    };
    let rpc_url = args.anchor.rpc.clone().filter(|u| !u.is_empty());
    if let Some(url) = &rpc_url {
        let ok = Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(usage(format!("--rpc {url:?} is not an http(s) URL")));
        }
    }
    let rpc = rpc_url.as_deref().map(HttpRpc::new);
    let anchor_trust = resolved.anchor.as_ref().map(|a| &a.trust);
    let options = VerifyOptions {
        cache: None,
        anchor_trust,
        rpc: rpc.as_ref().map(|r| r as &dyn ChainRpc),
        finality: finality(args, &resolved),
        require_anchor: args.anchor.require(),
        code_hashes: None,
        witnesses: resolved.witnesses.as_ref(),
    };
    let report = verify_bundle_with(&bytes, &resolved.trust, &expect, &options);
    let state = stateful(
        &report,
        &bytes,
        &resolved,
        &mut store,
        server.as_ref(),
        &http,
    );
    let outcome = BundleOutcome {
        source: source.describe(),
        expect: &expect,
        trust: &resolved,
        report: &report,
        state: &state,
        online: AnchorSetup {
            rpc: rpc_url,
            finality: options.finality,
            required: options.anchor_required(),
        },
    };
    if args.common.json {
        println!("{:#}", outcome.json());
    } else {
        println!("{}", outcome.text());
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// `--finality`, else the policy pinned with the anchor trust, else `finalized`.
fn finality(args: &BundleArgs, resolved: &Resolved) -> Finality {
    args.anchor
        .finality
        .or_else(|| resolved.anchor.as_ref().and_then(|a| a.finality))
        .unwrap_or_default()
}

/// Loads `--trust-file` or the default trust file.
pub fn open_store(path: Option<&std::path::Path>) -> Result<TrustStore, CliError> {
    let path = match path {
        Some(p) => p.to_owned(),
        None => TrustStore::default_path(|name| std::env::var_os(name)).ok_or_else(|| {
            usage("no trust file location: set HOME or CIVICPROOF_TRUST_FILE, or pass --trust-file")
        })?,
    };
    TrustStore::load(&path)
}

/// `--token`, else `$CIVICPROOF_TOKEN`.
pub fn token(common: &crate::args::CommonArgs) -> Option<String> {
    common
        .token
        .clone()
        .or_else(|| std::env::var("CIVICPROOF_TOKEN").ok())
        .filter(|t| !t.is_empty())
}

/// The expected origin and seq: from a proof URL, else from `--origin` and `--seq`/`--any-seq`.
fn expectation(
    args: &BundleArgs,
    url: Option<&ProofUrl>,
    prefix: &str,
) -> Result<Expect, CliError> {
    let Some(url) = url else {
        let origin = args.origin.clone().ok_or_else(|| {
            usage("--origin is required unless the bundle comes from a …/records/{seq}/proof URL")
        })?;
        if args.seq.is_none() && !args.any_seq {
            return Err(usage(
                "--seq is required unless the bundle comes from a proof URL (or pass --any-seq)",
            ));
        }
        return Ok(Expect {
            origin,
            seq: args.seq,
        });
    };
    let origin = url.origin(prefix);
    if let Some(o) = args.origin.as_ref().filter(|o| **o != origin) {
        return Err(usage(format!(
            "--origin {o} contradicts the URL, whose origin is {origin}"
        )));
    }
    if let Some(s) = args.seq.filter(|s| *s != url.seq) {
        return Err(usage(format!(
            "--seq {s} contradicts the URL's seq {}",
            url.seq
        )));
    }
    if args.any_seq {
        return Err(usage(
            "--any-seq cannot be used with a proof URL, which names the seq",
        ));
    }
    Ok(Expect {
        origin,
        seq: Some(url.seq),
    })
}

/// Runs the stateful check after a verified bundle and stores its result.
fn stateful(
    report: &civicproof_verify::bundle::Report,
    bytes: &[u8],
    resolved: &Resolved,
    store: &mut TrustStore,
    server: Option<&Url>,
    http: &Http,
) -> StateOutcome {
    let checkpoint = match (&report.checkpoint, report.ok()) {
        (Some(c), true) => c.clone(),
        _ => return StateOutcome::new(Status::Skipped, "the bundle did not verify"),
    };
    if !resolved.stateful {
        return StateOutcome::new(
            Status::Skipped,
            format!(
                "the key for prefix {} is not pinned in the trust file, so no checkpoint is kept \
                 (add --pin to pin it)",
                resolved.trust.prefix
            ),
        );
    }
    // Step 0 passed, so the bytes are a bundle; its note is the one that verified.
    let note = civicproof_verify::bundle::Bundle::from_json_strict(bytes)
        .map(|b| b.checkpoint)
        .unwrap_or_default();
    let bundle = Signed { checkpoint, note };
    let prefix = &resolved.trust.prefix;
    let origin = bundle.checkpoint.origin.clone();
    let fetch = |m: u64, n: u64| -> Result<Vec<u8>, CliError> {
        let server = server.expect("fetch is only offered with a server");
        let (inst, ds) = source::origin_slugs(&origin).unwrap_or_default();
        let url = source::join(
            server,
            &format!("v1/datasets/{inst}/{ds}/consistency?first={m}&second={n}"),
        );
        http.get(&url, "application/json")
    };
    let fetch: Option<state::Fetch<'_>> = server.map(|_| &fetch as state::Fetch<'_>);
    let mut out = state::check(
        store.checkpoint(prefix, &origin),
        &resolved.trust.public_key,
        &bundle,
        fetch,
    );
    if let Some(note) = &out.store {
        store.set_checkpoint(prefix, &origin, note);
        if let Err(e) = store.save() {
            out.status = Status::Error;
            out.detail = format!("{}; but {e}", out.detail);
            out.store = None;
        }
    }
    out
}
