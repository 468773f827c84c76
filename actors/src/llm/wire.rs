//! How `llm` requests and answers cross between nodes (inside the runtime's versioned
//! frames), big-endian:
//!
//! - request: `u8 kind` — 1 describe; 2 generate: `u8 prompt (0 chat: u32 count | per
//!   message: u16 len + role, u32 len + content; 1 text: u32 len + text) | sampling:
//!   f32 temperature, f32 top_p, u32 top_k, f32 min_p, u8 + u64 seed, u8 + u32
//!   max_tokens, u32 count + (u16 len + stop)…, f32 presence, f32 frequency, u8 format
//!   (0 text, 1 JSON object, 2 JSON schema + u32 len + schema JSON) | u8 cache`.
//! - answer: `u8 kind` — 1 generated: `u32 len + text | u8 finish (0 stop, 1 length,
//!   2 deadline) | u32 prompt tokens | u32 completion tokens | u8 cached`; 2 described:
//!   `u16 len + name | u32 context | u32 max sequences`.
//! - a streamed piece: the text's UTF-8 bytes. A streamed call's text arrives in pieces
//!   as the remote engine makes it, ahead of the whole generation.
//!
//! No affinity: any node running the model may answer (the response cache is per node).

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{
    FieldReader, PieceSink, put_count, put_flag, put_long, put_short, put_text,
};
use swarm_runtime::cluster::wire::WireError;
use tokio::sync::mpsc;

use super::job::{FinishReason, Usage};
use super::model::ChatMessage;
use super::sampling::{MAX_STOPS, ResponseFormat, Sampling};
use super::service::{
    Generate, Generation, LlmRequest, LlmResponse, LlmService, ModelInfo, Prompt,
};

/// At most this many chat messages in one request.
const MAX_MESSAGES: usize = 1 << 16;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_f32(out: &mut Vec<u8>, v: f32) {
    put_u32(out, v.to_bits());
}

fn put_sampling(out: &mut Vec<u8>, s: &Sampling) -> Result<(), WireError> {
    put_f32(out, s.temperature);
    put_f32(out, s.top_p);
    put_u32(out, s.top_k);
    put_f32(out, s.min_p);
    put_flag(out, s.seed.is_some());
    out.extend_from_slice(&s.seed.unwrap_or(0).to_be_bytes());
    put_flag(out, s.max_tokens.is_some());
    put_u32(out, s.max_tokens.unwrap_or(0));
    put_count(out, s.stop.len(), MAX_STOPS, "stop")?;
    for stop in &s.stop {
        put_short(out, stop, "stop")?;
    }
    put_f32(out, s.presence_penalty);
    put_f32(out, s.frequency_penalty);
    match &s.response_format {
        ResponseFormat::Text => out.push(0),
        ResponseFormat::JsonObject => out.push(1),
        ResponseFormat::JsonSchema(schema) => {
            out.push(2);
            let json = serde_json::to_vec(schema).map_err(|_| WireError::Invalid("schema"))?;
            put_long(out, &json, "schema")?;
        }
    }
    Ok(())
}

fn read_sampling(r: &mut FieldReader<'_>) -> Result<Sampling, WireError> {
    let f32_ = |r: &mut FieldReader<'_>| r.u32().map(f32::from_bits);
    let temperature = f32_(r)?;
    let top_p = f32_(r)?;
    let top_k = r.u32()?;
    let min_p = f32_(r)?;
    let seed = (r.flag("seed")?, r.u64()?);
    let max_tokens = (r.flag("max_tokens")?, r.u32()?);
    let stops = r.count(MAX_STOPS, "stop")?;
    let stop = (0..stops)
        .map(|_| r.short("stop"))
        .collect::<Result<_, _>>()?;
    let presence_penalty = f32_(r)?;
    let frequency_penalty = f32_(r)?;
    let response_format = match r.u8()? {
        0 => ResponseFormat::Text,
        1 => ResponseFormat::JsonObject,
        2 => ResponseFormat::JsonSchema(
            serde_json::from_slice(&r.long("schema")?).map_err(|_| WireError::Invalid("schema"))?,
        ),
        _ => return Err(WireError::Invalid("response format")),
    };
    Ok(Sampling {
        temperature,
        top_p,
        top_k,
        min_p,
        seed: seed.0.then_some(seed.1),
        max_tokens: max_tokens.0.then_some(max_tokens.1),
        stop,
        presence_penalty,
        frequency_penalty,
        response_format,
    })
}

