//! Vector persistence: collections reopen with the same answers; a crash mid-snapshot or
//! mid-append leaves the previous state loadable; deleted points stay deleted.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::vector_data;

use std::path::Path;

use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use serde_json::json;
use swarm_actors::vector::core::distance::GraphDistance;
use swarm_actors::vector::core::store::StoreOptions;
use swarm_actors::vector::core::{
    Catalog, Metric, NewPoint, PointId, ScoredPoint, SearchQuery, StoredCollection,
};
use vector_data::{brute_force, clustered, config};

fn points(vectors: &[Vec<f32>], from: usize) -> Vec<NewPoint> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| NewPoint {
            id: PointId::Num((from + i) as u64),
            vector: v.clone(),
            payload: json!({ "n": from + i }),
        })
        .collect()
}

fn search_all(c: &StoredCollection, queries: &[Vec<f32>]) -> Vec<Vec<ScoredPoint>> {
    search_with(c, queries, false)
}

/// Exact answers: the stored state itself, whatever graph a replay built (batches of 128
/// or more are linked in parallel, so a replayed graph is not the original one).
fn exact_all(c: &StoredCollection, queries: &[Vec<f32>]) -> Vec<Vec<ScoredPoint>> {
    search_with(c, queries, true)
}

fn search_with(c: &StoredCollection, queries: &[Vec<f32>], exact: bool) -> Vec<Vec<ScoredPoint>> {
    queries
        .iter()
        .map(|q| {
            c.collection()
                .search(&SearchQuery {
                    vector: q.clone(),
                    limit: 10,
                    with_payload: true,
                    exact,
                    ..SearchQuery::default()
                })
                .unwrap()
        })
        .collect()
}

fn small_log() -> StoreOptions {
    // Snapshot after every few writes, so tests cover snapshot + log replay together.
    StoreOptions {
        sync: true,
        snapshot_after_bytes: 64 << 10,
    }
}

fn snapshot_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snapshot-")
        })
        .collect()
}

fn snapshot_count(dir: &Path) -> usize {
    snapshot_dirs(dir).len()
}

#[test]
fn the_graph_snapshot_is_an_hnsw_rs_dump_that_hnsw_rs_itself_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("h");
    let (data, queries) = clustered(2_000, 32, 20, 30, 8);
    let mut c = StoredCollection::create(&dir, config(32, Metric::Euclid), StoreOptions::default())
        .unwrap();
    // One upsert of ids 0.. puts id i in slot i, hnsw_rs's data id.
    c.upsert(points(&data, 0)).unwrap();
    c.snapshot().unwrap();
    let snapshot = snapshot_dirs(&dir).pop().unwrap();
    let io = HnswIo::new(&snapshot, "graph");
    let graph: Hnsw<'_, f32, GraphDistance> = io
        .load_hnsw_with_dist(GraphDistance::new(Metric::Euclid))
        .unwrap();
    assert_eq!(graph.get_nb_point(), 2_000);
    let mut found = 0;
    for q in &queries {
        let truth = brute_force(&data, q, Metric::Euclid, 10, |_| true);
        let hits: Vec<usize> = graph.search(q, 10, 64).iter().map(|n| n.d_id).collect();
        found += hits.iter().filter(|h| truth.contains(h)).count();
    }
    let recall = found as f64 / (10 * queries.len()) as f64;
    assert!(
        recall >= 0.95,
        "hnsw_rs's search over our dump: recall@10 {recall}"
    );
}

#[test]
fn a_reopened_collection_answers_exactly_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docs");
    let (data, queries) = clustered(1_500, 32, 15, 20, 21);
    let before;
    {
        let mut c =
            StoredCollection::create(&dir, config(32, Metric::Cosine), small_log()).unwrap();
        for chunk in 0..3 {
            c.upsert(points(&data[chunk * 500..(chunk + 1) * 500], chunk * 500))
                .unwrap();
        }
        c.delete((0..50).map(PointId::Num).collect()).unwrap();
        assert_eq!(
            snapshot_count(&dir),
            1,
            "the log passed its limit at least once"
        );
        before = exact_all(&c, &queries);
    }
    let c = StoredCollection::open(&dir, small_log()).unwrap();
    assert_eq!(c.collection().info().points_count, 1_450);
    assert!(
        c.collection().get(&PointId::Num(7)).is_none(),
        "deleted stays deleted"
    );
    assert_eq!(exact_all(&c, &queries), before);
}

