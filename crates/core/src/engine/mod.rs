//! The sans-IO producer engine.
//!
//! [`Engine`] is driven like quinn-proto's `Connection`: commands ([`Engine::send`],
//! [`Engine::flush`], [`Engine::purge`], [`Engine::close`]), inputs (`handle_*`), and outputs
//! (`poll_*`), with time passed in. After every command or input the driver drains
//! [`Engine::poll_conn_command`], [`Engine::poll_transmit`] and [`Engine::poll_event`] until
//! they return `None`, then sleeps until [`Engine::poll_timeout`] or the next input.
//!
//! # Structure
//!
//! - **Topics** are interned on first use (`TopicId`, an index); records carry no topic
//!   string. A topic without metadata keeps its records in a per-topic *pending* records
//!   buffer (same encoding as a batch, same queue limits) until Metadata names its
//!   partitions, then they are replayed through the partitioner in send order.
//! - **Partitions** own a `PartitionQueue` (module `accumulator`): closed batches oldest
//!   first plus one open batch. Records are encoded into the open batch at `send` (one copy
//!   of key, value and headers; per-record metadata is an `(opaque, enqueue instant)` pair
//!   in a per-batch `Vec`).
//! - **Brokers** are Metadata nodes plus the bootstrap addresses (negative ids). Each has at
//!   most one connection, an *active list* of the partitions it leads that hold batches, and
//!   a `wants_send` flag.
//!
//! # Readiness and requests
//!
//! A partition is *ready* when its head batch is closed (`batch.size` / `batch.num.messages`
//! reached), has lingered `linger.ms`, or the producer is flushing. Readiness is tracked per
//! broker, not scanned: a closed batch, a linger or backoff timer, a retry or a leader change
//! sets the leader's `wants_send`. When a broker wants to send, has a ready connection and
//! fewer than `max.in.flight` requests outstanding, the engine builds **one ProduceRequest
//! carrying the head batch of every partition in the broker's active list** that is not in
//! retry backoff, up to `message.max.bytes` per request.
//!
//! Design choice: once a broker has any ready partition, the *other* partitions' non-empty
//! open batches ride along even if they have not lingered yet (franz-go and the Java client's
//! `RecordAccumulator.drain` do this; librdkafka sends one request per partition and does
//! not). The request is going out anyway, so this costs no extra round trip, cuts the number
//! of requests with many low-rate partitions, and only ever sends a batch *earlier* than its
//! linger would have; `linger.ms` remains an upper bound on the added latency.
//!
//! # Who may fail a batch
//!
//! A batch is owned by exactly one place at a time: its partition queue, an in-flight request
//! (the request owns its batches), or a delivery report. Only the owner may complete or fail
//! it:
//! - in the queue: message timeout ([`MessageTimedOut`](ErrorCode::MessageTimedOut), status
//!   NotPersisted unless a previous attempt was sent), purge (`PurgeQueue`), unknown topic;
//! - in flight: the response, the connection loss, `socket.timeout.ms`, or purge
//!   (`PurgeInflight`; the request stays registered so its late response is ignored).
//!
//! Message timeout is checked per batch (the first record's enqueue time), as the Java
//! client's `delivery.timeout.ms` does; librdkafka times records individually, so a record
//! can fail up to one batch-fill time early here. A batch in flight is never failed by the
//! expiry timer: its request's own deadline is min(`socket.timeout.ms` after sending, the
//! earliest message deadline in it) (librdkafka's rule), and a retriable error past the
//! message deadline fails it with `MessageTimedOut`.
//!
//! Every failure goes through [`classify_produce_error`](crate::error::classify_produce_error)
//! (one place): retry or fail, metadata refresh, whether the retry counts against
//! `message.send.max.retries`, and the persistence status.
//!
//! # Ordering
//!
//! Per partition, batches keep their creation order (`seq`): a retried batch is reinserted
//! at its position, ahead of newer batches. A partition whose batches are in flight to its
//! old leader sends nothing to a new leader until they are settled. With `max.in.flight > 1`
//! and without idempotence a failed batch can still be overtaken by a later batch of the same
//! partition that was already in flight and succeeds (librdkafka documents the same caveat);
//! delivery reports then follow the actual outcome order. `max.in.flight = 1` keeps order.
//!
//! # Connections and metadata
//!
//! - A connection is asked for (`ConnCommand::Connect`) when a broker leads a partition that
//!   holds data, or when Metadata is wanted and no connection is up (known nodes first, then
//!   bootstrap addresses, round-robin). Setup is ApiVersions (KIP-511 fallback), then the
//!   connection is *ready*; `socket.connection.setup.timeout.ms` bounds it.
//! - Failed or lost connections back off (`reconnect.backoff.ms` doubling to
//!   `reconnect.backoff.max.ms`, jittered). A lost ready connection triggers a Metadata
//!   refresh. `AllBrokersDown` is reported once each time every broker is down.
//! - One Metadata request at a time, for every topic in use. Refresh: at once for a new
//!   topic or a stale-metadata error, every `topic.metadata.refresh.fast.interval.ms` while a
//!   topic or leader is unknown, else every `topic.metadata.refresh.interval.ms`. Rules for
//!   applying answers are in the `metadata` module.
//! - A response that doesn't decode or matches no request closes the connection; its
//!   requests fail with a transport error (retried). Nothing from the network can panic.
//!
//! # Designed-for extensions
//!
//! - Idempotence: the per-partition producer sequence is stamped when a batch is drained into
//!   a request (the point where `take_head` hands it to `build_produce`), not at append, so a
//!   retry reuses its sequence (the sealed bytes are kept) and an epoch bump can restamp
//!   sealed batches in place. At most 5 batches per partition in flight would be a check next
//!   to `in_flight` in the drain loop.
//! - Transactions (module `transaction`, done): coordinator requests are `ReqKind`s on the
//!   ordinary connections (a coordinator no partition lives on gets its own), matched to the
//!   transaction generation; a partition's batches are gated by `Partition::txn` in the drain
//!   loop; the idempotent producer's epoch bumps and fatal errors feed the transaction state
//!   (abortable with bump; fatal), and the bump is done at abort by InitProducerId.
//! - Throughput: timers live in a heap with lazy deletion (`poll_timeout` is O(1); the
//!   heap holds O(partitions + connections + lingering batches) entries, never O(records)),
//!   readiness is event-driven per broker, the drain loop visits only partitions with
//!   batches, and `send` does no per-record allocation beyond growing the batch buffers.

