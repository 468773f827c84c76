//! The scoring models an `fhe` service serves (param `models: {NAME: FILE}`), each a float
//! model file quantised at start as Concrete ML would ([`QuantisedLinear::fit`]). Clients
//! read a model's card (its input quantiser and output scale), never its weights.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::core::FheError;
use super::core::linear::{FloatModel, ModelCard, QuantisedLinear};
use super::core::lwe_score;

/// Models by name.
#[derive(Debug, Clone, Default)]
pub struct ScoringModels(BTreeMap<String, Arc<QuantisedLinear>>);

/// The largest model file read.
const MAX_MODEL_BYTES: u64 = 1 << 20;

impl ScoringModels {
    /// Reads and quantises model file `path` as model `name`.
    pub fn load(&mut self, name: &str, path: &Path) -> Result<(), FheError> {
        let model = read(path)?;
        self.0.insert(name.to_string(), Arc::new(model));
        Ok(())
    }

    /// The models' cards.
    pub fn cards(&self) -> BTreeMap<String, ModelCard> {
        self.0.iter().map(|(n, m)| (n.clone(), m.card())).collect()
    }

    /// Model `name`.
    pub fn get(&self, name: &str) -> Option<Arc<QuantisedLinear>> {
        self.0.get(name).cloned()
    }
}

fn read(path: &Path) -> Result<QuantisedLinear, FheError> {
    let size = std::fs::metadata(path)
        .map_err(|e| FheError::Invalid(format!("cannot read: {e}")))?
        .len();
    if size > MAX_MODEL_BYTES {
        return Err(FheError::Invalid(format!(
            "{size} bytes, over the limit of {MAX_MODEL_BYTES}"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| FheError::Invalid(format!("cannot read: {e}")))?;
    let model: FloatModel = serde_json::from_str(&text)
        .map_err(|e| FheError::Invalid(format!("not a model file: {e}")))?;
    let fitted = QuantisedLinear::fit(&model)?;
    lwe_score::check_weights(&fitted.centred_weights())?;
    Ok(fitted)
}
