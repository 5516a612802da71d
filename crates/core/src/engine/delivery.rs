//! Delivery reports: one per batch, borrowing every record from the batch's own buffer.
//!
//! A report owns the batch's uncompressed records section (the bytes the accumulator wrote)
//! and one `(opaque, enqueue instant)` pair per record. Keys, values and headers are read
//! back out of those bytes on demand, so emitting a report allocates nothing per record.

use core::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::kafka_protocol;

use super::accumulator::RecordBuf;
use crate::error::{ErrorCode, PersistenceStatus};
use crate::time::Instant;

/// Whose clock a delivered record's timestamp comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// The producer's timestamp (given by the caller at send).
    CreateTime,
    /// The broker's append time (the topic has `message.timestamp.type=LogAppendTime`).
    LogAppendTime,
}

/// Per-record bookkeeping that travels with a batch until its report is consumed.
#[derive(Debug)]
pub(crate) struct RecordMeta<O> {
    pub(crate) opaque: O,
    pub(crate) enqueued: Instant,
}

/// The outcome of one partition batch: every record of it, in send order.
#[derive(Debug)]
pub struct DeliveryReport<O> {
    pub(crate) topic: StrBytes,
    pub(crate) partition: i32,
    pub(crate) error: Option<ErrorCode>,
    pub(crate) status: PersistenceStatus,
    pub(crate) base_offset: i64,
    pub(crate) timestamp_type: TimestampType,
    pub(crate) log_append_time_ms: i64,
    pub(crate) records: RecordBuf,
    pub(crate) metas: Vec<RecordMeta<O>>,
    pub(crate) completed: Instant,
    /// Bytes this batch counted against `queue.buffering.max.kbytes`.
    pub(crate) accounted_bytes: usize,
}

impl<O> DeliveryReport<O> {
    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The bytes this report's records counted against `queue.buffering.max.kbytes`.
    pub fn accounted_bytes(&self) -> usize {
        self.accounted_bytes
    }

    /// The partition, or -1 when the records never got one (e.g. unknown topic).
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// `None` on success, else why every record of the batch failed.
    pub fn error(&self) -> Option<ErrorCode> {
        self.error
    }

    /// Whether the records may be in the log.
    pub fn status(&self) -> PersistenceStatus {
        self.status
    }

    /// Offset of the first record, -1 when unknown (failure, or `acks=0`).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Whose clock the records' timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// Whether the batch has no records (never true for an emitted report).
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Time from the first record's `send` to the report.
    pub fn latency(&self) -> Duration {
        self.metas
            .first()
            .map_or(Duration::ZERO, |m| self.completed - m.enqueued)
    }

