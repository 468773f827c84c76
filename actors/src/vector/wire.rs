//! How vector requests and answers cross between nodes (inside the runtime's versioned
//! frames), so a collection on one node is reachable from every node.
//!
//! **Affinity.** A collection lives on the node that created it. Every request that names
//! a collection carries its name as the affinity key, so it goes to that node (a node that
//! has not seen the name yet asks itself, then each peer, until one does not answer
//! `not_found`). `Create` is keyed too: a name already homed goes to its home (which
//! answers that it exists, or re-creates it there after a drop); a name this node has not
//! seen is created on the first node asked — this node when it runs the service. A name
//! is unique per node: creating it through a node that never saw it may make a second
//! copy elsewhere. `List` has no key: it answers with the collections of the node it
//! reaches.
//!
//! **Format.** Big-endian, a `u8` tag for each enum variant. Text is `u32` length +
//! UTF-8, except collection names (`name`): `u16` length + UTF-8, at most 256 bytes. A
//! count is a `u32`; a size a `u64`; `opt` is a `u8` 0/1 flag before the value; an id is
//! `u8` 0 + `u64` or `u8` 1 + the UUID's 16 bytes; a vector is a count + each `f32`'s
//! bits (it arrives bit-for-bit).
//!
//! - request: `u8 tag` then — create (0): `name | u64 dimension | u8 metric (0 cosine,
//!   1 dot, 2 euclid) | u64 m | u64 ef_construction | u64 ef_search`; drop (1), info (2):
//!   `name`; list (3): nothing; upsert (4): `name | count + (id | u8 0 + vector, or u8 1 +
//!   text | payload)`; delete (5): `name | selector`; search (6): `name | query | opt
//!   text`; get (7): `name | id`; retrieve (8): `name | count + ids`; search batch (9):
//!   `name | count + (query | near: u8 0 vector, 1 + text, 2 + id)`; scroll (10): `name |
//!   opt id offset | u64 limit | opt filter`; change payload (11): `name | selector |
//!   change: u8 0 set + object + opt key, 1 overwrite + object, 2 delete + count + keys,
//!   3 clear`; count (12): `name | opt filter`. A selector is `u8 0 + count + ids` or
//!   `u8 1 + filter`; a query is `vector | u64 limit | u64 offset | opt filter | opt f32
//!   score threshold | opt u64 ef | u8 flags (1 exact, 2 with payload, 4 with vector)`.
//! - response: `u8 tag` then — info (0): `u64 points | u64 indexed | u64 deleted |` the
//!   create config; names (1): `count + names`; changed (2): `u64`; hits (3): `hits`; hit
//!   lists (4): `count + hits`; page (5): `count + records | opt id next`; point (6):
//!   `record`; points (7): `count + records`; count (8): `u64`; dropped (9): nothing.
//!   Hits are `count + (id | f32 score | opt payload | opt vector)`; a record is `id |
//!   payload | vector`.
//! - payload (any JSON value; match values too), in binary rather than as JSON text so
//!   numbers arrive bit-for-bit (serde_json, as built here, does not read every `f64` back
//!   from its text), as the runtime's
//!   [`put_json`](swarm_runtime::cluster::codec::put_json) lays it out: `u8 tag` — null
//!   (0), false (1), true (2), u64 (3), negative i64 (4), f64 bits (5), string (6: text),
//!   array (7: count + values), object (8: count + (text key, value), no key twice); at
//!   most 2^20 items in one array or object, nested at most
//!   [`MAX_JSON_DEPTH`](swarm_runtime::cluster::codec::MAX_JSON_DEPTH) (128) deep. An
//!   `object` alone (payload changes) is the part after tag 8.
//! - filter: `conditions must | conditions should | conditions must_not | opt (u64
//!   min_count | conditions)`; conditions are a count, then per condition a `u8` tag:
//!   match (0: key | count + values), except (1: key | count + values), text (2: key |
//!   text), range (3: key | range), values_count (4: key | range), has_id (5: count + ids,
//!   in id order), has_vector (6: `u8` 0/1), is_empty (7: key), is_null (8: key), nested
//!   array (9: key | filter), nested filter (10: filter); a range is four `opt f64`
//!   bounds (gt, gte, lt, lte). Reading one re-applies what
//!   [`Filter::parse`](super::core::Filter::parse) checks — nesting depth, condition
//!   count, key size, `has_id` size, scalar match values, finite and present bounds — so
//!   a filter arrives as valid as one parsed from Qdrant JSON.
//!
//! Unknown tags, unknown flag bits, bytes after the last field and truncation are errors.

use std::borrow::Cow;

use swarm_runtime::cluster::RemoteCodec;
use swarm_runtime::cluster::codec::FieldReader;
use swarm_runtime::cluster::wire::WireError;

use super::messages::{VectorRequest, VectorResponse};
use super::service::VectorService;

mod fields;
mod filter;
mod request;
mod response;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

impl RemoteCodec for VectorService {
    fn encode_request(request: &VectorRequest) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        request::encode_request(&mut out, request)?;
        Ok(out)
    }

    fn decode_request(bytes: &[u8]) -> Result<VectorRequest, WireError> {
        let mut r = FieldReader::new(bytes);
        let request = request::decode_request(&mut r)?;
        r.end()?;
        Ok(request)
    }

    fn encode_response(response: &VectorResponse) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        response::encode_response(&mut out, response)?;
        Ok(out)
    }

    fn decode_response(bytes: &[u8]) -> Result<VectorResponse, WireError> {
        let mut r = FieldReader::new(bytes);
        let response = response::decode_response(&mut r)?;
        r.end()?;
        Ok(response)
    }

    /// The collection's name, for every request that names a collection.
    fn affinity(request: &VectorRequest) -> Option<Cow<'_, str>> {
        match request {
            VectorRequest::List => None,
            VectorRequest::Create { name, .. }
            | VectorRequest::Drop { name }
            | VectorRequest::Info { name }
            | VectorRequest::Upsert { name, .. }
            | VectorRequest::Delete { name, .. }
            | VectorRequest::Search { name, .. }
            | VectorRequest::Get { name, .. }
            | VectorRequest::Retrieve { name, .. }
            | VectorRequest::SearchBatch { name, .. }
            | VectorRequest::Scroll { name, .. }
            | VectorRequest::ChangePayload { name, .. }
            | VectorRequest::Count { name, .. } => Some(Cow::Borrowed(name)),
        }
    }
}
