//! The field layouts the consensus and FHE codecs share, on top of the runtime's
//! [`FieldReader`]: big-endian; `text` is `u32` length + UTF-8; `opt` is a `u8` flag (0
//! absent, 1 present) before the value; a list is a `u32` count (at most [`MAX_ITEMS`])
//! before its items; a `Duration` is `u64` whole milliseconds.
//!
//! - hex: `u8 0 | u32 len + the bytes` when the text is lowercase hex (as keys and
//!   signatures are written), else `u8 1 | text`: either way the same text arrives.
//! - json: `u8 kind` then — null (0), false (1), true (2), u64 (3), negative i64 (4),
//!   f64 bits (5), string (6) `text`, array (7) `list of json`, object (8) `list of (text
//!   key | json)`; at most [`MAX_DEPTH`] deep. Numbers arrive bit-for-bit, which JSON
//!   text re-parsed by serde_json (without `float_roundtrip`) does not promise.

use std::time::Duration;

use serde_json::{Map, Number, Value};
use swarm_runtime::cluster::codec::{FieldReader, put_long};
use swarm_runtime::cluster::wire::WireError;

/// At most this many items in one list (votes, keys, array elements, object entries).
pub(crate) const MAX_ITEMS: usize = 1 << 20;
/// The deepest JSON value read (serde_json's own parsing limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// Appends `text`: `u32` length + UTF-8.
pub(crate) fn text(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    put_long(out, s.as_bytes(), "text")
}

/// Reads `text`; invalid UTF-8 is an error.
pub(crate) fn read_text(r: &mut FieldReader<'_>) -> Result<String, WireError> {
    String::from_utf8(r.long("text")?).map_err(|_| WireError::Invalid("text"))
}

/// `u32` count, then each item; refused past [`MAX_ITEMS`].
pub(crate) fn put_list<T>(
    out: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = T>,
    mut put: impl FnMut(&mut Vec<u8>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    if items.len() > MAX_ITEMS {
        return Err(WireError::TooLarge("count"));
    }
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    items.into_iter().try_for_each(|item| put(out, item))
}

/// A list written by [`put_list`]; the count is checked before anything is allocated.
pub(crate) fn read_list<T>(
    r: &mut FieldReader<'_>,
    mut read: impl FnMut(&mut FieldReader<'_>) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    let n = r.u32()? as usize;
    if n > MAX_ITEMS {
        return Err(WireError::TooLarge("count"));
    }
    let mut items = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        items.push(read(r)?);
    }
    Ok(items)
}

/// `u8` presence flag, then the value.
pub(crate) fn put_opt<T>(
    out: &mut Vec<u8>,
    value: Option<T>,
    put: impl FnOnce(&mut Vec<u8>, T) -> Result<(), WireError>,
) -> Result<(), WireError> {
    out.push(u8::from(value.is_some()));
    value.map_or(Ok(()), |v| put(out, v))
}

/// A value written by [`put_opt`].
pub(crate) fn read_opt<T>(
    r: &mut FieldReader<'_>,
    read: impl FnOnce(&mut FieldReader<'_>) -> Result<T, WireError>,
) -> Result<Option<T>, WireError> {
    if flag(r)? {
        read(r).map(Some)
    } else {
        Ok(None)
    }
}

/// Appends a count or size as a `u64`.
pub(crate) fn u64_of(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

/// Reads a `u64` count or size; one past `usize` is an error.
pub(crate) fn read_usize(r: &mut FieldReader<'_>) -> Result<usize, WireError> {
    usize::try_from(r.u64()?).map_err(|_| WireError::Invalid("count"))
}

/// Reads a presence flag: 0 or 1, anything else is an error.
pub(crate) fn flag(r: &mut FieldReader<'_>) -> Result<bool, WireError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(WireError::Invalid("flag")),
    }
}

/// Appends hex text in the layout above (raw bytes when it is lowercase hex).
pub(crate) fn hex_field(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    match hex::decode(s) {
        Ok(bytes) if hex::encode(&bytes) == s => {
            out.push(0);
            put_long(out, &bytes, "hex")
        }
        _ => {
            out.push(1);
            text(out, s)
        }
    }
}

/// Reads hex text written by [`hex_field`], as the same text.
pub(crate) fn read_hex(r: &mut FieldReader<'_>) -> Result<String, WireError> {
    match r.u8()? {
        0 => Ok(hex::encode(r.long("hex")?)),
        1 => read_text(r),
        _ => Err(WireError::Invalid("hex form")),
    }
}

/// Appends a JSON value in the layout above (lossless: numbers keep their bits).
pub(crate) fn put_json(out: &mut Vec<u8>, v: &Value) -> Result<(), WireError> {
    put_json_at(out, v, 0)
}

fn put_json_at(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooLarge("json depth"));
    }
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => out.push(1 + u8::from(*b)),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => {
                out.push(3);
                out.extend_from_slice(&u.to_be_bytes());
            }
            (None, Some(i), _) => {
                out.push(4);
                out.extend_from_slice(&i.to_be_bytes());
            }
            (None, None, Some(f)) => {
                out.push(5);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            (None, None, None) => return Err(WireError::Invalid("json number")),
        },
        Value::String(s) => {
            out.push(6);
            text(out, s)?;
        }
        Value::Array(items) => {
            out.push(7);
            put_list(out, items.iter(), |out, v| put_json_at(out, v, depth + 1))?;
        }
        Value::Object(map) => {
            out.push(8);
            put_list(out, map.iter(), |out, (k, v)| {
                text(out, k)?;
                put_json_at(out, v, depth + 1)
            })?;
        }
    }
    Ok(())
}

