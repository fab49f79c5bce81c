//! Where a record goes when the target topic has another partition count
//! than its source (MirrorMaker 1's users often have such topics): as
//! Kafka's default partitioner would place it. A keyed record goes to
//! `murmur2(key) & 0x7fffffff % partitions`, so a key always lands in the
//! same target partition and, mirrored in source order, stays in order; a
//! keyless record goes where the current sticky choice says, one choice per
//! source batch, moving on with each batch (as the producer's sticky
//! partitioner spreads keyless records batch by batch).

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): the
/// 32-bit MurmurHash2 with seed 0x9747b28c, bytes read little-endian.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The target partition of a record with `key` among `partitions`
/// (at least 1); `sticky` is the current choice for keyless records.
pub fn partition_for(key: Option<&[u8]>, partitions: i32, sticky: i32) -> i32 {
    let n = partitions.max(1);
    match key {
        Some(k) => (murmur2(k) & 0x7fff_ffff) % n,
        None => sticky.rem_euclid(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's own UtilsTest.
        for (data, want) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(data), want, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn keys_stay_put_and_keyless_records_follow_the_sticky_choice() {
        let p = partition_for(Some(b"k1"), 5, 0);
        assert!((0..5).contains(&p));
        assert_eq!(partition_for(Some(b"k1"), 5, 3), p);
        assert_eq!(partition_for(None, 5, 7), 2);
        // A negative hash is made positive, as toPositive does.
        assert_eq!(
            partition_for(Some(b"21"), 7, 0),
            (-973_932_308i32 & 0x7fff_ffff) % 7
        );
    }
}
