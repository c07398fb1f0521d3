//! Proof benchmarks: in-process inclusion-proof generation from stored nodes (cold: every
//! node read from PostgreSQL; warm: from the node cache), proof bundles over HTTP, and
//! verification of served bundles with the verify crate.

use civicproof_api::log::nodes::{self, NodeCache};
use civicproof_api::log::tree;
use civicproof_verify::bundle::{Expect, Trust, verify_bundle};
use civicproof_verify::checkpoint::VerifiedNoteCache;
use std::time::{Duration, Instant};

/// A tiny deterministic generator so runs are repeatable without a rand dependency.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) % n
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

pub fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label}: n={} p50={:.1} µs p90={:.1} µs p99={:.1} µs",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.9).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
}

/// In-process inclusion proofs at tree size `size` for `count` random leaves.
pub fn in_process(
    database_url: &str,
    dataset_id: i64,
    size: u64,
    count: usize,
) -> anyhow::Result<()> {
    let mut conn = civicproof_schema::establish(database_url)?;
    let mut rng = Lcg(42);
    let seqs: Vec<u64> = (0..count).map(|_| rng.below(size)).collect();
    let mut cold = Vec::with_capacity(count);
    for &m in &seqs {
        let t = Instant::now();
        let path = nodes::eval(&mut conn, None, dataset_id, &tree::inclusion(m, size))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        cold.push(t.elapsed());
        std::hint::black_box(path);
    }
    report(
        &format!("inclusion proof, cold (PostgreSQL reads), size {size}"),
        cold,
    );
    let cache = NodeCache::new(1 << 22);
    for &m in &seqs {
        nodes::eval(
            &mut conn,
            Some(&cache),
            dataset_id,
            &tree::inclusion(m, size),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut warm = Vec::with_capacity(count);
    for &m in &seqs {
        let t = Instant::now();
        let path = nodes::eval(
            &mut conn,
            Some(&cache),
            dataset_id,
            &tree::inclusion(m, size),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        warm.push(t.elapsed());
        std::hint::black_box(path);
    }
    report(
        &format!("inclusion proof, warm node cache, size {size}"),
        warm,
    );
    println!("node cache: {} nodes held for {count} proofs", cache.len());
    Ok(())
}

/// Bundles over HTTP: `count` requests for random seqs from `clients` concurrent clients,
/// twice over the same seqs: with the server's node cache cold, then warm.
pub async fn http(
    server: &str,
    dataset: &str,
    size: u64,
    count: usize,
    clients: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let bundles = http_pass(server, dataset, size, count, clients, "cold node cache").await?;
    http_pass(server, dataset, size, count, clients, "warm node cache").await?;
    Ok(bundles)
}

/// One pass; every pass asks for the same seqs in the same order per client.
async fn http_pass(
    server: &str,
    dataset: &str,
    size: u64,
    count: usize,
    clients: usize,
    label: &str,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let client = reqwest::Client::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, next, base) = (
            client.clone(),
            next.clone(),
            format!("{server}/v1/datasets/{dataset}/records"),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(1000 + c as u64);
            let mut kept = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                let seq = rng.below(size);
                let r = client.get(format!("{base}/{seq}/proof")).send().await?;
                anyhow::ensure!(r.status() == 200, "proof {seq}: {}", r.status());
                let body = r.bytes().await?;
                if kept.len() < 200 {
                    kept.push(body.to_vec());
                }
            }
            Ok::<_, anyhow::Error>(kept)
        }));
    }
    let mut bundles = Vec::new();
    for t in tasks {
        bundles.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "proof bundles over HTTP, {label}: {count} in {secs:.2} s = {:.0}/s ({clients} clients)",
        count as f64 / secs
    );
    Ok(bundles)
}

/// Verification throughput on one core: with the note cache (bundles sharing a
/// checkpoint) and cold (every signature checked).
pub fn verification(bundles: &[Vec<u8>], trust: &Trust, origin: &str, rounds: usize) {
    let expect: Vec<Expect> = bundles
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_slice(b).expect("bundle JSON");
            Expect {
                origin: origin.to_owned(),
                seq: v["envelope"]["seq"].as_u64(),
            }
        })
        .collect();
    let cache = VerifiedNoteCache::new(1024);
    let started = Instant::now();
    let mut n = 0;
    for _ in 0..rounds {
        for (b, e) in bundles.iter().zip(&expect) {
            assert!(verify_bundle(b, trust, e, Some(&cache)).ok());
            n += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verification with note cache: {:.0} bundles/s on one core",
        n as f64 / secs
    );
    let started = Instant::now();
    for (b, e) in bundles.iter().zip(&expect) {
        assert!(verify_bundle(b, trust, e, None).ok());
    }
    let per = started.elapsed() / bundles.len() as u32;
    println!(
        "verification cold (signature checked each time): {:.1} µs per bundle",
        per.as_secs_f64() * 1e6
    );
}
