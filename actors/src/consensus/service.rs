//! The runtime shell: one engine (voter actors, keys generated at start) shared by the
//! pool's workers, started on first use.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use swarm_runtime::config::Section;
use swarm_runtime::{Registry, RequestContext, Service, ServiceError};
use tokio::sync::OnceCell;

use super::core::{Certificate, Rule, Voter};
use super::engine::{ConsensusEngine, ConsensusError, Decision};
use super::voters::VoteBehaviour;

/// A request to the consensus service.
#[derive(Debug, Clone)]
pub enum ConsensusRequest {
    /// Decide a proposal.
    Propose {
        /// What is proposed.
        payload: serde_json::Value,
        /// The rule voters check.
        rule: Rule,
        /// How long to wait for a quorum (capped by the request deadline).
        timeout: Option<Duration>,
    },
    /// List the voters' public keys.
    Voters,
    /// Check a certificate against this swarm's voters.
    Verify(Box<Certificate>),
}

/// One voter's public identity.
#[derive(Debug, Clone, Serialize)]
pub struct VoterKey {
    /// Voter id.
    pub id: u32,
    /// Hex ed25519 public key.
    pub public_key: String,
}

/// The voter set as callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct VoterSetView {
    /// The swarm.
    pub swarm_id: String,
    /// n.
    pub n: usize,
    /// f.
    pub f: usize,
    /// 2f + 1.
    pub quorum: usize,
    /// Keys by id.
    pub voters: Vec<VoterKey>,
}

/// Whether a certificate checks out, and what it certifies.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether the certificate is valid.
    pub valid: bool,
    /// What a valid certificate decided: `commit` or `reject` (a valid certificate of a
    /// rejected proposal proves the rejection, not an approval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<super::core::Phase>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The service's answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ConsensusResponse {
    /// A decision.
    Decided(Box<Decision>),
    /// The voter set.
    Voters(VoterSetView),
    /// A verification result.
    Verified(Verification),
}

/// Settings from `params`.
#[derive(Debug, Clone)]
pub struct ConsensusParams {
    /// Number of voters (3f + 1).
    pub voters: usize,
    /// The swarm id signed into every vote.
    pub swarm_id: String,
    /// Default wait for a quorum.
    pub round_timeout: Duration,
}

impl Serialize for ConsensusParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("voters", &self.voters)?;
        m.serialize_entry("swarm_id", &self.swarm_id)?;
        m.serialize_entry(
            "round_timeout",
            &swarm_runtime::topology::duration(self.round_timeout),
        )?;
        m.end()
    }
}

impl swarm_runtime::topology::ServiceParams for ConsensusParams {
    const TYPE: &'static str = "consensus";
}

/// The consensus service.
pub struct ConsensusService {
    params: Arc<ConsensusParams>,
    engine: Arc<OnceCell<Arc<ConsensusEngine>>>,
}

impl ConsensusService {
    async fn engine(&self) -> Result<&Arc<ConsensusEngine>, ServiceError> {
        let p = &self.params;
        self.engine
            .get_or_try_init(|| async {
                let voters = (0..p.voters as u32)
                    .map(|i| Box::new(Voter::generate(i)) as Box<dyn VoteBehaviour>)
                    .collect();
                ConsensusEngine::start(&p.swarm_id, voters)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

impl Service for ConsensusService {
    type Request = ConsensusRequest;
    type Response = ConsensusResponse;

    async fn handle(
        &mut self,
        req: ConsensusRequest,
        ctx: &RequestContext,
    ) -> Result<ConsensusResponse, ServiceError> {
        let engine = self.engine().await?.clone();
        match req {
            ConsensusRequest::Propose {
                payload,
                rule,
                timeout,
            } => {
                let left = ctx
                    .deadline
                    .saturating_duration_since(tokio::time::Instant::now());
                let wait = timeout.unwrap_or(self.params.round_timeout).min(left);
                match engine.propose(payload, rule, wait).await {
                    Ok(d) => Ok(ConsensusResponse::Decided(Box::new(d))),
                    Err(e @ ConsensusError::NoDecision { .. }) => {
                        Err(ServiceError::Timeout(e.to_string()))
                    }
                    Err(e) => Err(ServiceError::Internal(e.to_string())),
                }
            }
            ConsensusRequest::Voters => {
                let set = engine.voter_set();
                Ok(ConsensusResponse::Voters(VoterSetView {
                    swarm_id: set.swarm_id.clone(),
                    n: set.len(),
                    f: set.max_faulty(),
                    quorum: set.quorum(),
                    voters: set
                        .keys()
                        .iter()
                        .enumerate()
                        .map(|(i, k)| VoterKey {
                            id: i as u32,
                            public_key: hex::encode(k.to_bytes()),
                        })
                        .collect(),
                }))
            }
            ConsensusRequest::Verify(cert) => {
                let reason = cert.verify(engine.voter_set()).err().map(|e| e.to_string());
                Ok(ConsensusResponse::Verified(Verification {
                    valid: reason.is_none(),
                    phase: reason.is_none().then_some(cert.phase),
                    reason,
                }))
            }
        }
    }
}

fn read_params(params: &Section<'_>) -> Option<ConsensusParams> {
    let voters = params.or("voters", 4usize);
    if voters < 4 || (voters - 1) % 3 != 0 || voters > 301 {
        params.error(
            "voters",
            "must be 3f + 1 for some f ≥ 1 (4, 7, 10, …, at most 301)",
        );
        return None;
    }
    let swarm_id = params.or("swarm_id", "swarm".to_string());
    let round_timeout = params.or("round_timeout", Duration::from_secs(2));
    Some(ConsensusParams {
        voters,
        swarm_id,
        round_timeout,
    })
}

/// Registers service type `consensus` (params: `voters`, `swarm_id`, `round_timeout`)
/// with its routes.
pub fn register(registry: &mut Registry) {
    registry
        .service::<ConsensusService, _>("consensus", |params| {
            let p = Arc::new(read_params(params)?);
            let engine = Arc::new(OnceCell::new());
            Some(Arc::new(move || {
                Ok(ConsensusService {
                    params: p.clone(),
                    engine: engine.clone(),
                })
            }))
        })
        .expose(crate::http::HttpApi::new(super::api::routes))
        .remote();
}
