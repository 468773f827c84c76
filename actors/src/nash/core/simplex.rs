//! Zero-sum games by linear programming: with A' = A + c > 0, the column player's
//! max 1ᵀw s.t. A'w ≤ 1, w ≥ 0 has value 1/v'; the row player's optimal strategy is the
//! dual solution. A dense primal simplex with Bland's rule (no cycling).

use nalgebra::{DMatrix, DVector};

use super::budget::Budget;
use super::game::{Equilibrium, Game, NashError};

/// Most pivots before giving up (Bland's rule terminates; this bounds pathological cases).
const MAX_PIVOTS: usize = 100_000;

/// Value and optimal strategies of a zero-sum game (B = −A), checking `budget` at every
/// pivot so a deadline or a cancelled request frees the CPU.
pub fn zero_sum(game: &Game, budget: &Budget) -> Result<Equilibrium, NashError> {
    let scale = game.a.amax().max(1.0);
    if (&game.a + &game.b).amax() > 1e-9 * scale {
        return Err(NashError::Unsuitable(
            "zero_sum needs col = −row for every entry".into(),
        ));
    }
    let (m, n) = (game.m(), game.n());
    let shift = (1.0 - game.a.min()).max(0.0);
    let a = game.a.add_scalar(shift);
    // Tableau rows 0..m: [A' | I | 1]; row m: objective [−1 … | 0 … | 0].
    let mut t = DMatrix::zeros(m + 1, n + m + 1);
    for i in 0..m {
        for j in 0..n {
            t[(i, j)] = a[(i, j)];
        }
        t[(i, n + i)] = 1.0;
        t[(i, n + m)] = 1.0;
    }
    for j in 0..n {
        t[(m, j)] = -1.0;
    }
    let mut basis: Vec<usize> = (n..n + m).collect();
    let mut optimal = false;
    for _ in 0..MAX_PIVOTS {
        budget.check()?;
        // Bland: the lowest-index column with a negative reduced cost enters.
        let Some(e) = (0..n + m).find(|&c| t[(m, c)] < -1e-12) else {
            optimal = true;
            break;
        };
        let leave = (0..m)
            .filter(|&r| t[(r, e)] > 1e-12)
            .min_by(|&r, &s| {
                let (qr, qs) = (t[(r, n + m)] / t[(r, e)], t[(s, n + m)] / t[(s, e)]);
                qr.total_cmp(&qs).then(basis[r].cmp(&basis[s]))
            })
            .ok_or_else(|| NashError::Unsuitable("the linear program is unbounded".into()))?;
        let p = t[(leave, e)];
        let pivot_row = t.row(leave) / p;
        t.set_row(leave, &pivot_row);
        for r in 0..=m {
            if r != leave {
                let f = t[(r, e)];
                if f != 0.0 {
                    let updated = t.row(r) - &pivot_row * f;
                    t.set_row(r, &updated);
                }
            }
        }
        basis[leave] = e;
    }
    if !optimal {
        return Err(NashError::TooLarge(format!(
            "zero_sum did not reach the optimum within {MAX_PIVOTS} pivots"
        )));
    }
    let mut w = DVector::zeros(n);
    for (r, &bv) in basis.iter().enumerate() {
        if bv < n {
            w[bv] = t[(r, n + m)];
        }
    }
    let duals = DVector::from_fn(m, |i, _| t[(m, n + i)]);
    let total = w.sum();
    if total <= 0.0 {
        return Err(NashError::Unsuitable(
            "the linear program has no positive solution".into(),
        ));
    }
    let y = &w / total;
    let x = &duals / duals.sum();
    Ok(game.equilibrium(&x, &y))
}
