//! Quantised linear and logistic-regression models with Concrete ML's post-training
//! quantisation, in integers (no ciphertexts here): per-tensor uniform quantisers for the
//! inputs and the weights, the bias folded into one integer, and the integer accumulator
//! the server computes. Rounding is half to even, as numpy's `rint`, so every quantity
//! equals Concrete ML's (checked against its own output in the tests).
//!
//! Formulas (n = `n_bits`, offset 2^(n-1)):
//! - quantiser over `[rmin, rmax]`: `scale = (rmax - rmin) / (2^n - 1)`,
//!   `zp = rint((rmax·(-offset) - rmin·(2^n - 1 - offset)) / (rmax - rmin))`,
//!   `q(v) = clip(rint(v / scale + zp), -offset, 2^n - 1 - offset)`;
//! - `S = s_x·s_w`, `Z = zp_x·Σⱼ(q_wⱼ - zp_w)`, `q_bias = rint(b / S + Z)`;
//! - accumulator (under FHE): `acc = Σⱼ q_xⱼ·(q_wⱼ - zp_w) + q_bias`;
//! - score (client, after decryption): `S·(acc - 2Z)`; probability `σ(score)`.

use super::FheError;

/// Most features a model may have.
pub const MAX_FEATURES: usize = 1_024;

/// What the score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The score is the prediction.
    Linear,
    /// The score is a logit; `σ(score)` is the probability of class 1.
    Logistic,
}

/// A model as trained, in floats (the file the `fhe` service's `models` param names).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatModel {
    /// Linear or logistic.
    pub kind: ModelKind,
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// The intercept.
    pub bias: f64,
    /// The smallest and largest input value seen in training (the calibration range;
    /// one range for all features, as Concrete ML's per-tensor quantiser).
    pub input_range: [f64; 2],
    /// Bits of the quantised inputs and weights (Concrete ML's default: 8).
    #[serde(default = "eight")]
    pub n_bits: u8,
    /// What the model is and how its inputs were prepared (for people; not used).
    #[serde(default)]
    pub description: Option<String>,
}

fn eight() -> u8 {
    8
}

/// A uniform, signed, per-tensor quantiser.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quantiser {
    /// Bits.
    pub n_bits: u8,
    /// Value per step.
    pub scale: f64,
    /// The integer that stands for 0.
    pub zero_point: i64,
}

impl Quantiser {
    /// Concrete ML's quantiser over `[rmin, rmax]`.
    pub fn fit(rmin: f64, rmax: f64, n_bits: u8) -> Result<Self, FheError> {
        if !(2..=16).contains(&n_bits) {
            return Err(FheError::Invalid(
                "`n_bits` must be between 2 and 16".into(),
            ));
        }
        if !(rmin.is_finite() && rmax.is_finite()) || rmin > rmax {
            return Err(FheError::Invalid(format!(
                "range [{rmin}, {rmax}] is not a finite interval"
            )));
        }
        let levels = f64::from((1u32 << n_bits) - 1);
        let offset = f64::from(1u32 << (n_bits - 1));
        if rmax - rmin < 1e-6 {
            // Concrete ML's degenerate case: a constant tensor (offset 0).
            let (scale, zero_point) = if rmax.abs() < 1e-6 {
                (1.0, (-rmin).round_ties_even() as i64)
            } else {
                (rmax, 0)
            };
            return Ok(Self {
                n_bits,
                scale,
                zero_point,
            });
        }
        let scale = (rmax - rmin) / levels;
        let zero_point =
            ((rmax * -offset - rmin * (levels - offset)) / (rmax - rmin)).round_ties_even() as i64;
        Ok(Self {
            n_bits,
            scale,
            zero_point,
        })
    }

    /// The integer for `v` (clipped to the signed n-bit range).
    pub fn quantise(&self, v: f64) -> i64 {
        let offset = 1i64 << (self.n_bits - 1);
        let q = (v / self.scale + self.zero_point as f64).round_ties_even();
        (q as i64).clamp(-offset, offset - 1)
    }

    /// The value `q` stands for.
    pub fn dequantise(&self, q: i64) -> f64 {
        self.scale * (q - self.zero_point) as f64
    }
}

/// A model in integers: what the server computes with, and what a client needs to
/// quantise its features and read its score.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantisedLinear {
    /// Linear or logistic.
    pub kind: ModelKind,
    /// The inputs' quantiser (public: clients quantise with it).
    pub input: Quantiser,
    /// The weights' quantiser.
    pub weight: Quantiser,
    /// Quantised weights.
    pub q_weights: Vec<i64>,
    /// The bias with the inputs' zero point folded in.
    pub q_bias: i64,
    /// `S = s_x·s_w`: the score per accumulator step.
    pub scale: f64,
    /// `2Z`: the accumulator value of a zero score (less the bias).
    pub zero_point: i64,
}

