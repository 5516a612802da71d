//! Incremental RecordBatch v2 writer and sealed batches.
//!
//! Records are appended, fully encoded, into one growing `Vec<u8>` that holds only the records
//! section; the 61-byte header is assembled at `seal` time in front of the (compressed) copy.
//! `seal` takes `&self` and has to produce an independent buffer anyway (the caller keeps the
//! uncompressed records for delivery reports), so reserving header space at the front of the
//! writer's buffer would save nothing and would make `records_bytes()` ranges offset by 61.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{
    ATTR_TRANSACTIONAL, BatchError, HEADER_LEN, MAX_BATCH_LEN, RecordHeader, batch_crc, off,
};
use crate::compression::{self, Compression};
use crate::varint::{encode_uvarint, uvarint_len, varint_len, zigzag64};

/// Where an appended record landed in [`RecordBatchWriter::records_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedRecord {
    /// The record's offsetDelta (its index in the batch).
    pub offset_delta: i32,
    /// The whole encoded record, length prefix included.
    pub range: Range<usize>,
    /// The key bytes, `None` for a null key.
    pub key: Option<Range<usize>>,
    /// The value bytes, `None` for a null value.
    pub value: Option<Range<usize>>,
}

/// Options for [`RecordBatchWriter::seal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealOptions {
    /// Codec for the records section.
    pub compression: Compression,
    /// librdkafka `compression.level` (-1 = codec default).
    pub compression_level: i32,
    /// Producer id (-1 without idempotence).
    pub producer_id: i64,
    /// Producer epoch (-1 without idempotence).
    pub producer_epoch: i16,
    /// Sequence number of the first record (-1 without idempotence).
    pub base_sequence: i32,
    /// Sets the transactional attribute bit.
    pub transactional: bool,
    /// Leaves the CRC field zero, for a batch that goes into a request frame through
    /// [`ProduceFrameBuilder::partition_crc_pending`](crate::frame::produce::ProduceFrameBuilder::partition_crc_pending):
    /// the frame computes the CRC when its chunks are taken, so that a caller sealing under
    /// a lock leaves the pass over every byte to the thread that writes.
    pub defer_crc: bool,
}

impl Default for SealOptions {
    fn default() -> Self {
        Self {
            compression: Compression::None,
            compression_level: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            defer_crc: false,
        }
    }
}

/// Builds the records section of one RecordBatch v2, record by record.
///
/// The records are written after room for the 61-byte batch header, so an uncompressed batch
/// can be sealed in place ([`seal_in_place`](Self::seal_in_place)) without copying them.
/// Reusable: [`clear`](Self::clear) keeps the allocation.
#[derive(Debug, Clone, Default)]
pub struct RecordBatchWriter {
    /// `HEADER_LEN` bytes of header room (once a record was appended), then the records.
    buf: Vec<u8>,
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
}

/// Encoded size of a nullable length-prefixed byte field.
#[inline]
fn bytes_field_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i64) + b.len(),
    }
}

/// Largest record body whose length fits the `i32` varint prefix.
const MAX_RECORD_BODY: usize = i32::MAX as usize;

