//! Each codec's decompression of peer bytes with a 1 MiB cap. The first
//! input byte picks the codec (gzip, snappy raw or xerial-framed, lz4
//! frame, zstd, none); the rest is the compressed payload. Small outputs
//! are compressed again and must come back unchanged.
#![no_main]

use bytes::Bytes;
use kmirror_proto::compression::Compression;
use kmirror_proto_fuzz::{log, MAX_DECOMPRESSED};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let codec = Compression::ALL[usize::from(pick) % Compression::ALL.len()];
    match codec.decompress(&Bytes::copy_from_slice(payload), MAX_DECOMPRESSED) {
        Ok(plain) => {
            assert!(plain.len() <= MAX_DECOMPRESSED, "the cap was not kept");
            if plain.len() <= 4096 {
                let again = codec
                    .compress(&plain)
                    .and_then(|z| codec.decompress(&z, MAX_DECOMPRESSED))
                    .expect("our own compression decompresses");
                assert_eq!(again, plain);
            }
        }
        Err(e) => log(e),
    }
});
