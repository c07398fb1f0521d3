//! Purging dedup keys (`queries::dedup::purge`, run every five minutes by the server): a key
//! goes only when it is both past the time window and outside its dataset's newest keys, and
//! only in its own dataset. On SQLite, which shares the query with PostgreSQL.

use chrono::{Duration, Utc};
use civicproof_schema::queries::{datasets, dedup};
use diesel::prelude::*;

fn database() -> (civicproof_schema::Conn, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "civicproof-dedup-purge-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = dir.join("purge.db").to_string_lossy().into_owned();
    let mut conn = civicproof_schema::establish(&url).unwrap();
    civicproof_schema::run_migrations(&mut conn).unwrap();
    diesel::sql_query("INSERT INTO institutions (id, slug, name) VALUES (1, 'city', 'City')")
        .execute(&mut conn)
        .unwrap();
    (conn, dir)
}

fn seqs_held(conn: &mut civicproof_schema::Conn, dataset_id: i64) -> Vec<i64> {
    use civicproof_schema::schema::record_dedup;
    record_dedup::table
        .filter(record_dedup::dataset_id.eq(dataset_id))
        .select(record_dedup::seq)
        .order(record_dedup::seq)
        .load(conn)
        .unwrap()
}

#[test]
fn only_old_keys_beyond_the_newest_go_and_only_in_their_dataset() {
    let (mut conn, dir) = database();
    // Dataset 1 ("big") holds 10 entries, dataset 2 ("small") 3.
    for (slug, count) in [("big", 10), ("small", 3)] {
        diesel::sql_query(format!(
            "INSERT INTO datasets (institution_id, slug, title, description, license, access, entry_count) \
             VALUES (1, '{slug}', 't', 'd', 'cc-by-4.0', 'public', {count})"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let now = Utc::now();
    let old = now - Duration::hours(3);
    let key = |dataset_id: i64, seq: i64, created_at| dedup::NewDedup {
        dataset_id,
        hash: format!("{dataset_id}-{seq}").into_bytes(),
        seq,
        fingerprint: vec![0; 32],
        created_at,
    };
    // Dataset 1: seqs 0..10, the first six three hours old, the rest fresh.
    let mut rows: Vec<_> = (0..10i64)
        .map(|seq| key(1, seq, if seq < 6 { old } else { now }))
        .collect();
    // Dataset 2: three old keys.
    rows.extend((0..3i64).map(|seq| key(2, seq, old)));
    dedup::insert(&mut conn, &rows).unwrap();
    let window_start = now - Duration::hours(1);
    // Keeping the newest 7: seqs 0..=2 are outside them and old, so they go; 3..=5 are old
    // but among the newest 7, so they stay.
    assert_eq!(dedup::purge(&mut conn, 1, window_start, 7).unwrap(), 3);
    assert_eq!(seqs_held(&mut conn, 1), (3..10).collect::<Vec<_>>());
    // Keeping the newest 2: the old ones (3..=5) go, the fresh ones stay however many.
    assert_eq!(dedup::purge(&mut conn, 1, window_start, 2).unwrap(), 3);
    assert_eq!(seqs_held(&mut conn, 1), (6..10).collect::<Vec<_>>());
    // Nothing of the other dataset went.
    assert_eq!(seqs_held(&mut conn, 2), vec![0, 1, 2]);
    // Which datasets the server probes at all: those with more entries than keys kept.
    assert_eq!(
        datasets::ids_with_more_entries_than(&mut conn, 5).unwrap(),
        vec![1]
    );
    assert_eq!(
        datasets::ids_with_more_entries_than(&mut conn, 2).unwrap(),
        vec![1, 2]
    );
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
}
