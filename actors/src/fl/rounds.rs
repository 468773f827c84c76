//! The rounds of one FL service, shared by its workers (and kept across worker restarts),
//! with retention: a round that has ended (closed or failed) is kept for `keep_for` and
//! at most `keep` of them, oldest first out; after that its id answers 404 saying it
//! expired. Memory is bounded too: at most `max_open` rounds open at once and `max_bytes`
//! held by all rounds together (ended ones are let go first); past either, opening or
//! submitting answers 503 until rounds end. Every method here may wait for a round's lock (an aggregation can hold it for
//! seconds): call them on the blocking pool, never on an async thread.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use swarm_runtime::ServiceError;

use super::core::{FlError, Round, RoundStatus, ServerState, Submitted, Update};
use super::service::{OpenRound, RoundView};

/// How long, and how many, ended rounds are kept, and how much all rounds may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// How long an ended round stays readable.
    pub keep_for: Duration,
    /// Most ended rounds kept.
    pub keep: usize,
    /// Most rounds open at once.
    pub max_open: usize,
    /// Most bytes all rounds (open and ended) hold together: updates, models, state.
    pub max_bytes: u64,
}

impl serde::Serialize for Retention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry(
            "keep_closed_for",
            &swarm_runtime::topology::duration(self.keep_for),
        )?;
        m.serialize_entry("keep_closed", &self.keep)?;
        m.serialize_entry("max_open_rounds", &self.max_open)?;
        m.serialize_entry("max_bytes", &self.max_bytes)?;
        m.end()
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_for: Duration::from_secs(600),
            keep: 1_000,
            max_open: 1_024,
            max_bytes: 1 << 30,
        }
    }
}