/// Reads a JSON value written by [`put_json`]; too deep, a duplicate key, a non-finite
/// float or a "negative" integer that is not negative is an error.
pub(crate) fn read_json(r: &mut FieldReader<'_>) -> Result<Value, WireError> {
    read_json_at(r, 0)
}

fn read_json_at(r: &mut FieldReader<'_>, depth: usize) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooLarge("json depth"));
    }
    let number = |n: Option<Number>| {
        n.map(Value::Number)
            .ok_or(WireError::Invalid("json number"))
    };
    match r.u8()? {
        0 => Ok(Value::Null),
        1 => Ok(Value::Bool(false)),
        2 => Ok(Value::Bool(true)),
        3 => Ok(Value::Number(r.u64()?.into())),
        4 => number(Some(r.u64()? as i64).filter(|i| *i < 0).map(Number::from)),
        5 => number(Number::from_f64(r.f64()?)),
        6 => read_text(r).map(Value::String),
        7 => read_list(r, |r| read_json_at(r, depth + 1)).map(Value::Array),
        8 => {
            let mut map = Map::new();
            for (k, v) in read_list(r, |r| Ok((read_text(r)?, read_json_at(r, depth + 1)?)))? {
                if map.insert(k, v).is_some() {
                    return Err(WireError::Invalid("json object key"));
                }
            }
            Ok(Value::Object(map))
        }
        _ => Err(WireError::Invalid("json kind")),
    }
}

/// Appends a `Duration` as whole milliseconds (saturating at `u64::MAX`).
pub(crate) fn put_millis(out: &mut Vec<u8>, d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    out.extend_from_slice(&ms.to_be_bytes());
}

/// Encodes `value`, decodes it back, compares their `Debug` forms, and checks that
/// every cut of the bytes and one trailing byte are errors; returns the decoded value.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn trips<T: std::fmt::Debug>(
    value: &T,
    encode: impl Fn(&T) -> Result<Vec<u8>, WireError>,
    decode: impl Fn(&[u8]) -> Result<T, WireError>,
) -> T {
    let bytes = encode(value).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(format!("{back:?}"), format!("{value:?}"));
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut {cut} of {value:?}");
    }
    let long = [&bytes[..], &[0]].concat();
    assert_eq!(decode(&long).unwrap_err(), WireError::Trailing(1));
    back
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn json_back(bytes: &[u8]) -> Result<Value, WireError> {
        let mut r = FieldReader::new(bytes);
        let v = read_json(&mut r)?;
        r.end().map(|()| v)
    }

    #[test]
    fn json_crosses_bit_for_bit_and_every_cut_is_an_error() {
        // Floats serde_json's default parser does not read back exactly from its text.
        let awkward = [
            1.0715660391465826e-75,
            -1.81996730402717e-179,
            -1.603964615428183e143,
        ];
        let v = json!({"f": awkward, "n": [u64::MAX, i64::MIN, -1, 0, -0.0], "s": "✓", "o": {}});
        let mut bytes = Vec::new();
        put_json(&mut bytes, &v).unwrap();
        let back = json_back(&bytes).unwrap();
        assert_eq!(back, v);
        let bits = |v: &Value| -> Vec<u64> {
            v["f"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap().to_bits())
                .collect()
        };
        assert_eq!(bits(&back), bits(&v));
        for cut in 0..bytes.len() {
            assert!(json_back(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn bad_json_is_an_error() {
        assert_eq!(json_back(&[9]), Err(WireError::Invalid("json kind")));
        assert_eq!(
            json_back(&[6, 0, 0, 0, 1, 0xff]),
            Err(WireError::Invalid("text"))
        );
        // A "negative" integer that is not, and a non-finite float.
        assert_eq!(
            json_back(&[4, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(WireError::Invalid("json number"))
        );
        let nan = [&[5u8][..], &f64::NAN.to_bits().to_be_bytes()].concat();
        assert_eq!(json_back(&nan), Err(WireError::Invalid("json number")));
        // A count past the limit, or past what follows, is refused before allocating.
        assert_eq!(
            json_back(&[7, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLarge("count"))
        );
        assert_eq!(json_back(&[7, 0, 0x10, 0, 0]), Err(WireError::Truncated));
        let key = [0, 0, 0, 1, b'k', 0];
        let dup = [&[8, 0, 0, 0, 2][..], &key, &key].concat();
        assert_eq!(json_back(&dup), Err(WireError::Invalid("json object key")));
        // Nesting past the limit, both ways.
        let deep = (0..=MAX_DEPTH).fold(json!(1), |v, _| json!([v]));
        assert!(put_json(&mut Vec::new(), &deep).is_err());
        let nested = [&[7, 0, 0, 0, 1].repeat(MAX_DEPTH + 1)[..], &[0]].concat();
        assert_eq!(json_back(&nested), Err(WireError::TooLarge("json depth")));
    }

    #[test]
    fn hex_crosses_as_bytes_when_it_can_and_as_the_same_text_always() {
        for (s, raw) in [("00ff", true), ("00FF", false), ("abc", false), ("", true)] {
            let mut out = Vec::new();
            hex_field(&mut out, s).unwrap();
            assert_eq!(out[0] == 0, raw, "{s}");
            let mut r = FieldReader::new(&out);
            assert_eq!(read_hex(&mut r).unwrap(), s);
            r.end().unwrap();
        }
        let mut out = Vec::new();
        put_millis(&mut out, Duration::MAX);
        put_opt(&mut out, Some("x"), text).unwrap();
        put_opt(&mut out, None::<&str>, text).unwrap();
        let mut r = FieldReader::new(&out);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(read_opt(&mut r, read_text).unwrap().as_deref(), Some("x"));
        assert_eq!(read_opt(&mut r, read_text).unwrap(), None);
        r.end().unwrap();
    }
}
