//! The little-endian binary encoding shared by the write-ahead log and snapshots.

use serde_json::Value;

use super::{NewPoint, PointId};

/// Appends values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    pub(crate) fn floats(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        v.iter()
            .for_each(|x| self.0.extend_from_slice(&x.to_le_bytes()));
    }
    pub(crate) fn id(&mut self, id: &PointId) {
        match id {
            PointId::Num(n) => {
                self.u8(0);
                self.u64(*n);
            }
            PointId::Uuid(u) => {
                self.u8(1);
                self.0.extend_from_slice(u.as_bytes());
            }
        }
    }
    pub(crate) fn json(&mut self, v: &Value) {
        // Serialising a serde_json::Value cannot fail.
        let text = serde_json::to_vec(v).unwrap_or_default();
        self.bytes(&text);
    }
    pub(crate) fn point(&mut self, p: &NewPoint) {
        self.id(&p.id);
        self.json(&p.payload);
        self.floats(&p.vector);
    }
}

/// Reads values back; every read is bounds-checked and fails with a message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }
    pub(crate) fn done(&self) -> bool {
        self.at == self.buf.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize, String> {
        usize::try_from(self.u64()?).map_err(|_| "length out of range".to_string())
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }
    pub(crate) fn floats(&mut self) -> Result<Vec<f32>, String> {
        let n = self.len()?;
        let raw = self.take(n.checked_mul(4).ok_or("length out of range")?)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    pub(crate) fn id(&mut self) -> Result<PointId, String> {
        match self.u8()? {
            0 => Ok(PointId::Num(self.u64()?)),
            1 => Ok(PointId::Uuid(uuid::Uuid::from_bytes(self.array()?))),
            t => Err(format!("unknown id tag {t}")),
        }
    }
    pub(crate) fn json(&mut self) -> Result<Value, String> {
        serde_json::from_slice(self.bytes()?).map_err(|e| e.to_string())
    }
    pub(crate) fn point(&mut self) -> Result<NewPoint, String> {
        Ok(NewPoint {
            id: self.id()?,
            payload: self.json()?,
            vector: self.floats()?,
        })
    }
}
