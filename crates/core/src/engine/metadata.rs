//! Cluster state: topics, partitions, leaders, the pending queue of metadata-less topics, and
//! how Metadata responses update them.
//!
//! Rules (librdkafka's):
//! - A partition's leader comes from the newest Metadata whose leader epoch for it is not
//!   older than the one known; an older epoch is a stale answer from a lagging broker and is
//!   ignored for that partition.
//! - A topic the broker calls unknown stays *Unknown* (records wait, fast refresh) until
//!   `topic.metadata.propagation.max.ms` after it was first used; then it is *NotExists*:
//!   its pending records fail with `UnknownTopic` and new sends fail synchronously.
//! - While any in-use topic or partition lacks a leader, Metadata is refreshed every
//!   `topic.metadata.refresh.fast.interval.ms`; otherwise every
//!   `topic.metadata.refresh.interval.ms`.
//! - A node id whose host/port changes gets its connection closed; its in-flight requests
//!   fail with a transport error (retried) and the next connection goes to the new address.

use core::mem;
use std::collections::VecDeque;

use kafka_protocol::messages::MetadataResponse;
use kafka_protocol::messages::metadata_response::MetadataResponsePartition;
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::kafka_protocol;

use super::accumulator::{BatchLimits, PartitionQueue, RecordBuf};
use super::broker::Broker;
use super::delivery::{DeliveryReport, RawRecord, RecordMeta, TimestampType};
use super::stats::{PartitionCounters, TopicWindows};
use super::timer::Timer;
use super::transaction::TxnPart;
use super::{Engine, Event, PartKey, Record, TopicId};
use crate::config::BrokerAddress;
use crate::error::{ErrorCode, PersistenceStatus};
use crate::partitioner::{Route, StickyPartition, custom_uses_sticky, random_partition};
use crate::time::Instant;
use purekafka_protocol::batch::RecordHeader;

/// What the engine knows about a topic's existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TopicState {
    /// No usable Metadata yet: records wait in the pending queue.
    Unknown,
    /// Partitions known.
    Exists,
    /// The cluster says it doesn't exist, past the propagation grace period.
    NotExists,
    /// A topic-level error that fails every record (e.g. authorization).
    Error(ErrorCode),
}

/// One partition of a topic.
#[derive(Debug)]
pub(crate) struct Partition<O> {
    pub(crate) leader_id: i32,
    pub(crate) leader: Option<usize>,
    pub(crate) leader_epoch: i32,
    pub(crate) q: PartitionQueue<O>,
    /// Listed in its leader's `active` list.
    pub(crate) in_active: bool,
    pub(crate) counters: PartitionCounters,
    /// Transactions: whether the partition is part of the current transaction.
    pub(crate) txn: TxnPart,
}

impl<O> Partition<O> {
    fn new() -> Self {
        Self {
            leader_id: -1,
            leader: None,
            leader_epoch: -1,
            q: PartitionQueue::default(),
            in_active: false,
            counters: PartitionCounters::default(),
            txn: TxnPart::No,
        }
    }
}

/// Bookkeeping of a record waiting for its topic's metadata.
#[derive(Debug)]
pub(crate) struct PendingMeta<O> {
    opaque: O,
    enqueued: Instant,
    /// Explicit partition, -1 for the partitioner.
    partition: i32,
    accounted: usize,
}

/// A pending chunk's records, in bytes (a larger record gets a chunk of its own).
const PENDING_CHUNK_BYTES: usize = 64 * 1024;

/// Records of a topic without metadata, in send order, in chunks each encoded like a batch.
/// Until the first Metadata answer a fast sender can queue its whole
/// `queue.buffering.max.messages` here; the replay into partition batches copies every
/// record, and frees each chunk once its records moved, so that they are not held twice (one
/// buffer was: twice the queue's memory at a producer's start, measured 30 MB peak heap for
/// 15 MB of records). A full chunk is followed by a new one, never reallocated.
#[derive(Debug)]
pub(crate) struct Pending<O> {
    /// Never holds an empty chunk.
    chunks: VecDeque<PendingChunk<O>>,
}

