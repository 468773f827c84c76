//! A proposal and the validation rule it carries; its digest is computed once, over
//! canonical bytes (JSON with sorted keys, length-prefixed fields).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a voter's default policy checks before approving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Approve anything.
    Always,
    /// Approve payloads whose canonical JSON is at most this many bytes.
    MaxBytes {
        /// The bound.
        max: usize,
    },
    /// Approve object payloads that have every listed key.
    RequiredKeys {
        /// The keys.
        keys: Vec<String>,
    },
    /// Approve object payloads whose `key` is a number in [min, max].
    NumberInRange {
        /// The key.
        key: String,
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Approve object payloads whose `claim` is the answer given by more than half of
    /// `answers` (an object of voter → answer text; compared trimmed and case-folded):
    /// each voter counts the votes itself, so a certificate proves the majority.
    Majority {
        /// The key of the answers.
        answers: String,
        /// The key of the claimed majority answer.
        claim: String,
    },
}

/// An answer as votes compare it: trimmed, case-folded, inner whitespace single.
pub fn vote_key(answer: &str) -> String {
    answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Rule {
    /// Whether `payload` passes.
    pub fn accepts(&self, payload: &serde_json::Value, canonical_len: usize) -> bool {
        match self {
            Self::Always => true,
            Self::MaxBytes { max } => canonical_len <= *max,
            Self::RequiredKeys { keys } => payload
                .as_object()
                .is_some_and(|o| keys.iter().all(|k| o.contains_key(k))),
            Self::NumberInRange { key, min, max } => payload
                .get(key)
                .and_then(serde_json::Value::as_f64)
                .is_some_and(|v| *min <= v && v <= *max),
            Self::Majority { answers, claim } => {
                let (Some(answers), Some(claim)) = (
                    payload.get(answers).and_then(serde_json::Value::as_object),
                    payload.get(claim).and_then(serde_json::Value::as_str),
                ) else {
                    return false;
                };
                let claim = vote_key(claim);
                let agreeing = answers
                    .values()
                    .filter(|a| a.as_str().is_some_and(|a| vote_key(a) == claim))
                    .count();
                agreeing * 2 > answers.len()
            }
        }
    }
}

/// A proposal for one slot (view, sequence) of a swarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The swarm deciding.
    pub swarm_id: String,
    /// View number.
    pub view: u64,
    /// Sequence number within the view.
    pub sequence: u64,
    /// What is proposed.
    pub payload: serde_json::Value,
    /// How voters check it.
    pub rule: Rule,
    canonical_len: usize,
    digest: [u8; 32],
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

impl Proposal {
    /// Builds a proposal and computes its digest.
    pub fn new(
        swarm_id: &str,
        view: u64,
        sequence: u64,
        payload: serde_json::Value,
        rule: Rule,
    ) -> Self {
        // serde_json's map is ordered by key, so this serialisation is canonical.
        let payload_bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let rule_bytes = serde_json::to_vec(&rule).unwrap_or_default();
        let mut canonical = Vec::with_capacity(payload_bytes.len() + rule_bytes.len() + 64);
        put(&mut canonical, b"swarm-proposal-v1");
        put(&mut canonical, swarm_id.as_bytes());
        canonical.extend_from_slice(&view.to_be_bytes());
        canonical.extend_from_slice(&sequence.to_be_bytes());
        put(&mut canonical, &payload_bytes);
        put(&mut canonical, &rule_bytes);
        let digest: [u8; 32] = Sha256::digest(&canonical).into();
        Self {
            swarm_id: swarm_id.to_string(),
            view,
            sequence,
            payload,
            rule,
            canonical_len: payload_bytes.len(),
            digest,
        }
    }

    /// SHA-256 of the canonical bytes.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Whether the proposal passes its own rule.
    pub fn passes_rule(&self) -> bool {
        self.rule.accepts(&self.payload, self.canonical_len)
    }
}

#[cfg(test)]
mod majority_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_majority_claim_is_checked_by_counting() {
        let rule = Rule::Majority {
            answers: "answers".into(),
            claim: "majority".into(),
        };
        let answers = json!({ "a": "Paris", "b": " paris ", "c": "Lyon" });
        assert!(rule.accepts(&json!({ "answers": answers, "majority": "PARIS" }), 0));
        assert!(!rule.accepts(&json!({ "answers": answers, "majority": "Lyon" }), 0));
        let split = json!({ "a": "x", "b": "y" });
        assert!(
            !rule.accepts(&json!({ "answers": split, "majority": "x" }), 0),
            "a tie is no majority"
        );
        assert!(!rule.accepts(&json!({ "answers": [], "majority": "x" }), 0));
        assert_eq!(vote_key("  The   Answer\n"), "the answer");
    }
}
