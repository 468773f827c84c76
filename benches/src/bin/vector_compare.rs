//! Vector search at 100,000 × 384: index build time, then recall@10 against an exact scan
//! and single-thread queries per second at ef 16…256, on seeded clustered vectors or on
//! real MiniLM embeddings of a generated corpus. Writes the vectors, the exact answers and
//! our figures under `--out` for `peers/vector_compare.py`, which runs hnswlib on the same
//! files with the same parameters. Last, the queries are written one point per upsert
//! (latency of a single write into the built index).
//! `cargo run --release -p swarm-benches --bin vector-compare -- --dataset clustered`
// A benchmark over generated, known-good inputs: a failure here is a bug to see at once.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use swarm_actors::embed::core::MiniLm;
use swarm_actors::vector::core::{
    Collection, CollectionConfig, HnswParams, Metric, NewPoint, PointId, SearchQuery,
};
use swarm_benches::clustered_unit_vectors;

const DIM: usize = 384;
const K: usize = 10;
const EFS: [usize; 5] = [16, 32, 64, 128, 256];

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// A generated corpus (seeded combinations of subjects, actions, objects and settings),
/// embedded with the project's MiniLM; cached beside the outputs.
fn minilm(n: usize, q: usize, out: &Path) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let cache = out.join(format!("minilm-{n}-{q}.cache.f32"));
    if let Ok(raw) = std::fs::read(&cache) {
        let all = floats(&raw);
        if all.len() == (n + q) * DIM {
            let mut rows: Vec<Vec<f32>> = all.chunks(DIM).map(<[f32]>::to_vec).collect();
            let queries = rows.split_off(n);
            return (rows, queries);
        }
    }
    let subjects = [
        "The engineer",
        "A small child",
        "Our neighbour",
        "The old fisherman",
        "A tired nurse",
        "The chef",
        "My sister",
        "The pilot",
        "A stray dog",
        "The mayor",
        "A student",
        "The farmer",
        "An astronaut",
        "The librarian",
        "A musician",
        "The goalkeeper",
    ];
    let actions = [
        "repaired",
        "painted",
        "lost",
        "found",
        "sold",
        "photographed",
        "carried",
        "described",
        "cleaned",
        "borrowed",
        "measured",
        "ignored",
        "admired",
        "wrapped",
        "delivered",
        "tested",
    ];
    let objects = [
        "a red bicycle",
        "the broken radio",
        "an ancient map",
        "a basket of apples",
        "the wooden boat",
        "a silver watch",
        "the heavy suitcase",
        "a pile of letters",
        "the new telescope",
        "a bag of flour",
        "the garden fence",
        "a violin",
        "the solar panel",
        "a stack of invoices",
        "the football",
        "a vaccine sample",
    ];
    let settings = [
        "before sunrise",
        "in the rain",
        "at the harbour",
        "during the storm",
        "after lunch",
        "near the station",
        "in the library",
        "on the mountain",
        "at the market",
        "under the bridge",
        "in the hospital",
        "on the stage",
        "at the stadium",
        "in the bakery",
        "on the runway",
        "in orbit",
    ];
    let moods = [
        "",
        " and smiled",
        " without a word",
        " very carefully",
        " for the second time",
        " with great pride",
        " in a hurry",
        " as usual",
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let texts: Vec<String> = (0..n + q)
        .map(|_| {
            format!(
                "{} {} {} {}{}.",
                subjects[rng.random_range(0..subjects.len())],
                actions[rng.random_range(0..actions.len())],
                objects[rng.random_range(0..objects.len())],
                settings[rng.random_range(0..settings.len())],
                moods[rng.random_range(0..moods.len())],
            )
        })
        .collect();
    let dir = std::env::var("SWARM_MODELS").unwrap_or_else(|_| "models".into());
    let model =
        MiniLm::load(&Path::new(&dir).join("all-MiniLM-L6-v2")).expect("model (run `make models`)");
    let started = Instant::now();
    let mut rows = Vec::with_capacity(n + q);
    for (i, chunk) in texts.chunks(64).enumerate() {
        rows.extend(model.embed(chunk).expect("embeds"));
        if i % 200 == 0 {
            eprintln!(
                "embedded {} of {} ({:.0}/s)",
                rows.len(),
                n + q,
                rows.len() as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    write_floats(&cache, &rows);
    let queries = rows.split_off(n);
    (rows, queries)
}

fn floats(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn write_floats(path: &Path, rows: &[Vec<f32>]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for x in rows.iter().flatten() {
        f.write_all(&x.to_le_bytes()).expect("write");
    }
    f.flush().expect("flush");
}

/// Exact top-K by dot product (unit vectors: cosine), split over the machine's cores.
fn exact(base: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<Vec<u32>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(per)
            .map(|qs| {
                s.spawn(move || {
                    qs.iter()
                        .map(|q| {
                            let mut scored: Vec<(f32, u32)> = base
                                .iter()
                                .enumerate()
                                .map(|(i, v)| {
                                    (-v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u32)
                                })
                                .collect();
                            scored.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0));
                            scored.truncate(K);
                            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
                            scored.into_iter().map(|(_, i)| i).collect()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn main() {
    let dataset = arg("--dataset", "clustered");
    let n: usize = arg("--n", "100000").parse().expect("--n");
    let q: usize = arg("--queries", "1000").parse().expect("--queries");
    let out = PathBuf::from(arg("--out", "target/vector-bench"));
    std::fs::create_dir_all(&out).expect("out dir");
    let (base, queries) = match dataset.as_str() {
        "clustered" => clustered_unit_vectors(n, q, DIM),
        "minilm" => minilm(n, q, &out),
        other => panic!("unknown dataset {other} (clustered or minilm)"),
    };
    write_floats(&out.join(format!("{dataset}.base.f32")), &base);
    write_floats(&out.join(format!("{dataset}.query.f32")), &queries);
    let t = Instant::now();
    let truth = exact(&base, &queries);
    eprintln!("exact answers in {:.1}s", t.elapsed().as_secs_f64());
    let truth_bytes: Vec<u8> = truth
        .iter()
        .flatten()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    std::fs::write(out.join(format!("{dataset}.truth.u32")), truth_bytes).expect("truth");

    let config = CollectionConfig {
        dimension: DIM,
        distance: Metric::Cosine,
        hnsw: HnswParams {
            m: 16,
            ef_construction: 200,
            ef_search: 32,
        },
    };
    let mut c = Collection::new(config).expect("collection");
    let points: Vec<NewPoint> = base
        .iter()
        .enumerate()
        .map(|(i, v)| NewPoint {
            id: PointId::Num(i as u64),
            vector: v.clone(),
            payload: serde_json::Value::Null,
        })
        .collect();
    let t = Instant::now();
    c.upsert(points).expect("upsert");
    let build_s = t.elapsed().as_secs_f64();
    eprintln!(
        "ours: built {n} in {build_s:.1}s ({:.0} inserts/s)",
        n as f64 / build_s
    );

    let mut rows = Vec::new();
    for ef in EFS {
        let mut qps_runs = Vec::new();
        let mut recall = 0.0;
        for _ in 0..3 {
            let t = Instant::now();
            let mut found = 0usize;
            for (qv, want) in queries.iter().zip(&truth) {
                let hits = c
                    .search(&SearchQuery {
                        vector: qv.clone(),
                        limit: K,
                        ef: Some(ef),
                        ..SearchQuery::default()
                    })
                    .expect("search");
                found += hits
                    .iter()
                    .filter(|h| matches!(h.id, PointId::Num(id) if want.contains(&(id as u32))))
                    .count();
            }
            qps_runs.push(queries.len() as f64 / t.elapsed().as_secs_f64());
            recall = found as f64 / (K * queries.len()) as f64;
        }
        qps_runs.sort_by(f64::total_cmp);
        let qps = qps_runs[1];
        eprintln!("ours: ef {ef:>3}  recall@10 {recall:.4}  {qps:.0} QPS (1 thread, median of 3)");
        rows.push(serde_json::json!({ "ef": ef, "recall": recall, "qps": qps }));
    }
    // Writes one point at a time, as a service sees them: the queries, under new ids.
    let mut single_us: Vec<f64> = queries
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = Instant::now();
            c.upsert(vec![NewPoint {
                id: PointId::Num((n + i) as u64),
                vector: v.clone(),
                payload: serde_json::Value::Null,
            }])
            .expect("upsert one");
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    single_us.sort_by(f64::total_cmp);
    let single_median = single_us[single_us.len() / 2];
    let single_p99 = single_us[single_us.len() * 99 / 100];
    eprintln!("ours: one point per upsert: median {single_median:.0} µs, p99 {single_p99:.0} µs");
    let report = serde_json::json!({
        "single_insert_us": { "median": single_median, "p99": single_p99 },
        "dataset": dataset, "n": n, "queries": q, "dim": DIM, "m": 16, "ef_construction": 200,
        "build_seconds": build_s, "inserts_per_second": n as f64 / build_s,
        "build_threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "search": rows,
    });
    std::fs::write(out.join(format!("{dataset}.ours.json")), report.to_string()).expect("report");
}
