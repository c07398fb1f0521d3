//! C2SP tlog-tiles (PROTOCOL.md section 9) as an outside client reads them: `tlog_tiles` and
//! `signed_note` from crates.io (Cloudflare's azul implementations of the C2SP specs; nobody
//! here wrote them). Everything is proven with that library's code paths: the checkpoint's
//! signature, the tree rebuilt from tiles, inclusion of records and consistency between two
//! checkpoints. Our own proofs are compared with theirs, never used in their place.

use crate::graphql::wait_checkpointed;
use crate::support::*;
use serde_json::{Value, json};
use signed_note::{Note, StandardVerifier, VerifierList, new_ed25519_verifier_key};
use std::cell::RefCell;
use std::collections::HashMap;
use tlog_tiles::{
    Checkpoint, Error, Hash, HashReader, Tile, TileHashReader, TileReader, check_record,
    check_tree, prove_record, prove_tree, record_hash, stored_hash_index, tree_hash,
};

const BASE: &str = "/v1/datasets/city/air";

/// The library writes Go's sumdb paths (`tile/8/<L>/…`, `tile/8/data/…`); C2SP drops the
/// height and names entry bundles `entries`.
fn c2sp(t: &Tile) -> String {
    t.path()
        .replacen("tile/8/data/", "tile/entries/", 1)
        .replacen("tile/8/", "tile/", 1)
}

/// The library's tile source: tiles fetched over HTTP by [`fetching`], handed out as the
/// library asks for them. A tile not fetched yet is noted and the call fails; the caller
/// fetches what was noted and runs the library again.
#[derive(Default)]
struct Fetched {
    tiles: RefCell<HashMap<String, Vec<u8>>>,
    wanted: RefCell<Vec<String>>,
}

impl TileReader for Fetched {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        let have = self.tiles.borrow();
        let mut out = Vec::new();
        for t in tiles {
            match have.get(&c2sp(t)) {
                Some(bytes) => out.push(bytes.clone()),
                None => self.wanted.borrow_mut().push(c2sp(t)),
            }
        }
        if self.wanted.borrow().is_empty() {
            Ok(out)
        } else {
            Err(Error::InvalidInput("tiles not fetched yet".into()))
        }
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// Runs `op` on the library until it no longer asks for tiles it has not got.
async fn fetching<T>(app: &TestApp, tiles: &Fetched, op: impl Fn() -> Result<T, Error>) -> T {
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                let wanted = std::mem::take(&mut *tiles.wanted.borrow_mut());
                assert!(!wanted.is_empty(), "the library refused: {e:?}");
                for path in wanted {
                    let bytes = get_tile(app, &path, None).await;
                    tiles.tiles.borrow_mut().insert(path, bytes);
                }
            }
        }
    }
}

/// GET `<BASE>/<path>`: 200 with the caching a tile of that kind must carry.
async fn get_tile(app: &TestApp, path: &str, token: Option<&str>) -> Vec<u8> {
    let r = app.get(&format!("{BASE}/{path}"), token).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    if path.contains(".p/") {
        assert_eq!(cc, "public, max-age=5", "{path}");
    } else {
        assert_eq!(cc, "public, max-age=31536000, immutable", "{path}");
    }
    r.bytes().await.unwrap().to_vec()
}

/// The checkpoint at `<BASE>/checkpoint`, verified with the instance's log key.
async fn checkpoint(app: &TestApp) -> Checkpoint {
    let trust = pinned_trust(app).await;
    let origin = format!("{}/city/air", trust.prefix);
    let r = app.get(&format!("{BASE}/checkpoint"), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let text = r.bytes().await.unwrap();
    let note = Note::from_bytes(&text).expect("a signed note");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&trust.public_key).unwrap();
    let verifier = StandardVerifier::new(&new_ed25519_verifier_key(&origin, &key)).unwrap();
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .expect("signed by the log key");
    let cp = Checkpoint::from_bytes(note.text()).expect("a tlog checkpoint");
    assert_eq!(cp.origin(), origin);
    cp
}

/// The entries of a bundle: each a big-endian uint16 length, then the bytes.
fn entries_of(bundle: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        out.push(rest[2..2 + len].to_vec());
        rest = &rest[2 + len..];
    }
    out
}

/// Every entry of a log of `size`, from its entry bundles (paths from the library).
async fn all_entries(app: &TestApp, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in 0..size.div_ceil(256) {
        let w = (size - n * 256).min(256) as u32;
        let bundle = get_tile(app, &c2sp(&Tile::new(8, 0, n, w, true)), None).await;
        let entries = entries_of(&bundle);
        assert_eq!(entries.len() as u32, w);
        out.extend(entries);
    }
    out
}

