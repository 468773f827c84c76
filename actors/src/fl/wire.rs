//! How FL requests and rounds cross between nodes (inside the runtime's versioned
//! frames). A round lives on the node that opened it: its id is the affinity key, so
//! submissions and reads go there. Big-endian; weights as `u32` count + IEEE-754 `f32`
//! bits; the strategy as its JSON object (the same one the HTTP API takes).
//!
//! - request: `u8 kind` then — open (0): `strategy | u64 min clients | u64 deadline ms |
//!   opt u64 dimension | opt f32s current | opt round after`; submit (1): `round | client |
//!   f32s weights | u64 examples`; sealed (2): `round | client | bytes list`; get (3):
//!   `round`; wait (4): `round | u64 wait ms`. Text is `u32` length + UTF-8; `opt` is a
//!   `u8` flag before the value.
//! - round: `id | u8 status (0 open, 1 aggregating, 2 closed, 3 failed + reason) |
//!   strategy | u64 min clients | u32 count + participants | u64 server round |
//!   opt f32s model`.

use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{FieldReader, put_long};
use swarm_runtime::cluster::wire::WireError;

use super::core::{RoundStatus, Strategy, Update};
use super::service::{FlRequest, FlService, OpenRound, RoundView};

/// At most this many floats in one vector (64 MiB of f32).
const MAX_FLOATS: usize = 16 << 20;

fn text(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    put_long(out, s.as_bytes(), "text")
}

fn read_text(r: &mut FieldReader<'_>) -> Result<String, WireError> {
    String::from_utf8(r.long("text")?).map_err(|_| WireError::Invalid("text"))
}

fn floats(out: &mut Vec<u8>, v: &[f32]) -> Result<(), WireError> {
    if v.len() > MAX_FLOATS {
        return Err(WireError::TooLarge("weights"));
    }
    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
    Ok(())
}

fn read_floats(r: &mut FieldReader<'_>) -> Result<Vec<f32>, WireError> {
    let n = r.u32()? as usize;
    if n > MAX_FLOATS {
        return Err(WireError::TooLarge("weights"));
    }
    let bytes = r.take(n * 4)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect())
}

fn u64_of(n: usize) -> [u8; 8] {
    (n as u64).to_be_bytes()
}

fn usize_of(r: &mut FieldReader<'_>) -> Result<usize, WireError> {
    usize::try_from(r.u64()?).map_err(|_| WireError::Invalid("count"))
}

fn flag(r: &mut FieldReader<'_>) -> Result<bool, WireError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(WireError::Invalid("flag")),
    }
}

fn strategy(out: &mut Vec<u8>, s: &Strategy) -> Result<(), WireError> {
    let json = serde_json::to_vec(s).map_err(|_| WireError::Invalid("strategy"))?;
    put_long(out, &json, "strategy")
}

fn read_strategy(r: &mut FieldReader<'_>) -> Result<Strategy, WireError> {
    serde_json::from_slice(&r.long("strategy")?).map_err(|_| WireError::Invalid("strategy"))
}

fn encode_open(out: &mut Vec<u8>, o: &OpenRound) -> Result<(), WireError> {
    strategy(out, &o.strategy)?;
    out.extend_from_slice(&u64_of(o.min_clients));
    out.extend_from_slice(&(o.deadline.as_millis() as u64).to_be_bytes());
    match o.dimension {
        Some(d) => {
            out.push(1);
            out.extend_from_slice(&u64_of(d));
        }
        None => out.push(0),
    }
    match &o.current {
        Some(c) => {
            out.push(1);
            floats(out, c)?;
        }
        None => out.push(0),
    }
    match &o.after {
        Some(a) => {
            out.push(1);
            text(out, a)?;
        }
        None => out.push(0),
    }
    Ok(())
}

fn decode_open(r: &mut FieldReader<'_>) -> Result<OpenRound, WireError> {
    let strategy = read_strategy(r)?;
    let min_clients = usize_of(r)?;
    let deadline = Duration::from_millis(r.u64()?);
    let dimension = if flag(r)? { Some(usize_of(r)?) } else { None };
    let current = if flag(r)? {
        Some(read_floats(r)?)
    } else {
        None
    };
    let after = if flag(r)? { Some(read_text(r)?) } else { None };
    Ok(OpenRound {
        strategy,
        min_clients,
        deadline,
        dimension,
        current,
        after,
    })
}

