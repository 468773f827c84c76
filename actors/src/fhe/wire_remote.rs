//! How FHE requests and answers cross between nodes (inside the runtime's versioned
//! frames). Big-endian; `text`, `opt`, `list` and `json` are the runtime's fields
//! (`swarm_runtime::cluster::codec`: `text` = `u32` length + UTF-8, `opt` = `u8` flag +
//! value, `list` = `u32` count + items, `json` a tagged binary JSON value, laid out as in
//! the consensus codec's documentation, whose numbers arrive bit-for-bit); `bytes` is
//! `u32` length + the bytes, carried untouched (tfhe's own serialisation: ciphertext
//! lists, keys, encrypted scores); a job id is its 16 raw bytes; `ms` is a `u64` count of
//! whole milliseconds.
//!
//! - request: `u8 kind` then — public key (0): nothing; tally (1): `u64 options | bytes
//!   ballots | opt ms timeout`; auction (2): `u8 rule (0 first, 1 second) | bytes bids |
//!   opt ms timeout`; sum (3): `u64 values | bytes lists | opt ms timeout`; models (4):
//!   nothing; score (5): `text model | bytes sample`; job (6): `id | ms wait`; cancel
//!   (7): `id`.
//! - response: `u8 kind` then — public key (0): `text params | bytes key`, refused unless
//!   the params are this build's; job (1): `id | text kind (tally, auction, sum) | u8
//!   state (0 queued, 1 running, 2 done, 3 stopped) | u64 done | u64 total | opt json
//!   result | opt text reason`; models (2): `list of (text name | card)`; score (3):
//!   `bytes`.
//! - card: `u8 kind (0 linear, 1 logistic) | u64 features | u8 input bits (2..=16) | f64
//!   input scale | i64 input zero point | f64 output scale | i64 output zero point`.
//!
//! Affinity: a job lives in the job tables of the process that admitted it
//! (`jobs::find`), so a job's id (as text) is the affinity key of `job` and `cancel`, and
//! tally, auction and sum answers name the new job's id as created where they ran: a
//! job is polled and cancelled on its home node, from any node. Every node of the service
//! must load the same key set: a client encrypts with whichever node's public key it was given.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::body::Bytes;
use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{
    FieldReader, put_json, put_list, put_long, put_opt, put_size, put_text,
};
use swarm_runtime::cluster::wire::WireError;
use uuid::Uuid;

use super::core::auction::AuctionRule;
use super::core::linear::{ModelCard, ModelKind, OutputCard, Quantiser};
use super::core::params::PARAMS_VERSION;
use super::jobs::{JobView, ProgressView};
use super::service::{FheRequest, FheResponse, FheService};
use crate::consensus::wire::fields::{put_millis, put_opt_millis, read_millis, read_opt_millis};

/// The job kinds a job view may name.
const KINDS: [&str; 3] = ["tally", "auction", "sum"];
/// The states a job view may be in, by tag.
const STATES: [&str; 4] = ["queued", "running", "done", "stopped"];

fn bytes(out: &mut Vec<u8>, b: &Bytes) -> Result<(), WireError> {
    put_long(out, b, "ciphertext bytes")
}

fn read_bytes(r: &mut FieldReader<'_>) -> Result<Bytes, WireError> {
    r.long("ciphertext bytes").map(Bytes::from)
}

fn read_id(r: &mut FieldReader<'_>) -> Result<Uuid, WireError> {
    let mut id = [0u8; 16];
    id.copy_from_slice(r.take(16)?);
    Ok(Uuid::from_bytes(id))
}

/// One of `names`, as the static text the Rust type holds.
fn known(
    name: &str,
    names: &[&'static str],
    what: &'static str,
) -> Result<&'static str, WireError> {
    names
        .iter()
        .find(|n| **n == name)
        .copied()
        .ok_or(WireError::Invalid(what))
}

