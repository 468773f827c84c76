//! Ciphertexts on the wire: tfhe's safe serialisation (a versioned header naming the type)
//! of packed compact ciphertext lists, read under a byte limit and checked against the
//! parameter set before anything else touches them; several lists in one body are framed
//! by a little-endian `u32` length each. Reasons never quote the bytes themselves.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tfhe::conformance::ListSizeConstraint;
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize_conformant, safe_serialize};
use tfhe::{
    CompactCiphertextList, CompactCiphertextListConformanceParams, CompactPublicKey, FheUint8,
    FheUint16,
};

use super::FheError;
use super::params::pke;

/// Largest serialised list accepted (a packed list of up to 2,048 values is ~33 KB).
pub const MAX_LIST_BYTES: usize = 1 << 20;

/// Most lists in one framed body.
pub const MAX_LISTS: usize = 4_096;

/// Reads one list that must hold exactly `values` values.
pub fn read_list(bytes: &[u8], values: usize) -> Result<CompactCiphertextList, FheError> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(FheError::Ciphertext(format!(
            "{} bytes, over the limit of {MAX_LIST_BYTES}",
            bytes.len()
        )));
    }
    let params = CompactCiphertextListConformanceParams::from_parameters_and_size_constraint(
        pke(),
        ListSizeConstraint::exact_size(values),
    );
    // tfhe's readers return errors for bad input; a panic inside one would be a tfhe bug,
    // and is still answered as a refusal rather than taking the worker down.
    catch_unwind(AssertUnwindSafe(|| {
        safe_deserialize_conformant::<CompactCiphertextList>(bytes, MAX_LIST_BYTES as u64, &params)
    }))
    .map_err(|_| FheError::Ciphertext("unreadable list".into()))?
    .map_err(|e| FheError::Ciphertext(reason(&e, values)))
}

/// As [`read_list`], and every value must be of `kind` (e.g. `FheTypes::Uint16`): a
/// list of another type is refused before any work is spent on it.
pub fn read_list_of(
    bytes: &[u8],
    values: usize,
    kind: tfhe::FheTypes,
) -> Result<CompactCiphertextList, FheError> {
    let list = read_list(bytes, values)?;
    for i in 0..list.len() {
        match list.get_kind_of(i) {
            Some(k) if k == kind => {}
            found => {
                let found = found.map_or_else(|| "unknown".to_string(), |k| format!("{k:?}"));
                return Err(FheError::Ciphertext(format!(
                    "value {i} is {found}, expected {kind:?}"
                )));
            }
        }
    }
    Ok(list)
}

/// A short reason for a refused list, in terms a client can act on.
fn reason(e: &str, values: usize) -> String {
    if e.contains("not conformant") {
        format!(
            "not a packed list of {values} values under this swarm's parameter set (fetch the public key from GET /v1/fhe/public-key)"
        )
    } else if e.contains("expected type") || e.contains("header") || e.contains("version") {
        format!("not a tfhe compact ciphertext list ({e})")
    } else {
        format!("truncated or malformed ({e})")
    }
}

/// The list's values as `T` (`FheUint8`, `FheUint16`, …). Expanding keyswitches and
/// bootstraps every block, which also sanitises what a client sent; the server key must
/// be set on this thread.
pub fn expand<T: tfhe::HlExpandable + Tagged>(
    list: &CompactCiphertextList,
) -> Result<Vec<T>, FheError> {
    let expanded = list
        .expand()
        .map_err(|e| FheError::Ciphertext(format!("cannot expand: {e}")))?;
    (0..expanded.len())
        .map(|i| {
            expanded
                .get::<T>(i)
                .map_err(|e| FheError::Ciphertext(format!("value {i}: {e}")))?
                .ok_or_else(|| FheError::Ciphertext(format!("value {i} is missing")))
        })
        .collect()
}

/// [`expand`] to 8-bit integers.
pub fn expand_u8(list: &CompactCiphertextList) -> Result<Vec<FheUint8>, FheError> {
    expand(list)
}

/// [`expand`] to 16-bit integers.
pub fn expand_u16(list: &CompactCiphertextList) -> Result<Vec<FheUint16>, FheError> {
    expand(list)
}

/// Encrypts `values` (`u8`, `u16`, `i32`, …) under the public key as one packed list,
/// serialised (what a client sends; `swarm fhe encrypt` and the Rust client call this).
pub fn encrypt<T: tfhe::HlCompactable + Copy>(
    public: &CompactPublicKey,
    values: &[T],
) -> Result<Vec<u8>, FheError> {
    let mut builder = CompactCiphertextList::builder(public);
    builder.extend(values.iter().copied());
    serialise(&builder.build_packed())
}

/// [`encrypt`] of 8-bit values.
pub fn encrypt_u8(public: &CompactPublicKey, values: &[u8]) -> Result<Vec<u8>, FheError> {
    encrypt(public, values)
}

/// [`encrypt`] of 16-bit values.
pub fn encrypt_u16(public: &CompactPublicKey, values: &[u16]) -> Result<Vec<u8>, FheError> {
    encrypt(public, values)
}

fn serialise(list: &CompactCiphertextList) -> Result<Vec<u8>, FheError> {
    let mut out = Vec::new();
    safe_serialize(list, &mut out, MAX_LIST_BYTES as u64)
        .map_err(|e| FheError::Invalid(format!("cannot serialise the list: {e}")))?;
    Ok(out)
}

/// Splits a framed body into its lists.
pub fn unframe(body: &[u8]) -> Result<Vec<&[u8]>, FheError> {
    let mut lists = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if lists.len() == MAX_LISTS {
            return Err(FheError::Invalid(format!(
                "at most {MAX_LISTS} lists in one body"
            )));
        }
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(|| {
            FheError::Ciphertext(format!("list {}: truncated length", lists.len()))
        })?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(FheError::Ciphertext(format!(
                "list {}: says {len} bytes, {} left in the body",
                lists.len(),
                tail.len()
            )));
        }
        let (list, after) = tail.split_at(len);
        lists.push(list);
        rest = after;
    }
    Ok(lists)
}

/// Appends `list` to a framed body.
pub fn frame(body: &mut Vec<u8>, list: &[u8]) {
    body.extend_from_slice(&(list.len() as u32).to_le_bytes());
    body.extend_from_slice(list);
}