#[derive(Debug)]
struct PendingChunk<O> {
    buf: RecordBuf,
    metas: Vec<PendingMeta<O>>,
}

impl<O> Default for Pending<O> {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
        }
    }
}

impl<O> Pending<O> {
    fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
        meta: PendingMeta<O>,
    ) {
        let appended = self.chunks.back_mut().is_some_and(|c| {
            c.buf
                .append_within(PENDING_CHUNK_BYTES, timestamp, key, value, headers)
        });
        if !appended {
            // A topic's first chunk grows as needed (most topics have a handful of pending
            // records, if any); the ones after it start at full size.
            let (mut buf, metas) = match self.chunks.back() {
                None => (RecordBuf::new(), Vec::new()),
                Some(prev) => (
                    RecordBuf::with_capacity(PENDING_CHUNK_BYTES),
                    Vec::with_capacity(prev.metas.len()),
                ),
            };
            buf.append(timestamp, key, value, headers);
            self.chunks.push_back(PendingChunk { buf, metas });
        }
        if let Some(c) = self.chunks.back_mut() {
            c.metas.push(meta);
        }
    }

    fn first(&self) -> Option<&PendingMeta<O>> {
        self.chunks.front().and_then(|c| c.metas.first())
    }
}

/// An interned topic.
#[derive(Debug)]
pub(crate) struct Topic<O> {
    pub(crate) name: StrBytes,
    pub(crate) state: TopicState,
    pub(crate) first_seen: Instant,
    pub(crate) partitions: Vec<Partition<O>>,
    pub(crate) pending: Pending<O>,
    /// Sticky partition for keyless records.
    sticky: StickyPartition,
    /// Batch windows for the statistics, reset each interval.
    pub(crate) windows: TopicWindows,
}

impl<O> Topic<O> {
    pub(crate) fn new(name: &str, now: Instant) -> Self {
        Self {
            name: StrBytes::from_string(name.to_owned()),
            state: TopicState::Unknown,
            first_seen: now,
            partitions: Vec::new(),
            pending: Pending::default(),
            sticky: StickyPartition::new(),
            windows: TopicWindows::default(),
        }
    }

    pub(crate) fn pending_is_empty(&self) -> bool {
        self.pending.chunks.is_empty()
    }

    /// Records pending (for the statistics; chunks hold hundreds each).
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.chunks.iter().map(|c| c.metas.len()).sum()
    }
}

/// A record read back from a pending buffer, with its bookkeeping.
struct Replayed<'a, O> {
    /// Its chunk's base timestamp (the record's is relative to it).
    base_ts: i64,
    rec: RawRecord<'a>,
    meta: PendingMeta<O>,
}

impl<O> Engine<O> {
    pub(crate) fn part(&self, key: PartKey) -> &Partition<O> {
        &self.topics[key.topic.0 as usize].partitions[key.partition as usize]
    }

    pub(crate) fn part_mut(&mut self, key: PartKey) -> &mut Partition<O> {
        &mut self.topics[key.topic.0 as usize].partitions[key.partition as usize]
    }

    /// Partition for a record without an explicit one (topic state is `Exists`); `None` when
    /// a custom partitioner answers out of range (the record fails with UnknownPartition).
    pub(crate) fn choose_partition(
        &mut self,
        now: Instant,
        tid: TopicId,
        key: Option<&[u8]>,
    ) -> Option<u32> {
        let topic = &mut self.topics[tid.0 as usize];
        let cnt = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let linger = self.cfg.sticky_partitioning_linger;
        let parts = &topic.partitions;
        let avail = |p: i32| {
            usize::try_from(p)
                .ok()
                .and_then(|i| parts.get(i))
                .is_some_and(|p| p.leader.is_some())
        };
        let p = match self.custom_partitioner.as_deref() {
            Some(cp) if !custom_uses_sticky(key, linger) => {
                cp.partition(&topic.name, key, cnt, &avail)
            }
            Some(_) => topic.sticky.pick(now, linger, cnt, avail, &mut self.rng),
            None => match self.cfg.partitioner.route(key, cnt, linger) {
                Route::Hash(p) => p,
                Route::Sticky => topic.sticky.pick(now, linger, cnt, avail, &mut self.rng),
                Route::Random => random_partition(cnt, avail, &mut self.rng),
            },
        };
        u32::try_from(p)
            .ok()
            .filter(|&p| (p as usize) < parts.len())
    }

