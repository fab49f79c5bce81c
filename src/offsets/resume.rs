//! Offset-preserving mode after an unclean stop: the target partition may
//! end past the last committed progress, holding records the previous run
//! wrote at their source offsets. When the target's last records are the
//! source's records at the same offsets, mirroring continues at the
//! target's end: nothing is written twice and offsets stay preserved.
//! Anything else (a record that differs, a batch that cannot be read) and
//! the partition is mirrored as usual from its progress.

use std::collections::HashMap;

use bytes::Bytes;
use kmirror_proto::batch::{split_record_set, RecordBatch, RecordSetEntry};
use kmirror_proto::records::{decode_records, split_body, PLACEHOLDER_HEADER};

use crate::client::{small_topic, ClientError, ClusterClient};

/// How many batches back from the target's end are looked at, past
/// placeholders and markers, for a batch of records to compare.
const LOOK_BACK: usize = 16;
/// The most a compared batch may decompress to.
const MAX_BATCH_BYTES: usize = 64 << 20;

/// Where one partition's target stands against its source.
pub struct Sides<'a> {
    pub source: &'a ClusterClient,
    pub source_topic: &'a str,
    pub target: &'a ClusterClient,
    pub target_topic: &'a str,
    pub partition: i32,
}

/// Whether the target's records in `from..end` (its progress and its end)
/// end with the source's records at the same offsets: the last batch of
/// records before `end` is compared record by record (key, value, headers),
/// placeholders and markers after it are passed over.
pub async fn target_matches_source(
    sides: &Sides<'_>,
    from: i64,
    end: i64,
) -> Result<bool, ClientError> {
    let target = small_topic::leader(sides.target, sides.target_topic, sides.partition).await?;
    let mut at = end - 1;
    for _ in 0..LOOK_BACK {
        if at < from {
            // Only placeholders and markers since the progress.
            return Ok(true);
        }
        let fetched = small_topic::fetch(
            sides.target,
            &target,
            sides.target_topic,
            sides.partition,
            at,
            false,
        )
        .await?;
        let Some(batch) = batches(&fetched.records)
            .into_iter()
            .find(|b| b.base_offset() <= at && at < b.next_offset())
        else {
            return Ok(false);
        };
        if batch.is_control() || is_placeholders(&batch) {
            at = batch.base_offset() - 1;
            continue;
        }
        let mirrored = records(&batch)?;
        let Some(first) = mirrored.first().map(|r| r.0) else {
            return Ok(false);
        };
        let source = small_topic::leader(sides.source, sides.source_topic, sides.partition).await?;
        let fetched = small_topic::fetch(
            sides.source,
            &source,
            sides.source_topic,
            sides.partition,
            first,
            false,
        )
        .await?;
        let mut original = HashMap::new();
        for b in batches(&fetched.records) {
            if !b.is_control() && b.next_offset() > first {
                original.extend(records(&b)?);
            }
        }
        return Ok(mirrored
            .iter()
            .all(|(offset, body)| original.get(offset) == Some(body)));
    }
    Ok(false)
}

fn batches(set: &Bytes) -> Vec<RecordBatch> {
    split_record_set(set.clone())
        .filter_map(|e| match e {
            Ok(RecordSetEntry::Batch(b)) => Some(b),
            _ => None,
        })
        .collect()
}

/// (offset, record body without its offset and timestamp deltas) of each
/// record of `batch`.
fn records(batch: &RecordBatch) -> Result<Vec<(i64, Bytes)>, ClientError> {
    let raw = decode_records(batch, MAX_BATCH_BYTES).map_err(|e| ClientError::Other {
        cluster: String::new(),
        reason: format!("batch at offset {}: {e}", batch.base_offset()),
    })?;
    Ok(raw.into_iter().map(|r| (r.offset, r.body)).collect())
}

/// Whether `batch` holds kmirror's placeholders.
fn is_placeholders(batch: &RecordBatch) -> bool {
    if !batch.is_transactional() {
        return false;
    }
    decode_records(batch, MAX_BATCH_BYTES)
        .ok()
        .and_then(|r| r.into_iter().next())
        .and_then(|r| split_body(&r.body).ok())
        .is_some_and(|f| f.headers.iter().any(|(k, _)| k == PLACEHOLDER_HEADER))
}
