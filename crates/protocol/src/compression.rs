//! Record batch compression codecs. Filled by the foundation issue.

/// The codec in a RecordBatch's attributes (bits 0-2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2), in the xerial framing the Java client reads.
    Snappy,
    /// lz4 (3), Kafka's LZ4 frame format.
    Lz4,
    /// zstd (4).
    Zstd,
}