    /// Appends a record to its partition and updates readiness and timers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append_record(
        &mut self,
        now: Instant,
        enqueued: Instant,
        key: PartKey,
        timestamp: i64,
        k: Option<&[u8]>,
        v: Option<&[u8]>,
        headers: &[RecordHeader<'_>],
        opaque: O,
        accounted: usize,
    ) -> bool {
        let limits = BatchLimits {
            batch_size: self.cfg.batch_size,
            batch_num_messages: self.cfg.batch_num_messages.clamp(1, 1_000_000),
        };
        let linger = self.cfg.linger;
        let flushing = self.flushing;
        let msg_timeout = self.cfg.message_timeout;
        let part = self.part_mut(key);
        // Linger and message timeout count from the record's enqueue time, also for records
        // that waited for metadata (librdkafka's `rkm_ts_enq`).
        let a = part.q.append(
            enqueued, limits, timestamp, k, v, headers, opaque, accounted,
        );
        part.counters.msgs += 1;
        let mut ready = a.closed;
        let mut arm_expiry = None;
        // The opened batch needs its own linger timer even when this append also closed the
        // previous batch (a size cut): otherwise nothing makes it ready once the closed batch
        // has left.
        let open_due = a.opened && (flushing || enqueued + linger <= now);
        ready |= open_due;
        // Added to a batch that was open, listed and led already: no timer, no readiness,
        // no connection, nothing for the driver (see `Engine::last_send_quiet`). Transactional
        // producers are left out: a record may add its partition to the transaction.
        let quiet = !a.opened && !ready && part.in_active && part.leader.is_some();
        if a.opened {
            if let Some(t) = msg_timeout {
                if part.q.expiry_armed.is_none() {
                    part.q.expiry_armed = Some(enqueued + t);
                    arm_expiry = Some(enqueued + t);
                }
            }
        }
        if a.opened && !open_due {
            self.timers.arm(enqueued + linger, Timer::Linger(key));
        }
        if let Some(at) = arm_expiry {
            self.timers.arm(at, Timer::Expiry(key));
        }
        self.ensure_active(key);
        if self.txn.is_some() {
            self.txn_note_partition(key);
        }
        if ready {
            self.mark_ready(key);
        }
        if self.part(key).leader.is_none() {
            self.schedule_fast_refresh(now);
        }
        quiet && self.txn.is_none()
    }

    /// Makes sure Metadata is refreshed within `topic.metadata.refresh.fast.interval.ms`.
    pub(crate) fn schedule_fast_refresh(&mut self, now: Instant) {
        let at = now + self.cfg.topic_metadata_refresh_fast_interval;
        if self.metadata.next_due.is_none_or(|d| d > at) {
            self.metadata.next_due = Some(at);
        }
    }

    /// Lists the partition in its leader's active list if it has batches.
    pub(crate) fn ensure_active(&mut self, key: PartKey) {
        let part = self.part_mut(key);
        if part.in_active || part.q.is_empty() {
            return;
        }
        let Some(b) = part.leader else { return };
        part.in_active = true;
        self.brokers[b].active.push(key);
        if self.brokers[b].conn.is_none() {
            // Connect to a leader as soon as it has data, not when its first batch is ready,
            // so connection setup overlaps linger.
            self.broker_wants_send(b);
        }
    }

    /// The partition may have a ready batch: let its leader know.
    pub(crate) fn mark_ready(&mut self, key: PartKey) {
        if let Some(b) = self.part(key).leader {
            self.broker_wants_send(b);
        }
    }

