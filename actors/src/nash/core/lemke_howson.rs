//! Lemke–Howson by complementary pivoting on two tableaux, with a lexicographic ratio
//! test so degenerate games cannot make it cycle. Labels: 0..m are the row player's
//! strategies, m..m+n the column player's.

use nalgebra::{DMatrix, DVector};

use super::budget::Budget;
use super::game::{Equilibrium, Game, NashError};

/// A tableau with one column per label plus the right-hand side, and its basis.
struct Tableau {
    t: DMatrix<f64>,
    basis: Vec<usize>,
    /// The labels of the initial (slack) basis, for the lexicographic tie-break.
    slack_labels: Vec<usize>,
}

impl Tableau {
    /// [M | I | 1] with the columns ordered by label: `decision_labels` for M's columns,
    /// `slack_labels` for the identity's.
    fn new(m: &DMatrix<f64>, decision_labels: &[usize], slack_labels: &[usize]) -> Self {
        let (rows, labels) = (m.nrows(), decision_labels.len() + slack_labels.len());
        let mut t = DMatrix::zeros(rows, labels + 1);
        for r in 0..rows {
            for (c, &l) in decision_labels.iter().enumerate() {
                t[(r, l)] = m[(r, c)];
            }
            t[(r, slack_labels[r])] = 1.0;
            t[(r, labels)] = 1.0;
        }
        Self {
            t,
            basis: slack_labels.to_vec(),
            slack_labels: slack_labels.to_vec(),
        }
    }

    fn is_basic(&self, label: usize) -> bool {
        self.basis.contains(&label)
    }

    /// Brings `entering` into the basis; returns the label that leaves.
    fn pivot(&mut self, entering: usize) -> Result<usize, NashError> {
        let rhs = self.t.ncols() - 1;
        let key = |t: &DMatrix<f64>, r: usize, slacks: &[usize]| -> Vec<f64> {
            let p = t[(r, entering)];
            std::iter::once(t[(r, rhs)] / p)
                .chain(slacks.iter().map(|&s| t[(r, s)] / p))
                .collect()
        };
        let mut best: Option<(usize, Vec<f64>)> = None;
        for r in 0..self.t.nrows() {
            if self.t[(r, entering)] <= 1e-12 {
                continue;
            }
            let k = key(&self.t, r, &self.slack_labels);
            let smaller = match &best {
                None => true,
                Some((_, b)) => k
                    .iter()
                    .zip(b)
                    .find(|(x, y)| (*x - *y).abs() > 1e-12)
                    .is_some_and(|(x, y)| x < y),
            };
            if smaller {
                best = Some((r, k));
            }
        }
        let (row, _) = best
            .ok_or_else(|| NashError::Unsuitable("Lemke–Howson found an unbounded ray".into()))?;
        let p = self.t[(row, entering)];
        let pivot_row = self.t.row(row) / p;
        self.t.set_row(row, &pivot_row);
        for r in 0..self.t.nrows() {
            if r != row {
                let f = self.t[(r, entering)];
                if f != 0.0 {
                    let updated = self.t.row(r) - &pivot_row * f;
                    self.t.set_row(r, &updated);
                }
            }
        }
        Ok(std::mem::replace(&mut self.basis[row], entering))
    }

    /// The values of the basic decision variables with `labels`, normalised.
    fn strategy(&self, labels: std::ops::Range<usize>) -> DVector<f64> {
        let rhs = self.t.ncols() - 1;
        let mut s = DVector::zeros(labels.len());
        for (r, &l) in self.basis.iter().enumerate() {
            if labels.contains(&l) {
                s[l - labels.start] = self.t[(r, rhs)] / self.t[(r, l)];
            }
        }
        let total = s.sum();
        if total > 0.0 { s / total } else { s }
    }
}

/// One equilibrium, reached by dropping `initial_label` (0..m+n).
pub fn lemke_howson(
    game: &Game,
    initial_label: usize,
    budget: &Budget,
) -> Result<Equilibrium, NashError> {
    let (m, n) = (game.m(), game.n());
    if initial_label >= m + n {
        return Err(NashError::InvalidGame(format!(
            "initial_label must be below {} (m + n)",
            m + n
        )));
    }
    let (a, b) = game.positive();
    let rows: Vec<usize> = (0..m).collect();
    let cols: Vec<usize> = (m..m + n).collect();
    // Row player's tableau: Bᵀx + s = 1 (x labels 0..m, slacks m..m+n).
    let mut row_t = Tableau::new(&b.transpose(), &rows, &cols);
    // Column player's tableau: A y + r = 1 (slacks 0..m, y labels m..m+n).
    let mut col_t = Tableau::new(&a, &cols, &rows);
    let mut on_row = !row_t.is_basic(initial_label) && initial_label < m;
    let mut entering = initial_label;
    let max_steps = 50 * (m + n) * (m + n) + 1000;
    for step in 0.. {
        if step % 64 == 0 {
            budget.check()?;
        }
        if step > max_steps {
            return Err(NashError::Unsuitable(
                "Lemke–Howson did not converge".into(),
            ));
        }
        let tableau = if on_row { &mut row_t } else { &mut col_t };
        let left = tableau.pivot(entering)?;
        on_row = !on_row;
        let complete = (0..m + n).all(|l| !row_t.is_basic(l) || !col_t.is_basic(l));
        if complete {
            break;
        }
        entering = left;
    }
    let x = row_t.strategy(0..m);
    let y = col_t.strategy(m..m + n);
    Ok(game.equilibrium(&x, &y))
}
