//! The engine's timers: one min-heap with lazy deletion.
//!
//! Entries are never removed when they become moot (a batch sent before its linger expired,
//! a request answered before its timeout); the handler checks on expiry whether the entry
//! still applies. Arming costs O(log n), [`TimerHeap::next`] is O(1), so `poll_timeout` never
//! scans records or partitions. Per-partition timers are armed per batch (linger) or re-armed
//! on expiry (message timeout), so the heap holds O(partitions + in-flight requests +
//! batches lingering) entries, not O(records).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::{ConnId, PartKey, TopicId};
use crate::time::Instant;

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A partition's open batch may have lingered long enough.
    Linger(PartKey),
    /// A partition's oldest queued batch may have hit `message.timeout.ms`.
    Expiry(PartKey),
    /// A partition's retry backoff ends.
    Backoff(PartKey),
    /// A topic's pending (metadata-less) records may have timed out.
    PendingExpiry(TopicId),
    /// A connection's oldest request may have waited `socket.timeout.ms`.
    Request { broker: usize, conn: ConnId },
    /// A connection attempt may have exceeded `socket.connection.setup.timeout.ms`.
    ConnectSetup { broker: usize, conn: ConnId },
    /// A broker's reconnect backoff ends.
    Reconnect(usize),
    /// A broker's KIP-219 throttle time ends.
    Throttle(usize),
    /// The InitProducerId retry backoff ends.
    IdemRetry,
    /// A transaction request's retry backoff ends (the handler re-drives the engine).
    Txn,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    order: u64,
    timer: Timer,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Min-heap of timers; ties fire in arming order.
#[derive(Debug, Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    order: u64,
}

impl TimerHeap {
    pub(crate) fn arm(&mut self, at: Instant, timer: Timer) {
        self.order += 1;
        self.heap.push(Reverse(Entry {
            at,
            order: self.order,
            timer,
        }));
    }

    /// The earliest armed instant (possibly of a moot entry).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Pops the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e.timer)
    }
}