mod accumulator;
mod backoff;
mod broker;
mod delivery;
mod idempotence;
mod metadata;
mod request;
mod sender;
mod stats;
mod timer;
mod transaction;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

pub use self::delivery::{
    DeliveryReport, Drain, DrainStamps, HeaderIter, HeadersView, RecordView, Records, TimestampType,
};
pub use self::stats::{
    BrokerCounters, BrokerSnapshot, ClientCounters, EosSnapshot, PartitionCounters,
    PartitionSnapshot, StatsSnapshot, TopicSnapshot, WindowAccumulator, WindowStats,
};
pub use self::transaction::{GroupMetadata, TxnError, TxnOffset, TxnOp};
pub use crate::config::BrokerAddress;
pub use crate::partitioner::CustomPartitioner;
pub use purekafka_protocol::batch::RecordHeader;
pub use purekafka_protocol::frame::produce::ChunkedFrame;

use self::accumulator::{Batch, MESSAGE_OVERHEAD, payload_size};
use crate::config::Compression;
use purekafka_protocol::batch::{BatchError, CompressedRecords, compress_records};

/// librdkafka's upper bound for `message.max.bytes`, enforced even if the config says more.
const MAX_MESSAGE_MAX_BYTES: usize = 1_000_000_000;
use self::broker::{Broker, MetaState, Outgoing};
use self::idempotence::Idem;
use self::metadata::{Topic, TopicState};
use self::timer::TimerHeap;
use self::transaction::Txn;
use crate::config::ProducerConfig;
use crate::error::{ErrorCode, PersistenceStatus};
use crate::rng::Rng;
use crate::time::Instant;

/// Identifies one connection the engine asked the driver to open. Never reused within one
/// [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One batch's records to compress, from [`Engine::poll_compress`]: run it anywhere (it
/// borrows nothing from the engine) and hand the result to [`Engine::handle_compressed`].
#[derive(Debug)]
pub struct CompressJob {
    key: PartKey,
    seq: u64,
    codec: Compression,
    level: i32,
    records: Bytes,
}

