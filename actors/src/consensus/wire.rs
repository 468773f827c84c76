//! How consensus requests and answers cross between nodes (inside the runtime's versioned
//! frames). Big-endian; `text` (`u32` length + UTF-8), `opt` (`u8` 0/1 flag before the
//! value), `list` (`u32` count, at most 2^20, before the items) and `json` are the
//! runtime's fields (`swarm_runtime::cluster::codec`); `hex` and `ms` are laid out as in
//! `fields`; a phase is `u8` 1 commit, 2 reject (0: none, where optional).
//!
//! - json (the runtime's `put_json`): `u8 tag` then — null (0), false (1), true (2), u64
//!   (3), negative i64 (4), f64 bits (5), string (6) `text`, array (7) `list of json`,
//!   object (8) `list of (text key | json)` with no key twice; at most 128 arrays and
//!   objects deep. Numbers arrive bit-for-bit (so the payload's canonical bytes, hence its
//!   digest, are the same on both sides), which JSON text re-parsed by serde_json does not
//!   promise.
//! - request: `u8 kind` then — propose (0): `json payload | rule | opt ms timeout`;
//!   voters (1): nothing; verify (2): `certificate`.
//! - rule: `u8 kind` then — always (0); max bytes (1): `u64`; required keys (2): `list of
//!   text`; number in range (3): `text key | f64 min | f64 max` (IEEE-754 bits);
//!   majority (4): `text answers key | text claim key`.
//! - certificate: `text swarm | u64 view | u64 sequence | phase | hex digest | list of
//!   (u32 voter | hex signature)`. The signed fields and signatures arrive unchanged
//!   (signatures as their 64 raw bytes), so a certificate verifies after crossing.
//! - response: `u8 kind` then — decided (0): `u64 sequence | hex digest | certificate |
//!   list of (u32 voter | certificate | certificate) evidence | list of (u8 kind: 0
//!   unknown voter, 1 wrong slot, 2 bad signature, 3 replay, 4 stale, 5 equivocation |
//!   u32 voter) refused`; voters (1): `text swarm | u64 n | u64 f | u64 quorum | list of
//!   (u32 id | hex key)`; verified (2): `u8 valid | phase or 0 | opt text reason`.
//!
//! No affinity: any node's voters can decide a proposal. But each node's voters draw
//! fresh random keys when its engine starts (`Voter::generate`; nothing derives them
//! from `swarm_id` or a seed), so a certificate verifies only against the voter set of
//! the node — and the process lifetime — that issued it: on another node, even with the
//! same `swarm_id`, it fails with a bad signature. `voters` and `verify` answer for
//! whichever node the call reaches; verify offline with the issuing node's keys.

pub(crate) mod fields;

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{
    FieldReader, put_flag, put_json, put_list, put_opt, put_size, put_text,
};
use swarm_runtime::cluster::wire::WireError;

use self::fields::{hex_field, put_opt_millis, read_hex, read_opt_millis};

use super::core::{Certificate, CertificateVote, Evidence, Phase, Rule, VoteError};
use super::engine::Decision;
use super::service::{
    ConsensusRequest, ConsensusResponse, ConsensusService, Verification, VoterKey, VoterSetView,
};

fn phase_tag(phase: Option<Phase>) -> u8 {
    match phase {
        None => 0,
        Some(Phase::Commit) => 1,
        Some(Phase::Reject) => 2,
    }
}

fn read_phase(r: &mut FieldReader<'_>) -> Result<Option<Phase>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(Phase::Commit)),
        2 => Ok(Some(Phase::Reject)),
        _ => Err(WireError::Invalid("phase")),
    }
}

fn rule(out: &mut Vec<u8>, rule: &Rule) -> Result<(), WireError> {
    match rule {
        Rule::Always => out.push(0),
        Rule::MaxBytes { max } => {
            out.push(1);
            put_size(out, *max);
        }
        Rule::RequiredKeys { keys } => {
            out.push(2);
            put_list(out, keys.iter(), "rule keys", |out, k| {
                put_text(out, k, "rule key")
            })?;
        }
        Rule::NumberInRange { key, min, max } => {
            out.push(3);
            put_text(out, key, "rule key")?;
            out.extend_from_slice(&min.to_bits().to_be_bytes());
            out.extend_from_slice(&max.to_bits().to_be_bytes());
        }
        Rule::Majority { answers, claim } => {
            out.push(4);
            put_text(out, answers, "rule key")?;
            put_text(out, claim, "rule key")?;
        }
    }
    Ok(())
}