    /// The records, borrowed from the report, without their opaques.
    pub fn records(&self) -> Records<'_, O> {
        Records {
            cursor: self.records.cursor(),
            ctx: self.view_ctx(),
            index: 0,
            metas: self.metas.iter(),
        }
    }

    /// The records section as shared bytes, without a copy. Record views from
    /// [`records`](Self::records) and [`drain`](Self::drain) borrow from this same memory, so
    /// a part of one (e.g. [`HeadersView::wire_bytes`]) can be kept as a `Bytes` sharing it.
    pub fn share_records(&mut self) -> Bytes {
        self.records.share()
    }

    /// Every record together with its opaque, by value, in send order.
    pub fn drain(&mut self) -> Drain<'_, O> {
        let ctx = self.view_ctx();
        Drain {
            cursor: self.records.cursor(),
            ctx,
            index: 0,
            metas: self.metas.drain(..),
        }
    }

    /// Every record's `(offset, timestamp)` together with its opaque, by value, in send
    /// order: what [`drain`](Self::drain) gives without reading keys, values and headers
    /// (with LogAppendTime, without reading the records at all).
    pub fn drain_stamps(&mut self) -> DrainStamps<'_, O> {
        let ctx = self.view_ctx();
        DrainStamps {
            cursor: self.records.cursor(),
            ctx,
            index: 0,
            metas: self.metas.drain(..),
        }
    }

    /// Every record's offset together with its opaque, by value, in send order, without
    /// reading the records: for a caller that kept the rest of what it reports (such as the
    /// record's CreateTime) in the opaque. Offsets are -1 when the broker gave none.
    pub fn drain_offsets(&mut self) -> impl Iterator<Item = (i64, O)> + '_ {
        let ctx = self.view_ctx();
        (0_i64..)
            .zip(self.metas.drain(..))
            .map(move |(i, meta)| (ctx.offset(i), meta.opaque))
    }

    /// The broker's LogAppendTime (ms) when the topic uses it: then every record's
    /// timestamp; `None` for CreateTime topics.
    pub fn log_append_time(&self) -> Option<i64> {
        self.view_ctx().log_append_time_ms
    }

    fn view_ctx(&self) -> ViewCtx {
        ViewCtx {
            base_offset: self.base_offset,
            base_timestamp: self.records.base_timestamp(),
            log_append_time_ms: match self.timestamp_type {
                TimestampType::LogAppendTime => Some(self.log_append_time_ms),
                TimestampType::CreateTime => None,
            },
            completed: self.completed,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct ViewCtx {
    base_offset: i64,
    base_timestamp: i64,
    log_append_time_ms: Option<i64>,
    completed: Instant,
}

impl ViewCtx {
    /// The offset of the report's `index`th record; -1 when the broker gave none.
    fn offset(&self, index: i64) -> i64 {
        if self.base_offset < 0 {
            -1
        } else {
            self.base_offset + index
        }
    }
}

/// One delivered (or failed) record, borrowed from its report.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: HeadersView<'a>,
    latency: Duration,
}

impl<'a> RecordView<'a> {
    /// base offset + index in the batch, or -1 when the base offset is unknown.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// CreateTime given at send, or the broker's LogAppendTime (see the report's type).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The key as sent.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value as sent.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The headers as sent, in order.
    pub fn headers(&self) -> HeadersView<'a> {
        self.headers
    }

    /// Time from this record's `send` to its report.
    pub fn latency(&self) -> Duration {
        self.latency
    }
}

/// A record's headers, decoded lazily from the batch bytes.
#[derive(Clone, Copy, Debug)]
pub struct HeadersView<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> HeadersView<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers in record-header wire encoding, without the leading count.
    pub fn wire_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// `(key, value)` pairs in order; a `None` value is a null header value.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter {
            left: self.count,
            cur: Cursor {
                bytes: self.bytes,
                pos: 0,
            },
        }
    }
}

impl<'a> IntoIterator for HeadersView<'a> {
    type Item = (&'a str, Option<&'a [u8]>);
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// Iterator over a record's headers.
#[derive(Clone, Debug)]
pub struct HeaderIter<'a> {
    left: usize,
    cur: Cursor<'a>,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, Option<&'a [u8]>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were written by our own encoder from a `&str`, so they are UTF-8; a
        // failure here would be a bug, and yields an empty key rather than a panic.
        let key = self.cur.bytes_field()?.unwrap_or_default();
        let key = core::str::from_utf8(key).unwrap_or_default();
        let value = self.cur.bytes_field()?;
        Some((key, value))
    }
}

/// Iterator over a report's records (see [`DeliveryReport::records`]).
pub struct Records<'a, O> {
    cursor: Cursor<'a>,
    ctx: ViewCtx,
    index: i64,
    metas: core::slice::Iter<'a, RecordMeta<O>>,
}

impl<'a, O> Iterator for Records<'a, O> {
    type Item = RecordView<'a>;
    #[inline(always)]
    fn next(&mut self) -> Option<RecordView<'a>> {
        let meta = self.metas.next()?;
        let view = parse_record(&mut self.cursor, &self.ctx, self.index, Some(meta.enqueued))?;
        self.index += 1;
        Some(view)
    }
}

