//! A response frame as it comes off a broker connection (after the size
//! prefix): the correlation id peeked, the header split off, the body
//! decoded. The first input byte picks the API and version among those
//! kmirror speaks; the rest is the frame.
#![no_main]

use bytes::Bytes;
use kmirror_proto::any_response;
use kmirror_proto::header::{peek_correlation_id, split_response};
use kmirror_proto_fuzz::log;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let spoken = any_response::versions_spoken();
    let (api, version) = spoken[usize::from(pick) % spoken.len()];
    let peeked = peek_correlation_id(frame);
    match split_response(Bytes::copy_from_slice(frame), api.key(), version) {
        Ok((correlation_id, body)) => {
            assert_eq!(peeked.ok(), Some(correlation_id));
            assert!(body.len() <= frame.len() - 4);
            if let Err(e) = any_response::decode(api, version, body) {
                log(e);
            }
        }
        Err(e) => log(e),
    }
});
