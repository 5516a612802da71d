//! Completion slots of [`FutureProducer`](super::FutureProducer)'s delivery futures.
//!
//! A future's result lives in a slot of a ring shared by the producer's driver thread (which
//! fills slots as delivery reports arrive) and the futures (which take their result). Each
//! slot is a small state machine on atomics, so a record costs no lock and no allocation:
//! claiming a slot is a counter increment and a compare-and-swap, filling it a few stores
//! and a compare-and-swap, taking the result a load and a store. (A mutex-guarded table
//! cost a lock on each of the three and made the FutureProducer 0.74x the BaseProducer.)
//!
//! Slots are claimed in ring order. The ring starts at one chunk and doubles when the
//! counter comes round to slots still held (more records in flight than it has slots), up
//! to twice `queue.buffering.max.messages`: a producer with few records in flight keeps
//! reusing a few cache-warm kilobytes instead of sweeping megabytes. Twice, because a
//! future holds its slot until it is polled, not only until its report: an application
//! that collects its futures in send order holds the queue's worth of unreported records
//! plus the delivered ones behind the oldest of them. (Sized to the queue alone, a
//! pipelining sender to a real broker, 16 partitions, `linger.ms = 0`, ran out of slots:
//! the channel fallback below took 12 % of the driver thread's samples, and a record cost
//! 0.30-0.33 CPU-µs against the BaseProducer's 0.17-0.18; twice the queue: 0.23-0.25.) A slot
//! still held in a ring that cannot grow (its future kept for a whole lap without being
//! polled to completion) is skipped; after a few such slots the record falls back to a
//! oneshot channel, so an application holding any number of unfinished futures still works,
//! only slower.
//!
//! A record's delivery opaque is only its slot's index (4 bytes, kept by the core next to
//! the record until its report); the record's CreateTime is written beside the slot when it
//! is claimed, by the sending thread, so a successful report writes only the slot's state,
//! partition and offset. (A 24-byte opaque holding the timestamp and an enum of index or channel made each
//! record's bookkeeping entry twice as large; written by the sending thread into memory the
//! driver thread had last read, it cost the FutureProducer 8 % of its throughput.)
//!
//! Failures (rare, and large) are kept in a side table keyed by slot, and so are the
//! fallback channels, under indices of their own ([`CHANNEL`] and up).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_channel::oneshot::{self, Canceled};
use futures_util::task::AtomicWaker;

use super::future_producer::{Delivery, OwnedDeliveryResult};
use crate::error::KafkaError;
use crate::message::{OwnedMessage, Timestamp};

/// Slots per lazily allocated chunk: a producer that never has many records in flight
/// never allocates much.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Held slots skipped before a record falls back to a channel.
const PROBES: usize = 8;
/// How far ahead `claim` warms the cache (slots).
const PREFETCH: usize = 16;
/// Ring size bounds (slots): a slot is 48 bytes (16 of them written by the driver per record).
const MIN_SLOTS: usize = CHUNK;
const MAX_SLOTS: usize = 1 << 20;
/// Indices from here on name a fallback channel, not a ring slot.
const CHANNEL: u32 = 1 << 31;

// Slot states. `WAITING` is set once the future registered a waker, so that filling a slot
// nobody waits on (the common case for a producer that collects finished futures) skips
// the wake.
const FREE: u32 = 0;
const PENDING: u32 = 1;
const PENDING_WAITING: u32 = 2;
/// The future was dropped before its report: the report frees the slot.
const ABANDONED: u32 = 3;
const DONE_NO_TIMESTAMP: u32 = 4;
const DONE_CREATE_TIME: u32 = 5;
const DONE_LOG_APPEND_TIME: u32 = 6;
const DONE_FAILED: u32 = 7;

#[repr(align(128))]
struct Padded<T>(T);

/// A slot's result half: 16 bytes, written by the driver thread for every record.
#[derive(Default)]
struct Slot {
    state: AtomicU32,
    partition: AtomicI32,
    offset: AtomicI64,
}

/// Slots and, apart, their timestamps and wakers. A cache line of slots goes from the
/// sending thread (claim) to the driver thread (report) and back (take); the CreateTime,
/// written at the claim and read at the take, stays with the sending thread (the driver
/// writes it only for a LogAppendTime topic), and the wakers are touched only by futures
/// that wait. (A 64-byte slot, one record per line, cost 12 % more CPU per record than a
/// 24-byte one.)
struct Chunk {
    slots: Box<[Slot]>,
    stamps: Box<[AtomicI64]>,
    wakers: Box<[AtomicWaker]>,
}