impl RecordBatchWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer whose records buffer can hold `bytes` without reallocating.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(HEADER_LEN + bytes),
            ..Self::default()
        }
    }

    /// Length of the records section.
    #[inline]
    fn records_len(&self) -> usize {
        self.buf.len().saturating_sub(HEADER_LEN)
    }

    /// The record's sizes and varint values, worked out once for the limit checks and the
    /// write.
    #[inline(always)]
    fn layout(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Layout {
        // The first record sets the base timestamp, so its delta is 0.
        let ts_delta = if self.count == 0 {
            0
        } else {
            zigzag64(timestamp_ms.wrapping_sub(self.base_timestamp))
        };
        let offset_delta = zigzag64(self.count as i64);
        let mut body = 1 // attributes
            + uvarint_len(ts_delta)
            + uvarint_len(offset_delta)
            + bytes_field_len(key)
            + bytes_field_len(value)
            + varint_len(headers.len() as i64);
        for h in headers {
            body += bytes_field_len(Some(h.key.as_bytes())) + bytes_field_len(h.value);
        }
        Layout {
            ts_delta,
            offset_delta,
            body,
            size: varint_len(body as i64).saturating_add(body),
        }
    }

    /// Exact number of bytes [`append`](Self::append) would add to the records section (for
    /// `batch.size` / `message.max.bytes` checks before appending).
    pub fn record_size(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> usize {
        self.layout(timestamp_ms, key, value, headers).size
    }

    /// Appends one record; the first record's timestamp becomes the base timestamp. Returns
    /// where it landed.
    ///
    /// # Panics
    /// If the record is 2 GiB or larger, which the format cannot express. librdkafka caps
    /// `message.max.bytes` at 10^9, so a producer that checks it first never gets here; use
    /// [`try_append`](Self::try_append) otherwise.
    #[inline]
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> AppendedRecord {
        match self.try_append(timestamp_ms, key, value, headers) {
            Ok(r) => r,
            Err(e) => panic!("RecordBatchWriter::append: {e}"),
        }
    }

    /// Like [`append`](Self::append), but returns [`BatchError::RecordTooLarge`] instead of
    /// panicking on a record of 2 GiB or more.
    #[inline]
    pub fn try_append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<AppendedRecord, BatchError> {
        let layout = self.layout(timestamp_ms, key, value, headers);
        self.write(&layout, timestamp_ms, key, value, headers)
    }

    /// Appends one record only if the records section stays within `max_records_bytes`
    /// afterwards (a `batch.size` check); `Ok(false)` leaves the writer unchanged. Sizes the
    /// record once, where a [`record_size`](Self::record_size) check followed by
    /// [`try_append`](Self::try_append) sizes it twice.
    ///
    /// The producer's per-record path: it returns only whether the record went in, because
    /// handing an [`AppendedRecord`] back through the call costs more than the ranges are
    /// worth to a caller that does not use them.
    #[inline]
    pub fn try_append_within(
        &mut self,
        max_records_bytes: usize,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<bool, BatchError> {
        let layout = self.layout(timestamp_ms, key, value, headers);
        if self.records_len().saturating_add(layout.size) > max_records_bytes {
            return Ok(false);
        }
        self.write(&layout, timestamp_ms, key, value, headers)
            .map(|_| true)
    }

    /// Appends a record laid out by [`layout`](Self::layout) for the current state.
    ///
    /// The buffer grows by exactly `layout.size` and the record is written into that slice:
    /// one length check for the whole record instead of one per field and call (criterion,
    /// 1000 records of 100 bytes: 31.5 -> 19.9 µs keyless, 35.9 -> 20.0 µs with 16-byte keys).
    #[inline(always)]
    fn write(
        &mut self,
        layout: &Layout,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> Result<AppendedRecord, BatchError> {
        if layout.body > MAX_RECORD_BODY {
            return Err(BatchError::RecordTooLarge {
                size: layout.body,
                max: MAX_RECORD_BODY,
            });
        }
        if self.count >= i32::MAX as usize {
            return Err(BatchError::TooLarge {
                size: self.records_len(),
                max: MAX_BATCH_LEN,
            });
        }
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        } else if timestamp_ms > self.max_timestamp {
            self.max_timestamp = timestamp_ms;
        }
        let offset_delta = self.count as i32;
        if self.buf.len() < HEADER_LEN {
            self.buf.resize(HEADER_LEN, 0);
        }
        let start = self.buf.len();
        self.buf.resize(start + layout.size, 0);
        let mut out = Out {
            buf: self.buf.get_mut(start..).unwrap_or_default(),
            pos: 0,
        };
        out.uvarint(zigzag64(layout.body as i64));
        out.byte(0); // record attributes: unused in v2
        out.uvarint(layout.ts_delta);
        out.uvarint(layout.offset_delta);
        let key = out.field(key);
        let value = out.field(value);
        out.uvarint(zigzag64(headers.len() as i64));
        for h in headers {
            out.field(Some(h.key.as_bytes()));
            out.field(h.value);
        }
        // `layout` sized the slice from the same values, so the record fills it exactly.
        debug_assert_eq!(out.pos, layout.size);
        self.count += 1;
        // Ranges are relative to the records section, after the header room.
        let base = start - HEADER_LEN;
        let rel = |r: Range<usize>| base + r.start..base + r.end;
        Ok(AppendedRecord {
            offset_delta,
            range: rel(0..layout.size),
            key: key.map(rel),
            value: value.map(rel),
        })
    }

    /// Number of records appended.
    pub fn record_count(&self) -> usize {
        self.count
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The uncompressed records section.
    pub fn records_bytes(&self) -> &[u8] {
        self.buf.get(HEADER_LEN..).unwrap_or_default()
    }

    /// Size of the batch if sealed uncompressed: 61 + records section.
    pub fn size_in_bytes(&self) -> usize {
        HEADER_LEN + self.records_len()
    }

    /// The first record's timestamp, once a record was appended.
    pub fn base_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.base_timestamp)
    }

    /// The largest record timestamp, once a record was appended.
    pub fn max_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max_timestamp)
    }

    /// Seals a copy: compresses, writes header + CRC. `&self` so the caller keeps the
    /// uncompressed records for its delivery reports.
    ///
    /// Like librdkafka, a compressed section that is not smaller than the plain one is dropped
    /// and the batch goes out uncompressed; [`SealedBatch::compression`] tells which was used.
    pub fn seal(&self, opts: &SealOptions) -> Result<SealedBatch, BatchError> {
        seal_records(
            self.records_bytes(),
            self.count,
            self.base_timestamp,
            self.max_timestamp,
            opts,
        )
    }

    /// Seals an uncompressed batch without copying its records: the header is written into
    /// the room kept before them and the buffer becomes the batch's bytes (the writer is left
    /// empty, without its allocation). The records stay readable as
    /// `sealed.bytes()[HEADER_LEN..]`. Only for [`Compression::None`]; with a codec use
    /// [`seal`](Self::seal), which must copy anyway.
    pub fn seal_in_place(&mut self, opts: &SealOptions) -> Result<SealedBatch, BatchError> {
        if opts.compression != Compression::None {
            return self.seal(opts);
        }
        if self.count == 0 {
            return Err(BatchError::Empty);
        }
        let mut out = std::mem::take(&mut self.buf);
        if let Err(e) = write_header(
            &mut out,
            self.count,
            self.base_timestamp,
            self.max_timestamp,
            Compression::None,
            opts,
        ) {
            self.buf = out;
            return Err(e);
        }
        let count = self.count as i32;
        self.clear();
        Ok(SealedBatch {
            bytes: Bytes::from(out),
            record_count: count,
            compression: Compression::None,
        })
    }

    /// Hands the buffer over as shared bytes without copying: the records are
    /// `bytes[HEADER_LEN..]` (the header room before them is unwritten). The writer is left
    /// empty, without its allocation. For a caller that compresses the records elsewhere.
    pub fn take_records(&mut self) -> Bytes {
        let out = std::mem::take(&mut self.buf);
        self.clear();
        Bytes::from(out)
    }

    /// Forgets all records, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
        self.base_timestamp = 0;
        self.max_timestamp = 0;
    }
}

