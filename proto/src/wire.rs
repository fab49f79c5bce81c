//! Primitive Kafka encodings: fixed-width big-endian integers, zig-zag
//! varints, classic and compact strings, arrays and byte fields, tagged
//! fields. The [`Reader`] hands out byte fields as zero-copy slices of the
//! buffer it reads.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtoError;

/// A checked cursor over a received buffer.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], ProtoError> {
        if self.remaining() < n {
            return Err(ProtoError::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    /// The next `n` bytes as a slice sharing this buffer.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, ProtoError> {
        if self.remaining() < n {
            return Err(ProtoError::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), ProtoError> {
        self.take(n, what).map(|_| ())
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, ProtoError> {
        Ok(self.take(1, what)?[0] as i8)
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, ProtoError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, ProtoError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, ProtoError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// An unsigned LEB128 varint of at most 32 bits.
    pub fn uvarint(&mut self, what: &'static str) -> Result<u32, ProtoError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1, what)?[0];
            if i == 4 && b > 0x0f {
                return Err(ProtoError::malformed(what, "varint longer than 32 bits"));
            }
            value |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::malformed(what, "varint longer than 5 bytes"))
    }

    /// An unsigned LEB128 varint of at most 64 bits.
    pub fn uvarlong(&mut self, what: &'static str) -> Result<u64, ProtoError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.take(1, what)?[0];
            if i == 9 && b > 0x01 {
                return Err(ProtoError::malformed(what, "varlong longer than 64 bits"));
            }
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::malformed(what, "varlong longer than 10 bytes"))
    }

    /// A zig-zag encoded signed varint (records use these).
    pub fn varint(&mut self, what: &'static str) -> Result<i32, ProtoError> {
        let v = self.uvarint(what)?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    pub fn varlong(&mut self, what: &'static str) -> Result<i64, ProtoError> {
        let v = self.uvarlong(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Classic array length (INT32, -1 for null) as an optional count, checked
    /// against the bytes left given each element takes at least `min_elem` bytes.
    pub fn array_len(
        &mut self,
        what: &'static str,
        min_elem: usize,
    ) -> Result<Option<usize>, ProtoError> {
        let n = self.i32(what)?;
        self.checked_len(n as i64, what, min_elem)
    }

    /// Compact array length (UNSIGNED_VARINT n+1, 0 for null).
    pub fn compact_array_len(
        &mut self,
        what: &'static str,
        min_elem: usize,
    ) -> Result<Option<usize>, ProtoError> {
        let n = self.uvarint(what)? as i64 - 1;
        self.checked_len(n, what, min_elem)
    }

    fn checked_len(
        &self,
        n: i64,
        what: &'static str,
        min_elem: usize,
    ) -> Result<Option<usize>, ProtoError> {
        if n < 0 {
            if n == -1 {
                return Ok(None);
            }
            return Err(ProtoError::malformed(what, format!("negative length {n}")));
        }
        let n = n as usize;
        if n.saturating_mul(min_elem.max(1)) > self.remaining() && min_elem > 0 {
            return Err(ProtoError::malformed(
                what,
                format!("length {n} exceeds the {} bytes left", self.remaining()),
            ));
        }
        Ok(Some(n))
    }

    pub fn string(&mut self, what: &'static str) -> Result<Option<String>, ProtoError> {
        let n = self.i16(what)?;
        self.string_body(n as i64, what)
    }

    pub fn compact_string(&mut self, what: &'static str) -> Result<Option<String>, ProtoError> {
        let n = self.uvarint(what)? as i64 - 1;
        self.string_body(n, what)
    }

    fn string_body(&mut self, n: i64, what: &'static str) -> Result<Option<String>, ProtoError> {
        match self.checked_len(n, what, 1)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n, what)?;
                String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| ProtoError::malformed(what, "string is not UTF-8"))
            }
        }
    }

    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, ProtoError> {
        let n = self.i32(what)?;
        match self.checked_len(n as i64, what, 1)? {
            None => Ok(None),
            Some(n) => self.bytes(n, what).map(Some),
        }
    }

    pub fn compact_nullable_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<Option<Bytes>, ProtoError> {
        let n = self.uvarint(what)? as i64 - 1;
        match self.checked_len(n, what, 1)? {
            None => Ok(None),
            Some(n) => self.bytes(n, what).map(Some),
        }
    }

    /// Skips a tagged-field section (we read no tagged fields on the hot path).
    pub fn skip_tagged_fields(&mut self, what: &'static str) -> Result<(), ProtoError> {
        let count = self.uvarint(what)?;
        for _ in 0..count {
            self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            self.skip(size, what)?;
        }
        Ok(())
    }
}

pub fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn put_uvarlong(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn put_varint(buf: &mut BytesMut, v: i32) {
    put_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

pub fn put_varlong(buf: &mut BytesMut, v: i64) {
    put_uvarlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Bytes a zig-zag varint takes.
pub fn varint_len(v: i32) -> usize {
    uvar_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

/// Bytes a zig-zag varlong takes.
pub fn varlong_len(v: i64) -> usize {
    uvar_len(((v << 1) ^ (v >> 63)) as u64)
}

/// Bytes an unsigned varint of `u` takes (7 bits a byte).
fn uvar_len(mut u: u64) -> usize {
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

pub fn put_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => buf.put_i16(-1),
        Some(s) => {
            buf.put_i16(s.len() as i16);
            buf.put_slice(s.as_bytes());
        }
    }
}

pub fn put_compact_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(buf, 0),
        Some(s) => {
            put_uvarint(buf, s.len() as u32 + 1);
            buf.put_slice(s.as_bytes());
        }
    }
}

pub fn put_compact_array_len(buf: &mut BytesMut, n: usize) {
    put_uvarint(buf, n as u32 + 1);
}

pub fn put_empty_tagged_fields(buf: &mut BytesMut) {
    buf.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            prop_assert_eq!(b.len(), varint_len(v));
            let mut r = Reader::new(b.freeze());
            prop_assert_eq!(r.varint("v").unwrap(), v);
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            let mut r = Reader::new(b.freeze());
            prop_assert_eq!(r.varlong("v").unwrap(), v);
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(Bytes::from(data));
            let _ = r.compact_string("s");
            let _ = r.compact_nullable_bytes("b");
            let _ = r.array_len("a", 4);
            let _ = r.skip_tagged_fields("t");
            let _ = r.varlong("l");
        }
    }

    #[test]
    fn known_encodings() {
        let mut b = BytesMut::new();
        put_varint(&mut b, -1);
        put_varint(&mut b, 300);
        assert_eq!(&b[..], &[0x01, 0xd8, 0x04]);
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x03, b'f', b'o', b'o']));
        assert_eq!(r.string("s").unwrap().as_deref(), Some("foo"));
        let mut r = Reader::new(Bytes::from_static(&[0x00]));
        assert_eq!(r.compact_string("s").unwrap(), None);
    }

    #[test]
    fn oversized_lengths_are_errors() {
        let mut r = Reader::new(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]));
        assert!(r.nullable_bytes("records").is_err());
    }
}
