//! Vertex enumeration: enumerate the vertices of both best-response polytopes
//! P = {x ≥ 0 : Bᵀx ≤ 1} and Q = {y ≥ 0 : Ay ≤ 1} (payoffs made positive), and keep the
//! completely labelled pairs. Finds every extreme equilibrium, degenerate games included.

use nalgebra::{DMatrix, DVector};

use super::budget::{Budget, choose};
use super::game::{Equilibrium, Game, NashError, canonical};
use super::support::subsets;

/// A polytope {z ≥ 0 : M z ≤ 1} with labels: `z_k = 0` has label `zero_labels[k]`,
/// row r of `M z = 1` has label `tight_labels[r]`.
struct Polytope<'a> {
    m: &'a DMatrix<f64>,
    zero_labels: Vec<usize>,
    tight_labels: Vec<usize>,
}

impl Polytope<'_> {
    /// Every non-zero vertex with its label set (a bitmask over m+n labels).
    fn vertices(&self, budget: &Budget) -> Result<Vec<(DVector<f64>, u128)>, NashError> {
        let d = self.m.ncols();
        let constraints = d + self.m.nrows();
        let mut out: Vec<(DVector<f64>, u128)> = Vec::new();
        for (checked, active) in subsets(constraints, d).enumerate() {
            if checked % 4096 == 0 {
                budget.check()?;
            }
            // Constraint c < d is z_c = 0; c ≥ d is row (c − d) of M z = 1.
            let mut lhs = DMatrix::zeros(d, d);
            let mut rhs = DVector::zeros(d);
            for (r, &c) in active.iter().enumerate() {
                if c < d {
                    lhs[(r, c)] = 1.0;
                } else {
                    lhs.row_mut(r).copy_from(&self.m.row(c - d));
                    rhs[r] = 1.0;
                }
            }
            let Some(z) = lhs.lu().solve(&rhs) else {
                continue;
            };
            if z.iter().any(|v| *v < -1e-9) || z.iter().all(|v| v.abs() < 1e-12) {
                continue;
            }
            let mz = self.m * &z;
            if mz.iter().any(|v| *v > 1.0 + 1e-9) {
                continue;
            }
            let mut labels = 0u128;
            for k in 0..d {
                if z[k].abs() <= 1e-9 {
                    labels |= 1 << self.zero_labels[k];
                }
            }
            for r in 0..self.m.nrows() {
                if (mz[r] - 1.0).abs() <= 1e-9 {
                    labels |= 1 << self.tight_labels[r];
                }
            }
            if !out.iter().any(|(v, _)| (v - &z).amax() < 1e-9) {
                out.push((z, labels));
            }
        }
        Ok(out)
    }
}

/// Every extreme equilibrium.
pub fn vertex_enumeration(game: &Game, budget: &Budget) -> Result<Vec<Equilibrium>, NashError> {
    let (m, n) = (game.m(), game.n());
    if m + n > 128 {
        return Err(NashError::TooLarge(
            "vertex_enumeration handles at most 128 strategies in all".into(),
        ));
    }
    let d3 = |d: usize| (d as f64).powi(3);
    budget.afford("vertex_enumeration", choose(m + n, m) * (d3(m) + d3(n)))?;
    let (a, b) = game.positive();
    let bt = b.transpose();
    // x ∈ P: x_i = 0 → label i; (Bᵀx)_j = 1 → label m + j.
    let p = Polytope {
        m: &bt,
        zero_labels: (0..m).collect(),
        tight_labels: (m..m + n).collect(),
    };
    // y ∈ Q: (A y)_i = 1 → label i; y_j = 0 → label m + j.
    let q = Polytope {
        m: &a,
        zero_labels: (m..m + n).collect(),
        tight_labels: (0..m).collect(),
    };
    let all: u128 = if m + n == 128 {
        u128::MAX
    } else {
        (1u128 << (m + n)) - 1
    };
    let (pv, qv) = (p.vertices(budget)?, q.vertices(budget)?);
    let mut found = Vec::new();
    for (x, lx) in &pv {
        for (y, ly) in &qv {
            if lx | ly == all {
                found.push(game.equilibrium(&(x / x.sum()), &(y / y.sum())));
            }
        }
    }
    Ok(canonical(found))
}