    /// Moves a partition to a new leader (or to none).
    pub(crate) fn set_leader(&mut self, key: PartKey, leader: Option<usize>, leader_id: i32) {
        let part = self.part_mut(key);
        part.leader_id = leader_id;
        if part.leader == leader {
            return;
        }
        let old = part.leader;
        let was_active = part.in_active;
        part.leader = leader;
        part.in_active = false;
        if let (Some(old), true) = (old, was_active) {
            let list = &mut self.brokers[old].active;
            if let Some(i) = list.iter().position(|&k| k == key) {
                list.swap_remove(i);
            }
        }
        if !self.part(key).q.is_empty() {
            self.ensure_active(key);
            self.mark_ready(key);
        }
    }

    /// Queues a record of a topic whose metadata is not known yet.
    pub(crate) fn push_pending(
        &mut self,
        now: Instant,
        tid: TopicId,
        record: &Record<'_>,
        opaque: O,
        accounted: usize,
    ) {
        let msg_timeout = self.cfg.message_timeout;
        let topic = &mut self.topics[tid.0 as usize];
        let first = topic.pending.chunks.is_empty();
        topic.pending.push(
            record.timestamp_ms,
            record.key,
            record.value,
            record.headers,
            PendingMeta {
                opaque,
                enqueued: now,
                partition: record.partition.unwrap_or(-1),
                accounted,
            },
        );
        if first {
            if let Some(t) = msg_timeout {
                self.timers.arm(now + t, Timer::PendingExpiry(tid));
            }
            self.schedule_fast_refresh(now);
        }
    }

    /// Fails the pending records that have waited `message.timeout.ms`.
    pub(crate) fn on_pending_expiry(&mut self, now: Instant, tid: TopicId) {
        let Some(t) = self.cfg.message_timeout else {
            return;
        };
        // Records are pending in enqueue order: the expired ones are a prefix, whole chunks
        // and then part of one, whose rest is re-encoded as the new first chunk.
        let mut pending = mem::take(&mut self.topics[tid.0 as usize].pending);
        while pending.first().is_some_and(|m| m.enqueued + t <= now) {
            let Some(chunk) = pending.chunks.pop_front() else {
                break;
            };
            let base_ts = chunk.buf.base_timestamp();
            let mut cursor = chunk.buf.cursor();
            let mut failed = Vec::new();
            let mut rest = Pending::default();
            for meta in chunk.metas {
                let Some(rec) = cursor.next_record() else {
                    break;
                };
                if meta.enqueued + t <= now {
                    failed.push(Replayed { base_ts, rec, meta });
                } else {
                    let headers = collect_headers(&rec);
                    let ts = base_ts.wrapping_add(rec.ts_delta);
                    rest.push(ts, rec.key, rec.value, &headers, meta);
                }
            }
            self.fail_replayed(now, tid, failed, ErrorCode::MessageTimedOut);
            while let Some(c) = rest.chunks.pop_back() {
                pending.chunks.push_front(c);
            }
        }
        if let Some(m) = pending.first() {
            self.timers.arm(m.enqueued + t, Timer::PendingExpiry(tid));
        }
        self.topics[tid.0 as usize].pending = pending;
    }

    /// Fails every pending record of a topic with `code`.
    pub(crate) fn fail_all_pending(&mut self, now: Instant, tid: TopicId, code: ErrorCode) {
        let pending = mem::take(&mut self.topics[tid.0 as usize].pending);
        for chunk in pending.chunks {
            let base_ts = chunk.buf.base_timestamp();
            let mut cursor = chunk.buf.cursor();
            let mut failed = Vec::with_capacity(chunk.metas.len());
            for meta in chunk.metas {
                let Some(rec) = cursor.next_record() else {
                    break;
                };
                failed.push(Replayed { base_ts, rec, meta });
            }
            self.fail_replayed(now, tid, failed, code);
        }
    }

