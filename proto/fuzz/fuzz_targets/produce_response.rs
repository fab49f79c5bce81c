//! A Produce response body at the versions kmirror speaks (7 to 12): the
//! first input byte picks the version, the rest is the body.
#![no_main]

use bytes::Bytes;
use kmirror_proto::api::Api;
use kmirror_proto::produce::ProduceResponse;
use kmirror_proto_fuzz::log;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (lo, hi) = Api::Produce.ours();
    let version = lo + (i16::from(pick) % (hi - lo + 1));
    if let Err(e) = ProduceResponse::decode(Bytes::copy_from_slice(body), version) {
        log(e);
    }
});
