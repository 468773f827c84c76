//! How a service's own requests and responses cross between nodes: the [`RemoteCodec`]
//! a service type implements to be reachable from other nodes, and the field reader and
//! writers every codec (and the frame format in `wire.rs`) is built from.
//!
//! Fields are big-endian and length-prefixed: `u16` before short text (at most 256 bytes),
//! `u32` before long byte strings and text (at most [`MAX_FRAME`]), `f64` as its IEEE-754
//! bits; a flag is a `u8` 0 or 1, an optional value a flag before the value, a size a
//! `u64`, a count a `u32` before the items it counts, and a JSON value is laid out as in
//! [`put_json`]. Every read checks the length first, so a short or hostile payload is an
//! error, never a panic.

use std::borrow::Cow;

pub use super::json::{MAX_JSON_DEPTH, put_json, put_json_object};
use super::wire::{MAX_FRAME, WireError};
use crate::error::SwarmError;
use crate::service::Service;

/// Where the pieces of a streamed answer go on the calling node: each piece's bytes, in
/// order; `false` once nobody reads them.
pub type PieceSink = Box<dyn FnMut(Vec<u8>) -> bool + Send>;

/// The longest short text field (names, codes, traceparents).
pub const MAX_NAME: usize = 256;

/// At most this many items in one list ([`put_list`]), JSON array or JSON object.
pub const MAX_ITEMS: usize = 1 << 20;

/// Items reserved ahead for a count read off the wire; more grow as they actually arrive.
const PREALLOC: usize = 1024;

/// A service type whose requests and responses can cross to another node. Register it
/// with [`crate::ServiceTypeRegistration::remote`]; each encoding is the service's own,
/// inside the versioned request and reply frames.
pub trait RemoteCodec: Service {
    /// The request's bytes.
    fn encode_request(request: &Self::Request) -> Result<Vec<u8>, WireError>;
    /// Reads a request; bad bytes are an error, never a panic.
    fn decode_request(bytes: &[u8]) -> Result<Self::Request, WireError>;
    /// The response's bytes.
    fn encode_response(response: &Self::Response) -> Result<Vec<u8>, WireError>;
    /// Reads a response; bad bytes are an error, never a panic.
    fn decode_response(bytes: &[u8]) -> Result<Self::Response, WireError>;

    /// The key of the state a request must reach (an FL round's id): a call with a key
    /// goes to the node that created that state. `None`, the default: any node.
    fn affinity(_request: &Self::Request) -> Option<Cow<'_, str>> {
        None
    }

    /// The key of state a response says was created where the call ran (a new round's
    /// id): later calls with that key go there.
    fn created(_response: &Self::Response) -> Option<Cow<'_, str>> {
        None
    }

    /// Streaming, calling side: takes the request's piece channel (an LLM's text as it
    /// is generated) out of the request, so the request can cross, as a sink for the
    /// pieces that come back. `None`, the default: the answer comes whole.
    fn take_stream(_request: &mut Self::Request) -> Option<PieceSink> {
        None
    }

    /// Streaming, answering side: gives a decoded streamed request a piece channel and
    /// returns its other end, each piece encoded for the [`RemoteCodec::take_stream`]
    /// sink. Called only for requests the caller streamed.
    fn open_stream(
        _request: &mut Self::Request,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>> {
        None
    }
}

