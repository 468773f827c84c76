//! Encrypted tally: a ballot is a one-hot vector of encrypted 8-bit entries over `k`
//! options. Each ballot is checked on ciphertexts (every entry is at most one and the
//! entries sum to one) and only that boolean is decrypted; valid ballots are summed per
//! option with tfhe's multi-operand sum, and only the totals are decrypted.

use tfhe::prelude::*;
use tfhe::{CompactCiphertextList, FheBool, FheUint8, FheUint16};

use super::FheError;
use super::holder::KeyHolder;
use super::progress::Progress;
use super::wire::expand_u8;

/// Most options in a ballot (entries are 8-bit, and a valid ballot's sum must not wrap).
pub const MAX_OPTIONS: usize = 64;

/// A finished tally.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TallyOutcome {
    /// Votes per option.
    pub totals: Vec<u16>,
    /// How many ballots were counted.
    pub counted: usize,
    /// Indexes of ballots refused as not one-hot (or not expandable), in order.
    pub rejected: Vec<usize>,
}

/// The ciphertext operations a tally of `ballots` ballots over `options` options takes:
/// per ballot, its expansion, its sum, the sum's test and one test per entry; then one
/// multi-operand sum per option.
pub fn operations(ballots: usize, options: usize) -> u64 {
    (ballots * (options + 3) + options) as u64
}

/// Whether a ballot is one-hot, as an encrypted boolean.
pub fn validity(ballot: &[FheUint8], progress: &Progress) -> Result<FheBool, FheError> {
    progress.step()?;
    let sum: FheUint8 = ballot.iter().sum();
    progress.step()?;
    let mut valid = sum.eq(1u8);
    for entry in ballot {
        progress.step()?;
        valid &= entry.le(1u8);
    }
    Ok(valid)
}

/// Per-option totals of `ballots` by one multi-operand sum each.
pub fn totals(
    ballots: &[Vec<FheUint8>],
    options: usize,
    progress: &Progress,
) -> Result<Vec<FheUint16>, FheError> {
    (0..options)
        .map(|j| {
            progress.step()?;
            Ok(ballots
                .iter()
                .map(|b| FheUint16::cast_from(b[j].clone()))
                .sum())
        })
        .collect()
}

/// As [`totals`], by adding ballots one after another (what a naive tally does; the
/// benchmark compares the two).
pub fn totals_sequential(
    ballots: &[Vec<FheUint8>],
    options: usize,
    progress: &Progress,
) -> Result<Vec<FheUint16>, FheError> {
    (0..options)
        .map(|j| {
            progress.step()?;
            let mut sum = FheUint16::encrypt_trivial(0u16);
            for b in ballots {
                sum = &sum + &FheUint16::cast_from(b[j].clone());
            }
            Ok(sum)
        })
        .collect()
}

/// Expands, checks and tallies `lists` (each a ballot of `options` entries); `holder`
/// decrypts only each ballot's validity and the totals. The server key must be set on
/// this thread.
pub fn run(
    lists: &[CompactCiphertextList],
    options: usize,
    holder: &KeyHolder,
    progress: &Progress,
) -> Result<TallyOutcome, FheError> {
    let mut valid = Vec::with_capacity(lists.len());
    let mut rejected = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        progress.step()?;
        let ballot = match expand_u8(list) {
            Ok(b) if b.len() == options => b,
            _ => {
                rejected.push(i);
                continue;
            }
        };
        if holder.reveal_bool(&validity(&ballot, progress)?) {
            valid.push(ballot);
        } else {
            rejected.push(i);
        }
    }
    let sums = totals(&valid, options, progress)?;
    Ok(TallyOutcome {
        totals: holder.reveal_u16(&sums),
        counted: valid.len(),
        rejected,
    })
}
