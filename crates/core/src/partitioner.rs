//! librdkafka's partitioners, bit-exact (librdkafka 2.12.1 `rdkafka_msg.c`, `rdmurmur2.c`,
//! `rdfnv1a.c`, `rdcrc32.h`), and the sticky-partition state for keyless records.
//!
//! How a record without an explicit partition finds one (`rd_kafka_msg_partitioner`):
//!
//! | partitioner | NULL key | empty key | other keys |
//! |---|---|---|---|
//! | `random` | sticky/random | random | random |
//! | `consistent` | CRC32("") | CRC32 | CRC32 |
//! | `consistent_random` | sticky/random | sticky/random | CRC32 |
//! | `murmur2` | murmur2("") | murmur2 | murmur2 |
//! | `murmur2_random` | sticky/random | murmur2 | murmur2 |
//! | `fnv1a` | fnv1a("") | fnv1a | fnv1a |
//! | `fnv1a_random` | sticky/random | fnv1a | fnv1a |
//!
//! "sticky/random" is the per-topic sticky partition when `sticky.partitioning.linger.ms` > 0
//! and a fresh random partition per record otherwise ([`PartitionerKind::route`]).

use core::time::Duration;

use crate::rng::Rng;
use crate::time::Instant;

/// The `partitioner` property's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PartitionerKind {
    /// `random`.
    Random,
    /// `consistent`: CRC32 of the key.
    Consistent,
    /// `consistent_random` (librdkafka's default).
    #[default]
    ConsistentRandom,
    /// `murmur2`: Kafka's murmur2 of the key.
    Murmur2,
    /// `murmur2_random` (the Java client's default).
    Murmur2Random,
    /// `fnv1a`.
    Fnv1a,
    /// `fnv1a_random`.
    Fnv1aRandom,
}

/// Where a record without an explicit partition goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// This partition, from the key's hash.
    Hash(i32),
    /// The topic's sticky partition ([`StickyPartition::pick`]).
    Sticky,
    /// A random partition for this record alone ([`random_partition`]).
    Random,
}

impl PartitionerKind {
    /// Every partitioner, in librdkafka's documentation order.
    pub const ALL: [Self; 7] = [
        Self::Random,
        Self::Consistent,
        Self::ConsistentRandom,
        Self::Murmur2,
        Self::Murmur2Random,
        Self::Fnv1a,
        Self::Fnv1aRandom,
    ];

    /// The kind the `partitioner` property names (exact, case-sensitive, as librdkafka checks).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The `partitioner` property value for this kind.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Consistent => "consistent",
            Self::ConsistentRandom => "consistent_random",
            Self::Murmur2 => "murmur2",
            Self::Murmur2Random => "murmur2_random",
            Self::Fnv1a => "fnv1a",
            Self::Fnv1aRandom => "fnv1a_random",
        }
    }

    /// Whether a keyless (or, for consistent_random, empty-key) record goes to the
    /// sticky/random partition instead of being hashed. Always true for `random`.
    pub const fn uses_random(self, key: Option<&[u8]>) -> bool {
        match self {
            Self::Random => true,
            Self::Consistent | Self::Murmur2 | Self::Fnv1a => false,
            Self::ConsistentRandom => match key {
                None => true,
                Some(k) => k.is_empty(),
            },
            Self::Murmur2Random | Self::Fnv1aRandom => key.is_none(),
        }
    }

    /// The partition for a key that is hashed; `None` when the record should take the
    /// random/sticky path, or when `partition_cnt` is not positive (nothing to hash onto).
    /// A NULL key hashes like an empty one (librdkafka passes length 0).
    pub fn hash_partition(self, key: Option<&[u8]>, partition_cnt: i32) -> Option<i32> {
        if self.uses_random(key) || partition_cnt <= 0 {
            return None;
        }
        let k = key.unwrap_or(&[]);
        let h = match self {
            Self::Consistent | Self::ConsistentRandom => crc32(k),
            Self::Murmur2 | Self::Murmur2Random => murmur2(k) & 0x7fff_ffff,
            Self::Fnv1a | Self::Fnv1aRandom => fnv1a(k),
            // uses_random() is always true for Random.
            Self::Random => return None,
        };
        // librdkafka computes uint32 % int32, i.e. an unsigned modulo.
        i32::try_from(h % partition_cnt.unsigned_abs()).ok()
    }

    /// Whether records the hash doesn't place go to a per-topic sticky partition (librdkafka's
    /// `!random_partitioner`): `sticky.partitioning.linger.ms` > 0 and the partitioner isn't
    /// one of the pure hash ones.
    pub const fn uses_sticky(self, sticky_linger: Duration) -> bool {
        !sticky_linger.is_zero() && !matches!(self, Self::Consistent | Self::Murmur2 | Self::Fnv1a)
    }

    /// The full decision for a record with no explicit partition. With stickiness on, keyless
    /// records (and empty keys under consistent_random) go sticky; `random` still picks a
    /// fresh partition for keyed records.
    pub fn route(self, key: Option<&[u8]>, partition_cnt: i32, sticky_linger: Duration) -> Route {
        let sticky_candidate = match self {
            Self::ConsistentRandom => key.is_none_or(<[u8]>::is_empty),
            _ => key.is_none(),
        };
        if self.uses_sticky(sticky_linger) && sticky_candidate {
            return Route::Sticky;
        }
        match self.hash_partition(key, partition_cnt) {
            Some(p) => Route::Hash(p),
            None => Route::Random,
        }
    }
}