impl RemoteCodec for FlService {
    fn encode_request(request: &FlRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match request {
            FlRequest::Open(open) => {
                out.push(0);
                encode_open(&mut out, open)?;
            }
            FlRequest::Submit { round, update } => {
                out.push(1);
                text(&mut out, round)?;
                text(&mut out, &update.client)?;
                floats(&mut out, &update.weights)?;
                out.extend_from_slice(&update.num_examples.to_be_bytes());
            }
            FlRequest::SubmitSealed {
                round,
                client,
                list,
            } => {
                out.push(2);
                text(&mut out, round)?;
                text(&mut out, client)?;
                put_long(&mut out, list, "sealed update")?;
            }
            FlRequest::Get { round } => {
                out.push(3);
                text(&mut out, round)?;
            }
            FlRequest::Wait { round, wait } => {
                out.push(4);
                text(&mut out, round)?;
                out.extend_from_slice(&(wait.as_millis() as u64).to_be_bytes());
            }
        }
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<FlRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let request = match r.u8()? {
            0 => FlRequest::Open(Box::new(decode_open(&mut r)?)),
            1 => FlRequest::Submit {
                round: read_text(&mut r)?,
                update: Update {
                    client: read_text(&mut r)?,
                    weights: Arc::from(read_floats(&mut r)?),
                    num_examples: r.u64()?,
                },
            },
            2 => FlRequest::SubmitSealed {
                round: read_text(&mut r)?,
                client: read_text(&mut r)?,
                list: axum::body::Bytes::from(r.long("sealed update")?),
            },
            3 => FlRequest::Get {
                round: read_text(&mut r)?,
            },
            4 => FlRequest::Wait {
                round: read_text(&mut r)?,
                wait: Duration::from_millis(r.u64()?),
            },
            _ => return Err(WireError::Invalid("FL request kind")),
        };
        r.end()?;
        Ok(request)
    }

    fn encode_response(v: &RoundView) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        text(&mut out, &v.id)?;
        match &v.status {
            RoundStatus::Open => out.push(0),
            RoundStatus::Aggregating => out.push(1),
            RoundStatus::Closed => out.push(2),
            RoundStatus::Failed { reason } => {
                out.push(3);
                text(&mut out, reason)?;
            }
        }
        strategy(&mut out, &v.strategy)?;
        out.extend_from_slice(&u64_of(v.min_clients));
        out.extend_from_slice(&(v.participants.len() as u32).to_be_bytes());
        for p in &v.participants {
            text(&mut out, p)?;
        }
        out.extend_from_slice(&v.server_round.to_be_bytes());
        match &v.model {
            Some(m) => {
                out.push(1);
                floats(&mut out, m)?;
            }
            None => out.push(0),
        }
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<RoundView, WireError> {
        let mut r = FieldReader::new(bytes);
        let id = read_text(&mut r)?;
        let status = match r.u8()? {
            0 => RoundStatus::Open,
            1 => RoundStatus::Aggregating,
            2 => RoundStatus::Closed,
            3 => RoundStatus::Failed {
                reason: read_text(&mut r)?,
            },
            _ => return Err(WireError::Invalid("round status")),
        };
        let strategy = read_strategy(&mut r)?;
        let min_clients = usize_of(&mut r)?;
        let count = r.u32()? as usize;
        let mut participants = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            participants.push(read_text(&mut r)?);
        }
        let server_round = r.u64()?;
        let model = if flag(&mut r)? {
            Some(Arc::from(read_floats(&mut r)?))
        } else {
            None
        };
        r.end()?;
        Ok(RoundView {
            id,
            status,
            strategy,
            min_clients,
            participants,
            server_round,
            model,
        })
    }

    fn affinity(request: &FlRequest) -> Option<Cow<'_, str>> {
        match request {
            FlRequest::Open(open) => open.after.as_deref().map(Cow::Borrowed),
            FlRequest::Submit { round, .. }
            | FlRequest::SubmitSealed { round, .. }
            | FlRequest::Get { round }
            | FlRequest::Wait { round, .. } => Some(Cow::Borrowed(round)),
        }
    }

    fn created(response: &RoundView) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&response.id))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_rounds_round_trip() {
        let open = FlRequest::Open(Box::new(OpenRound {
            strategy: Strategy::FedMedian,
            min_clients: 3,
            deadline: Duration::from_millis(1500),
            dimension: Some(4),
            current: Some(vec![0.5, -1.25, f32::MIN_POSITIVE, 3.0]),
            after: Some("r1".into()),
        }));
        let bytes = FlService::encode_request(&open).unwrap();
        let back = FlService::decode_request(&bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{open:?}"));
        assert_eq!(FlService::affinity(&back).as_deref(), Some("r1"));
        for cut in 0..bytes.len() {
            assert!(
                FlService::decode_request(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let submit = FlRequest::Submit {
            round: "r2".into(),
            update: Update {
                client: "c1".into(),
                weights: Arc::from(vec![1.0f32, 2.0, -0.0]),
                num_examples: 7,
            },
        };
        let back = FlService::decode_request(&FlService::encode_request(&submit).unwrap()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{submit:?}"));
        let view = RoundView {
            id: "r3".into(),
            status: RoundStatus::Failed {
                reason: "deadline".into(),
            },
            strategy: Strategy::FedAvg,
            min_clients: 2,
            participants: vec!["a".into(), "b".into()],
            server_round: 4,
            model: Some(Arc::from(vec![0.25f32, 0.75])),
        };
        let bytes = FlService::encode_response(&view).unwrap();
        let back = FlService::decode_response(&bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{view:?}"));
        assert_eq!(FlService::created(&back).as_deref(), Some("r3"));
    }
}
