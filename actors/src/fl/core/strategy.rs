//! Strategy parameters, with Flower's defaults, and the dispatch to each formula.

use serde::{Deserialize, Serialize};

use super::fedopt::ServerState;
use super::{FlError, Update, fedopt, robust};
use crate::fhe::core::secure_sum::FixedPoint;

/// Resolved parameters of the FedOpt family (server learning rate `eta`, client rate `eta_l`,
/// moments `beta_1`/`beta_2`, adaptivity `tau`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FedOptParams {
    /// Server-side learning rate.
    pub eta: f64,
    /// Client-side learning rate (informational; clients train).
    pub eta_l: f64,
    /// First-moment decay.
    pub beta_1: f64,
    /// Second-moment decay.
    pub beta_2: f64,
    /// Adaptivity.
    pub tau: f64,
}

/// A strategy and its parameters. JSON: `{"name": "fedadam", "eta": 0.1, …}`; omitted
/// parameters take Flower's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Σ nᵢwᵢ / Σ nᵢ.
    #[serde(rename = "fedavg")]
    FedAvg,
    /// FedAvg plus server momentum (Flower: `server_learning_rate` 1.0, `server_momentum` 0.0).
    #[serde(rename = "fedavgm")]
    FedAvgM {
        /// Server learning rate.
        #[serde(default = "one")]
        server_learning_rate: f64,
        /// Server momentum.
        #[serde(default)]
        server_momentum: f64,
    },
    /// FedAdagrad (defaults η 0.1, η_l 0.1, τ 1e-9).
    #[serde(rename = "fedadagrad")]
    FedAdagrad(FedOptConfig),
    /// FedAdam (defaults η 0.1, η_l 0.1, β₁ 0.9, β₂ 0.99, τ 1e-9), bias-corrected step.
    #[serde(rename = "fedadam")]
    FedAdam(FedOptConfig),
    /// FedYogi (defaults η 0.01, η_l 0.0316, β₁ 0.9, β₂ 0.99, τ 1e-3).
    #[serde(rename = "fedyogi")]
    FedYogi(FedOptConfig),
    /// Coordinate-wise median.
    #[serde(rename = "fedmedian")]
    FedMedian,
    /// Coordinate-wise trimmed mean cutting `int(beta·n)` from each end (default 0.2).
    #[serde(rename = "fedtrimmedavg")]
    FedTrimmedAvg {
        /// Fraction cut from each end.
        #[serde(default = "point_two")]
        beta: f64,
    },
    /// The update with the smallest Krum score.
    Krum {
        /// Assumed malicious clients f.
        #[serde(default)]
        num_malicious: usize,
    },
    /// The example-weighted average of the `to_keep` best Krum scores.
    #[serde(rename = "multikrum")]
    MultiKrum {
        /// Assumed malicious clients f.
        #[serde(default)]
        num_malicious: usize,
        /// Updates kept.
        to_keep: usize,
    },
    /// Bulyan over Krum (needs n ≥ 4f + 3).
    Bulyan {
        /// Assumed malicious clients f.
        #[serde(default)]
        num_malicious: usize,
    },
    /// FedAvg of updates clipped to `clipping_norm` (relative to the current model), plus
    /// Gaussian noise σ = noise_multiplier · clipping_norm / clients.
    #[serde(rename = "dpfedavg_fixed")]
    DpFedAvgFixed {
        /// L2 clipping bound C.
        clipping_norm: f64,
        /// z.
        noise_multiplier: f64,
        /// Seed of the noise (tests); from the OS when absent.
        #[serde(default)]
        seed: Option<u64>,
    },
    /// FedAvg over encrypted updates: clients send fixed-point updates encrypted under
    /// the swarm's FHE public key; the `fhe` service sums them and decrypts only the sums.
    #[serde(rename = "secure_fedavg")]
    SecureFedAvg(FixedPoint),
}

fn one() -> f64 {
    1.0
}

fn point_two() -> f64 {
    0.2
}

/// FedOpt parameters as written; omitted ones take the strategy's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FedOptConfig {
    /// Server-side learning rate.
    pub eta: Option<f64>,
    /// Client-side learning rate.
    pub eta_l: Option<f64>,
    /// First-moment decay.
    pub beta_1: Option<f64>,
    /// Second-moment decay.
    pub beta_2: Option<f64>,
    /// Adaptivity.
    pub tau: Option<f64>,
}

