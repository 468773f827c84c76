//! FHE workloads side by side in one run (`make bench-fhe`): loading the server key, and
//! an encrypted tally of 16 one-hot ballots × 4 options by tfhe's multi-operand sum
//! against adding ballots one after another, sealed-bid auctions of 8 encrypted 16-bit
//! bids (first and second price), and encrypted logistic-regression scoring of one
//! 8-feature sample beside Concrete ML on the same quantised model — wall time and
//! programmable bootstraps.
//!
//!     fhe-compare [KEY_DIR] [ROUNDS] [MODEL_JSON] [CONCRETE_ML_SUMMARY]
//! Generates a key set in KEY_DIR (default target/fhe-bench-keys) when there is none.
//! MODEL_JSON is Concrete ML's model as benches/peers/concrete_ml_score.py dumps it (the
//! test fixture by default); CONCRETE_ML_SUMMARY, the summary line that script printed
//! in the same run. Prints a Markdown table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use swarm_actors::fhe::core::auction::{self, AuctionRule};
use swarm_actors::fhe::core::holder::KeyHolder;
use swarm_actors::fhe::core::progress::Progress;
use swarm_actors::fhe::core::{keys, tally, wire};

mod scoring;

const BALLOTS: usize = 16;
const OPTIONS: usize = 4;
/// Bids in the auction rows, and the expected winner (index) and prices.
const BIDS: [u16; 8] = [410, 1_250, 980, 77, 1_200, 1_100, 3, 640];
const WINNER: u8 = 1;
const FIRST_PRICE: u16 = 1_250;
const SECOND_PRICE: u16 = 1_200;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/fhe-bench-keys".into()),
    );
    let rounds: usize = args.next().map_or(Ok(3), |r| r.parse()).context("ROUNDS")?;
    let model_json = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "actors/tests/data/concrete_ml_lr_breast_cancer8.json".into()),
    );
    let peer = args.next().map(PathBuf::from);
    if keys::check(&dir).is_err() {
        let started = Instant::now();
        keys::generate(&dir)?;
        eprintln!("generated keys in {:.1} s", started.elapsed().as_secs_f64());
    }
    let mut load = Vec::new();
    let mut loaded = None;
    for _ in 0..rounds {
        let started = Instant::now();
        loaded = Some(keys::load_server(&dir)?);
        load.push(started.elapsed().as_secs_f64());
    }
    let server = loaded.context("no rounds")?;
    let holder = KeyHolder::new(keys::load_client(&dir)?);
    tfhe::set_server_key(server.server.clone());
    let progress = Progress::new(u64::MAX, None);
    let ballots: Vec<_> = (0..BALLOTS)
        .map(|i| {
            let entries: Vec<u8> = (0..OPTIONS).map(|j| u8::from(j == i % OPTIONS)).collect();
            let bytes = wire::encrypt_u8(&server.public, &entries)?;
            wire::expand_u8(&wire::read_list(&bytes, OPTIONS)?)
        })
        .collect::<Result<_, _>>()?;
    let (mut multi, mut seq) = (Vec::new(), Vec::new());
    let (mut multi_pbs, mut seq_pbs) = (0, 0);
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        tfhe::reset_pbs_count();
        let started = Instant::now();
        let totals = tally::totals(&ballots, OPTIONS, &progress)?;
        multi.push(started.elapsed().as_secs_f64());
        multi_pbs = tfhe::get_pbs_count();
        anyhow::ensure!(
            holder.reveal_u16(&totals) == vec![4; OPTIONS],
            "wrong totals"
        );
        tfhe::reset_pbs_count();
        let started = Instant::now();
        let totals = tally::totals_sequential(&ballots, OPTIONS, &progress)?;
        seq.push(started.elapsed().as_secs_f64());
        seq_pbs = tfhe::get_pbs_count();
        anyhow::ensure!(
            holder.reveal_u16(&totals) == vec![4; OPTIONS],
            "wrong totals"
        );
    }
    let bids: Vec<_> = BIDS
        .iter()
        .map(|&b| {
            let bytes = wire::encrypt_u16(&server.public, &[b])?;
            let mut v = wire::expand_u16(&wire::read_list(&bytes, 1)?)?;
            v.pop().context("one bid")
        })
        .collect::<anyhow::Result<_>>()?;
    let mut auctions = Vec::new();
    for (rule, price) in [
        (AuctionRule::First, FIRST_PRICE),
        (AuctionRule::Second, SECOND_PRICE),
    ] {
        eprintln!("auction, {rule:?} price");
        tfhe::reset_pbs_count();
        let started = Instant::now();
        let (winner, paid) = auction::decide(&bids, rule, &progress)?;
        let took = started.elapsed().as_secs_f64();
        let pbs = tfhe::get_pbs_count();
        anyhow::ensure!(
            (holder.reveal_u8(&winner), holder.reveal_value(&paid)) == (WINNER, price),
            "wrong auction outcome"
        );
        auctions.push((rule, took, pbs));
    }
    let scoring = scoring::measure(&model_json)?;
    let (m, s) = (median(multi), median(seq));
    println!("| FHE ({} rounds, medians) | time | bootstraps |", rounds);
    println!("|---|---|---|");
    println!(
        "| server key load (compressed → ready) | {:.2} s | — |",
        median(load)
    );
    println!("| tally {BALLOTS}×{OPTIONS}, multi-operand sum | {m:.2} s | {multi_pbs} |");
    println!("| tally {BALLOTS}×{OPTIONS}, sequential additions | {s:.2} s | {seq_pbs} |");
    println!(
        "| ratio | {:.2}× faster | {:.2}× fewer |",
        s / m,
        seq_pbs as f64 / multi_pbs.max(1) as f64
    );
    scoring::print(&scoring, peer.as_deref())?;
    for (rule, took, pbs) in auctions {
        let rule = format!("{rule:?}").to_lowercase();
        println!(
            "| auction of {} × 16-bit bids, {rule} price (one run) | {took:.2} s | {pbs} |",
            BIDS.len()
        );
    }
    Ok(())
}
