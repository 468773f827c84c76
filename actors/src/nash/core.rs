//! The Nash solver's pure core: plain Rust and nalgebra, no actors, no HTTP.
//!
//! Which method when: `pure` for pure equilibria only; `support_enumeration` for every
//! equilibrium of a non-degenerate game (small games); `vertex_enumeration` for every
//! extreme equilibrium, degenerate games included (small games); `lemke_howson` for one
//! equilibrium of a larger game (fast, any size we accept); `zero_sum` for the value and
//! optimal strategies of a zero-sum game (linear programming); `regret_matching` and
//! `fictitious_play` for large games, approximately, with the reached epsilon reported.

mod budget;
mod game;
mod learning;
mod lemke_howson;
mod pure;
mod simplex;
mod support;
mod vertex;

pub use budget::Budget;
pub use game::{Equilibrium, Game, MAX_PAYOFF, NashError, Solution};
pub use learning::{fictitious_play, regret_matching};
pub use lemke_howson::lemke_howson;
pub use pure::pure_equilibria;
pub use simplex::zero_sum;
pub use support::support_enumeration;
pub use vertex::vertex_enumeration;

/// Tolerance for equality of payoffs and positivity of probabilities.
pub const TOL: f64 = 1e-9;

/// A solution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Pure-strategy enumeration.
    Pure,
    /// Support enumeration (all equilibria of non-degenerate games).
    SupportEnumeration,
    /// Vertex enumeration (all extreme equilibria).
    VertexEnumeration,
    /// Lemke-Howson from an initial label.
    LemkeHowson,
    /// Linear programming for zero-sum games.
    ZeroSum,
    /// Regret matching (Hart & Mas-Colell), average strategies.
    RegretMatching,
    /// Fictitious play, empirical frequencies.
    FictitiousPlay,
}

/// Options for the methods that take some.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Lemke-Howson's initial label (0..m+n).
    pub initial_label: usize,
    /// Iteration budget of the learning methods.
    pub iterations: usize,
    /// Target epsilon of the learning methods (they stop early when reached).
    pub epsilon: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            initial_label: 0,
            iterations: 100_000,
            epsilon: 1e-4,
        }
    }
}

/// Solves `game` with `method`, within `budget`. A solution is only ever returned with
/// every number finite.
pub fn solve(
    game: &Game,
    method: Method,
    options: Options,
    budget: &Budget,
) -> Result<Solution, NashError> {
    let solution = solve_with(game, method, options, budget)?;
    let finite = solution.equilibria.iter().all(|e| {
        e.row
            .iter()
            .chain(&e.col)
            .chain(&e.payoffs)
            .all(|v| v.is_finite())
    }) && solution.epsilon.is_none_or(f64::is_finite);
    if !finite {
        return Err(NashError::InvalidGame(
            "the method lost numerical precision on this game; scale the payoffs down".into(),
        ));
    }
    Ok(solution)
}

fn solve_with(
    game: &Game,
    method: Method,
    options: Options,
    budget: &Budget,
) -> Result<Solution, NashError> {
    let degenerate = game.has_degenerate_pure_responses();
    let done = |equilibria: Vec<Equilibrium>, degenerate: bool| Solution {
        equilibria,
        degenerate,
        method,
        epsilon: None,
        iterations: None,
    };
    match method {
        Method::Pure => Ok(done(pure_equilibria(game), degenerate)),
        Method::SupportEnumeration => {
            let (eqs, degen) = support_enumeration(game, budget)?;
            Ok(done(eqs, degenerate || degen))
        }
        Method::VertexEnumeration => Ok(done(vertex_enumeration(game, budget)?, degenerate)),
        Method::LemkeHowson => Ok(done(
            vec![lemke_howson(game, options.initial_label, budget)?],
            degenerate,
        )),
        Method::ZeroSum => Ok(done(vec![zero_sum(game, budget)?], degenerate)),
        Method::RegretMatching => regret_matching(game, options, budget),
        Method::FictitiousPlay => fictitious_play(game, options, budget),
    }
}