/// Draining iterator over `(record, opaque)` pairs (see [`DeliveryReport::drain`]).
pub struct Drain<'a, O> {
    cursor: Cursor<'a>,
    ctx: ViewCtx,
    index: i64,
    metas: std::vec::Drain<'a, RecordMeta<O>>,
}

impl<'a, O> Iterator for Drain<'a, O> {
    type Item = (RecordView<'a>, O);
    // Always inlined, as `parse_record`: the pair is too large to return through memory.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let meta = self.metas.next()?;
        let view = parse_record(&mut self.cursor, &self.ctx, self.index, Some(meta.enqueued))?;
        self.index += 1;
        Some((view, meta.opaque))
    }
}

/// Draining iterator over `((offset, timestamp), opaque)` (see
/// [`DeliveryReport::drain_stamps`]).
pub struct DrainStamps<'a, O> {
    cursor: Cursor<'a>,
    ctx: ViewCtx,
    index: i64,
    metas: std::vec::Drain<'a, RecordMeta<O>>,
}

impl<O> Iterator for DrainStamps<'_, O> {
    type Item = ((i64, i64), O);
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let meta = self.metas.next()?;
        let timestamp = match self.ctx.log_append_time_ms {
            Some(t) => t,
            None => self
                .ctx
                .base_timestamp
                .wrapping_add(self.cursor.next_timestamp_delta()?),
        };
        let offset = self.ctx.offset(self.index);
        self.index += 1;
        Some(((offset, timestamp), meta.opaque))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.metas.len()))
    }
}

// Always inlined: returned through memory, its view was read back with wider loads than it
// was written with (a store-forwarding stall per record, the top sample of `poll`).
#[inline(always)]
fn parse_record<'a>(
    cur: &mut Cursor<'a>,
    ctx: &ViewCtx,
    index: i64,
    enqueued: Option<Instant>,
) -> Option<RecordView<'a>> {
    let RawRecord {
        ts_delta,
        key,
        value,
        headers,
    } = cur.next_record()?;
    Some(RecordView {
        offset: ctx.offset(index),
        timestamp: ctx
            .log_append_time_ms
            .unwrap_or_else(|| ctx.base_timestamp.wrapping_add(ts_delta)),
        key,
        value,
        headers,
        latency: enqueued.map_or(Duration::ZERO, |e| ctx.completed - e),
    })
}

/// A bounds-checked reader over bytes this crate encoded.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            z |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        None
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// A varint length then that many bytes; length -1 is `None`.
    #[inline]
    fn bytes_field(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.varint()?;
        if len < 0 {
            return Some(None);
        }
        Some(Some(self.take(usize::try_from(len).ok()?)?))
    }

    /// The next record's fields after its attributes byte; `self` moves past the record.
    #[inline]
    fn next_fields(&mut self) -> Option<Self> {
        let len = usize::try_from(self.varint()?).ok()?;
        let mut r = Self::new(self.take(len)?);
        let _attributes = r.take(1)?;
        Some(r)
    }

    /// The next record's timestamp delta, skipping the rest of it.
    #[inline]
    fn next_timestamp_delta(&mut self) -> Option<i64> {
        self.next_fields()?.varint()
    }

    /// The next whole record (its key, value, headers, timestamp delta), for replay.
    #[inline(always)]
    pub(crate) fn next_record(&mut self) -> Option<RawRecord<'a>> {
        let mut r = self.next_fields()?;
        let ts_delta = r.varint()?;
        let _offset_delta = r.varint()?;
        let key = r.bytes_field()?;
        let value = r.bytes_field()?;
        let count = usize::try_from(r.varint()?).ok()?;
        Some(RawRecord {
            ts_delta,
            key,
            value,
            headers: HeadersView {
                count,
                bytes: r.bytes.get(r.pos..).unwrap_or_default(),
            },
        })
    }
}

