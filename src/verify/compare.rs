//! The pure half of `kmirror verify`: a fixed-size digest of each record,
//! which fields of two records differ, the lockstep walk's next step, and
//! where two partitions line up when retention deleted the oldest records
//! on one side. Nothing here does I/O or holds more than a few digests:
//! the caller streams records through and acts on the answers.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{DefaultHasher, Hasher};

use kmirror_proto::records::RecordFields;

/// How many records in a row must match before a skip counts as the
/// alignment: one alone could be a repeated record (the same key and value
/// in the same millisecond).
pub const ALIGN_RUN: usize = 8;

/// A key, value or header block: its length (`None` for a Kafka null, so
/// that null and empty differ) and a 64-bit hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDigest {
    pub len: Option<u32>,
    pub hash: u64,
}

/// A record's headers: how many, and one hash over every name and value
/// in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadersDigest {
    pub count: u32,
    pub hash: u64,
}

/// What verify keeps of a record: the same size whatever the record's, so
/// memory stays bounded by the number of records looked at ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordDigest {
    pub offset: i64,
    pub timestamp: i64,
    pub key: FieldDigest,
    pub value: FieldDigest,
    pub headers: HeadersDigest,
}

impl RecordDigest {
    /// The digest of the record at `offset` with `timestamp` and `fields`.
    pub fn of(offset: i64, timestamp: i64, fields: &RecordFields) -> RecordDigest {
        RecordDigest {
            offset,
            timestamp,
            key: field_digest(fields.key.as_deref()),
            value: field_digest(fields.value.as_deref()),
            headers: headers_digest(&fields.headers),
        }
    }

    /// Whether two records hold the same data, wherever they sit.
    pub fn same_data(&self, other: &RecordDigest) -> bool {
        self.timestamp == other.timestamp
            && self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
    }
}

/// One field that differs between a source record and its mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldDifference {
    Key {
        source: Option<u32>,
        target: Option<u32>,
    },
    Value {
        source: Option<u32>,
        target: Option<u32>,
    },
    Headers {
        source: u32,
        target: u32,
    },
    Timestamp {
        source: i64,
        target: i64,
    },
}

impl fmt::Display for FieldDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldDifference::Key { source, target } => write!(
                f,
                "key differs (source {}, target {})",
                Size(*source),
                Size(*target)
            ),
            FieldDifference::Value { source, target } => write!(
                f,
                "value differs (source {}, target {})",
                Size(*source),
                Size(*target)
            ),
            FieldDifference::Headers { source, target } => write!(
                f,
                "headers differ (source {source} headers, target {target} headers)"
            ),
            FieldDifference::Timestamp { source, target } => {
                write!(f, "timestamp differs (source {source}, target {target})")
            }
        }
    }
}

/// The fields in which `target` differs from `source`, in the order key,
/// value, headers, timestamp; empty when the records hold the same data.
pub fn differences(source: &RecordDigest, target: &RecordDigest) -> Vec<FieldDifference> {
    let mut out = Vec::new();
    if source.key != target.key {
        out.push(FieldDifference::Key {
            source: source.key.len,
            target: target.key.len,
        });
    }
    if source.value != target.value {
        out.push(FieldDifference::Value {
            source: source.value.len,
            target: target.value.len,
        });
    }
    if source.headers != target.headers {
        out.push(FieldDifference::Headers {
            source: source.headers.count,
            target: target.headers.count,
        });
    }
    if source.timestamp != target.timestamp {
        out.push(FieldDifference::Timestamp {
            source: source.timestamp,
            target: target.timestamp,
        });
    }
    out
}

/// The walk over one partition's records in lockstep: the next source
/// record against the next target record, counting the pairs that match.
#[derive(Debug, Default)]
pub struct Lockstep {
    pub tally: Tally,
}

/// What one step of the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The pair matched: go on.
    Continue,
    /// The source range is read to its end: every record had its match.
    SourceDone,
    /// The source has this record and the target has none (yet).
    TargetShort { source: RecordDigest },
    /// The pair differs in these fields.
    Different {
        source: RecordDigest,
        target: RecordDigest,
        fields: Vec<FieldDifference>,
    },
}

impl Lockstep {
    /// Takes the next source record and the next target record (`None`
    /// where a side has no more).
    pub fn step(&mut self, source: Option<RecordDigest>, target: Option<RecordDigest>) -> Step {
        let Some(source) = source else {
            return Step::SourceDone;
        };
        let Some(target) = target else {
            return Step::TargetShort { source };
        };
        let fields = differences(&source, &target);
        if fields.is_empty() {
            self.tally.matched(&source, &target);
            Step::Continue
        } else {
            Step::Different {
                source,
                target,
                fields,
            }
        }
    }
}

