//! The one parameter set every key and ciphertext of the `fhe` service uses, pinned by
//! tfhe-rs's versioned names (an alias such as `PARAM_MESSAGE_2_CARRY_2_…` may move to
//! new values in a later release; a `V1_8_…` constant does not).

use tfhe::shortint::parameters::CompactPublicKeyEncryptionParameters;
use tfhe::shortint::parameters::v1_8::classic::tuniform::p_fail_2_minus_128::ks_pbs::V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 as COMPUTE;
use tfhe::shortint::parameters::v1_8::compact_public_key_only::p_fail_2_minus_128::ks_pbs::V1_8_PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 as PKE;
use tfhe::shortint::parameters::v1_8::key_switching::p_fail_2_minus_128::ks_pbs::V1_8_PARAM_KEYSWITCH_PKE_TO_SMALL_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 as PKE_KEYSWITCH;
use tfhe::{Config, ConfigBuilder};

/// The parameter set's name, written into every key directory and sent with the public
/// key: 2-bit messages with 2-bit carries, KS-PBS, TUniform noise, failure probability
/// 2^-128 (tfhe-rs 1.8's CPU default), with compact public-key encryption through a
/// dedicated key and a keyswitch to the compute key.
pub const PARAMS_VERSION: &str = "tfhe-rs/v1_8/message_2_carry_2_ks_pbs_tuniform_2m128+pke";

/// The configuration keys are generated from.
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(COMPUTE)
        .use_dedicated_compact_public_key_parameters((PKE, PKE_KEYSWITCH))
        .build()
}

/// The compact public-key encryption parameters (what a client list must conform to).
pub fn pke() -> CompactPublicKeyEncryptionParameters {
    PKE
}

/// The LWE key of encrypted linear scoring (clients hold it; the server computes on its
/// ciphertexts without any key): the compute set's GLWE key seen as an LWE key — dimension
/// 2048, binary, TUniform(17) noise — as tfhe-rs itself uses it at 128-bit security.
pub fn scoring_lwe() -> (
    tfhe::core_crypto::prelude::LweDimension,
    tfhe::core_crypto::prelude::DynamicDistribution<u64>,
) {
    (
        COMPUTE
            .glwe_dimension
            .to_equivalent_lwe_dimension(COMPUTE.polynomial_size),
        COMPUTE.glwe_noise_distribution,
    )
}
