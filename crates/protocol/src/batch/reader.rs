//! Bounded RecordBatch v2 reader, for tests, fixtures and fuzzing.
//!
//! Every length is checked against the bytes actually present before it is used, and vectors
//! are sized by what the input can hold (a record takes at least 7 bytes, a header at least 2),
//! never by a count the input declares. Decompressed output is capped by
//! [`DecodeLimits::max_decompressed_bytes`].

use super::{
    ATTR_CONTROL, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, BatchError, HEADER_LEN, batch_crc, off,
};
use crate::compression::{self, Compression};
use crate::varint::{get_varint, get_varlong};

/// Bounds and policies of [`decode_batches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decompressed records section accepted per batch.
    pub max_decompressed_bytes: usize,
    /// Check each batch's CRC-32C (on by default).
    pub verify_crc: bool,
    /// End iteration quietly at a truncated trailing batch, as Kafka consumers do with the
    /// partial batch a Fetch response may end with. Off by default: it is an error.
    pub allow_truncated_tail: bool,
    /// Require producer-written offsets: record `i` has offsetDelta `i` and lastOffsetDelta is
    /// recordCount - 1 (on by default). When off (compacted log segments), offset deltas must
    /// only be strictly increasing, non-negative and at most lastOffsetDelta.
    pub strict_offset_deltas: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 64 << 20,
            verify_crc: true,
            allow_truncated_tail: false,
            strict_offset_deltas: true,
        }
    }
}

/// A decoded RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the batchLength field.
    pub batch_length: i32,
    /// partitionLeaderEpoch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// Always 2.
    pub magic: i8,
    /// The stored CRC-32C.
    pub crc: u32,
    /// Raw attributes.
    pub attributes: i16,
    /// Codec from attribute bits 0-2.
    pub compression: Compression,
    /// Attribute bit 3 (LogAppendTime).
    pub log_append_time: bool,
    /// Attribute bit 4.
    pub transactional: bool,
    /// Attribute bit 5.
    pub control: bool,
    /// lastOffsetDelta.
    pub last_offset_delta: i32,
    /// baseTimestamp.
    pub base_timestamp: i64,
    /// maxTimestamp.
    pub max_timestamp: i64,
    /// producerId.
    pub producer_id: i64,
    /// producerEpoch.
    pub producer_epoch: i16,
    /// baseSequence.
    pub base_sequence: i32,
    /// The records, in order.
    pub records: Vec<DecodedRecord>,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// offsetDelta.
    pub offset_delta: i32,
    /// timestampDelta from the batch's baseTimestamp.
    pub timestamp_delta: i64,
    /// Key, `None` if null.
    pub key: Option<Vec<u8>>,
    /// Value, `None` if null.
    pub value: Option<Vec<u8>>,
    /// Headers in order: key and nullable value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl DecodedBatch {
    /// Absolute offset of `record` (baseOffset + offsetDelta).
    pub fn offset_of(&self, record: &DecodedRecord) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(record.offset_delta))
    }

    /// Absolute timestamp of `record` (baseTimestamp + timestampDelta).
    pub fn timestamp_of(&self, record: &DecodedRecord) -> i64 {
        self.base_timestamp.wrapping_add(record.timestamp_delta)
    }
}

/// Reads a sequence of batches from `input` (a log segment, or a Fetch/Produce records field).
pub fn decode_batches<'a>(input: &'a [u8], limits: &DecodeLimits) -> BatchIter<'a> {
    BatchIter {
        input,
        pos: 0,
        limits: *limits,
        done: false,
    }
}

/// Iterator over the batches of a byte slice; stops after the first error.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    input: &'a [u8],
    pos: usize,
    limits: DecodeLimits,
    done: bool,
}