/// A completed secure round's encrypted lists, and the values in each.
pub type SealedLists = (usize, Vec<Vec<u8>>);

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
    /// What all rounds hold ([`Round::bytes`] summed), kept current by [`Rounds::change`].
    bytes: AtomicU64,
    /// Woken when a submission or an aggregation changes a round (waiting readers).
    changed: tokio::sync::Notify,
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

    /// Runs `f` on a locked round and accounts for the bytes it adds or frees.
    fn change<T>(&self, round: &mut Round, f: impl FnOnce(&mut Round) -> T) -> T {
        let before = round.bytes();
        let out = f(round);
        let after = round.bytes();
        if after >= before {
            self.bytes.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
        out
    }

    /// Bytes all rounds hold now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Rounds open now (live and not yet seen ended).
    pub fn open_count(&self) -> usize {
        let ended = lock(&self.ended).members.len();
        self.live.len().saturating_sub(ended)
    }

    /// Notes `id` as ended if its round is no longer open.
    fn note(&self, id: &str, round: &Round, now: Instant) {
        if matches!(round.status(), RoundStatus::Open | RoundStatus::Aggregating) {
            return;
        }
        let mut ended = lock(&self.ended);
        if ended.members.insert(id.to_string()) {
            ended.order.push_back((now, id.to_string()));
        }
    }

    /// Ticks every open round, then drops ended rounds past their time, over the count,
    /// or (oldest first) while all rounds hold more than `max_bytes`.
    pub fn sweep(&self, now: Instant) {
        self.sweep_making_room(now, 0);
    }

    /// [`Rounds::sweep`], also dropping ended rounds (oldest first) until `room` more bytes
    /// fit under `max_bytes`.
    fn sweep_making_room(&self, now: Instant, room: u64) {
        let ids: Vec<(String, Arc<Mutex<Round>>)> = self
            .live
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        for (id, round) in ids {
            let mut r = lock(&round);
            self.change(&mut r, |r| r.tick(now));
            self.note(&id, &r, now);
        }
        let mut ended = lock(&self.ended);
        while let Some((at, id)) = ended.order.front().cloned() {
            let too_old = now.duration_since(at) >= self.retention.keep_for;
            let too_big = self.bytes().saturating_add(room) > self.retention.max_bytes;
            if !too_old && !too_big && ended.order.len() <= self.retention.keep {
                break;
            }
            ended.order.pop_front();
            ended.members.remove(&id);
            if let Some((_, round)) = self.live.remove(&id) {
                let mut r = lock(&round);
                self.change(&mut r, |r| *r = Round::emptied(r));
            }
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

    /// Refuses work that would take the rounds past `max_bytes` (after letting ended
    /// rounds go).
    fn make_room(&self, more: u64, now: Instant) -> Result<(), ServiceError> {
        if self.bytes().saturating_add(more) <= self.retention.max_bytes {
            return Ok(());
        }
        self.sweep_making_room(now, more);
        let held = self.bytes();
        if held.saturating_add(more) <= self.retention.max_bytes {
            return Ok(());
        }
        Err(ServiceError::Unavailable(format!(
            "FL rounds hold {held} bytes and this needs {more} more, over the limit of {} (param max_bytes); retry when rounds end",
            self.retention.max_bytes
        )))
    }

    /// Opens a round (after a sweep, so ended rounds leave on schedule). `commit` is
    /// called just before the round is created (the request's point of no return).
    pub fn open(
        &self,
        req: OpenRound,
        now: Instant,
        commit: impl FnOnce() -> Result<(), ServiceError>,
    ) -> Result<RoundView, ServiceError> {
        self.sweep(now);
        if self.open_count() >= self.retention.max_open {
            return Err(ServiceError::Unavailable(format!(
                "{} rounds are open, the limit (param max_open_rounds); retry when one ends",
                self.retention.max_open
            )));
        }
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
        self.make_room(round.bytes(), now)?;
        commit()?;
        self.bytes.fetch_add(round.bytes(), Ordering::Relaxed);
        let id = format!("r{:016x}", rand::random::<u64>());
        let v = view(&id, &round);
        self.live.insert(id, Arc::new(Mutex::new(round)));
        Ok(v)
    }

    /// Round `id` now.
    pub fn read(&self, id: &str, now: Instant) -> Result<RoundView, ServiceError> {
        self.read_until(id, now).map(|(v, _)| v)
    }

    /// Round `id` now, and when it stops accepting updates.
    pub fn read_until(&self, id: &str, now: Instant) -> Result<(RoundView, Instant), ServiceError> {
        let r = self.get(id)?;
        let mut guard = lock(&r);
        self.change(&mut guard, |r| r.tick(now));
        self.note(id, &guard, now);
        Ok((view(id, &guard), guard.deadline()))
    }

    /// Woken whenever a submission or an aggregation changes a round.
    pub fn changed(&self) -> &tokio::sync::Notify {
        &self.changed
    }

    /// Submits `update` to round `id`; may aggregate (seconds for large models). `commit`
    /// is called once the round's lock is held, just before the update is taken.
    pub fn submit(
        &self,
        id: &str,
        update: Update,
        now: Instant,
        commit: impl FnOnce() -> Result<(), ServiceError>,
    ) -> Result<RoundView, ServiceError> {
        // An update is held until aggregation, and the model it makes is as large again.
        self.make_room(update.weights.len() as u64 * 8, now)?;
        let r = self.get(id)?;
        let mut guard = lock(&r);
        commit()?;
        let outcome: Result<Submitted, FlError> =
            self.change(&mut guard, |r| r.submit(update, now));
        self.note(id, &guard, now);
        self.changed.notify_waiters();
        outcome.map_err(ServiceError::from)?;
        Ok(view(id, &guard))
    }

    /// Submits `client`'s encrypted update to secure round `id`, after checking that
    /// `list` is a packed list of `dimension + 1` 32-bit signed values under the swarm's
    /// FHE parameters (a bad list is refused here, not found at aggregation). When it
    /// completes the round, the lists to sum come back with `values` per list.
    pub fn submit_sealed(
        &self,
        id: &str,
        client: String,
        list: &[u8],
        now: Instant,
        commit: impl FnOnce() -> Result<(), ServiceError>,
    ) -> Result<(RoundView, Option<SealedLists>), ServiceError> {
        self.make_room(list.len() as u64, now)?;
        let r = self.get(id)?;
        let dim = lock(&r).dimension().unwrap_or(0);
        crate::fhe::core::wire::read_list_of(list, dim + 1, tfhe::FheTypes::Int32)
            .map_err(|e| ServiceError::InvalidRequest(format!("encrypted update: {e}")))?;
        let mut guard = lock(&r);
        commit()?;
        let outcome: Result<Submitted, FlError> =
            self.change(&mut guard, |r| r.submit_sealed(client, list.to_vec(), now));
        self.note(id, &guard, now);
        let ready = match outcome.map_err(ServiceError::from)? {
            Submitted::Sealed(lists) => Some((dim + 1, lists)),
            _ => None,
        };
        Ok((view(id, &guard), ready))
    }

    /// Ends secure round `id`'s aggregation with the decrypted sums, or why there are none.
    pub fn finish_sealed(&self, id: &str, sums: Result<Vec<i32>, String>, now: Instant) {
        if let Ok(r) = self.get(id) {
            let mut guard = lock(&r);
            self.change(&mut guard, |r| r.finish_sealed(sums));
            self.note(id, &guard, now);
            self.changed.notify_waiters();
        }
    }
}
