//! How Nash requests and solutions cross between nodes (inside the runtime's versioned
//! frames). Big-endian; `f64`s as IEEE-754 bits, so payoffs and strategies arrive
//! bit-for-bit.
//!
//! - request: `u8 method | u64 initial label | u64 iterations | f64 epsilon | u32 m |
//!   u32 n | f64s row payoffs (row-major) | f64s column payoffs`; the game is validated
//!   again on arrival.
//! - solution: `u32 count | per equilibrium: f64s row, f64s col, f64 ×2 payoffs |
//!   u8 degenerate | u8 method | u8 has epsilon [f64] | u8 has iterations [u64]`.

use std::sync::Arc;

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{FieldReader, put_f64s};
use swarm_runtime::cluster::wire::WireError;

use super::core::{Equilibrium, Game, Method, Options, Solution};
use super::service::{NashRequest, NashService};

const METHODS: [Method; 7] = [
    Method::Pure,
    Method::SupportEnumeration,
    Method::VertexEnumeration,
    Method::LemkeHowson,
    Method::ZeroSum,
    Method::RegretMatching,
    Method::FictitiousPlay,
];

fn method_byte(m: Method) -> u8 {
    METHODS.iter().position(|x| *x == m).unwrap_or(0) as u8
}

fn method_of(b: u8) -> Result<Method, WireError> {
    METHODS
        .get(usize::from(b))
        .copied()
        .ok_or(WireError::Invalid("method"))
}

fn row_major(m: &nalgebra::DMatrix<f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect()
}

fn rows(values: &[f64], n: usize) -> Vec<Vec<f64>> {
    values.chunks(n.max(1)).map(<[f64]>::to_vec).collect()
}

fn flag(out: &mut Vec<u8>, value: Option<[u8; 8]>) {
    match value {
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(&bytes);
        }
        None => out.push(0),
    }
}

fn optional(r: &mut FieldReader<'_>) -> Result<Option<[u8; 8]>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(r.take(8)?);
            Ok(Some(b))
        }
        _ => Err(WireError::Invalid("flag")),
    }
}

impl RemoteCodec for NashService {
    fn encode_request(request: &NashRequest) -> Result<Vec<u8>, WireError> {
        let mut out = vec![method_byte(request.method)];
        let o = request.options;
        out.extend_from_slice(&(o.initial_label as u64).to_be_bytes());
        out.extend_from_slice(&(o.iterations as u64).to_be_bytes());
        out.extend_from_slice(&o.epsilon.to_bits().to_be_bytes());
        let game = &request.game;
        out.extend_from_slice(&(game.m() as u32).to_be_bytes());
        out.extend_from_slice(&(game.n() as u32).to_be_bytes());
        put_f64s(&mut out, &row_major(&game.a), "row payoffs")?;
        put_f64s(&mut out, &row_major(&game.b), "column payoffs")?;
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<NashRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let method = method_of(r.u8()?)?;
        let initial_label = usize::try_from(r.u64()?).map_err(|_| WireError::Invalid("label"))?;
        let iterations = usize::try_from(r.u64()?).map_err(|_| WireError::Invalid("iterations"))?;
        let epsilon = r.f64()?;
        let (m, n) = (r.u32()? as usize, r.u32()? as usize);
        let a = r.f64s("row payoffs")?;
        let b = r.f64s("column payoffs")?;
        r.end()?;
        if a.len() != m.saturating_mul(n) || b.len() != a.len() {
            return Err(WireError::Invalid("game shape"));
        }
        let game = Game::new(&rows(&a, n), &rows(&b, n)).map_err(|_| WireError::Invalid("game"))?;
        Ok(NashRequest {
            game: Arc::new(game),
            method,
            options: Options {
                initial_label,
                iterations,
                epsilon,
            },
        })
    }

    fn encode_response(s: &Solution) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        out.extend_from_slice(&(s.equilibria.len() as u32).to_be_bytes());
        for e in &s.equilibria {
            put_f64s(&mut out, &e.row, "row strategy")?;
            put_f64s(&mut out, &e.col, "column strategy")?;
            put_f64s(&mut out, &e.payoffs, "payoffs")?;
        }
        out.push(u8::from(s.degenerate));
        out.push(method_byte(s.method));
        flag(&mut out, s.epsilon.map(|e| e.to_bits().to_be_bytes()));
        flag(&mut out, s.iterations.map(|i| (i as u64).to_be_bytes()));
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<Solution, WireError> {
        let mut r = FieldReader::new(bytes);
        let count = r.u32()? as usize;
        let mut equilibria = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let row = r.f64s("row strategy")?;
            let col = r.f64s("column strategy")?;
            let payoffs: [f64; 2] = r
                .f64s("payoffs")?
                .try_into()
                .map_err(|_| WireError::Invalid("payoffs"))?;
            equilibria.push(Equilibrium { row, col, payoffs });
        }
        let degenerate = r.u8()? != 0;
        let method = method_of(r.u8()?)?;
        let epsilon = optional(&mut r)?.map(|b| f64::from_bits(u64::from_be_bytes(b)));
        let iterations = optional(&mut r)?
            .map(|b| {
                usize::try_from(u64::from_be_bytes(b)).map_err(|_| WireError::Invalid("iterations"))
            })
            .transpose()?;
        r.end()?;
        Ok(Solution {
            equilibria,
            degenerate,
            method,
            epsilon,
            iterations,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_and_solution_round_trip_bit_for_bit() {
        let game = Game::new(
            &[vec![3.0, 0.1], vec![-1e-300, 2.5]],
            &[vec![2.0, 0.0], vec![0.0, 1.0 / 3.0]],
        )
        .unwrap();
        let request = NashRequest {
            game: Arc::new(game.clone()),
            method: Method::FictitiousPlay,
            options: Options {
                initial_label: 3,
                iterations: 12345,
                epsilon: 1e-7,
            },
        };
        let back =
            NashService::decode_request(&NashService::encode_request(&request).unwrap()).unwrap();
        assert_eq!(*back.game, game);
        assert_eq!(back.method, Method::FictitiousPlay);
        assert_eq!(back.options, request.options);
        let solution = Solution {
            equilibria: vec![Equilibrium {
                row: vec![0.25, 0.75],
                col: vec![1.0 / 3.0, 2.0 / 3.0],
                payoffs: [1.5, -0.1],
            }],
            degenerate: true,
            method: Method::RegretMatching,
            epsilon: Some(1e-5),
            iterations: Some(77),
        };
        let bytes = NashService::encode_response(&solution).unwrap();
        assert_eq!(NashService::decode_response(&bytes).unwrap(), solution);
        for cut in 0..bytes.len() {
            assert!(NashService::decode_response(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn a_bad_game_on_the_wire_is_refused() {
        let request = NashRequest {
            game: Arc::new(Game::new(&[vec![1.0]], &[vec![1.0]]).unwrap()),
            method: Method::Pure,
            options: Options::default(),
        };
        let mut bytes = NashService::encode_request(&request).unwrap();
        // The last 8 bytes are the column payoff: make it NaN.
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&f64::NAN.to_bits().to_be_bytes());
        assert_eq!(
            NashService::decode_request(&bytes).err(),
            Some(WireError::Invalid("game"))
        );
    }
}
