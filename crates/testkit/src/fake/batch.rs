//! What the fake broker checks in a produced RecordBatch v2: its fixed header and CRC-32C.
//!
//! The broker only needs the 61-byte header (offsets, counts, producer id/epoch/sequence) and
//! the checksum; records themselves are decoded only when a test inspects the log.

/// Size of the RecordBatch v2 header up to and including the record count.
pub const BATCH_HEADER_LEN: usize = 61;
/// The CRC covers everything from the attributes field to the end of the batch.
const CRC_START: usize = 21;
/// `baseOffset` (8) + `batchLength` (4): the part of the batch not counted in `batchLength`.
const LOG_OVERHEAD: usize = 12;

/// CRC-32C (Castagnoli), the checksum of RecordBatch v2.
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// The fixed header of one RecordBatch v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// `baseOffset` as the client wrote it (producers write 0; the broker assigns the real one).
    pub base_offset: i64,
    /// `batchLength`: bytes after the length field.
    pub batch_length: i32,
    /// `partitionLeaderEpoch` as written by the client.
    pub partition_leader_epoch: i32,
    /// `magic` (2 for RecordBatch v2).
    pub magic: i8,
    /// The CRC-32C stored in the batch.
    pub crc: u32,
    /// `attributes` (compression in bits 0-2, timestamp type bit 3, transactional bit 4, ...).
    pub attributes: i16,
    /// `lastOffsetDelta`.
    pub last_offset_delta: i32,
    /// `baseTimestamp`.
    pub base_timestamp: i64,
    /// `maxTimestamp`.
    pub max_timestamp: i64,
    /// `producerId` (-1 when not idempotent).
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence` (-1 when not idempotent).
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

/// Why a produced batch is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or than `batchLength` announces.
    #[error("batch truncated: {len} bytes, need {need}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// More than one batch (or trailing garbage) in one partition's records.
    #[error("{extra} bytes after the first batch (Produce v3+ carries exactly one batch)")]
    TrailingBytes {
        /// Bytes after the first batch.
        extra: usize,
    },
    /// Not RecordBatch v2.
    #[error("unsupported magic {0}")]
    BadMagic(i8),
    /// The CRC-32C does not match the content.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the batch.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// `recordCount` disagrees with `lastOffsetDelta`, or the batch is empty.
    #[error("record count {count} does not match lastOffsetDelta {last_offset_delta}")]
    CountMismatch {
        /// `recordCount`.
        count: i32,
        /// `lastOffsetDelta`.
        last_offset_delta: i32,
    },
}

impl BatchError {
    /// The Kafka error code a broker answers for this defect.
    pub fn kafka_code(&self) -> i16 {
        match self {
            // CORRUPT_MESSAGE
            Self::Truncated { .. } | Self::BadMagic(_) | Self::CrcMismatch { .. } => 2,
            // INVALID_RECORD
            Self::TrailingBytes { .. } | Self::CountMismatch { .. } => 87,
        }
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Parses and validates the single RecordBatch v2 a Produce request carries for one partition.
pub fn parse_single_batch(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    if bytes.len() < BATCH_HEADER_LEN {
        return Err(BatchError::Truncated {
            len: bytes.len(),
            need: BATCH_HEADER_LEN,
        });
    }
    // All reads below are within the first BATCH_HEADER_LEN bytes, checked above.
    let batch_length = be_i32(bytes, 8);
    let magic = bytes[16] as i8;
    if magic != 2 {
        return Err(BatchError::BadMagic(magic));
    }
    let total = usize::try_from(batch_length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .filter(|&t| t >= BATCH_HEADER_LEN)
        .ok_or(BatchError::Truncated {
            len: bytes.len(),
            need: BATCH_HEADER_LEN,
        })?;
    if bytes.len() < total {
        return Err(BatchError::Truncated {
            len: bytes.len(),
            need: total,
        });
    }
    if bytes.len() > total {
        return Err(BatchError::TrailingBytes {
            extra: bytes.len() - total,
        });
    }
    let stored = u32::from_be_bytes([bytes[17], bytes[18], bytes[19], bytes[20]]);
    let computed = crc32c(&bytes[CRC_START..total]);
    if stored != computed {
        return Err(BatchError::CrcMismatch { stored, computed });
    }
    let header = BatchHeader {
        base_offset: be_i64(bytes, 0),
        batch_length,
        partition_leader_epoch: be_i32(bytes, 12),
        magic,
        crc: stored,
        attributes: be_i16(bytes, 21),
        last_offset_delta: be_i32(bytes, 23),
        base_timestamp: be_i64(bytes, 27),
        max_timestamp: be_i64(bytes, 35),
        producer_id: be_i64(bytes, 43),
        producer_epoch: be_i16(bytes, 51),
        base_sequence: be_i32(bytes, 53),
        record_count: be_i32(bytes, 57),
    };
    if header.record_count <= 0 || header.last_offset_delta != header.record_count - 1 {
        return Err(BatchError::CountMismatch {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}