impl CompressJob {
    /// Uncompressed size of the records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records (never, for a job the engine handed out).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Compresses the records (the CPU-heavy part of sealing a batch).
    pub fn run(self) -> Compressed {
        Compressed {
            key: self.key,
            seq: self.seq,
            result: compress_records(&self.records, self.codec, self.level),
        }
    }
}

/// A finished [`CompressJob`], for [`Engine::handle_compressed`].
#[derive(Debug)]
pub struct Compressed {
    key: PartKey,
    seq: u64,
    result: Result<CompressedRecords, BatchError>,
}

/// A whole request frame (4-byte size prefix included) to write to a connection, in order.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The connection to write to.
    pub conn: ConnId,
    /// The frame, as chunks to write back to back (one vectored write): a ProduceRequest's
    /// record batches are chunks of their own, never copied into the frame.
    pub frame: ChunkedFrame,
}

/// A connection the driver must open or close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnCommand {
    /// Open a TCP connection to `address` and report `handle_connected(conn)` or
    /// `handle_disconnected(conn)`.
    Connect {
        /// The id the engine will use for this connection.
        conn: ConnId,
        /// Where to connect.
        address: BrokerAddress,
    },
    /// Close the connection; the engine has already forgotten it (no further input for it is
    /// needed, and any is ignored).
    Close {
        /// The connection to close.
        conn: ConnId,
    },
}

/// What [`Engine::purge`] removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Records not yet sent (reported with [`ErrorCode::PurgeQueue`]).
    pub queue: bool,
    /// Records in requests awaiting a response (reported with [`ErrorCode::PurgeInflight`]).
    pub inflight: bool,
}

/// A record to send. Key, value and headers are copied during [`Engine::send`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Explicit partition, or `None` for the partitioner.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value (payload).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [RecordHeader<'a>],
    /// CreateTime in ms; the caller fills wall-clock now when the user gave none.
    pub timestamp_ms: i64,
}

/// A record [`Engine::send`] refused, with the caller's opaque handed back.
#[derive(Debug)]
pub struct SendError<O> {
    /// Why: `QueueFull`, `MessageSizeTooLarge`, `UnknownTopic`, `UnknownPartition`, `State`
    /// (closing), or a topic-level error such as `TopicAuthorizationFailed`.
    pub code: ErrorCode,
    /// The opaque given to `send`.
    pub opaque: O,
}

/// Something for the application.
#[derive(Debug)]
pub enum Event<O> {
    /// One per batch (not per record): every record of one partition batch, in send order.
    Delivery(DeliveryReport<O>),
    /// A client-level error for `ClientContext::error` (AllBrokersDown, transport failures).
    Error {
        /// The code.
        code: ErrorCode,
        /// Human-readable context (broker, cause).
        reason: String,
    },
    /// `statistics.interval.ms` elapsed: a snapshot for `ClientContext::stats`; its rolling
    /// windows cover the interval just ended, and the next interval's start empty.
    Stats(Box<StatsSnapshot>),
}

/// A topic, by interned index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TopicId(pub(crate) u32);

/// A partition: interned topic plus partition index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PartKey {
    pub(crate) topic: TopicId,
    pub(crate) partition: u32,
}