fn read_rule(r: &mut FieldReader<'_>) -> Result<Rule, WireError> {
    Ok(match r.u8()? {
        0 => Rule::Always,
        1 => Rule::MaxBytes {
            max: r.size("rule max")?,
        },
        2 => Rule::RequiredKeys {
            keys: r.list("rule keys", |r| r.text("rule key"))?,
        },
        3 => Rule::NumberInRange {
            key: r.text("rule key")?,
            min: r.f64()?,
            max: r.f64()?,
        },
        4 => Rule::Majority {
            answers: r.text("rule key")?,
            claim: r.text("rule key")?,
        },
        _ => return Err(WireError::Invalid("rule kind")),
    })
}

fn certificate(out: &mut Vec<u8>, c: &Certificate) -> Result<(), WireError> {
    put_text(out, &c.swarm_id, "swarm id")?;
    out.extend_from_slice(&c.view.to_be_bytes());
    out.extend_from_slice(&c.sequence.to_be_bytes());
    out.push(phase_tag(Some(c.phase)));
    hex_field(out, &c.digest)?;
    put_list(out, c.votes.iter(), "votes", |out, v| {
        out.extend_from_slice(&v.voter.to_be_bytes());
        hex_field(out, &v.signature)
    })
}

fn read_certificate(r: &mut FieldReader<'_>) -> Result<Certificate, WireError> {
    Ok(Certificate {
        swarm_id: r.text("swarm id")?,
        view: r.u64()?,
        sequence: r.u64()?,
        phase: read_phase(r)?.ok_or(WireError::Invalid("phase"))?,
        digest: read_hex(r)?,
        votes: r.list("votes", |r| {
            Ok(CertificateVote {
                voter: r.u32()?,
                signature: read_hex(r)?,
            })
        })?,
    })
}

fn vote_error(out: &mut Vec<u8>, e: &VoteError) -> Result<(), WireError> {
    let (kind, voter) = match *e {
        VoteError::UnknownVoter { voter } => (0, voter),
        VoteError::WrongSlot { voter } => (1, voter),
        VoteError::BadSignature { voter } => (2, voter),
        VoteError::Replay { voter } => (3, voter),
        VoteError::Stale { voter } => (4, voter),
        VoteError::Equivocation { voter } => (5, voter),
    };
    out.push(kind);
    out.extend_from_slice(&voter.to_be_bytes());
    Ok(())
}

fn read_vote_error(r: &mut FieldReader<'_>) -> Result<VoteError, WireError> {
    let (kind, voter) = (r.u8()?, r.u32()?);
    Ok(match kind {
        0 => VoteError::UnknownVoter { voter },
        1 => VoteError::WrongSlot { voter },
        2 => VoteError::BadSignature { voter },
        3 => VoteError::Replay { voter },
        4 => VoteError::Stale { voter },
        5 => VoteError::Equivocation { voter },
        _ => return Err(WireError::Invalid("refused vote kind")),
    })
}

fn decision(out: &mut Vec<u8>, d: &Decision) -> Result<(), WireError> {
    out.extend_from_slice(&d.sequence.to_be_bytes());
    hex_field(out, &d.digest)?;
    certificate(out, &d.certificate)?;
    put_list(out, d.evidence.iter(), "evidence", |out, e| {
        out.extend_from_slice(&e.voter.to_be_bytes());
        certificate(out, &e.votes[0])?;
        certificate(out, &e.votes[1])
    })?;
    put_list(out, d.refused.iter(), "refused votes", vote_error)
}

fn read_decision(r: &mut FieldReader<'_>) -> Result<Decision, WireError> {
    Ok(Decision {
        sequence: r.u64()?,
        digest: read_hex(r)?,
        certificate: read_certificate(r)?,
        evidence: r.list("evidence", |r| {
            Ok(Evidence {
                voter: r.u32()?,
                votes: [read_certificate(r)?, read_certificate(r)?],
            })
        })?,
        refused: r.list("refused votes", read_vote_error)?,
    })
}

fn voters(out: &mut Vec<u8>, v: &VoterSetView) -> Result<(), WireError> {
    put_text(out, &v.swarm_id, "swarm id")?;
    for n in [v.n, v.f, v.quorum] {
        put_size(out, n);
    }
    put_list(out, v.voters.iter(), "voters", |out, k| {
        out.extend_from_slice(&k.id.to_be_bytes());
        hex_field(out, &k.public_key)
    })
}

fn read_voters(r: &mut FieldReader<'_>) -> Result<VoterSetView, WireError> {
    Ok(VoterSetView {
        swarm_id: r.text("swarm id")?,
        n: r.size("n")?,
        f: r.size("f")?,
        quorum: r.size("quorum")?,
        voters: r.list("voters", |r| {
            Ok(VoterKey {
                id: r.u32()?,
                public_key: read_hex(r)?,
            })
        })?,
    })
}

