//! The exact source-to-target offset map of one mirrored partition.
//!
//! kmirror forwards each source batch whole, so the target broker gives the
//! batch's records the same offset deltas: a batch with source offsets
//! `[base, end)` acknowledged at target base `t` puts source offset `u` at
//! `t + (u - base)`. Between batches lie source offsets that were never
//! mirrored (transaction markers, aborted data, compacted-away batches);
//! a consumer committed on one of them resumes at the next mirrored record.
//!
//! The map is a list of points `(upstream, downstream)`, published wherever
//! the target-minus-source difference changes (and nowhere else), plus the
//! mirror's end: the source position it has mirrored or skipped up to, and
//! the target offset the next mirrored record will get. Translating `u`
//! takes the last point at or below it and follows the difference, capped
//! at the next point's (or the end's) downstream offset: a source offset in
//! a gap thus lands on the next mirrored record, and the points alone (the
//! MirrorMaker 2 offset syncs kmirror writes) define the map exactly.

use std::collections::VecDeque;

/// The first mirrored record at source offset `upstream` or above lands at
/// target offset `downstream`; source offsets after it follow with the same
/// difference until the next point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub upstream: i64,
    pub downstream: i64,
}

impl Point {
    fn difference(&self) -> i64 {
        self.downstream - self.upstream
    }
}

/// Where a committed source offset resumes on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// The target offset of the record at that source offset, or of the
    /// next mirrored record when the offset falls on a gap.
    Exact(i64),
    /// The source offset lies beyond what was mirrored: `missing` source
    /// offsets between the mirror's position and it are not on the target
    /// yet. `target_end` is where the next mirrored record will land.
    AheadOfMirror { target_end: i64, missing: i64 },
    /// The source offset lies before the oldest point the map holds.
    BeforeMap { oldest_upstream: i64 },
    /// Nothing of this partition has been mirrored yet.
    Unknown,
    /// The source offset lies where MirrorMaker 2 mirrored the partition
    /// before kmirror took over: its offset syncs are not exact there, so
    /// the offset is translated as MirrorMaker 2 translates it (the sync's
    /// own offset exactly, anything after it to the sync's next record), at
    /// or before the record's true target offset: a consumer moved there
    /// may read some records again but misses none.
    Approximate(i64),
}

