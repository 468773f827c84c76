//! A GGUF model loaded once per process (every replica's engine shares it), with what the
//! service needs outside the engine thread: tokenising, the chat template, detokenising.
//! Supported: the architectures llama.cpp runs (llama, mistral, qwen2, phi3, gemma, …);
//! the default is SmolLM2-135M-Instruct (llama architecture).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::LlmError;

/// A chat message as the OpenAI API sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` (or `tool`).
    pub role: String,
    /// The text.
    pub content: String,
}

/// A loaded model.
pub struct Model {
    pub(crate) llama: LlamaModel,
    template: Option<LlamaChatTemplate>,
    /// The name answered in `model` fields (the file's stem).
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
}

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
static LOADED: Mutex<Vec<(PathBuf, Offload, Weak<Model>)>> = Mutex::new(Vec::new());

/// How much of a model goes to a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offload {
    /// Layers placed on the GPU (0: all on the CPU).
    pub gpu_layers: u32,
    /// The CUDA device they go to.
    pub main_gpu: u32,
}

/// llama.cpp's process-wide backend, initialised once.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    BACKEND
        .get_or_init(|| {
            LlamaBackend::init()
                .map(|mut b| {
                    b.void_logs();
                    b
                })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Engine(format!("llama.cpp backend: {e}")))
}

impl Model {
    /// The model at `path` on the CPU, loaded now or shared with whoever loaded it already.
    pub fn load(path: &Path) -> Result<Arc<Self>, LlmError> {
        Self::load_on(path, Offload::default())
    }

    /// The model at `path` with `offload`, loaded now or shared.
    pub fn load_on(path: &Path, offload: Offload) -> Result<Arc<Self>, LlmError> {
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|(_, _, m)| m.strong_count() > 0);
        if let Some(model) = loaded
            .iter()
            .find(|(p, o, _)| p == path && *o == offload)
            .and_then(|(_, _, m)| m.upgrade())
        {
            return Ok(model);
        }
        if !path.is_file() {
            return Err(LlmError::Model(format!(
                "no model file at {} (run `make models` for the default)",
                path.display()
            )));
        }
        let params = LlamaModelParams::default()
            .with_n_gpu_layers(offload.gpu_layers)
            .with_main_gpu(i32::try_from(offload.main_gpu).unwrap_or(0));
        let llama = LlamaModel::load_from_file(backend()?, path, &params)
            .map_err(|e| LlmError::Model(format!("cannot load {}: {e}", path.display())))?;
        let template = llama.chat_template(None).ok();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let model = Arc::new(Self {
            llama,
            template,
            name,
            path: path.to_path_buf(),
        });
        loaded.push((path.to_path_buf(), offload, Arc::downgrade(&model)));
        Ok(model)
    }

    /// Tokens of `text` (with the model's BOS when it wants one; special tokens written in
    /// the text, like `<|im_start|>`, are parsed as such).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.llama.vocab().tokenize(text.as_bytes(), true, true)
    }

    /// Token ids of `text` without BOS, as plain numbers.
    pub fn token_ids(&self, text: &str, special: bool) -> Vec<i32> {
        self.llama
            .vocab()
            .tokenize(text.as_bytes(), false, special)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    /// The text of token ids (special tokens written out).
    pub fn detokenize(&self, ids: &[i32]) -> String {
        let tokens: Vec<LlamaToken> = ids.iter().map(|&i| LlamaToken(i)).collect();
        String::from_utf8_lossy(&self.llama.vocab().detokenize(&tokens, false, true)).into_owned()
    }

    /// The prompt for `messages` under the model's own chat template (from the GGUF),
    /// ending with the assistant's turn opened.
    pub fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let template = self.template.as_ref().ok_or_else(|| {
            LlmError::Invalid(format!(
                "model `{}` has no chat template; use /v1/completions with a prompt",
                self.name
            ))
        })?;
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LlmError::Invalid(format!("messages: {e}")))?;
        self.llama
            .apply_chat_template(template, &chat, true)
            .map_err(|e| LlmError::Invalid(format!("messages: the chat template failed: {e}")))
    }

    /// The vocabulary size.
    pub fn vocab_size(&self) -> i32 {
        self.llama.n_vocab()
    }
}

/// Turns the bytes of token pieces into text, holding back an incomplete UTF-8 character
/// until its last byte arrives (a character can span tokens).
#[derive(Debug, Default)]
pub struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// Adds a piece; returns the text now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Invalid bytes (not just unfinished): replaced, as lossy decoding does.
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_pieces_comes_out_whole() {
        let mut d = Utf8Pieces::default();
        let snow = "☃".as_bytes();
        assert_eq!(d.push(b"a"), "a");
        assert_eq!(d.push(&snow[..1]), "");
        assert_eq!(d.push(&snow[1..]), "☃");
        assert_eq!(d.push(&[0xff, b'b']), "\u{FFFD}b");
    }
}
