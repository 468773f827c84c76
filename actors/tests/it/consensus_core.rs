//! Consensus core: certificates verify offline and tampering is caught; up to f faulty
//! voters (silent, garbage signatures, equivocating) cannot stop an honest decision or
//! forge one; replays and stale votes are refused; weak keys are refused.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;
use swarm_actors::consensus::core::{
    Certificate, CertificateError, Phase, Proposal, Rule, SignedVote, VoteCollector, VoteError,
    Voter, VoterSet,
};

fn voters(n: u32) -> (Vec<Voter>, Arc<VoterSet>) {
    let vs: Vec<Voter> = (0..n)
        .map(|i| Voter::from_secret(i, [i as u8 + 1; 32]))
        .collect();
    let set = VoterSet::new("swarm-a", vs.iter().map(Voter::public_key).collect()).unwrap();
    (vs, Arc::new(set))
}

fn proposal(seq: u64) -> Proposal {
    Proposal::new(
        "swarm-a",
        0,
        seq,
        json!({"action": "deploy", "replicas": 3}),
        Rule::NumberInRange {
            key: "replicas".into(),
            min: 1.0,
            max: 5.0,
        },
    )
}

#[test]
fn the_digest_is_canonical_and_computed_once() {
    let a = Proposal::new("s", 1, 2, json!({"b": 1, "a": [1, 2]}), Rule::Always);
    let b = Proposal::new(
        "s",
        1,
        2,
        serde_json::from_str(r#"{"a":[1,2],"b":1}"#).unwrap(),
        Rule::Always,
    );
    assert_eq!(a.digest(), b.digest(), "key order does not matter");
    assert_ne!(
        a.digest(),
        Proposal::new("s", 1, 3, json!({"b": 1, "a": [1, 2]}), Rule::Always).digest()
    );
    assert_ne!(
        a.digest(),
        Proposal::new("t", 1, 2, json!({"b": 1, "a": [1, 2]}), Rule::Always).digest()
    );
}

#[test]
fn honest_voters_decide_and_the_certificate_verifies_offline() {
    let (vs, set) = voters(4);
    let mut c = VoteCollector::new(set.clone());
    let p = proposal(1);
    let out = c.collect(&p, vs.iter().map(|v| v.vote(&p)).collect());
    let cert = out.certificate.expect("decided");
    assert_eq!(
        (cert.phase, cert.votes.len(), cert.digest.clone()),
        (Phase::Commit, 3, hex::encode(p.digest()))
    );
    // Offline: only the public keys are needed.
    let offline = VoterSet::new("swarm-a", set.keys().to_vec()).unwrap();
    assert_eq!(cert.verify(&offline), Ok(()));

    let mut t = cert.clone();
    t.digest = hex::encode(proposal(2).digest());
    assert!(matches!(
        t.verify(&offline),
        Err(CertificateError::BadSignature(_))
    ));
    let mut t = cert.clone();
    t.votes.truncate(2);
    assert_eq!(
        t.verify(&offline),
        Err(CertificateError::TooFewVotes { got: 2, needed: 3 })
    );
    let mut t = cert.clone();
    t.votes[1] = t.votes[0].clone();
    assert_eq!(
        t.verify(&offline),
        Err(CertificateError::BadVoter(t.votes[0].voter))
    );
    let mut t = cert.clone();
    t.phase = Phase::Reject;
    assert!(matches!(
        t.verify(&offline),
        Err(CertificateError::BadSignature(_))
    ));
    let mut t = cert.clone();
    t.swarm_id = "swarm-b".into();
    assert_eq!(
        t.verify(&offline),
        Err(CertificateError::WrongSwarm("swarm-b".into()))
    );
    let json = serde_json::to_string(&cert).unwrap();
    let back: Certificate = serde_json::from_str(&json).unwrap();
    assert_eq!(back.verify(&offline), Ok(()));
}

#[test]
fn a_proposal_that_fails_its_rule_is_decided_rejected() {
    let (vs, set) = voters(4);
    let p = Proposal::new(
        "swarm-a",
        0,
        1,
        json!({"replicas": 50}),
        Rule::NumberInRange {
            key: "replicas".into(),
            min: 1.0,
            max: 5.0,
        },
    );
    let out = VoteCollector::new(set).collect(&p, vs.iter().map(|v| v.vote(&p)).collect());
    assert_eq!(out.certificate.unwrap().phase, Phase::Reject);
}

fn garbage(v: &SignedVote) -> SignedVote {
    SignedVote {
        signature: Signature::from_bytes(&[7u8; 64]),
        ..v.clone()
    }
}

#[test]
fn f_faulty_voters_cannot_stop_an_honest_decision() {
    // n = 7, f = 2, quorum 5.
    let (vs, set) = voters(7);
    let p = proposal(1);
    let other = Proposal::new(
        "swarm-a",
        0,
        1,
        json!({"action": "delete-everything"}),
        Rule::Always,
    );
    let honest =
        |range: std::ops::Range<usize>| vs[range].iter().map(|v| v.vote(&p)).collect::<Vec<_>>();

    // Two silent (crashed) voters.
    let out = VoteCollector::new(set.clone()).collect(&p, honest(0..5));
    assert!(out.certificate.is_some());

    // Two sending garbage signatures.
    let mut votes = honest(0..5);
    votes.extend(vs[5..].iter().map(|v| garbage(&v.vote(&p))));
    let out = VoteCollector::new(set.clone()).collect(&p, votes);
    assert!(out.certificate.is_some());
    assert_eq!(
        out.refused,
        [
            VoteError::BadSignature { voter: 5 },
            VoteError::BadSignature { voter: 6 }
        ]
    );

    // Two equivocating: each signs this proposal and a conflicting one for the same slot.
    let mut votes = honest(0..5);
    for v in &vs[5..] {
        votes.push(v.vote(&p));
        votes.push(v.sign(&other, Phase::Commit));
    }
    let out = VoteCollector::new(set.clone()).collect(&p, votes);
    let cert = out.certificate.expect("decided by the honest five");
    assert!(
        cert.votes.iter().all(|v| v.voter < 5),
        "equivocators are not counted"
    );
    assert_eq!(out.evidence.len(), 2);
    for e in &out.evidence {
        // Evidence is two validly signed, conflicting votes: each verifies as a signature.
        assert_ne!(e.votes[0].digest, e.votes[1].digest);
    }

    // f + 1 = 3 silent voters: no decision (safety over liveness).
    let out = VoteCollector::new(set.clone()).collect(&p, honest(0..4));
    assert!(out.certificate.is_none());
}

#[test]
fn f_faulty_voters_cannot_forge_a_decision() {
    let (vs, set) = voters(7);
    let p = proposal(1);
    let forged = Proposal::new(
        "swarm-a",
        0,
        1,
        json!({"action": "delete-everything"}),
        Rule::Always,
    );
    // The two faulty voters sign the forged proposal and replay it; honest ones sign p.
    let mut votes: Vec<SignedVote> = vs[5..]
        .iter()
        .map(|v| v.sign(&forged, Phase::Commit))
        .collect();
    votes.extend(votes.clone());
    let out = VoteCollector::new(set.clone()).collect(&forged, votes);
    assert!(out.certificate.is_none());
    // Nor can they assemble a certificate by hand.
    let sigs: Vec<SignedVote> = vs[5..]
        .iter()
        .map(|v| v.sign(&forged, Phase::Commit))
        .collect();
    let cert = Certificate::from_votes(&sigs).unwrap();
    assert_eq!(
        cert.verify(&set),
        Err(CertificateError::TooFewVotes { got: 2, needed: 5 })
    );
    let _ = p;
}

#[test]
fn replays_and_stale_votes_are_refused() {
    let (vs, set) = voters(4);
    let mut c = VoteCollector::new(set);
    let p1 = proposal(1);
    let first: Vec<SignedVote> = vs.iter().map(|v| v.vote(&p1)).collect();
    assert!(c.collect(&p1, first.clone()).certificate.is_some());
    let again = c.collect(&p1, first.clone());
    assert!(again.certificate.is_none());
    assert!(
        again
            .refused
            .iter()
            .all(|e| matches!(e, VoteError::Replay { .. })),
        "{:?}",
        again.refused
    );
    let p2 = proposal(2);
    assert!(
        c.collect(&p2, vs.iter().map(|v| v.vote(&p2)).collect())
            .certificate
            .is_some()
    );
    let stale = c.collect(&p2, vec![first[0].clone()]);
    assert_eq!(stale.refused, [VoteError::Stale { voter: 0 }]);
    let unknown = c.collect(
        &p2,
        vec![SignedVote {
            voter: 9,
            ..first[0].clone()
        }],
    );
    assert_eq!(unknown.refused, [VoteError::UnknownVoter { voter: 9 }]);
}

#[test]
fn weak_keys_are_refused_at_registration() {
    // The identity point: a small-order key whose "signatures" batch checks would accept.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = VerifyingKey::from_bytes(&identity).unwrap();
    assert!(weak.is_weak());
    let (vs, _) = voters(3);
    let mut keys: Vec<VerifyingKey> = vs.iter().map(Voter::public_key).collect();
    keys.push(weak);
    assert_eq!(
        VoterSet::new("swarm-a", keys),
        Err(CertificateError::WeakKey(3))
    );
}

#[test]
fn keys_match_the_rfc_8032_test_vector() {
    // RFC 8032 §7.1, test 1.
    let secret: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
    let voter = Voter::from_secret(0, secret);
    assert_eq!(
        hex::encode(voter.public_key().to_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
}
