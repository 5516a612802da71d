//! Per-partition batching: the open batch, the queue of closed batches, and the size rules.
//!
//! Invariants:
//! - A partition's batches are ordered by `seq` (creation order, librdkafka's msgid order):
//!   `queued` holds closed batches oldest first, `open` is always the newest. A retried batch
//!   goes back into `queued` at its `seq` position, so a partition always resends in the
//!   original order.
//! - A batch always holds at least one record; `batch.size` and `batch.num.messages` are
//!   checked before appending the second and later records (librdkafka: "checked after the
//!   first message"), so a single record larger than `batch.size` still travels alone.
//! - Key, value and headers are copied once, into the batch's records buffer; per-record
//!   bookkeeping is one `RecordMeta` (opaque + enqueue instant) in a per-batch `Vec`.

use std::collections::VecDeque;

use bytes::Bytes;

use super::delivery::{Cursor, RecordMeta};
use crate::config::Compression;
use crate::time::Instant;
use purekafka_protocol::batch::{
    BatchError, CompressedRecords, HEADER_LEN as BATCH_OVERHEAD, RecordBatchWriter, RecordHeader,
    SealOptions, seal_compressed, seal_records,
};
use purekafka_protocol::varint::varint_len;

/// librdkafka's per-message overhead in its `message.max.bytes` check at produce time.
pub(crate) const MESSAGE_OVERHEAD: usize = 36;

