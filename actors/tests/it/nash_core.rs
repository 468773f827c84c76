//! The Nash solver's pure core against published answers (nashpy's test games, textbook
//! games) and against independent checks (every result is verified as an equilibrium;
//! methods agree with each other on random games).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use nalgebra::DVector;
use swarm_actors::nash::core::{Budget, Equilibrium, Game, Method, NashError, Options, solve};

fn game(a: &[&[f64]], b: &[&[f64]]) -> Game {
    let v = |m: &[&[f64]]| m.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
    Game::new(&v(a), &v(b)).expect("valid game")
}

fn neg(a: &[&[f64]]) -> Vec<Vec<f64>> {
    a.iter().map(|r| r.iter().map(|x| -x).collect()).collect()
}

fn budget() -> Budget {
    Budget::within(Duration::from_secs(60))
}

fn run(g: &Game, method: Method) -> Vec<Equilibrium> {
    solve(g, method, Options::default(), &budget())
        .expect("solves")
        .equilibria
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

fn assert_set(found: &[Equilibrium], expected: &[(&[f64], &[f64])]) {
    assert_eq!(found.len(), expected.len(), "found {found:?}");
    for (x, y) in expected {
        assert!(
            found.iter().any(|e| close(&e.row, x) && close(&e.col, y)),
            "missing {x:?},{y:?} in {found:?}"
        );
    }
}

const PENNIES: &[&[f64]] = &[&[1.0, -1.0], &[-1.0, 1.0]];
const RPS: &[&[f64]] = &[&[0.0, -1.0, 1.0], &[1.0, 0.0, -1.0], &[-1.0, 1.0, 0.0]];

#[test]
fn matching_pennies_has_one_mixed_equilibrium_by_every_method() {
    let g = Game::new(
        &PENNIES.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        &neg(PENNIES),
    )
    .unwrap();
    for method in [
        Method::SupportEnumeration,
        Method::VertexEnumeration,
        Method::LemkeHowson,
        Method::ZeroSum,
    ] {
        let found = run(&g, method);
        assert_set(&found, &[(&[0.5, 0.5], &[0.5, 0.5])]);
        assert!(found[0].payoffs[0].abs() < 1e-9 && found[0].payoffs[1].abs() < 1e-9);
    }
    assert!(run(&g, Method::Pure).is_empty());
}

#[test]
fn rock_paper_scissors_is_uniform_with_value_zero() {
    let g = Game::new(
        &RPS.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        &neg(RPS),
    )
    .unwrap();
    let third = [1.0 / 3.0; 3];
    for method in [
        Method::SupportEnumeration,
        Method::VertexEnumeration,
        Method::LemkeHowson,
        Method::ZeroSum,
    ] {
        assert_set(&run(&g, method), &[(&third, &third)]);
    }
    for (method, bound) in [
        (Method::RegretMatching, 1e-3),
        (Method::FictitiousPlay, 1e-2),
    ] {
        let opts = Options {
            iterations: 200_000,
            epsilon: 1e-3,
            ..Options::default()
        };
        let s = solve(&g, method, opts, &budget()).unwrap();
        let eps = s.epsilon.unwrap();
        let e = &s.equilibria[0];
        let (gx, gy) = g.deviation_gains(
            &DVector::from_vec(e.row.clone()),
            &DVector::from_vec(e.col.clone()),
        );
        assert!(
            (eps - gx.max(gy)).abs() < 1e-12,
            "reported epsilon is the real deviation gain"
        );
        assert!(
            eps <= bound,
            "{method:?} reached {eps} in {:?} iterations",
            s.iterations
        );
        assert!(
            e.row
                .iter()
                .chain(&e.col)
                .all(|p| (p - 1.0 / 3.0).abs() < 0.02),
            "{e:?}"
        );
    }
}

#[test]
fn the_coordination_game_has_three_equilibria() {
    // nashpy's battle-of-sexes style test game.
    let g = game(&[&[2.0, 1.0], &[0.0, 2.0]], &[&[2.0, 0.0], &[1.0, 2.0]]);
    let expected: &[(&[f64], &[f64])] = &[
        (&[1.0, 0.0], &[1.0, 0.0]),
        (&[0.0, 1.0], &[0.0, 1.0]),
        (&[1.0 / 3.0, 2.0 / 3.0], &[1.0 / 3.0, 2.0 / 3.0]),
    ];
    assert_set(&run(&g, Method::SupportEnumeration), expected);
    assert_set(&run(&g, Method::VertexEnumeration), expected);
    assert_set(&run(&g, Method::Pure), &expected[..2]);
    // Every Lemke–Howson start reaches one of them.
    for label in 0..4 {
        let e = &solve(
            &g,
            Method::LemkeHowson,
            Options {
                initial_label: label,
                ..Options::default()
            },
            &budget(),
        )
        .unwrap()
        .equilibria[0];
        assert!(
            expected
                .iter()
                .any(|(x, y)| close(&e.row, x) && close(&e.col, y)),
            "label {label}: {e:?}"
        );
    }
}

#[test]
fn the_classic_four_by_three_game_has_its_unique_mixed_equilibrium() {
    let a: &[&[f64]] = &[
        &[160.0, 205.0, 44.0],
        &[175.0, 180.0, 45.0],
        &[201.0, 204.0, 50.0],
        &[120.0, 207.0, 49.0],
    ];
    let b: &[&[f64]] = &[
        &[2.0, 2.0, 2.0],
        &[1.0, 0.0, 0.0],
        &[3.0, 4.0, 1.0],
        &[4.0, 1.0, 2.0],
    ];
    let g = game(a, b);
    let expected: &[(&[f64], &[f64])] =
        &[(&[0.0, 0.0, 0.75, 0.25], &[1.0 / 28.0, 27.0 / 28.0, 0.0])];
    for method in [
        Method::SupportEnumeration,
        Method::VertexEnumeration,
        Method::LemkeHowson,
    ] {
        assert_set(&run(&g, method), expected);
    }
    for label in 0..7 {
        let s = solve(
            &g,
            Method::LemkeHowson,
            Options {
                initial_label: label,
                ..Options::default()
            },
            &budget(),
        )
        .unwrap();
        assert_set(&s.equilibria, expected);
    }
}

#[test]
fn a_degenerate_game_is_flagged_and_vertex_enumeration_finds_the_extra_vertex() {
    let g = game(
        &[&[3.0, 3.0], &[2.0, 5.0], &[0.0, 6.0]],
        &[&[3.0, 3.0], &[2.0, 6.0], &[3.0, 1.0]],
    );
    let s = solve(
        &g,
        Method::SupportEnumeration,
        Options::default(),
        &budget(),
    )
    .unwrap();
    assert!(s.degenerate);
    assert_set(
        &s.equilibria,
        &[
            (&[1.0, 0.0, 0.0], &[1.0, 0.0]),
            (&[0.0, 1.0 / 3.0, 2.0 / 3.0], &[1.0 / 3.0, 2.0 / 3.0]),
        ],
    );
    let v = solve(&g, Method::VertexEnumeration, Options::default(), &budget()).unwrap();
    assert!(v.degenerate);
    assert_set(
        &v.equilibria,
        &[
            (&[1.0, 0.0, 0.0], &[1.0, 0.0]),
            (&[1.0, 0.0, 0.0], &[2.0 / 3.0, 1.0 / 3.0]),
            (&[0.0, 1.0 / 3.0, 2.0 / 3.0], &[1.0 / 3.0, 2.0 / 3.0]),
        ],
    );
    // Lemke–Howson's lexicographic rule terminates on it from every label.
    for label in 0..5 {
        let e = &solve(
            &g,
            Method::LemkeHowson,
            Options {
                initial_label: label,
                ..Options::default()
            },
            &budget(),
        )
        .unwrap()
        .equilibria[0];
        let x = DVector::from_vec(e.row.clone());
        let y = DVector::from_vec(e.col.clone());
        assert!(g.is_equilibrium(&x, &y, 1e-7), "label {label}: {e:?}");
    }
    let nondegenerate = game(&[&[2.0, 1.0], &[0.0, 2.0]], &[&[2.0, 0.0], &[1.0, 2.0]]);
    assert!(
        !solve(
            &nondegenerate,
            Method::SupportEnumeration,
            Options::default(),
            &budget()
        )
        .unwrap()
        .degenerate
    );
}

#[test]
fn a_zero_sum_value_matches_the_closed_form() {
    // [[a, b], [c, d]] = [[3, -1], [-2, 4]]: x₁ = (d−c)/D = 0.6, y₁ = (d−b)/D = 0.5,
    // value = (ad−bc)/D = 1, with D = a−b−c+d = 10.
    let a: &[&[f64]] = &[&[3.0, -1.0], &[-2.0, 4.0]];
    let g = Game::new(&a.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), &neg(a)).unwrap();
    let e = &run(&g, Method::ZeroSum)[0];
    assert!(
        close(&e.row, &[0.6, 0.4]) && close(&e.col, &[0.5, 0.5]),
        "{e:?}"
    );
    assert!((e.payoffs[0] - 1.0).abs() < 1e-9 && (e.payoffs[1] + 1.0).abs() < 1e-9);
    let not_zero_sum = game(&[&[1.0]], &[&[1.0]]);
    assert!(matches!(
        solve(
            &not_zero_sum,
            Method::ZeroSum,
            Options::default(),
            &budget()
        ),
        Err(NashError::Unsuitable(_))
    ));
}