/// Seals `count` records (an uncompressed records section) into a new buffer: compresses
/// with `opts.compression` (falling back to none when that doesn't shrink them), writes the
/// header and the CRC. What [`RecordBatchWriter::seal`] does, for records kept elsewhere.
pub fn seal_records(
    records: &[u8],
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
    opts: &SealOptions,
) -> Result<SealedBatch, BatchError> {
    if count == 0 {
        return Err(BatchError::Empty);
    }
    let compressed = compress_records(records, opts.compression, opts.compression_level)?;
    seal_compressed(compressed, count, base_timestamp, max_timestamp, opts)
}

/// A batch's records section, compressed, with room for the header in front: the costly
/// half of sealing, which needs none of the header's fields (producer id, epoch, sequence),
/// so a caller can do it apart (e.g. off a lock) and [`seal_compressed`] later.
#[derive(Debug)]
pub struct CompressedRecords {
    buf: Vec<u8>,
    codec: Compression,
}

impl CompressedRecords {
    /// Length of the (compressed) records section.
    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(HEADER_LEN)
    }

    /// Whether the records section is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The codec the section is in: `None` when compressing did not make it smaller.
    pub fn codec(&self) -> Compression {
        self.codec
    }
}

/// Compresses a records section with `codec` at librdkafka `level`, keeping it uncompressed
/// when that is not smaller (as librdkafka does).
pub fn compress_records(
    records: &[u8],
    codec: Compression,
    level: i32,
) -> Result<CompressedRecords, BatchError> {
    let mut codec = codec;
    let mut out = if codec == Compression::None {
        Vec::with_capacity(HEADER_LEN + records.len())
    } else {
        // The codec reserves what it needs.
        Vec::with_capacity(HEADER_LEN)
    };
    out.resize(HEADER_LEN, 0);
    if codec != Compression::None {
        compression::compress_into(codec, level, records, &mut out)
            .map_err(|source| BatchError::Compress { codec, source })?;
        if out.len() - HEADER_LEN >= records.len() {
            out.truncate(HEADER_LEN);
            codec = Compression::None;
        } else if out.capacity() > 2 * out.len() {
            // The batch stays queued or in flight until acknowledged: don't keep the
            // codec's worst-case reservation with it.
            out.shrink_to_fit();
        }
    }
    if codec == Compression::None {
        out.extend_from_slice(records);
    }
    Ok(CompressedRecords { buf: out, codec })
}

