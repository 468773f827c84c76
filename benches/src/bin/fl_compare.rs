//! Times our aggregation of 100 clients × 1,000,000 float32 (median of 5) per strategy,
//! beside merely reading the bytes once, and writes timings and result checksums as JSON
//! for `peers/fl_compare.py`, which runs Flower's aggregation on identical arrays.
//! `cargo run --release -p swarm-benches --bin fl-compare > fl.json`
// A benchmark over generated, known-good inputs: a failure here is a bug to see at once.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use swarm_actors::fl::api::update_from_bytes;
use swarm_actors::fl::core::{Round, ServerState, Strategy, Update};
use swarm_benches::{fl_updates, quantile};

fn median_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            out = Some(f());
            t.elapsed()
        })
        .collect();
    samples.sort_unstable();
    (quantile(&samples, 0.5), out.expect("at least one run"))
}

fn aggregate(strategy: &Strategy, updates: &[Update]) -> Vec<f32> {
    let far = Instant::now() + Duration::from_secs(3600);
    let mut round = Round::open(
        strategy.clone(),
        updates.len(),
        far,
        None,
        ServerState::default(),
    )
    .expect("opens");
    for u in updates {
        round.submit(u.clone(), Instant::now()).expect("accepted");
    }
    round.model().expect("closed").to_vec()
}

fn main() -> anyhow::Result<()> {
    let updates = fl_updates(100, 1_000_000);
    let (read, total) = median_of(5, || {
        updates
            .iter()
            .map(|u| u.weights.iter().map(|w| f64::from(*w)).sum::<f64>())
            .sum::<f64>()
    });
    eprintln!("read once: {read:?} (sum {total:.1})");
    let mut rows =
        vec![serde_json::json!({"strategy": "read_bytes_once", "seconds": read.as_secs_f64()})];
    for (name, strategy, runs) in [
        ("fedavg", Strategy::FedAvg, 5),
        ("fedmedian", Strategy::FedMedian, 5),
        ("fedtrimmedavg", Strategy::FedTrimmedAvg { beta: 0.2 }, 5),
    ] {
        let (t, model) = median_of(runs, || aggregate(&strategy, &updates));
        eprintln!("{name}: {t:?}");
        rows.push(serde_json::json!({
            "strategy": name, "seconds": t.as_secs_f64(),
            "sum": model.iter().map(|v| f64::from(*v)).sum::<f64>(), "head": &model[..10],
        }));
    }
    // The server path: updates arrive as little-endian float32 bytes (as over HTTP),
    // are decoded (one copy) and aggregated.
    let wire: Vec<(String, String, Vec<u8>)> = updates
        .iter()
        .map(|u| {
            (
                u.client.clone(),
                u.num_examples.to_string(),
                u.weights.iter().flat_map(|w| w.to_le_bytes()).collect(),
            )
        })
        .collect();
    for (name, strategy) in [
        ("fedavg", Strategy::FedAvg),
        ("fedmedian", Strategy::FedMedian),
    ] {
        let (t, _) = median_of(5, || {
            let decoded: Vec<Update> = wire
                .iter()
                .map(|(c, n, b)| update_from_bytes(c, n, b).expect("decodes"))
                .collect();
            aggregate(&strategy, &decoded)
        });
        eprintln!("{name} from bytes: {t:?}");
        rows.push(serde_json::json!({"strategy": format!("{name}_from_bytes"), "seconds": t.as_secs_f64()}));
    }
    println!("{}", serde_json::to_string(&rows)?);
    Ok(())
}
