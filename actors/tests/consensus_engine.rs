//! Decisions over real voter actors, with faults injected through test-only fake
//! behaviours: a voter that crashes, one that stays silent, one that signs garbage, one
//! that equivocates. Up to f of them cannot stop or forge a decision; f + 1 silent
//! voters make the round end without one, within its timeout.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;
use swarm_actors::consensus::ConsensusEngine;
use swarm_actors::consensus::core::{Phase, Proposal, Rule, SignedVote, VoteError, Voter};
use swarm_actors::consensus::engine::ConsensusError;
use swarm_actors::consensus::voters::VoteBehaviour;

/// Fake faulty voters (fault injection, tests only).
enum Fault {
    Crash,
    Silent,
    Garbage,
    Equivocate,
}

struct FaultyVoter(Voter, Fault);

impl VoteBehaviour for FaultyVoter {
    fn public_key(&self) -> VerifyingKey {
        self.0.public_key()
    }
    fn vote(&mut self, p: &Proposal) -> Option<Vec<SignedVote>> {
        match self.1 {
            Fault::Crash => panic!("injected fault: voter crash"),
            Fault::Silent => None,
            Fault::Garbage => Some(vec![SignedVote {
                signature: Signature::from_bytes(&[9; 64]),
                ..self.0.vote(p)
            }]),
            Fault::Equivocate => {
                let other = Proposal::new(
                    &p.swarm_id,
                    p.view,
                    p.sequence,
                    json!({"evil": true}),
                    Rule::Always,
                );
                Some(vec![self.0.vote(p), self.0.sign(&other, Phase::Commit)])
            }
        }
    }
}

async fn engine(n: u32, faults: Vec<Fault>) -> ConsensusEngine {
    let mut voters: Vec<Box<dyn VoteBehaviour>> = Vec::new();
    let honest = n as usize - faults.len();
    for i in 0..honest as u32 {
        voters.push(Box::new(Voter::generate(i)));
    }
    for (k, f) in faults.into_iter().enumerate() {
        voters.push(Box::new(FaultyVoter(
            Voter::generate((honest + k) as u32),
            f,
        )));
    }
    ConsensusEngine::start("swarm-t", voters).await.unwrap()
}

async fn decide(e: &ConsensusEngine) -> Result<swarm_actors::consensus::Decision, ConsensusError> {
    tokio::time::timeout(
        Duration::from_secs(20),
        e.propose(
            json!({"op": "scale", "to": 3}),
            Rule::Always,
            Duration::from_millis(500),
        ),
    )
    .await
    .expect("bounded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_single_fault_among_four_voters_still_decides() {
    for fault in [
        Fault::Crash,
        Fault::Silent,
        Fault::Garbage,
        Fault::Equivocate,
    ] {
        let e = engine(4, vec![fault]).await;
        let d = decide(&e).await.expect("decided");
        assert_eq!(d.certificate.phase, Phase::Commit);
        assert_eq!(d.certificate.verify(e.voter_set()), Ok(()));
        assert!(
            d.certificate.votes.iter().all(|v| v.voter < 3),
            "only honest votes certify"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_f_mixed_faults_only_the_faulty_are_ever_refused_or_accused() {
    // n = 7, f = 2: voter 5 equivocates, voter 6 signs garbage. The engine answers at
    // the first quorum, so their votes may or may not have arrived by then; whatever
    // was examined must only ever blame them (evidence itself is proven in the core tests).
    let e = engine(7, vec![Fault::Equivocate, Fault::Garbage]).await;
    for _ in 0..10 {
        let d = decide(&e).await.expect("decided");
        assert_eq!(d.certificate.verify(e.voter_set()), Ok(()));
        assert!(d.certificate.votes.iter().all(|v| v.voter < 5));
        for r in &d.refused {
            assert!(
                matches!(
                    r,
                    VoteError::BadSignature { voter: 6 } | VoteError::Equivocation { voter: 5 }
                ),
                "{r:?}"
            );
        }
        assert!(d.evidence.iter().all(|ev| ev.voter == 5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_plus_one_silent_voters_end_the_round_without_a_decision() {
    let e = engine(4, vec![Fault::Silent, Fault::Crash]).await;
    let t0 = Instant::now();
    let err = decide(&e).await.unwrap_err();
    assert!(
        matches!(err, ConsensusError::NoDecision { needed: 3, .. }),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_advance_and_each_certificate_names_its_slot() {
    let e = engine(4, vec![]).await;
    let a = decide(&e).await.unwrap();
    let b = decide(&e).await.unwrap();
    assert_eq!((a.sequence, b.sequence), (1, 2));
    assert_eq!((a.certificate.sequence, b.certificate.sequence), (1, 2));
}
