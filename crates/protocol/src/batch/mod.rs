//! RecordBatch v2 (magic 2): our own incremental writer and a bounded reader.
//!
//! Layout of a batch (big-endian):
//!
//! | offset | field                | notes                                              |
//! |--------|----------------------|----------------------------------------------------|
//! | 0      | baseOffset i64       | 0 from producers                                   |
//! | 8      | batchLength i32      | bytes after this field                             |
//! | 12     | partitionLeaderEpoch | -1 from producers                                  |
//! | 16     | magic i8             | 2                                                  |
//! | 17     | crc u32              | CRC-32C of bytes 21..end                           |
//! | 21     | attributes i16       | bits 0-2 codec, 3 timestamp type, 4 txn, 5 control |
//! | 23     | lastOffsetDelta i32  |                                                    |
//! | 27     | baseTimestamp i64    |                                                    |
//! | 35     | maxTimestamp i64     |                                                    |
//! | 43     | producerId i64       |                                                    |
//! | 51     | producerEpoch i16    |                                                    |
//! | 53     | baseSequence i32     |                                                    |
//! | 57     | recordCount i32      |                                                    |
//! | 61     | records              | possibly compressed                                |
//!
//! Each record: length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//! key (varint length, -1 = null), value (same), header count varint, then headers (key as a
//! varint-length string, value as nullable bytes).

mod error;
mod reader;
mod writer;

pub use error::BatchError;
pub use reader::{BatchIter, DecodeLimits, DecodedBatch, DecodedRecord, decode_batches};
pub use writer::{
    AppendedRecord, CompressedRecords, RecordBatchWriter, SealOptions, SealedBatch,
    compress_records, seal_compressed, seal_records,
};

/// Size of the RecordBatch v2 header, up to and including recordCount.
pub const HEADER_LEN: usize = 61;

/// Largest value of the `i32` batchLength field.
pub const MAX_BATCH_LEN: usize = i32::MAX as usize;

/// Attribute bit 3: timestamps are LogAppendTime (set by brokers, never by producers).
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit 4: the batch is part of a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit 5: the batch holds a control record (transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;

/// Byte offsets of the header fields.
pub(crate) mod off {
    pub(crate) const BASE_OFFSET: usize = 0;
    pub(crate) const BATCH_LENGTH: usize = 8;
    pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
    pub(crate) const MAGIC: usize = 16;
    pub(crate) const CRC: usize = 17;
    pub(crate) const ATTRIBUTES: usize = 21;
    pub(crate) const LAST_OFFSET_DELTA: usize = 23;
    pub(crate) const BASE_TIMESTAMP: usize = 27;
    pub(crate) const MAX_TIMESTAMP: usize = 35;
    pub(crate) const PRODUCER_ID: usize = 43;
    pub(crate) const PRODUCER_EPOCH: usize = 51;
    pub(crate) const BASE_SEQUENCE: usize = 53;
    pub(crate) const RECORD_COUNT: usize = 57;
}

/// The CRC-32C a batch's CRC field must hold: over attributes..end (the bytes after the
/// field); a buffer that ends before the field gives the CRC of no bytes.
pub fn batch_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(off::ATTRIBUTES..).unwrap_or_default())
}

/// One record header as given to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// Header key (never null on the wire).
    pub key: &'a str,
    /// Header value; `None` is null, distinct from empty.
    pub value: Option<&'a [u8]>,
}