/// Whether a record for a [`CustomPartitioner`] skips it for the sticky partition: keyless
/// records do while `sticky.partitioning.linger.ms` > 0 (rdkafka's documented behaviour).
pub fn custom_uses_sticky(key: Option<&[u8]>, sticky_linger: Duration) -> bool {
    key.is_none() && !sticky_linger.is_zero()
}

/// librdkafka's `random` partitioner: a uniform pick, and one more (unchecked) pick if the
/// first partition is unavailable. `partition_cnt` must be positive.
pub fn random_partition(
    partition_cnt: i32,
    is_available: impl Fn(i32) -> bool,
    rng: &mut Rng,
) -> i32 {
    let n = partition_cnt.max(1).unsigned_abs();
    let pick = |rng: &mut Rng| i32::try_from(rng.below(n)).unwrap_or(0);
    let p = pick(rng);
    if is_available(p) { p } else { pick(rng) }
}

/// Sticky partitioning state of one topic (`sticky.partitioning.linger.ms`): re-picked every
/// interval or when the partition becomes unavailable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StickyPartition {
    partition: i32,
    last_pick: Option<Instant>,
}

impl StickyPartition {
    /// A topic's state before its first keyless record.
    pub const fn new() -> Self {
        Self {
            partition: 0,
            last_pick: None,
        }
    }

    /// The current sticky partition, if one was picked.
    pub fn current(&self) -> Option<i32> {
        self.last_pick.map(|_| self.partition)
    }

    /// The partition for the next keyless record. Like librdkafka's
    /// `rd_kafka_msg_sticky_partition`, a new partition is picked with [`random_partition`]
    /// on the first call, when the current one is unavailable (or no longer exists), and once
    /// `now` is strictly past the previous pick plus `interval`.
    pub fn pick(
        &mut self,
        now: Instant,
        interval: Duration,
        partition_cnt: i32,
        is_available: impl Fn(i32) -> bool,
        rng: &mut Rng,
    ) -> i32 {
        let expired = match self.last_pick {
            None => true,
            Some(last) => now > last + interval,
        };
        let gone = self.partition >= partition_cnt || !is_available(self.partition);
        if expired || gone {
            self.partition = random_partition(partition_cnt, &is_available, rng);
            self.last_pick = Some(now);
        }
        self.partition
    }
}

