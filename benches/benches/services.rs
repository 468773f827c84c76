//! Service cores: Nash methods across sizes, FL aggregation per strategy (100 clients ×
//! 1,000,000 float32, beside merely reading those bytes once), consensus rounds with 4,
//! 16 and 64 voters, and batch against single signature verification.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use swarm_actors::consensus::ConsensusEngine;
use swarm_actors::consensus::core::{Proposal, Rule, Voter, VoterSet};
use swarm_actors::consensus::voters::VoteBehaviour;
use swarm_actors::fl::core::{Round, ServerState, Strategy, Update};
use swarm_actors::nash::core::{Budget, Game, Method, Options, solve};
use swarm_benches::{fl_updates, random_matrix};

fn nash(c: &mut Criterion) {
    let mut g = c.benchmark_group("nash");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let budget = Budget::within(Duration::from_secs(3600));
    for size in [2, 4, 6, 8, 10, 12] {
        let game = Game::new(
            &random_matrix(size, size, 1_000 + size as u64),
            &random_matrix(size, size, 2_000 + size as u64),
        )
        .unwrap();
        g.bench_with_input(
            BenchmarkId::new("support_enumeration", size),
            &game,
            |b, game| {
                b.iter(|| {
                    solve(
                        game,
                        Method::SupportEnumeration,
                        Options::default(),
                        &budget,
                    )
                    .unwrap()
                })
            },
        );
    }
    for size in [5, 10, 20, 30] {
        let game = Game::new(
            &random_matrix(size, size, 1_000 + size as u64),
            &random_matrix(size, size, 2_000 + size as u64),
        )
        .unwrap();
        g.bench_with_input(BenchmarkId::new("lemke_howson", size), &game, |b, game| {
            b.iter(|| solve(game, Method::LemkeHowson, Options::default(), &budget).unwrap())
        });
    }
    g.finish();
}

fn run_round(strategy: &Strategy, updates: &[Update], current: Option<&Vec<f32>>) -> usize {
    let state = ServerState {
        current: current.cloned(),
        ..ServerState::default()
    };
    let mut round = Round::open(
        strategy.clone(),
        updates.len(),
        Instant::now() + Duration::from_secs(3600),
        None,
        state,
    )
    .unwrap();
    for u in updates {
        round.submit(u.clone(), Instant::now()).unwrap();
    }
    round.model().unwrap().len()
}

fn fl(c: &mut Criterion) {
    let (clients, dim) = (100, 1_000_000);
    let updates = fl_updates(clients, dim);
    let current = vec![0.5f32; dim];
    let mut g = c.benchmark_group("fl_100x1M");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes((clients * dim * 4) as u64));
    g.bench_function("read_bytes_once", |b| {
        b.iter(|| {
            updates
                .iter()
                .map(|u| u.weights.iter().sum::<f32>())
                .sum::<f32>()
        })
    });
    let dp = Strategy::DpFedAvgFixed {
        clipping_norm: 10.0,
        noise_multiplier: 1.0,
        seed: Some(1),
    };
    for (name, strategy) in [
        ("fedavg", Strategy::FedAvg),
        (
            "fedavgm",
            Strategy::FedAvgM {
                server_learning_rate: 1.0,
                server_momentum: 0.9,
            },
        ),
        ("fedadam", Strategy::FedAdam(Default::default())),
        ("fedmedian", Strategy::FedMedian),
        ("fedtrimmedavg", Strategy::FedTrimmedAvg { beta: 0.2 }),
        ("dpfedavg_fixed", dp),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| run_round(&strategy, &updates, Some(&current)))
        });
    }
    g.finish();
    // Krum-family cost is O(n²·d): measured on 20 clients × 1M.
    let few = &updates[..20];
    let mut g = c.benchmark_group("fl_20x1M");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, strategy) in [
        ("krum", Strategy::Krum { num_malicious: 4 }),
        (
            "multikrum",
            Strategy::MultiKrum {
                num_malicious: 4,
                to_keep: 10,
            },
        ),
        ("bulyan", Strategy::Bulyan { num_malicious: 4 }),
    ] {
        g.bench_function(name, |b| b.iter(|| run_round(&strategy, few, None)));
    }
    g.finish();
}

fn consensus(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("consensus_round");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for n in [4u32, 16, 64] {
        let engine = rt.block_on(async {
            let voters: Vec<Box<dyn VoteBehaviour>> = (0..n)
                .map(|i| Box::new(Voter::generate(i)) as Box<dyn VoteBehaviour>)
                .collect();
            ConsensusEngine::start("bench", voters).await.unwrap()
        });
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.to_async(&rt).iter(|| {
                engine.propose(json!({"op": "scale"}), Rule::Always, Duration::from_secs(5))
            })
        });
    }
    g.finish();

    // Proposals per second with 1 and with 16 callers at once (4 voters): independent
    // proposals overlap instead of queueing behind one lock.
    let engine = std::sync::Arc::new(rt.block_on(async {
        let voters: Vec<Box<dyn VoteBehaviour>> = (0..4)
            .map(|i| Box::new(Voter::generate(i)) as Box<dyn VoteBehaviour>)
            .collect();
        ConsensusEngine::start("bench", voters).await.unwrap()
    }));
    let mut g = c.benchmark_group("consensus_proposals_4_voters");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for callers in [1u64, 16] {
        g.throughput(Throughput::Elements(callers));
        g.bench_function(BenchmarkId::new("callers", callers), |b| {
            b.to_async(&rt).iter(|| {
                let engine = engine.clone();
                async move {
                    let mut calls = tokio::task::JoinSet::new();
                    for k in 0..callers {
                        let engine = engine.clone();
                        calls.spawn(async move {
                            engine
                                .propose(json!({ "k": k }), Rule::Always, Duration::from_secs(5))
                                .await
                                .is_ok()
                        });
                    }
                    while let Some(done) = calls.join_next().await {
                        assert!(done.unwrap_or(false));
                    }
                }
            })
        });
    }
    g.finish();

    let voters: Vec<Voter> = (0..64).map(Voter::generate).collect();
    let set = VoterSet::new("bench", voters.iter().map(Voter::public_key).collect()).unwrap();
    let p = Proposal::new("bench", 0, 1, json!({"op": "scale"}), Rule::Always);
    let items: Vec<_> = voters
        .iter()
        .map(|v| {
            let vote = v.vote(&p);
            (vote.message(), vote.signature, vote.voter)
        })
        .collect();
    let mut g = c.benchmark_group("verify_64_votes");
    g.throughput(Throughput::Elements(64));
    g.bench_function("batch", |b| {
        b.iter(|| assert!(set.verify_all(&items).iter().all(|ok| *ok)))
    });
    g.bench_function("single_strict", |b| {
        b.iter(|| {
            assert!(
                items
                    .iter()
                    .all(|(m, s, v)| set.key(*v).unwrap().verify_strict(m, s).is_ok())
            )
        })
    });
    g.finish();
}

criterion_group!(benches, nash, fl, consensus);
criterion_main!(benches);
