//! The process killed with SIGKILL (no chance to clean up) while writes are in flight, and
//! while a snapshot is being written: restarted on the same data, every acknowledged point
//! is there and the collection opens. Also `swarm repair` on a corrupt log.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::json;
use swarm_test_util::{until, within};

const SWARM: &str = env!("CARGO_BIN_EXE_swarm");

/// Starts `swarm up` on a vector service over `data` (log snapshotted every 4 KiB) and
/// waits for its ready line: the child and its URL.
fn start(dir: &Path, data: &Path) -> (Child, String) {
    let config = dir.join("swarm.yaml");
    std::fs::write(
        &config,
        format!(
            "gateway:\n  listen: 127.0.0.1:0\nservices:\n  vector:\n    type: vector\n    workers: 4\n    params:\n      data_dir: {}\n      snapshot_after: 4KiB\n",
            data.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(SWARM)
        .args(["up", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (child, url)
}

fn kill9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Writers upserting one point per request until the server goes away; the ids it
/// acknowledged.
fn writers(url: &str, from: u64) -> (Arc<Mutex<BTreeSet<u64>>>, Vec<tokio::task::JoinHandle<()>>) {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let tasks = (0..4u64)
        .map(|w| {
            let (acked, url) = (acked.clone(), url.to_string());
            tokio::spawn(async move {
                let c = reqwest::Client::new();
                for i in 0.. {
                    let id = from + i * 4 + w;
                    let v = [(id % 7) as f32, 1.0, (id % 5) as f32, 0.5];
                    let body =
                        json!({ "points": [{ "id": id, "vector": v, "payload": { "id": id } }] });
                    match c
                        .put(format!("{url}/v1/collections/c/points"))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().unwrap().insert(id);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    (acked, tasks)
}

/// Restarts on `data` and checks every acknowledged id is readable.
async fn all_acknowledged_points_survive(dir: &Path, data: &Path, acked: &BTreeSet<u64>) {
    let (mut child, url) = start(dir, data);
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{url}/v1/collections/c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for id in acked {
        let r = c
            .get(format!("{url}/v1/collections/c/points/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged point {id} lost");
    }
    kill9(&mut child);
}

async fn create(url: &str) {
    let r = reqwest::Client::new()
        .put(format!("{url}/v1/collections/c"))
        .json(&json!({ "dimension": 4, "distance": "Cosine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_upserts_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url) = start(dir.path(), &data);
    create(&url).await;
    let (acked, tasks) = writers(&url, 0);
    // Killed mid-stream: writes are in flight (and some snapshots done) when it dies.
    until(|| acked.lock().unwrap().len() >= 150).await;
    kill9(&mut child);
    for t in tasks {
        within(t).await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 150);
    all_acknowledged_points_survive(dir.path(), &data, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_snapshot_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tmp = data.join("c").join("snapshot.tmp");
    let mut acked = BTreeSet::new();
    let mut mid_snapshot = false;
    for attempt in 0..20u64 {
        let (mut child, url) = start(dir.path(), &data);
        if attempt == 0 {
            create(&url).await;
        }
        let (written, tasks) = writers(&url, attempt * 1_000_000);
        // A snapshot is being written while `snapshot.tmp` exists; kill then.
        until(|| tmp.exists()).await;
        kill9(&mut child);
        // Still there after the kill: the process died with the snapshot half written.
        mid_snapshot = tmp.exists();
        for t in tasks {
            within(t).await.unwrap();
        }
        acked.extend(written.lock().unwrap().iter().copied());
        all_acknowledged_points_survive(dir.path(), &data, &acked).await;
        if mid_snapshot {
            break;
        }
    }
    assert!(
        mid_snapshot,
        "no kill landed inside a snapshot in 20 attempts"
    );
}

#[test]
fn swarm_repair_reports_then_rewrites_a_corrupt_log() {
    use swarm_actors::vector::core::{
        Catalog, CollectionConfig, HnswParams, Metric, NewPoint, PointId, StoreOptions,
    };
    let data = tempfile::tempdir().unwrap();
    {
        let catalog = Catalog::open(Some(data.path().into()), StoreOptions::default()).unwrap();
        let config = CollectionConfig {
            dimension: 2,
            distance: Metric::Cosine,
            hnsw: HnswParams {
                m: 8,
                ef_construction: 32,
                ef_search: 32,
            },
        };
        catalog.create("c", config).unwrap();
        let c = catalog.get("c").unwrap();
        for id in 1..=3u64 {
            let p = NewPoint {
                id: PointId::Num(id),
                vector: vec![1.0, id as f32],
                payload: json!({}),
            };
            c.write().upsert(vec![p]).unwrap();
        }
    }
    let log = data.path().join("c").join("wal.log");
    let mut raw = std::fs::read(&log).unwrap();
    raw[20] ^= 0x01; // inside the first record: two sound ones follow
    std::fs::write(&log, &raw).unwrap();
    let broken = Catalog::open(Some(data.path().into()), StoreOptions::default()).unwrap();
    assert_eq!(broken.broken().len(), 1);
    drop(broken);

    let run = |args: &[&str]| {
        let out = Command::new(SWARM)
            .arg("repair")
            .arg(data.path().join("c"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let dry = run(&["--mode", "salvage"]);
    assert!(
        dry.contains("would keep 2 records") && dry.contains("--apply"),
        "{dry}"
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        raw,
        "a dry run changes nothing"
    );
    let done = run(&["--mode", "salvage", "--apply"]);
    assert!(
        done.contains("kept 2 records") && done.contains("original bytes are kept"),
        "{done}"
    );

    let repaired = Catalog::open(Some(data.path().into()), StoreOptions::default()).unwrap();
    assert!(repaired.broken().is_empty());
    let c = repaired.get("c").unwrap();
    let ids: Vec<bool> = (1..=3u64)
        .map(|i| c.read().collection().get(&PointId::Num(i)).is_some())
        .collect();
    assert_eq!(
        ids,
        vec![false, true, true],
        "salvage drops only the damaged record"
    );
}
