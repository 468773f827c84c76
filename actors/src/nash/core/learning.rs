//! Learning dynamics for large games, run for an iteration budget and reporting the
//! reached epsilon (the largest gain from a unilateral deviation, against the averages).
//! Regret matching (Hart & Mas-Colell 2000): play in proportion to positive cumulative
//! regret; the average strategies converge (to Nash in two-player zero-sum games).
//! Fictitious play: each player best-responds to the other's empirical frequencies.

use nalgebra::DVector;

use super::budget::Budget;
use super::game::{Game, NashError, Solution};
use super::{Method, Options};

fn regret_strategy(regret: &DVector<f64>) -> DVector<f64> {
    let positive = regret.map(|r| r.max(0.0));
    let total = positive.sum();
    if total > 0.0 {
        positive / total
    } else {
        DVector::from_element(regret.len(), 1.0 / regret.len() as f64)
    }
}

fn argmax(v: &DVector<f64>) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, x)| {
            if *x > best.1 { (i, *x) } else { best }
        })
        .0
}

fn finish(
    game: &Game,
    method: Method,
    x: DVector<f64>,
    y: DVector<f64>,
    iterations: usize,
) -> Solution {
    let (gx, gy) = game.deviation_gains(&x, &y);
    Solution {
        equilibria: vec![game.equilibrium(&x, &y)],
        degenerate: false,
        method,
        epsilon: Some(gx.max(gy).max(0.0)),
        iterations: Some(iterations),
    }
}

/// Iterations between convergence (and deadline) checks.
const CHECK_EVERY: usize = 256;

/// Checks the deadline, then whether the averages `sx/t`, `sy/t` are within `epsilon`.
fn reached(
    game: &Game,
    sx: &DVector<f64>,
    sy: &DVector<f64>,
    t: usize,
    epsilon: f64,
    budget: &Budget,
) -> Result<bool, NashError> {
    budget.check()?;
    let (gx, gy) = game.deviation_gains(&(sx / t as f64), &(sy / t as f64));
    Ok(gx.max(gy) <= epsilon)
}

fn validate(options: &Options) -> Result<(), NashError> {
    if options.iterations == 0 || options.iterations > 100_000_000 {
        return Err(NashError::InvalidGame(
            "iterations must be between 1 and 100,000,000".into(),
        ));
    }
    if !(options.epsilon.is_finite() && options.epsilon >= 0.0) {
        return Err(NashError::InvalidGame(
            "epsilon must be a finite number ≥ 0".into(),
        ));
    }
    Ok(())
}

/// Regret matching with full-information expected regrets; average strategies.
pub fn regret_matching(
    game: &Game,
    options: Options,
    budget: &Budget,
) -> Result<Solution, NashError> {
    validate(&options)?;
    let (m, n) = (game.m(), game.n());
    let (mut rx, mut ry) = (DVector::zeros(m), DVector::zeros(n));
    let (mut sx, mut sy) = (DVector::zeros(m), DVector::zeros(n));
    let bt = game.b.transpose();
    let mut t = 0;
    while t < options.iterations {
        let (x, y) = (regret_strategy(&rx), regret_strategy(&ry));
        let (ux, uy) = (&game.a * &y, &bt * &x);
        rx += ux.add_scalar(-x.dot(&ux));
        ry += uy.add_scalar(-y.dot(&uy));
        sx += &x;
        sy += &y;
        t += 1;
        if t % CHECK_EVERY == 0 && reached(game, &sx, &sy, t, options.epsilon, budget)? {
            break;
        }
    }
    Ok(finish(
        game,
        Method::RegretMatching,
        &sx / t as f64,
        &sy / t as f64,
        t,
    ))
}

/// Fictitious play from the first pure strategies; empirical frequencies.
pub fn fictitious_play(
    game: &Game,
    options: Options,
    budget: &Budget,
) -> Result<Solution, NashError> {
    validate(&options)?;
    let (m, n) = (game.m(), game.n());
    let (mut cx, mut cy) = (DVector::zeros(m), DVector::zeros(n));
    cx[0] = 1.0;
    cy[0] = 1.0;
    // Running payoff sums against the opponent's counts: A·cy and Bᵀ·cx.
    let mut ay = game.a.column(0).into_owned();
    let mut bx = game.b.row(0).transpose();
    let mut t = 1;
    while t < options.iterations {
        let (i, j) = (argmax(&ay), argmax(&bx));
        cx[i] += 1.0;
        cy[j] += 1.0;
        ay += game.a.column(j);
        bx += game.b.row(i).transpose();
        t += 1;
        if t % CHECK_EVERY == 0 && reached(game, &cx, &cy, t, options.epsilon, budget)? {
            break;
        }
    }
    Ok(finish(
        game,
        Method::FictitiousPlay,
        &cx / t as f64,
        &cy / t as f64,
        t,
    ))
}
