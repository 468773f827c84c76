//! Secure sums for federated learning: each client encodes its update in fixed point
//! ([`FixedPoint::encode`]: clip, weight, scale, round to 32-bit integers) and encrypts
//! it; the server adds the clients' vectors coordinate by coordinate with multi-operand
//! sums on ciphertexts and decrypts only the sums; [`FixedPoint::decode`] turns them into
//! the example-weighted mean.
//!
//! Weighting as Flower's SecAgg+ does it: a client scales its update by
//! `ratio = min(num_examples, max_weight) / max_weight` and appends the ratio itself as a
//! last coordinate, so the sums give `Σ ratioᵢ·wᵢ` and `Σ ratioᵢ`, and no single
//! client's example count is revealed either.

use tfhe::{CompactCiphertextList, FheInt32};

use super::FheError;
use super::holder::KeyHolder;
use super::progress::Progress;
use super::wire::expand;

/// Most coordinates in one secure sum (values per client list, weight included).
pub const MAX_VALUES: usize = 4_096;

/// The fixed-point encoding every client of a round uses.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedPoint {
    /// Each parameter is clipped to `[-clip, clip]` before encoding (default 4).
    #[serde(default = "default_clip")]
    pub clip: f32,
    /// Values are scaled by `2^scale_bits` and rounded (default 16: steps of ~1.5e-5).
    #[serde(default = "default_scale_bits")]
    pub scale_bits: u8,
    /// Example counts at or above this weigh fully (default 1000).
    #[serde(default = "default_max_weight")]
    pub max_weight: u64,
}

fn default_clip() -> f32 {
    4.0
}
fn default_scale_bits() -> u8 {
    16
}
fn default_max_weight() -> u64 {
    1_000
}

impl Default for FixedPoint {
    fn default() -> Self {
        Self {
            clip: default_clip(),
            scale_bits: default_scale_bits(),
            max_weight: default_max_weight(),
        }
    }
}

impl FixedPoint {
    fn scale(&self) -> f64 {
        f64::from(1u32 << self.scale_bits.min(30))
    }

    /// Most clients whose sums cannot overflow 32-bit signed integers.
    pub fn max_clients(&self) -> u64 {
        let per_client = (f64::from(self.clip) * self.scale()).max(self.scale()) + 0.5;
        (f64::from(i32::MAX) / per_client).floor() as u64
    }

    /// Whether the encoding is usable by at least two clients.
    pub fn validate(&self) -> Result<(), FheError> {
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(FheError::Invalid("`clip` must be a positive number".into()));
        }
        if !(1..=24).contains(&self.scale_bits) {
            return Err(FheError::Invalid(
                "`scale_bits` must be between 1 and 24".into(),
            ));
        }
        if self.max_weight == 0 {
            return Err(FheError::Invalid("`max_weight` must be at least 1".into()));
        }
        if self.max_clients() < 2 {
            return Err(FheError::Invalid(format!(
                "clip {} at 2^{} leaves no room to add two clients in 32 bits",
                self.clip, self.scale_bits
            )));
        }
        Ok(())
    }

    /// A client's update as the integers it encrypts: its weighted, clipped, scaled
    /// parameters, then its weight.
    pub fn encode(&self, weights: &[f32], num_examples: u64) -> Result<Vec<i32>, FheError> {
        self.validate()?;
        if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
            return Err(FheError::Invalid(format!(
                "parameter {i} is not a finite number"
            )));
        }
        let ratio = num_examples.min(self.max_weight) as f64 / self.max_weight as f64;
        let (clip, scale) = (f64::from(self.clip), self.scale());
        // |value| ≤ clip·scale + 0.5 < i32::MAX, as validate checked.
        let fixed = |v: f64| (v * scale).round() as i32;
        let mut out: Vec<i32> = weights
            .iter()
            .map(|&w| fixed(ratio * f64::from(w).clamp(-clip, clip)))
            .collect();
        out.push(fixed(ratio));
        Ok(out)
    }

    /// The weighted mean from the decrypted sums (parameters, then total weight).
    pub fn decode(&self, sums: &[i32]) -> Result<Vec<f32>, FheError> {
        let (weight, params) = sums
            .split_last()
            .ok_or_else(|| FheError::Invalid("no sums".into()))?;
        if *weight <= 0 {
            return Err(FheError::Invalid(
                "the clients' total weight is zero (no examples)".into(),
            ));
        }
        let weight = f64::from(*weight);
        Ok(params
            .iter()
            .map(|&s| (f64::from(s) / weight) as f32)
            .collect())
    }
}

