//! Errors of the RecordBatch writer and reader.

use crate::compression::{Compression, CompressionError};
use crate::varint::VarintError;

/// Why a RecordBatch could not be sealed or decoded.
///
/// Reader errors carry `at`, the byte offset of the batch's start in the input given to
/// [`decode_batches`](super::decode_batches), and, for record-level problems, the record's
/// index within its batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// `seal` was called on a writer with no records.
    #[error("cannot seal an empty record batch")]
    Empty,
    /// The batch would not fit the `i32` batchLength field.
    #[error("batch of {size} bytes exceeds the RecordBatch limit of {max} bytes")]
    TooLarge {
        /// Total batch size in bytes.
        size: usize,
        /// Largest encodable size.
        max: usize,
    },
    /// A record's key, value or header is too large for the format's `i32` lengths.
    #[error("record of {size} bytes exceeds the RecordBatch limit of {max} bytes")]
    RecordTooLarge {
        /// Encoded record size (or the offending field's size).
        size: usize,
        /// Largest encodable size.
        max: usize,
    },
    /// Compressing the records section failed.
    #[error("compressing a batch with {codec} failed")]
    Compress {
        /// The codec asked for.
        codec: Compression,
        /// The codec's error.
        #[source]
        source: CompressionError,
    },
    /// The input ends inside a batch (or a batch's declared length runs past the input).
    #[error("batch at byte {at}: {field} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// Offset of the batch in the input.
        at: usize,
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A length or count field holds an impossible value (negative, too small, too large).
    #[error("batch at byte {at}: invalid {field} {value}")]
    InvalidLength {
        /// Offset of the batch in the input.
        at: usize,
        /// The field.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// The batch's magic byte is not 2; message sets v0/v1 are not supported.
    #[error("batch at byte {at}: unsupported magic {magic} (only RecordBatch v2 is supported)")]
    UnsupportedMagic {
        /// Offset of the batch in the input.
        at: usize,
        /// The magic byte found.
        magic: i8,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("batch at byte {at}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    CrcMismatch {
        /// Offset of the batch in the input.
        at: usize,
        /// CRC in the header.
        stored: u32,
        /// CRC of attributes..end.
        computed: u32,
    },
    /// The attributes name an unknown codec, or the records section does not decompress.
    #[error("batch at byte {at}: records section ({codec:?})")]
    Compression {
        /// Offset of the batch in the input.
        at: usize,
        /// The codec from the attributes, if it was known.
        codec: Option<Compression>,
        /// The codec's error.
        #[source]
        source: CompressionError,
    },
    /// A varint inside a record is malformed.
    #[error("batch at byte {at}, record {record}: bad varint in {field}")]
    Varint {
        /// Offset of the batch in the input.
        at: usize,
        /// Index of the record in its batch.
        record: usize,
        /// The field.
        field: &'static str,
        /// The varint error.
        #[source]
        source: VarintError,
    },
    /// A record field is shorter than its declared length, or has a negative length.
    #[error(
        "batch at byte {at}, record {record}: invalid {field} length {len} ({available} bytes remain)"
    )]
    RecordField {
        /// Offset of the batch in the input.
        at: usize,
        /// Index of the record in its batch.
        record: usize,
        /// The field.
        field: &'static str,
        /// The declared length.
        len: i64,
        /// Bytes left in the record.
        available: usize,
    },
    /// A record's body is longer than the fields it declares.
    #[error("batch at byte {at}, record {record}: {extra} unread bytes after the last header")]
    RecordTrailingBytes {
        /// Offset of the batch in the input.
        at: usize,
        /// Index of the record in its batch.
        record: usize,
        /// Bytes left over.
        extra: usize,
    },
    /// A header key is not UTF-8.
    #[error("batch at byte {at}, record {record}: header key is not UTF-8")]
    HeaderKeyUtf8 {
        /// Offset of the batch in the input.
        at: usize,
        /// Index of the record in its batch.
        record: usize,
        /// The UTF-8 error.
        #[source]
        source: std::str::Utf8Error,
    },
    /// recordCount disagrees with the records present.
    #[error(
        "batch at byte {at}: header says {declared} records, {found} found ({extra} bytes left over)"
    )]
    RecordCount {
        /// Offset of the batch in the input.
        at: usize,
        /// recordCount from the header.
        declared: i32,
        /// Records actually decoded.
        found: usize,
        /// Bytes after the last decoded record.
        extra: usize,
    },
    /// lastOffsetDelta or a record's offsetDelta is inconsistent with the record count.
    #[error(
        "batch at byte {at}: lastOffsetDelta {last_offset_delta}, record {record} has offsetDelta {offset_delta}, {record_count} records"
    )]
    OffsetDelta {
        /// Offset of the batch in the input.
        at: usize,
        /// lastOffsetDelta from the header.
        last_offset_delta: i32,
        /// The record count from the header.
        record_count: i32,
        /// Index of the offending record (or the record count when the header itself is wrong).
        record: usize,
        /// Its offsetDelta (or lastOffsetDelta when the header is wrong).
        offset_delta: i32,
    },
}