const ADAGRAD: FedOptParams = FedOptParams {
    eta: 1e-1,
    eta_l: 1e-1,
    beta_1: 0.0,
    beta_2: 0.0,
    tau: 1e-9,
};
const ADAM: FedOptParams = FedOptParams {
    eta: 1e-1,
    eta_l: 1e-1,
    beta_1: 0.9,
    beta_2: 0.99,
    tau: 1e-9,
};
const YOGI: FedOptParams = FedOptParams {
    eta: 1e-2,
    eta_l: 0.0316,
    beta_1: 0.9,
    beta_2: 0.99,
    tau: 1e-3,
};

impl FedOptConfig {
    fn resolve(&self, d: FedOptParams) -> FedOptParams {
        FedOptParams {
            eta: self.eta.unwrap_or(d.eta),
            eta_l: self.eta_l.unwrap_or(d.eta_l),
            beta_1: self.beta_1.unwrap_or(d.beta_1),
            beta_2: self.beta_2.unwrap_or(d.beta_2),
            tau: self.tau.unwrap_or(d.tau),
        }
    }
}

impl Strategy {
    /// The FedOpt parameters with defaults filled in, for FedOpt strategies.
    pub fn fedopt(&self) -> Option<FedOptParams> {
        match self {
            Self::FedAdagrad(c) => Some(c.resolve(ADAGRAD)),
            Self::FedAdam(c) => Some(c.resolve(ADAM)),
            Self::FedYogi(c) => Some(c.resolve(YOGI)),
            _ => None,
        }
    }

    /// FedAvg-family strategies accumulate on arrival instead of keeping updates.
    pub fn streams(&self) -> bool {
        matches!(
            self,
            Self::FedAvg
                | Self::FedAvgM { .. }
                | Self::FedAdagrad(_)
                | Self::FedAdam(_)
                | Self::FedYogi(_)
        )
    }

    /// Whether updates arrive encrypted (secure_fedavg).
    pub fn is_secure(&self) -> bool {
        matches!(self, Self::SecureFedAvg(_))
    }

    /// Whether the strategy needs the model from before the round.
    pub fn needs_current_model(&self) -> bool {
        match self {
            Self::FedAvgM {
                server_learning_rate,
                server_momentum,
            } => *server_momentum != 0.0 || *server_learning_rate != 1.0,
            Self::FedAdagrad(_)
            | Self::FedAdam(_)
            | Self::FedYogi(_)
            | Self::DpFedAvgFixed { .. } => true,
            _ => false,
        }
    }

