//! The text format between the harness and its Java test clients
//! (`tests/kafka/java/Wire.java`): space-separated fields where a byte field
//! is `~` for null and `=` + standard padded base64 otherwise, so null and
//! empty differ and binary payloads survive a text pipe.

use std::io;

pub(crate) const STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(crate) const URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A nullable byte field.
pub(crate) fn field(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "~".to_owned(),
        Some(b) => format!("={}", base64(b, STANDARD, true)),
    }
}

/// Parses a nullable byte field; `what` names it in errors.
pub(crate) fn parse_field(text: &str, what: &str) -> io::Result<Option<Vec<u8>>> {
    if text == "~" {
        return Ok(None);
    }
    let Some(encoded) = text.strip_prefix('=') else {
        return Err(invalid(format!(
            "{what}: expected '~' or '=base64', got {text:?}"
        )));
    };
    decode_base64(encoded)
        .map(Some)
        .ok_or_else(|| invalid(format!("{what}: bad base64 {encoded:?}")))
}

pub(crate) fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Standard alphabet, padding required when the length is not a multiple of 3.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (q, quad) in bytes.chunks(4).enumerate() {
        let last = (q + 1) * 4 == bytes.len();
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in quad[..4 - padding].iter().enumerate() {
            let v = STANDARD.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let n = n.to_be_bytes();
        out.extend_from_slice(&n[1..4 - padding]);
    }
    Some(out)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_null_empty_and_binary() {
        let cases: [Option<&[u8]>; 6] = [
            None,
            Some(b""),
            Some(b"a"),
            Some(b"ab"),
            Some(b"abc"),
            Some(&[0, 255, 10, 32, 61, 126, 0x80]),
        ];
        for case in cases {
            let text = field(case);
            assert_eq!(parse_field(&text, "t").unwrap().as_deref(), case, "{text}");
        }
        assert_eq!(field(None), "~");
        assert_eq!(field(Some(b"")), "=");
        assert_eq!(field(Some(b"hi")), "=aGk=");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE, false), "-_8");
        assert_eq!(base64(b"foo", URL_SAFE, false), "Zm9v");
    }

    #[test]
    fn bad_fields_are_errors() {
        for bad in ["", "x", "=a", "=a===", "=aGk=aGk=", "=****"] {
            assert!(parse_field(bad, "t").is_err(), "{bad}");
        }
    }
}
