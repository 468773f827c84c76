//! How embedding requests and answers cross between nodes (inside the runtime's
//! versioned frames): request = `u32 count | per input: u32 len + UTF-8`; answer =
//! `u32 count | per vector: u32 len + f32 bits | u64 tokens | u16 len + model name`.
//! Big-endian; vectors arrive bit-for-bit.

use std::sync::Arc;

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::{FieldReader, put_long, put_short};
use swarm_runtime::cluster::wire::WireError;

use super::service::{EmbedRequest, EmbedResponse, EmbedService};

/// At most this many inputs or vectors in one message.
const MAX_ITEMS: usize = 1 << 20;

fn count(out: &mut Vec<u8>, n: usize, what: &'static str) -> Result<(), WireError> {
    if n > MAX_ITEMS {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(n as u32).to_be_bytes());
    Ok(())
}

fn read_count(r: &mut FieldReader<'_>, what: &'static str) -> Result<usize, WireError> {
    let n = r.u32()? as usize;
    if n > MAX_ITEMS {
        return Err(WireError::TooLarge(what));
    }
    Ok(n)
}

impl RemoteCodec for EmbedService {
    fn encode_request(request: &EmbedRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        count(&mut out, request.inputs.len(), "inputs")?;
        for text in &request.inputs {
            put_long(&mut out, text.as_bytes(), "input")?;
        }
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<EmbedRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let n = read_count(&mut r, "inputs")?;
        let mut inputs = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            inputs.push(
                String::from_utf8(r.long("input")?).map_err(|_| WireError::Invalid("input"))?,
            );
        }
        r.end()?;
        Ok(EmbedRequest { inputs })
    }

    fn encode_response(response: &EmbedResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        count(&mut out, response.embeddings.len(), "embeddings")?;
        for v in &response.embeddings {
            count(&mut out, v.len(), "embedding")?;
            for x in v {
                out.extend_from_slice(&x.to_bits().to_be_bytes());
            }
        }
        out.extend_from_slice(&(response.tokens as u64).to_be_bytes());
        put_short(&mut out, &response.model, "model")?;
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<EmbedResponse, WireError> {
        let mut r = FieldReader::new(bytes);
        let n = read_count(&mut r, "embeddings")?;
        let mut embeddings = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let len = read_count(&mut r, "embedding")?;
            let raw = r.take(len * 4)?;
            embeddings.push(
                raw.chunks_exact(4)
                    .map(|c| f32::from_bits(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            );
        }
        let tokens = usize::try_from(r.u64()?).map_err(|_| WireError::Invalid("tokens"))?;
        let model: Arc<str> = r.short("model")?.into();
        r.end()?;
        Ok(EmbedResponse {
            embeddings,
            tokens,
            model,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_vectors_round_trip_bit_for_bit() {
        let request = EmbedRequest {
            inputs: vec!["héllo".into(), String::new()],
        };
        let back =
            EmbedService::decode_request(&EmbedService::encode_request(&request).unwrap()).unwrap();
        assert_eq!(back.inputs, request.inputs);
        let response = EmbedResponse {
            embeddings: vec![vec![0.1, -0.0, f32::MIN_POSITIVE], vec![]],
            tokens: 9,
            model: "all-MiniLM-L6-v2".into(),
        };
        let bytes = EmbedService::encode_response(&response).unwrap();
        let back = EmbedService::decode_response(&bytes).unwrap();
        let bits = |e: &EmbedResponse| -> Vec<Vec<u32>> {
            e.embeddings
                .iter()
                .map(|v| v.iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&back), bits(&response));
        assert_eq!((back.tokens, &*back.model), (9, "all-MiniLM-L6-v2"));
        for cut in 0..bytes.len() {
            assert!(
                EmbedService::decode_response(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }
}