/// A finished secure sum: what the key holder decrypted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SumOutcome {
    /// Per coordinate, the sum over clients.
    pub sums: Vec<i32>,
    /// Lists summed.
    pub clients: usize,
}

/// The ciphertext operations a sum of `clients` lists of `values` values takes: one
/// expansion per list, one multi-operand sum per coordinate.
pub fn operations(clients: usize, values: usize) -> u64 {
    (clients + values) as u64
}

/// Per coordinate, the multi-operand sum over `vectors` (each of `values` values).
pub fn sum(
    vectors: &[Vec<FheInt32>],
    values: usize,
    progress: &Progress,
) -> Result<Vec<FheInt32>, FheError> {
    (0..values)
        .map(|j| {
            progress.step()?;
            Ok(vectors.iter().filter_map(|v| v.get(j)).sum())
        })
        .collect()
}

/// Expands `lists` (each `values` 32-bit signed values), sums them and has `holder`
/// decrypt only the sums. Needs at least two lists: a sum of one reveals it. The server
/// key must be set on this thread.
pub fn run(
    lists: &[CompactCiphertextList],
    values: usize,
    holder: &KeyHolder,
    progress: &Progress,
) -> Result<SumOutcome, FheError> {
    if lists.len() < 2 {
        return Err(FheError::Invalid(
            "a secure sum needs at least two clients (a sum of one reveals it)".into(),
        ));
    }
    let mut vectors = Vec::with_capacity(lists.len());
    for (i, list) in lists.iter().enumerate() {
        progress.step()?;
        let v: Vec<FheInt32> =
            expand(list).map_err(|e| FheError::Ciphertext(format!("list {i}: {e}")))?;
        vectors.push(v);
    }
    let sums = sum(&vectors, values, progress)?;
    Ok(SumOutcome {
        sums: holder.reveal_i32(&sums),
        clients: lists.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn encoding_clips_weights_scales_and_appends_the_weight() {
        let fp = FixedPoint {
            clip: 2.0,
            scale_bits: 4,
            max_weight: 100,
        };
        // ratio 50/100: 0.5·[1, -3→-2, 0.3] · 16 = [8, -16, 2.4→2], weight 0.5·16 = 8.
        assert_eq!(
            fp.encode(&[1.0, -3.0, 0.3], 50).unwrap(),
            vec![8, -16, 2, 8]
        );
        // Example counts over max_weight weigh fully.
        assert_eq!(fp.encode(&[1.0], 1_000).unwrap(), vec![16, 16]);
        assert!(fp.encode(&[f32::NAN], 1).is_err());
    }

    #[test]
    fn decoding_gives_the_weighted_mean_within_the_rounding_bound() {
        let fp = FixedPoint::default();
        let updates: [(&[f32], u64); 3] = [
            (&[0.25, -1.5, 3.0], 100),
            (&[0.5, 2.0, -0.125], 300),
            (&[-1.0, 9.0, 1.0], 600),
        ];
        let mut sums = vec![0i32; 4];
        for (w, n) in updates {
            for (s, q) in sums.iter_mut().zip(fp.encode(w, n).unwrap()) {
                *s += q;
            }
        }
        let mean = fp.decode(&sums).unwrap();
        // Reference in f64: Σ nᵢ·clip(wᵢ) / Σ nᵢ (9.0 clipped to 4).
        let reference = |j: usize| {
            let num: f64 = updates
                .iter()
                .map(|(w, n)| *n as f64 * f64::from(w[j]).clamp(-4.0, 4.0))
                .sum();
            num / 1_000.0
        };
        // Each of 3 encoded values is within 1/2^17 of exact, numerator and weight alike:
        // |error| ≤ 3/2^17 · (1 + clip) / Σ ratio (= 1 here) ≈ 1.1e-4.
        let bound = 3.0 / 131_072.0 * 5.0;
        for (j, m) in mean.iter().enumerate() {
            assert!(
                (f64::from(*m) - reference(j)).abs() <= bound,
                "{j}: {m} vs {}",
                reference(j)
            );
        }
    }

    #[test]
    fn encodings_that_cannot_add_two_clients_are_refused() {
        let ok = FixedPoint::default();
        assert!(ok.validate().is_ok());
        // 4·2^16 per client: 8191 clients fit in 31 bits.
        assert_eq!(ok.max_clients(), 8_191);
        let wide = FixedPoint { clip: 1e9, ..ok };
        assert!(wide.validate().is_err());
        assert!(
            FixedPoint {
                scale_bits: 0,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            FixedPoint {
                max_weight: 0,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(ok.decode(&[5, 0]).is_err(), "zero total weight");
    }
}
