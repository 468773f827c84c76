//! Sealed-bid auctions over encrypted 16-bit bids: one pass over the bids keeps the
//! highest bid, its index and (for second price) the highest of the rest, all as
//! ciphertexts. Only the winner's index and the price the rule names are decrypted.
//!
//! Ties: a bid wins only when strictly greater than the best so far, so among equal
//! highest bids the one sent first (lowest index) wins; under the second-price rule it
//! then pays the tied amount (the highest of the others equals its own bid).

use tfhe::prelude::*;
use tfhe::{CompactCiphertextList, FheUint8, FheUint16};

use super::FheError;
use super::holder::KeyHolder;
use super::progress::Progress;
use super::wire::expand_u16;

/// Most bids in one auction (the winner's index is an encrypted 8-bit value).
pub const MAX_BIDS: usize = 256;

/// What the winner pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuctionRule {
    /// The winner pays its own bid.
    First,
    /// The winner pays the highest other bid (Vickrey); 0 when it bid alone.
    Second,
}

impl AuctionRule {
    /// Ciphertext operations per bid after the first: the comparison, the selects and
    /// (second price) the running maximum of the rest.
    fn per_bid(self) -> u64 {
        match self {
            Self::First => 3,
            Self::Second => 5,
        }
    }
}

/// A finished auction: all that is revealed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuctionOutcome {
    /// The rule applied.
    pub rule: AuctionRule,
    /// Index of the winning bid, in the order sent.
    pub winner: usize,
    /// What the winner pays.
    pub price: u16,
    /// Bids taken part.
    pub bids: usize,
}

/// The ciphertext operations an auction of `bids` bids takes: one expansion per bid,
/// then [`AuctionRule::per_bid`] for each bid after the first.
pub fn operations(bids: usize, rule: AuctionRule) -> u64 {
    bids as u64 + (bids.saturating_sub(1) as u64) * rule.per_bid()
}

/// The encrypted winner's index and price of `bids` under `rule` (`bids` non-empty,
/// at most [`MAX_BIDS`]). The server key must be set on this thread.
pub fn decide(
    bids: &[FheUint16],
    rule: AuctionRule,
    progress: &Progress,
) -> Result<(FheUint8, FheUint16), FheError> {
    let (first, rest) = bids
        .split_first()
        .ok_or_else(|| FheError::Invalid("no bids".into()))?;
    if bids.len() > MAX_BIDS {
        return Err(FheError::Invalid(format!("more than {MAX_BIDS} bids")));
    }
    let mut best = first.clone();
    let mut winner = FheUint8::encrypt_trivial(0u8);
    let mut second = FheUint16::encrypt_trivial(0u16);
    for (i, bid) in rest.iter().enumerate() {
        progress.step()?;
        let higher = bid.gt(&best);
        if rule == AuctionRule::Second {
            progress.step()?;
            let lower = higher.select(&best, bid);
            progress.step()?;
            second = second.max(&lower);
        }
        progress.step()?;
        best = higher.select(bid, &best);
        progress.step()?;
        // Index i + 1 fits: at most MAX_BIDS (256) bids.
        winner = higher.select(&FheUint8::encrypt_trivial((i + 1) as u8), &winner);
    }
    let price = match rule {
        AuctionRule::First => best,
        AuctionRule::Second => second,
    };
    Ok((winner, price))
}

/// Expands `lists` (one bid each), runs the auction, and has `holder` decrypt only the
/// winner's index and the price. The server key must be set on this thread.
pub fn run(
    lists: &[CompactCiphertextList],
    rule: AuctionRule,
    holder: &KeyHolder,
    progress: &Progress,
) -> Result<AuctionOutcome, FheError> {
    let mut bids = Vec::with_capacity(lists.len());
    for (i, list) in lists.iter().enumerate() {
        progress.step()?;
        let mut values =
            expand_u16(list).map_err(|e| FheError::Ciphertext(format!("bid {i}: {e}")))?;
        match (values.pop(), values.is_empty()) {
            (Some(bid), true) => bids.push(bid),
            _ => {
                return Err(FheError::Ciphertext(format!(
                    "bid {i}: a bid is one 16-bit value"
                )));
            }
        }
    }
    let (winner, price) = decide(&bids, rule, progress)?;
    Ok(AuctionOutcome {
        rule,
        winner: usize::from(holder.reveal_u8(&winner)),
        price: holder.reveal_value(&price),
        bids: bids.len(),
    })
}
