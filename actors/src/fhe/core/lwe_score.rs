//! Encrypted linear scoring on LWE ciphertexts, as Concrete ML evaluates linear models:
//! the client encrypts its quantised features under its own LWE key (one seeded list: a
//! seed and one 64-bit body per feature), the server computes `Σ wⱼ·ctⱼ + q_bias` with
//! clear integer weights (leveled: no bootstrap, no server key), and only the client can
//! decrypt the accumulator.
//!
//! Plaintexts are 24-bit signed integers scaled by 2^40. Noise is TUniform(17), bounded
//! by 2^17 per fresh ciphertext, so after the dot product it is at most
//! `Σ|wⱼ|·2^17`; [`check_weights`] keeps that under 2^39, half a plaintext step, which
//! makes decryption exact for every input, not just with high probability.
//!
//! Wire formats (little-endian): request `"swl1" | u32 count | u128 seed | count × u64
//! body`; response `"swl1" | u32 lwe_size | lwe_size × u64`.

use tfhe::Seed;
use tfhe::core_crypto::commons::math::random::CompressionSeed;
use tfhe::core_crypto::prelude::*;

use super::FheError;
use super::params::scoring_lwe;

const MAGIC: &[u8; 4] = b"swl1";
/// log2 of the plaintext scaling: 24-bit signed plaintexts in the top bits of a u64.
const DELTA_LOG: u32 = 40;
/// The largest magnitude a plaintext may have.
pub const PLAINTEXT_LIMIT: i64 = 1 << 23;
/// TUniform(17): no fresh noise exceeds 2^17.
const NOISE_BOUND_LOG: u32 = 17;
/// Largest secret key file accepted.
const MAX_KEY_BYTES: u64 = 1 << 20;

fn modulus() -> CiphertextModulus<u64> {
    CiphertextModulus::new_native()
}

/// Whether `weights` keep the dot product's noise below half a plaintext step (exact
/// decryption): `Σ|wⱼ|·2^17 < 2^39`.
pub fn check_weights(weights: &[i64]) -> Result<(), FheError> {
    let total: u128 = weights.iter().map(|w| u128::from(w.unsigned_abs())).sum();
    if total << NOISE_BOUND_LOG >= 1u128 << (DELTA_LOG - 1) {
        return Err(FheError::Invalid(format!(
            "the weights' absolute sum {total} is too large for exact decryption (at most {})",
            (1u64 << (DELTA_LOG - 1 - NOISE_BOUND_LOG)) - 1
        )));
    }
    Ok(())
}

/// A client's scoring key: an LWE secret key it never sends.
pub struct ScoringKey {
    key: LweSecretKeyOwned<u64>,
}

