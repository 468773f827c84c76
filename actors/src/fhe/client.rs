//! The FHE service's typed client, and client-side encryption: a client fetches the
//! public key once, encrypts its values locally (nothing leaves it in the clear) and
//! sends the ciphertexts.

use std::time::Duration;

use axum::body::Bytes;
use swarm_runtime::{CallOptions, Client, SwarmError};
use tfhe::CompactPublicKey;
use uuid::Uuid;

use super::core::auction::AuctionRule;
use super::core::linear::ModelCard;
use super::core::secure_sum::FixedPoint;
use super::core::{FheError, keys, wire};
use super::jobs::JobView;
use super::service::{FheRequest, FheResponse, FheService};
use crate::http::ServiceClient;

/// Jobs and keys on the swarm's `fhe` service.
#[derive(Clone)]
pub struct FheClient(Client<FheService>);

impl ServiceClient for FheClient {
    type Service = FheService;

    fn from_client(client: Client<FheService>) -> Self {
        Self(client)
    }
}

fn out_of_shape() -> SwarmError {
    SwarmError::Internal("fhe service answered out of shape".into())
}

impl FheClient {
    /// Sends a request that answers a job (what the HTTP routes build themselves).
    pub async fn submit(
        &self,
        request: FheRequest,
        options: CallOptions,
    ) -> Result<JobView, SwarmError> {
        self.job_call(request, options).await
    }

    async fn job_call(
        &self,
        request: FheRequest,
        options: CallOptions,
    ) -> Result<JobView, SwarmError> {
        match self.0.call_with(request, options).await? {
            FheResponse::Job(view) => Ok(view),
            _ => Err(out_of_shape()),
        }
    }

    /// The public key's file and its parameter set's name.
    pub async fn public_key_bytes(
        &self,
        options: CallOptions,
    ) -> Result<(&'static str, Bytes), SwarmError> {
        match self.0.call_with(FheRequest::PublicKey, options).await? {
            FheResponse::PublicKey { params, bytes } => Ok((params, bytes)),
            _ => Err(out_of_shape()),
        }
    }

    /// The public key, ready to encrypt with.
    pub async fn public_key(&self, options: CallOptions) -> Result<PublicKey, SwarmError> {
        let (_, bytes) = self.public_key_bytes(options).await?;
        PublicKey::from_bytes(&bytes).map_err(|e| SwarmError::Internal(e.to_string()))
    }

    /// Starts a tally of `ballots` (each from [`PublicKey::ballot`]) over `options`.
    pub async fn tally(
        &self,
        options: usize,
        ballots: &[Vec<u8>],
        timeout: Option<Duration>,
        call: CallOptions,
    ) -> Result<JobView, SwarmError> {
        let request = FheRequest::Tally {
            options,
            ballots: Bytes::from(framed(ballots)),
            timeout,
        };
        self.job_call(request, call).await
    }

    /// Starts a sealed-bid auction of `bids` (each from [`PublicKey::bid`], in bidding
    /// order) under `rule`.
    pub async fn auction(
        &self,
        rule: AuctionRule,
        bids: &[Vec<u8>],
        timeout: Option<Duration>,
        call: CallOptions,
    ) -> Result<JobView, SwarmError> {
        let request = FheRequest::Auction {
            rule,
            bids: Bytes::from(framed(bids)),
            timeout,
        };
        self.job_call(request, call).await
    }

    /// Starts a secure sum of `lists` (each from [`PublicKey::update`] or
    /// [`PublicKey::encrypt_i32`], `values` values apiece).
    pub async fn sum(
        &self,
        values: usize,
        lists: &[Vec<u8>],
        timeout: Option<Duration>,
        call: CallOptions,
    ) -> Result<JobView, SwarmError> {
        let request = FheRequest::Sum {
            values,
            lists: Bytes::from(framed(lists)),
            timeout,
        };
        self.job_call(request, call).await
    }

    /// The scoring models' cards, by name.
    pub async fn models(
        &self,
        options: CallOptions,
    ) -> Result<std::collections::BTreeMap<String, ModelCard>, SwarmError> {
        match self.0.call_with(FheRequest::Models, options).await? {
            FheResponse::Models(cards) => Ok(cards),
            _ => Err(out_of_shape()),
        }
    }

    /// Scores `sample` (from [`ScoringKey::encrypt`](super::core::lwe_score::ScoringKey))
    /// with model `model`: the encrypted accumulator, for the key's owner to decrypt.
    pub async fn score(
        &self,
        model: String,
        sample: Bytes,
        options: CallOptions,
    ) -> Result<Bytes, SwarmError> {
        match self
            .0
            .call_with(FheRequest::Score { model, sample }, options)
            .await?
        {
            FheResponse::Score(bytes) => Ok(bytes),
            _ => Err(out_of_shape()),
        }
    }

    /// A job as it is once it has finished or `wait` has passed.
    pub async fn job(
        &self,
        id: Uuid,
        wait: Duration,
        options: CallOptions,
    ) -> Result<JobView, SwarmError> {
        self.job_call(FheRequest::Job { id, wait }, options).await
    }

    /// Asks a job to stop before its next ciphertext operation.
    pub async fn cancel(&self, id: Uuid, options: CallOptions) -> Result<JobView, SwarmError> {
        self.job_call(FheRequest::Cancel { id }, options).await
    }
}

/// Lists framed into one body.
fn framed(lists: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for list in lists {
        wire::frame(&mut body, list);
    }
    body
}

/// A swarm's compact public key, for encrypting on the client's side.
pub struct PublicKey(CompactPublicKey);

impl PublicKey {
    /// Reads a key as `GET /v1/fhe/public-key` serves it, checked against the parameter set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FheError> {
        keys::read_public(bytes).map(Self)
    }

    /// A ballot for `choice` among `options`: a packed list of one-hot 8-bit entries.
    pub fn ballot(&self, choice: usize, options: usize) -> Result<Vec<u8>, FheError> {
        if choice >= options {
            return Err(FheError::Invalid(format!(
                "choice {choice} is not one of the {options} options"
            )));
        }
        let entries: Vec<u8> = (0..options).map(|i| u8::from(i == choice)).collect();
        wire::encrypt_u8(&self.0, &entries)
    }

    /// A sealed bid: one encrypted 16-bit value.
    pub fn bid(&self, amount: u16) -> Result<Vec<u8>, FheError> {
        wire::encrypt_u16(&self.0, &[amount])
    }

    /// A federated-learning update in `encoding`'s fixed point, encrypted (for a secure
    /// sum of `weights.len() + 1` values).
    pub fn update(
        &self,
        weights: &[f32],
        num_examples: u64,
        encoding: &FixedPoint,
    ) -> Result<Vec<u8>, FheError> {
        wire::encrypt(&self.0, &encoding.encode(weights, num_examples)?)
    }

    /// 32-bit signed values as one packed list.
    pub fn encrypt_i32(&self, values: &[i32]) -> Result<Vec<u8>, FheError> {
        wire::encrypt(&self.0, values)
    }

    /// Any 8-bit values as one packed list (a ballot that is not one-hot, for instance).
    pub fn encrypt_u8(&self, values: &[u8]) -> Result<Vec<u8>, FheError> {
        wire::encrypt_u8(&self.0, values)
    }

    /// 16-bit values as one packed list.
    pub fn encrypt_u16(&self, values: &[u16]) -> Result<Vec<u8>, FheError> {
        wire::encrypt_u16(&self.0, values)
    }
}