/// Seals a batch from its [`compress_records`] output: writes the header (and CRC) in the
/// room kept for it, no copy. `opts.compression` is ignored: the section's codec is used.
pub fn seal_compressed(
    compressed: CompressedRecords,
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
    opts: &SealOptions,
) -> Result<SealedBatch, BatchError> {
    if count == 0 {
        return Err(BatchError::Empty);
    }
    let CompressedRecords {
        buf: mut out,
        codec,
    } = compressed;
    write_header(&mut out, count, base_timestamp, max_timestamp, codec, opts)?;
    Ok(SealedBatch {
        bytes: Bytes::from(out),
        // Checked by write_header.
        record_count: count as i32,
        compression: codec,
    })
}

/// Writes the 61-byte header into `out[..HEADER_LEN]` (the records section follows) and,
/// unless `opts.defer_crc`, the CRC-32C over attributes..end.
fn write_header(
    out: &mut [u8],
    count: usize,
    base_timestamp: i64,
    max_timestamp: i64,
    codec: Compression,
    opts: &SealOptions,
) -> Result<(), BatchError> {
    let size = out.len();
    if size - off::PARTITION_LEADER_EPOCH > MAX_BATCH_LEN || count > i32::MAX as usize {
        return Err(BatchError::TooLarge {
            size,
            max: MAX_BATCH_LEN + off::PARTITION_LEADER_EPOCH,
        });
    }
    let mut attributes = codec.to_attribute_bits() as i16;
    if opts.transactional {
        attributes |= ATTR_TRANSACTIONAL;
    }
    let h = &mut out[..HEADER_LEN];
    h[off::BASE_OFFSET..][..8].copy_from_slice(&0i64.to_be_bytes());
    // Checked above against MAX_BATCH_LEN = i32::MAX.
    let batch_len = (size - off::PARTITION_LEADER_EPOCH) as i32;
    h[off::BATCH_LENGTH..][..4].copy_from_slice(&batch_len.to_be_bytes());
    h[off::PARTITION_LEADER_EPOCH..][..4].copy_from_slice(&(-1i32).to_be_bytes());
    h[off::MAGIC] = 2;
    h[off::ATTRIBUTES..][..2].copy_from_slice(&attributes.to_be_bytes());
    let count = count as i32;
    h[off::LAST_OFFSET_DELTA..][..4].copy_from_slice(&(count - 1).to_be_bytes());
    h[off::BASE_TIMESTAMP..][..8].copy_from_slice(&base_timestamp.to_be_bytes());
    h[off::MAX_TIMESTAMP..][..8].copy_from_slice(&max_timestamp.to_be_bytes());
    h[off::PRODUCER_ID..][..8].copy_from_slice(&opts.producer_id.to_be_bytes());
    h[off::PRODUCER_EPOCH..][..2].copy_from_slice(&opts.producer_epoch.to_be_bytes());
    h[off::BASE_SEQUENCE..][..4].copy_from_slice(&opts.base_sequence.to_be_bytes());
    h[off::RECORD_COUNT..][..4].copy_from_slice(&count.to_be_bytes());
    if !opts.defer_crc {
        let crc = batch_crc(out);
        out[off::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

/// One record's encoded sizes and varint values (see [`RecordBatchWriter::layout`]).
struct Layout {
    /// Zig-zag timestampDelta.
    ts_delta: u64,
    /// Zig-zag offsetDelta.
    offset_delta: u64,
    /// Everything after the record's length varint.
    body: usize,
    /// The whole record: length varint and body.
    size: usize,
}

/// A write position in a slice sized for what is written; writes past its end are dropped
/// (never a panic), which only a wrong size could cause.
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Out<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.pos) {
            *slot = b;
        }
        self.pos += 1;
    }

    #[inline]
    fn uvarint(&mut self, v: u64) {
        self.pos += encode_uvarint(v, self.buf.get_mut(self.pos..).unwrap_or_default());
    }

    /// A nullable length-prefixed byte field; returns where its bytes landed.
    #[inline]
    fn field(&mut self, b: Option<&[u8]>) -> Option<Range<usize>> {
        let Some(b) = b else {
            self.uvarint(zigzag64(-1));
            return None;
        };
        self.uvarint(zigzag64(b.len() as i64));
        let range = self.pos..self.pos + b.len();
        if let Some(dst) = self.buf.get_mut(range.clone()) {
            dst.copy_from_slice(b);
        }
        self.pos = range.end;
        Some(range)
    }
}