/// The bytes a record counts against `queue.buffering.max.kbytes` and `message.max.bytes`.
pub(crate) fn payload_size(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> usize {
    let mut n = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    for h in headers {
        // librdkafka's `rd_kafka_headers_serialized_size`: varint key length, key, varint
        // value length (-1 for null), value.
        let v = h.value.map_or(0, <[u8]>::len);
        n += varint_len(h.key.len() as i64) + h.key.len();
        n += h.value.map_or(1, |_| varint_len(v as i64)) + v;
    }
    n
}

/// A records buffer: the uncompressed records section of one batch (or of a topic's pending
/// queue), plus the first record's timestamp the deltas are relative to.
///
/// Once an uncompressed batch is sealed, its records live in the sealed bytes themselves
/// (`Frozen`: sealed in place, no copy); the buffer keeps a view of them for the delivery
/// report and for a re-seal (a copy, only after an epoch bump).
#[derive(Debug)]
pub(crate) struct RecordBuf {
    state: BufState,
    base_timestamp: i64,
}

#[derive(Debug)]
enum BufState {
    Writing(RecordBatchWriter),
    /// `bytes` is a whole uncompressed batch: header (or, when handed out for compression,
    /// unwritten room for it), then the records.
    Frozen {
        bytes: Bytes,
        count: usize,
        max_timestamp: i64,
    },
}

impl Default for RecordBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordBuf {
    pub(crate) fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty buffer that holds `bytes` of records without reallocating.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            state: BufState::Writing(RecordBatchWriter::with_capacity(bytes)),
            base_timestamp: 0,
        }
    }

    /// The uncompressed records section.
    fn records(&self) -> &[u8] {
        match &self.state {
            BufState::Writing(w) => w.records_bytes(),
            BufState::Frozen { bytes, .. } => bytes.get(BATCH_OVERHEAD..).unwrap_or_default(),
        }
    }

    pub(crate) fn bytes_len(&self) -> usize {
        self.records().len()
    }

    pub(crate) fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The writer for a record stamped `timestamp` (which becomes the base timestamp of an
    /// empty buffer); `None` once frozen: a sealed batch never gets more records.
    fn writer_at(&mut self, timestamp: i64) -> Option<&mut RecordBatchWriter> {
        let BufState::Writing(w) = &mut self.state else {
            return None;
        };
        if w.is_empty() {
            self.base_timestamp = timestamp;
        }
        Some(w)
    }

    pub(crate) fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) {
        let Some(w) = self.writer_at(timestamp) else {
            return;
        };
        // `send` rejects records over librdkafka's 10^9-byte `message.max.bytes` ceiling and
        // batches stop at 10^6 records, so the writer's 2 GiB / i32::MAX limits can't be hit.
        let _ = w.append(timestamp, key, value, headers);
    }

    /// Appends to a non-empty buffer if the records section stays within
    /// `max_records_bytes`; `false` leaves it unchanged.
    pub(crate) fn append_within(
        &mut self,
        max_records_bytes: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
    ) -> bool {
        let Some(w) = self.writer_at(timestamp) else {
            return false;
        };
        // As in `append`, the writer's size errors can't happen; an `Err` counts as appended
        // so the caller's bookkeeping matches `append`'s.
        w.try_append_within(max_records_bytes, timestamp, key, value, headers)
            .unwrap_or(true)
    }

    pub(crate) fn cursor(&self) -> Cursor<'_> {
        Cursor::new(self.records())
    }

    /// The records, shared without a copy, for compression elsewhere; the buffer takes no
    /// more records afterwards.
    pub(crate) fn share(&mut self) -> Bytes {
        if let BufState::Writing(w) = &mut self.state {
            let max_timestamp = w.max_timestamp().unwrap_or(self.base_timestamp);
            let count = w.record_count();
            self.state = BufState::Frozen {
                bytes: w.take_records(),
                count,
                max_timestamp,
            };
        }
        match &self.state {
            BufState::Frozen { bytes, .. } => bytes.slice(BATCH_OVERHEAD.min(bytes.len())..),
            BufState::Writing(_) => Bytes::new(),
        }
    }

    /// Seals the batch from its records compressed elsewhere (see [`RecordBuf::share`]).
    pub(crate) fn seal_compressed(
        &self,
        compressed: CompressedRecords,
        opts: &SealOptions,
    ) -> Result<Bytes, BatchError> {
        let (count, max_timestamp) = match &self.state {
            BufState::Frozen {
                count,
                max_timestamp,
                ..
            } => (*count, *max_timestamp),
            BufState::Writing(w) => (
                w.record_count(),
                w.max_timestamp().unwrap_or(self.base_timestamp),
            ),
        };
        seal_compressed(compressed, count, self.base_timestamp, max_timestamp, opts)
            .map(|s| s.into_bytes())
    }

    /// Seals the batch. Uncompressed, the first seal is in place (the records become the
    /// batch's bytes, not copied); with a codec, or when sealing again after an epoch bump,
    /// it seals a copy.
    pub(crate) fn seal(&mut self, opts: &SealOptions) -> Result<Bytes, BatchError> {
        match &mut self.state {
            BufState::Writing(w) if opts.compression == Compression::None => {
                let max_timestamp = w.max_timestamp().unwrap_or(self.base_timestamp);
                let count = w.record_count();
                let sealed = w.seal_in_place(opts)?.into_bytes();
                self.state = BufState::Frozen {
                    bytes: sealed.clone(),
                    count,
                    max_timestamp,
                };
                Ok(sealed)
            }
            BufState::Writing(w) => w.seal(opts).map(|s| s.into_bytes()),
            BufState::Frozen {
                bytes,
                count,
                max_timestamp,
            } => seal_records(
                bytes.get(BATCH_OVERHEAD..).unwrap_or_default(),
                *count,
                self.base_timestamp,
                *max_timestamp,
                opts,
            )
            .map(|s| s.into_bytes()),
        }
    }
}

/// Batch-level fields for sealing; `idempotence` is `(producer id, epoch, base sequence)`;
/// `transactional` sets the batch's transactional attribute bit. The CRC is left to the
/// request frame (see [`SealOptions::defer_crc`]): sealing runs under the caller's engine
/// lock, and the CRC, a pass over every byte of the batch (~80 µs for 1 MB), held the
/// sending threads off for as long.
pub(crate) fn seal_options(
    compression: Compression,
    compression_level: i32,
    idempotence: Option<(i64, i16, i32)>,
    transactional: bool,
) -> SealOptions {
    let (producer_id, producer_epoch, base_sequence) = idempotence.unwrap_or((-1, -1, -1));
    SealOptions {
        compression,
        compression_level,
        producer_id,
        producer_epoch,
        base_sequence,
        transactional,
        defer_crc: true,
    }
}

