//! Support enumeration: for every pair of equal-size supports, solve the indifference
//! equations and keep the solutions that are strategies and best responses. Finds every
//! equilibrium of a non-degenerate game; an equilibrium with more best responses than its
//! support size marks the game degenerate.

use nalgebra::{DMatrix, DVector};

use super::TOL;
use super::budget::{Budget, choose};
use super::game::{Equilibrium, Game, NashError, canonical};

/// All supports of size `k` out of `n`, in lexicographic order.
pub(crate) fn subsets(n: usize, k: usize) -> impl Iterator<Item = Vec<usize>> {
    let mut current: Option<Vec<usize>> = (k <= n).then(|| (0..k).collect());
    std::iter::from_fn(move || {
        let out = current.clone()?;
        let next = {
            let mut c = out.clone();
            let mut i = k;
            loop {
                if i == 0 {
                    break None;
                }
                i -= 1;
                if c[i] < n - k + i {
                    c[i] += 1;
                    for t in i + 1..k {
                        c[t] = c[t - 1] + 1;
                    }
                    break Some(c);
                }
            }
        };
        current = next;
        Some(out)
    })
}

/// Solves for the strategy on `own` (of the player whose payoffs against the opponent are
/// `m`, rows = own strategies) that makes the opponent indifferent over `other`:
/// `Σ_i s_i m[i, j] = v` for j in `other`, `Σ s_i = 1`. Returns the full strategy.
fn indifference(
    m: &DMatrix<f64>,
    own: &[usize],
    other: &[usize],
    size: usize,
) -> Option<DVector<f64>> {
    let k = own.len();
    let mut lhs = DMatrix::zeros(k + 1, k + 1);
    let mut rhs = DVector::zeros(k + 1);
    for (r, &j) in other.iter().enumerate() {
        for (c, &i) in own.iter().enumerate() {
            lhs[(r, c)] = m[(i, j)];
        }
        lhs[(r, k)] = -1.0;
    }
    for c in 0..k {
        lhs[(k, c)] = 1.0;
    }
    rhs[k] = 1.0;
    let sol = lhs.lu().solve(&rhs)?;
    let mut s = DVector::zeros(size);
    for (c, &i) in own.iter().enumerate() {
        if sol[c] <= TOL {
            return None; // must be strictly positive on its support
        }
        s[i] = sol[c];
    }
    Some(s)
}

fn best_responses(payoffs: &DVector<f64>) -> usize {
    let max = payoffs.max();
    payoffs.iter().filter(|p| max - **p <= 1e-7).count()
}

/// Every equilibrium found by support enumeration, and whether degeneracy was seen.
pub fn support_enumeration(
    game: &Game,
    budget: &Budget,
) -> Result<(Vec<Equilibrium>, bool), NashError> {
    let (m, n) = (game.m(), game.n());
    let flops: f64 = (1..=m.min(n))
        .map(|k| choose(m, k) * choose(n, k) * 2.0 * ((k + 1) as f64).powi(3))
        .sum();
    budget.afford("support_enumeration", flops)?;
    let bt = game.b.clone();
    let at = game.a.transpose();
    let mut found = Vec::new();
    let mut degenerate = false;
    let mut checked = 0u64;
    for k in 1..=m.min(n) {
        for rows in subsets(m, k) {
            for cols in subsets(n, k) {
                checked += 1;
                if checked % 4096 == 0 {
                    budget.check()?;
                }
                // x makes the column player indifferent over `cols` (uses B);
                // y makes the row player indifferent over `rows` (uses Aᵀ).
                let Some(x) = indifference(&bt, &rows, &cols, m) else {
                    continue;
                };
                let Some(y) = indifference(&at, &cols, &rows, n) else {
                    continue;
                };
                if game.is_equilibrium(&x, &y, 1e-7) {
                    let ay = &game.a * &y;
                    let xb = game.b.transpose() * &x;
                    degenerate |= best_responses(&ay) > k || best_responses(&xb) > k;
                    found.push(game.equilibrium(&x, &y));
                }
            }
        }
    }
    Ok((canonical(found), degenerate))
}