fn finish_byte(f: FinishReason) -> u8 {
    match f {
        FinishReason::Stop => 0,
        FinishReason::Length => 1,
        FinishReason::Deadline => 2,
    }
}

impl RemoteCodec for LlmService {
    fn encode_request(request: &LlmRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        let g = match request {
            LlmRequest::Describe => {
                out.push(1);
                return Ok(out);
            }
            LlmRequest::Generate(g) => g,
        };
        out.push(2);
        match &g.prompt {
            Prompt::Chat(messages) => {
                out.push(0);
                put_count(&mut out, messages.len(), MAX_MESSAGES, "messages")?;
                for m in messages {
                    put_short(&mut out, &m.role, "role")?;
                    put_text(&mut out, &m.content, "content")?;
                }
            }
            Prompt::Text(text) => {
                out.push(1);
                put_text(&mut out, text, "prompt")?;
            }
        }
        put_sampling(&mut out, &g.sampling)?;
        put_flag(&mut out, g.cache);
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<LlmRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let request = match r.u8()? {
            1 => LlmRequest::Describe,
            2 => {
                let prompt = match r.u8()? {
                    0 => {
                        let n = r.count(MAX_MESSAGES, "messages")?;
                        let mut messages = Vec::with_capacity(n.min(64));
                        for _ in 0..n {
                            let role = r.short("role")?;
                            let content = r.text("content")?;
                            messages.push(ChatMessage { role, content });
                        }
                        Prompt::Chat(messages)
                    }
                    1 => Prompt::Text(r.text("prompt")?),
                    _ => return Err(WireError::Invalid("prompt kind")),
                };
                let sampling = read_sampling(&mut r)?;
                let cache = r.flag("cache")?;
                LlmRequest::Generate(Box::new(Generate {
                    prompt,
                    sampling,
                    stream: None,
                    cache,
                }))
            }
            _ => return Err(WireError::Invalid("llm request kind")),
        };
        r.end()?;
        Ok(request)
    }