/// One partition batch, from its first record until its delivery report.
#[derive(Debug)]
pub(crate) struct Batch<O> {
    /// Creation order within the partition.
    pub(crate) seq: u64,
    pub(crate) records: RecordBuf,
    pub(crate) metas: Vec<RecordMeta<O>>,
    pub(crate) first_enqueue: Instant,
    /// Bytes counted against `queue.buffering.max.kbytes`.
    pub(crate) accounted_bytes: usize,
    /// Retries that counted against `message.send.max.retries`.
    pub(crate) retries: u32,
    /// Times the batch was put into a request.
    pub(crate) attempts: u32,
    /// Sent at least once: a later failure may have been written.
    pub(crate) possibly_persisted: bool,
    /// The sealed wire bytes, kept so a retry resends the identical batch.
    pub(crate) sealed: Option<Bytes>,
    /// The error of the last failed attempt (reported if the batch is given up later).
    pub(crate) last_error: Option<crate::error::ErrorCode>,
    /// Compression offload: the records are being compressed by the caller.
    pub(crate) compressing: bool,
    /// Compression offload: the compressed records, sealed at drain time.
    pub(crate) compressed: Option<CompressedRecords>,
}

impl<O> Batch<O> {
    fn new(seq: u64, now: Instant, size: BatchSizeHint) -> Self {
        Self {
            seq,
            records: RecordBuf::with_capacity(size.bytes),
            metas: Vec::with_capacity(size.records),
            first_enqueue: now,
            accounted_bytes: 0,
            retries: 0,
            attempts: 0,
            possibly_persisted: false,
            sealed: None,
            last_error: None,
            compressing: false,
            compressed: None,
        }
    }

    pub(crate) fn record_count(&self) -> usize {
        self.metas.len()
    }

    /// Wire size estimate: header plus records (exact when uncompressed).
    pub(crate) fn wire_size(&self) -> usize {
        self.sealed
            .as_ref()
            .map_or_else(|| BATCH_OVERHEAD + self.records.bytes_len(), Bytes::len)
    }
}

/// The limits an append is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    pub(crate) batch_size: usize,
    pub(crate) batch_num_messages: usize,
}

/// What an append changed, for the engine's readiness and timer bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Appended {
    /// The record opened a new batch (arm its linger timer).
    pub(crate) opened: bool,
    /// A full batch was closed before the record was appended (the partition is ready).
    pub(crate) closed: bool,
}

/// Records a new batch reserves beyond its partition's last one, at least.
const MIN_HEADROOM_RECORDS: usize = 8;

/// The size of a partition's last closed batch: a new batch reserves that much up front, so
/// a steady stream fills its buffers without the reallocation copies of growing from empty.
#[derive(Clone, Copy, Debug, Default)]
struct BatchSizeHint {
    bytes: usize,
    records: usize,
}

impl BatchSizeHint {
    fn of<O>(b: &Batch<O>) -> Self {
        Self {
            bytes: b.records.bytes_len(),
            records: b.metas.len(),
        }
    }

