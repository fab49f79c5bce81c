//! Every control-plane response decoder (all but Fetch and Produce) at
//! every version kmirror speaks. The first input byte picks the API and
//! version; the rest is the response body after its header.
#![no_main]

use bytes::Bytes;
use kmirror_proto::any_response;
use kmirror_proto::api::Api;
use kmirror_proto_fuzz::log;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let spoken: Vec<(Api, i16)> = any_response::versions_spoken()
        .into_iter()
        .filter(|(api, _)| !matches!(api, Api::Fetch | Api::Produce))
        .collect();
    let (api, version) = spoken[usize::from(pick) % spoken.len()];
    if let Err(e) = any_response::decode(api, version, Bytes::copy_from_slice(body)) {
        log(e);
    }
});