impl Translation {
    /// A target offset a consumer can be placed at without missing a
    /// record: exact or, in MirrorMaker 2's stretch, at or before it.
    pub fn safe_offset(&self) -> Option<i64> {
        match *self {
            Translation::Exact(o) | Translation::Approximate(o) => Some(o),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct PartitionMap {
    points: VecDeque<Point>,
    end: Option<Point>,
    /// Source offsets below this were mirrored by MirrorMaker 2, whose
    /// syncs are sparse (one every `offset.lag.max` records, and it may
    /// drop some): points there are translated as it translates them.
    approximate_below: Option<i64>,
}

impl PartitionMap {
    /// A batch with source offsets `[base, batch_end)` was acknowledged at
    /// target base offset `target`, and the mirror's source position is now
    /// `next` (past any unmirrored offsets that followed the batch). The
    /// point to publish, if the difference changed.
    pub fn on_batch(&mut self, base: i64, batch_end: i64, next: i64, target: i64) -> Option<Point> {
        let point = Point {
            upstream: base,
            downstream: target,
        };
        let published = self.push(point);
        self.end = Some(Point {
            upstream: next.max(batch_end),
            downstream: target + (batch_end - base),
        });
        published
    }

    /// Where this run's mirroring of the partition began: `upstream`, the
    /// position it started from, and `downstream`, where its first batch
    /// landed. Offsets from there to that batch were not mirrored (a
    /// compacted-away or aborted start of the log): they resume at the
    /// first batch. Only before any batch; the point to publish.
    pub fn begin(&mut self, upstream: i64, downstream: i64) -> Option<Point> {
        if self.end.is_some() {
            return None;
        }
        let point = Point {
            upstream,
            downstream,
        };
        self.end = Some(point);
        self.push(point)
    }

    /// The mirror moved past source offsets up to `next` without mirroring
    /// them (markers, aborted or compacted-away data at the log's end): the
    /// next mirrored record is at `next` or later and lands where the end
    /// already points. The point to publish, if the difference changed.
    pub fn on_skip(&mut self, next: i64) -> Option<Point> {
        let end = self.end.as_mut()?;
        if next <= end.upstream {
            return None;
        }
        end.upstream = next;
        let end = *end;
        self.push(end)
    }

    /// A point read back from the offset syncs topic (kmirror's own, from
    /// an earlier run), or published by a worker, in the order they were
    /// written: a later point at or below earlier ones replaces them (the
    /// source offsets were mirrored again after a failure).
    pub fn restore(&mut self, point: Point) {
        self.append(point);
        match &mut self.end {
            Some(end) if end.upstream > point.upstream => {}
            end => *end = Some(point),
        }
    }

    /// kmirror took the partition over from MirrorMaker 2 at source offset
    /// `upstream`: the points below it are MirrorMaker 2's.
    /// Where [`PartitionMap::approximate_below`] was set, if it was.
    pub fn approximate_from(&self) -> Option<i64> {
        self.approximate_below
    }

    pub fn approximate_below(&mut self, upstream: i64) {
        self.approximate_below = Some(self.approximate_below.map_or(upstream, |b| b.max(upstream)));
    }

    /// The mirror's end as its worker last reported it.
    pub fn set_end(&mut self, end: Point) {
        self.end = Some(end);
    }

    /// Where a group committed at source offset `upstream` resumes on the
    /// target.
    pub fn translate(&self, upstream: i64) -> Translation {
        let Some(end) = self.end else {
            return Translation::Unknown;
        };
        if upstream >= end.upstream {
            return if upstream == end.upstream {
                Translation::Exact(end.downstream)
            } else {
                Translation::AheadOfMirror {
                    target_end: end.downstream,
                    missing: upstream - end.upstream,
                }
            };
        }
        // The last point at or below `upstream`.
        let i = self.points.partition_point(|p| p.upstream <= upstream);
        if i == 0 {
            return Translation::BeforeMap {
                oldest_upstream: self.points.front().map_or(end.upstream, |p| p.upstream),
            };
        }
        let at = self.points[i - 1];
        let cap = self.points.get(i).map_or(end.downstream, |p| p.downstream);
        if self.approximate_below.is_some_and(|b| upstream < b) {
            let step = (upstream > at.upstream) as i64;
            return Translation::Approximate((at.downstream + step).min(cap));
        }
        Translation::Exact((at.downstream + (upstream - at.upstream)).min(cap))
    }

    /// Forgets points no translation at or above `upstream` needs (the last
    /// point at or below it stays).
    pub fn forget_below(&mut self, upstream: i64) {
        while self.points.len() > 1 && self.points[1].upstream <= upstream {
            self.points.pop_front();
        }
    }

    /// How many points the map holds.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Forgets the oldest `n` points (keeping at least the last).
    pub fn forget_oldest(&mut self, n: usize) {
        let n = n.min(self.points.len().saturating_sub(1));
        self.points.drain(..n);
    }

    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter()
    }

    pub fn end(&self) -> Option<Point> {
        self.end
    }

    /// Adds `point` if it changes the difference; returns it then.
    fn push(&mut self, point: Point) -> Option<Point> {
        if self
            .points
            .back()
            .is_some_and(|last| last.difference() == point.difference())
        {
            return None;
        }
        self.append(point);
        Some(point)
    }

    /// Appends `point` after dropping the points at or above its upstream
    /// offset: a resend after a failure maps the same source offsets again,
    /// further on, and the newer mapping wins from there.
    fn append(&mut self, point: Point) {
        while self
            .points
            .back()
            .is_some_and(|l| l.upstream >= point.upstream)
        {
            self.points.pop_back();
        }
        self.points.push_back(point);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_gap_resumes_at_the_next_mirrored_record() {
        // Source: records 0..10, a commit marker at 10, records 11..20, an
        // aborted transaction 20..25 with its marker at 25, records 26..30,
        // and a marker at 30 at the log's end.
        let mut m = PartitionMap::default();
        assert_eq!(m.translate(0), Translation::Unknown);
        assert!(m.on_batch(0, 10, 11, 0).is_some());
        assert!(m.on_batch(11, 20, 26, 10).is_some());
        assert!(m.on_batch(26, 30, 30, 19).is_some());
        assert!(m.on_skip(31).is_some());
        let t = |u| m.translate(u);
        assert_eq!(t(0), Translation::Exact(0));
        assert_eq!(t(9), Translation::Exact(9));
        assert_eq!(
            t(10),
            Translation::Exact(10),
            "the marker resumes at record 11"
        );
        assert_eq!(t(11), Translation::Exact(10));
        assert_eq!(t(19), Translation::Exact(18));
        for u in 20..=26 {
            assert_eq!(
                t(u),
                Translation::Exact(19),
                "offset {u} in the aborted range"
            );
        }
        assert_eq!(t(29), Translation::Exact(22));
        assert_eq!(t(30), Translation::Exact(23));
        assert_eq!(
            t(31),
            Translation::Exact(23),
            "past the last marker: the target's end"
        );
        assert_eq!(
            t(35),
            Translation::AheadOfMirror {
                target_end: 23,
                missing: 4
            }
        );
    }

    #[test]
    fn an_unchanged_difference_publishes_nothing() {
        let mut m = PartitionMap::default();
        assert!(m.on_batch(5, 10, 10, 0).is_some());
        assert!(m.on_batch(10, 20, 20, 5).is_none());
        // A compacted gap kept inside the batches' offset deltas is a gap
        // on the target too: the difference holds.
        assert!(m.on_batch(20, 30, 30, 15).is_none());
        assert_eq!(m.points().count(), 1);
        assert_eq!(
            m.translate(4),
            Translation::BeforeMap { oldest_upstream: 5 }
        );
    }

    #[test]
    fn forgetting_keeps_what_later_offsets_need() {
        let mut m = PartitionMap::default();
        m.on_batch(0, 10, 11, 0);
        m.on_batch(11, 20, 21, 10);
        m.on_batch(21, 30, 31, 19);
        m.forget_below(15);
        assert_eq!(m.translate(15), Translation::Exact(14));
        assert_eq!(m.translate(21), Translation::Exact(19));
        assert_eq!(
            m.translate(5),
            Translation::BeforeMap {
                oldest_upstream: 11
            }
        );
    }

    #[test]
    fn mirror_maker_2_stretch_never_translates_past_a_record() {
        // MirrorMaker 2 mirrored source 0..100 with source offsets 20..30
        // compacted away, and its sync for the skip was lost: its syncs are
        // (0, 0) and (50, 40). kmirror took over at source 100 (target 90).
        let mut map = PartitionMap::default();
        map.restore(Point {
            upstream: 0,
            downstream: 0,
        });
        map.restore(Point {
            upstream: 50,
            downstream: 40,
        });
        map.approximate_below(100);
        // The worker's first batch, as its report brings it.
        map.restore(Point {
            upstream: 100,
            downstream: 90,
        });
        map.set_end(Point {
            upstream: 110,
            downstream: 100,
        });
        // Source 35 is at target 25; read exactly the map would say 35.
        assert_eq!(map.translate(35), Translation::Approximate(1));
        assert_eq!(map.translate(0), Translation::Approximate(0));
        assert_eq!(map.translate(50), Translation::Approximate(40));
        assert_eq!(map.translate(60), Translation::Approximate(41));
        // kmirror's own stretch stays exact.
        assert_eq!(map.translate(105), Translation::Exact(95));
        assert_eq!(map.translate(105).safe_offset(), Some(95));
    }

    #[test]
    fn restored_points_translate_like_the_live_map() {
        let mut live = PartitionMap::default();
        let mut published = Vec::new();
        published.extend(live.on_batch(0, 10, 11, 100));
        published.extend(live.on_batch(11, 20, 26, 110));
        published.extend(live.on_skip(27));
        let mut restored = PartitionMap::default();
        for p in published {
            restored.restore(p);
        }
        for u in 0..27 {
            assert_eq!(restored.translate(u), live.translate(u), "offset {u}");
        }
    }

    /// A source log of mirrored runs and gaps, with the target offsets the
    /// mirror gives them (target gaps where the target has markers of its
    /// own, as in exactly-once mode).
    fn logs() -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
        // (records in the batch, source gap after it, target gap after it)
        proptest::collection::vec((1i64..20, 0i64..4, 0i64..2), 1..30)
    }

    proptest! {
        #[test]
        fn every_offset_translates_to_its_record_or_the_next(log in logs(), lead in 0i64..4) {
            let mut m = PartitionMap::default();
            let mut published = Vec::new();
            // source offset of each mirrored record -> its target offset
            let mut records: Vec<(i64, i64)> = Vec::new();
            // The mirror starts at 0; the log's first `lead` offsets are gone.
            let (mut src, mut tgt) = (lead, 0i64);
            if lead > 0 {
                published.extend(m.begin(0, 0));
            }
            for (n, src_gap, tgt_gap) in log {
                for k in 0..n {
                    records.push((src + k, tgt + k));
                }
                let next = src + n + src_gap;
                published.extend(m.on_batch(src, src + n, next, tgt));
                src = next;
                tgt += n + tgt_gap;
            }
            let end = src;
            let mut restored = PartitionMap::default();
            for p in &published {
                restored.restore(*p);
            }
            for u in 0..end {
                let got = m.translate(u);
                let Translation::Exact(t) = got else {
                    return Err(TestCaseError::fail(format!("offset {u}: {got:?}")));
                };
                // A consumer placed at `t` reads first the target record at
                // or after it: that must be the source record at or after `u`.
                let wanted = records.iter().find(|(s, _)| *s >= u).map(|r| r.0);
                let read_first = records.iter().find(|(_, d)| *d >= t).map(|r| r.0);
                prop_assert_eq!(read_first, wanted, "offset {} placed at {}", u, t);
                // The published points alone give the same answer below the
                // last batch's start.
                if u < published.last().map_or(0, |p| p.upstream) {
                    prop_assert_eq!(restored.translate(u), got, "restored, offset {}", u);
                }
            }
        }
    }
}