    /// Room for a batch a quarter larger than this one, within the batch limits. Sized
    /// exactly like the last batch, every batch that came out larger (about half of them
    /// under a steady load) grew its buffers by reallocating: a copy of the whole batch
    /// into fresh pages (the sending thread's memmove and page faults, ~8 % of all samples
    /// with 16 partitions, 16-byte keys, `linger.ms = 5`).
    ///
    /// At least [`MIN_HEADROOM_RECORDS`] records more: batches of a few records (`linger.ms =
    /// 0`, many partitions) vary by more than a quarter from one to the next, and each that
    /// outgrew its reservation reallocated both buffers (16 partitions, 16-byte keys, 4.6
    /// records per batch at 0.87 M msgs/s: allocation and copies fell from ~20 % to 7-10 %
    /// of the sending thread's samples).
    fn with_headroom(self, limits: BatchLimits) -> Self {
        let per_record = self.bytes.checked_div(self.records).unwrap_or(0);
        let extra_records = (self.records / 4).max(MIN_HEADROOM_RECORDS);
        let extra_bytes = (self.bytes / 4).max(per_record * MIN_HEADROOM_RECORDS);
        Self {
            bytes: (self.bytes + extra_bytes).min(limits.batch_size.saturating_sub(BATCH_OVERHEAD)),
            records: (self.records + extra_records).min(limits.batch_num_messages),
        }
    }
}

/// A partition's batches.
#[derive(Debug)]
pub(crate) struct PartitionQueue<O> {
    /// Closed batches, oldest first, sorted by `seq`.
    pub(crate) queued: VecDeque<Batch<O>>,
    /// The batch records are appended to.
    pub(crate) open: Option<Batch<O>>,
    next_seq: u64,
    /// Batches of this partition currently in requests.
    pub(crate) in_flight: u32,
    /// The broker those requests went to.
    pub(crate) in_flight_broker: Option<usize>,
    /// Idempotence: the producer sequence the next newly drained batch gets.
    pub(crate) producer_seq: i32,
    /// Idempotence: creation `seq` of the batches in flight (at most 5).
    pub(crate) inflight_seqs: Vec<u64>,
    /// Idempotence: a batch was acknowledged under the current epoch, so the broker holds
    /// producer state for this partition.
    pub(crate) idem_acked: bool,
    /// No request may take this partition's batches before this instant (retry backoff).
    pub(crate) backoff_until: Option<Instant>,
    /// The instant of the message-timeout timer currently armed for this partition.
    pub(crate) expiry_armed: Option<Instant>,
    /// Records (queued + open), for stats.
    pub(crate) msg_cnt: usize,
    /// Accounted bytes (queued + open), for stats.
    pub(crate) msg_bytes: usize,
    last_batch: BatchSizeHint,
}

impl<O> Default for PartitionQueue<O> {
    fn default() -> Self {
        Self {
            queued: VecDeque::new(),
            open: None,
            next_seq: 0,
            in_flight: 0,
            in_flight_broker: None,
            producer_seq: 0,
            inflight_seqs: Vec::new(),
            idem_acked: false,
            backoff_until: None,
            expiry_armed: None,
            msg_cnt: 0,
            msg_bytes: 0,
            last_batch: BatchSizeHint::default(),
        }
    }
}