fn from_hex(h: &Value) -> Hash {
    Hash(
        hex::decode(h.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    )
}

async fn publish(app: &TestApp, token: &str, from: usize, n: usize) {
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(200) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"key": format!("s{}", i % 9), "payload": {"i": i, "pm10": 10.5}}))
            .collect();
        app.publish_ok(token, "city", "air", &Value::from(batch))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outside_client_rebuilds_the_tree_and_proves_inclusion_and_consistency() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    publish(&app, &token, 0, 300).await;
    wait_checkpointed(&app, 299).await;
    let old = checkpoint(&app).await;
    assert_eq!(old.size(), 300);

    // Grow past two full level-0 tiles, and erase a record (its leaf stays).
    publish(&app, &token, 300, 400).await;
    let r = app
        .post_json(
            &format!("{BASE}/records/5/erasure"),
            Some(&token),
            &json!({"reason": "legal-erasure"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    wait_checkpointed(&app, 700).await;
    let cp = checkpoint(&app).await;
    let (size, root) = (cp.size(), *cp.hash());
    assert_eq!(size, 701);

    // The tree from tiles: every leaf hash, each tile checked against the signed root.
    let tiles = Fetched::default();
    let reader = TileHashReader::new(size, root, &tiles);
    let rebuilt = fetching(&app, &tiles, || tree_hash(size, &reader)).await;
    assert!(
        rebuilt == root,
        "tree_hash from tiles equals the checkpoint root"
    );
    let indexes: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
    let leaves = fetching(&app, &tiles, || reader.read_hashes(&indexes)).await;
    assert_eq!(leaves.len() as u64, size);
    for (path, bytes) in tiles.tiles.borrow().iter() {
        assert!(!path.contains("/entries/"), "{path}");
        assert!(bytes.len() % 32 == 0 && !bytes.is_empty(), "{path}");
    }
    assert!(tiles.tiles.borrow().contains_key("tile/0/002.p/189"));
    assert!(tiles.tiles.borrow().contains_key("tile/1/000.p/2"));

    // Every entry hashes to its leaf; the erased record's envelope is still there and the
    // erasure entry names it.
    let entries = all_entries(&app, size).await;
    for (i, entry) in entries.iter().enumerate() {
        assert!(record_hash(entry) == leaves[i], "entry {i}");
        let env: Value = serde_json::from_slice(entry).unwrap();
        assert_eq!(env["seq"], i as u64);
    }
    let erasure: Value = serde_json::from_slice(&entries[700]).unwrap();
    assert_eq!(erasure["erases"], 5);

    // Inclusion of records across tiles, proven by the library and equal to our bundles.
    for i in [0u64, 5, 255, 256, 300, 511, 512, 599, 700] {
        let leaf = record_hash(&entries[i as usize]);
        let proof = fetching(&app, &tiles, || prove_record(size, i, &reader)).await;
        check_record(&proof, size, root, i, leaf).expect("inclusion");
        let bundle: Value = app
            .get_json(&format!("{BASE}/records/{i}/proof?tree_size={size}"), None)
            .await;
        let ours: Vec<Hash> = bundle["inclusion"]["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(from_hex)
            .collect();
        assert!(
            ours.len() == proof.len() && ours.iter().zip(&proof).all(|(a, b)| a == b),
            "record {i}"
        );
    }

    // Consistency between the two checkpoints, from tiles alone.
    let proof = fetching(&app, &tiles, || prove_tree(size, old.size(), &reader)).await;
    check_tree(&proof, size, root, old.size(), *old.hash()).expect("consistency");
    // A forged old root fails.
    assert!(check_tree(&proof, size, root, old.size(), Hash([1; 32])).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn tiles_past_the_signed_size_or_malformed_are_404_and_400() {
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    for path in ["tile/0/000.p/1", "tile/entries/000.p/1"] {
        // Nothing signed yet: no tile exists.
        let r = app.get(&format!("{BASE}/{path}"), None).await;
        assert_problem(r, 404, "not-found").await;
    }
    publish(&app, &token, 0, 300).await;
    wait_checkpointed(&app, 299).await;
    for path in [
        "tile/0/000",
        "tile/0/001.p/44",
        "tile/0/001.p/1",
        "tile/entries/001.p/44",
        "tile/1/000.p/1",
    ] {
        let _ = get_tile(&app, path, None).await;
    }
    // A full tile is the same bytes every time (the second from memory), revalidates to
    // 304, and a partial tile is a prefix of it.
    let full = get_tile(&app, "tile/0/000", None).await;
    let r = app.get(&format!("{BASE}/tile/0/000"), None).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().await.unwrap().to_vec(), full);
    let r = app
        .request(reqwest::Method::GET, &format!("{BASE}/tile/0/000"), None)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(get_tile(&app, "tile/0/000.p/5", None).await, full[..160]);
    for path in [
        "tile/0/001",
        "tile/0/001.p/45",
        "tile/0/002.p/1",
        "tile/entries/001",
        "tile/1/000",
        "tile/1/000.p/2",
        "tile/2/000.p/1",
        "tile/63/000.p/1",
        // 2^56: a valid index whose first hash would be leaf 2^64.
        "tile/0/x072/x057/x594/x037/x927/936",
    ] {
        let r = app.get(&format!("{BASE}/{path}"), None).await;
        assert_problem(r, 404, "not-found").await;
    }
    for path in [
        "tile/0/0",
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/01",
        "tile/0/x000/001",
        "tile/data/000",
        "tile/8/0/000",
        "tile/0/x001/x234/x067",
        "tile/",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    ] {
        let r = app.get(&format!("{BASE}/{path}"), None).await;
        assert_problem(r, 400, "bad-request").await;
    }
}

/// Restricted logs are as private over tiles as everywhere else: missing to outsiders,
/// served privately to readers.
#[tokio::test(flavor = "multi_thread")]
async fn restricted_tiles_look_missing_to_outsiders() {
    let w = World::new().await;
    let app = &w.app;
    // Signed first (the proof route waits for the signer).
    let r = app
        .get("/v1/datasets/city/cards/records/0/proof", Some(&w.reader))
        .await;
    assert_eq!(r.status(), 200);
    let path = "/v1/datasets/city/cards/tile/0/000.p/1";
    let missing = "/v1/datasets/city/nothing/tile/0/000.p/1";
    for token in [
        None,
        Some(w.other_reader.as_str()),
        Some(w.other_publisher.as_str()),
    ] {
        let a = app.get(path, token).await;
        let b = app.get(missing, token).await;
        assert_eq!(a.status(), 404);
        assert_eq!(b.status(), 404);
        assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    }
    let r = app.get(path, Some(&w.reader)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "private, max-age=5");
    assert_eq!(r.bytes().await.unwrap().len(), 32);
}

/// `civicproof monitor --log city/air --audit-entries` as a library: a follower over tiles
/// alone, run on a blocking thread against the real server.
async fn follow(
    app: &TestApp,
    follower: civicproof_verify::monitor::TileFollower,
) -> (
    civicproof_verify::monitor::TileFollower,
    Result<
        Option<civicproof_verify::monitor::FollowReport>,
        civicproof_verify::monitor::MonitorError,
    >,
) {
    let base = app.base.clone();
    tokio::task::spawn_blocking(move || {
        let mut follower = follower;
        let server = civicproof_verify::monitor::HttpServer::new(&base);
        let report = follower.poll(&server);
        (follower, report)
    })
    .await
    .unwrap()
}

async fn tile_follower(app: &TestApp) -> civicproof_verify::monitor::TileFollower {
    let trust = pinned_trust(app).await;
    use civicproof_verify::monitor::{TileFollower, TileLogConfig};
    TileFollower::new(TileLogConfig {
        audit_entries: true,
        ..TileLogConfig::for_dataset(&trust.prefix, "city", "air", trust.public_key)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn civicproof_monitor_follows_a_log_over_tiles_alone_and_reports_a_tampered_tile() {
    use civicproof_verify::monitor::{MonitorError, Violation};
    let app = TestApp::spawn().await;
    app.institution("city").await;
    let token = app.token("city", "publisher").await;
    app.dataset(&token, "air", "public", json!({})).await;
    publish(&app, &token, 0, 300).await;
    wait_checkpointed(&app, 299).await;

    let (f, first) = follow(&app, tile_follower(&app).await).await;
    let first = first.unwrap().expect("a first checkpoint");
    assert_eq!(
        (first.from, first.to, first.entries_checked),
        (None, 300, 300)
    );
    // Grown across a full tile: proven from the tiles, new entries read and checked.
    publish(&app, &token, 300, 400).await;
    wait_checkpointed(&app, 699).await;
    let (f, grown) = follow(&app, f).await;
    let grown = grown.unwrap().expect("a larger checkpoint");
    assert_eq!((grown.from, grown.to), (Some(300), 700));
    assert_eq!(grown.entries_checked, 400);
    assert!(grown.proof_hashes > 0);
    let (_, same) = follow(&app, f).await;
    assert_eq!(same.unwrap(), None, "nothing new");

    // Someone with database access rewrites a stored leaf hash in the partial tile: the tiles no
    // longer rebuild the signed root.
    let n = app.db.execute(&format!(
        "UPDATE entries SET leaf_hash = {} WHERE seq = 600",
        app.db.blob(&[0x11; 32])
    ));
    assert_eq!(n, 1);
    match follow(&app, tile_follower(&app).await).await.1 {
        Err(MonitorError::Violation(Violation::TileRoot { size: 700, .. })) => {}
        other => panic!("expected the tiles to contradict the signed root, got {other:?}"),
    }
}
