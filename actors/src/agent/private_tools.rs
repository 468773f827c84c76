//! Built-in tools over the FHE and FL services. `tally` and `auction` encrypt what the
//! agent holds under the swarm's public key (in this process, on a blocking thread: the
//! plaintexts never leave it), start the job and wait for its result within the run's
//! deadline; the service computes on ciphertexts only. `fl_submit` submits an update to a
//! federated round as the agent.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::fn_tool::FnTool;
use super::tool::{ToolContext, ToolError};
use crate::fhe::core::auction::AuctionRule;
use crate::fhe::jobs::JobView;
use crate::fhe::{FheClient, PublicKey};
use crate::fl::FlClient;
use crate::fl::core::Update;

/// `tally`'s arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Tally {
    /// How many options there are.
    #[schemars(range(min = 2, max = 16))]
    options: usize,
    /// Each ballot's choice: an option's index, from 0.
    #[schemars(length(min = 1, max = 64))]
    ballots: Vec<usize>,
}

/// `auction`'s arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Auction {
    /// The bids, in bidding order (0 to 65535 each).
    #[schemars(length(min = 1, max = 32))]
    bids: Vec<u16>,
    /// `first`: the winner pays its bid; `second`: the highest other bid.
    rule: Rule,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Rule {
    First,
    Second,
}

/// `fl_submit`'s arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Submit {
    /// The round's id.
    round: String,
    /// The model's parameters.
    #[schemars(length(min = 1, max = 4096))]
    weights: Vec<f32>,
    /// Training examples behind the update.
    num_examples: u64,
}

/// The service's public key, fetched once.
type Key = Arc<OnceCell<Arc<PublicKey>>>;

async fn key(
    client: &FheClient,
    key: &Key,
    ctx: &ToolContext,
) -> Result<Arc<PublicKey>, ToolError> {
    key.get_or_try_init(|| async { client.public_key(ctx.options()).await.map(Arc::new) })
        .await
        .cloned()
        .map_err(ToolError::from)
}

/// Encrypts on a blocking thread (tfhe work is CPU-bound).
async fn sealed<F>(encrypt: F) -> Result<Vec<Vec<u8>>, ToolError>
where
    F: FnOnce() -> Result<Vec<Vec<u8>>, crate::fhe::core::FheError> + Send + 'static,
{
    tokio::task::spawn_blocking(encrypt)
        .await
        .map_err(|e| ToolError::Failed(format!("encryption failed: {e}")))?
        .map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// The job's result once it has finished, within the run's deadline.
async fn finished(
    client: &FheClient,
    mut job: JobView,
    ctx: &ToolContext,
) -> Result<Value, ToolError> {
    loop {
        match job.state {
            "done" => return Ok(job.result.unwrap_or(Value::Null)),
            "stopped" => {
                return Err(ToolError::Failed(
                    job.reason.unwrap_or_else(|| "the job stopped".into()),
                ));
            }
            _ if ctx.time_left().is_zero() => {
                // Frees the service's job slot: nobody will read the result.
                let _ = client.cancel(job.id, ctx.options()).await;
                return Err(ToolError::DeadlineExceeded);
            }
            _ => job = client.job(job.id, ctx.time_left(), ctx.options()).await?,
        }
    }
}

/// `tally`: counts ballots privately, over `client`.
pub fn tally(client: FheClient) -> Result<FnTool, String> {
    let public: Key = Arc::default();
    FnTool::typed(
        "tally",
        "Counts votes privately: each ballot is encrypted, the swarm adds them up without reading any, and only the totals per option come back.",
        move |args: Tally, ctx: ToolContext| {
            let (client, public) = (client.clone(), public.clone());
            async move {
                let pk = key(&client, &public, &ctx).await?;
                let options = args.options;
                let ballots = sealed(move || {
                    args.ballots
                        .iter()
                        .map(|&c| pk.ballot(c, options))
                        .collect()
                })
                .await?;
                let job = client
                    .tally(options, &ballots, Some(ctx.time_left()), ctx.options())
                    .await?;
                finished(&client, job, &ctx).await
            }
        },
    )
}

/// `auction`: a sealed-bid auction, over `client`.
pub fn auction(client: FheClient) -> Result<FnTool, String> {
    let public: Key = Arc::default();
    FnTool::typed(
        "auction",
        "Runs a sealed-bid auction: the bids are encrypted, the swarm finds the winner without reading any, and only the winner's index and the price come back.",
        move |args: Auction, ctx: ToolContext| {
            let (client, public) = (client.clone(), public.clone());
            async move {
                let pk = key(&client, &public, &ctx).await?;
                let bids = sealed(move || args.bids.iter().map(|&b| pk.bid(b)).collect()).await?;
                let rule = match args.rule {
                    Rule::First => AuctionRule::First,
                    Rule::Second => AuctionRule::Second,
                };
                let job = client
                    .auction(rule, &bids, Some(ctx.time_left()), ctx.options())
                    .await?;
                finished(&client, job, &ctx).await
            }
        },
    )
}

/// `fl_submit`: submits an update to a federated round as `agent`, over `client`.
pub fn fl_submit(client: FlClient, agent: String) -> Result<FnTool, String> {
    FnTool::typed(
        "fl_submit",
        "Submits a model update to a federated-learning round; answers the round as it stands.",
        move |args: Submit, ctx: ToolContext| {
            let (client, agent) = (client.clone(), agent.clone());
            async move {
                let update = Update {
                    client: agent,
                    weights: args.weights.into(),
                    num_examples: args.num_examples,
                };
                client
                    .submit(args.round, update, ctx.options())
                    .await
                    .map_err(ToolError::from)
            }
        },
    )
}