/// A record read back from a records buffer, for replay into a partition batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawRecord<'a> {
    pub(crate) ts_delta: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: HeadersView<'a>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use purekafka_protocol::batch::RecordHeader;

    use super::*;

    #[test]
    fn report_reads_records_back_from_the_batch_bytes() {
        let mut buf = RecordBuf::new();
        let h = [
            RecordHeader {
                key: "a",
                value: None,
            },
            RecordHeader {
                key: "b",
                value: Some(b""),
            },
        ];
        buf.append(1_000, Some(b"k0"), None, &h);
        buf.append(990, None, Some(b"v1"), &[]);
        let mut report = DeliveryReport {
            topic: StrBytes::from_static_str("t"),
            partition: 3,
            error: None,
            status: PersistenceStatus::Persisted,
            base_offset: 40,
            timestamp_type: TimestampType::CreateTime,
            log_append_time_ms: -1,
            records: buf,
            metas: vec![
                RecordMeta {
                    opaque: 'x',
                    enqueued: Instant::from_millis(1),
                },
                RecordMeta {
                    opaque: 'y',
                    enqueued: Instant::from_millis(4),
                },
            ],
            completed: Instant::from_millis(10),
            accounted_bytes: 0,
        };
        assert_eq!(report.latency(), Duration::from_millis(9));
        let got: Vec<_> = report
            .drain()
            .map(|(v, o)| {
                let hs: Vec<_> = v.headers().iter().collect();
                (
                    v.offset(),
                    v.timestamp(),
                    v.key(),
                    v.value(),
                    hs,
                    v.latency(),
                    o,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    40,
                    1_000,
                    Some(&b"k0"[..]),
                    None,
                    vec![("a", None), ("b", Some(&b""[..]))],
                    Duration::from_millis(9),
                    'x'
                ),
                (
                    41,
                    990,
                    None,
                    Some(&b"v1"[..]),
                    vec![],
                    Duration::from_millis(6),
                    'y'
                ),
            ]
        );
        assert!(report.is_empty());
    }

    fn report_of(
        records: &[(i64, &[u8])],
        base_offset: i64,
        timestamp_type: TimestampType,
    ) -> DeliveryReport<usize> {
        let mut buf = RecordBuf::new();
        for (ts, v) in records {
            let h = [RecordHeader {
                key: "h",
                value: Some(v),
            }];
            buf.append(*ts, Some(v), Some(v), &h);
        }
        DeliveryReport {
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            error: None,
            status: PersistenceStatus::Persisted,
            base_offset,
            timestamp_type,
            log_append_time_ms: 77,
            records: buf,
            metas: (0..records.len())
                .map(|i| RecordMeta {
                    opaque: i,
                    enqueued: Instant::from_millis(1),
                })
                .collect(),
            completed: Instant::from_millis(2),
            accounted_bytes: 0,
        }
    }

    #[test]
    fn stamps_are_the_records_offsets_and_timestamps() {
        let records: Vec<(i64, &[u8])> = vec![
            (5_000, b"a"),
            (4_000, &[7; 300]),
            (i64::MAX - 1, b""),
            (6_000, b"bb"),
        ];
        for (base_offset, tt) in [
            (100, TimestampType::CreateTime),
            (-1, TimestampType::CreateTime),
            (100, TimestampType::LogAppendTime),
        ] {
            let mut full = report_of(&records, base_offset, tt);
            let want: Vec<_> = full
                .drain()
                .map(|(v, o)| ((v.offset(), v.timestamp()), o))
                .collect();
            let mut light = report_of(&records, base_offset, tt);
            let got: Vec<_> = light.drain_stamps().collect();
            assert_eq!(got, want, "{base_offset} {tt:?}");
            assert_eq!(got.len(), records.len());
            let mut bare = report_of(&records, base_offset, tt);
            assert_eq!(
                bare.log_append_time(),
                (tt == TimestampType::LogAppendTime).then_some(77)
            );
            let offsets: Vec<_> = bare.drain_offsets().collect();
            let want: Vec<_> = want.iter().map(|&((offset, _), o)| (offset, o)).collect();
            assert_eq!(offsets, want, "{base_offset} {tt:?}");
            assert!(bare.is_empty());
        }
    }
}