/// The sans-IO Kafka producer. `O` is the caller's per-record opaque value.
pub struct Engine<O> {
    cfg: ProducerConfig,
    rng: Rng,
    topics: Vec<Topic<O>>,
    topic_ids: HashMap<Box<str>, TopicId>,
    last_topic: Option<TopicId>,
    brokers: Vec<Broker<O>>,
    node_to_broker: HashMap<i32, usize>,
    conn_to_broker: HashMap<ConnId, usize>,
    next_conn: u64,
    timers: TimerHeap,
    metadata: MetaState,
    stats_due: Option<Instant>,
    out: VecDeque<Outgoing<O>>,
    conn_cmds: VecDeque<ConnCommand>,
    events: VecDeque<Event<O>>,
    /// Brokers whose `wants_send` was set since they were last served.
    send_queue: VecDeque<usize>,
    /// Set by `send` when a broker became ready to send: building its request is deferred to
    /// the driver's next `poll_transmit` or `handle_timeout` (reported by `poll_timeout`), so
    /// records sent until then ride in the same request. Building inside `send` made
    /// `linger.ms = 0` send one record per request.
    pub(crate) deferred_since: Option<Instant>,
    /// Records accepted and not yet handed out in a report (the queue limit's count).
    msg_cnt: usize,
    /// Their accounted bytes.
    msg_bytes: usize,
    /// Records (and bytes) whose reports the caller took and has not served yet
    /// (`set_unserved`): they still count against the queue limits.
    unserved_cnt: usize,
    unserved_bytes: usize,
    flushing: bool,
    /// The last `send` only added its record to an open batch (see [`Engine::last_send_quiet`]).
    last_send_quiet: bool,
    /// The driver reports written bytes (`handle_written`), so requests not yet written
    /// count against `queue.buffering.backpressure.threshold`.
    write_feedback: bool,
    /// Compression is done by the caller (`poll_compress` / `handle_compressed`).
    compress_offload: bool,
    /// Batches waiting for the caller to take their compression job, oldest first.
    compress_queue: VecDeque<(PartKey, u64)>,
    /// When `compress_queue` last became non-empty (`poll_timeout` reports it due).
    compress_due: Option<Instant>,
    closing: bool,
    closed: bool,
    all_down_reported: bool,
    custom_partitioner: Option<Box<dyn CustomPartitioner>>,
    counters: ClientCounters,
    /// `enable.idempotence` state.
    idem: Option<Idem>,
    /// `transactional.id` state.
    txn: Option<Txn>,
    /// The first fatal error and its reason (`Client::fatal_error`).
    fatal: Option<(ErrorCode, String)>,
}