fn job(out: &mut Vec<u8>, j: &JobView) -> Result<(), WireError> {
    out.extend_from_slice(j.id.as_bytes());
    put_text(out, j.kind, "job kind")?;
    let state = STATES.iter().position(|s| *s == j.state);
    out.push(state.ok_or(WireError::Invalid("job state"))? as u8);
    out.extend_from_slice(&j.progress.done.to_be_bytes());
    out.extend_from_slice(&j.progress.total.to_be_bytes());
    put_opt(out, j.result.as_ref(), |out, v| {
        put_json(out, v, "job result")
    })?;
    put_opt(out, j.reason.as_deref(), |out, t| {
        put_text(out, t, "job reason")
    })
}

fn read_job(r: &mut FieldReader<'_>) -> Result<JobView, WireError> {
    Ok(JobView {
        id: read_id(r)?,
        kind: known(&r.text("job kind")?, &KINDS, "job kind")?,
        state: STATES
            .get(usize::from(r.u8()?))
            .copied()
            .ok_or(WireError::Invalid("job state"))?,
        progress: ProgressView {
            done: r.u64()?,
            total: r.u64()?,
        },
        result: r.opt(|r| r.json("job result"))?,
        reason: r.opt(|r| r.text("job reason"))?,
    })
}

fn card(out: &mut Vec<u8>, c: &ModelCard) {
    out.push(match c.kind {
        ModelKind::Linear => 0,
        ModelKind::Logistic => 1,
    });
    put_size(out, c.features);
    out.push(c.input.n_bits);
    out.extend_from_slice(&c.input.scale.to_bits().to_be_bytes());
    out.extend_from_slice(&c.input.zero_point.to_be_bytes());
    out.extend_from_slice(&c.output.scale.to_bits().to_be_bytes());
    out.extend_from_slice(&c.output.zero_point.to_be_bytes());
}

fn read_card(r: &mut FieldReader<'_>) -> Result<ModelCard, WireError> {
    let kind = match r.u8()? {
        0 => ModelKind::Linear,
        1 => ModelKind::Logistic,
        _ => return Err(WireError::Invalid("model kind")),
    };
    let features = r.size("features")?;
    let n_bits = r.u8()?;
    if !(2..=16).contains(&n_bits) {
        return Err(WireError::Invalid("quantiser bits"));
    }
    Ok(ModelCard {
        kind,
        features,
        input: Quantiser {
            n_bits,
            scale: r.f64()?,
            zero_point: r.u64()? as i64,
        },
        output: OutputCard {
            scale: r.f64()?,
            zero_point: r.u64()? as i64,
        },
    })
}