impl Chunk {
    fn new() -> Self {
        Self {
            slots: std::iter::repeat_with(Slot::default).take(CHUNK).collect(),
            stamps: std::iter::repeat_with(AtomicI64::default)
                .take(CHUNK)
                .collect(),
            wakers: std::iter::repeat_with(AtomicWaker::new)
                .take(CHUNK)
                .collect(),
        }
    }
}

/// The completion slots of one producer. Aligned so that the fields the driver thread reads
/// share no cache line with the `Arc`'s counts and the claim counter, which the sending
/// threads write per record.
#[repr(align(128))]
pub(super) struct SlotTable {
    chunks: Box<[OnceLock<Chunk>]>,
    /// The ring in use is slots `0..=mask` (grown by `claim`, which alone reads it).
    mask: AtomicU64,
    /// The largest `mask`.
    max_mask: u64,
    next: Padded<AtomicU64>,
    /// The producer is gone: pending futures resolve to `Canceled`.
    closed: AtomicBool,
    failures: Mutex<HashMap<u32, Box<(KafkaError, OwnedMessage)>>>,
    channels: Mutex<Channels>,
}

/// The fallback channels of records that found no free slot, by index, with each record's
/// CreateTime.
#[derive(Default)]
struct Channels {
    next: u32,
    open: HashMap<u32, (oneshot::Sender<OwnedDeliveryResult>, i64)>,
}

/// The delivery a slot in state `state` holds (its CreateTime in `stamp`); `None` unless it
/// was delivered.
#[inline(always)]
fn delivery(s: &Slot, stamp: &AtomicI64, state: u32) -> Option<Delivery> {
    let timestamp = match state {
        DONE_CREATE_TIME => Timestamp::CreateTime(stamp.load(Ordering::Relaxed)),
        DONE_LOG_APPEND_TIME => Timestamp::LogAppendTime(stamp.load(Ordering::Relaxed)),
        DONE_NO_TIMESTAMP => Timestamp::NotAvailable,
        _ => return None,
    };
    Some(Delivery {
        partition: s.partition.load(Ordering::Relaxed),
        offset: s.offset.load(Ordering::Relaxed),
        timestamp,
    })
}

