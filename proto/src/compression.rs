//! The record-batch compression codecs, used only on the slow path that
//! re-encodes a batch (compacted holes, partial batches). The fast path
//! forwards compressed bytes untouched.

use std::io::{Read, Write};

use bytes::Bytes;

use crate::error::ProtoError;

/// Codec ids as stored in the low three attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

/// Framing the Java client's Snappy stream uses (xerial snappy-java).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
const SNAPPY_CHUNK: usize = 32 * 1024;
/// The default ceiling on a decompressed batch: no real batch comes near
/// it (a batch is at most the broker's `message.max.bytes` compressed), and
/// a hostile one cannot inflate past it.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    pub fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & 0x07 {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    fn err(self, direction: &'static str, e: impl std::fmt::Display) -> ProtoError {
        ProtoError::Compression {
            codec: self.name(),
            direction,
            detail: e.to_string(),
        }
    }

    /// Decompresses `data`, refusing to produce more than `max` bytes:
    /// memory grows with the output actually produced, never with a size a
    /// header claims.
    pub fn decompress(self, data: &Bytes, max: usize) -> Result<Bytes, ProtoError> {
        let mut out = Vec::new();
        match self {
            Compression::None => return Ok(data.clone()),
            Compression::Gzip => {
                read_capped(flate2::read::GzDecoder::new(&data[..]), &mut out, max)
                    .map_err(|e| self.err("decompression", e))?
            }
            Compression::Lz4 => {
                read_capped(lz4_flex::frame::FrameDecoder::new(&data[..]), &mut out, max)
                    .map_err(|e| self.err("decompression", e))?
            }
            Compression::Zstd => read_capped(
                zstd::stream::read::Decoder::new(&data[..])
                    .map_err(|e| self.err("decompression", e))?,
                &mut out,
                max,
            )
            .map_err(|e| self.err("decompression", e))?,
            Compression::Snappy => {
                snappy_decompress(data, &mut out, max).map_err(|e| self.err("decompression", e))?
            }
        }
        Ok(Bytes::from(out))
    }

    pub fn compress(self, data: &[u8]) -> Result<Bytes, ProtoError> {
        let out = match self {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data)
                    .map_err(|e| self.err("compression", e))?;
                enc.finish().map_err(|e| self.err("compression", e))?
            }
            Compression::Lz4 => {
                let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
                enc.write_all(data)
                    .map_err(|e| self.err("compression", e))?;
                enc.finish().map_err(|e| self.err("compression", e))?
            }
            Compression::Zstd => {
                zstd::stream::encode_all(data, 3).map_err(|e| self.err("compression", e))?
            }
            Compression::Snappy => snappy_compress(data).map_err(|e| self.err("compression", e))?,
        };
        Ok(Bytes::from(out))
    }
}

fn read_capped(reader: impl Read, out: &mut Vec<u8>, max: usize) -> std::io::Result<()> {
    let n = reader
        .take((max as u64).saturating_add(1))
        .read_to_end(out)?;
    if n > max {
        return Err(std::io::Error::other(too_big(max)));
    }
    Ok(())
}

fn too_big(max: usize) -> String {
    format!("the batch inflates past the limit of {max} bytes")
}

fn snappy_decompress(data: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(), String> {
    if data.len() >= XERIAL_HEADER_LEN && data[..8] == XERIAL_MAGIC {
        let mut pos = XERIAL_HEADER_LEN;
        while pos < data.len() {
            if data.len() - pos < 4 {
                return Err("truncated xerial chunk length".into());
            }
            let n = u32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]])
                as usize;
            pos += 4;
            if data.len() - pos < n {
                return Err(format!(
                    "xerial chunk of {n} bytes exceeds the {} left",
                    data.len() - pos
                ));
            }
            let chunk = &data[pos..pos + n];
            let len = snap::raw::decompress_len(chunk).map_err(|e| e.to_string())?;
            if len > max.saturating_sub(out.len()) {
                return Err(too_big(max));
            }
            let start = out.len();
            out.resize(start + len, 0);
            snap::raw::Decoder::new()
                .decompress(chunk, &mut out[start..])
                .map_err(|e| e.to_string())?;
            pos += n;
        }
        Ok(())
    } else {
        let len = snap::raw::decompress_len(data).map_err(|e| e.to_string())?;
        if len > max {
            return Err(too_big(max));
        }
        out.resize(len, 0);
        snap::raw::Decoder::new()
            .decompress(data, out)
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn snappy_compress(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len() / 2 + XERIAL_HEADER_LEN);
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in data.chunks(SNAPPY_CHUNK) {
        let c = enc.compress_vec(chunk).map_err(|e| e.to_string())?;
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(&c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in Compression::ALL {
            let z = c.compress(&data).unwrap();
            assert_eq!(
                &c.decompress(&z, DEFAULT_MAX_DECOMPRESSED).unwrap()[..],
                &data[..],
                "{}",
                c.name()
            );
        }
    }

    #[test]
    fn raw_snappy_without_framing_is_read() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"plain snappy block")
            .unwrap();
        assert_eq!(
            &Compression::Snappy
                .decompress(&Bytes::from(raw), DEFAULT_MAX_DECOMPRESSED)
                .unwrap()[..],
            b"plain snappy block"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(c
                .decompress(
                    &Bytes::from_static(b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\xff\xff\xff\xff"),
                    DEFAULT_MAX_DECOMPRESSED
                )
                .is_err());
        }
    }

    #[test]
    fn a_small_batch_cannot_inflate_past_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let z = c.compress(&zeros).unwrap();
            assert!(z.len() < 1 << 20, "{} does not shrink zeros", c.name());
            let err = c.decompress(&z, 1 << 20).unwrap_err();
            assert!(err.to_string().contains("limit of 1048576 bytes"), "{err}");
            assert_eq!(c.decompress(&z, 4 << 20).unwrap().len(), 4 << 20);
        }
    }
}
