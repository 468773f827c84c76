//! Metrics and the SIMD kernels behind them. The graph only compares distances, so each
//! metric hands it a non-negative value (hnsw_rs's convention, kept so hnsw_rs can search
//! our dumps) that orders points the same way as the metric's
//! score; scores reported to callers are recomputed exactly from the stored vectors.

use hnsw_rs::anndists::dist::Distance;
use pulp::{Arch, Simd, WithSimd};
use serde::{Deserialize, Serialize};

/// How points are compared, in Qdrant's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Cosine similarity; vectors are normalised on the way in, score in [-1, 1], higher is closer.
    Cosine,
    /// Dot product of the vectors as given; higher is closer.
    Dot,
    /// Euclidean distance; lower is closer.
    Euclid,
}

impl Metric {
    /// Parses Qdrant's names (`Cosine`, `Dot`, `Euclid`), any case, plus `euclidean`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cosine" => Some(Self::Cosine),
            "dot" => Some(Self::Dot),
            "euclid" | "euclidean" => Some(Self::Euclid),
            _ => None,
        }
    }

    /// The score callers see for stored vector `v` against query `q` (both already prepared).
    pub fn score(self, arch: Arch, q: &[f32], v: &[f32]) -> f32 {
        match self {
            Self::Cosine | Self::Dot => dot(arch, q, v),
            Self::Euclid => l2_squared(arch, q, v).sqrt(),
        }
    }

    /// Whether `a` is a better score than `b`.
    pub fn better(self, a: f32, b: f32) -> bool {
        match self {
            Self::Cosine | Self::Dot => a > b,
            Self::Euclid => a < b,
        }
    }

    /// A total order of scores, best first (`Less` when `a` is better), NaN last.
    pub fn order(self, a: f32, b: f32) -> std::cmp::Ordering {
        match self {
            Self::Cosine | Self::Dot => b.total_cmp(&a),
            Self::Euclid => a.total_cmp(&b),
        }
    }

    /// Whether `score` passes Qdrant's `score_threshold` (a floor for similarities, a
    /// ceiling for Euclidean distance).
    pub fn passes(self, score: f32, threshold: f32) -> bool {
        match self {
            Self::Cosine | Self::Dot => score >= threshold,
            Self::Euclid => score <= threshold,
        }
    }
}

/// The distance the graph walks by: one type for all metrics, so an hnsw_rs dump reloads
/// with the metric chosen at run time (`load_hnsw_with_dist`).
#[derive(Debug, Clone, Copy)]
pub struct GraphDistance {
    metric: Metric,
    arch: Arch,
}

impl GraphDistance {
    /// The graph distance for `metric`, with the best SIMD level this CPU has.
    pub fn new(metric: Metric) -> Self {
        Self {
            metric,
            arch: Arch::new(),
        }
    }
}

impl Distance<f32> for GraphDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.metric {
            // Unit vectors: rounding can push 1 - a·a just below zero, and hnsw_rs asserts >= 0.
            Metric::Cosine => (1.0 - dot(self.arch, a, b)).max(0.0),
            Metric::Dot => order_preserving(dot(self.arch, a, b)),
            Metric::Euclid => l2_squared(self.arch, a, b),
        }
    }
}

/// A positive value that decreases as `d` grows, over all of f32: graph distances are
/// >= 0, and a raw inner product can be any sign.
fn order_preserving(d: f32) -> f32 {
    if d >= 0.0 { 1.0 / (1.0 + d) } else { 1.0 - d }
}

/// Dot product, vectorised for the CPU at hand.
pub fn dot(arch: Arch, a: &[f32], b: &[f32]) -> f32 {
    arch.dispatch(Kernel { a, b, op: Op::Dot })
}

/// Squared Euclidean distance, vectorised for the CPU at hand.
pub fn l2_squared(arch: Arch, a: &[f32], b: &[f32]) -> f32 {
    arch.dispatch(Kernel {
        a,
        b,
        op: Op::L2Squared,
    })
}

/// Scales `v` to unit length in place; false when it has no direction (all zeros).
pub fn normalise(arch: Arch, v: &mut [f32]) -> bool {
    let norm = dot(arch, v, v).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

#[derive(Clone, Copy)]
enum Op {
    Dot,
    L2Squared,
}

struct Kernel<'a> {
    a: &'a [f32],
    b: &'a [f32],
    op: Op,
}

impl WithSimd for Kernel<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let n = self.a.len().min(self.b.len());
        let (a_head, a_tail) = S::as_simd_f32s(&self.a[..n]);
        let (b_head, _) = S::as_simd_f32s(&self.b[..n]);
        let b_tail = &self.b[n - a_tail.len()..n];
        // Four independent accumulators hide the FMA latency.
        let mut acc = [simd.splat_f32s(0.0); 4];
        let mut chunks_a = a_head.chunks_exact(4);
        let mut chunks_b = b_head.chunks_exact(4);
        for (ca, cb) in (&mut chunks_a).zip(&mut chunks_b) {
            for i in 0..4 {
                acc[i] = step(simd, self.op, ca[i], cb[i], acc[i]);
            }
        }
        for (&x, &y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
            acc[0] = step(simd, self.op, x, y, acc[0]);
        }
        let sum = simd.add_f32s(simd.add_f32s(acc[0], acc[1]), simd.add_f32s(acc[2], acc[3]));
        let mut total = simd.reduce_sum_f32s(sum);
        for (&x, &y) in a_tail.iter().zip(b_tail) {
            total += match self.op {
                Op::Dot => x * y,
                Op::L2Squared => (x - y) * (x - y),
            };
        }
        total
    }
}

#[inline(always)]
fn step<S: Simd>(simd: S, op: Op, x: S::f32s, y: S::f32s, acc: S::f32s) -> S::f32s {
    match op {
        Op::Dot => simd.mul_add_e_f32s(x, y, acc),
        Op::L2Squared => {
            let d = simd.sub_f32s(x, y);
            simd.mul_add_e_f32s(d, d, acc)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scalar_dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn kernels_match_scalar_sums_at_every_length() {
        let arch = Arch::new();
        for n in [0usize, 1, 3, 7, 8, 15, 16, 31, 33, 64, 100, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = scalar_dot(&a, &b);
            assert!((dot(arch, &a, &b) - want).abs() < 1e-4, "dot at n={n}");
            let want_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!(
                (l2_squared(arch, &a, &b) - want_l2).abs() < 1e-3,
                "l2 at n={n}"
            );
        }
    }

    #[test]
    fn dot_graph_distance_orders_like_the_inner_product() {
        let values = [-1e6f32, -3.0, -0.5, 0.0, 0.25, 1.0, 40.0, 1e6];
        for w in values.windows(2) {
            assert!(order_preserving(w[0]) > order_preserving(w[1]), "{w:?}");
        }
        assert!(values.iter().all(|&d| order_preserving(d) > 0.0));
    }

    #[test]
    fn cosine_distance_of_a_unit_vector_to_itself_is_never_negative() {
        let arch = Arch::new();
        let mut v: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
        assert!(normalise(arch, &mut v));
        let d = GraphDistance::new(Metric::Cosine).eval(&v, &v);
        assert!((0.0..1e-5).contains(&d));
        assert!(!normalise(arch, &mut [0.0; 4]));
    }
}
