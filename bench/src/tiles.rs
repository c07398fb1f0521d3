//! An outside client rebuilding a dataset log from its C2SP tlog tiles with `tlog_tiles` and
//! `signed_note` (Cloudflare's azul implementations): the checkpoint verified with the
//! instance key, every hash tile fetched (concurrently), every leaf hash read through the
//! library's authenticated `TileHashReader` and the root recomputed (bench/tiles.sh).

use base64::Engine;
use futures_util::StreamExt;
use serde_json::Value;
use signed_note::{Note, StandardVerifier, VerifierList, new_ed25519_verifier_key};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;
use tlog_tiles::{
    Checkpoint, Error, HashReader, Tile, TileHashReader, TileReader, stored_hash_index, tree_hash,
};

/// Go's sumdb paths (`tile/8/<L>/…`) as C2SP spells them (`tile/<L>/…`).
fn c2sp(t: &Tile) -> String {
    t.path()
        .replacen("tile/8/data/", "tile/entries/", 1)
        .replacen("tile/8/", "tile/", 1)
}

#[derive(Default)]
struct Fetched {
    tiles: HashMap<Tile, Vec<u8>>,
    missing: RefCell<Vec<Tile>>,
}

impl TileReader for Fetched {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::with_capacity(tiles.len());
        for t in tiles {
            match self.tiles.get(t) {
                Some(b) => out.push(b.clone()),
                None => self.missing.borrow_mut().push(*t),
            }
        }
        if self.missing.borrow().is_empty() {
            Ok(out)
        } else {
            Err(Error::InvalidInput("tile not fetched".into()))
        }
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

async fn fetch_all(
    client: &reqwest::Client,
    base: &str,
    tiles: Vec<Tile>,
    concurrency: usize,
    into: &mut Fetched,
) -> anyhow::Result<u64> {
    let mut bytes = 0u64;
    let mut results = futures_util::stream::iter(tiles.into_iter().map(|t| {
        let url = format!("{base}/{}", c2sp(&t));
        async move {
            let r = client.get(&url).send().await?.error_for_status()?;
            anyhow::Ok((t, r.bytes().await?.to_vec()))
        }
    }))
    .buffer_unordered(concurrency);
    while let Some(r) = results.next().await {
        let (t, body) = r?;
        bytes += body.len() as u64;
        into.tiles.insert(t, body);
    }
    Ok(bytes)
}

pub async fn rebuild(server: &str, dataset: &str, concurrency: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let wk: Value = client
        .get(format!("{server}/.well-known/civicproof.json"))
        .send()
        .await?
        .json()
        .await?;
    let prefix = wk["origin_prefix"].as_str().unwrap_or_default();
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(wk["log_public_key"].as_str().unwrap_or_default())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("log key is not 32 bytes"))?;
    let origin = format!("{prefix}/{dataset}");
    let base = format!("{server}/v1/datasets/{dataset}");
    let text = client
        .get(format!("{base}/checkpoint"))
        .send()
        .await?
        .bytes()
        .await?;
    let note = Note::from_bytes(&text).map_err(|e| anyhow::anyhow!("note: {e:?}"))?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key)?;
    let verifier = StandardVerifier::new(&new_ed25519_verifier_key(&origin, &vk))
        .map_err(|e| anyhow::anyhow!("key: {e:?}"))?;
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| anyhow::anyhow!("checkpoint signature: {e:?}"))?;
    let cp = Checkpoint::from_bytes(note.text()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (size, root) = (cp.size(), *cp.hash());

    let mut fetched = Fetched::default();
    let mut bytes = fetch_all(
        &client,
        &base,
        Tile::new_tiles(8, 0, size),
        concurrency,
        &mut fetched,
    )
    .await?;
    let fetch_secs = started.elapsed().as_secs_f64();
    let indexes: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
    let (leaves, rebuilt) = loop {
        let verified = {
            let reader = TileHashReader::new(size, root, &fetched);
            reader
                .read_hashes(&indexes)
                .and_then(|leaves| Ok((leaves, tree_hash(size, &reader)?)))
        };
        match verified {
            Ok(v) => break v,
            Err(e) => {
                let missing = std::mem::take(&mut *fetched.missing.borrow_mut());
                anyhow::ensure!(!missing.is_empty(), "the library refused the tiles: {e:?}");
                bytes += fetch_all(&client, &base, missing, concurrency, &mut fetched).await?;
            }
        }
    };
    anyhow::ensure!(
        rebuilt == root,
        "the tiles' root differs from the checkpoint"
    );
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rebuilt {origin} from tiles: {} leaves, {} tiles ({:.1} MiB) fetched in {fetch_secs:.2} s, every leaf verified and the root equal to the signed checkpoint's; total {secs:.2} s",
        leaves.len(),
        fetched.tiles.len(),
        bytes as f64 / (1 << 20) as f64,
    );
    Ok(())
}
