//! Seeded clustered vectors and an exact f64 nearest-neighbour scan, for vector tests.
#![allow(dead_code, unreachable_pub)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use swarm_actors::vector::core::{CollectionConfig, HnswParams, Metric};

/// `n` points and `q` queries around `clusters` random centres in `dim` dimensions.
pub fn clustered(
    n: usize,
    dim: usize,
    clusters: usize,
    q: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).unwrap();
    let spread = Normal::new(0.0f32, 0.25).unwrap();
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| unit.sample(&mut rng)).collect())
        .collect();
    let mut draw = |i: usize| -> Vec<f32> {
        let c = &centres[i % clusters];
        c.iter().map(|x| x + spread.sample(&mut rng)).collect()
    };
    let data = (0..n).map(&mut draw).collect();
    let queries = (0..q).map(|i| draw(i * 7 + 3)).collect();
    (data, queries)
}

/// Indices of the `k` best points under `metric`, computed in f64, among those passing `keep`.
pub fn brute_force(
    data: &[Vec<f32>],
    q: &[f32],
    metric: Metric,
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let norm = |v: &[f32]| {
        v.iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    };
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum::<f64>()
    };
    let mut scored: Vec<(usize, f64)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| {
            let s = match metric {
                Metric::Cosine => dot(q, v) / (norm(q) * norm(v)),
                Metric::Dot => dot(q, v),
                Metric::Euclid => -v
                    .iter()
                    .zip(q)
                    .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                    .sum::<f64>(),
            };
            (i, s)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().take(k).map(|(i, _)| i).collect()
}

/// A collection config with M 16, ef_construction 100, ef_search 64.
pub fn config(dimension: usize, distance: Metric) -> CollectionConfig {
    CollectionConfig {
        dimension,
        distance,
        hnsw: HnswParams {
            m: 16,
            ef_construction: 100,
            ef_search: 64,
        },
    }
}