/// The records matched so far in one partition: how many, and the offsets
/// they span on each side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub records: u64,
    /// First and last matched offset on the source.
    pub source: Option<(i64, i64)>,
    /// First and last matched offset on the target.
    pub target: Option<(i64, i64)>,
}

impl Tally {
    pub fn matched(&mut self, source: &RecordDigest, target: &RecordDigest) {
        self.records += 1;
        extend(&mut self.source, source.offset);
        extend(&mut self.target, target.offset);
    }
}

fn extend(span: &mut Option<(i64, i64)>, offset: i64) {
    *span = Some(match *span {
        None => (offset, offset),
        Some((first, _)) => (first, offset),
    });
}

/// Which side's leading records an alignment skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

/// Leading records of one side with no counterpart on the other: the
/// source's when the target's retention deleted them (or the mirror began
/// later), the target's when the source's retention did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub side: Side,
    pub records: u64,
    /// The first skipped offset, and the offset of the first record kept.
    pub from: i64,
    pub to: i64,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (side, why) = match self.side {
            Side::Source => ("source", "the target does not have"),
            Side::Target => ("target", "the source no longer has"),
        };
        write!(
            f,
            "skipped {} leading {side} records (offsets {}..{}) {why}",
            self.records, self.from, self.to
        )
    }
}

/// Finds where two partitions line up when their first records differ, by
/// looking for each side's first [`ALIGN_RUN`] records in the other side's
/// stream, fed one record at a time from each side in turn. Holds two runs
/// of digests, whatever the look-ahead.
#[derive(Debug)]
pub struct Aligner {
    /// The source's first records, looked for among the target's.
    in_target: RunFinder,
    /// The target's first records, looked for among the source's.
    in_source: RunFinder,
}

impl Aligner {
    /// From the first records of each side (at most [`ALIGN_RUN`] of each,
    /// fewer when a side has fewer).
    pub fn new(source_first: Vec<RecordDigest>, target_first: Vec<RecordDigest>) -> Aligner {
        Aligner {
            in_target: RunFinder::new(source_first),
            in_source: RunFinder::new(target_first),
        }
    }

    /// Feeds the source's next record (from its first on); the skip when
    /// the target's first records start here.
    pub fn feed_source(&mut self, record: RecordDigest) -> Option<Skip> {
        self.in_source
            .feed(record)
            .map(|found| found.skip(Side::Source))
    }

    /// Feeds the target's next record (from its first on); the skip when
    /// the source's first records start here.
    pub fn feed_target(&mut self, record: RecordDigest) -> Option<Skip> {
        self.in_target
            .feed(record)
            .map(|found| found.skip(Side::Target))
    }

    /// The most records fed from either side.
    pub fn looked_at(&self) -> u64 {
        self.in_source.fed.max(self.in_target.fed)
    }
}

/// Looks for a run of records in a stream fed one record at a time.
#[derive(Debug)]
struct RunFinder {
    wanted: Vec<RecordDigest>,
    /// The last `wanted.len()` records fed.
    recent: VecDeque<RecordDigest>,
    fed: u64,
    first_offset: Option<i64>,
}

/// Where a [`RunFinder`] found its run.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// Records fed before the run began.
    before: u64,
    first_offset: i64,
    run_offset: i64,
}

impl Found {
    fn skip(self, side: Side) -> Skip {
        Skip {
            side,
            records: self.before,
            from: self.first_offset,
            to: self.run_offset,
        }
    }
}

impl RunFinder {
    fn new(wanted: Vec<RecordDigest>) -> RunFinder {
        RunFinder {
            recent: VecDeque::with_capacity(wanted.len()),
            wanted,
            fed: 0,
            first_offset: None,
        }
    }

    fn feed(&mut self, record: RecordDigest) -> Option<Found> {
        self.first_offset.get_or_insert(record.offset);
        self.fed += 1;
        if self.wanted.is_empty() {
            return None;
        }
        if self.recent.len() == self.wanted.len() {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
        let complete = self.recent.len() == self.wanted.len()
            && self
                .recent
                .iter()
                .zip(&self.wanted)
                .all(|(a, b)| a.same_data(b));
        if !complete {
            return None;
        }
        // A run found where the stream starts is no skip: the caller only
        // aligns when the first records differ, so that is never the case
        // in use, and reporting it would say "skipped 0".
        let before = self.fed - self.wanted.len() as u64;
        if before == 0 {
            return None;
        }
        Some(Found {
            before,
            first_offset: self.first_offset.unwrap_or(record.offset),
            run_offset: self.recent.front().map_or(record.offset, |r| r.offset),
        })
    }
}

/// A field's size for an operator: "null" or "N bytes".
struct Size(Option<u32>);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("null"),
            Some(1) => f.write_str("1 byte"),
            Some(n) => write!(f, "{n} bytes"),
        }
    }
}

