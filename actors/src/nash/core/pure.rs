//! Pure-strategy equilibria: cells where each player's payoff is a best response.

use nalgebra::DVector;

use super::TOL;
use super::game::{Equilibrium, Game, canonical};

/// Every pure-strategy equilibrium.
pub fn pure_equilibria(game: &Game) -> Vec<Equilibrium> {
    let (m, n) = (game.m(), game.n());
    let mut out = Vec::new();
    for i in 0..m {
        for j in 0..n {
            let row_best = game.a.column(j).max() - game.a[(i, j)] <= TOL;
            let col_best = game.b.row(i).max() - game.b[(i, j)] <= TOL;
            if row_best && col_best {
                let x = DVector::from_fn(m, |k, _| f64::from(u8::from(k == i)));
                let y = DVector::from_fn(n, |k, _| f64::from(u8::from(k == j)));
                out.push(game.equilibrium(&x, &y));
            }
        }
    }
    canonical(out)
}
