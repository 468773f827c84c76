//! Encrypted logistic-regression scoring of one 8-feature sample: the swarm's leveled LWE
//! dot product (client encrypt, server score, client decrypt), timed stage by stage,
//! beside Concrete ML's own figures for the same quantised model from the same run.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::Value;
use swarm_actors::fhe::core::linear::{FloatModel, ModelKind, QuantisedLinear};
use swarm_actors::fhe::core::lwe_score::{self, ScoringKey};

/// Runs per stage (each takes micro- to milliseconds).
const RUNS: usize = 201;

/// Medians, in seconds, and the sizes that cross the wire.
pub(crate) struct Scoring {
    encrypt: f64,
    score: f64,
    decrypt: f64,
    total: f64,
    pbs: u64,
    up: usize,
    down: usize,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn floats(v: &Value) -> anyhow::Result<Vec<f64>> {
    serde_json::from_value(v.clone()).context("a list of numbers")
}

/// Times the three stages on the first test sample of Concrete ML's model dump.
pub(crate) fn measure(model_json: &Path) -> anyhow::Result<Scoring> {
    let f: Value = serde_json::from_str(
        &std::fs::read_to_string(model_json)
            .with_context(|| format!("reading {}", model_json.display()))?,
    )?;
    let input = &f["input_quantizer"];
    let model = FloatModel {
        kind: ModelKind::Logistic,
        weights: floats(&f["float_model"]["weights"])?,
        bias: f["float_model"]["bias"].as_f64().context("bias")?,
        input_range: [
            input["rmin"].as_f64().context("rmin")?,
            input["rmax"].as_f64().context("rmax")?,
        ],
        n_bits: 8,
        description: None,
    };
    let q = QuantisedLinear::fit(&model)?;
    let weights = q.centred_weights();
    let x: Vec<f64> = floats(&f["test"]["x"][0])?;
    let expected = f["test"]["acc"][0].as_i64().context("acc")?;
    let key = ScoringKey::generate();
    let card = q.card();
    let (mut enc, mut srv, mut dec, mut tot) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut up, mut down) = (0, 0);
    tfhe::reset_pbs_count();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let sample = key.encrypt(&card.quantise(&x))?;
        let t1 = Instant::now();
        let scored = lwe_score::score(&weights, q.q_bias, &sample)?;
        let t2 = Instant::now();
        let acc = key.decrypt(&scored)?;
        let t3 = Instant::now();
        anyhow::ensure!(acc == expected, "decrypted {acc}, expected {expected}");
        enc.push((t1 - t0).as_secs_f64());
        srv.push((t2 - t1).as_secs_f64());
        dec.push((t3 - t2).as_secs_f64());
        tot.push((t3 - t0).as_secs_f64());
        (up, down) = (sample.len(), scored.len());
    }
    Ok(Scoring {
        encrypt: median(enc),
        score: median(srv),
        decrypt: median(dec),
        total: median(tot),
        pbs: tfhe::get_pbs_count(),
        up,
        down,
    })
}

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1e3)
}

/// Prints the swarm's row and, when given Concrete ML's summary line, its row and the
/// ratio.
pub(crate) fn print(ours: &Scoring, peer: Option<&Path>) -> anyhow::Result<()> {
    println!(
        "| LR score, 1 sample × 8 features, swarm (tfhe-rs LWE, leveled): encrypt {} + score {} + decrypt {}; {} B up, {} B down ({RUNS} runs) | {} | {} |",
        ms(ours.encrypt),
        ms(ours.score),
        ms(ours.decrypt),
        ours.up,
        ours.down,
        ms(ours.total),
        ours.pbs
    );
    let Some(peer) = peer else {
        return Ok(());
    };
    let text =
        std::fs::read_to_string(peer).with_context(|| format!("reading {}", peer.display()))?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("no summary line")?;
    let s: Value = serde_json::from_str(line)?;
    let stage = |k: &str| s["stage_s"][k].as_f64().unwrap_or(f64::NAN);
    let total = stage("encrypt") + stage("run") + stage("decrypt");
    let proba = s["predict_proba_execute_s_median"]
        .as_f64()
        .unwrap_or(f64::NAN);
    println!(
        "| same, Concrete ML {} circuit: encrypt {} + run {} + decrypt {}; {} B up, {} B down (51 runs); predict_proba(fhe=\"execute\") {} | {} | {} |",
        s["concrete_ml_version"].as_str().unwrap_or("?"),
        ms(stage("encrypt")),
        ms(stage("run")),
        ms(stage("decrypt")),
        s["size_of_inputs"],
        s["size_of_outputs"],
        ms(proba),
        ms(total),
        s["programmable_bootstrap_count"]
    );
    println!(
        "| ratio (Concrete ML circuit / swarm) | {:.1}× faster | — |",
        total / ours.total
    );
    Ok(())
}