    /// Reports failed records, one report per run of equal requested partition.
    fn fail_replayed(
        &mut self,
        now: Instant,
        tid: TopicId,
        failed: Vec<Replayed<'_, O>>,
        code: ErrorCode,
    ) {
        let name = self.topics[tid.0 as usize].name.clone();
        let mut run: Option<(i32, RecordBuf, Vec<RecordMeta<O>>, usize)> = None;
        for Replayed { base_ts, rec, meta } in failed {
            if run.as_ref().is_some_and(|r| r.0 != meta.partition) {
                if let Some(r) = run.take() {
                    self.emit_failed_run(now, &name, r, code);
                }
            }
            let r = run.get_or_insert_with(|| (meta.partition, RecordBuf::new(), Vec::new(), 0));
            let headers = collect_headers(&rec);
            r.1.append(
                base_ts.wrapping_add(rec.ts_delta),
                rec.key,
                rec.value,
                &headers,
            );
            r.2.push(RecordMeta {
                opaque: meta.opaque,
                enqueued: meta.enqueued,
            });
            r.3 += meta.accounted;
        }
        if let Some(r) = run {
            self.emit_failed_run(now, &name, r, code);
        }
    }

    fn emit_failed_run(
        &mut self,
        now: Instant,
        name: &StrBytes,
        (partition, records, metas, accounted): (i32, RecordBuf, Vec<RecordMeta<O>>, usize),
        code: ErrorCode,
    ) {
        self.txn_records_failed(metas.len());
        let report = DeliveryReport {
            topic: name.clone(),
            partition,
            error: Some(code),
            status: PersistenceStatus::NotPersisted,
            base_offset: -1,
            timestamp_type: TimestampType::CreateTime,
            log_append_time_ms: -1,
            records,
            metas,
            completed: now,
            accounted_bytes: accounted,
        };
        self.events.push_back(Event::Delivery(report));
    }

    /// Routes a topic's pending records to partitions now that its metadata is known.
    fn replay_pending(&mut self, now: Instant, tid: TopicId) {
        let pending = mem::take(&mut self.topics[tid.0 as usize].pending);
        let cnt = self.topics[tid.0 as usize].partitions.len() as u32;
        // Chunk by chunk, each dropped once its records are in their partitions' batches.
        for chunk in pending.chunks {
            let base_ts = chunk.buf.base_timestamp();
            let mut cursor = chunk.buf.cursor();
            let mut unknown_partition = Vec::new();
            for meta in chunk.metas {
                let Some(rec) = cursor.next_record() else {
                    break;
                };
                if meta.partition >= 0 && meta.partition as u32 >= cnt {
                    unknown_partition.push(Replayed { base_ts, rec, meta });
                    continue;
                }
                let partition = if meta.partition >= 0 {
                    Some(meta.partition as u32)
                } else {
                    self.choose_partition(now, tid, rec.key)
                };
                let Some(partition) = partition else {
                    unknown_partition.push(Replayed { base_ts, rec, meta });
                    continue;
                };
                let headers = collect_headers(&rec);
                self.append_record(
                    now,
                    meta.enqueued,
                    PartKey {
                        topic: tid,
                        partition,
                    },
                    base_ts.wrapping_add(rec.ts_delta),
                    rec.key,
                    rec.value,
                    &headers,
                    meta.opaque,
                    meta.accounted,
                );
            }
            if !unknown_partition.is_empty() {
                self.fail_replayed(now, tid, unknown_partition, ErrorCode::UnknownPartition);
            }
        }
    }