    fn encode_response(response: &LlmResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        match response {
            LlmResponse::Generated(g) => {
                out.push(1);
                put_text(&mut out, &g.text, "text")?;
                out.push(finish_byte(g.finish_reason));
                put_u32(&mut out, g.usage.prompt_tokens);
                put_u32(&mut out, g.usage.completion_tokens);
                put_flag(&mut out, g.cached);
            }
            LlmResponse::Described(m) => {
                out.push(2);
                put_short(&mut out, &m.name, "model name")?;
                put_u32(&mut out, m.context);
                put_u32(&mut out, m.max_sequences);
            }
        }
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<LlmResponse, WireError> {
        let mut r = FieldReader::new(bytes);
        let response = match r.u8()? {
            1 => {
                let text = r.text("text")?;
                let finish_reason = match r.u8()? {
                    0 => FinishReason::Stop,
                    1 => FinishReason::Length,
                    2 => FinishReason::Deadline,
                    _ => return Err(WireError::Invalid("finish reason")),
                };
                let usage = Usage {
                    prompt_tokens: r.u32()?,
                    completion_tokens: r.u32()?,
                };
                let cached = r.flag("cached")?;
                LlmResponse::Generated(Generation {
                    text,
                    finish_reason,
                    usage,
                    cached,
                })
            }
            2 => LlmResponse::Described(ModelInfo {
                name: r.short("model name")?,
                context: r.u32()?,
                max_sequences: r.u32()?,
            }),
            _ => return Err(WireError::Invalid("llm response kind")),
        };
        r.end()?;
        Ok(response)
    }

    fn take_stream(request: &mut LlmRequest) -> Option<PieceSink> {
        let LlmRequest::Generate(g) = request else {
            return None;
        };
        let pieces = g.stream.take()?;
        // Pieces are whole UTF-8 text (the engine never splits a character).
        Some(Box::new(move |bytes: Vec<u8>| {
            String::from_utf8(bytes).is_ok_and(|text| pieces.send(text).is_ok())
        }))
    }

    fn open_stream(request: &mut LlmRequest) -> Option<mpsc::UnboundedReceiver<Vec<u8>>> {
        let LlmRequest::Generate(g) = request else {
            return None;
        };
        let (text_tx, mut text_rx) = mpsc::unbounded_channel::<String>();
        let (bytes_tx, bytes_rx) = mpsc::unbounded_channel();
        g.stream = Some(text_tx);
        tokio::spawn(async move {
            while let Some(text) = text_rx.recv().await {
                if bytes_tx.send(text.into_bytes()).is_err() {
                    break;
                }
            }
        });
        Some(bytes_rx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn generate() -> LlmRequest {
        LlmRequest::Generate(Box::new(Generate {
            prompt: Prompt::Chat(vec![
                ChatMessage {
                    role: "system".into(),
                    content: "Be brief.".into(),
                },
                ChatMessage {
                    role: "user".into(),
                    content: "Héllo?".into(),
                },
            ]),
            sampling: Sampling {
                temperature: 0.0,
                seed: Some(42),
                max_tokens: Some(8),
                stop: vec!["\n\n".into()],
                response_format: ResponseFormat::JsonSchema(serde_json::json!({"type": "object"})),
                ..Sampling::default()
            },
            stream: None,
            cache: true,
        }))
    }

    fn same_request(a: &LlmRequest, b: &LlmRequest) -> bool {
        match (a, b) {
            (LlmRequest::Describe, LlmRequest::Describe) => true,
            (LlmRequest::Generate(a), LlmRequest::Generate(b)) => {
                a.prompt == b.prompt && a.sampling == b.sampling && a.cache == b.cache
            }
            _ => false,
        }
    }

    #[test]
    fn requests_round_trip_and_every_cut_is_an_error() {
        let text = LlmRequest::Generate(Box::new(Generate {
            prompt: Prompt::Text("Once upon".into()),
            sampling: Sampling::default(),
            stream: None,
            cache: false,
        }));
        for request in [generate(), text, LlmRequest::Describe] {
            let bytes = LlmService::encode_request(&request).unwrap();
            assert!(same_request(
                &LlmService::decode_request(&bytes).unwrap(),
                &request
            ));
        }
        let bytes = LlmService::encode_request(&generate()).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                LlmService::decode_request(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(LlmService::decode_request(&[9]).is_err());
        assert!(LlmService::decode_request(&[1, 0]).is_err());
    }

    #[test]
    fn answers_round_trip_and_every_cut_is_an_error() {
        let generated = LlmResponse::Generated(Generation {
            text: "Bonjour — ça va".into(),
            finish_reason: FinishReason::Length,
            usage: Usage {
                prompt_tokens: 31,
                completion_tokens: 8,
            },
            cached: true,
        });
        let described = LlmResponse::Described(ModelInfo {
            name: "SmolLM2-135M-Instruct-Q4_1".into(),
            context: 2048,
            max_sequences: 8,
        });
        for response in [generated.clone(), described] {
            let bytes = LlmService::encode_response(&response).unwrap();
            assert_eq!(LlmService::decode_response(&bytes).unwrap(), response);
        }
        let bytes = LlmService::encode_response(&generated).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                LlmService::decode_response(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }

    #[tokio::test]
    async fn pieces_cross_as_text_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut caller = generate();
        if let LlmRequest::Generate(g) = &mut caller {
            g.stream = Some(tx);
        }
        let mut sink = LlmService::take_stream(&mut caller).unwrap();
        let mut served =
            LlmService::decode_request(&LlmService::encode_request(&caller).unwrap()).unwrap();
        let mut pieces = LlmService::open_stream(&mut served).unwrap();
        let LlmRequest::Generate(g) = served else {
            panic!("a generate request")
        };
        for piece in ["Bon", "jour", " ça"] {
            g.stream.as_ref().unwrap().send(piece.to_string()).unwrap();
        }
        drop(g);
        while let Some(bytes) = pieces.recv().await {
            assert!(sink(bytes));
        }
        let mut got = String::new();
        while let Ok(piece) = rx.try_recv() {
            got.push_str(&piece);
        }
        assert_eq!(got, "Bonjour ça");
        assert!(!sink(vec![0xff]), "a piece that is not UTF-8 is refused");
    }
}
