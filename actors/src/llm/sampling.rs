//! How each next token is chosen, in the OpenAI API's terms, checked once at the edge.
//! Pure data: the engine turns it into llama.cpp's sampler chain.

use serde::{Deserialize, Serialize};

/// The shape the answer must take.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object (constrained by a grammar).
    JsonObject,
    /// JSON matching this schema (constrained by a grammar built from it).
    JsonSchema(serde_json::Value),
}

impl ResponseFormat {
    /// The GBNF grammar that constrains generation to this format (none for free text).
    pub fn grammar(&self) -> Result<Option<String>, super::LlmError> {
        match self {
            Self::Text => Ok(None),
            Self::JsonObject => schema_grammar(&serde_json::json!({ "type": "object" })).map(Some),
            Self::JsonSchema(schema) => schema_grammar(schema).map(Some),
        }
    }
}

fn schema_grammar(schema: &serde_json::Value) -> Result<String, super::LlmError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map(|g| compact(&g))
        .map_err(|e| super::LlmError::Invalid(format!("response_format.json_schema.schema: {e}")))
}

/// The grammar with JSON's whitespace cut to one optional space: llama.cpp's rule also
/// allows newlines and up to 20 blanks, and small models spend their tokens on them
/// (and run out mid-value). The JSON means the same.
fn compact(grammar: &str) -> String {
    grammar
        .lines()
        .map(|line| {
            if line.starts_with("space ::=") {
                "space ::= | \" \""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sampling settings of one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sampling {
    /// 0 picks the most likely token (greedy); higher flattens the distribution.
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens whose probabilities sum to this.
    pub top_p: f32,
    /// Keep only this many most likely tokens (0: all).
    pub top_k: u32,
    /// Drop tokens less likely than this fraction of the most likely one (0: off).
    pub min_p: f32,
    /// Random seed: the same seed and prompt give the same text.
    pub seed: Option<u64>,
    /// Most tokens to generate (the context's room when `None`).
    pub max_tokens: Option<u32>,
    /// Generation stops before any of these texts.
    pub stop: Vec<String>,
    /// Penalises tokens that appeared at all (−2 to 2).
    pub presence_penalty: f32,
    /// Penalises tokens by how often they appeared (−2 to 2).
    pub frequency_penalty: f32,
    /// Free text or JSON.
    pub response_format: ResponseFormat,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            seed: None,
            max_tokens: None,
            stop: Vec::new(),
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            response_format: ResponseFormat::Text,
        }
    }
}

/// Most stop sequences a request may give.
pub const MAX_STOPS: usize = 16;
/// Longest stop sequence, in bytes.
pub const MAX_STOP_BYTES: usize = 256;

impl Sampling {
    /// Checks every field; the error names the field (`temperature: must be …`).
    pub fn validate(&self) -> Result<(), String> {
        let finite = |name: &str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(format!("{name}: must be a finite number"))
            }
        };
        finite("temperature", self.temperature)?;
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err("temperature: must be between 0 and 2".into());
        }
        finite("top_p", self.top_p)?;
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err("top_p: must be greater than 0 and at most 1".into());
        }
        finite("min_p", self.min_p)?;
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err("min_p: must be between 0 and 1".into());
        }
        for (name, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            finite(name, v)?;
            if !(-2.0..=2.0).contains(&v) {
                return Err(format!("{name}: must be between -2 and 2"));
            }
        }
        if self.max_tokens == Some(0) {
            return Err("max_tokens: must be at least 1".into());
        }
        if self.stop.len() > MAX_STOPS {
            return Err(format!("stop: at most {MAX_STOPS} sequences"));
        }
        if let Some(i) = self
            .stop
            .iter()
            .position(|s| s.is_empty() || s.len() > MAX_STOP_BYTES)
        {
            return Err(format!("stop[{i}]: must be 1 to {MAX_STOP_BYTES} bytes"));
        }
        Ok(())
    }

    /// Whether the same request always gives the same text (greedy, or a fixed seed), so
    /// its answer may be cached.
    pub fn is_deterministic(&self) -> bool {
        self.temperature == 0.0 || self.seed.is_some()
    }
}

/// The `response_format` field as OpenAI sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseFormatBody {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// `{"name", "schema", "strict"?, "description"?}`.
        json_schema: JsonSchemaBody,
    },
}

/// OpenAI's `json_schema` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaBody {
    /// The schema's name.
    pub name: String,
    /// The JSON schema.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    /// Accepted for compatibility; output always follows the schema.
    #[serde(default)]
    pub strict: Option<bool>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub description: Option<String>,
}

impl From<ResponseFormatBody> for ResponseFormat {
    fn from(b: ResponseFormatBody) -> Self {
        match b {
            ResponseFormatBody::Text => Self::Text,
            ResponseFormatBody::JsonObject => Self::JsonObject,
            ResponseFormatBody::JsonSchema { json_schema } => Self::JsonSchema(
                json_schema
                    .schema
                    .unwrap_or_else(|| serde_json::json!({ "type": "object" })),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_grammars_allow_one_space_and_no_newlines() {
        let format = ResponseFormat::JsonSchema(
            serde_json::json!({ "type": "object", "properties": { "a": { "type": "string" } } }),
        );
        let g = format.grammar().ok().flatten().unwrap_or_default();
        let space: Vec<&str> = g.lines().filter(|l| l.starts_with("space ::=")).collect();
        assert_eq!(space, ["space ::= | \" \""], "{g}");
        assert_eq!(ResponseFormat::Text.grammar().ok(), Some(None));
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = [
            (
                Sampling {
                    temperature: -0.1,
                    ..Sampling::default()
                },
                "temperature",
            ),
            (
                Sampling {
                    temperature: f32::NAN,
                    ..Sampling::default()
                },
                "temperature",
            ),
            (
                Sampling {
                    top_p: 0.0,
                    ..Sampling::default()
                },
                "top_p",
            ),
            (
                Sampling {
                    top_p: 1.5,
                    ..Sampling::default()
                },
                "top_p",
            ),
            (
                Sampling {
                    min_p: 2.0,
                    ..Sampling::default()
                },
                "min_p",
            ),
            (
                Sampling {
                    presence_penalty: 3.0,
                    ..Sampling::default()
                },
                "presence_penalty",
            ),
            (
                Sampling {
                    frequency_penalty: -2.5,
                    ..Sampling::default()
                },
                "frequency_penalty",
            ),
            (
                Sampling {
                    max_tokens: Some(0),
                    ..Sampling::default()
                },
                "max_tokens",
            ),
            (
                Sampling {
                    stop: vec![String::new()],
                    ..Sampling::default()
                },
                "stop[0]",
            ),
        ];
        for (s, field) in bad {
            let err = s.validate().err().unwrap_or_default();
            assert!(err.starts_with(field), "{field}: {err}");
        }
        assert!(Sampling::default().validate().is_ok());
        assert!(!Sampling::default().is_deterministic());
        assert!(
            Sampling {
                seed: Some(1),
                ..Sampling::default()
            }
            .is_deterministic()
        );
    }
}