    /// Checks parameters that serde cannot.
    pub fn validate(&self, min_clients: usize) -> Result<(), FlError> {
        let bad = |m: String| Err(FlError::Invalid(m));
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                bad(format!("{name} must be a finite number"))
            }
        };
        match self {
            Self::FedTrimmedAvg { beta } if !(0.0..0.5).contains(beta) => {
                bad("beta must be in [0, 0.5)".into())
            }
            Self::Krum { num_malicious } | Self::MultiKrum { num_malicious, .. }
                if *num_malicious >= min_clients =>
            {
                bad(format!(
                    "num_malicious must be below min_clients ({min_clients}), got {num_malicious}"
                ))
            }
            Self::MultiKrum { to_keep, .. } if *to_keep == 0 || *to_keep > min_clients => bad(
                format!("multikrum needs 1 ≤ to_keep ≤ min_clients ({min_clients})"),
            ),
            Self::Bulyan { num_malicious } => match bulyan_minimum(*num_malicious) {
                Some(needed) if needed <= min_clients => Ok(()),
                Some(needed) => bad(format!(
                    "bulyan with num_malicious {num_malicious} needs min_clients ≥ {needed}"
                )),
                None => bad(format!(
                    "num_malicious {num_malicious} is far beyond any round (bulyan needs 4f + 3 clients)"
                )),
            },
            Self::DpFedAvgFixed {
                clipping_norm,
                noise_multiplier,
                ..
            } => {
                finite("clipping_norm", *clipping_norm)?;
                finite("noise_multiplier", *noise_multiplier)?;
                if *clipping_norm <= 0.0 || *noise_multiplier < 0.0 {
                    return bad("clipping_norm must be > 0 and noise_multiplier ≥ 0".into());
                }
                Ok(())
            }
            Self::SecureFedAvg(encoding) => {
                encoding
                    .validate()
                    .map_err(|e| FlError::Invalid(e.to_string()))?;
                if min_clients < 2 {
                    return bad(
                        "secure_fedavg needs min_clients ≥ 2 (a sum of one reveals it)".into(),
                    );
                }
                let most = encoding.max_clients();
                if min_clients as u64 > most {
                    return bad(format!(
                        "min_clients {min_clients} could overflow the 32-bit sums at this clip and scale (at most {most})"
                    ));
                }
                Ok(())
            }
            Self::FedAvgM {
                server_learning_rate,
                server_momentum,
            } => {
                finite("server_learning_rate", *server_learning_rate)?;
                finite("server_momentum", *server_momentum)
            }
            Self::FedAdagrad(_) | Self::FedAdam(_) | Self::FedYogi(_) => {
                let p = self.fedopt().unwrap_or(ADAM);
                for (n, v) in [
                    ("eta", p.eta),
                    ("eta_l", p.eta_l),
                    ("beta_1", p.beta_1),
                    ("beta_2", p.beta_2),
                    ("tau", p.tau),
                ] {
                    finite(n, v)?;
                }
                // Adam's bias correction divides by 1 − β^t: β = 1 would divide by zero.
                for (n, v) in [("beta_1", p.beta_1), ("beta_2", p.beta_2)] {
                    if !(0.0..1.0).contains(&v) {
                        return bad(format!("{n} must be in [0, 1), got {v}"));
                    }
                }
                for (n, v) in [("eta", p.eta), ("eta_l", p.eta_l), ("tau", p.tau)] {
                    if v <= 0.0 {
                        return bad(format!("{n} must be greater than 0, got {v}"));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Aggregates stored updates (non-streaming strategies) into the new model.
    pub fn aggregate_stored(
        &self,
        updates: &[Update],
        state: &mut ServerState,
    ) -> Result<Vec<f32>, FlError> {
        match self {
            Self::FedMedian => Ok(robust::median(updates)),
            Self::FedTrimmedAvg { beta } => Ok(robust::trimmed_mean(updates, *beta)),
            Self::Krum { num_malicious } => Ok(robust::krum(updates, *num_malicious, 0)),
            Self::MultiKrum {
                num_malicious,
                to_keep,
            } => Ok(robust::krum(updates, *num_malicious, *to_keep)),
            Self::Bulyan { num_malicious } => robust::bulyan(updates, *num_malicious),
            Self::DpFedAvgFixed {
                clipping_norm,
                noise_multiplier,
                seed,
            } => fedopt::dp_fixed(updates, state, *clipping_norm, *noise_multiplier, *seed),
            _ => Err(FlError::Invalid(
                "internal: streaming strategy asked to aggregate stored updates".into(),
            )),
        }
    }

    /// Turns the streamed FedAvg mean into the new model (server optimisers apply here).
    pub fn finish_stream(&self, fedavg: Vec<f32>, state: &mut ServerState) -> Vec<f32> {
        match self {
            Self::FedAvgM {
                server_learning_rate,
                server_momentum,
            } if self.needs_current_model() => {
                fedopt::avgm(fedavg, state, *server_learning_rate, *server_momentum)
            }
            Self::FedAdagrad(c) => {
                fedopt::adaptive(fedavg, state, &c.resolve(ADAGRAD), fedopt::Rule::Adagrad)
            }
            Self::FedAdam(c) => {
                fedopt::adaptive(fedavg, state, &c.resolve(ADAM), fedopt::Rule::Adam)
            }
            Self::FedYogi(c) => {
                fedopt::adaptive(fedavg, state, &c.resolve(YOGI), fedopt::Rule::Yogi)
            }
            _ => fedavg,
        }
    }
}

/// Bulyan's minimum number of clients, 4f + 3, or `None` when it overflows.
pub(crate) fn bulyan_minimum(f: usize) -> Option<usize> {
    f.checked_mul(4)?.checked_add(3)
}
