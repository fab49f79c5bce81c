//! Reading and writing the fields of a message at one version. A version is
//! either classic (INT16 string lengths, INT32 array lengths) or flexible
//! (compact lengths and tagged-field sections, KIP-482); the choice is made
//! once per message and every field helper follows it.
//!
//! Arrays read from a peer never reserve memory from their count alone: the
//! count is first checked against the bytes left (each element takes at
//! least `min_elem` bytes), and the vector then grows by what was actually
//! decoded.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtoError;
use crate::wire::{put_compact_string, put_string, put_uvarint, Reader};

/// Capacity reserved up front for an array, whatever its count says: the
/// rest grows as elements are decoded.
const INITIAL_CAPACITY: usize = 64;

/// A received message body at a known version.
#[derive(Debug)]
pub struct MessageReader {
    r: Reader,
    version: i16,
    flexible: bool,
}

impl MessageReader {
    pub fn new(body: Bytes, version: i16, flexible: bool) -> MessageReader {
        MessageReader {
            r: Reader::new(body),
            version,
            flexible,
        }
    }

    pub fn version(&self) -> i16 {
        self.version
    }

    pub fn flexible(&self) -> bool {
        self.flexible
    }

    pub fn remaining(&self) -> usize {
        self.r.remaining()
    }

    /// Everything not read yet, as one slice.
    pub fn rest(&mut self) -> Result<Bytes, ProtoError> {
        let n = self.r.remaining();
        self.r.bytes(n, "message")
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, ProtoError> {
        self.r.i8(what)
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, ProtoError> {
        self.r.i16(what)
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, ProtoError> {
        self.r.i32(what)
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, ProtoError> {
        self.r.i64(what)
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, ProtoError> {
        Ok(self.r.i8(what)? != 0)
    }

    /// A UUID (topic ids), skipped: kmirror addresses topics by name.
    pub fn skip_uuid(&mut self, what: &'static str) -> Result<(), ProtoError> {
        self.r.skip(16, what)
    }

    /// A string the schema says is never null.
    pub fn string(&mut self, what: &'static str) -> Result<String, ProtoError> {
        self.nullable_string(what)?
            .ok_or_else(|| ProtoError::malformed(what, "null where a string is required"))
    }

    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, ProtoError> {
        if self.flexible {
            self.r.compact_string(what)
        } else {
            self.r.string(what)
        }
    }

    /// A BYTES (or COMPACT_BYTES) field; `None` when null.
    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, ProtoError> {
        if self.flexible {
            self.r.compact_nullable_bytes(what)
        } else {
            self.r.nullable_bytes(what)
        }
    }

    /// A string that is read past, not kept.
    pub fn skip_string(&mut self, what: &'static str) -> Result<(), ProtoError> {
        let n = self.length(what)?;
        if let Some(n) = n {
            self.r.skip(n, what)?;
        }
        Ok(())
    }

    /// An array the schema says is never null.
    pub fn array<T>(
        &mut self,
        what: &'static str,
        min_elem: usize,
        each: impl FnMut(&mut MessageReader) -> Result<T, ProtoError>,
    ) -> Result<Vec<T>, ProtoError> {
        self.nullable_array(what, min_elem, each)?
            .ok_or_else(|| ProtoError::malformed(what, "null where an array is required"))
    }

    pub fn nullable_array<T>(
        &mut self,
        what: &'static str,
        min_elem: usize,
        mut each: impl FnMut(&mut MessageReader) -> Result<T, ProtoError>,
    ) -> Result<Option<Vec<T>>, ProtoError> {
        let Some(n) = self.array_len(what, min_elem)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(n.min(INITIAL_CAPACITY));
        for _ in 0..n {
            out.push(each(self)?);
        }
        Ok(Some(out))
    }

    /// An array read past element by element, nothing kept (replica lists
    /// and the like that kmirror has no use for).
    pub fn skip_array(
        &mut self,
        what: &'static str,
        min_elem: usize,
        mut each: impl FnMut(&mut MessageReader) -> Result<(), ProtoError>,
    ) -> Result<(), ProtoError> {
        if let Some(n) = self.array_len(what, min_elem)? {
            for _ in 0..n {
                each(self)?;
            }
        }
        Ok(())
    }

    /// An array of INT32 read past.
    pub fn skip_i32_array(&mut self, what: &'static str) -> Result<(), ProtoError> {
        if let Some(n) = self.array_len(what, 4)? {
            // Checked against the bytes left by `array_len`.
            self.r.skip(n * 4, what)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section (flexible versions only).
    pub fn tagged_fields(&mut self, what: &'static str) -> Result<(), ProtoError> {
        if self.flexible {
            self.r.skip_tagged_fields(what)?;
        }
        Ok(())
    }

    /// The element count of an array, checked against the bytes left.
    fn array_len(
        &mut self,
        what: &'static str,
        min_elem: usize,
    ) -> Result<Option<usize>, ProtoError> {
        let min_elem = min_elem.max(1);
        if self.flexible {
            self.r.compact_array_len(what, min_elem)
        } else {
            self.r.array_len(what, min_elem)
        }
    }

    /// A string or bytes length, checked against the bytes left.
    fn length(&mut self, what: &'static str) -> Result<Option<usize>, ProtoError> {
        let n: i64 = if self.flexible {
            i64::from(self.r.uvarint(what)?) - 1
        } else {
            i64::from(self.r.i16(what)?)
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => Err(ProtoError::malformed(what, format!("negative length {n}"))),
            n if n as u64 > self.r.remaining() as u64 => Err(ProtoError::malformed(
                what,
                format!("length {n} exceeds the {} bytes left", self.r.remaining()),
            )),
            n => Ok(Some(n as usize)),
        }
    }
}

/// A message body being written at a known version.
#[derive(Debug)]
pub struct MessageWriter {
    buf: BytesMut,
    version: i16,
    flexible: bool,
}

impl MessageWriter {
    pub fn new(buf: BytesMut, version: i16, flexible: bool) -> MessageWriter {
        MessageWriter {
            buf,
            version,
            flexible,
        }
    }

    pub fn version(&self) -> i16 {
        self.version
    }

    pub fn into_inner(self) -> BytesMut {
        self.buf
    }

    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.put_i8(v as i8);
    }

    /// An all-zero UUID (a topic addressed by name).
    pub fn zero_uuid(&mut self) {
        self.buf.put_slice(&[0u8; 16]);
    }

    pub fn string(&mut self, what: &'static str, s: &str) -> Result<(), ProtoError> {
        self.nullable_string(what, Some(s))
    }

    pub fn nullable_string(
        &mut self,
        what: &'static str,
        s: Option<&str>,
    ) -> Result<(), ProtoError> {
        if let Some(s) = s {
            if s.len() > i16::MAX as usize {
                return Err(ProtoError::malformed(
                    what,
                    format!("{} bytes do not fit a Kafka string", s.len()),
                ));
            }
        }
        if self.flexible {
            put_compact_string(&mut self.buf, s);
        } else {
            put_string(&mut self.buf, s);
        }
        Ok(())
    }

    /// A BYTES (or COMPACT_BYTES) field that is never null.
    pub fn bytes(&mut self, what: &'static str, b: &[u8]) -> Result<(), ProtoError> {
        if b.len() >= i32::MAX as usize {
            return Err(ProtoError::malformed(
                what,
                format!("{} bytes do not fit a Kafka bytes field", b.len()),
            ));
        }
        if self.flexible {
            put_uvarint(&mut self.buf, b.len() as u32 + 1);
        } else {
            self.buf.put_i32(b.len() as i32);
        }
        self.buf.put_slice(b);
        Ok(())
    }

    /// The length prefix of an array of `n` elements (`None`: null).
    pub fn array_len(&mut self, what: &'static str, n: Option<usize>) -> Result<(), ProtoError> {
        let Some(n) = n else {
            if self.flexible {
                put_uvarint(&mut self.buf, 0);
            } else {
                self.buf.put_i32(-1);
            }
            return Ok(());
        };
        if n >= i32::MAX as usize {
            return Err(ProtoError::malformed(
                what,
                format!("{n} elements do not fit a Kafka array"),
            ));
        }
        if self.flexible {
            put_uvarint(&mut self.buf, n as u32 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
        Ok(())
    }

    /// An array, each element written by `each`.
    pub fn array<T>(
        &mut self,
        what: &'static str,
        items: &[T],
        mut each: impl FnMut(&mut MessageWriter, &T) -> Result<(), ProtoError>,
    ) -> Result<(), ProtoError> {
        self.array_len(what, Some(items.len()))?;
        for item in items {
            each(self, item)?;
        }
        Ok(())
    }

    pub fn i32_array(&mut self, what: &'static str, items: &[i32]) -> Result<(), ProtoError> {
        self.array(what, items, |w, v| {
            w.i32(*v);
            Ok(())
        })
    }

    /// An empty tagged-field section (flexible versions only).
    pub fn tagged_fields(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_count_is_refused_before_any_allocation() {
        // Compact array claiming 2^32 - 2 elements, then nothing.
        let body = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut r = MessageReader::new(body, 3, true);
        let err = r.array("api keys", 7, |r| r.i16("x")).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        // Classic array claiming 2^31 - 1.
        let body = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let mut r = MessageReader::new(body, 1, false);
        assert!(r.array("brokers", 10, |r| r.i32("x")).is_err());
    }

    #[test]
    fn fields_round_trip_in_both_encodings() {
        for flexible in [false, true] {
            let mut w = MessageWriter::new(BytesMut::new(), 0, flexible);
            w.string("s", "orders").unwrap();
            w.nullable_string("n", None).unwrap();
            w.i32_array("a", &[1, 2, 3]).unwrap();
            w.array_len("null", None).unwrap();
            w.tagged_fields();
            w.i64(-7);
            let mut r = MessageReader::new(w.into_inner().freeze(), 0, flexible);
            assert_eq!(r.string("s").unwrap(), "orders");
            assert_eq!(r.nullable_string("n").unwrap(), None);
            assert_eq!(r.array("a", 4, |r| r.i32("x")).unwrap(), vec![1, 2, 3]);
            assert!(r
                .nullable_array("null", 1, |r| r.i8("x"))
                .unwrap()
                .is_none());
            r.tagged_fields("t").unwrap();
            assert_eq!(r.i64("i").unwrap(), -7);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn null_where_required_is_malformed() {
        let mut r = MessageReader::new(Bytes::from_static(&[0]), 0, true);
        assert!(r.string("name").is_err());
        let mut r = MessageReader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]), 0, false);
        assert!(r.array("topics", 2, |r| r.i8("x")).is_err());
    }
}
