//! A validated bimatrix game, its results, and the checks every method shares.

use nalgebra::{DMatrix, DVector};

use super::{Method, TOL};

/// Why a game could not be solved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NashError {
    /// The matrices are unusable (empty, ragged, non-finite, mismatched).
    #[error("{0}")]
    InvalidGame(String),
    /// The method cannot handle this game in time or at all.
    #[error("{0}")]
    TooLarge(String),
    /// The method needs another kind of game (e.g. zero-sum).
    #[error("{0}")]
    Unsuitable(String),
    /// The work ran out of time.
    #[error("the deadline passed before the method finished")]
    DeadlineExceeded,
}

/// A two-player normal-form game: `a` pays the row player, `b` the column player.
#[derive(Debug, Clone, PartialEq)]
pub struct Game {
    /// Row player's payoffs (m × n).
    pub a: DMatrix<f64>,
    /// Column player's payoffs (m × n).
    pub b: DMatrix<f64>,
}

/// One equilibrium: both mixed strategies and both expected payoffs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Equilibrium {
    /// Row player's mixed strategy.
    pub row: Vec<f64>,
    /// Column player's mixed strategy.
    pub col: Vec<f64>,
    /// Expected payoffs `[row, col]`.
    pub payoffs: [f64; 2],
}

/// What a method found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Solution {
    /// The equilibria, in a deterministic order.
    pub equilibria: Vec<Equilibrium>,
    /// True when the game was found to be degenerate.
    pub degenerate: bool,
    /// The method used.
    pub method: Method,
    /// For learning methods: the largest gain either player could get by deviating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// For learning methods: iterations run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
}

/// Largest payoff magnitude: the solvers multiply and pivot on payoffs, and beyond this
/// their products could overflow f64.
pub const MAX_PAYOFF: f64 = 1e100;

fn matrix(name: &str, rows: &[Vec<f64>]) -> Result<DMatrix<f64>, NashError> {
    let m = rows.len();
    let n = rows.first().map_or(0, Vec::len);
    if m == 0 || n == 0 {
        return Err(NashError::InvalidGame(format!(
            "`{name}` must be a non-empty matrix"
        )));
    }
    if let Some(i) = rows.iter().position(|r| r.len() != n) {
        return Err(NashError::InvalidGame(format!(
            "`{name}` is ragged: row {i} has {} entries, row 0 has {n}",
            rows[i].len()
        )));
    }
    for (i, r) in rows.iter().enumerate() {
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(NashError::InvalidGame(format!(
                "`{name}[{i}][{j}]` is not a finite number"
            )));
        }
        if let Some(j) = r.iter().position(|v| v.abs() > MAX_PAYOFF) {
            return Err(NashError::InvalidGame(format!(
                "`{name}[{i}][{j}]` is {}; payoffs must be within ±{MAX_PAYOFF:e} (scale the game down: equilibria do not change)",
                r[j]
            )));
        }
    }
    Ok(DMatrix::from_fn(m, n, |i, j| rows[i][j]))
}

impl Game {
    /// Validates two payoff matrices given as rows.
    pub fn new(row: &[Vec<f64>], col: &[Vec<f64>]) -> Result<Self, NashError> {
        let a = matrix("row", row)?;
        let b = matrix("col", col)?;
        if a.shape() != b.shape() {
            return Err(NashError::InvalidGame(format!(
                "`row` is {}×{} but `col` is {}×{}",
                a.nrows(),
                a.ncols(),
                b.nrows(),
                b.ncols()
            )));
        }
        Ok(Self { a, b })
    }

    /// Rows (row player's strategies).
    pub fn m(&self) -> usize {
        self.a.nrows()
    }

    /// Columns (column player's strategies).
    pub fn n(&self) -> usize {
        self.a.ncols()
    }

    /// Builds an equilibrium record with its expected payoffs.
    pub fn equilibrium(&self, x: &DVector<f64>, y: &DVector<f64>) -> Equilibrium {
        let pa = (x.transpose() * &self.a * y)[(0, 0)];
        let pb = (x.transpose() * &self.b * y)[(0, 0)];
        let clean = |v: &DVector<f64>| {
            v.iter()
                .map(|p| if p.abs() < TOL { 0.0 } else { *p })
                .collect()
        };
        Equilibrium {
            row: clean(x),
            col: clean(y),
            payoffs: [pa, pb],
        }
    }

    /// True when neither player gains more than `tol` by deviating to a pure strategy.
    pub fn is_equilibrium(&self, x: &DVector<f64>, y: &DVector<f64>, tol: f64) -> bool {
        let (row_gain, col_gain) = self.deviation_gains(x, y);
        row_gain <= tol && col_gain <= tol
    }

    /// The best gains from deviating, for the row and the column player.
    pub fn deviation_gains(&self, x: &DVector<f64>, y: &DVector<f64>) -> (f64, f64) {
        let ay = &self.a * y;
        let xb = self.b.transpose() * x;
        let row_gain = ay.max() - x.dot(&ay);
        let col_gain = xb.max() - y.dot(&xb);
        (row_gain, col_gain)
    }

    /// True when some pure strategy has several pure best responses (a sure sign of a
    /// degenerate game).
    pub fn has_degenerate_pure_responses(&self) -> bool {
        let ties = |v: Vec<f64>| {
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            v.iter().filter(|x| (max - **x).abs() <= TOL).count() > 1
        };
        (0..self.m()).any(|i| ties(self.b.row(i).iter().copied().collect()))
            || (0..self.n()).any(|j| ties(self.a.column(j).iter().copied().collect()))
    }

    /// A copy with a constant added so every payoff is at least 1 (the polytope methods
    /// need positive payoffs; equilibria do not change).
    pub(crate) fn positive(&self) -> (DMatrix<f64>, DMatrix<f64>) {
        let shift = |m: &DMatrix<f64>| m.add_scalar((1.0 - m.min()).max(0.0));
        (shift(&self.a), shift(&self.b))
    }
}

/// Sorts equilibria deterministically and removes duplicates (within 1e-6).
pub(crate) fn canonical(mut eqs: Vec<Equilibrium>) -> Vec<Equilibrium> {
    let key = |e: &Equilibrium| -> Vec<i64> {
        e.row
            .iter()
            .chain(e.col.iter())
            .map(|p| -(p * 1e6).round() as i64)
            .collect()
    };
    eqs.sort_by_key(key);
    eqs.dedup_by(|a, b| {
        a.row
            .iter()
            .zip(&b.row)
            .chain(a.col.iter().zip(&b.col))
            .all(|(p, q)| (p - q).abs() < 1e-6)
    });
    eqs
}