/// A deterministic pseudo-random game (xorshift), payoffs in [0, 100).
fn random_game(m: usize, n: usize, seed: u64) -> Game {
    let mut s = seed.max(1);
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 10_000) as f64 / 100.0
    };
    let a: Vec<Vec<f64>> = (0..m).map(|_| (0..n).map(|_| next()).collect()).collect();
    let b: Vec<Vec<f64>> = (0..m).map(|_| (0..n).map(|_| next()).collect()).collect();
    Game::new(&a, &b).unwrap()
}

fn verified(g: &Game, e: &Equilibrium) -> bool {
    let (x, y) = (
        DVector::from_vec(e.row.clone()),
        DVector::from_vec(e.col.clone()),
    );
    (x.sum() - 1.0).abs() < 1e-9
        && (y.sum() - 1.0).abs() < 1e-9
        && x.min() >= 0.0
        && y.min() >= 0.0
        && g.is_equilibrium(&x, &y, 1e-6)
}

#[test]
fn on_random_games_the_methods_agree_and_every_result_is_an_equilibrium() {
    for seed in 1..=20 {
        let (m, n) = (2 + (seed as usize % 4), 2 + (seed as usize * 7 % 4));
        let g = random_game(m, n, seed * 7919);
        let support = run(&g, Method::SupportEnumeration);
        let vertex = run(&g, Method::VertexEnumeration);
        assert!(!support.is_empty());
        assert_eq!(
            support.len() % 2,
            1,
            "a non-degenerate game has an odd number of equilibria"
        );
        assert_eq!(support.len(), vertex.len(), "seed {seed}");
        for e in support.iter().chain(&vertex) {
            assert!(verified(&g, e), "seed {seed}: {e:?}");
        }
        for label in 0..m + n {
            let lh = &solve(
                &g,
                Method::LemkeHowson,
                Options {
                    initial_label: label,
                    ..Options::default()
                },
                &budget(),
            )
            .unwrap()
            .equilibria[0];
            assert!(
                support
                    .iter()
                    .any(|e| close(&e.row, &lh.row) && close(&e.col, &lh.col)),
                "seed {seed} label {label}"
            );
        }
    }
}

