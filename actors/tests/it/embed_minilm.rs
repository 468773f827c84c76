//! all-MiniLM-L6-v2 on candle against reference vectors computed independently (a numpy
//! forward pass, benches/peers/minilm_reference.py): cosine ≥ 0.999 one at a time and in
//! a padded batch; similar sentences score higher than unrelated ones; long texts are
//! truncated at the model's 256-token limit. Needs `make models` (make test runs it).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use swarm_actors::embed::core::{EmbedError, MiniLm};

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
}

/// Loaded once per test binary.
fn model() -> &'static MiniLm {
    static MODEL: OnceLock<MiniLm> = OnceLock::new();
    MODEL.get_or_init(|| MiniLm::load(&model_dir()).unwrap_or_else(|e| panic!("{e}")))
}

struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("../data/minilm_reference.json")).unwrap();
    raw["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Reference {
            text: r["text"].as_str().unwrap().to_string(),
            tokens: r["tokens"].as_u64().unwrap() as usize,
            embedding: r["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn matches_the_independent_reference_one_at_a_time_and_batched() {
    let m = model();
    let refs = references();
    assert_eq!(m.dimension(), 384);
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    let batched = m.embed(&texts).unwrap();
    for (r, b) in refs.iter().zip(&batched) {
        let single = &m.embed(std::slice::from_ref(&r.text)).unwrap()[0];
        assert!(
            cosine(single, &r.embedding) >= 0.999,
            "{:?}: {}",
            r.text,
            cosine(single, &r.embedding)
        );
        assert!(
            cosine(b, &r.embedding) >= 0.999,
            "batched {:?}: {}",
            r.text,
            cosine(b, &r.embedding)
        );
        let norm: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(m.count_tokens(&r.text).unwrap(), r.tokens, "{:?}", r.text);
    }
}

#[test]
fn a_large_mixed_length_batch_answers_each_text_in_its_place() {
    // Three copies of the references in an interleaved order: 21 texts of 2 to 256 tokens,
    // so the batch runs as several length groups whose results must land back in order.
    let refs = references();
    let order: Vec<usize> = (0..3 * refs.len()).map(|i| (i * 5) % refs.len()).collect();
    let texts: Vec<String> = order.iter().map(|&i| refs[i].text.clone()).collect();
    let got = model().embed(&texts).unwrap();
    assert_eq!(got.len(), texts.len());
    for (&i, v) in order.iter().zip(&got) {
        let c = cosine(v, &refs[i].embedding);
        assert!(c >= 0.999, "{:?}: {c}", refs[i].text);
    }
}

#[test]
fn similar_sentences_score_higher_than_unrelated_ones() {
    let v = model()
        .embed(&[
            "The cat sits on the mat.".into(),
            "A kitten is resting on a rug.".into(),
            "Quarterly revenue grew by twelve percent.".into(),
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.3);
    assert!(cosine(&v[1], &v[0]) > cosine(&v[1], &v[2]) + 0.3);
}

#[test]
fn long_texts_are_truncated_at_the_model_limit() {
    let m = model();
    assert_eq!(m.max_tokens(), 256);
    let long = "token ".repeat(1_000);
    assert_eq!(m.count_tokens(&long).unwrap(), 256);
    assert_eq!(m.embed(&[long]).unwrap()[0].len(), 384);
    assert!(m.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_missing_model_says_how_to_fetch_it() {
    let err = MiniLm::load(std::path::Path::new("/nonexistent/minilm"))
        .err()
        .unwrap();
    assert!(matches!(err, EmbedError::Load { .. }));
    assert!(err.to_string().contains("make models"), "{err}");
}
