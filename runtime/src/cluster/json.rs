//! JSON values in binary, for codecs whose messages carry arbitrary JSON (payloads, job
//! results): numbers cross bit-for-bit, which JSON text does not promise. Re-exported from
//! `codec.rs`; the layout is on [`put_json`].

use serde_json::{Map, Number, Value};

use super::codec::{FieldReader, MAX_ITEMS, put_count, put_list, put_text};
use super::wire::WireError;

/// The deepest a JSON value nests: arrays and objects at most this many within each
/// other. serde_json's own parser stops at 128 too, so any value parsed from JSON text
/// crosses.
pub const MAX_JSON_DEPTH: usize = 128;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UNSIGNED: u8 = 3;
const NEGATIVE: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Appends a JSON value, lossless (numbers keep their bits, which JSON text re-parsed by
/// serde_json as built here, without `float_roundtrip`, does not promise). Big-endian, a
/// `u8` tag, then:
///
/// - null (0), false (1), true (2): nothing;
/// - a non-negative integer (3): `u64`;
/// - a negative integer (4): `i64` (a non-negative one under this tag is refused);
/// - any other number (5): the `f64`'s IEEE-754 bits (`-0.0` stays `-0.0`; NaN and
///   infinities are refused);
/// - string (6): `u32` length + UTF-8;
/// - array (7): `u32` count, then each value;
/// - object (8): `u32` count, then each entry: key (`u32` length + UTF-8), value. A key
///   that comes twice is refused.
///
/// Arrays and objects hold at most [`MAX_ITEMS`] items and nest at most
/// [`MAX_JSON_DEPTH`] deep. Every value has one encoding. Any error, here or in
/// [`FieldReader::json`], names `what` (truncation aside).
pub fn put_json(out: &mut Vec<u8>, value: &Value, what: &'static str) -> Result<(), WireError> {
    put_at(out, value, what, 0)
}

/// Appends a JSON object alone: the part of [`put_json`]'s layout after tag 8 (count,
/// then entries). Its values nest as if it were one level deep.
pub fn put_json_object(
    out: &mut Vec<u8>,
    object: &Map<String, Value>,
    what: &'static str,
) -> Result<(), WireError> {
    put_object(out, object, what, 0)
}

/// `depth`: the arrays and objects around `value`.
fn put_at(
    out: &mut Vec<u8>,
    value: &Value,
    what: &'static str,
    depth: usize,
) -> Result<(), WireError> {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(UNSIGNED);
                out.extend_from_slice(&u.to_be_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(NEGATIVE);
                out.extend_from_slice(&i.to_be_bytes());
            } else {
                let f = n.as_f64().filter(|f| f.is_finite());
                out.push(FLOAT);
                out.extend_from_slice(&f.ok_or(WireError::Invalid(what))?.to_bits().to_be_bytes());
            }
        }
        Value::String(s) => {
            out.push(STRING);
            put_text(out, s, what)?;
        }
        Value::Array(items) => {
            nest(depth, what)?;
            out.push(ARRAY);
            put_list(out, items.iter(), what, |out, v| {
                put_at(out, v, what, depth + 1)
            })?;
        }
        Value::Object(map) => {
            out.push(OBJECT);
            put_object(out, map, what, depth)?;
        }
    }
    Ok(())
}

fn put_object(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    what: &'static str,
    depth: usize,
) -> Result<(), WireError> {
    nest(depth, what)?;
    put_count(out, map.len(), MAX_ITEMS, what)?;
    map.iter().try_for_each(|(k, v)| {
        put_text(out, k, what)?;
        put_at(out, v, what, depth + 1)
    })
}

/// Refuses an array or object inside `depth` others when that is past the limit.
fn nest(depth: usize, what: &'static str) -> Result<(), WireError> {
    if depth >= MAX_JSON_DEPTH {
        return Err(WireError::TooLarge(what));
    }
    Ok(())
}

impl FieldReader<'_> {
    /// A JSON value written by [`put_json`]. Bad bytes are an error, never a panic: an
    /// unknown tag, a non-negative integer tagged negative, a non-finite float, invalid
    /// UTF-8, a key twice in one object, too many items or too deep a value.
    pub fn json(&mut self, what: &'static str) -> Result<Value, WireError> {
        read_at(self, what, 0)
    }

    /// A JSON object written by [`put_json_object`], checked as [`FieldReader::json`]
    /// checks one.
    pub fn json_object(&mut self, what: &'static str) -> Result<Map<String, Value>, WireError> {
        read_object(self, what, 0)
    }
}

fn read_at(r: &mut FieldReader<'_>, what: &'static str, depth: usize) -> Result<Value, WireError> {
    Ok(match r.u8()? {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        UNSIGNED => Value::Number(r.u64()?.into()),
        NEGATIVE => match r.u64()? as i64 {
            i if i < 0 => Value::Number(i.into()),
            _ => return Err(WireError::Invalid(what)),
        },
        FLOAT => Value::Number(Number::from_f64(r.f64()?).ok_or(WireError::Invalid(what))?),
        STRING => Value::String(r.text(what)?),
        ARRAY => {
            nest(depth, what)?;
            Value::Array(r.list(what, |r| read_at(r, what, depth + 1))?)
        }
        OBJECT => Value::Object(read_object(r, what, depth)?),
        _ => return Err(WireError::Invalid(what)),
    })
}

