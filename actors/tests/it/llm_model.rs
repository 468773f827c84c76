//! The GGUF model through llama.cpp: tokenising round-trips, and the chat template comes
//! from the file (SmolLM2's ChatML).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use swarm_actors::llm::{ChatMessage, Model};

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
fn tokenising_round_trips_and_the_chat_template_comes_from_the_file() {
    let model = Model::load(&model_path()).unwrap();
    let texts = [
        "Hello, world!",
        "  leading and trailing spaces  ",
        "naïve café — “quotes” and emoji 🐝🌍",
        "日本語のテキストと한국어",
        "0123456789 3.14159 -42 1e10",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
        "tabs\tand\nnewlines\r\n",
        "<|im_start|> is written here as plain text?",
    ];
    for t in texts {
        let ids = model.token_ids(t, false);
        assert!(!ids.is_empty());
        assert_eq!(model.detokenize(&ids), t, "{t:?} -> {ids:?}");
    }
    // Loaded once per process: a second load shares it.
    let again = Model::load(&model_path()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&model, &again));

    let prompt = model
        .chat_prompt(&[
            ChatMessage {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "Hi".into(),
            },
        ])
        .unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let missing = Model::load(std::path::Path::new("/nonexistent/model.gguf"))
        .err()
        .unwrap();
    assert!(missing.to_string().contains("make models"), "{missing}");
}
