//! A Fetch v12 response body, then each partition's records the way the
//! mirror's fetch path takes them: split into batches, each checked,
//! rewritten and its records decoded (see `check_batch`). The first input
//! byte picks the producer fields a rewrite stamps; the rest is the body.
#![no_main]

use bytes::Bytes;
use kmirror_proto::fetch::FetchResponse;
use kmirror_proto_fuzz::{check_record_set, log, rewrite_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match FetchResponse::decode(Bytes::copy_from_slice(body), 12) {
        Ok(resp) => {
            for topic in resp.topics {
                for partition in topic.partitions {
                    check_record_set(partition.records, &rewrite_from(pick));
                }
            }
        }
        Err(e) => log(e),
    }
});
