//! The rounds of one FL service, shared by its workers (and kept across worker restarts),
//! with retention: a round that has ended (closed or failed) is kept for `keep_for` and
//! at most `keep` of them, oldest first out; after that its id answers 404 saying it
//! expired. Every method here may wait for a round's lock (an aggregation can hold it for
//! seconds): call them on the blocking pool, never on an async thread.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use swarm_runtime::ServiceError;

use super::core::{FlError, Round, RoundStatus, ServerState, Submitted, Update};
use super::service::{OpenRound, RoundView};

/// How long, and how many, ended rounds are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long an ended round stays readable.
    pub keep_for: Duration,
    /// Most ended rounds kept.
    pub keep: usize,
}

impl serde::Serialize for Retention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(
            "keep_closed_for",
            &swarm_runtime::topology::duration(self.keep_for),
        )?;
        m.serialize_entry("keep_closed", &self.keep)?;
        m.end()
    }
}

/// The FL service's params are its retention, for the Rust builder.
impl swarm_runtime::topology::ServiceParams for Retention {
    const TYPE: &'static str = "fl";
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_for: Duration::from_secs(600),
            keep: 1_000,
        }
    }
}

/// Ids of rounds that expired, remembered so a late reader learns why (bounded).
const REMEMBERED_EXPIRED: usize = 4_096;

#[derive(Default)]
struct Ended {
    /// Ended rounds, oldest first, with when they were seen ended.
    order: VecDeque<(Instant, String)>,
    members: HashSet<String>,
    expired: VecDeque<String>,
    expired_set: HashSet<String>,
}

/// Rounds shared by the service's workers.
#[derive(Default)]
pub struct Rounds {
    live: DashMap<String, Arc<Mutex<Round>>>,
    ended: Mutex<Ended>,
    retention: Retention,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic mid-aggregation leaves the round as it was before the update: usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn view(id: &str, round: &Round) -> RoundView {
    RoundView {
        id: id.to_string(),
        status: round.status().clone(),
        strategy: round.strategy().clone(),
        min_clients: round.min_clients(),
        participants: round.participants().to_vec(),
        server_round: round.server_round(),
        model: round.model().cloned(),
    }
}

impl Rounds {
    /// An empty set of rounds with `retention`.
    pub fn new(retention: Retention) -> Self {
        Self {
            retention,
            ..Self::default()
        }
    }

    fn get(&self, id: &str) -> Result<Arc<Mutex<Round>>, ServiceError> {
        if let Some(r) = self.live.get(id) {
            return Ok(r.clone());
        }
        let expired = lock(&self.ended).expired_set.contains(id);
        Err(ServiceError::NotFound(if expired {
            format!(
                "round `{id}` has expired: ended rounds are kept for {:?}, at most {} of them (params keep_closed_for, keep_closed)",
                self.retention.keep_for, self.retention.keep
            )
        } else {
            format!("no round `{id}`")
        }))
    }

    /// Notes `id` as ended if its round is no longer open.
    fn note(&self, id: &str, round: &Round, now: Instant) {
        if *round.status() == RoundStatus::Open {
            return;
        }
        let mut ended = lock(&self.ended);
        if ended.members.insert(id.to_string()) {
            ended.order.push_back((now, id.to_string()));
        }
    }

    /// Ticks every open round, then drops ended rounds past their time or over the count.
    pub fn sweep(&self, now: Instant) {
        let ids: Vec<(String, Arc<Mutex<Round>>)> = self
            .live
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        for (id, round) in ids {
            let mut r = lock(&round);
            r.tick(now);
            self.note(&id, &r, now);
        }
        let mut ended = lock(&self.ended);
        while let Some((at, id)) = ended.order.front().cloned() {
            let too_old = now.duration_since(at) >= self.retention.keep_for;
            if !too_old && ended.order.len() <= self.retention.keep {
                break;
            }
            ended.order.pop_front();
            ended.members.remove(&id);
            self.live.remove(&id);
            if ended.expired_set.insert(id.clone()) {
                ended.expired.push_back(id);
            }
            if ended.expired.len() > REMEMBERED_EXPIRED
                && let Some(old) = ended.expired.pop_front()
            {
                ended.expired_set.remove(&old);
            }
        }
    }

    /// Opens a round (after a sweep, so ended rounds leave on schedule).
    pub fn open(&self, req: OpenRound, now: Instant) -> Result<RoundView, ServiceError> {
        self.sweep(now);
        let mut state = match &req.after {
            Some(prev) => {
                let prev = self.get(prev)?;
                let prev = lock(&prev);
                prev.continuation().ok_or_else(|| {
                    ServiceError::InvalidRequest("`after` must name a closed round".into())
                })?
            }
            None => ServerState::default(),
        };
        if let Some(current) = req.current {
            state.current = Some(current);
        }
        let round = Round::open(
            req.strategy,
            req.min_clients,
            now + req.deadline,
            req.dimension,
            state,
        )
        .map_err(ServiceError::from)?;
        let id = format!("r{:016x}", rand::random::<u64>());
        let v = view(&id, &round);
        self.live.insert(id, Arc::new(Mutex::new(round)));
        Ok(v)
    }

    /// Round `id` now.
    pub fn read(&self, id: &str, now: Instant) -> Result<RoundView, ServiceError> {
        let r = self.get(id)?;
        let mut guard = lock(&r);
        guard.tick(now);
        self.note(id, &guard, now);
        Ok(view(id, &guard))
    }

    /// Submits `update` to round `id`; may aggregate (seconds for large models).
    pub fn submit(
        &self,
        id: &str,
        update: Update,
        now: Instant,
    ) -> Result<RoundView, ServiceError> {
        let r = self.get(id)?;
        let mut guard = lock(&r);
        let outcome: Result<Submitted, FlError> = guard.submit(update, now);
        self.note(id, &guard, now);
        outcome.map_err(ServiceError::from)?;
        Ok(view(id, &guard))
    }
}