impl<O> core::fmt::Debug for Engine<O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("topics", &self.topics.len())
            .field("brokers", &self.brokers.len())
            .field("msg_cnt", &self.msg_cnt)
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl<O> Engine<O> {
    /// A producer for `config`; `seed` drives every random choice (partitions, jitter).
    ///
    /// It starts bootstrapping at once: the first [`Engine::poll_conn_command`] asks for a
    /// connection to a bootstrap server.
    pub fn new(config: ProducerConfig, seed: u64, now: Instant) -> Self {
        let mut rng = Rng::new(seed);
        let mut brokers = Vec::new();
        for (i, addr) in config.bootstrap_servers.iter().enumerate() {
            brokers.push(Broker::new(-1 - i as i32, addr.clone(), true));
        }
        let bootstrap_cursor = if brokers.is_empty() {
            0
        } else {
            rng.below(brokers.len() as u32) as usize
        };
        // A transactional producer is idempotent (the config layer enforces it too).
        let config_idempotent = config.enable_idempotence || config.transactional_id.is_some();
        let txn = config.transactional_id.as_deref().map(Txn::new);
        let stats_due =
            (!config.statistics_interval.is_zero()).then(|| now + config.statistics_interval);
        let mut engine = Self {
            cfg: config,
            rng,
            topics: Vec::new(),
            topic_ids: HashMap::new(),
            last_topic: None,
            brokers,
            node_to_broker: HashMap::new(),
            conn_to_broker: HashMap::new(),
            next_conn: 1,
            timers: TimerHeap::default(),
            metadata: MetaState::new(bootstrap_cursor),
            stats_due,
            out: VecDeque::new(),
            conn_cmds: VecDeque::new(),
            events: VecDeque::new(),
            send_queue: VecDeque::new(),
            deferred_since: None,
            compress_offload: false,
            compress_queue: VecDeque::new(),
            compress_due: None,
            msg_cnt: 0,
            msg_bytes: 0,
            unserved_cnt: 0,
            unserved_bytes: 0,
            flushing: false,
            last_send_quiet: false,
            write_feedback: false,
            closing: false,
            closed: false,
            all_down_reported: false,
            custom_partitioner: None,
            counters: ClientCounters::default(),
            idem: config_idempotent.then(Idem::new),
            txn,
            fatal: None,
        };
        // Like librdkafka, learn the cluster (brokers only) right away.
        engine.metadata.wanted = true;
        engine.drive(now);
        engine
    }

    /// Installs a custom partitioner, consulted for records without an explicit partition
    /// (and, while sticky partitioning is on, only for keyed records).
    pub fn set_custom_partitioner(&mut self, partitioner: Box<dyn CustomPartitioner>) {
        self.custom_partitioner = Some(partitioner);
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &ProducerConfig {
        &self.cfg
    }

    // ---- commands ----

    /// Queues a record. Never blocks: copies key, value and headers into the partition's open
    /// batch (or the topic's pending buffer while its metadata is unknown). On error the
    /// opaque comes back in the [`SendError`].
    pub fn send(
        &mut self,
        now: Instant,
        record: Record<'_>,
        opaque: O,
    ) -> Result<(), SendError<O>> {
        self.last_send_quiet = false;
        if self.closing {
            return Err(SendError {
                code: ErrorCode::State,
                opaque,
            });
        }
        if self.idem_fatal_code().is_some() {
            return Err(SendError {
                code: ErrorCode::Fatal,
                opaque,
            });
        }
        if self.txn_refuses_send() {
            // librdkafka: records are accepted only between begin and commit/abort.
            return Err(SendError {
                code: ErrorCode::State,
                opaque,
            });
        }
        let accounted = payload_size(record.key, record.value, record.headers);
        let max_size = self.cfg.message_max_bytes.min(MAX_MESSAGE_MAX_BYTES);
        if MESSAGE_OVERHEAD + accounted > max_size {
            return Err(SendError {
                code: ErrorCode::MessageSizeTooLarge,
                opaque,
            });
        }
        let max_msgs = self.cfg.queue_buffering_max_messages;
        let max_bytes = self.cfg.queue_buffering_max_kbytes.saturating_mul(1024);
        let (cnt, bytes) = (
            self.msg_cnt + self.unserved_cnt,
            self.msg_bytes + self.unserved_bytes,
        );
        if (max_msgs > 0 && cnt >= max_msgs) || bytes + accounted > max_bytes {
            return Err(SendError {
                code: ErrorCode::QueueFull,
                opaque,
            });
        }
        if record.partition.is_some_and(|p| p < 0) {
            return Err(SendError {
                code: ErrorCode::UnknownPartition,
                opaque,
            });
        }
        let Some(tid) = self.intern_topic(now, record.topic) else {
            return Err(SendError {
                code: ErrorCode::InvalidArgument,
                opaque,
            });
        };
        let topic = &self.topics[tid.0 as usize];
        let mut quiet = false;
        match topic.state {
            TopicState::NotExists => {
                return Err(SendError {
                    code: ErrorCode::UnknownTopic,
                    opaque,
                });
            }
            TopicState::Error(code) => return Err(SendError { code, opaque }),
            TopicState::Unknown => {
                self.push_pending(now, tid, &record, opaque, accounted);
            }
            TopicState::Exists => {
                let cnt = topic.partitions.len() as u32;
                let partition = match record.partition {
                    Some(p) if p as u32 >= cnt => None,
                    Some(p) => Some(p as u32),
                    None => self.choose_partition(now, tid, record.key),
                };
                let Some(partition) = partition else {
                    return Err(SendError {
                        code: ErrorCode::UnknownPartition,
                        opaque,
                    });
                };
                let key = PartKey {
                    topic: tid,
                    partition,
                };
                quiet = self.append_record(
                    now,
                    now,
                    key,
                    record.timestamp_ms,
                    record.key,
                    record.value,
                    record.headers,
                    opaque,
                    accounted,
                );
            }
        }
        self.msg_cnt += 1;
        self.msg_bytes += accounted;
        if self.metadata.kick {
            self.drive(now);
            quiet = false;
        } else if (!self.send_queue.is_empty() || self.txn_register_due())
            && self.deferred_since.is_none()
        {
            // AddPartitionsToTxn is deferred like produce requests: partitions that get
            // records until the driver's next poll share one request.
            self.deferred_since = Some(now);
            quiet = false;
        }
        self.last_send_quiet = quiet;
        Ok(())
    }

    /// Whether the last [`Engine::send`] only added its record to a batch that was already
    /// open: it queued no connection command, event, transactional result or frame, and
    /// neither armed a timer nor moved [`Engine::poll_timeout`] earlier. A driver that routed
    /// every output after the previous command may then skip polling them (the common case:
    /// every record of a batch but the one that opened it). A refused record is not quiet.
    #[must_use]
    pub fn last_send_quiet(&self) -> bool {
        self.last_send_quiet
    }

    /// Whether connection commands, events or transactional results wait to be polled (for
    /// a driver's consistency checks).
    #[must_use]
    pub fn has_queued_output(&self) -> bool {
        !self.conn_cmds.is_empty() || !self.events.is_empty() || self.has_txn_result()
    }

    /// Makes every queued batch ready now, ignoring `linger.ms` (also for records sent
    /// meanwhile) until [`Engine::in_flight_count`] drops to zero.
    pub fn flush(&mut self, now: Instant) {
        self.flushing = self.msg_cnt > 0;
        for b in 0..self.brokers.len() {
            if !self.brokers[b].active.is_empty() {
                self.broker_wants_send(b);
            }
        }
        self.drive(now);
    }

    /// Ends a [`Engine::flush`] early (the caller's flush timed out): linger applies again.
    pub fn cancel_flush(&mut self) {
        self.flushing = false;
    }

    /// Fails queued and/or in-flight records at once with `PurgeQueue` / `PurgeInflight`
    /// reports. Responses that later arrive for purged requests are ignored.
    pub fn purge(&mut self, now: Instant, what: Purge) {
        if what.queue {
            self.purge_queue(now);
        }
        if what.inflight {
            self.purge_inflight(now);
        }
        self.drive(now);
    }

    /// Stops accepting records, flushes what is queued, and closes every connection once
    /// nothing is queued or in flight. Reports still wait in [`Engine::poll_event`].
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        self.flush(now);
    }

    /// Whether [`Engine::close`] has finished: nothing queued or in flight, connections closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Records queued or in flight plus records whose reports have not been served yet
    /// (librdkafka's `rd_kafka_outq_len` for messages; see [`Engine::set_unserved`]).
    pub fn in_flight_count(&self) -> usize {
        self.msg_cnt + self.unserved_cnt
    }

    /// Records, and their bytes (as counted by `queue.buffering.max.kbytes`), whose delivery
    /// reports the caller has taken with `poll_event` but not yet handed to the application.
    /// Like librdkafka, `send` counts them against the queue limits until then, so that a
    /// producer that never serves its reports gets `QueueFull` instead of unbounded memory;
    /// [`Engine::in_flight_count`] includes them.
    pub fn set_unserved(&mut self, records: usize, bytes: usize) {
        self.unserved_cnt = records;
        self.unserved_bytes = bytes;
    }

    // ---- inputs ----

    /// The driver's connection `conn` is established.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.on_connected(now, conn);
        self.drive(now);
    }

    /// The connection `conn` failed to open or was lost.
    pub fn handle_disconnected(&mut self, now: Instant, conn: ConnId) {
        self.on_disconnected(now, conn, ErrorCode::BrokerTransportFailure, "Disconnected");
        self.drive(now);
    }

    /// One whole response frame read from `conn`, WITHOUT its 4-byte size prefix.
    pub fn handle_response(&mut self, now: Instant, conn: ConnId, frame: Bytes) {
        self.on_response(now, conn, frame);
        self.drive(now);
    }

    /// Opts into write feedback: from now on the driver reports, with
    /// [`handle_written`](Self::handle_written), the bytes of each connection's frames it
    /// has written to the socket. The engine then holds back new ProduceRequests to a broker
    /// while `queue.buffering.backpressure.threshold` of its requests are not yet written
    /// (librdkafka's rule), so records keep filling batches instead of piling up as frames
    /// behind a slow socket. Without it, frames count as written once polled.
    pub fn enable_write_feedback(&mut self) {
        self.write_feedback = true;
    }

    /// The driver wrote `bytes` more bytes of `conn`'s frames (in the order polled) to the
    /// socket. Only meaningful after [`enable_write_feedback`](Self::enable_write_feedback).
    pub fn handle_written(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        // Only a broker released from backpressure has anything new to do; driving on every
        // write would build requests ahead of the driver's deferred poll (smaller batches).
        if self.on_written(now, conn, bytes) {
            self.drive(now);
        }
    }

    /// The caller compresses batches: instead of compressing while it builds a request, the
    /// engine hands each batch's records out as a [`CompressJob`] (`poll_compress`), which
    /// the caller runs wherever it likes (off the lock around the engine, so that `send`
    /// keeps filling the next batches meanwhile) and returns with `handle_compressed`. The
    /// batch goes into a request after that. Without this, compression happens inside
    /// `poll_transmit`.
    pub fn enable_compression_offload(&mut self) {
        self.compress_offload = true;
    }

    /// The next batch to compress (with [`enable_compression_offload`]). `poll_timeout`
    /// reports a due instant while jobs wait.
    ///
    /// [`enable_compression_offload`]: Self::enable_compression_offload
    pub fn poll_compress(&mut self) -> Option<CompressJob> {
        while let Some((key, seq)) = self.compress_queue.pop_front() {
            let codec = self.cfg.compression;
            let level = self.cfg.compression_level;
            let Some(batch) = self.compressing_batch(key, seq) else {
                // Purged, expired or failed meanwhile.
                continue;
            };
            let records = batch.records.share();
            if self.compress_queue.is_empty() {
                self.compress_due = None;
            }
            return Some(CompressJob {
                key,
                seq,
                codec,
                level,
                records,
            });
        }
        self.compress_due = None;
        None
    }

    /// A [`CompressJob`]'s result: the batch becomes ready for a request (or, if compressing
    /// failed, is reported failed with `BadCompression`).
    pub fn handle_compressed(&mut self, now: Instant, done: Compressed) {
        let Compressed { key, seq, result } = done;
        let Some(batch) = self.compressing_batch(key, seq) else {
            return;
        };
        batch.compressing = false;
        match result {
            Ok(c) => batch.compressed = Some(c),
            Err(_) => {
                let failed = self.part_mut(key).q.take_queued_where(|b| b.seq == seq);
                for b in failed {
                    self.fail_batch(
                        now,
                        key,
                        b,
                        ErrorCode::BadCompression,
                        PersistenceStatus::NotPersisted,
                    );
                }
            }
        }
        if let Some(leader) = self.part_mut(key).leader {
            self.broker_wants_send(leader);
            if self.deferred_since.is_none() {
                self.deferred_since = Some(now);
            }
        }
    }

    /// The queued batch `seq` of partition `key`, if it still waits for compression.
    fn compressing_batch(&mut self, key: PartKey, seq: u64) -> Option<&mut Batch<O>> {
        let topic = self.topics.get_mut(key.topic.0 as usize)?;
        let part = topic.partitions.get_mut(key.partition as usize)?;
        part.q
            .queued
            .iter_mut()
            .find(|b| b.seq == seq && b.compressing)
    }

    /// Queues the compression of partition `key`'s head batch (closing it if open).
    pub(crate) fn request_compression(&mut self, now: Instant, key: PartKey) {
        let part = self.part_mut(key);
        if part.q.queued.is_empty() {
            part.q.close_open();
        }
        let Some(head) = part.q.queued.front_mut() else {
            return;
        };
        if head.compressing || head.compressed.is_some() {
            return;
        }
        head.compressing = true;
        let seq = head.seq;
        self.compress_queue.push_back((key, seq));
        if self.compress_due.is_none() {
            self.compress_due = Some(now);
        }
    }

    /// Timers due at or before `now` fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.on_timeout(now);
        self.drive(now);
    }

    // ---- outputs ----

    /// The next frame to write, in order per connection.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.deferred_since.is_some() {
            self.drive(now);
        }
        let o = self.out.pop_front()?;
        Some(self.on_transmit_polled(now, o))
    }

    /// Whether [`Engine::poll_transmit`] has (or, on its next call, will build) a frame: a
    /// driver that lets records accumulate between `send`s and its own I/O loop checks this
    /// instead of polling transmits after every `send`.
    #[must_use]
    pub fn has_pending_transmit(&self) -> bool {
        !self.out.is_empty() || self.deferred_since.is_some()
    }

    /// The next connection to open or close.
    #[must_use]
    pub fn poll_conn_command(&mut self) -> Option<ConnCommand> {
        self.conn_cmds.pop_front()
    }

    /// The next instant at which [`Engine::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Plain comparisons: the driver asks after every `send`, and building an array of
        // options to iterate cost a store-forwarding stall each time.
        fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, None) => a,
                (None, b) => b,
            }
        }
        earliest(
            earliest(self.timers.next(), self.metadata.next_due),
            earliest(
                earliest(self.stats_due, self.deferred_since),
                self.compress_due,
            ),
        )
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<O>> {
        let ev = self.events.pop_front()?;
        if let Event::Delivery(r) = &ev {
            self.release_records(r.len(), r.accounted_bytes);
        }
        Some(ev)
    }

    /// A snapshot of the statistics counters (O(brokers + partitions)), with the rolling
    /// windows of the current interval so far (empty without `statistics.interval.ms`, as in
    /// librdkafka): unlike the `Event::Stats` emission, it does not start a new interval.
    pub fn stats(&self, now: Instant) -> StatsSnapshot {
        self.snapshot(now)
    }

    // ---- internals shared by the submodules ----

    /// Records leave the queue-limit accounting (their report was handed out or dropped).
    fn release_records(&mut self, n: usize, bytes: usize) {
        // Every accepted record leaves exactly once; saturate rather than wrap if that
        // invariant were ever broken.
        debug_assert!(self.msg_cnt >= n && self.msg_bytes >= bytes);
        self.msg_cnt = self.msg_cnt.saturating_sub(n);
        self.msg_bytes = self.msg_bytes.saturating_sub(bytes);
        if self.msg_cnt == 0 {
            // librdkafka ignores linger while `rd_kafka_flush` waits; the wait ends when the
            // queue is empty.
            self.flushing = false;
        }
    }

    /// The topic's id, interned on first use; `None` for a name with a NUL byte, which no
    /// Kafka topic has (and C clients cannot even pass): checked only for names not seen
    /// before, so a send to a known topic pays nothing for it.
    fn intern_topic(&mut self, now: Instant, name: &str) -> Option<TopicId> {
        // Producers usually send to one topic at a time: skip the hash for a repeat.
        if let Some(id) = self.last_topic {
            if *self.topics[id.0 as usize].name == *name {
                return Some(id);
            }
        }
        if let Some(&id) = self.topic_ids.get(name) {
            self.last_topic = Some(id);
            return Some(id);
        }
        if name.as_bytes().contains(&0) {
            return None;
        }
        let id = TopicId(self.topics.len() as u32);
        self.topics.push(Topic::new(name, now));
        self.topic_ids.insert(name.into(), id);
        self.last_topic = Some(id);
        self.metadata.wanted = true;
        self.send_queue_kick();
        Some(id)
    }

    /// Ensures `drive` runs after this command even when no broker wants to send.
    fn send_queue_kick(&mut self) {
        self.metadata.kick = true;
    }

    pub(crate) fn broker_wants_send(&mut self, b: usize) {
        let broker = &mut self.brokers[b];
        broker.wants_send = true;
        if !broker.in_send_queue {
            broker.in_send_queue = true;
            self.send_queue.push_back(b);
        }
    }

    /// Does whatever the current state allows: metadata requests, connections, produce
    /// requests, and the close sequence.
    fn drive(&mut self, now: Instant) {
        self.metadata.kick = false;
        self.deferred_since = None;
        self.service_metadata(now);
        self.service_transactions(now);
        self.service_idempotence(now);
        let mut rounds = self.send_queue.len();
        while rounds > 0 {
            rounds -= 1;
            let Some(b) = self.send_queue.pop_front() else {
                break;
            };
            self.brokers[b].in_send_queue = false;
            if self.brokers[b].wants_send {
                self.serve_broker(now, b);
            }
        }
        if self.closing && !self.closed {
            self.maybe_finish_close();
        }
    }

    fn maybe_finish_close(&mut self) {
        let busy = self.topics.iter().any(|t| {
            !t.pending_is_empty()
                || t.partitions
                    .iter()
                    .any(|p| !p.q.is_empty() || p.q.in_flight > 0)
        }) || !self.out.is_empty();
        if busy {
            return;
        }
        self.closed = true;
        self.metadata.next_due = None;
        self.stats_due = None;
        // Nothing is left that a timer could act on; drop the moot entries too.
        self.timers = TimerHeap::default();
        for b in 0..self.brokers.len() {
            self.close_conn(b);
        }
    }
}