impl SlotTable {
    /// A ring for a queue of `in_flight` records (`queue.buffering.max.messages`): up to
    /// twice that many slots (see the module's documentation).
    pub(super) fn new(in_flight: usize) -> Self {
        let slots = in_flight
            .saturating_mul(2)
            .clamp(MIN_SLOTS, MAX_SLOTS)
            .next_power_of_two();
        Self {
            chunks: (0..slots / CHUNK).map(|_| OnceLock::new()).collect(),
            mask: AtomicU64::new(MIN_SLOTS as u64 - 1),
            max_mask: slots as u64 - 1,
            next: Padded(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            failures: Mutex::new(HashMap::new()),
            channels: Mutex::new(Channels::default()),
        }
    }

    /// The chunk of slot `i` and the slot's place in it, if the chunk exists (it does for
    /// every index `claim` returned).
    #[inline]
    fn chunk(&self, i: u32) -> Option<(&Chunk, usize)> {
        let i = i as usize;
        let chunk = self.chunks.get(i >> CHUNK_BITS)?.get()?;
        Some((chunk, i & (CHUNK - 1)))
    }

    /// Slot `i`.
    #[inline]
    fn slot(&self, i: u32) -> Option<&Slot> {
        self.chunk(i).and_then(|(c, k)| c.slots.get(k))
    }

    /// Slot `i`'s timestamp (ms).
    #[inline]
    fn stamp(&self, i: u32) -> Option<&AtomicI64> {
        self.chunk(i).and_then(|(c, k)| c.stamps.get(k))
    }

    /// Slot `i`'s waker.
    fn waker(&self, i: u32) -> Option<&AtomicWaker> {
        self.chunk(i).and_then(|(c, k)| c.wakers.get(k))
    }

    /// Claims a free slot for a new record with CreateTime `timestamp`; `None` when the
    /// probed slots are all held.
    ///
    /// Claims must be made one at a time: the FutureProducer makes them under its engine
    /// lock, which every `send` holds anyway. That makes a claim plain loads and stores, no
    /// locked instruction (a `fetch_add` on the cursor and a compare-and-swap on the slot
    /// were 5 % of the sending thread, draining its store buffer twice per record): only a
    /// claim moves a slot out of FREE, so a slot seen FREE stays so until this store.
    // The first probe, which finds a free slot unless the ring is crowded, is inlined into
    // the send path; the rest is out of line.
    #[inline(always)]
    pub(super) fn claim(&self, timestamp: i64) -> Option<u32> {
        let mask = self.mask.load(Ordering::Relaxed);
        let n = self.next.0.load(Ordering::Relaxed) & mask;
        match self.claim_at(n, timestamp) {
            Some(i) => Some(i),
            None => self.claim_probing(mask, timestamp),
        }
    }

    /// [`SlotTable::claim`] past a held slot: probes on, and grows the ring when it must.
    #[inline(never)]
    fn claim_probing(&self, mask: u64, timestamp: i64) -> Option<u32> {
        if let Some(i) = self.claim_in(mask, timestamp) {
            return Some(i);
        }
        if mask >= self.max_mask {
            return None;
        }
        // Every probed slot is held: more records are in flight than the ring has slots.
        // Double it and continue in the new half, whose slots are all free.
        let grown = mask * 2 + 1;
        self.mask.store(grown, Ordering::Relaxed);
        self.next.0.store(mask + 1, Ordering::Relaxed);
        self.claim_in(grown, timestamp)
    }

    /// [`SlotTable::claim`] within the ring `0..=mask`.
    fn claim_in(&self, mask: u64, timestamp: i64) -> Option<u32> {
        let start = self.next.0.load(Ordering::Relaxed);
        for probe in 0..PROBES as u64 {
            if let Some(i) = self.claim_at(start.wrapping_add(probe) & mask, timestamp) {
                return Some(i);
            }
        }
        // Past the held slots, so that the next claim does not probe them again.
        self.next
            .0
            .store(start.wrapping_add(PROBES as u64), Ordering::Relaxed);
        None
    }

    /// Claims slot `n` if it is free.
    #[inline(always)]
    fn claim_at(&self, n: u64, timestamp: i64) -> Option<u32> {
        let i = n as usize;
        let chunk = self.chunks.get(i >> CHUNK_BITS)?.get_or_init(Chunk::new);
        let k = i & (CHUNK - 1);
        let slot = chunk.slots.get(k)?;
        if slot.state.load(Ordering::Acquire) != FREE {
            return None;
        }
        slot.state.store(PENDING, Ordering::Relaxed);
        // Read by whoever polls the future, which is handed over from this thread after the
        // claim (or by the report's publish, which comes later still).
        if let Some(stamp) = chunk.stamps.get(k) {
            stamp.store(timestamp, Ordering::Relaxed);
        }
        self.next.0.store(n.wrapping_add(1), Ordering::Relaxed);
        // The slot a few claims ahead was last touched a lap ago and is out of the cache by
        // now: reading it here overlaps that miss with this record's send.
        let ahead = (k + PREFETCH) & (CHUNK - 1);
        if let (Some(s), Some(t)) = (chunk.slots.get(ahead), chunk.stamps.get(ahead)) {
            std::hint::black_box(s.state.load(Ordering::Relaxed));
            std::hint::black_box(t.load(Ordering::Relaxed));
        }
        // The mask keeps `n` below MAX_SLOTS.
        u32::try_from(n).ok()
    }

    /// A channel for a record that found no free slot: its index (from [`CHANNEL`] up) and
    /// the receiving end.
    #[cold]
    pub(super) fn claim_channel(
        &self,
        timestamp: i64,
    ) -> (u32, oneshot::Receiver<OwnedDeliveryResult>) {
        let (tx, rx) = oneshot::channel();
        let mut ch = self.channels_lock();
        // 2^31 indices: one still open after a whole lap (a future kept that long) is
        // stepped over rather than replaced.
        let mut i = ch.next;
        while ch.open.contains_key(&(i | CHANNEL)) {
            i = i.wrapping_add(1) & !CHANNEL;
        }
        ch.next = i.wrapping_add(1) & !CHANNEL;
        ch.open.insert(i | CHANNEL, (tx, timestamp));
        (i | CHANNEL, rx)
    }

    /// The record never entered the producer: its slot (or channel) is free again.
    pub(super) fn release(&self, i: u32) {
        if i >= CHANNEL {
            self.channels_lock().open.remove(&i);
        } else if let Some(s) = self.slot(i) {
            s.state.store(FREE, Ordering::Release);
        }
    }

    /// Record `i` was stored at `offset` of `partition`, with its CreateTime or the
    /// broker's LogAppendTime (driver thread; a waiting future's waker goes to `wakes`).
    #[inline(always)]
    pub(super) fn deliver(
        &self,
        i: u32,
        partition: i32,
        offset: i64,
        log_append_time: Option<i64>,
        wakes: &mut Vec<Waker>,
    ) {
        if i >= CHANNEL {
            return self.deliver_channel(i, partition, offset, log_append_time);
        }
        let Some(s) = self.slot(i) else { return };
        s.partition.store(partition, Ordering::Relaxed);
        s.offset.store(offset, Ordering::Relaxed);
        let done = match log_append_time {
            // The CreateTime has been in the slot since the claim.
            None => DONE_CREATE_TIME,
            Some(t) => {
                self.set_stamp(i, t);
                DONE_LOG_APPEND_TIME
            }
        };
        self.publish(s, i, done, wakes);
    }

    fn set_stamp(&self, i: u32, t: i64) {
        if let Some(stamp) = self.stamp(i) {
            stamp.store(t, Ordering::Relaxed);
        }
    }

    #[cold]
    #[inline(never)]
    fn deliver_channel(&self, i: u32, partition: i32, offset: i64, log_append_time: Option<i64>) {
        let Some((tx, created)) = self.channels_lock().open.remove(&i) else {
            return;
        };
        // The receiver may be gone (future dropped): nothing to tell.
        drop(tx.send(Ok(Delivery {
            partition,
            offset,
            timestamp: log_append_time.map_or(Timestamp::CreateTime(created), |t| {
                Timestamp::LogAppendTime(t)
            }),
        })));
    }

    /// Stores slot `i`'s result (driver thread); if its future waits, its waker goes to
    /// `wakes`, for the caller to wake.
    // Always inlined, so that a delivered record's few fields go from the report to the
    // slot in registers: the whole result handed over through memory was read back with
    // wider loads than it was written with (a store-forwarding stall per record). Failures
    // take the out-of-line path.
    #[inline(always)]
    pub(super) fn fill(&self, i: u32, result: OwnedDeliveryResult, wakes: &mut Vec<Waker>) {
        if i >= CHANNEL {
            if let Some((tx, _)) = self.channels_lock().open.remove(&i) {
                drop(tx.send(result));
            }
            return;
        }
        match result {
            Ok(d) => self.fill_delivered(i, d, wakes),
            Err(e) => self.fill_failed(i, e, wakes),
        }
    }

    #[inline(always)]
    fn fill_delivered(&self, i: u32, d: Delivery, wakes: &mut Vec<Waker>) {
        let Some(s) = self.slot(i) else { return };
        s.partition.store(d.partition, Ordering::Relaxed);
        s.offset.store(d.offset, Ordering::Relaxed);
        let done = match d.timestamp {
            Timestamp::NotAvailable => DONE_NO_TIMESTAMP,
            Timestamp::CreateTime(t) => {
                self.set_stamp(i, t);
                DONE_CREATE_TIME
            }
            Timestamp::LogAppendTime(t) => {
                self.set_stamp(i, t);
                DONE_LOG_APPEND_TIME
            }
        };
        self.publish(s, i, done, wakes);
    }

    #[cold]
    #[inline(never)]
    fn fill_failed(&self, i: u32, e: (KafkaError, OwnedMessage), wakes: &mut Vec<Waker>) {
        let Some(s) = self.slot(i) else { return };
        self.failures_lock().insert(i, Box::new(e));
        self.publish(s, i, DONE_FAILED, wakes);
    }

    /// Moves a filled slot to `done`, collecting its waker if the future waits.
    #[inline(always)]
    fn publish(&self, s: &Slot, i: u32, done: u32, wakes: &mut Vec<Waker>) {
        let mut seen = PENDING;
        loop {
            match s
                .state
                .compare_exchange(seen, done, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(PENDING_WAITING) => {
                    if let Some(w) = self.waker(i).and_then(AtomicWaker::take) {
                        wakes.push(w);
                    }
                    return;
                }
                Ok(_) => return,
                Err(now @ (PENDING | PENDING_WAITING)) => seen = now,
                Err(ABANDONED) => {
                    if done == DONE_FAILED {
                        self.failures_lock().remove(&i);
                    }
                    s.state.store(FREE, Ordering::Release);
                    return;
                }
                // Not a slot awaiting a report (each record is reported once): leave it.
                Err(_) => {
                    if done == DONE_FAILED {
                        self.failures_lock().remove(&i);
                    }
                    return;
                }
            }
        }
    }

    /// Takes slot `i`'s result if it is done; otherwise registers the task's waker.
    #[inline]
    pub(super) fn poll(
        &self,
        i: u32,
        cx: &mut Context<'_>,
    ) -> Poll<Result<OwnedDeliveryResult, Canceled>> {
        // One chunk lookup for the slot, its timestamp and its waker.
        let Some((chunk, k)) = self.chunk(i) else {
            return Poll::Ready(Err(Canceled));
        };
        let (Some(s), Some(stamp), Some(waker)) =
            (chunk.slots.get(k), chunk.stamps.get(k), chunk.wakers.get(k))
        else {
            return Poll::Ready(Err(Canceled));
        };
        let state = s.state.load(Ordering::Acquire);
        if state >= DONE_NO_TIMESTAMP {
            return Poll::Ready(Ok(self.take(s, stamp, i, state)));
        }
        if state != PENDING && state != PENDING_WAITING {
            return Poll::Ready(Err(Canceled));
        }
        waker.register(cx.waker());
        // Publish the waiter after the waker is in place; a fill that wins the race is
        // seen here instead.
        let state = match s.state.compare_exchange(
            PENDING,
            PENDING_WAITING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => PENDING_WAITING,
            Err(now) => now,
        };
        if state >= DONE_NO_TIMESTAMP {
            // Filled meanwhile, maybe without a wake: drop the registered waker.
            drop(waker.take());
            return Poll::Ready(Ok(self.take(s, stamp, i, state)));
        }
        if self.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(Canceled));
        }
        Poll::Pending
    }

    /// Slot `i`'s delivery, taken (the slot freed) if it was delivered; `None` if it is not
    /// done, or failed. The common case of `poll`, inlined into the future's caller.
    #[inline(always)]
    pub(super) fn take_delivered(&self, i: u32) -> Option<Delivery> {
        let (chunk, k) = self.chunk(i)?;
        let (s, stamp) = (chunk.slots.get(k)?, chunk.stamps.get(k)?);
        let d = delivery(s, stamp, s.state.load(Ordering::Acquire))?;
        s.state.store(FREE, Ordering::Release);
        Some(d)
    }

    /// Moves a done slot's result out and frees the slot.
    // Inlined into `poll`, which builds the result in its caller's place.
    #[inline(always)]
    #[allow(clippy::result_large_err)] // rdkafka's result type, kept as is
    fn take(&self, s: &Slot, stamp: &AtomicI64, i: u32, state: u32) -> OwnedDeliveryResult {
        let result = match delivery(s, stamp, state) {
            Some(d) => Ok(d),
            None => match self.failures_lock().remove(&i) {
                Some(e) => Err(*e),
                None => Err((
                    KafkaError::Canceled,
                    OwnedMessage::new(
                        None,
                        None,
                        String::new(),
                        Timestamp::NotAvailable,
                        -1,
                        -1,
                        None,
                    ),
                )),
            },
        };
        s.state.store(FREE, Ordering::Release);
        result
    }

    /// The future of slot `i` was dropped unfinished.
    pub(super) fn abandon(&self, i: u32) {
        let Some(s) = self.slot(i) else { return };
        let mut seen = s.state.load(Ordering::Acquire);
        if seen == PENDING_WAITING {
            // While the slot is ours: a waker left behind would keep the task alive. (Only
            // this future's own poll sets WAITING, and it cannot run during its drop.)
            if let Some(w) = self.waker(i) {
                drop(w.take());
            }
        }
        loop {
            match seen {
                PENDING | PENDING_WAITING => {
                    match s.state.compare_exchange(
                        seen,
                        ABANDONED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return,
                        Err(now) => seen = now,
                    }
                }
                DONE_FAILED => {
                    self.failures_lock().remove(&i);
                    s.state.store(FREE, Ordering::Release);
                    return;
                }
                DONE_NO_TIMESTAMP..=DONE_LOG_APPEND_TIME => {
                    s.state.store(FREE, Ordering::Release);
                    return;
                }
                _ => return,
            }
        }
    }

    /// The producer is gone: wakes every waiting future, which then resolves to `Canceled`.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Dropped senders resolve their receivers to `Canceled`.
        drop(std::mem::take(&mut self.channels_lock().open));
        for chunk in self.chunks.iter().filter_map(OnceLock::get) {
            for (s, w) in chunk.slots.iter().zip(chunk.wakers.iter()) {
                if s.state.load(Ordering::SeqCst) == PENDING_WAITING {
                    w.wake();
                }
            }
        }
    }

    fn channels_lock(&self) -> std::sync::MutexGuard<'_, Channels> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failures_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u32, Box<(KafkaError, OwnedMessage)>>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn state(&self, i: u32) -> u32 {
        self.slot(i)
            .map_or(u32::MAX, |s| s.state.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};

    use super::*;
    use crate::error::RDKafkaErrorCode;

    #[derive(Default)]
    struct CountWake(AtomicUsize);

    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[allow(clippy::result_large_err)]
    fn delivered(offset: i64, timestamp: Timestamp) -> OwnedDeliveryResult {
        Ok(Delivery {
            partition: 3,
            offset,
            timestamp,
        })
    }

    fn waker() -> (Arc<CountWake>, Waker) {
        let w = Arc::new(CountWake::default());
        (Arc::clone(&w), Waker::from(w))
    }

    /// Fills slot `i` and runs the wake it asks for, as the driver does after its round.
    fn fill_now(t: &SlotTable, i: u32, result: OwnedDeliveryResult) {
        let mut wakes = Vec::new();
        t.fill(i, result, &mut wakes);
        wakes.into_iter().for_each(Waker::wake);
    }

    #[test]
    fn fill_wakes_only_a_waiting_future_and_the_slot_is_reused() {
        let t = SlotTable::new(0);
        let (count, waker) = waker();
        let mut cx = Context::from_waker(&waker);

        // Filled before anyone waited: no wake, the result is there at the first poll.
        let a = t.claim(0).unwrap();
        fill_now(&t, a, delivered(7, Timestamp::CreateTime(11)));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        match t.poll(a, &mut cx) {
            Poll::Ready(Ok(Ok(d))) => {
                assert_eq!((d.partition, d.offset), (3, 7));
                assert_eq!(d.timestamp, Timestamp::CreateTime(11));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.state(a), FREE);

        // Waited on: pending, then one wake, then the result.
        let b = t.claim(0).unwrap();
        assert!(t.poll(b, &mut cx).is_pending());
        assert_eq!(t.state(b), PENDING_WAITING);
        // The wake is the caller's to run (the driver runs it after its round).
        let mut wakes = Vec::new();
        t.fill(b, delivered(8, Timestamp::LogAppendTime(12)), &mut wakes);
        assert_eq!((count.0.load(Ordering::SeqCst), wakes.len()), (0, 1));
        wakes.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            t.poll(b, &mut cx),
            Poll::Ready(Ok(Ok(Delivery {
                offset: 8,
                timestamp: Timestamp::LogAppendTime(12),
                ..
            })))
        ));

        // A whole lap later the ring hands out slot `a` again.
        let lap: Vec<u32> = (0..MIN_SLOTS - 2).map(|_| t.claim(0).unwrap()).collect();
        assert!(!lap.contains(&a) && !lap.contains(&b));
        assert_eq!(t.claim(0), Some(a));
    }

    #[test]
    fn a_delivery_carries_the_claimed_create_time_in_slots_and_channels_alike() {
        let t = SlotTable::new(0);
        let (_, waker) = waker();
        let mut cx = Context::from_waker(&waker);
        let mut wakes = Vec::new();
        let ready = |p: Poll<Result<OwnedDeliveryResult, Canceled>>| match p {
            Poll::Ready(Ok(Ok(d))) => (d.partition, d.offset, d.timestamp),
            other => panic!("{other:?}"),
        };

        // A ring slot: the CreateTime written at the claim, or the broker's time.
        let a = t.claim(1234).unwrap();
        let b = t.claim(1235).unwrap();
        t.deliver(a, 5, 77, None, &mut wakes);
        t.deliver(b, 5, 78, Some(999), &mut wakes);
        assert_eq!(
            ready(t.poll(a, &mut cx)),
            (5, 77, Timestamp::CreateTime(1234))
        );
        assert_eq!(
            ready(t.poll(b, &mut cx)),
            (5, 78, Timestamp::LogAppendTime(999))
        );

        // A channel, under an index of its own: the same results.
        let (c, mut rc) = t.claim_channel(4321);
        let (d, mut rd) = t.claim_channel(4322);
        assert!(c >= CHANNEL && d >= CHANNEL && c != d);
        t.deliver(c, 2, 9, None, &mut wakes);
        t.deliver(d, 2, 10, Some(1000), &mut wakes);
        let got = |r: Option<OwnedDeliveryResult>| match r {
            Some(Ok(d)) => (d.partition, d.offset, d.timestamp),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            got(rc.try_recv().unwrap()),
            (2, 9, Timestamp::CreateTime(4321))
        );
        assert_eq!(
            got(rd.try_recv().unwrap()),
            (2, 10, Timestamp::LogAppendTime(1000))
        );
        assert!(wakes.is_empty(), "nobody waited on a slot");

        // A failure reaches a channel whole; a released channel and, at close, every open
        // one resolve to Canceled; none is left behind.
        let (e, mut re) = t.claim_channel(1);
        let msg = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, -1, None);
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        fill_now(&t, e, Err((err, msg.clone())));
        assert!(matches!(re.try_recv(), Ok(Some(Err((_, m)))) if m == msg));
        let (f, mut rf) = t.claim_channel(1);
        t.release(f);
        assert!(rf.try_recv().is_err());
        let (_, mut rg) = t.claim_channel(1);
        t.close();
        assert!(rg.try_recv().is_err());
        assert!(t.channels_lock().open.is_empty());
    }

    #[test]
    fn channel_indices_step_over_one_still_open_after_a_lap() {
        let t = SlotTable::new(0);
        t.channels_lock().next = !CHANNEL;
        let (last, _ra) = t.claim_channel(0);
        assert_eq!(last, u32::MAX);
        let (first, _rb) = t.claim_channel(0);
        assert_eq!(first, CHANNEL, "the indices wrap round to the first");
        // A lap later the first is still open: the next claim takes the one after it.
        t.channels_lock().next = 0;
        let (c, _rc) = t.claim_channel(0);
        assert_eq!(c, CHANNEL + 1);
    }

    #[test]
    fn serialized_claims_never_share_a_slot() {
        let t = SlotTable::new(1 << 16);
        let per_thread = 10_000;
        // Claims are serialized by the caller (the producer's engine lock).
        let lock = Mutex::new(());
        let claims: Vec<Vec<Option<u32>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..per_thread)
                            .map(|_| {
                                let _held = lock.lock().unwrap();
                                t.claim(0)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let got: Vec<u32> = claims.into_iter().flatten().flatten().collect();
        let unique: std::collections::HashSet<u32> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "a slot was claimed twice");
        // 40 000 of 65 536 slots held, none twice: every claim found a slot of its own
        // rather than falling back to a channel.
        assert_eq!(got.len(), 4 * per_thread, "claims fell back to channels");
    }

    #[test]
    fn held_slots_are_skipped_then_claims_fall_back() {
        let t = SlotTable::new(0);
        let held: Vec<u32> = (0..MIN_SLOTS).map(|_| t.claim(0).unwrap()).collect();
        // Every slot is held: after PROBES tries the caller must use a channel.
        assert_eq!(t.claim(0), None);
        // One freed slot is found again once the counter comes round to it.
        t.release(held[100]);
        let got: Vec<Option<u32>> = (0..MIN_SLOTS / PROBES + 1).map(|_| t.claim(0)).collect();
        assert!(got.contains(&Some(held[100])));
    }

    #[test]
    fn the_ring_grows_only_when_more_records_are_in_flight_than_it_has_slots() {
        // A queue of 2 chunks' worth of records: room for twice that many futures.
        let t = SlotTable::new(2 * MIN_SLOTS);
        // Few in flight: a whole lap of claims, each released soon, stays in the first
        // chunk.
        let mut window = std::collections::VecDeque::new();
        for _ in 0..3 * 4 * MIN_SLOTS {
            window.push_back(t.claim(0).unwrap());
            if window.len() > 100 {
                t.release(window.pop_front().unwrap());
            }
        }
        assert!(window.iter().all(|&i| (i as usize) < MIN_SLOTS));
        assert!(t.chunks.iter().skip(1).all(|c| c.get().is_none()));
        window.into_iter().for_each(|i| t.release(i));
        // Every slot held: the ring doubles, twice, then claims fall back to channels.
        let held: Vec<u32> = (0..4 * MIN_SLOTS).map(|_| t.claim(0).unwrap()).collect();
        let unique: std::collections::HashSet<u32> = held.iter().copied().collect();
        assert_eq!(unique.len(), 4 * MIN_SLOTS);
        assert_eq!(t.claim(0), None);
    }

    #[test]
    fn take_delivered_takes_only_delivered_slots() {
        let t = SlotTable::new(0);
        let (_, waker) = waker();
        let mut cx = Context::from_waker(&waker);

        // Each kind of delivery comes out whole, once, and frees its slot.
        let kinds = [
            (1, Timestamp::CreateTime(21), DONE_CREATE_TIME),
            (2, Timestamp::LogAppendTime(22), DONE_LOG_APPEND_TIME),
            (3, Timestamp::NotAvailable, DONE_NO_TIMESTAMP),
        ];
        for (offset, timestamp, state) in kinds {
            let i = t.claim(21).unwrap();
            fill_now(&t, i, delivered(offset, timestamp));
            assert_eq!(t.state(i), state);
            let want = Delivery {
                partition: 3,
                offset,
                timestamp,
            };
            assert_eq!(t.take_delivered(i), Some(want));
            assert_eq!(t.state(i), FREE);
            assert_eq!(t.take_delivered(i), None, "taken once");
        }

        // Not done yet: nothing taken, the slot stays pending.
        let pending = t.claim(0).unwrap();
        assert_eq!(t.take_delivered(pending), None);
        assert_eq!(t.state(pending), PENDING);

        // A failure is not a delivery: it stays for `poll`, which hands it over whole.
        let failed = t.claim(0).unwrap();
        let msg = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, -1, None);
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        fill_now(&t, failed, Err((err, msg.clone())));
        assert_eq!(t.take_delivered(failed), None);
        assert_eq!(t.state(failed), DONE_FAILED);
        assert!(matches!(t.poll(failed, &mut cx), Poll::Ready(Ok(Err((_, m)))) if m == msg));
        assert_eq!(t.state(failed), FREE);

        // Out of range: no slot, no delivery.
        assert_eq!(t.take_delivered(CHANNEL - 1), None);
    }

    #[test]
    fn abandoned_failed_and_closed_slots() {
        let t = SlotTable::new(0);
        let (count, waker) = waker();
        let mut cx = Context::from_waker(&waker);

        // Dropped before the report: the report frees the slot.
        let a = t.claim(0).unwrap();
        assert!(t.poll(a, &mut cx).is_pending());
        t.abandon(a);
        assert_eq!(t.state(a), ABANDONED);
        fill_now(&t, a, delivered(1, Timestamp::NotAvailable));
        assert_eq!(t.state(a), FREE);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);

        // Dropped after the report: the drop frees it (a failure's record too).
        let b = t.claim(0).unwrap();
        let msg = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, -1, None);
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        fill_now(&t, b, Err((err.clone(), msg.clone())));
        t.abandon(b);
        assert_eq!(t.state(b), FREE);
        assert!(t.failures_lock().is_empty());

        // A failure is handed back whole.
        let c = t.claim(0).unwrap();
        fill_now(&t, c, Err((err, msg.clone())));
        match t.poll(c, &mut cx) {
            Poll::Ready(Ok(Err((e, m)))) => {
                assert_eq!(
                    e.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::MessageTimedOut)
                );
                assert_eq!(m, msg);
            }
            other => panic!("{other:?}"),
        }

        // The producer goes away: a waiting future is woken and resolves to Canceled.
        let d = t.claim(0).unwrap();
        assert!(t.poll(d, &mut cx).is_pending());
        t.close();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(t.poll(d, &mut cx), Poll::Ready(Err(Canceled))));
    }

    #[test]
    fn concurrent_fill_and_poll_deliver_every_result_once() {
        // The driver fills while futures poll from another thread: every result arrives,
        // exactly once, with its own offset.
        let t = Arc::new(SlotTable::new(1 << 14));
        let n = 200_000u32;
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u32, i64)>(1 << 14);
        let filler = {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for (i, off) in rx {
                    fill_now(&t, i, delivered(off, Timestamp::NotAvailable));
                }
            })
        };
        let (_, waker) = waker();
        let mut cx = Context::from_waker(&waker);
        let mut window = std::collections::VecDeque::new();
        let mut seen = 0i64;
        for k in 0..n {
            let i = loop {
                if let Some(i) = t.claim(0) {
                    break i;
                }
                std::thread::yield_now();
            };
            tx.send((i, i64::from(k))).unwrap();
            window.push_back((i, i64::from(k)));
            while window.len() > 1000 {
                let (i, k) = window.front().copied().unwrap();
                match t.poll(i, &mut cx) {
                    Poll::Ready(Ok(Ok(d))) => {
                        assert_eq!(d.offset, k);
                        seen += 1;
                        window.pop_front();
                    }
                    Poll::Pending => std::thread::yield_now(),
                    other => panic!("{other:?}"),
                }
            }
        }
        drop(tx);
        filler.join().unwrap();
        for (i, k) in window {
            match t.poll(i, &mut cx) {
                Poll::Ready(Ok(Ok(d))) => assert_eq!(d.offset, k),
                other => panic!("{other:?}"),
            }
            seen += 1;
        }
        assert_eq!(seen, i64::from(n));
    }
}