impl RemoteCodec for ConsensusService {
    fn encode_request(request: &ConsensusRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match request {
            ConsensusRequest::Propose {
                payload,
                rule: r,
                timeout,
            } => {
                out.push(0);
                put_json(&mut out, payload, "payload")?;
                rule(&mut out, r)?;
                put_opt_millis(&mut out, *timeout);
            }
            ConsensusRequest::Voters => out.push(1),
            ConsensusRequest::Verify(c) => {
                out.push(2);
                certificate(&mut out, c)?;
            }
        }
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<ConsensusRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let request = match r.u8()? {
            0 => ConsensusRequest::Propose {
                payload: r.json("payload")?,
                rule: read_rule(&mut r)?,
                timeout: read_opt_millis(&mut r)?,
            },
            1 => ConsensusRequest::Voters,
            2 => ConsensusRequest::Verify(Box::new(read_certificate(&mut r)?)),
            _ => return Err(WireError::Invalid("consensus request kind")),
        };
        r.end()?;
        Ok(request)
    }

    fn encode_response(response: &ConsensusResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match response {
            ConsensusResponse::Decided(d) => {
                out.push(0);
                decision(&mut out, d)?;
            }
            ConsensusResponse::Voters(v) => {
                out.push(1);
                voters(&mut out, v)?;
            }
            ConsensusResponse::Verified(v) => {
                out.push(2);
                put_flag(&mut out, v.valid);
                out.push(phase_tag(v.phase));
                put_opt(&mut out, v.reason.as_deref(), |out, t| {
                    put_text(out, t, "reason")
                })?;
            }
        }
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<ConsensusResponse, WireError> {
        let mut r = FieldReader::new(bytes);
        let response = match r.u8()? {
            0 => ConsensusResponse::Decided(Box::new(read_decision(&mut r)?)),
            1 => ConsensusResponse::Voters(read_voters(&mut r)?),
            2 => ConsensusResponse::Verified(Verification {
                valid: r.flag("valid")?,
                phase: read_phase(&mut r)?,
                reason: r.opt(|r| r.text("reason"))?,
            }),
            _ => return Err(WireError::Invalid("consensus response kind")),
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

    use super::fields::trips;
    use super::*;
    use crate::consensus::core::{Proposal, Voter, VoterSet};

    type S = ConsensusService;

    fn request_trips(request: &ConsensusRequest) -> ConsensusRequest {
        trips(request, S::encode_request, S::decode_request)
    }

    fn response_trips(response: &ConsensusResponse) -> ConsensusResponse {
        trips(response, S::encode_response, S::decode_response)
    }

    /// A real certificate: four ed25519 voters commit a proposal.
    fn signed() -> (Certificate, VoterSet) {
        let voters: Vec<Voter> = (0..4)
            .map(|i| Voter::from_secret(i, [i as u8 + 7; 32]))
            .collect();
        let set = VoterSet::new("swarm-a", voters.iter().map(Voter::public_key).collect()).unwrap();
        let proposal = Proposal::new("swarm-a", 0, 3, json!({"replicas": 3}), Rule::Always);
        let votes: Vec<_> = voters.iter().map(|v| v.vote(&proposal)).collect();
        let certificate = Certificate::from_votes(&votes[..3]).unwrap();
        certificate.verify(&set).unwrap();
        (certificate, set)
    }

    #[test]
    fn every_request_round_trips_and_every_cut_is_an_error() {
        let payload = json!({
            "a": [null, true, false, u64::MAX, i64::MIN, -1, 1.0715660391465826e-75, -0.0],
            "é": {"nested": "text ✓", "empty": {}}, "list": []
        });
        let rules = [
            Rule::Always,
            Rule::MaxBytes { max: 4096 },
            Rule::RequiredKeys {
                keys: vec!["a".into(), String::new()],
            },
            Rule::Majority {
                answers: "answers".into(),
                claim: "majority".into(),
            },
            Rule::NumberInRange {
                key: "a".into(),
                min: f64::NEG_INFINITY,
                max: 0.1,
            },
        ];
        for (i, rule) in rules.into_iter().enumerate() {
            let timeout = (i % 2 == 0).then(|| Duration::from_millis(1500));
            let propose = ConsensusRequest::Propose {
                payload: payload.clone(),
                rule,
                timeout,
            };
            let ConsensusRequest::Propose { payload: back, .. } = request_trips(&propose) else {
                panic!("not a proposal");
            };
            // Bit-for-bit: the canonical bytes (hence the digest) are the same.
            assert_eq!(
                serde_json::to_vec(&back).unwrap(),
                serde_json::to_vec(&payload).unwrap()
            );
        }
        request_trips(&ConsensusRequest::Voters);
        let (mut certificate, _) = signed();
        request_trips(&ConsensusRequest::Verify(Box::new(certificate.clone())));
        // Malformed hex (a caller's typo) crosses as it is, for the verifier to report.
        certificate.votes[0].signature = "ABC".into();
        certificate.digest = "not hex".into();
        request_trips(&ConsensusRequest::Verify(Box::new(certificate)));
    }

    #[test]
    fn every_response_round_trips_and_every_cut_is_an_error() {
        let (certificate, _) = signed();
        let refused = (0..6)
            .map(|k| read_vote_error(&mut FieldReader::new(&[k, 0, 0, 0, 9])).unwrap())
            .collect();
        response_trips(&ConsensusResponse::Decided(Box::new(Decision {
            sequence: 3,
            digest: certificate.digest.clone(),
            certificate: certificate.clone(),
            evidence: vec![Evidence {
                voter: 2,
                votes: [certificate.clone(), certificate],
            }],
            refused,
        })));
        response_trips(&ConsensusResponse::Voters(VoterSetView {
            swarm_id: "swarm-a".into(),
            n: 4,
            f: 1,
            quorum: 3,
            voters: vec![VoterKey {
                id: 0,
                public_key: hex::encode([5u8; 32]),
            }],
        }));
        for (valid, phase, reason) in [
            (true, Some(Phase::Reject), None),
            (false, None, Some("voter 1 has a bad signature".to_string())),
        ] {
            response_trips(&ConsensusResponse::Verified(Verification {
                valid,
                phase,
                reason,
            }));
        }
    }

    #[test]
    fn a_certificate_still_verifies_after_crossing() {
        let (certificate, set) = signed();
        let request = ConsensusRequest::Verify(Box::new(certificate.clone()));
        let ConsensusRequest::Verify(back) = request_trips(&request) else {
            panic!("not a verify");
        };
        assert_eq!(*back, certificate);
        back.verify(&set).unwrap();
        let decided = ConsensusResponse::Decided(Box::new(Decision {
            sequence: 3,
            digest: certificate.digest.clone(),
            certificate: certificate.clone(),
            evidence: Vec::new(),
            refused: Vec::new(),
        }));
        let ConsensusResponse::Decided(d) = response_trips(&decided) else {
            panic!("not a decision");
        };
        d.certificate.verify(&set).unwrap();
        let bytes = S::encode_request(&request).unwrap();
        // Signatures cross as their 64 raw bytes, not hex text.
        let raw = hex::decode(&certificate.votes[0].signature).unwrap();
        assert!(bytes.windows(64).any(|w| w == raw.as_slice()));
    }

    #[test]
    fn bad_bytes_are_errors_never_panics() {
        let bad = |bytes: &[u8]| S::decode_request(bytes).unwrap_err();
        assert_eq!(bad(&[9]), WireError::Invalid("consensus request kind"));
        let response = S::decode_response(&[7]).unwrap_err();
        assert_eq!(response, WireError::Invalid("consensus response kind"));
        assert_eq!(bad(&[0, 9]), WireError::Invalid("payload"));
        assert_eq!(bad(&[0, 0, 9]), WireError::Invalid("rule kind"));
        assert_eq!(bad(&[0, 0, 0, 2]), WireError::Invalid("option flag"));
        assert_eq!(
            bad(&[0, 0, 2, 0xff, 0xff, 0xff, 0xff]),
            WireError::TooLarge("rule keys")
        );
        // Unknown phase, hex form and refused-vote kind.
        let verify = [&[2u8, 0, 0, 0, 0][..], &[0; 16]].concat();
        assert_eq!(
            bad(&[&verify[..], &[3]].concat()),
            WireError::Invalid("phase")
        );
        assert_eq!(
            bad(&[&verify[..], &[1, 2]].concat()),
            WireError::Invalid("hex form")
        );
        let kind = read_vote_error(&mut FieldReader::new(&[6, 0, 0, 0, 1]));
        assert_eq!(kind.unwrap_err(), WireError::Invalid("refused vote kind"));
        // Arbitrary bytes (small values, so tags and lengths often look plausible).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..4000 {
            let bytes: Vec<u8> = (0..len % 64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 10) as u8
                })
                .collect();
            let _ = (S::decode_request(&bytes), S::decode_response(&bytes));
        }
    }
}