/// A caller-supplied partitioner (rdkafka's `Partitioner` trait maps onto this). It must
/// return a partition in `0..partition_cnt`, or -1 (which fails the record with
/// `UnknownPartition`); it may be called more than once per record, on any thread.
pub trait CustomPartitioner: Send + Sync {
    /// The partition for a record of `topic` with `key`.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partition_cnt: i32,
        is_available: &dyn Fn(i32) -> bool,
    ) -> i32;
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`): MurmurHash2, seed 0x9747b28c,
/// little-endian 4-byte blocks. The partitioners mask the top bit off.
pub fn murmur2(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // The length is mixed in as a u32, as the C code casts size_t; keys > 4 GiB don't occur.
    let mut h: u32 = 0x9747_b28c ^ (key.len() as u32);
    let mut blocks = key.chunks_exact(4);
    for b in &mut blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&t0) = tail.first() {
        h ^= u32::from(t0);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// librdkafka's FNV-1a 32 (offset 0x811C9DC5, prime 0x01000193) with Sarama's twist: the
/// hash is taken as an i32 and made non-negative (`i32::MIN` stays as is, as in C).
pub fn fnv1a(key: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // Reinterpret as i32 to take Sarama's absolute value.
    (h as i32).wrapping_abs() as u32
}

/// Slicing-by-8 tables: `CRC32_TABLES[0]` is the classic byte table; `CRC32_TABLES[k][b]` is
/// the CRC of byte `b` followed by `k` zero bytes, so eight input bytes fold in with eight
/// independent lookups instead of a serial chain of eight.
const CRC32_TABLES: [[u32; 256]; 8] = crc32_tables();

const fn crc32_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            i += 1;
        }
        k += 1;
    }
    t
}

/// CRC-32 as zlib computes it (IEEE 802.3, reflected, init and xor-out 0xffffffff): the
/// `consistent` partitioners' hash.
pub fn crc32(key: &[u8]) -> u32 {
    let t = &CRC32_TABLES;
    let mut crc = 0xffff_ffffu32;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in PartitionerKind::ALL {
            assert_eq!(PartitionerKind::from_name(k.name()), Some(k));
        }
        assert_eq!(PartitionerKind::from_name("Murmur2"), None);
        assert_eq!(PartitionerKind::from_name(""), None);
        assert_eq!(
            PartitionerKind::default(),
            PartitionerKind::ConsistentRandom
        );
    }

    #[test]
    fn murmur2_golden_values() {
        // librdkafka's unittest_murmur2 (values from the Java client).
        let table: &[(&[u8], u32)] = &[
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for &(k, h) in table {
            assert_eq!(murmur2(k), h, "{:?}", String::from_utf8_lossy(k));
        }
    }

    #[test]
    fn fnv1a_golden_values() {
        // librdkafka's unittest_fnv1a (values from Sarama's NewHashPartitioner).
        let table: &[(&[u8], u32)] = &[
            (b"kafka", 0x0d33_c4e1),
            (b"giberish123456789", 0x77a5_8295),
            (b"1234", 0x023b_dd03),
            (b"234", 0x2dea_3cd2),
            (b"34", 0x740f_a83e),
            (b"4", 0x310c_a263),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x65cb_d69c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x6e49_c79a),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0x69ee_d356),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x6abc_c023),
            (b"", 0x7ee3_623b),
        ];
        for &(k, h) in table {
            assert_eq!(fnv1a(k), h, "{:?}", String::from_utf8_lossy(k));
        }
    }

    #[test]
    fn crc32_golden_values() {
        // zlib crc32 check values (and the constants librdkafka's test 0048 uses).
        let table: &[(&[u8], u32)] = &[
            (b"", 0),
            (b"123456789", 0xcbf4_3926),
            (b"The quick brown fox jumps over the lazy dog", 0x414f_a339),
            (b"23456", 0xb1b4_51d7),
            (
                b"this is another string with more length to it perhaps",
                0xb015_0df7,
            ),
            (b"hejsan", 0xd077_037e),
        ];
        for &(k, h) in table {
            assert_eq!(crc32(k), h, "{:?}", String::from_utf8_lossy(k));
        }
    }

    #[test]
    fn crc32_slicing_matches_bytewise_at_every_length_and_alignment() {
        fn bytewise(key: &[u8]) -> u32 {
            let mut crc = 0xffff_ffffu32;
            for &b in key {
                crc = CRC32_TABLES[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
            }
            crc ^ 0xffff_ffff
        }
        let data: Vec<u8> = (0u32..200)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..8 {
            for end in start..data.len() {
                let k = &data[start..end];
                assert_eq!(crc32(k), bytewise(k), "start {start} end {end}");
            }
        }
    }

    /// librdkafka tests/0048-partitioner.c `do_test_partitioners`: keys and expected
    /// partitions per partitioner (-1 = random), checked for 7 and 17 partitions.
    #[test]
    fn test_0048_expected_partitions() {
        let keys: [Option<&[u8]>; 5] = [
            None,
            Some(b""),
            Some(b"23456"),
            Some(b"this is another string with more length to it perhaps"),
            Some(b"hejsan"),
        ];
        const R: i64 = -1;
        let table: &[(&str, [i64; 5])] = &[
            ("random", [R, R, R, R, R]),
            (
                "consistent",
                [0x0, 0x0, 0xb1b4_51d7, 0xb015_0df7, 0xd077_037e],
            ),
            (
                "consistent_random",
                [R, R, 0xb1b4_51d7, 0xb015_0df7, 0xd077_037e],
            ),
            (
                "murmur2",
                [
                    0x106e_08d9,
                    0x106e_08d9,
                    0x058d_780f,
                    0x4f77_03da,
                    0x5ec1_9395,
                ],
            ),
            (
                "murmur2_random",
                [R, 0x106e_08d9, 0x058d_780f, 0x4f77_03da, 0x5ec1_9395],
            ),
            (
                "fnv1a",
                [
                    0x7ee3_623b,
                    0x7ee3_623b,
                    0x27e6_f469,
                    0x155e_3e5f,
                    0x17b1_e27a,
                ],
            ),
            (
                "fnv1a_random",
                [R, 0x7ee3_623b, 0x27e6_f469, 0x155e_3e5f, 0x17b1_e27a],
            ),
        ];
        for part_cnt in [7i32, 17] {
            for &(name, exp) in table {
                let kind = PartitionerKind::from_name(name).unwrap_or_else(|| panic!("{name}"));
                for (key, e) in keys.iter().zip(exp) {
                    let want = (e >= 0).then(|| (e % i64::from(part_cnt)) as i32);
                    assert_eq!(
                        kind.hash_partition(*key, part_cnt),
                        want,
                        "{name} {key:?} /{part_cnt}"
                    );
                    assert_eq!(kind.uses_random(*key), want.is_none(), "{name} {key:?}");
                    // With sticky.partitioning.linger.ms = 0 (as the test sets it).
                    let route = kind.route(*key, part_cnt, Duration::ZERO);
                    assert_eq!(
                        route,
                        want.map_or(Route::Random, Route::Hash),
                        "{name} {key:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn fnv1a_takes_the_absolute_value() {
        // Find keys whose plain FNV-1a has the top bit set: the result is its i32 negation.
        let plain = |k: &[u8]| {
            k.iter().fold(0x811c_9dc5u32, |h, &b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            })
        };
        let mut seen = 0;
        for i in 0u32..64 {
            let k = i.to_le_bytes();
            let p = plain(&k);
            let want = if p & 0x8000_0000 != 0 {
                p.wrapping_neg()
            } else {
                p
            };
            assert_eq!(fnv1a(&k), want);
            seen += usize::from(p & 0x8000_0000 != 0);
        }
        assert!(seen > 0, "no key exercised the negative branch");
    }

    #[test]
    fn routing_with_sticky_enabled() {
        let sticky = Duration::from_millis(10);
        let k: Option<&[u8]> = Some(b"key");
        let empty: Option<&[u8]> = Some(b"");
        use PartitionerKind as P;
        let table: &[(P, Option<&[u8]>, Route)] = &[
            (P::Random, None, Route::Sticky),
            (P::Random, empty, Route::Random),
            (P::Random, k, Route::Random),
            (P::ConsistentRandom, None, Route::Sticky),
            (P::ConsistentRandom, empty, Route::Sticky),
            (
                P::ConsistentRandom,
                k,
                Route::Hash((crc32(b"key") % 6) as i32),
            ),
            (P::Consistent, None, Route::Hash(0)),
            (P::Murmur2, None, Route::Hash(0x106e_08d9 % 6)),
            (P::Murmur2Random, None, Route::Sticky),
            (P::Murmur2Random, empty, Route::Hash(0x106e_08d9 % 6)),
            (P::Fnv1a, None, Route::Hash(0x7ee3_623b % 6)),
            (P::Fnv1aRandom, None, Route::Sticky),
            (P::Fnv1aRandom, empty, Route::Hash(0x7ee3_623b % 6)),
        ];
        for &(kind, key, want) in table {
            assert_eq!(kind.route(key, 6, sticky), want, "{kind:?} {key:?}");
        }
        assert!(custom_uses_sticky(None, sticky));
        assert!(!custom_uses_sticky(empty, sticky));
        assert!(!custom_uses_sticky(None, Duration::ZERO));
        assert_eq!(P::Murmur2.hash_partition(k, 0), None);
    }

    #[test]
    fn random_partition_retries_once_when_unavailable() {
        let mut rng = Rng::new(7);
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            let p = random_partition(4, |_| true, &mut rng);
            counts[usize::try_from(p).unwrap_or(99)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        // Only partition 0 available: a second, unchecked pick happens after a miss, so 0
        // comes out ~1/4 + 3/4 * 1/4 = 7/16 of the time.
        let mut zero = 0;
        for _ in 0..16_000 {
            zero += u32::from(random_partition(4, |p| p == 0, &mut rng) == 0);
        }
        assert!((6_500..7_500).contains(&zero), "{zero}");
        // Same seed, same choices.
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        for _ in 0..100 {
            assert_eq!(
                random_partition(9, |_| true, &mut a),
                random_partition(9, |_| true, &mut b)
            );
        }
    }

    #[test]
    fn sticky_partition_repicks_on_interval_and_unavailability() {
        let mut rng = Rng::new(11);
        let mut s = StickyPartition::new();
        let iv = Duration::from_millis(10);
        let t0 = Instant::from_millis(1_000);
        assert_eq!(s.current(), None);
        let p = s.pick(t0, iv, 8, |_| true, &mut rng);
        assert_eq!(s.current(), Some(p));
        // Within the interval (inclusive of its end) the partition sticks.
        for ms in [0, 5, 10] {
            assert_eq!(
                s.pick(t0 + Duration::from_millis(ms), iv, 8, |_| true, &mut rng),
                p
            );
        }
        // Strictly past the interval: a new pick (which may land on the same partition), and
        // the interval restarts from that pick.
        let mut changed = false;
        let mut t = t0;
        for _ in 0..50 {
            t = t + Duration::from_millis(11);
            let q = s.pick(t, iv, 8, |_| true, &mut rng);
            changed |= q != p;
            assert_eq!(s.pick(t + iv, iv, 8, |_| true, &mut rng), q);
        }
        assert!(changed);
        // Unavailable partition: re-picked immediately, onto an available one when the first
        // draw allows.
        let cur = s.pick(t, iv, 8, |_| true, &mut rng);
        let avail = move |x: i32| x != cur;
        let mut moved = 0;
        for _ in 0..20 {
            let mut s2 = s;
            moved += u32::from(s2.pick(t, iv, 8, avail, &mut rng) != cur);
        }
        assert!(moved >= 19, "{moved}");
        // Partition count shrank below the sticky partition: re-picked within range.
        let mut s3 = StickyPartition::new();
        let mut rng2 = Rng::new(5);
        let mut p3 = s3.pick(t0, iv, 100, |_| true, &mut rng2);
        while p3 < 3 {
            s3 = StickyPartition::new();
            p3 = s3.pick(t0, iv, 100, |_| true, &mut rng2);
        }
        assert!(s3.pick(t0, iv, 3, |_| true, &mut rng2) < 3);
    }

    #[test]
    fn custom_partitioner_is_object_safe() {
        struct Fixed;
        impl CustomPartitioner for Fixed {
            fn partition(
                &self,
                topic: &str,
                key: Option<&[u8]>,
                cnt: i32,
                avail: &dyn Fn(i32) -> bool,
            ) -> i32 {
                let p = i32::try_from(topic.len() + key.map_or(0, <[u8]>::len)).unwrap_or(0) % cnt;
                if avail(p) { p } else { -1 }
            }
        }
        let p: Box<dyn CustomPartitioner> = Box::new(Fixed);
        assert_eq!(p.partition("abc", Some(b"de"), 4, &|_| true), 1);
        assert_eq!(p.partition("abc", None, 4, &|x| x != 3), -1);
    }
}
