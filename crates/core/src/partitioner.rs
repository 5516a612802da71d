//! librdkafka's partitioners, bit-exact. Filled by the sans-IO core issue.

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