#[test]
fn a_crash_mid_snapshot_leaves_the_previous_state_loadable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let (data, queries) = clustered(600, 16, 6, 10, 4);
    let before;
    {
        let mut c =
            StoredCollection::create(&dir, config(16, Metric::Euclid), StoreOptions::default())
                .unwrap();
        c.upsert(points(&data[..300], 0)).unwrap();
        c.snapshot().unwrap();
        c.upsert(points(&data[300..], 300)).unwrap();
        before = exact_all(&c, &queries);
    }
    // The crash: a half-written snapshot directory and a torn record at the log's end.
    let partial = dir.join("snapshot.tmp");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("points.bin"), b"SWVSNAP1 half written").unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("wal.log"))
        .unwrap();
    std::io::Write::write_all(&mut log, &[200, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(log);
    let c = StoredCollection::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(c.collection().info().points_count, 600);
    assert_eq!(exact_all(&c, &queries), before);
    assert!(!partial.exists(), "the partial snapshot is cleared away");
}

#[test]
fn an_unreadable_graph_dump_is_rebuilt_from_the_stored_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let (data, queries) = clustered(800, 16, 8, 10, 9);
    {
        let mut c =
            StoredCollection::create(&dir, config(16, Metric::Dot), StoreOptions::default())
                .unwrap();
        c.upsert(points(&data, 0)).unwrap();
        c.snapshot().unwrap();
    }
    let snap = snapshot_dirs(&dir).pop().unwrap();
    std::fs::write(snap.join("graph.hnsw.graph"), b"garbage").unwrap();
    let c = StoredCollection::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(c.collection().info().points_count, 800);
    for (q, hits) in queries.iter().zip(search_all(&c, &queries)) {
        let exact = c
            .collection()
            .search(&SearchQuery {
                vector: q.clone(),
                limit: 10,
                exact: true,
                with_payload: true,
                ..SearchQuery::default()
            })
            .unwrap();
        let overlap = hits
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
        assert!(overlap >= 9, "{overlap}/10 after rebuild");
    }
}

#[test]
fn the_catalog_reloads_every_collection_and_forgets_dropped_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    {
        let cat = Catalog::open(Some(root.clone()), StoreOptions::default()).unwrap();
        cat.create("keep", config(4, Metric::Cosine)).unwrap();
        cat.create("gone", config(4, Metric::Cosine)).unwrap();
        assert!(cat.create("keep", config(4, Metric::Cosine)).is_err());
        assert!(cat.create("../escape", config(4, Metric::Cosine)).is_err());
        let keep = cat.get("keep").unwrap();
        keep.write()
            .upsert(vec![NewPoint {
                id: PointId::Num(1),
                vector: vec![1.0, 2.0, 3.0, 4.0],
                payload: json!({ "a": 1 }),
            }])
            .unwrap();
        cat.drop_collection("gone").unwrap();
    }
    let cat = Catalog::open(Some(root.clone()), StoreOptions::default()).unwrap();
    assert_eq!(cat.names(), vec!["keep".to_string()]);
    let keep = cat.get("keep").unwrap();
    assert_eq!(
        keep.read()
            .collection()
            .get(&PointId::Num(1))
            .unwrap()
            .payload,
        json!({ "a": 1 })
    );
    assert!(!root.join("gone").exists());
}

#[test]
fn a_collection_with_a_corrupt_log_is_refused_alone_and_its_bytes_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let point = |n: u64| NewPoint {
        id: PointId::Num(n),
        vector: vec![1.0, n as f32, 0.5, 0.25],
        payload: json!({ "n": n }),
    };
    {
        let cat = Catalog::open(Some(root.clone()), StoreOptions::default()).unwrap();
        for name in ["good", "bad"] {
            cat.create(name, config(4, Metric::Cosine)).unwrap();
            let c = cat.get(name).unwrap();
            // Three acknowledged writes, three log records.
            for n in 1..=3 {
                c.write().upsert(vec![point(n)]).unwrap();
            }
        }
    }
    // One bit flipped inside the first record of `bad`'s log: two acknowledged writes follow.
    let wal = root.join("bad").join("wal.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();

    let cat = Catalog::open(Some(root.clone()), StoreOptions::default()).unwrap();
    assert_eq!(cat.names(), vec!["bad".to_string(), "good".to_string()]);
    let good = cat.get("good").unwrap();
    assert_eq!(good.read().collection().info().points_count, 3);
    let err = cat.get("bad").err().unwrap().to_string();
    assert!(
        err.contains("collection `bad`") && err.contains("is corrupt at byte 0"),
        "{err}"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "nothing truncated");
    let kept: Vec<_> = std::fs::read_dir(root.join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("wal.log.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes);
    assert_eq!(cat.broken().len(), 1);
    // The operator may discard it; then the name is free again.
    cat.drop_collection("bad").unwrap();
    assert!(cat.create("bad", config(4, Metric::Cosine)).is_ok());
}

#[test]
fn a_damaged_points_snapshot_is_refused_never_loaded_wrong_and_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let (data, _) = clustered(50, 8, 4, 1, 3);
    {
        let mut c =
            StoredCollection::create(&dir, config(8, Metric::Cosine), StoreOptions::default())
                .unwrap();
        c.upsert(points(&data, 0)).unwrap();
        c.snapshot().unwrap();
    }
    let file = snapshot_dirs(&dir).pop().unwrap().join("points.bin");
    let good = std::fs::read(&file).unwrap();
    let step = (good.len() / 97).max(1);
    let flips = (0..good.len()).step_by(step).map(|at| {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        (format!("bit flip at {at}"), bad)
    });
    let cuts = (0..good.len())
        .step_by(step)
        .map(|at| (format!("cut at {at}"), good[..at].to_vec()));
    for (what, bad) in flips.chain(cuts) {
        std::fs::write(&file, &bad).unwrap();
        let err = StoredCollection::open(&dir, StoreOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{what}: a damaged snapshot loaded"));
        assert!(err.to_string().contains("points.bin"), "{what}: {err}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bad,
            "{what}: the file was changed"
        );
    }
    std::fs::write(&file, &good).unwrap();
    let c = StoredCollection::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(c.collection().info().points_count, 50);
}
