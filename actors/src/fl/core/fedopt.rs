//! Server-side optimisers applied to the FedAvg mean (FedAvgM, FedAdagrad, FedAdam,
//! FedYogi), and DP-FedAvg with fixed clipping. State carries from round to round.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use super::strategy::FedOptParams;
use super::{FlError, Update};

/// What a chain of rounds remembers: the global model and the optimiser's moments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerState {
    /// The global model before the round (required by server optimisers and DP).
    pub current: Option<Vec<f32>>,
    /// First moment (FedOpt).
    pub m: Vec<f32>,
    /// Second moment (FedOpt).
    pub v: Vec<f32>,
    /// Momentum buffer (FedAvgM).
    pub momentum: Vec<f32>,
    /// Flower's `server_round`, 1 for the first round of a chain.
    pub server_round: u64,
}

/// Which second-moment rule.
pub(crate) enum Rule {
    Adagrad,
    Adam,
    Yogi,
}

fn current_or(state: &ServerState, fallback: &[f32]) -> Vec<f32> {
    state.current.clone().unwrap_or_else(|| fallback.to_vec())
}

/// FedAvgM: SGD with momentum on the pseudo-gradient `current − fedavg`.
pub(crate) fn avgm(fedavg: Vec<f32>, state: &mut ServerState, lr: f64, momentum: f64) -> Vec<f32> {
    let current = current_or(state, &fedavg);
    let mut pseudo: Vec<f32> = current.iter().zip(&fedavg).map(|(c, f)| c - f).collect();
    if momentum > 0.0 {
        if state.momentum.len() == pseudo.len() && state.server_round > 1 {
            for (b, p) in state.momentum.iter_mut().zip(&pseudo) {
                *b = (momentum * f64::from(*b) + f64::from(*p)) as f32;
            }
        } else {
            state.momentum = pseudo.clone();
        }
        pseudo.clone_from(&state.momentum);
    }
    let new: Vec<f32> = current
        .iter()
        .zip(&pseudo)
        .map(|(c, p)| (f64::from(*c) - lr * f64::from(*p)) as f32)
        .collect();
    state.current = Some(new.clone());
    new
}

/// FedAdagrad / FedAdam / FedYogi on Δ = fedavg − current.
pub(crate) fn adaptive(
    fedavg: Vec<f32>,
    state: &mut ServerState,
    p: &FedOptParams,
    rule: Rule,
) -> Vec<f32> {
    let current = current_or(state, &fedavg);
    let d = current.len();
    if state.m.len() != d {
        state.m = vec![0.0; d];
        state.v = vec![0.0; d];
    }
    // FedAdam's bias-corrected rate (Kingma & Ba's αₜ), with Flower's `server_round + 1`.
    let eta = match rule {
        Rule::Adam => {
            let t = state.server_round as f64 + 1.0;
            p.eta * (1.0 - p.beta_2.powf(t)).sqrt() / (1.0 - p.beta_1.powf(t))
        }
        Rule::Adagrad | Rule::Yogi => p.eta,
    };
    let mut new = Vec::with_capacity(d);
    for i in 0..d {
        let delta = f64::from(fedavg[i]) - f64::from(current[i]);
        let m = p.beta_1 * f64::from(state.m[i]) + (1.0 - p.beta_1) * delta;
        let v0 = f64::from(state.v[i]);
        let d2 = delta * delta;
        let v = match rule {
            Rule::Adagrad => v0 + d2,
            Rule::Adam => p.beta_2 * v0 + (1.0 - p.beta_2) * d2,
            Rule::Yogi => {
                v0 - (1.0 - p.beta_2) * d2 * (v0 - d2).signum() * f64::from(u8::from(v0 != d2))
            }
        };
        state.m[i] = m as f32;
        state.v[i] = v as f32;
        new.push((f64::from(current[i]) + eta * m / (v.sqrt() + p.tau)) as f32);
    }
    state.current = Some(new.clone());
    new
}

/// DP-FedAvg, fixed clipping: each update's change from the current model is clipped to
/// L2 norm `clip` (a zero change is left alone, never divided by), the clipped models are
/// averaged by examples, then Gaussian noise σ = z·C/n is added to every parameter.
pub(crate) fn dp_fixed(
    updates: &[Update],
    state: &mut ServerState,
    clip: f64,
    z: f64,
    seed: Option<u64>,
) -> Result<Vec<f32>, FlError> {
    let current = state.current.clone().ok_or_else(|| {
        FlError::Invalid(
            "dpfedavg_fixed needs the current model (`current` when opening the round)".into(),
        )
    })?;
    let d = current.len();
    let total: f64 = updates.iter().map(|u| u.num_examples as f64).sum();
    let mut acc = vec![0.0f64; d];
    for u in updates {
        let norm = u
            .weights
            .iter()
            .zip(&current)
            .map(|(w, c)| (f64::from(*w) - f64::from(*c)).powi(2))
            .sum::<f64>()
            .sqrt();
        let factor = if norm > clip { clip / norm } else { 1.0 };
        let weight = u.num_examples as f64 / total;
        for i in 0..d {
            let clipped =
                f64::from(current[i]) + (f64::from(u.weights[i]) - f64::from(current[i])) * factor;
            acc[i] += weight * clipped;
        }
    }
    let sigma = z * clip / updates.len() as f64;
    let normal = Normal::new(0.0, sigma).map_err(|e| FlError::Invalid(format!("noise: {e}")))?;
    let mut rng = match seed {
        Some(s) => rand::rngs::StdRng::seed_from_u64(s),
        None => rand::rngs::StdRng::from_os_rng(),
    };
    let new: Vec<f32> = acc
        .iter()
        .map(|a| (a + normal.sample(&mut rng)) as f32)
        .collect();
    state.current = Some(new.clone());
    Ok(new)
}

/// The noise σ DP-FedAvg adds for `clients` updates.
pub fn dp_sigma(noise_multiplier: f64, clipping_norm: f64, clients: usize) -> f64 {
    noise_multiplier * clipping_norm / clients as f64
}
