//! The field layouts the consensus and FHE codecs share beyond the runtime's own
//! (`swarm_runtime::cluster::codec`: text, flags, options, lists, sizes and JSON values):
//!
//! - hex: `u8 0 | u32 len + the bytes` when the text is lowercase hex (as keys and
//!   signatures are written), else `u8 1 | u32 len + UTF-8`: either way the same text
//!   arrives.
//! - a `Duration`: `u64` whole milliseconds; an optional one (`opt ms`) a flag before it.

use std::time::Duration;

use swarm_runtime::cluster::codec::{FieldReader, put_flag, put_long, put_text};
use swarm_runtime::cluster::wire::WireError;

/// Appends hex text in the layout above (raw bytes when it is lowercase hex).
pub(crate) fn hex_field(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    match hex::decode(s) {
        Ok(bytes) if hex::encode(&bytes) == s => {
            out.push(0);
            put_long(out, &bytes, "hex")
        }
        _ => {
            out.push(1);
            put_text(out, s, "hex")
        }
    }
}

/// Reads hex text written by [`hex_field`], as the same text.
pub(crate) fn read_hex(r: &mut FieldReader<'_>) -> Result<String, WireError> {
    match r.u8()? {
        0 => Ok(hex::encode(r.long("hex")?)),
        1 => r.text("hex"),
        _ => Err(WireError::Invalid("hex form")),
    }
}

/// Appends a `Duration` as whole milliseconds (saturating at `u64::MAX`).
pub(crate) fn put_millis(out: &mut Vec<u8>, d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    out.extend_from_slice(&ms.to_be_bytes());
}

/// Reads a `Duration` written by [`put_millis`].
pub(crate) fn read_millis(r: &mut FieldReader<'_>) -> Result<Duration, WireError> {
    r.u64().map(Duration::from_millis)
}

/// Appends an optional `Duration` (a timeout): a flag, then [`put_millis`].
pub(crate) fn put_opt_millis(out: &mut Vec<u8>, d: Option<Duration>) {
    put_flag(out, d.is_some());
    d.into_iter().for_each(|d| put_millis(out, d));
}

/// Reads an optional `Duration` written by [`put_opt_millis`].
pub(crate) fn read_opt_millis(r: &mut FieldReader<'_>) -> Result<Option<Duration>, WireError> {
    r.opt(read_millis)
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
    use super::*;

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
        put_opt_millis(&mut out, Some(Duration::from_millis(7)));
        put_opt_millis(&mut out, None);
        let mut r = FieldReader::new(&out);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        let opt = read_opt_millis(&mut r).unwrap();
        assert_eq!(opt, Some(Duration::from_millis(7)));
        assert_eq!(read_opt_millis(&mut r).unwrap(), None);
        r.end().unwrap();
    }
}