/// Appends short text: `u16` length, then the bytes (at most [`MAX_NAME`]).
pub fn put_short(out: &mut Vec<u8>, text: &str, what: &'static str) -> Result<(), WireError> {
    if text.len() > MAX_NAME {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Appends a byte string: `u32` length, then the bytes (at most [`MAX_FRAME`]).
pub fn put_long(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<(), WireError> {
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends a `u32` count of values and each `f64` (at most [`MAX_FRAME`] / 8 values).
pub fn put_f64s(out: &mut Vec<u8>, values: &[f64], what: &'static str) -> Result<(), WireError> {
    if values.len() > MAX_FRAME / 8 {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(values.len() as u32).to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    Ok(())
}

/// Appends text: `u32` length, then the UTF-8 (at most [`MAX_FRAME`] bytes).
pub fn put_text(out: &mut Vec<u8>, text: &str, what: &'static str) -> Result<(), WireError> {
    put_long(out, text.as_bytes(), what)
}

/// Appends a flag: `u8` 1 for `true`, 0 for `false`.
pub fn put_flag(out: &mut Vec<u8>, flag: bool) {
    out.push(u8::from(flag));
}

/// Appends a size (or a count that is a value, not a list's length) as a `u64`.
pub fn put_size(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

/// Appends a `u32` count of the items that follow, refused past `limit` (and past
/// [`MAX_FRAME`]: every item takes at least a byte).
pub fn put_count(
    out: &mut Vec<u8>,
    n: usize,
    limit: usize,
    what: &'static str,
) -> Result<(), WireError> {
    if n > limit.min(MAX_FRAME) {
        return Err(WireError::TooLarge(what));
    }
    out.extend_from_slice(&(n as u32).to_be_bytes());
    Ok(())
}

/// Appends an optional value: a flag ([`put_flag`]), then the value as `put` writes it
/// when there is one.
pub fn put_opt<T>(
    out: &mut Vec<u8>,
    value: Option<T>,
    put: impl FnOnce(&mut Vec<u8>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    put_flag(out, value.is_some());
    value.map_or(Ok(()), |v| put(out, v))
}

/// Appends a list: a count ([`put_count`], at most [`MAX_ITEMS`]), then each item as
/// `put` writes it.
pub fn put_list<T>(
    out: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = T>,
    what: &'static str,
    mut put: impl FnMut(&mut Vec<u8>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    put_count(out, items.len(), MAX_ITEMS, what)?;
    items.into_iter().try_for_each(|item| put(out, item))
}

/// Reads fields in order; every read checks the length first.
pub struct FieldReader<'a>(&'a [u8]);

impl<'a> FieldReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_be_bytes)
    }

    /// An `f64` from its big-endian bits.
    pub fn f64(&mut self) -> Result<f64, WireError> {
        self.u64().map(f64::from_bits)
    }

    /// Short text written by [`put_short`].
    pub fn short(&mut self, what: &'static str) -> Result<String, WireError> {
        let n = usize::from(self.u16()?);
        if n > MAX_NAME {
            return Err(WireError::TooLarge(what));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| WireError::Invalid(what))
    }

    /// A byte string written by [`put_long`].
    pub fn long(&mut self, what: &'static str) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        if n > MAX_FRAME {
            return Err(WireError::TooLarge(what));
        }
        Ok(self.take(n)?.to_vec())
    }

    /// Values written by [`put_f64s`].
    pub fn f64s(&mut self, what: &'static str) -> Result<Vec<f64>, WireError> {
        let n = self.u32()? as usize;
        if n > MAX_FRAME / 8 || n * 8 > self.0.len() {
            return Err(if n > MAX_FRAME / 8 {
                WireError::TooLarge(what)
            } else {
                WireError::Truncated
            });
        }
        (0..n).map(|_| self.f64()).collect()
    }

    /// Text written by [`put_text`]; invalid UTF-8 is an error.
    pub fn text(&mut self, what: &'static str) -> Result<String, WireError> {
        String::from_utf8(self.long(what)?).map_err(|_| WireError::Invalid(what))
    }

    /// A flag written by [`put_flag`]: 0 or 1, anything else is an error.
    pub fn flag(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid(what)),
        }
    }

    /// A size written by [`put_size`]; one past `usize` is an error.
    pub fn size(&mut self, what: &'static str) -> Result<usize, WireError> {
        usize::try_from(self.u64()?).map_err(|_| WireError::Invalid(what))
    }

    /// A count written by [`put_count`], refused past `limit` (and past [`MAX_FRAME`]).
    pub fn count(&mut self, limit: usize, what: &'static str) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > limit.min(MAX_FRAME) {
            return Err(WireError::TooLarge(what));
        }
        Ok(n)
    }

    /// An optional value written by [`put_opt`]; `read` reads the value itself.
    pub fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, WireError>,
    ) -> Result<Option<T>, WireError> {
        if self.flag("option flag")? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A list written by [`put_list`], each item as `read` reads it. The count is checked
    /// before anything is allocated, and only a few items are reserved ahead of arriving.
    pub fn list<T>(
        &mut self,
        what: &'static str,
        mut read: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let n = self.count(MAX_ITEMS, what)?;
        let mut items = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            items.push(read(self)?);
        }
        Ok(items)
    }

    /// Checks nothing follows the last field.
    pub fn end(self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// A [`SwarmError`] as a reply frame carries it: its code and a message. For
/// `overloaded` and `dropped` the message is `"<retry-after ms> <policy>"`, so the caller
/// gets the same typed error (and hint) a local queue would have given.
pub fn error_to_wire(e: &SwarmError) -> (crate::ErrorCode, String) {
    let message = match e {
        SwarmError::Overloaded { retry_after, .. } => format!("{}", retry_after.as_millis()),
        SwarmError::Dropped {
            retry_after,
            policy,
            ..
        } => format!("{} {policy}", retry_after.as_millis()),
        SwarmError::Unavailable(m)
        | SwarmError::InvalidRequest(m)
        | SwarmError::NotFound(m)
        | SwarmError::Internal(m) => m.clone(),
        SwarmError::DeadlineExceeded | SwarmError::WorkerCrashed => String::new(),
    };
    (e.code(), message)
}

/// The typed error a reply frame's code and message stand for (`service` names the
/// service called, for the errors that carry it).
pub fn error_from_wire(code: crate::ErrorCode, message: &str, service: &str) -> SwarmError {
    use crate::ErrorCode as C;
    let mut words = message.split(' ');
    let retry_after =
        std::time::Duration::from_millis(words.next().and_then(|w| w.parse().ok()).unwrap_or(0));
    match code {
        C::Overloaded => SwarmError::Overloaded {
            service: service.to_string(),
            retry_after,
        },
        C::Dropped => SwarmError::Dropped {
            service: service.to_string(),
            policy: words
                .next()
                .and_then(crate::OverflowPolicy::from_name)
                .map_or("drop_oldest", crate::OverflowPolicy::name),
            retry_after,
        },
        C::DeadlineExceeded => SwarmError::DeadlineExceeded,
        C::WorkerCrashed => SwarmError::WorkerCrashed,
        C::Unavailable => SwarmError::Unavailable(message.to_string()),
        C::InvalidRequest => SwarmError::InvalidRequest(message.to_string()),
        C::NotFound => SwarmError::NotFound(message.to_string()),
        _ => SwarmError::Internal(message.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_error_crosses_as_itself() {
        let errors = [
            SwarmError::Overloaded {
                service: "nash".into(),
                retry_after: Duration::from_millis(250),
            },
            SwarmError::Dropped {
                service: "nash".into(),
                policy: "drop_newest",
                retry_after: Duration::from_millis(7),
            },
            SwarmError::DeadlineExceeded,
            SwarmError::WorkerCrashed,
            SwarmError::Unavailable("draining".into()),
            SwarmError::InvalidRequest("`row` is ragged".into()),
            SwarmError::NotFound("round r1".into()),
            SwarmError::Internal("disk".into()),
        ];
        for e in errors {
            let (code, message) = error_to_wire(&e);
            assert_eq!(error_from_wire(code, &message, "nash"), e);
        }
    }

    #[test]
    fn fields_round_trip_and_short_input_is_an_error() {
        let mut out = Vec::new();
        put_short(&mut out, "héllo", "name").unwrap();
        put_long(&mut out, &[1, 2, 3], "bytes").unwrap();
        put_f64s(&mut out, &[0.1, -0.0, f64::MAX], "values").unwrap();
        let mut r = FieldReader::new(&out);
        assert_eq!(r.short("name").unwrap(), "héllo");
        assert_eq!(r.long("bytes").unwrap(), vec![1, 2, 3]);
        let values = r.f64s("values").unwrap();
        assert_eq!(values[0].to_bits(), 0.1f64.to_bits());
        assert!(values[1].is_sign_negative());
        r.end().unwrap();
        for cut in 0..out.len() {
            let mut r = FieldReader::new(&out[..cut]);
            let all = r
                .short("name")
                .and_then(|_| r.long("bytes"))
                .and_then(|_| r.f64s("values"));
            assert!(all.is_err(), "cut at {cut}");
        }
        // A count larger than what follows is refused before any allocation.
        let mut r = FieldReader::new(&[0, 0x10, 0, 0]);
        assert_eq!(r.f64s("values"), Err(WireError::Truncated));
        assert!(put_short(&mut Vec::new(), &"x".repeat(MAX_NAME + 1), "name").is_err());
    }

    #[test]
    fn text_flags_sizes_options_and_lists_round_trip_and_bad_ones_are_errors() {
        let mut out = Vec::new();
        put_text(&mut out, "héllo ✓", "text").unwrap();
        put_flag(&mut out, true);
        put_size(&mut out, 7);
        put_opt(&mut out, Some(3u64), |out, v| {
            put_size(out, v as usize);
            Ok(())
        })
        .unwrap();
        put_opt(&mut out, None::<&str>, |out, t| put_text(out, t, "text")).unwrap();
        put_list(&mut out, ["a", "", "c"].into_iter(), "names", |out, t| {
            put_text(out, t, "name")
        })
        .unwrap();
        put_count(&mut out, 2, 2, "pair").unwrap();
        let read = |bytes: &[u8]| {
            let mut r = FieldReader::new(bytes);
            let all = (
                r.text("text")?,
                r.flag("flag")?,
                r.size("size")?,
                r.opt(|r| r.size("size"))?,
                r.opt(|r| r.text("text"))?,
                r.list("names", |r| r.text("name"))?,
                r.count(2, "pair")?,
            );
            r.end().map(|()| all)
        };
        let (text, flag, size, some, none, names, pair) = read(&out).unwrap();
        assert_eq!((text.as_str(), flag, size), ("héllo ✓", true, 7));
        assert_eq!((some, none, pair), (Some(3), None, 2));
        assert_eq!(names, ["a", "", "c"]);
        for cut in 0..out.len() {
            assert!(read(&out[..cut]).is_err(), "cut at {cut}");
        }
        let bad = |bytes: &[u8]| read(bytes).unwrap_err();
        assert_eq!(bad(&[0, 0, 0, 1, 0xff]), WireError::Invalid("text"));
        assert_eq!(bad(&[0, 0, 0, 0, 2]), WireError::Invalid("flag"));
        let flagged = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            bad(&[&flagged[..], &[2]].concat()),
            WireError::Invalid("option flag")
        );
        // A count past its limit is refused before anything is read or allocated.
        let mut r = FieldReader::new(&[0, 0, 0, 3]);
        assert_eq!(r.count(2, "pair"), Err(WireError::TooLarge("pair")));
        assert_eq!(
            put_count(&mut Vec::new(), 3, 2, "pair"),
            Err(WireError::TooLarge("pair"))
        );
        let mut r = FieldReader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            r.list("names", |r| r.u8()),
            Err(WireError::TooLarge("names"))
        );
        let mut r = FieldReader::new(&[0, 0x10, 0, 0]);
        assert_eq!(r.list("names", |r| r.u8()), Err(WireError::Truncated));
    }
}
