//! Aggregation strategies against Flower's own published test values, and hand-derived
//! values (shown in comments) where Flower publishes none; round rules.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use swarm_actors::fl::core::{
    FedOptConfig, FlError, Round, RoundStatus, ServerState, Strategy, Submitted, Update, dp_sigma,
};

fn update(client: &str, weights: &[f32], n: u64) -> Update {
    Update {
        client: client.into(),
        weights: Arc::from(weights),
        num_examples: n,
    }
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

/// Runs one round over single-parameter updates, equal examples unless given.
fn aggregate(strategy: Strategy, initial: Option<f32>, values: &[f32]) -> f32 {
    let state = ServerState {
        current: initial.map(|v| vec![v]),
        ..ServerState::default()
    };
    let mut round = Round::open(strategy, values.len(), later(), None, state).expect("opens");
    for (i, v) in values.iter().enumerate() {
        round
            .submit(update(&format!("c{i}"), &[*v], 1), Instant::now())
            .expect("accepted");
    }
    assert_eq!(round.status(), &RoundStatus::Closed);
    round.model().expect("model")[0]
}

fn near(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() < 1e-6
}

#[test]
fn flower_published_values() {
    assert!(near(
        aggregate(
            Strategy::Krum { num_malicious: 1 },
            Some(0.1),
            &[0.2, 0.7, 1.0]
        ),
        0.7
    ));
    assert!(near(
        aggregate(
            Strategy::MultiKrum {
                num_malicious: 1,
                to_keep: 2
            },
            Some(0.1),
            &[0.2, 0.5, 1.0]
        ),
        0.35
    ));
    assert!(near(
        aggregate(Strategy::FedMedian, None, &[0.2, 1.0, 0.5]),
        0.5
    ));
    let adagrad = Strategy::FedAdagrad(FedOptConfig {
        eta: Some(0.1),
        eta_l: Some(0.316),
        tau: Some(0.5),
        ..FedOptConfig::default()
    });
    assert!(near(aggregate(adagrad, Some(0.1), &[0.2, 1.0]), 0.15));
    assert!(near(
        aggregate(
            Strategy::FedTrimmedAvg { beta: 0.25 },
            None,
            &[0.5, 1.0, 2.0, 100.0]
        ),
        1.5
    ));
    assert!((dp_sigma(1.0, 0.5, 10) - 0.05).abs() < 1e-12);
}

#[test]
fn flower_fedavgm_test_two_rounds_near_one_learning_rate_near_zero_momentum() {
    // Flower's fedavgm_test: initial zeros; both clients send [[1,2,3],[4,5,6]] and
    // [7,8,9,10] (1 and 2 examples); lr 1 + 1e-9, momentum 1e-9; after rounds 1 and 2
    // the model equals the clients' weights (to 7 decimals).
    let w: Vec<f32> = (1..=10).map(|v| v as f32).collect();
    let strategy = Strategy::FedAvgM {
        server_learning_rate: 1.0 + 1e-9,
        server_momentum: 1e-9,
    };
    let mut state = ServerState {
        current: Some(vec![0.0; 10]),
        ..ServerState::default()
    };
    for _round in 1..=2 {
        let mut round = Round::open(strategy.clone(), 2, later(), None, state).unwrap();
        round.submit(update("0", &w, 1), Instant::now()).unwrap();
        round.submit(update("1", &w, 2), Instant::now()).unwrap();
        state = round.continuation().unwrap();
    }
    let model = state.current.unwrap();
    assert!(
        model.iter().zip(&w).all(|(a, b)| (a - b).abs() < 1e-6),
        "{model:?}"
    );
}

#[test]
fn fedavg_weights_by_examples_and_streams() {
    let mut round =
        Round::open(Strategy::FedAvg, 2, later(), None, ServerState::default()).unwrap();
    assert_eq!(
        round
            .submit(update("a", &[1.0, 2.0], 1), Instant::now())
            .unwrap(),
        Submitted::Accepted {
            received: 1,
            needed: 2
        }
    );
    assert_eq!(
        round
            .submit(update("b", &[3.0, 4.0], 3), Instant::now())
            .unwrap(),
        Submitted::Completed
    );
    assert_eq!(round.model().unwrap().as_ref(), &[2.5, 3.5]);
}

#[test]
fn server_optimisers_follow_flowers_update_rules() {
    // FedAdam, round 1 (server_round + 1 = 2 in the bias correction): Δ = 0.6 − 0.1 = 0.5,
    // m = 0.05, v = 0.0025, η' = 0.1·√(1 − 0.99²)/(1 − 0.9²) = 0.0742458…, w = 0.1 + η'·m/(√v + 1e-9).
    let eta = 0.1 * (1.0f64 - 0.99f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
    assert!(near(
        aggregate(
            Strategy::FedAdam(FedOptConfig::default()),
            Some(0.1),
            &[0.2, 1.0]
        ),
        0.1 + eta * 0.05 / (0.05 + 1e-9)
    ));
    // FedYogi: m = 0.05, v = 0 − 0.01·0.25·sign(0 − 0.25) = 0.0025, w = 0.1 + 0.01·0.05/(0.05 + 1e-3).
    assert!(near(
        aggregate(
            Strategy::FedYogi(FedOptConfig::default()),
            Some(0.1),
            &[0.2, 1.0]
        ),
        0.1 + 0.01 * 0.05 / 0.051
    ));
    // FedAvgM with momentum 0.9 over two chained rounds: 0.1 → 0.6 (buffer −0.5) → with
    // mean 1.0, buffer 0.9·(−0.5) + (0.6 − 1.0) = −0.85, so 0.6 + 0.85 = 1.45.
    let avgm = Strategy::FedAvgM {
        server_learning_rate: 1.0,
        server_momentum: 0.9,
    };
    let state = ServerState {
        current: Some(vec![0.1]),
        ..ServerState::default()
    };
    let mut r1 = Round::open(avgm.clone(), 2, later(), None, state).unwrap();
    r1.submit(update("a", &[0.2], 1), Instant::now()).unwrap();
    r1.submit(update("b", &[1.0], 1), Instant::now()).unwrap();
    assert!(near(r1.model().unwrap()[0], 0.6));
    let mut r2 = Round::open(avgm, 2, later(), None, r1.continuation().unwrap()).unwrap();
    assert_eq!(r2.server_round(), 2);
    r2.submit(update("a", &[1.0], 1), Instant::now()).unwrap();
    r2.submit(update("b", &[1.0], 1), Instant::now()).unwrap();
    assert!(near(r2.model().unwrap()[0], 1.45));
}

#[test]
fn bulyan_keeps_the_honest_core() {
    // n = 7, f = 1: repeated Krum picks 0.2, 0.1, 0.3, 0.0, 0.4 (θ = 5); their median is
    // 0.2 and the β = 3 closest values 0.1, 0.2, 0.3 average to 0.2. FedAvg would give 0.1429.
    let v = [0.0, 0.1, 0.2, 0.3, 0.4, 10.0, -10.0];
    assert!(near(
        aggregate(Strategy::Bulyan { num_malicious: 1 }, None, &v),
        0.2
    ));
    let err = Round::open(
        Strategy::Bulyan { num_malicious: 1 },
        6,
        later(),
        None,
        ServerState::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bulyan with num_malicious 1 needs min_clients ≥ 7"
    );
}

#[test]
fn median_and_trimmed_mean_agree_with_a_naive_reference_across_blocks() {
    let d = 3_000; // more than one 1,024-coordinate block
    let n = 9;
    let updates: Vec<Update> = (0..n)
        .map(|k| {
            update(
                &format!("c{k}"),
                &(0..d)
                    .map(|i| ((i * 31 + k * 17) % 101) as f32 / 7.0)
                    .collect::<Vec<_>>(),
                1,
            )
        })
        .collect();
    for (strategy, reference) in [
        (
            Strategy::FedMedian,
            Box::new(|mut v: Vec<f32>| {
                v.sort_by(f32::total_cmp);
                v[v.len() / 2]
            }) as Box<dyn Fn(Vec<f32>) -> f32>,
        ),
        (
            Strategy::FedTrimmedAvg { beta: 0.2 },
            Box::new(|mut v: Vec<f32>| {
                v.sort_by(f32::total_cmp);
                v[1..8].iter().sum::<f32>() / 7.0
            }),
        ),
    ] {
        let mut round = Round::open(strategy, n, later(), None, ServerState::default()).unwrap();
        for u in &updates {
            round.submit(u.clone(), Instant::now()).unwrap();
        }
        let model = round.model().unwrap();
        for i in 0..d {
            let column: Vec<f32> = updates.iter().map(|u| u.weights[i]).collect();
            assert!(
                (model[i] - reference(column)).abs() < 1e-5,
                "coordinate {i}"
            );
        }
    }
}

#[test]
fn dp_fedavg_clips_each_update_and_survives_a_zero_update() {
    let dp = Strategy::DpFedAvgFixed {
        clipping_norm: 1.0,
        noise_multiplier: 0.0,
        seed: Some(7),
    };
    let state = ServerState {
        current: Some(vec![0.0, 0.0]),
        ..ServerState::default()
    };
    let mut round = Round::open(dp, 2, later(), None, state).unwrap();
    round
        .submit(update("far", &[3.0, 4.0], 1), Instant::now())
        .unwrap(); // norm 5 → (0.6, 0.8)
    round
        .submit(update("still", &[0.0, 0.0], 1), Instant::now())
        .unwrap(); // norm 0: unchanged
    let m = round.model().unwrap();
    assert!(near(m[0], 0.3) && near(m[1], 0.4), "{m:?}");
    // With noise, the spread of the result around the clipped mean matches σ = z·C/n.
    let dp = Strategy::DpFedAvgFixed {
        clipping_norm: 0.5,
        noise_multiplier: 1.0,
        seed: Some(11),
    };
    let d = 20_000;
    let state = ServerState {
        current: Some(vec![0.0; d]),
        ..ServerState::default()
    };
    let mut round = Round::open(dp, 10, later(), None, state).unwrap();
    for k in 0..10 {
        round
            .submit(update(&format!("c{k}"), &vec![0.0; d], 1), Instant::now())
            .unwrap();
    }
    let m = round.model().unwrap();
    let std = (m.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / d as f64).sqrt();
    assert!((std - 0.05).abs() < 0.002, "σ measured {std}");
}

#[test]
fn rounds_refuse_bad_updates_and_stragglers_clearly() {
    let mut round = Round::open(
        Strategy::FedAvg,
        2,
        later(),
        Some(3),
        ServerState::default(),
    )
    .unwrap();
    let now = Instant::now();
    assert_eq!(
        round.submit(update("a", &[1.0, 2.0], 1), now).unwrap_err(),
        FlError::ShapeMismatch {
            expected: 3,
            got: 2
        }
    );
    assert_eq!(
        round
            .submit(update("a", &[1.0, f32::NAN, 0.0], 1), now)
            .unwrap_err(),
        FlError::NonFinite { index: 1 }
    );
    assert!(matches!(
        round.submit(update("a", &[1.0, 2.0, 3.0], 0), now),
        Err(FlError::Invalid(_))
    ));
    round.submit(update("a", &[1.0, 2.0, 3.0], 1), now).unwrap();
    assert_eq!(
        round
            .submit(update("a", &[1.0, 2.0, 3.0], 1), now)
            .unwrap_err(),
        FlError::DuplicateClient("a".into())
    );
    round.submit(update("b", &[1.0, 2.0, 3.0], 1), now).unwrap();
    assert!(matches!(
        round.submit(update("c", &[1.0, 2.0, 3.0], 1), now),
        Err(FlError::RoundClosed(_))
    ));

    let deadline = Instant::now() + Duration::from_millis(10);
    let mut late = Round::open(
        Strategy::FedMedian,
        3,
        deadline,
        None,
        ServerState::default(),
    )
    .unwrap();
    late.submit(update("a", &[1.0], 1), Instant::now()).unwrap();
    let after = deadline + Duration::from_millis(1);
    let err = late.submit(update("b", &[1.0], 1), after).unwrap_err();
    assert_eq!(
        err.to_string(),
        "round is closed (deadline passed with 1 of 3 required updates); this update arrived too late"
    );
    assert!(matches!(late.status(), RoundStatus::Failed { .. }));
    assert!(late.model().is_none());

    let needs_model = Round::open(
        Strategy::FedAdam(FedOptConfig::default()),
        2,
        later(),
        None,
        ServerState::default(),
    );
    assert!(matches!(needs_model, Err(FlError::Invalid(_))));
}

#[test]
fn huge_counts_are_refused_at_open_not_overflowed() {
    let open = |s: Strategy| Round::open(s, 10, later(), None, ServerState::default());
    for strategy in [
        Strategy::Bulyan {
            num_malicious: 1 << 62,
        },
        Strategy::Bulyan {
            num_malicious: usize::MAX,
        },
        Strategy::Krum {
            num_malicious: usize::MAX,
        },
        Strategy::MultiKrum {
            num_malicious: 1,
            to_keep: usize::MAX,
        },
        Strategy::Krum { num_malicious: 10 },
    ] {
        let err = open(strategy.clone()).unwrap_err().to_string();
        assert!(
            err.contains("min_clients") || err.contains("far beyond"),
            "{strategy:?}: {err}"
        );
    }
    // Inside the bounds they still open.
    assert!(open(Strategy::Krum { num_malicious: 9 }).is_ok());
    assert!(
        open(Strategy::MultiKrum {
            num_malicious: 1,
            to_keep: 10
        })
        .is_ok()
    );
}

#[test]
fn fedopt_moments_outside_zero_to_one_are_refused() {
    for (beta_1, beta_2) in [(1.0, 0.99), (0.9, 1.0), (-0.1, 0.9)] {
        let s = Strategy::FedAdam(FedOptConfig {
            beta_1: Some(beta_1),
            beta_2: Some(beta_2),
            ..FedOptConfig::default()
        });
        let err = Round::open(s, 2, later(), None, ServerState::default()).unwrap_err();
        assert!(err.to_string().contains("must be in [0, 1)"), "{err}");
    }
    let s = Strategy::FedYogi(FedOptConfig {
        tau: Some(0.0),
        ..FedOptConfig::default()
    });
    let err = Round::open(s, 2, later(), None, ServerState::default()).unwrap_err();
    assert!(
        err.to_string().contains("tau must be greater than 0"),
        "{err}"
    );
}

#[test]
fn an_aggregate_that_overflows_fails_the_round_instead_of_leaving_it_open() {
    // Clipping at 1e200 with noise multiplier 1: σ = 1e200 / 2 overflows f32.
    let dp = Strategy::DpFedAvgFixed {
        clipping_norm: 1e200,
        noise_multiplier: 1.0,
        seed: Some(3),
    };
    let state = ServerState {
        current: Some(vec![0.0, 0.0]),
        ..ServerState::default()
    };
    let mut round = Round::open(dp, 2, later(), None, state).unwrap();
    round
        .submit(update("a", &[1.0, 1.0], 1), Instant::now())
        .unwrap();
    let err = round
        .submit(update("b", &[1.0, 1.0], 1), Instant::now())
        .unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    assert!(matches!(round.status(), RoundStatus::Failed { .. }));
    assert!(round.model().is_none(), "no model with null numbers");
    // A later update is told the round is over, not failed again.
    let late = round
        .submit(update("c", &[1.0, 1.0], 1), Instant::now())
        .unwrap_err();
    assert!(matches!(late, FlError::RoundClosed(_)), "{late}");
}
