//! Times our Nash methods on seeded random games and writes the games, equilibria and
//! medians as JSON for `peers/nash_compare.py`, which times nashpy on the same games.
//! `cargo run --release -p swarm-benches --bin nash-compare > nash.json`

use std::time::{Duration, Instant};

use swarm_actors::nash::core::{Budget, Game, Method, Options, solve};
use swarm_benches::{quantile, random_matrix};

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort_unstable();
    quantile(&samples, 0.5)
}

fn main() -> anyhow::Result<()> {
    let mut cases = Vec::new();
    let plan: &[(Method, usize, usize)] = &[
        (Method::SupportEnumeration, 4, 20),
        (Method::SupportEnumeration, 6, 10),
        (Method::SupportEnumeration, 8, 5),
        (Method::LemkeHowson, 10, 50),
        (Method::LemkeHowson, 20, 20),
        (Method::LemkeHowson, 30, 10),
    ];
    for &(method, size, runs) in plan {
        let a = random_matrix(size, size, 1_000 + size as u64);
        let b = random_matrix(size, size, 2_000 + size as u64);
        let game = Game::new(&a, &b)?;
        let budget = Budget::within(Duration::from_secs(600));
        let solution = solve(&game, method, Options::default(), &budget)?;
        let t = median_time(runs, || {
            let _ = solve(&game, method, Options::default(), &budget);
        });
        eprintln!(
            "{method:?} {size}×{size}: {:.3} ms, {} equilibria",
            t.as_secs_f64() * 1e3,
            solution.equilibria.len()
        );
        cases.push(serde_json::json!({
            "method": method, "size": size, "row": a, "col": b,
            "ours_seconds": t.as_secs_f64(), "equilibria": solution.equilibria,
        }));
    }
    println!("{}", serde_json::to_string(&cases)?);
    Ok(())
}