fn read_object(
    r: &mut FieldReader<'_>,
    what: &'static str,
    depth: usize,
) -> Result<Map<String, Value>, WireError> {
    nest(depth, what)?;
    let n = r.count(MAX_ITEMS, what)?;
    let mut map = Map::new();
    for _ in 0..n {
        let key = r.text(what)?;
        if map.insert(key, read_at(r, what, depth + 1)?).is_some() {
            return Err(WireError::Invalid(what));
        }
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn back(bytes: &[u8]) -> Result<Value, WireError> {
        let mut r = FieldReader::new(bytes);
        let v = r.json("payload")?;
        r.end().map(|()| v)
    }

    fn object_back(bytes: &[u8]) -> Result<Map<String, Value>, WireError> {
        let mut r = FieldReader::new(bytes);
        let v = r.json_object("payload")?;
        r.end().map(|()| v)
    }

    fn bytes_of(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        put_json(&mut out, v, "payload").unwrap();
        out
    }

    /// `depth` arrays around `inner`.
    fn nested(depth: usize, inner: Value) -> Value {
        (0..depth).fold(inner, |v, _| json!([v]))
    }

    #[test]
    fn values_cross_bit_for_bit_and_every_cut_is_an_error() {
        // Floats serde_json as built here does not read back exactly from its own text.
        let awkward = [
            1.0715660391465826e-75,
            -1.81996730402717e-179,
            -1.603964615428183e143,
        ];
        let v = json!({
            "f": awkward, "z": -0.0, "one": 1.0,
            "n": [u64::MAX, i64::MIN, -1, 0, null, true, false],
            "s": "✓", "o": {"": {}, "e": []}
        });
        let bytes = bytes_of(&v);
        let got = back(&bytes).unwrap();
        assert_eq!(got, v);
        assert_eq!(bytes_of(&got), bytes, "one encoding per value");
        let bits = |v: &Value, key: &str| -> Vec<u64> {
            let all = v[key]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![v[key].clone()]);
            all.iter().map(|x| x.as_f64().unwrap().to_bits()).collect()
        };
        for key in ["f", "z", "one"] {
            assert_eq!(bits(&got, key), bits(&v, key), "{key}");
        }
        assert!(got["z"].as_f64().unwrap().is_sign_negative());
        assert!(got["one"].is_f64(), "1.0 stays a float");
        for cut in 0..bytes.len() {
            assert!(back(&bytes[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            back(&[&bytes[..], &[0]].concat()),
            Err(WireError::Trailing(1))
        );
        // An object alone is the part after tag 8.
        let mut alone = Vec::new();
        put_json_object(&mut alone, v.as_object().unwrap(), "payload").unwrap();
        assert_eq!(alone, bytes[1..]);
        assert_eq!(object_back(&alone).unwrap(), *v.as_object().unwrap());
        for cut in 0..alone.len() {
            assert!(object_back(&alone[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn bad_bytes_are_errors_never_panics() {
        let invalid = Err(WireError::Invalid("payload"));
        assert_eq!(back(&[9]), invalid);
        assert_eq!(back(&[6, 0, 0, 0, 1, 0xff]), invalid, "not UTF-8");
        assert_eq!(back(&[4, 0, 0, 0, 0, 0, 0, 0, 1]), invalid, "not negative");
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let float = [&[5u8][..], &f.to_bits().to_be_bytes()].concat();
            assert_eq!(back(&float), invalid, "{f}");
        }
        let key = [0, 0, 0, 1, b'k', 0];
        let twice = [&[8, 0, 0, 0, 2][..], &key, &key].concat();
        assert_eq!(back(&twice), invalid, "a key twice");
        assert_eq!(
            object_back(&twice[1..]).unwrap_err(),
            WireError::Invalid("payload")
        );
        // A count past the limit, or past what follows, is refused before allocating.
        let too_many = (MAX_ITEMS as u32 + 1).to_be_bytes();
        assert_eq!(
            back(&[&[7u8][..], &too_many].concat()),
            Err(WireError::TooLarge("payload"))
        );
        assert_eq!(
            back(&[&[8u8][..], &too_many].concat()),
            Err(WireError::TooLarge("payload"))
        );
        assert_eq!(back(&[7, 0, 0x10, 0, 0]), Err(WireError::Truncated));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_both_ways() {
        let deepest = nested(MAX_JSON_DEPTH, json!(1));
        assert_eq!(back(&bytes_of(&deepest)).unwrap(), deepest);
        let too_deep = nested(MAX_JSON_DEPTH + 1, json!(1));
        let refused = Err(WireError::TooLarge("payload"));
        let over = WireError::TooLarge("payload");
        assert_eq!(put_json(&mut Vec::new(), &too_deep, "payload"), refused);
        let object = nested(MAX_JSON_DEPTH, json!({}));
        assert_eq!(put_json(&mut Vec::new(), &object, "payload"), refused);
        // One array more than the limit, written by hand: refused on reading too.
        let bytes = [
            &[7, 0, 0, 0, 1].repeat(MAX_JSON_DEPTH)[..],
            &[7, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(back(&bytes).unwrap_err(), over);
        // An object alone counts as one level.
        let inner = nested(MAX_JSON_DEPTH - 1, json!(1));
        let map = Map::from_iter([("k".to_string(), inner.clone())]);
        let mut alone = Vec::new();
        put_json_object(&mut alone, &map, "payload").unwrap();
        assert_eq!(object_back(&alone).unwrap(), map);
        let map = Map::from_iter([("k".to_string(), json!([inner]))]);
        assert_eq!(put_json_object(&mut Vec::new(), &map, "payload"), refused);
        // serde_json's own parser refuses first: whatever it parses fits.
        let text = format!(
            "{}1{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }
}