#[test]
fn lemke_howson_solves_large_games() {
    for (size, seed) in [(15, 3), (30, 5), (60, 7)] {
        let g = random_game(size, size, seed);
        let e = &run(&g, Method::LemkeHowson)[0];
        assert!(verified(&g, e), "{size}×{size}");
    }
}

#[test]
fn bad_input_gets_clear_errors_not_panics() {
    let err = |a: Vec<Vec<f64>>, b: Vec<Vec<f64>>| Game::new(&a, &b).unwrap_err().to_string();
    assert_eq!(err(vec![], vec![]), "`row` must be a non-empty matrix");
    assert_eq!(
        err(
            vec![vec![1.0, 2.0], vec![3.0]],
            vec![vec![1.0, 2.0], vec![3.0, 4.0]]
        ),
        "`row` is ragged: row 1 has 1 entries, row 0 has 2"
    );
    assert_eq!(
        err(vec![vec![1.0, f64::NAN]], vec![vec![1.0, 2.0]]),
        "`row[0][1]` is not a finite number"
    );
    assert_eq!(
        err(vec![vec![1.0, 2.0]], vec![vec![f64::INFINITY, 2.0]]),
        "`col[0][0]` is not a finite number"
    );
    assert_eq!(
        err(vec![vec![1.0, 2.0]], vec![vec![1.0], vec![2.0]]),
        "`row` is 1×2 but `col` is 2×1"
    );
    let g = random_game(3, 3, 11);
    let bad_label = solve(
        &g,
        Method::LemkeHowson,
        Options {
            initial_label: 6,
            ..Options::default()
        },
        &budget(),
    );
    assert!(matches!(bad_label, Err(NashError::InvalidGame(_))));
    let zero_iters = solve(
        &g,
        Method::RegretMatching,
        Options {
            iterations: 0,
            ..Options::default()
        },
        &budget(),
    );
    assert!(matches!(zero_iters, Err(NashError::InvalidGame(_))));
    // Exponential methods refuse what cannot finish in the time left, at once.
    let big = random_game(40, 40, 13);
    // TooLarge (not DeadlineExceeded) means the refusal came before any search.
    let short = Budget::within(Duration::from_secs(1));
    for method in [Method::SupportEnumeration, Method::VertexEnumeration] {
        assert!(
            matches!(
                solve(&big, method, Options::default(), &short),
                Err(NashError::TooLarge(_))
            ),
            "{method:?}"
        );
    }
}

#[test]
fn payoffs_beyond_the_bound_are_refused_and_no_solution_carries_a_non_finite_number() {
    let huge = Game::new(
        &[vec![1e308, -1e308], vec![0.0, 1.0]],
        &[vec![1.0, 0.0], vec![0.0, 1.0]],
    );
    let err = huge.unwrap_err().to_string();
    assert!(err.contains("row[0][0]") && err.contains("±1e100"), "{err}");
    // At the bound, Lemke–Howson still answers with finite numbers.
    let g = Game::new(
        &[vec![1e100, -1e100], vec![-1e100, 1e100]],
        &[vec![-1e100, 1e100], vec![1e100, -1e100]],
    )
    .unwrap();
    let s = solve(
        &g,
        Method::LemkeHowson,
        Options::default(),
        &Budget::within(Duration::from_secs(20)),
    )
    .unwrap();
    let e = &s.equilibria[0];
    assert!(
        e.row
            .iter()
            .chain(&e.col)
            .chain(&e.payoffs)
            .all(|v| v.is_finite()),
        "{e:?}"
    );
    assert!((e.row[0] - 0.5).abs() < 1e-9, "{e:?}");
}
