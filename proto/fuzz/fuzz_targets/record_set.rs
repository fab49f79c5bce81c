//! A partition's fetched record bytes split into batches (a truncated tail,
//! legacy v0/v1 entries and broken lengths included), every batch checked
//! as in `check_batch`. The first input byte picks the producer fields a
//! rewrite stamps; the rest is the record set.
#![no_main]

use bytes::Bytes;
use kmirror_proto_fuzz::{check_record_set, rewrite_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, records)) = data.split_first() else {
        return;
    };
    check_record_set(Bytes::copy_from_slice(records), &rewrite_from(pick));
});