impl ScoringKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let (dimension, _) = scoring_lwe();
        let mut seeder = new_seeder();
        let mut secrets = SecretRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed());
        Self {
            key: allocate_and_generate_new_binary_lwe_secret_key(dimension, &mut secrets),
        }
    }

    /// The key as a file (tfhe's safe serialisation; keep it private).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FheError> {
        let mut out = Vec::new();
        tfhe::safe_serialization::safe_serialize(&self.key, &mut out, MAX_KEY_BYTES)
            .map_err(|e| FheError::Keys(format!("cannot write the scoring key: {e}")))?;
        Ok(out)
    }

    /// Writes the key to a new file readable by its owner only (an existing file is
    /// never replaced: what was encrypted under it could not be read again).
    pub fn save(&self, path: &std::path::Path) -> Result<(), FheError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let bytes = self.to_bytes()?;
        let io = |e: std::io::Error| FheError::Keys(format!("{}: {e}", path.display()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// A key saved by [`Self::save`].
    pub fn load(path: &std::path::Path) -> Result<Self, FheError> {
        let bytes =
            std::fs::read(path).map_err(|e| FheError::Keys(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }

    /// A key written by [`Self::to_bytes`], checked to be of this scheme's dimension.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FheError> {
        let key: LweSecretKeyOwned<u64> =
            tfhe::safe_serialization::safe_deserialize(bytes, MAX_KEY_BYTES)
                .map_err(|e| FheError::Keys(format!("not a scoring key: {e}")))?;
        if key.lwe_dimension() != scoring_lwe().0 {
            return Err(FheError::Keys(format!(
                "a scoring key of dimension {}, expected {}",
                key.lwe_dimension().0,
                scoring_lwe().0.0
            )));
        }
        Ok(Self { key })
    }

    /// Encrypts quantised features (each within ±2^23) as one seeded list.
    pub fn encrypt(&self, values: &[i64]) -> Result<Vec<u8>, FheError> {
        if let Some(v) = values.iter().find(|v| v.abs() >= PLAINTEXT_LIMIT) {
            return Err(FheError::Invalid(format!(
                "{v} is outside the plaintext range ±2^23"
            )));
        }
        let (dimension, noise) = scoring_lwe();
        let mut seeder = new_seeder();
        let seed = seeder.seed();
        // Two's complement: a negative value wraps modulo 2^64, as the ciphertexts do.
        let encoded: Vec<u64> = values.iter().map(|&v| (v as u64) << DELTA_LOG).collect();
        let mut list = SeededLweCiphertextList::new(
            0u64,
            dimension.to_lwe_size(),
            LweCiphertextCount(values.len()),
            CompressionSeed::from(seed),
            modulus(),
        );
        encrypt_seeded_lwe_ciphertext_list(
            &self.key,
            &mut list,
            &PlaintextList::from_container(encoded),
            noise,
            seeder.as_mut(),
        );
        let mut out = Vec::with_capacity(24 + 8 * values.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        out.extend_from_slice(&seed.0.to_le_bytes());
        for body in list.as_ref() {
            out.extend_from_slice(&body.to_le_bytes());
        }
        Ok(out)
    }

    /// The accumulator in a response of [`score`].
    pub fn decrypt(&self, response: &[u8]) -> Result<i64, FheError> {
        let size = self.key.lwe_dimension().to_lwe_size().0;
        let words = read_words(response, 8, size, "response")?;
        let ct = LweCiphertext::from_container(words, modulus());
        let plain = decrypt_lwe_ciphertext(&self.key, &ct).0;
        // Round to the nearest step, then read 24 bits as signed.
        let step = plain.wrapping_add(1 << (DELTA_LOG - 1)) >> DELTA_LOG;
        let v = step as i64;
        Ok(if v >= PLAINTEXT_LIMIT {
            v - 2 * PLAINTEXT_LIMIT
        } else {
            v
        })
    }
}

/// `count` u64 words after `MAGIC` and a header of `header` bytes.
fn read_words(bytes: &[u8], header: usize, count: usize, what: &str) -> Result<Vec<u64>, FheError> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| FheError::Ciphertext(format!("not a scoring {what} (no `swl1` tag)")))?;
    let expected = header - MAGIC.len() + 8 * count;
    if body.len() != expected {
        return Err(FheError::Ciphertext(format!(
            "scoring {what} of {} bytes, expected {}",
            bytes.len(),
            expected + MAGIC.len()
        )));
    }
    Ok(body[header - MAGIC.len()..]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// The server's part: the encrypted accumulator `Σ wⱼ·ctⱼ + bias` of an encrypted
/// sample (`request` from [`ScoringKey::encrypt`]), with `weights` checked by
/// [`check_weights`]. No key is involved, and nothing is decrypted.
pub fn score(weights: &[i64], bias: i64, request: &[u8]) -> Result<Vec<u8>, FheError> {
    let count = request
        .get(4..8)
        .and_then(|c| c.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| FheError::Ciphertext("scoring request too short".into()))?;
    if count as usize != weights.len() {
        return Err(FheError::Ciphertext(format!(
            "{count} encrypted features, the model has {}",
            weights.len()
        )));
    }
    let bodies = read_words(request, 24, weights.len(), "request")?;
    let seed = request
        .get(8..24)
        .and_then(|c| c.try_into().ok())
        .map(u128::from_le_bytes)
        .ok_or_else(|| FheError::Ciphertext("scoring request too short".into()))?;
    let size = scoring_lwe().0.to_lwe_size();
    let list = SeededLweCiphertextList::from_container(
        bodies,
        size,
        CompressionSeed::from(Seed(seed)),
        modulus(),
    )
    .decompress_into_lwe_ciphertext_list();
    let mut acc = LweCiphertext::new(0u64, size, modulus());
    let mut term = LweCiphertext::new(0u64, size, modulus());
    for (ct, &w) in list.iter().zip(weights) {
        lwe_ciphertext_cleartext_mul(&mut term, &ct, Cleartext(w as u64));
        lwe_ciphertext_add_assign(&mut acc, &term);
    }
    lwe_ciphertext_plaintext_add_assign(&mut acc, Plaintext((bias as u64) << DELTA_LOG));
    let mut out = Vec::with_capacity(8 + 8 * size.0);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(size.0 as u32).to_le_bytes());
    for word in acc.as_ref() {
        out.extend_from_slice(&word.to_le_bytes());
    }
    Ok(out)
}
