//! Encrypted linear scoring against Concrete ML itself: the quantised model fitted here
//! from the float model equals the one Concrete ML 1.9 built (its integers, dumped by
//! benches/peers/concrete_ml_score.py into tests/data), every test sample's quantised
//! features and accumulator are Concrete ML's, the encrypted computation decrypts to
//! exactly that accumulator, and the quantised scores stay within the error bound derived
//! from the quantisers' step sizes.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;
use swarm_actors::fhe::core::linear::{FloatModel, ModelKind, QuantisedLinear, sigmoid};
use swarm_actors::fhe::core::lwe_score::{self, ScoringKey};

fn fixture() -> Value {
    serde_json::from_str(include_str!("../data/concrete_ml_lr_breast_cancer8.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

pub(crate) fn model(f: &Value) -> FloatModel {
    FloatModel {
        kind: ModelKind::Logistic,
        weights: floats(&f["float_model"]["weights"]),
        bias: f["float_model"]["bias"].as_f64().unwrap(),
        input_range: [
            f["input_quantizer"]["rmin"].as_f64().unwrap(),
            f["input_quantizer"]["rmax"].as_f64().unwrap(),
        ],
        n_bits: 8,
        description: None,
    }
}

/// Equal within 2 units in the last place: serde_json (without `float_roundtrip`) may read
/// a decimal 1 ulp off the value Python wrote, and scales inherit that.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2.0 * f64::EPSILON * a.abs().max(b.abs())
}

#[test]
fn the_quantised_model_is_concrete_mls_to_the_last_integer() {
    let f = fixture();
    let q = QuantisedLinear::fit(&model(&f)).unwrap();
    assert!(close(
        q.input.scale,
        f["input_quantizer"]["scale"].as_f64().unwrap()
    ));
    assert_eq!(
        q.input.zero_point,
        f["input_quantizer"]["zero_point"].as_i64().unwrap()
    );
    assert!(close(
        q.weight.scale,
        f["weight_quantizer"]["scale"].as_f64().unwrap()
    ));
    assert_eq!(
        q.weight.zero_point,
        f["weight_quantizer"]["zero_point"].as_i64().unwrap()
    );
    let q_weights: Vec<i64> = serde_json::from_value(f["q_weights"].clone()).unwrap();
    assert_eq!(q.q_weights, q_weights);
    assert_eq!(q.q_bias, f["q_bias"].as_i64().unwrap());
    assert_eq!(q.zero_point, f["output"]["zero_point_2Z"].as_i64().unwrap());
    assert!(close(q.scale, f["output"]["scale"].as_f64().unwrap()));

    let card = q.card();
    let test = &f["test"];
    let xs: Vec<Vec<f64>> = serde_json::from_value(test["x"].clone()).unwrap();
    let q_xs: Vec<Vec<i64>> = serde_json::from_value(test["q_x"].clone()).unwrap();
    let accs: Vec<i64> = serde_json::from_value(test["acc"].clone()).unwrap();
    let p_quant = floats(&test["p1_quant_disable"]);
    let weights = floats(&f["float_model"]["weights"]);
    let bias = f["float_model"]["bias"].as_f64().unwrap();
    let [rmin, rmax] = model(&f).input_range;
    let (mut within, mut agree) = (0, 0);
    for (i, x) in xs.iter().enumerate() {
        let q_x = card.quantise(x);
        assert_eq!(q_x, q_xs[i], "sample {i}: Concrete ML's quantised features");
        let acc = q.accumulate(&q_x);
        assert_eq!(acc, accs[i], "sample {i}: Concrete ML's accumulator");
        let score = card.score(acc);
        assert!((sigmoid(score) - p_quant[i]).abs() <= 1e-12, "sample {i}");
        // Against the float model: each feature in the calibration range is within half
        // an input step of what its integer stands for, each weight within half a weight
        // step, the bias within half a score step, so
        // |w·x + b − score| ≤ Σ|wⱼ|·s_x/2 + s_w/2·Σ|x̂ⱼ| + S/2 (and σ is ¼-Lipschitz).
        let float_score: f64 = weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>() + bias;
        if x.iter().all(|v| (rmin..=rmax).contains(v)) {
            within += 1;
            let x_hat: f64 = q_x.iter().map(|&v| q.input.dequantise(v).abs()).sum();
            let bound = weights.iter().map(|w| w.abs()).sum::<f64>() * q.input.scale / 2.0
                + q.weight.scale / 2.0 * x_hat
                + q.scale / 2.0;
            assert!(
                (float_score - score).abs() <= bound,
                "sample {i}: {float_score} vs {score}, bound {bound}"
            );
            assert!((sigmoid(float_score) - sigmoid(score)).abs() <= bound / 4.0);
        }
        if (float_score > 0.0) == (score > 0.0) {
            agree += 1;
        }
    }
    println!(
        "{within} of {} test samples inside the calibration range; {agree} same class",
        xs.len()
    );
    assert!(within >= xs.len() * 9 / 10);
    assert_eq!(
        agree,
        xs.len(),
        "the quantised model classifies every test sample as the float one"
    );
}

#[test]
fn encrypted_scores_decrypt_to_the_clear_accumulator_for_every_sample() {
    let f = fixture();
    let q = QuantisedLinear::fit(&model(&f)).unwrap();
    let weights = q.centred_weights();
    lwe_score::check_weights(&weights).unwrap();
    let key = ScoringKey::from_bytes(&ScoringKey::generate().to_bytes().unwrap()).unwrap();
    let q_xs: Vec<Vec<i64>> = serde_json::from_value(f["test"]["q_x"].clone()).unwrap();
    for (i, q_x) in q_xs.iter().enumerate() {
        let request = key.encrypt(q_x).unwrap();
        // A seed and one 64-bit body per feature: 8 + 16 + 8·8 bytes, tag included.
        assert_eq!(request.len(), 24 + 8 * q_x.len());
        let response = lwe_score::score(&weights, q.q_bias, &request).unwrap();
        assert_eq!(
            key.decrypt(&response).unwrap(),
            q.accumulate(q_x),
            "sample {i}"
        );
    }
    // Negative accumulators and the extremes of the plaintext range decrypt too.
    for (w, x, b) in [
        (vec![-3], vec![100], 0),
        (vec![1], vec![8_388_607 - 5], 5),
        (vec![1], vec![-8_388_607], 0),
    ] {
        let r = lwe_score::score(&w, b, &key.encrypt(&x).unwrap()).unwrap();
        assert_eq!(key.decrypt(&r).unwrap(), w[0] * x[0] + b);
    }
    // Another key reads noise, not the score.
    let other = ScoringKey::generate();
    let r = lwe_score::score(&weights, q.q_bias, &key.encrypt(&q_xs[0]).unwrap()).unwrap();
    assert_ne!(other.decrypt(&r).unwrap(), q.accumulate(&q_xs[0]));
}

#[test]
fn malformed_scoring_requests_are_refused_with_a_reason() {
    let key = ScoringKey::generate();
    let good = key.encrypt(&[1, 2, 3]).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"nope".to_vec(), "too short"),
        (good[..good.len() - 1].to_vec(), "bytes, expected"),
        ([b"xxxx".as_slice(), &good[4..]].concat(), "no `swl1` tag"),
    ];
    for (bytes, says) in cases {
        let e = lwe_score::score(&[1, 1, 1], 0, &bytes)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "`{e}` lacks `{says}`");
    }
    let e = lwe_score::score(&[1, 1], 0, &good).unwrap_err().to_string();
    assert!(e.contains("3 encrypted features, the model has 2"), "{e}");
    assert!(key.encrypt(&[1 << 23]).is_err());
    assert!(lwe_score::check_weights(&[1 << 22]).is_err());
    assert!(ScoringKey::from_bytes(b"garbage").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_over_http_reveals_the_score_only_to_the_key_owner() {
    use reqwest::StatusCode;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lr.json");
    let f = fixture();
    let m = model(&f);
    std::fs::write(
        &file,
        serde_json::json!({
            "kind": "logistic", "weights": m.weights, "bias": m.bias,
            "input_range": m.input_range, "n_bits": 8,
        })
        .to_string(),
    )
    .unwrap();
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params:\n      keys: {}\n      threads: 1\n      models:\n        cancer: {}\n",
        crate::common::fhe_keys::dir().display(),
        file.display()
    );
    let (swarm, url) = crate::common::start(&yaml).await;
    let c = crate::common::http();
    let listed: Value = c
        .get(format!("{url}/v1/fhe/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let card: swarm_actors::fhe::core::linear::ModelCard =
        serde_json::from_value(listed["models"]["cancer"].clone()).unwrap();
    assert_eq!(card.features, 8);
    assert!(
        listed["models"]["cancer"].get("q_weights").is_none(),
        "weights stay private"
    );

    let key = ScoringKey::generate();
    let xs: Vec<Vec<f64>> = serde_json::from_value(f["test"]["x"].clone()).unwrap();
    let accs: Vec<i64> = serde_json::from_value(f["test"]["acc"].clone()).unwrap();
    let p_quant = floats(&f["test"]["p1_quant_disable"]);
    for i in [0, 1, 70, 142] {
        let sample = key.encrypt(&card.quantise(&xs[i])).unwrap();
        let r = c
            .post(format!("{url}/v1/fhe/models/cancer/score"))
            .header("content-type", "application/octet-stream")
            .body(sample)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let acc = key.decrypt(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(acc, accs[i], "sample {i}");
        assert!((sigmoid(card.score(acc)) - p_quant[i]).abs() <= 1e-12);
    }
    let r = c
        .post(format!("{url}/v1/fhe/models/cancer/score"))
        .body(key.encrypt(&[1, 2, 3]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 encrypted features"),
        "{v}"
    );
    let r = c
        .post(format!("{url}/v1/fhe/models/nope/score"))
        .body(key.encrypt(&[1]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .get(format!("{url}/v1/fhe/models/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    swarm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_makes_a_key_encrypts_a_sample_and_reads_its_score() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    const SWARM: &str = env!("CARGO_BIN_EXE_swarm");
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let m = model(&f);
    let file = dir.path().join("lr.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "kind": "logistic", "weights": m.weights, "bias": m.bias,
            "input_range": m.input_range,
        })
        .to_string(),
    )
    .unwrap();
    let yaml = format!(
        "gateway:\n  listen: 127.0.0.1:0\nservices:\n  fhe:\n    type: fhe\n    params:\n      keys: {}\n      threads: 1\n      models: {{ cancer: {} }}\n",
        crate::common::fhe_keys::dir().display(),
        file.display()
    );
    let (swarm, url) = crate::common::start(&yaml).await;
    let c = crate::common::http();
    let card = c
        .get(format!("{url}/v1/fhe/models/cancer"))
        .send()
        .await
        .unwrap();
    let card_file = dir.path().join("card.json");
    std::fs::write(&card_file, card.bytes().await.unwrap()).unwrap();

    let key = dir.path().join("score.key");
    let made = Command::new(SWARM)
        .args(["fhe", "score-key", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = Command::new(SWARM)
        .args(["fhe", "score-key", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success(), "an existing key is never replaced");

    let xs: Vec<Vec<f64>> = serde_json::from_value(f["test"]["x"].clone()).unwrap();
    let features: Vec<String> = xs[3].iter().map(|v| format!("{v:?}")).collect();
    let sample = Command::new(SWARM)
        .args(["fhe", "score-encrypt", "--key"])
        .arg(&key)
        .arg("--card")
        .arg(&card_file)
        .arg(format!("--features={}", features.join(",")))
        .output()
        .unwrap();
    assert!(
        sample.status.success(),
        "{}",
        String::from_utf8_lossy(&sample.stderr)
    );
    let answer = c
        .post(format!("{url}/v1/fhe/models/cancer/score"))
        .body(sample.stdout)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut read = Command::new(SWARM)
        .args(["fhe", "score-decrypt", "--key"])
        .arg(&key)
        .arg("--card")
        .arg(&card_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    read.stdin.take().unwrap().write_all(&answer).unwrap();
    let out = read.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accumulator"], f["test"]["acc"][3]);
    let p = v["probability"].as_f64().unwrap();
    assert!((p - f["test"]["p1_quant_disable"][3].as_f64().unwrap()).abs() <= 1e-12);
    swarm.shutdown().await;
}