impl<'a> BatchIter<'a> {
    /// Bytes consumed so far (the offset of the next batch).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not consumed (a truncated tail after iteration ended quietly).
    pub fn remaining(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<DecodedBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.input.len() {
            return None;
        }
        let at = self.pos;
        match decode_one(&self.input[at..], at, &self.limits) {
            Ok((batch, used)) => {
                self.pos += used;
                Some(Ok(batch))
            }
            Err(BatchError::Truncated { .. })
                if self.limits.allow_truncated_tail && is_tail(&self.input[at..]) =>
            {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Whether `rest` is a batch cut short by the end of the input (as opposed to a batch whose
/// records are internally truncated).
fn is_tail(rest: &[u8]) -> bool {
    match rest.get(off::BATCH_LENGTH..off::PARTITION_LEADER_EPOCH) {
        None => true,
        Some(len) => {
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            usize::try_from(len)
                .is_ok_and(|len| len.saturating_add(off::PARTITION_LEADER_EPOCH) > rest.len())
        }
    }
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Decodes the batch at the start of `rest`, returning it and its total size.
fn decode_one(
    rest: &[u8],
    at: usize,
    limits: &DecodeLimits,
) -> Result<(DecodedBatch, usize), BatchError> {
    let prefix = off::PARTITION_LEADER_EPOCH;
    if rest.len() < prefix {
        return Err(BatchError::Truncated {
            at,
            field: "baseOffset/batchLength",
            needed: prefix,
            available: rest.len(),
        });
    }
    let batch_length = i32::from_be_bytes(be(rest, off::BATCH_LENGTH));
    let min = (HEADER_LEN - prefix) as i32;
    if batch_length < min {
        return Err(BatchError::InvalidLength {
            at,
            field: "batchLength",
            value: i64::from(batch_length),
        });
    }
    // batch_length >= 49 > 0.
    let total = batch_length as usize + prefix;
    if rest.len() < total {
        return Err(BatchError::Truncated {
            at,
            field: "batch",
            needed: total,
            available: rest.len(),
        });
    }
    let b = &rest[..total];
    let magic = b[off::MAGIC] as i8;
    if magic != 2 {
        return Err(BatchError::UnsupportedMagic { at, magic });
    }
    let crc = u32::from_be_bytes(be(b, off::CRC));
    if limits.verify_crc {
        let computed = batch_crc(b);
        if computed != crc {
            return Err(BatchError::CrcMismatch {
                at,
                stored: crc,
                computed,
            });
        }
    }
    let attributes = i16::from_be_bytes(be(b, off::ATTRIBUTES));
    let codec = Compression::from_attributes(attributes as u16).map_err(|source| {
        BatchError::Compression {
            at,
            codec: None,
            source,
        }
    })?;
    let last_offset_delta = i32::from_be_bytes(be(b, off::LAST_OFFSET_DELTA));
    let record_count = i32::from_be_bytes(be(b, off::RECORD_COUNT));
    if record_count < 0 {
        return Err(BatchError::InvalidLength {
            at,
            field: "recordCount",
            value: i64::from(record_count),
        });
    }
    if limits.strict_offset_deltas && last_offset_delta != record_count.wrapping_sub(1) {
        return Err(BatchError::OffsetDelta {
            at,
            last_offset_delta,
            record_count,
            record: record_count as usize,
            offset_delta: last_offset_delta,
        });
    }
    let section = &b[HEADER_LEN..];
    let decompressed;
    let records_bytes = if codec == Compression::None {
        section
    } else {
        decompressed = compression::decompress(codec, section, limits.max_decompressed_bytes)
            .map_err(|source| BatchError::Compression {
                at,
                codec: Some(codec),
                source,
            })?;
        &decompressed[..]
    };
    let records = decode_records(records_bytes, at, record_count, last_offset_delta, limits)?;
    let batch = DecodedBatch {
        base_offset: i64::from_be_bytes(be(b, off::BASE_OFFSET)),
        batch_length,
        partition_leader_epoch: i32::from_be_bytes(be(b, off::PARTITION_LEADER_EPOCH)),
        magic,
        crc,
        attributes,
        compression: codec,
        log_append_time: attributes & ATTR_LOG_APPEND_TIME != 0,
        transactional: attributes & ATTR_TRANSACTIONAL != 0,
        control: attributes & ATTR_CONTROL != 0,
        last_offset_delta,
        base_timestamp: i64::from_be_bytes(be(b, off::BASE_TIMESTAMP)),
        max_timestamp: i64::from_be_bytes(be(b, off::MAX_TIMESTAMP)),
        producer_id: i64::from_be_bytes(be(b, off::PRODUCER_ID)),
        producer_epoch: i16::from_be_bytes(be(b, off::PRODUCER_EPOCH)),
        base_sequence: i32::from_be_bytes(be(b, off::BASE_SEQUENCE)),
        records,
    };
    Ok((batch, total))
}

/// Smallest possible record: length, attributes, timestampDelta, offsetDelta, key length,
/// value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;

fn decode_records(
    mut input: &[u8],
    at: usize,
    record_count: i32,
    last_offset_delta: i32,
    limits: &DecodeLimits,
) -> Result<Vec<DecodedRecord>, BatchError> {
    // record_count >= 0 was checked by the caller.
    let declared = record_count as usize;
    let mut records = Vec::with_capacity(declared.min(input.len() / MIN_RECORD_LEN));
    let mut previous: Option<i32> = None;
    for index in 0..declared {
        if input.is_empty() {
            return Err(BatchError::RecordCount {
                at,
                declared: record_count,
                found: index,
                extra: 0,
            });
        }
        let r = decode_record(&mut input, at, index)?;
        let ok = if limits.strict_offset_deltas {
            r.offset_delta as usize == index && r.offset_delta >= 0
        } else {
            r.offset_delta >= 0
                && previous.is_none_or(|p| r.offset_delta > p)
                && r.offset_delta <= last_offset_delta
        };
        if !ok {
            return Err(BatchError::OffsetDelta {
                at,
                last_offset_delta,
                record_count,
                record: index,
                offset_delta: r.offset_delta,
            });
        }
        previous = Some(r.offset_delta);
        records.push(r);
    }
    if !input.is_empty() {
        return Err(BatchError::RecordCount {
            at,
            declared: record_count,
            found: declared,
            extra: input.len(),
        });
    }
    Ok(records)
}

/// Cursor over one record's bytes, producing errors with the record's context.
struct Fields<'a> {
    rest: &'a [u8],
    at: usize,
    record: usize,
}

impl<'a> Fields<'a> {
    fn varint(&mut self, field: &'static str) -> Result<i32, BatchError> {
        let (at, record) = (self.at, self.record);
        get_varint(&mut self.rest).map_err(|source| BatchError::Varint {
            at,
            record,
            field,
            source,
        })
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, BatchError> {
        let (at, record) = (self.at, self.record);
        get_varlong(&mut self.rest).map_err(|source| BatchError::Varint {
            at,
            record,
            field,
            source,
        })
    }

    fn bad_len(&self, field: &'static str, len: i32) -> BatchError {
        BatchError::RecordField {
            at: self.at,
            record: self.record,
            field,
            len: i64::from(len),
            available: self.rest.len(),
        }
    }

    /// A length-prefixed field of `len` bytes.
    fn take(&mut self, field: &'static str, len: i32) -> Result<&'a [u8], BatchError> {
        let n = usize::try_from(len).map_err(|_| self.bad_len(field, len))?;
        if n > self.rest.len() {
            return Err(self.bad_len(field, len));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// A length-prefixed field that is null for length -1.
    fn nullable(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, BatchError> {
        let len = self.varint(field)?;
        if len == -1 {
            return Ok(None);
        }
        self.take(field, len).map(Some)
    }

    /// A length-prefixed field that may not be null.
    fn required(&mut self, field: &'static str) -> Result<&'a [u8], BatchError> {
        let len = self.varint(field)?;
        self.take(field, len)
    }
}

fn decode_record(input: &mut &[u8], at: usize, record: usize) -> Result<DecodedRecord, BatchError> {
    let len = get_varint(input).map_err(|source| BatchError::Varint {
        at,
        record,
        field: "length",
        source,
    })?;
    let bad = |available: usize| BatchError::RecordField {
        at,
        record,
        field: "length",
        len: i64::from(len),
        available,
    };
    let n = usize::try_from(len).map_err(|_| bad(input.len()))?;
    if n > input.len() || n < MIN_RECORD_LEN - 1 {
        return Err(bad(input.len()));
    }
    let (body, tail) = input.split_at(n);
    *input = tail;
    // body[0] is the record attributes byte, unused in v2.
    let mut f = Fields {
        rest: &body[1..],
        at,
        record,
    };
    let timestamp_delta = f.varlong("timestampDelta")?;
    let offset_delta = f.varint("offsetDelta")?;
    let key = f.nullable("key")?.map(<[u8]>::to_vec);
    let value = f.nullable("value")?.map(<[u8]>::to_vec);
    let count = f.varint("headerCount")?;
    let count = usize::try_from(count).map_err(|_| f.bad_len("headerCount", count))?;
    // A header takes at least 2 bytes (key length and value length).
    let mut headers = Vec::with_capacity(count.min(f.rest.len() / 2));
    for _ in 0..count {
        let k = f.required("headerKey")?;
        let k = std::str::from_utf8(k).map_err(|source| BatchError::HeaderKeyUtf8 {
            at,
            record,
            source,
        })?;
        let v = f.nullable("headerValue")?.map(<[u8]>::to_vec);
        headers.push((k.to_owned(), v));
    }
    if !f.rest.is_empty() {
        return Err(BatchError::RecordTrailingBytes {
            at,
            record,
            extra: f.rest.len(),
        });
    }
    Ok(DecodedRecord {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    })
}