impl RemoteCodec for FheService {
    fn affinity(request: &FheRequest) -> Option<Cow<'_, str>> {
        match request {
            FheRequest::Job { id, .. } | FheRequest::Cancel { id } => {
                Some(Cow::Owned(id.to_string()))
            }
            _ => None,
        }
    }

    fn created(response: &FheResponse) -> Option<Cow<'_, str>> {
        match response {
            FheResponse::Job(view) => Some(Cow::Owned(view.id.to_string())),
            _ => None,
        }
    }

    fn encode_request(request: &FheRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match request {
            FheRequest::PublicKey => out.push(0),
            FheRequest::Tally {
                options,
                ballots,
                timeout: t,
            } => {
                out.push(1);
                put_size(&mut out, *options);
                bytes(&mut out, ballots)?;
                put_opt_millis(&mut out, *t);
            }
            FheRequest::Auction {
                rule,
                bids,
                timeout: t,
            } => {
                out.push(2);
                out.push(match rule {
                    AuctionRule::First => 0,
                    AuctionRule::Second => 1,
                });
                bytes(&mut out, bids)?;
                put_opt_millis(&mut out, *t);
            }
            FheRequest::Sum {
                values,
                lists,
                timeout: t,
            } => {
                out.push(3);
                put_size(&mut out, *values);
                bytes(&mut out, lists)?;
                put_opt_millis(&mut out, *t);
            }
            FheRequest::Models => out.push(4),
            FheRequest::Score { model, sample } => {
                out.push(5);
                put_text(&mut out, model, "model name")?;
                bytes(&mut out, sample)?;
            }
            FheRequest::Job { id, wait } => {
                out.push(6);
                out.extend_from_slice(id.as_bytes());
                put_millis(&mut out, *wait);
            }
            FheRequest::Cancel { id } => {
                out.push(7);
                out.extend_from_slice(id.as_bytes());
            }
        }
        Ok(out)
    }

    fn decode_request(b: &[u8]) -> Result<FheRequest, WireError> {
        let mut r = FieldReader::new(b);
        let request = match r.u8()? {
            0 => FheRequest::PublicKey,
            1 => FheRequest::Tally {
                options: r.size("options")?,
                ballots: read_bytes(&mut r)?,
                timeout: read_opt_millis(&mut r)?,
            },
            2 => FheRequest::Auction {
                rule: match r.u8()? {
                    0 => AuctionRule::First,
                    1 => AuctionRule::Second,
                    _ => return Err(WireError::Invalid("auction rule")),
                },
                bids: read_bytes(&mut r)?,
                timeout: read_opt_millis(&mut r)?,
            },
            3 => FheRequest::Sum {
                values: r.size("values")?,
                lists: read_bytes(&mut r)?,
                timeout: read_opt_millis(&mut r)?,
            },
            4 => FheRequest::Models,
            5 => FheRequest::Score {
                model: r.text("model name")?,
                sample: read_bytes(&mut r)?,
            },
            6 => FheRequest::Job {
                id: read_id(&mut r)?,
                wait: read_millis(&mut r)?,
            },
            7 => FheRequest::Cancel {
                id: read_id(&mut r)?,
            },
            _ => return Err(WireError::Invalid("FHE request kind")),
        };
        r.end()?;
        Ok(request)
    }

    fn encode_response(response: &FheResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match response {
            FheResponse::PublicKey { params, bytes: key } => {
                out.push(0);
                put_text(&mut out, params, "FHE params")?;
                bytes(&mut out, key)?;
            }
            FheResponse::Job(j) => {
                out.push(1);
                job(&mut out, j)?;
            }
            FheResponse::Models(models) => {
                out.push(2);
                put_list(&mut out, models.iter(), "models", |out, (name, c)| {
                    put_text(out, name, "model name")?;
                    card(out, c);
                    Ok(())
                })?;
            }
            FheResponse::Score(score) => {
                out.push(3);
                bytes(&mut out, score)?;
            }
        }
        Ok(out)
    }

    fn decode_response(b: &[u8]) -> Result<FheResponse, WireError> {
        let mut r = FieldReader::new(b);
        let response = match r.u8()? {
            0 => FheResponse::PublicKey {
                params: known(&r.text("FHE params")?, &[PARAMS_VERSION], "FHE params")?,
                bytes: read_bytes(&mut r)?,
            },
            1 => FheResponse::Job(read_job(&mut r)?),
            2 => {
                let mut models = BTreeMap::new();
                for (name, c) in r.list("models", |r| Ok((r.text("model name")?, read_card(r)?)))? {
                    if models.insert(name, c).is_some() {
                        return Err(WireError::Invalid("model name"));
                    }
                }
                FheResponse::Models(models)
            }
            3 => FheResponse::Score(read_bytes(&mut r)?),
            _ => return Err(WireError::Invalid("FHE response kind")),
        };
        r.end()?;
        Ok(response)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::consensus::wire::fields::trips;

    type S = FheService;

    fn id() -> Uuid {
        Uuid::from_bytes([0xa5; 16])
    }

    #[test]
    fn every_request_round_trips_and_every_cut_is_an_error() {
        let body = Bytes::from_static(b"\x00\x01framed ciphertexts\xff");
        let t = Some(Duration::from_millis(2500));
        for request in [
            FheRequest::PublicKey,
            FheRequest::Tally {
                options: 3,
                ballots: body.clone(),
                timeout: t,
            },
            FheRequest::Auction {
                rule: AuctionRule::First,
                bids: body.clone(),
                timeout: None,
            },
            FheRequest::Auction {
                rule: AuctionRule::Second,
                bids: Bytes::new(),
                timeout: t,
            },
            FheRequest::Sum {
                values: 8,
                lists: body.clone(),
                timeout: None,
            },
            FheRequest::Models,
            FheRequest::Score {
                model: "credit ✓".into(),
                sample: body,
            },
            FheRequest::Job {
                id: id(),
                wait: Duration::from_secs(30),
            },
            FheRequest::Cancel { id: id() },
        ] {
            trips(&request, S::encode_request, S::decode_request);
        }
    }

    #[test]
    fn every_response_round_trips_and_every_cut_is_an_error() {
        let card = |kind, n_bits| ModelCard {
            kind,
            features: 4,
            input: Quantiser {
                n_bits,
                scale: 0.1,
                zero_point: -3,
            },
            output: OutputCard {
                scale: 1e-3,
                zero_point: i64::MIN,
            },
        };
        let models = BTreeMap::from([
            ("a".to_string(), card(ModelKind::Linear, 2)),
            ("b".to_string(), card(ModelKind::Logistic, 16)),
        ]);
        let view = |state, result, reason| JobView {
            id: id(),
            kind: "auction",
            state,
            progress: ProgressView { done: 5, total: 9 },
            result,
            reason,
        };
        for response in [
            FheResponse::PublicKey {
                params: PARAMS_VERSION,
                bytes: Bytes::from_static(b"key"),
            },
            FheResponse::Job(view("queued", None, None)),
            FheResponse::Job(view("done", Some(json!({"winner": 1, "price": 7})), None)),
            FheResponse::Job(view("stopped", None, Some("cancelled".into()))),
            FheResponse::Models(models),
            FheResponse::Models(BTreeMap::new()),
            FheResponse::Score(Bytes::from_static(b"acc")),
        ] {
            trips(&response, S::encode_response, S::decode_response);
        }
    }

    #[test]
    fn bad_bytes_are_errors_never_panics() {
        let bad = |b: &[u8]| S::decode_request(b).unwrap_err();
        assert_eq!(bad(&[8]), WireError::Invalid("FHE request kind"));
        assert_eq!(bad(&[2, 2]), WireError::Invalid("auction rule"));
        assert_eq!(bad(&[7, 0, 0]), WireError::Truncated);
        assert_eq!(bad(&[4, 0]), WireError::Trailing(1));
        assert_eq!(
            bad(&[5, 0, 0, 0, 1, 0xc3]),
            WireError::Invalid("model name")
        );
        let bad = |b: &[u8]| S::decode_response(b).unwrap_err();
        assert_eq!(bad(&[4]), WireError::Invalid("FHE response kind"));
        // Another parameter set's key, an unknown job kind or state, a bad card.
        assert_eq!(
            bad(&[0, 0, 0, 0, 1, b'x']),
            WireError::Invalid("FHE params")
        );
        let mut view = vec![1];
        view.extend_from_slice(&[0; 16]);
        assert_eq!(
            bad(&[&view[..], &[0, 0, 0, 1, b'x']].concat()),
            WireError::Invalid("job kind")
        );
        view.extend_from_slice(&[0, 0, 0, 3, b's', b'u', b'm', 4]);
        assert_eq!(bad(&view), WireError::Invalid("job state"));
        let list = [2, 0, 0, 0, 1, 0, 0, 0, 1, b'm'];
        let model = |kind, bits| [&list[..], &[kind], &[0; 8], &[bits]].concat();
        assert_eq!(bad(&model(2, 8)), WireError::Invalid("model kind"));
        assert_eq!(bad(&model(0, 1)), WireError::Invalid("quantiser bits"));
        assert_eq!(
            bad(&[2, 0xff, 0xff, 0xff, 0xff]),
            WireError::TooLarge("models")
        );
        // Two cards under one name.
        let one = [&[0, 0, 0, 1, b'm', 0][..], &[0; 8], &[8], &[0; 32]].concat();
        let two = [&[2, 0, 0, 0, 2][..], &one, &one].concat();
        assert_eq!(bad(&two), WireError::Invalid("model name"));
    }
}
