//! Decisions over real voter actors, with faults injected through test-only fake
//! behaviours: a voter that crashes, one that stays silent, one that signs garbage, one
//! that equivocates. Up to f of them cannot stop or forge a decision; f + 1 silent
//! voters make the round end without one, within its timeout.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::json;
use swarm_actors::consensus::ConsensusEngine;
use swarm_actors::consensus::core::{Phase, Proposal, Rule, SignedVote, VoteError, Voter};
use swarm_actors::consensus::engine::ConsensusError;
use swarm_actors::consensus::voters::VoteBehaviour;
use tokio::sync::Semaphore;

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
    // `decide` bounds the wait; the round itself ends at its own 500 ms timeout.
    let err = decide(&e).await.unwrap_err();
    assert!(
        matches!(err, ConsensusError::NoDecision { needed: 3, timeout, .. } if timeout == Duration::from_millis(500)),
        "{err}"
    );
}

/// Crashes on its first proposal only (fault injection), then votes honestly.
struct CrashOnce(Voter, bool);

impl VoteBehaviour for CrashOnce {
    fn public_key(&self) -> VerifyingKey {
        self.0.public_key()
    }
    fn vote(&mut self, p: &Proposal) -> Option<Vec<SignedVote>> {
        if !std::mem::replace(&mut self.1, true) {
            panic!("injected fault: voter crash once");
        }
        Some(vec![self.0.vote(p)])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_voter_is_restarted_with_its_key() {
    // n = 4: one silent voter, so a decision needs the crashed voter back.
    let voters: Vec<Box<dyn VoteBehaviour>> = vec![
        Box::new(Voter::generate(0)),
        Box::new(Voter::generate(1)),
        Box::new(FaultyVoter(Voter::generate(2), Fault::Silent)),
        Box::new(CrashOnce(Voter::generate(3), false)),
    ];
    let e = ConsensusEngine::start("swarm-t", voters).await.unwrap();
    let decided = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let round = e.propose(json!({"n": 1}), Rule::Always, Duration::from_millis(300));
            if let Ok(d) = round.await {
                break d;
            }
        }
    })
    .await
    .expect("the restarted voter votes again");
    assert_eq!(decided.certificate.verify(e.voter_set()), Ok(()));
    let signers: Vec<u32> = decided.certificate.votes.iter().map(|v| v.voter).collect();
    assert_eq!(signers, [0, 1, 3]);
    assert!(decided.sequence >= 2, "the first round met the crash");
}

/// Votes at once and reports `(voter, sequence)` of each proposal it sees.
struct Recording(Voter, u32, tokio::sync::mpsc::UnboundedSender<(u32, u64)>);

impl VoteBehaviour for Recording {
    fn public_key(&self) -> VerifyingKey {
        self.0.public_key()
    }
    fn vote(&mut self, p: &Proposal) -> Option<Vec<SignedVote>> {
        let _ = self.2.send((self.1, p.sequence));
        Some(vec![self.0.vote(p)])
    }
}

/// Votes only once the test's gate lets it.
struct Gated(Voter, Arc<Semaphore>);

impl VoteBehaviour for Gated {
    fn public_key(&self) -> VerifyingKey {
        self.0.public_key()
    }
    fn vote(&mut self, p: &Proposal) -> Option<Vec<SignedVote>> {
        Some(vec![self.0.vote(p)])
    }
    fn vote_later<'a>(
        &'a mut self,
        p: &'a Proposal,
    ) -> swarm_runtime::topology::BoxFuture<'a, Option<Vec<SignedVote>>> {
        Box::pin(async move {
            if let Ok(permit) = self.1.acquire().await {
                permit.forget();
            }
            self.vote(p)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_proposals_are_in_flight_at_once_and_each_voter_sees_them_in_order() {
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let voters: Vec<Box<dyn VoteBehaviour>> = vec![
        Box::new(Recording(Voter::generate(0), 0, tx.clone())),
        Box::new(Recording(Voter::generate(1), 1, tx)),
        Box::new(Gated(Voter::generate(2), gate.clone())),
        Box::new(Gated(Voter::generate(3), gate.clone())),
    ];
    let e = Arc::new(ConsensusEngine::start("swarm-t", voters).await.unwrap());
    let calls: Vec<_> = (0..16)
        .map(|k| {
            let e = e.clone();
            tokio::spawn(async move {
                e.propose(json!({ "k": k }), Rule::Always, Duration::from_secs(20))
                    .await
            })
        })
        .collect();
    // Every proposal reaches the ungated voters while no quorum can form (the gated
    // voters hold it): all 16 are in flight together.
    let mut by_voter: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    while by_voter.iter().any(|s| s.len() < 16) {
        let (voter, sequence) = tokio::time::timeout(Duration::from_secs(20), seen.recv())
            .await
            .expect("bounded")
            .expect("voters alive");
        by_voter[voter as usize].push(sequence);
    }
    assert!(
        calls.iter().all(|c| !c.is_finished()),
        "none decided before the gate opened"
    );
    let in_order: Vec<u64> = (1..=16).collect();
    assert_eq!(by_voter, [in_order.clone(), in_order.clone()]);
    gate.add_permits(32);
    let mut sequences = Vec::new();
    for call in calls {
        let d = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("bounded")
            .unwrap()
            .expect("decided");
        assert_eq!(d.certificate.verify(e.voter_set()), Ok(()));
        sequences.push(d.sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, in_order);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_advance_and_each_certificate_names_its_slot() {
    let e = engine(4, vec![]).await;
    let a = decide(&e).await.unwrap();
    let b = decide(&e).await.unwrap();
    assert_eq!((a.sequence, b.sequence), (1, 2));
    assert_eq!((a.certificate.sequence, b.certificate.sequence), (1, 2));
}