    /// Applies a Metadata response from broker `b`.
    pub(crate) fn on_metadata(&mut self, now: Instant, resp: MetadataResponse) {
        for br in &resp.brokers {
            let Ok(port) = u16::try_from(br.port) else {
                continue;
            };
            let addr = BrokerAddress {
                host: br.host.to_string(),
                port,
            };
            let id = br.node_id.0;
            match self.node_to_broker.get(&id).copied() {
                Some(i) => {
                    if self.brokers[i].address != addr {
                        self.brokers[i].address = addr;
                        if self.brokers[i].conn.is_some() {
                            self.close_conn_failing(now, i, ErrorCode::BrokerTransportFailure);
                        }
                    }
                }
                None => {
                    self.node_to_broker.insert(id, self.brokers.len());
                    self.brokers.push(Broker::new(id, addr, false));
                }
            }
        }
        for t in &resp.topics {
            let Some(name) = &t.name else { continue };
            let Some(&tid) = self.topic_ids.get(name.0.as_str()) else {
                continue;
            };
            let code = ErrorCode::from_broker(t.error_code);
            match code {
                ErrorCode::NoError if !t.partitions.is_empty() => {
                    self.apply_partitions(now, tid, &t.partitions);
                }
                ErrorCode::UnknownTopicOrPartition => {
                    let topic = &self.topics[tid.0 as usize];
                    let grace = self.cfg.topic_metadata_propagation_max;
                    if topic.state != TopicState::Exists && topic.first_seen + grace <= now {
                        self.topics[tid.0 as usize].state = TopicState::NotExists;
                        self.fail_all_pending(now, tid, ErrorCode::UnknownTopic);
                    }
                }
                ErrorCode::TopicAuthorizationFailed | ErrorCode::InvalidTopic => {
                    self.topics[tid.0 as usize].state = TopicState::Error(code);
                    self.fail_all_pending(now, tid, code);
                }
                // Leader not available (auto-creation in progress) and the like: wait.
                _ => {}
            }
        }
        // Refresh fast only while records wait for a topic or a leader, so an idle producer
        // with a leaderless partition doesn't poll the cluster every 100 ms.
        let incomplete = self.topics.iter().any(|t| {
            (matches!(t.state, TopicState::Unknown) && !t.pending_is_empty())
                || t.partitions
                    .iter()
                    .any(|p| p.leader.is_none() && (!p.q.is_empty() || p.q.in_flight > 0))
        });
        self.metadata.next_due = if incomplete {
            Some(now + self.cfg.topic_metadata_refresh_fast_interval)
        } else {
            self.cfg.topic_metadata_refresh_interval.map(|i| now + i)
        };
    }

    fn apply_partitions(
        &mut self,
        now: Instant,
        tid: TopicId,
        parts: &[MetadataResponsePartition],
    ) {
        let n = parts.len();
        {
            let topic = &mut self.topics[tid.0 as usize];
            while topic.partitions.len() < n {
                topic.partitions.push(Partition::new());
            }
        }
        for p in parts {
            let Ok(idx) = u32::try_from(p.partition_index) else {
                continue;
            };
            if idx as usize >= n {
                continue;
            }
            let key = PartKey {
                topic: tid,
                partition: idx,
            };
            let known_epoch = self.part(key).leader_epoch;
            if p.leader_epoch >= 0 && known_epoch >= 0 && p.leader_epoch < known_epoch {
                continue;
            }
            let id = p.leader_id.0;
            let leader = if id >= 0 && p.error_code != ErrorCode::LeaderNotAvailable as i16 {
                self.node_to_broker.get(&id).copied()
            } else {
                None
            };
            self.part_mut(key).leader_epoch = p.leader_epoch.max(known_epoch);
            self.set_leader(key, leader, if leader.is_some() { id } else { -1 });
        }
        let topic = &mut self.topics[tid.0 as usize];
        if topic.state != TopicState::Exists {
            topic.state = TopicState::Exists;
        }
        if !self.topics[tid.0 as usize].pending_is_empty() {
            self.replay_pending(now, tid);
        }
    }

    /// Names of the topics to ask Metadata about.
    pub(crate) fn metadata_topics(&self) -> impl Iterator<Item = StrBytes> + '_ {
        self.topics.iter().map(|t| t.name.clone())
    }
}

fn collect_headers<'a>(rec: &RawRecord<'a>) -> Vec<RecordHeader<'a>> {
    rec.headers
        .iter()
        .map(|(key, value)| RecordHeader { key, value })
        .collect()
}
