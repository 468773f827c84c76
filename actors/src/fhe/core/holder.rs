//! The key holder: the only part of the swarm that holds the client key, and the only one
//! that decrypts. It decrypts what a workload's rule reveals (a ballot's validity, totals,
//! a winner and price) and has no call that returns anything else.

use tfhe::prelude::*;
use tfhe::{ClientKey, FheBool, FheInt32, FheUint8, FheUint16};

/// Holds the client key.
pub struct KeyHolder {
    key: ClientKey,
}

impl KeyHolder {
    /// The key holder over `key`.
    pub fn new(key: ClientKey) -> Self {
        Self { key }
    }

    /// An encrypted boolean's value.
    pub fn reveal_bool(&self, b: &FheBool) -> bool {
        b.decrypt(&self.key)
    }

    /// An encrypted 8-bit value (an index).
    pub fn reveal_u8(&self, v: &FheUint8) -> u8 {
        v.decrypt(&self.key)
    }

    /// An encrypted 16-bit value.
    pub fn reveal_value(&self, v: &FheUint16) -> u16 {
        v.decrypt(&self.key)
    }

    /// Encrypted 32-bit signed values' values (secure sums).
    pub fn reveal_i32(&self, values: &[FheInt32]) -> Vec<i32> {
        values.iter().map(|v| v.decrypt(&self.key)).collect()
    }

    /// Encrypted 16-bit values' values.
    pub fn reveal_u16(&self, values: &[FheUint16]) -> Vec<u16> {
        values.iter().map(|v| v.decrypt(&self.key)).collect()
    }
}