fn field_digest(bytes: Option<&[u8]>) -> FieldDigest {
    match bytes {
        None => FieldDigest { len: None, hash: 0 },
        Some(b) => {
            // DefaultHasher::new() hashes alike in every call of one
            // process, which is all a comparison within one run needs.
            let mut h = DefaultHasher::new();
            h.write(b);
            FieldDigest {
                len: Some(len_u32(b.len())),
                hash: h.finish(),
            }
        }
    }
}

fn headers_digest(headers: &[(String, Option<bytes::Bytes>)]) -> HeadersDigest {
    let mut h = DefaultHasher::new();
    // Lengths before bytes, and a marker for null, so that no two
    // different header lists hash the same bytes.
    for (name, value) in headers {
        h.write_u64(name.len() as u64);
        h.write(name.as_bytes());
        match value {
            None => h.write_u8(0),
            Some(v) => {
                h.write_u8(1);
                h.write_u64(v.len() as u64);
                h.write(v);
            }
        }
    }
    HeadersDigest {
        count: len_u32(headers.len()),
        hash: h.finish(),
    }
}

/// Record fields are at most i32::MAX bytes (their lengths are varints).
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn fields(
        key: Option<&str>,
        value: Option<&str>,
        headers: &[(&str, Option<&str>)],
    ) -> RecordFields {
        RecordFields {
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    )
                })
                .collect(),
        }
    }

    /// Record number `n` of a made-up stream, at `offset`.
    fn rec(offset: i64, n: u32) -> RecordDigest {
        let value = format!("value-{n}");
        RecordDigest::of(
            offset,
            1_700_000_000_000 + i64::from(n),
            &fields(Some("k"), Some(&value), &[]),
        )
    }

    #[test]
    fn null_and_empty_differ_in_key_value_and_header() {
        let null_key = RecordDigest::of(0, 1, &fields(None, Some("v"), &[]));
        let empty_key = RecordDigest::of(0, 1, &fields(Some(""), Some("v"), &[]));
        assert_eq!(
            differences(&null_key, &empty_key),
            vec![FieldDifference::Key {
                source: None,
                target: Some(0)
            }]
        );
        let null_value = RecordDigest::of(0, 1, &fields(Some("k"), None, &[]));
        let empty_value = RecordDigest::of(0, 1, &fields(Some("k"), Some(""), &[]));
        assert_eq!(
            differences(&null_value, &empty_value)[0].to_string(),
            "value differs (source null, target 0 bytes)"
        );
        let null_header = RecordDigest::of(0, 1, &fields(None, None, &[("h", None)]));
        let empty_header = RecordDigest::of(0, 1, &fields(None, None, &[("h", Some(""))]));
        assert_eq!(
            differences(&null_header, &empty_header)[0].to_string(),
            "headers differ (source 1 headers, target 1 headers)"
        );
    }

    #[test]
    fn headers_compare_names_values_and_order() {
        let a = RecordDigest::of(
            0,
            1,
            &fields(None, None, &[("a", Some("1")), ("b", Some("2"))]),
        );
        let swapped = RecordDigest::of(
            0,
            1,
            &fields(None, None, &[("b", Some("2")), ("a", Some("1"))]),
        );
        let renamed = RecordDigest::of(
            0,
            1,
            &fields(None, None, &[("a", Some("1")), ("c", Some("2"))]),
        );
        // "ab" + "" against "a" + "b": lengths keep them apart.
        let split1 = RecordDigest::of(0, 1, &fields(None, None, &[("ab", Some(""))]));
        let split2 = RecordDigest::of(0, 1, &fields(None, None, &[("a", Some("b"))]));
        assert!(!a.same_data(&swapped));
        assert!(!a.same_data(&renamed));
        assert!(!split1.same_data(&split2));
        assert!(a.same_data(&RecordDigest { offset: 99, ..a }));
    }

    #[test]
    fn every_differing_field_is_named_with_both_sides() {
        let s = RecordDigest::of(
            5,
            1000,
            &fields(Some("key"), Some("value"), &[("h", Some("1"))]),
        );
        let t = RecordDigest::of(9, 1001, &fields(Some("kee"), Some("val"), &[]));
        let named: Vec<String> = differences(&s, &t).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            named,
            [
                "key differs (source 3 bytes, target 3 bytes)",
                "value differs (source 5 bytes, target 3 bytes)",
                "headers differ (source 1 headers, target 0 headers)",
                "timestamp differs (source 1000, target 1001)",
            ]
        );
        assert!(differences(&s, &RecordDigest { offset: 42, ..s }).is_empty());
    }

    #[test]
    fn lockstep_counts_matches_and_stops_at_the_first_difference() {
        let mut walk = Lockstep::default();
        assert_eq!(walk.step(Some(rec(3, 1)), Some(rec(0, 1))), Step::Continue);
        assert_eq!(walk.step(Some(rec(4, 2)), Some(rec(1, 2))), Step::Continue);
        assert_eq!(
            walk.step(Some(rec(5, 3)), None),
            Step::TargetShort { source: rec(5, 3) }
        );
        match walk.step(Some(rec(5, 3)), Some(rec(2, 4))) {
            Step::Different {
                source,
                target,
                fields,
            } => {
                assert_eq!((source.offset, target.offset), (5, 2));
                assert_eq!(fields.len(), 2, "{fields:?}"); // value and timestamp
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(walk.step(None, Some(rec(9, 9))), Step::SourceDone);
        assert_eq!(walk.step(None, None), Step::SourceDone);
        assert_eq!(walk.tally.records, 2);
        assert_eq!(
            (walk.tally.source, walk.tally.target),
            (Some((3, 4)), Some((0, 1)))
        );
    }

    #[test]
    fn tally_spans_first_to_last_offset_per_side() {
        let mut t = Tally::default();
        t.matched(&rec(10, 1), &rec(0, 1));
        t.matched(&rec(12, 2), &rec(1, 2));
        assert_eq!(t.records, 2);
        assert_eq!(t.source, Some((10, 12)));
        assert_eq!(t.target, Some((0, 1)));
    }

    /// Feeds both sides in turn as the caller does; the first skip found.
    fn align(source: &[RecordDigest], target: &[RecordDigest]) -> Option<Skip> {
        let run = |s: &[RecordDigest]| s.iter().take(ALIGN_RUN).copied().collect();
        let mut aligner = Aligner::new(run(source), run(target));
        for i in 0..source.len().max(target.len()) {
            if let Some(skip) = source.get(i).and_then(|r| aligner.feed_source(*r)) {
                return Some(skip);
            }
            if let Some(skip) = target.get(i).and_then(|r| aligner.feed_target(*r)) {
                return Some(skip);
            }
        }
        None
    }

    #[test]
    fn target_with_older_records_skips_them() {
        // The source's retention deleted records 0..5; the target has them.
        let source: Vec<_> = (5..40).map(|n| rec(i64::from(n), n)).collect();
        let target: Vec<_> = (0..40).map(|n| rec(100 + i64::from(n), n)).collect();
        assert_eq!(
            align(&source, &target),
            Some(Skip {
                side: Side::Target,
                records: 5,
                from: 100,
                to: 105
            })
        );
    }

    #[test]
    fn source_with_older_records_skips_them() {
        let source: Vec<_> = (0..40).map(|n| rec(i64::from(n) * 2, n)).collect();
        let target: Vec<_> = (12..40).map(|n| rec(i64::from(n), n)).collect();
        let skip = align(&source, &target).unwrap();
        assert_eq!(
            (skip.side, skip.records, skip.from, skip.to),
            (Side::Source, 12, 0, 24)
        );
        assert_eq!(
            skip.to_string(),
            "skipped 12 leading source records (offsets 0..24) the target does not have"
        );
    }

    #[test]
    fn a_single_repeated_record_is_not_an_alignment() {
        // The target's first record reappears in the source, but the run
        // after it does not: no skip, the caller reports the difference.
        let source: Vec<_> = [9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 20]
            .iter()
            .enumerate()
            .map(|(i, n)| rec(i as i64, *n))
            .collect();
        let target: Vec<_> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
            .iter()
            .enumerate()
            .map(|(i, n)| rec(i as i64, *n))
            .collect();
        // Source is 9,1,2..9,1,20; target 1..10: the target's first 8 are
        // found in the source at its second record.
        assert_eq!(align(&source, &target).map(|s| s.records), Some(1));
        let unrelated: Vec<_> = (0..30).map(|n| rec(i64::from(n), 1000 + n)).collect();
        assert_eq!(align(&unrelated, &target), None);
        let target_one_match: Vec<_> = [9, 50, 51, 52, 53, 54, 55, 56]
            .iter()
            .enumerate()
            .map(|(i, n)| rec(i as i64, *n))
            .collect();
        assert_eq!(align(&source[1..], &target_one_match), None);
    }

    #[test]
    fn a_short_side_aligns_on_what_it_has() {
        // The target holds three records, the source's last three.
        let source: Vec<_> = (0..10).map(|n| rec(i64::from(n), n)).collect();
        let target: Vec<_> = (7..10).map(|n| rec(i64::from(n) - 7, n)).collect();
        let skip = align(&source, &target).unwrap();
        assert_eq!((skip.side, skip.records, skip.to), (Side::Source, 7, 7));
    }

    #[test]
    fn digests_are_fixed_size() {
        // Look-ahead memory is counted in records: keep a digest small.
        assert!(std::mem::size_of::<RecordDigest>() <= 64);
    }
}
