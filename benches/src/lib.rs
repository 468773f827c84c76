//! Shared pieces of the benchmarks: a bare ractor echo actor (the baseline), a minimal
//! echo service for the swarm, percentile helpers and seeded data.

use std::time::Duration;

pub mod process;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use swarm_runtime::{RequestContext, Service, ServiceError};

/// The bare-ractor baseline: an actor that answers `call!` with its input.
pub struct BareEcho;

/// The baseline actor's message.
pub enum BareMsg {
    /// Echo the value back.
    Echo(u64, RpcReplyPort<u64>),
}

// Local only: never sent to another node.
impl ractor::Message for BareMsg {}

impl Actor for BareEcho {
    type Msg = BareMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<BareMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<BareMsg>,
        msg: BareMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let BareMsg::Echo(v, reply) = msg;
        let _ = reply.send(v);
        Ok(())
    }
}

/// The same work as a swarm service.
#[derive(Default)]
pub struct ValueEcho;

impl Service for ValueEcho {
    type Request = u64;
    type Response = u64;

    async fn handle(&mut self, v: u64, _: &RequestContext) -> Result<u64, ServiceError> {
        Ok(v)
    }
}

/// The `q`-quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A seeded pseudo-random payoff matrix (xorshift64), entries in [0, 100) with two
/// decimals, so benchmarks and their Python peers use identical games.
pub fn random_matrix(m: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut s = seed.max(1);
    (0..m)
        .map(|_| {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 10_000) as f64 / 100.0
                })
                .collect()
        })
        .collect()
}

/// Deterministic FL updates: client k, parameter i = ((i·31 + k·17) mod 1001) / 1000,
/// the same formula `peers/fl_compare.py` uses, so both sides aggregate identical data.
pub fn fl_updates(clients: usize, dim: usize) -> Vec<swarm_actors::fl::core::Update> {
    (0..clients)
        .map(|k| swarm_actors::fl::core::Update {
            client: format!("c{k}"),
            weights: (0..dim)
                .map(|i| ((i * 31 + k * 17) % 1001) as f32 / 1000.0)
                .collect(),
            num_examples: 1 + (k as u64 % 7),
        })
        .collect()
}

/// Scales `v` to unit length.
pub fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Seeded clustered unit vectors of `dim` floats: 100 Gaussian centres (σ 1), points and
/// queries spread around them (σ 0.6); `n` points and `q` queries.
pub fn clustered_unit_vectors(n: usize, q: usize, dim: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;
    // rand_distr's `Normal` draws `mean + σ · StandardNormal`, as here.
    let mut rng = StdRng::seed_from_u64(42);
    let centres: Vec<Vec<f32>> = (0..100)
        .map(|_| {
            (0..dim)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect()
        })
        .collect();
    let draw = |rng: &mut StdRng| {
        let c = &centres[rng.random_range(0..centres.len())];
        unit(
            c.iter()
                .map(|x| x + 0.6 * rng.sample::<f32, _>(StandardNormal))
                .collect(),
        )
    };
    let base = (0..n).map(|_| draw(&mut rng)).collect();
    let queries = (0..q).map(|_| draw(&mut rng)).collect();
    (base, queries)
}

/// A made-up sentence of `min_words` to `min_words + spread - 1` words, different for each `i`.
pub fn sentence(i: usize, min_words: usize, spread: usize) -> String {
    const WORDS: [&str; 12] = [
        "agent", "swarm", "queue", "model", "vector", "round", "proof", "actor", "batch", "trace",
        "voter", "game",
    ];
    (0..(min_words + i % spread.max(1)))
        .map(|k| WORDS[(i * 7 + k * 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}