/// A finished RecordBatch v2, ready to be put in a Produce request.
///
/// Cloning is cheap (`Bytes`), so a retry can resend the same batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBatch {
    bytes: Bytes,
    record_count: i32,
    compression: Compression,
}

impl SealedBatch {
    /// The complete batch bytes (header included).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Consumes the batch, returning its bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Number of records in the batch.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a sealed batch holds at least its header and one record.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The codec actually used (None if compression did not shrink the records).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.bytes[at..at + N]);
        a
    }

    /// The producer id in the header.
    pub fn producer_id(&self) -> i64 {
        i64::from_be_bytes(self.field(off::PRODUCER_ID))
    }

    /// The producer epoch in the header.
    pub fn producer_epoch(&self) -> i16 {
        i16::from_be_bytes(self.field(off::PRODUCER_EPOCH))
    }

    /// The base sequence in the header.
    pub fn base_sequence(&self) -> i32 {
        i32::from_be_bytes(self.field(off::BASE_SEQUENCE))
    }

    /// Whether the transactional attribute bit is set.
    pub fn is_transactional(&self) -> bool {
        i16::from_be_bytes(self.field(off::ATTRIBUTES)) & ATTR_TRANSACTIONAL != 0
    }

    /// The CRC-32C stored in the header.
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.field(off::CRC))
    }

    /// Rewrites producer id, epoch, base sequence and the transactional bit in place and
    /// recomputes the CRC; no re-encode, no re-compress.
    ///
    /// The CRC is recomputed over the whole batch: with hardware CRC-32C that is a few
    /// microseconds for 100 KB, cheaper than `crc32c_combine`'s matrix method at batch sizes
    /// (measured ~6.5 µs for 40 KB). If the bytes are shared (a clone is still held, e.g. by an
    /// in-flight request), they are copied once first.
    pub fn restamp(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        transactional: bool,
    ) {
        let mut b = match std::mem::take(&mut self.bytes).try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        b[off::PRODUCER_ID..][..8].copy_from_slice(&producer_id.to_be_bytes());
        b[off::PRODUCER_EPOCH..][..2].copy_from_slice(&producer_epoch.to_be_bytes());
        b[off::BASE_SEQUENCE..][..4].copy_from_slice(&base_sequence.to_be_bytes());
        let mut attributes = i16::from_be_bytes([b[off::ATTRIBUTES], b[off::ATTRIBUTES + 1]]);
        if transactional {
            attributes |= ATTR_TRANSACTIONAL;
        } else {
            attributes &= !ATTR_TRANSACTIONAL;
        }
        b[off::ATTRIBUTES..][..2].copy_from_slice(&attributes.to_be_bytes());
        let crc = batch_crc(&b);
        b[off::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
        self.bytes = b.freeze();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sealing_in_place_gives_the_same_batch_without_copying_records() {
        let h = [RecordHeader {
            key: "h",
            value: None,
        }];
        let mut w = RecordBatchWriter::new();
        for i in 0..50_i64 {
            let v = format!("value-{i}");
            w.append(1_000 + i, Some(b"k"), Some(v.as_bytes()), &h);
        }
        let opts = SealOptions {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 40,
            transactional: true,
            ..SealOptions::default()
        };
        let copied = w.seal(&opts).unwrap();
        let records = w.records_bytes().to_vec();
        let records_at = w.records_bytes().as_ptr();
        let in_place = w.seal_in_place(&opts).unwrap();
        assert_eq!(in_place, copied);
        assert_eq!(&in_place.bytes()[HEADER_LEN..], &records[..]);
        // The same allocation: the records were not copied.
        assert_eq!(in_place.bytes()[HEADER_LEN..].as_ptr(), records_at);
        // The writer is empty and usable again.
        assert!(w.is_empty() && w.records_bytes().is_empty());
        assert!(matches!(w.seal_in_place(&opts), Err(BatchError::Empty)));
        w.append(5, None, Some(b"again"), &[]);
        assert_eq!(w.record_count(), 1);
        // With a codec it seals a copy and keeps the records.
        let lz = SealOptions {
            compression: Compression::Lz4,
            ..opts
        };
        let before = w.records_bytes().to_vec();
        let sealed = w.seal_in_place(&lz).unwrap();
        assert_eq!(sealed.record_count(), 1);
        assert_eq!(w.records_bytes(), &before[..]);
        // seal_records over the same records gives the same batch as the writer.
        let again = seal_records(&before, 1, 5, 5, &lz).unwrap();
        assert_eq!(again, w.seal(&lz).unwrap());
    }

    #[test]
    fn append_within_appends_exactly_up_to_the_limit() {
        let h = [RecordHeader {
            key: "h",
            value: Some(b"x"),
        }];
        let mut w = RecordBatchWriter::new();
        w.append(1_000, Some(b"k"), Some(b"v0"), &[]);
        let size = w.record_size(1_007, Some(b"key"), Some(b"value"), &h);
        let limit = w.records_bytes().len() + size;
        let before = w.records_bytes().to_vec();
        assert!(
            !w.try_append_within(limit - 1, 1_007, Some(b"key"), Some(b"value"), &h)
                .unwrap()
        );
        assert_eq!((w.records_bytes(), w.record_count()), (&before[..], 1));
        assert!(
            w.try_append_within(limit, 1_007, Some(b"key"), Some(b"value"), &h)
                .unwrap()
        );
        assert_eq!(w.records_bytes().len(), limit);
        // The same bytes as a plain append.
        let mut plain = RecordBatchWriter::new();
        plain.append(1_000, Some(b"k"), Some(b"v0"), &[]);
        plain.append(1_007, Some(b"key"), Some(b"value"), &h);
        assert_eq!(w.records_bytes(), plain.records_bytes());
    }
}