/// What a client needs of a model (the weights stay with the server).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    /// Linear or logistic.
    pub kind: ModelKind,
    /// Features per sample.
    pub features: usize,
    /// Quantise each feature with this before encrypting.
    pub input: Quantiser,
    /// The score is `scale·(acc - zero_point)` of the decrypted accumulator.
    pub output: OutputCard,
}

impl ModelCard {
    /// A sample's features as the integers to encrypt.
    pub fn quantise(&self, features: &[f64]) -> Vec<i64> {
        features.iter().map(|&v| self.input.quantise(v)).collect()
    }

    /// The score a decrypted accumulator stands for (a logit for logistic models).
    pub fn score(&self, acc: i64) -> f64 {
        self.output.scale * (acc - self.output.zero_point) as f64
    }
}

/// How to read the decrypted accumulator.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputCard {
    /// Score per accumulator step.
    pub scale: f64,
    /// Accumulator value of a zero score.
    pub zero_point: i64,
}

impl QuantisedLinear {
    /// Quantises `model` as Concrete ML's post-training quantisation does.
    pub fn fit(model: &FloatModel) -> Result<Self, FheError> {
        let d = model.weights.len();
        if d == 0 || d > MAX_FEATURES {
            return Err(FheError::Invalid(format!(
                "a model has 1 to {MAX_FEATURES} weights, this one {d}"
            )));
        }
        if !model.bias.is_finite() || model.weights.iter().any(|w| !w.is_finite()) {
            return Err(FheError::Invalid("weights and bias must be finite".into()));
        }
        let [rmin, rmax] = model.input_range;
        let input = Quantiser::fit(rmin, rmax, model.n_bits)?;
        let wmin = model.weights.iter().copied().fold(f64::INFINITY, f64::min);
        let wmax = model
            .weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let weight = Quantiser::fit(wmin, wmax, model.n_bits)?;
        let q_weights: Vec<i64> = model.weights.iter().map(|&w| weight.quantise(w)).collect();
        let scale = input.scale * weight.scale;
        let centred: i64 = q_weights.iter().map(|q| q - weight.zero_point).sum();
        let z = input.zero_point * centred;
        let q_bias = (model.bias / scale + z as f64).round_ties_even() as i64;
        let fitted = Self {
            kind: model.kind,
            input,
            weight,
            q_weights,
            q_bias,
            scale,
            zero_point: 2 * z,
        };
        fitted.check_range()?;
        Ok(fitted)
    }

    /// The accumulator must stay within ±2^23 for every input (the encrypted score's
    /// plaintext space): `Σ 2^(n-1)·|q_w - zp_w| + |q_bias|` bounds it.
    fn check_range(&self) -> Result<(), FheError> {
        let offset = 1i64 << (self.input.n_bits - 1);
        let bound: i64 = self
            .centred_weights()
            .iter()
            .map(|w| offset * w.abs())
            .sum::<i64>()
            + self.q_bias.abs();
        if bound >= ACC_LIMIT {
            return Err(FheError::Invalid(format!(
                "the accumulator could reach {bound}, over the limit of {ACC_LIMIT}: use fewer bits or features"
            )));
        }
        Ok(())
    }

    /// `q_wⱼ - zp_w`: the clear integers the encrypted features are multiplied by.
    pub fn centred_weights(&self) -> Vec<i64> {
        self.q_weights
            .iter()
            .map(|q| q - self.weight.zero_point)
            .collect()
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.q_weights.len()
    }

    /// The accumulator of quantised features, in the clear (the reference the encrypted
    /// computation must equal).
    pub fn accumulate(&self, q_x: &[i64]) -> i64 {
        q_x.iter()
            .zip(self.centred_weights())
            .map(|(x, w)| x * w)
            .sum::<i64>()
            + self.q_bias
    }

    /// The score a decrypted accumulator stands for.
    pub fn score(&self, acc: i64) -> f64 {
        self.scale * (acc - self.zero_point) as f64
    }

    /// What a client needs: quantiser and output scale.
    pub fn card(&self) -> ModelCard {
        ModelCard {
            kind: self.kind,
            features: self.features(),
            input: self.input,
            output: OutputCard {
                scale: self.scale,
                zero_point: self.zero_point,
            },
        }
    }
}

/// The accumulator's limit: the encrypted score carries 24-bit signed integers.
pub const ACC_LIMIT: i64 = 1 << 23;

/// `σ(s)` as Concrete ML computes it (`exp(-logaddexp(0, -s))`).
pub fn sigmoid(s: f64) -> f64 {
    let t = -s;
    let logaddexp = t.max(0.0) + (-(t.abs())).exp().ln_1p();
    (-logaddexp).exp()
}