impl<O> PartitionQueue<O> {
    /// Appends one record, closing the open batch first if the record doesn't fit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &mut self,
        now: Instant,
        limits: BatchLimits,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
        opaque: O,
        accounted: usize,
    ) -> Appended {
        let mut out = Appended::default();
        // The open batch takes the record if it has room for it (sized once, in the writer);
        // otherwise it closes and the record opens the next batch.
        let appended = self.open.as_mut().is_some_and(|open| {
            open.metas.len() < limits.batch_num_messages
                && open.records.append_within(
                    limits.batch_size.saturating_sub(BATCH_OVERHEAD),
                    timestamp,
                    key,
                    value,
                    headers,
                )
        });
        if !appended && self.open.is_some() {
            self.close_open();
            out.closed = true;
        }
        let batch = match &mut self.open {
            Some(b) => b,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                out.opened = true;
                // The hint never exceeds what one batch may hold.
                self.open
                    .insert(Batch::new(seq, now, self.last_batch.with_headroom(limits)))
            }
        };
        if !appended {
            batch.records.append(timestamp, key, value, headers);
        }
        batch.metas.push(RecordMeta {
            opaque,
            enqueued: now,
        });
        batch.accounted_bytes += accounted;
        self.msg_cnt += 1;
        self.msg_bytes += accounted;
        // Close eagerly when the count limit is reached so the partition is ready now rather
        // than at the next append or linger.
        if batch.metas.len() >= limits.batch_num_messages {
            self.close_open();
            out.closed = true;
        }
        out
    }

    /// Moves the open batch (if any) to the back of the closed queue.
    pub(crate) fn close_open(&mut self) {
        if let Some(b) = self.open.take() {
            self.last_batch = BatchSizeHint::of(&b);
            self.queued.push_back(b);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.open.is_none()
    }

    /// The batch the next request would take.
    pub(crate) fn head(&self) -> Option<&Batch<O>> {
        self.queued.front().or(self.open.as_ref())
    }

    /// Takes the next batch for a request.
    pub(crate) fn take_head(&mut self) -> Option<Batch<O>> {
        let b = match self.queued.pop_front() {
            Some(b) => b,
            None => {
                let b = self.open.take()?;
                self.last_batch = BatchSizeHint::of(&b);
                b
            }
        };
        self.msg_cnt -= b.record_count();
        self.msg_bytes -= b.accounted_bytes;
        Some(b)
    }

    /// Puts a batch back (a retry) at its creation-order position.
    pub(crate) fn reinsert(&mut self, batch: Batch<O>) {
        self.msg_cnt += batch.record_count();
        self.msg_bytes += batch.accounted_bytes;
        let pos = self.queued.partition_point(|b| b.seq < batch.seq);
        self.queued.insert(pos, batch);
    }

    /// Removes and returns the queued batches `pred` selects, keeping the others in order.
    pub(crate) fn take_queued_where(&mut self, pred: impl Fn(&Batch<O>) -> bool) -> Vec<Batch<O>> {
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.queued.len());
        for b in self.queued.drain(..) {
            if pred(&b) {
                self.msg_cnt -= b.record_count();
                self.msg_bytes -= b.accounted_bytes;
                out.push(b);
            } else {
                keep.push_back(b);
            }
        }
        self.queued = keep;
        out
    }

    /// Removes and returns every batch not in flight (purge, failure of the partition).
    pub(crate) fn take_all(&mut self) -> Vec<Batch<O>> {
        self.close_open();
        self.msg_cnt = 0;
        self.msg_bytes = 0;
        self.queued.drain(..).collect()
    }

    /// Removes the leading batches whose first record has waited `timeout` by `now`.
    pub(crate) fn take_expired(
        &mut self,
        now: Instant,
        timeout: core::time::Duration,
    ) -> Vec<Batch<O>> {
        let mut out = Vec::new();
        while self
            .head()
            .is_some_and(|b| b.first_enqueue + timeout <= now)
        {
            if let Some(b) = self.take_head() {
                out.push(b);
            }
        }
        out
    }

    /// Whether a batch is closed (full, waiting for compression, or a retry): it cannot grow.
    pub(crate) fn has_closed(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Whether the head batch may go now: it is closed, or lingered long enough, or the
    /// producer is flushing.
    pub(crate) fn head_ready(
        &self,
        now: Instant,
        linger: core::time::Duration,
        flushing: bool,
    ) -> bool {
        if !self.queued.is_empty() {
            return true;
        }
        self.open
            .as_ref()
            .is_some_and(|b| flushing || b.first_enqueue + linger <= now)
    }

    /// Idempotence: how many batches may be in flight. A broker without producer state for
    /// the partition accepts any first sequence, so until one batch is acknowledged a second
    /// one in flight could be written ahead of a first that fails (franz-go issue #223).
    pub(crate) fn idem_inflight_limit(&self) -> u32 {
        if self.idem_acked {
            super::idempotence::MAX_INFLIGHT_PER_PARTITION
        } else {
            1
        }
    }

    /// Whether retry backoff holds the partition at `now`.
    pub(crate) fn in_backoff(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        batch_size: 1_000_000,
        batch_num_messages: 2,
    };

    fn fill(q: &mut PartitionQueue<u32>, n: u32) {
        for i in 0..n {
            let t = Instant::from_millis(u64::from(i));
            q.append(t, LIMITS, 0, None, Some(b"v"), &[], i, 1);
        }
    }

    #[test]
    fn a_new_batch_reserves_a_quarter_or_eight_records_more_than_the_last_within_the_limits() {
        let last = BatchSizeHint {
            bytes: 80_000,
            records: 800,
        };
        let limits = BatchLimits {
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
        };
        let h = last.with_headroom(limits);
        assert_eq!((h.bytes, h.records), (100_000, 1_000));
        // Never more than one batch may hold: batch.size less the header, the count limit.
        let full = BatchSizeHint {
            bytes: 999_939,
            records: 9_000,
        };
        let h = full.with_headroom(limits);
        assert_eq!((h.bytes, h.records), (1_000_000 - BATCH_OVERHEAD, 10_000));
        // A small batch: room for eight records more (of its average size), not a quarter.
        let small = BatchSizeHint {
            bytes: 480,
            records: 4,
        };
        let h = small.with_headroom(limits);
        assert_eq!((h.bytes, h.records), (480 + 8 * 120, 12));
        let h = BatchSizeHint::default().with_headroom(limits);
        assert_eq!((h.bytes, h.records), (0, 8));
    }

    #[test]
    fn payload_size_counts_headers_serialized() {
        let h = [
            RecordHeader {
                key: "k",
                value: None,
            },
            RecordHeader {
                key: "key",
                value: Some(&[0u8; 100]),
            },
        ];
        // 3 + 4 + (1 + 1 + 1) + (1 + 3 + 2 + 100)
        assert_eq!(
            payload_size(Some(b"abc"), Some(b"vvvv"), &h),
            3 + 4 + 3 + 106
        );
    }

    #[test]
    fn retried_batches_go_back_in_creation_order() {
        let mut q = PartitionQueue::default();
        fill(&mut q, 6); // three batches of two
        let a = q.take_head().unwrap();
        let b = q.take_head().unwrap();
        assert_eq!((a.seq, b.seq), (0, 1));
        // Failures come back in any order; the queue restores creation order.
        q.reinsert(b);
        q.reinsert(a);
        let seqs: Vec<u64> = core::iter::from_fn(|| q.take_head())
            .map(|b| b.seq)
            .collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        assert_eq!((q.msg_cnt, q.msg_bytes), (0, 0));
    }

    #[test]
    fn batch_size_is_checked_after_the_first_record() {
        let limits = BatchLimits {
            batch_size: 70,
            batch_num_messages: 100,
        };
        let mut q: PartitionQueue<()> = PartitionQueue::default();
        let big = [0u8; 100];
        let a = q.append(Instant::ZERO, limits, 0, None, Some(&big), &[], (), 100);
        assert!(
            a.opened && !a.closed,
            "an oversized first record still opens a batch"
        );
        let a = q.append(Instant::ZERO, limits, 0, None, Some(b"x"), &[], (), 1);
        assert!(a.opened && a.closed);
        assert_eq!(q.queued.len(), 1);
        assert_eq!(q.head().unwrap().record_count(), 1);
    }

    #[test]
    fn head_readiness_follows_linger_and_flush() {
        let linger = core::time::Duration::from_millis(5);
        let mut q: PartitionQueue<()> = PartitionQueue::default();
        let limits = BatchLimits {
            batch_size: 1_000,
            batch_num_messages: 10,
        };
        q.append(Instant::from_millis(10), limits, 0, None, None, &[], (), 0);
        assert!(!q.head_ready(Instant::from_millis(14), linger, false));
        assert!(q.head_ready(Instant::from_millis(14), linger, true));
        assert!(q.head_ready(Instant::from_millis(15), linger, false));
    }
}
