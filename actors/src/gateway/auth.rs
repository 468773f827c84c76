//! API keys: `Authorization: Bearer <key>`, compared in constant time.

use subtle::ConstantTimeEq;

use super::config::AuthConfig;

/// The accepted keys; empty means authentication is off.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<Vec<u8>>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.0.len())
    }
}

impl ApiKeys {
    /// Keys given directly (for embedding apps and tests).
    pub fn from_keys<I: IntoIterator<Item = S>, S: AsRef<str>>(keys: I) -> Self {
        Self(
            keys.into_iter()
                .map(|k| k.as_ref().trim().as_bytes().to_vec())
                .filter(|k| !k.is_empty())
                .collect(),
        )
    }

    /// Loads keys from the configured environment variable and/or file. A named source
    /// that is missing or empty is an error: a gateway meant to be locked must not open.
    pub fn load(config: &AuthConfig) -> Result<Self, String> {
        let mut keys = Vec::new();
        if let Some(var) = &config.keys_env {
            let value = std::env::var(var)
                .map_err(|_| format!("gateway.auth.keys_env names {var}, which is not set"))?;
            keys.extend(value.split(',').map(str::to_string));
        }
        if let Some(path) = &config.keys_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("gateway.auth.keys_file {}: {e}", path.display()))?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        let loaded = Self::from_keys(keys);
        if (config.keys_env.is_some() || config.keys_file.is_some()) && loaded.0.is_empty() {
            return Err("gateway.auth names a key source, but it holds no keys".into());
        }
        Ok(loaded)
    }

    /// True when keys are configured.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// Checks a presented key against every configured key without stopping early.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0u8);
        for key in &self.0 {
            ok |= key.as_slice().ct_eq(presented);
        }
        ok.into()
    }
}
