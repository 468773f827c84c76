//! Lemke–Howson by complementary pivoting on two tableaux, with a lexicographic ratio
//! test so degenerate games cannot make it cycle. Labels: 0..m are the row player's
//! strategies, m..m+n the column player's.

use nalgebra::{DMatrix, DVector};

use super::budget::Budget;
use super::game::{Equilibrium, Game, NashError};

/// A tableau with one column per label plus the right-hand side, and its basis. Stored
/// row-major in one buffer: a pivot is row operations, done in place.
struct Tableau {
    t: Vec<f64>,
    width: usize,
    rows: usize,
    basis: Vec<usize>,
    /// The labels of the initial (slack) basis, for the lexicographic tie-break.
    slack_labels: Vec<usize>,
}

impl Tableau {
    /// [M | I | 1] with the columns ordered by label: `decision_labels` for M's columns,
    /// `slack_labels` for the identity's.
    fn new(m: &DMatrix<f64>, decision_labels: &[usize], slack_labels: &[usize]) -> Self {
        let (rows, labels) = (m.nrows(), decision_labels.len() + slack_labels.len());
        let width = labels + 1;
        let mut t = vec![0.0; rows * width];
        for r in 0..rows {
            for (c, &l) in decision_labels.iter().enumerate() {
                t[r * width + l] = m[(r, c)];
            }
            t[r * width + slack_labels[r]] = 1.0;
            t[r * width + labels] = 1.0;
        }
        Self {
            t,
            width,
            rows,
            basis: slack_labels.to_vec(),
            slack_labels: slack_labels.to_vec(),
        }
    }

    fn at(&self, r: usize, c: usize) -> f64 {
        self.t[r * self.width + c]
    }

    fn is_basic(&self, label: usize) -> bool {
        self.basis.contains(&label)
    }

    /// True when row `a` is lexicographically smaller than row `b` in the ratio test:
    /// (rhs, slack columns…) each divided by the pivot-column entry.
    fn lex_less(&self, a: usize, b: usize, entering: usize) -> bool {
        let rhs = self.width - 1;
        let (pa, pb) = (self.at(a, entering), self.at(b, entering));
        for c in std::iter::once(rhs).chain(self.slack_labels.iter().copied()) {
            let (x, y) = (self.at(a, c) / pa, self.at(b, c) / pb);
            if (x - y).abs() > 1e-12 {
                return x < y;
            }
        }
        false
    }

    /// Brings `entering` into the basis; returns the label that leaves.
    fn pivot(&mut self, entering: usize) -> Result<usize, NashError> {
        let mut best: Option<usize> = None;
        for r in 0..self.rows {
            if self.at(r, entering) > 1e-12 && best.is_none_or(|b| self.lex_less(r, b, entering)) {
                best = Some(r);
            }
        }
        let row = best
            .ok_or_else(|| NashError::Unsuitable("Lemke–Howson found an unbounded ray".into()))?;
        let w = self.width;
        let p = self.at(row, entering);
        for v in &mut self.t[row * w..(row + 1) * w] {
            *v /= p;
        }
        let (before, rest) = self.t.split_at_mut(row * w);
        let (pivot_row, after) = rest.split_at_mut(w);
        for other in before.chunks_exact_mut(w).chain(after.chunks_exact_mut(w)) {
            let f = other[entering];
            if f != 0.0 {
                for (o, p) in other.iter_mut().zip(pivot_row.iter()) {
                    *o -= f * p;
                }
            }
        }
        Ok(std::mem::replace(&mut self.basis[row], entering))
    }

    /// The values of the basic decision variables with `labels`, normalised.
    fn strategy(&self, labels: std::ops::Range<usize>) -> DVector<f64> {
        let rhs = self.width - 1;
        let mut s = DVector::zeros(labels.len());
        for (r, &l) in self.basis.iter().enumerate() {
            if labels.contains(&l) {
                s[l - labels.start] = self.at(r, rhs) / self.at(r, l);
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
        // The path ends when the dropped label leaves a basis: every label is present again.
        if left == initial_label {
            break;
        }
        entering = left;
    }
    let x = row_t.strategy(0..m);
    let y = col_t.strategy(m..m + n);
    Ok(game.equilibrium(&x, &y))
}
