//! An in-memory fake Kafka cluster on virtual time, with fault injection. Sans-IO, like the
//! engine it tests: the caller opens connections, hands request frames in with the current
//! virtual `now`, and polls responses (and broker-side disconnects) once they are due.
//!
//! The fake decodes requests with `kafka-protocol`'s broker-side decoders and answers with real
//! response encodings: ApiVersions (Kafka 4.1's ranges by default), Metadata, Produce and
//! InitProducerId. Produce checks leadership (NOT_LEADER_OR_FOLLOWER with the current leader),
//! topic/partition existence, the batch's framing and CRC-32C (CORRUPT_MESSAGE), size
//! (MESSAGE_TOO_LARGE) and acks; it appends the batch bytes as received with the base offset
//! it assigns. Batches with a producer id get Kafka's idempotence checks (KIP-98): a retry
//! of one of the last 5 batches is answered with its original offset and not appended, a
//! sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch INVALID_PRODUCER_EPOCH. `acks=0` gets no response (and, as Kafka does, a closed connection on error).
//!
//! Transactions (the `txn` module, Kafka 4.1's coordinator rules): FindCoordinator v0-v6,
//! InitProducerId with a transactional id, AddPartitionsToTxn v0-v3, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn, transactional Produce (verification, Produce v12's implicit add),
//! COMMIT/ABORT control batches, transaction timeouts on virtual time, and the views a test
//! checks with: [`FakeCluster::read_committed`], [`FakeCluster::committed_offsets`],
//! [`FakeCluster::completed_transactions`], [`FakeCluster::hanging_transactions`].
//! `transaction.version` is a [`FakeConfig`] feature ([`FakeConfig::with_transaction_version`]).
//!
//! Faults: scripted per-request [`Fault`]s (error codes, delays, hangs, disconnects before or
//! after processing, KIP-219 throttles, truncated or junk responses; filtered by API, broker,
//! partition, transactional/group id), broker down/up, per-broker latency, leader moves with
//! epoch bumps, partition growth, coordinator moves ([`FakeCluster::move_coordinator`]) and
//! fail-over of a dead broker's leaderships ([`FakeCluster::fail_over`]). Every request is
//! recorded ([`RequestRecord`]) with its arrival time, what it carried and what it was
//! answered.
//!
//! Addresses are `fake-<node>:9092`, node ids `1..=brokers`.

mod batch;
mod faults;
mod handlers;
#[cfg(test)]
mod real_kafka_tests;
#[cfg(test)]
mod tests;
mod txn;
#[cfg(test)]
mod txn_tests;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use core::time::Duration;
use kafka_protocol::messages::ApiKey;
use purekafka_core::Instant;
use purekafka_core::config::BrokerAddress;
use uuid::Uuid;

pub use batch::{BATCH_HEADER_LEN, BatchError, BatchHeader, crc32c, parse_single_batch};
pub use faults::{AppliedFault, Fault, FaultAction};
pub use txn::{
    ATTR_CONTROL, ATTR_TRANSACTIONAL, CONSUMER_OFFSETS_TOPIC, CommittedOffset, CompletedTxn,
    ControlMarker, CoordinatorType, EndCause, HangingTxn, INTERNAL_PARTITIONS,
    TRANSACTION_STATE_TOPIC, TxnInfo, TxnStatus, java_string_hash, key_partition,
};

/// Host-name prefix of fake broker addresses (`fake-<node>`).
pub const HOST_PREFIX: &str = "fake-";
/// The port every fake broker "listens" on.
pub const PORT: u16 = 9092;

/// One connection from the client to a fake broker (the fake's own numbering, never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FakeConnId(pub u64);

/// Misuse of the fake (by a test or the harness), or a failed connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FakeError {
    /// The address names no fake broker.
    #[error("no fake broker at {host}:{port}")]
    UnknownAddress {
        /// Host asked for.
        host: String,
        /// Port asked for.
        port: u16,
    },
    /// The broker is down: connects are refused.
    #[error("broker {0} is down")]
    BrokerDown(i32),
    /// No broker with this node id.
    #[error("no broker {0}")]
    UnknownBroker(i32),
    /// The connection was closed (by either side) or never existed.
    #[error("connection {0:?} is closed")]
    ConnectionClosed(FakeConnId),
    /// No such topic.
    #[error("no topic {0:?}")]
    UnknownTopic(String),
    /// No such partition.
    #[error("no partition {topic}/{partition}")]
    UnknownPartition {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// A stored batch could not be decoded for inspection.
    #[error("cannot decode batch at offset {base_offset} of {topic}/{partition}: {reason}")]
    Decode {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Base offset of the batch.
        base_offset: i64,
        /// Decoder message.
        reason: String,
    },
}

/// A supported version range for one API, as advertised in ApiVersions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRange {
    /// API key.
    pub api_key: i16,
    /// Lowest version.
    pub min: i16,
    /// Highest version.
    pub max: i16,
}

/// What Apache Kafka 4.1 advertises for the APIs a producer touches (plus a few common ones),
/// from the broker's JSON `validVersions` (Produce keeps advertising min 0, KAFKA-18659).
pub fn kafka_4_1_api_versions() -> Vec<ApiRange> {
    [
        (0, 0, 13), // Produce
        (1, 4, 17), // Fetch
        (2, 1, 10), // ListOffsets
        (3, 0, 13), // Metadata
        (8, 2, 9),  // OffsetCommit
        (9, 1, 9),  // OffsetFetch
        (10, 0, 6), // FindCoordinator
        (17, 0, 1), // SaslHandshake
        (18, 0, 4), // ApiVersions
        (19, 2, 7), // CreateTopics
        (22, 0, 5), // InitProducerId
        (24, 0, 5), // AddPartitionsToTxn
        (25, 0, 4), // AddOffsetsToTxn
        (26, 0, 5), // EndTxn
        (28, 0, 5), // TxnOffsetCommit
        (36, 0, 2), // SaslAuthenticate
    ]
    .into_iter()
    .map(|(api_key, min, max)| ApiRange { api_key, min, max })
    .collect()
}

/// A KIP-584 feature flag advertised in ApiVersions v3+.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Feature name, e.g. `transaction.version`.
    pub name: String,
    /// Lowest supported level.
    pub min: i16,
    /// Highest supported level.
    pub max: i16,
    /// Finalized (cluster-wide enabled) level; 0 = not finalized, not listed.
    pub finalized: i16,
}

/// Features of a Kafka 4.x cluster formatted with defaults: `transaction.version` 2 (KIP-890
/// TV2 is finalized by default on new 4.0+ clusters) and `group.version` 1.
pub fn kafka_4_1_features() -> Vec<Feature> {
    [("transaction.version", 0, 2, 2), ("group.version", 0, 1, 1)]
        .into_iter()
        .map(|(name, min, max, finalized)| Feature {
            name: name.to_owned(),
            min,
            max,
            finalized,
        })
        .collect()
}

/// How the fake cluster is built.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Number of brokers, node ids `1..=brokers`.
    pub brokers: i32,
    /// Default one-way-plus-processing latency: a response is due this long after its request.
    pub latency: Duration,
    /// Advertised API version ranges; requests outside them are refused.
    pub api_versions: Vec<ApiRange>,
    /// Features advertised in ApiVersions v3+.
    pub features: Vec<Feature>,
    /// Create unknown topics named in Metadata when the request allows it.
    pub auto_create_topics: bool,
    /// Partition count of auto-created topics.
    pub default_partitions: i32,
    /// Wall-clock milliseconds at virtual `Instant::ZERO` (for LogAppendTime).
    pub wall_clock_origin_ms: i64,
    /// Topic `max.message.bytes` (Kafka's default 1048588): larger batches get MESSAGE_TOO_LARGE.
    pub max_message_bytes: usize,
    /// Cluster id in Metadata.
    pub cluster_id: String,
    /// `transaction.max.timeout.ms` (Kafka's default 15 min): InitProducerId with a longer
    /// `transaction.timeout.ms` gets INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout: Duration,
    /// How long the coordinator takes to write the markers of a transaction after EndTxn
    /// (or a fence or timeout); meanwhile the transaction is PrepareCommit/PrepareAbort and
    /// requests for it get CONCURRENT_TRANSACTIONS.
    pub txn_marker_latency: Duration,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (Kafka's default 10 s):
    /// timed-out transactions are aborted on the first multiple of it past their deadline.
    /// Zero = exactly at the deadline.
    pub txn_abort_check_interval: Duration,
    /// How long a coordinator that just took over a key answers COORDINATOR_LOAD_IN_PROGRESS.
    pub coordinator_load_time: Duration,
}

impl FakeConfig {
    /// The finalized `transaction.version` the cluster advertises (0 when not finalized).
    pub fn transaction_version(&self) -> i16 {
        self.features
            .iter()
            .find(|f| f.name == "transaction.version")
            .map_or(0, |f| f.finalized)
    }

    /// Finalizes `transaction.version` at `level` (0 = not finalized, as a cluster formatted
    /// with `transaction.version=0`, or a 3.x one): 2 enables KIP-890 TV2 for clients.
    pub fn with_transaction_version(mut self, level: i16) -> Self {
        match self
            .features
            .iter_mut()
            .find(|f| f.name == "transaction.version")
        {
            Some(f) => f.finalized = level,
            None => self.features.push(Feature {
                name: "transaction.version".to_owned(),
                min: 0,
                max: 2,
                finalized: level,
            }),
        }
        self
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            brokers: 3,
            latency: Duration::from_millis(1),
            api_versions: kafka_4_1_api_versions(),
            features: kafka_4_1_features(),
            auto_create_topics: false,
            default_partitions: 1,
            wall_clock_origin_ms: 1_700_000_000_000,
            max_message_bytes: 1_048_588,
            cluster_id: "fake-cluster".to_owned(),
            transaction_max_timeout: Duration::from_secs(900),
            txn_marker_latency: Duration::from_millis(3),
            txn_abort_check_interval: Duration::from_secs(10),
            coordinator_load_time: Duration::ZERO,
        }
    }
}

/// Something the cluster hands back to the client side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeOutput {
    /// A response frame (header + body, WITHOUT the 4-byte size prefix).
    Response {
        /// Connection it arrives on.
        conn: FakeConnId,
        /// The frame.
        frame: Bytes,
    },
    /// The broker side closed the connection (fault, broker down, protocol error).
    Disconnected {
        /// The closed connection.
        conn: FakeConnId,
    },
}

/// One batch in a partition's log.
#[derive(Clone, Debug)]
pub struct StoredBatch {
    /// Offset the broker assigned to the batch's first record.
    pub base_offset: i64,
    /// The batch header as received.
    pub header: BatchHeader,
    /// The batch bytes exactly as received (baseOffset still as the client wrote it).
    pub bytes: Bytes,
    /// Virtual time of the append.
    pub appended_at: Instant,
    /// Broker that appended it (the leader then).
    pub broker: i32,
    /// Leader epoch at append time.
    pub leader_epoch: i32,
    /// LogAppendTime given to the batch (-1 for CreateTime topics).
    pub log_append_time_ms: i64,
}

/// One record read back from a partition's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Absolute offset.
    pub offset: i64,
    /// Record timestamp: CreateTime as written, or the batch's LogAppendTime.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one partition of a Produce request carried and got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedPartition {
    /// Topic name ("" when a v13 topic id was unknown).
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Records in the batch (0 when the batch could not be parsed).
    pub record_count: i32,
    /// `baseSequence` of the batch (-1 when not idempotent or unparsable).
    pub base_sequence: i32,
    /// Error code answered (0 = appended).
    pub error_code: i16,
    /// Base offset assigned (-1 when not appended); for a duplicate, the original's.
    pub base_offset: i64,
    /// An idempotent retry of a batch already in the log: answered with the original
    /// offset, not appended again (KIP-98).
    pub duplicate: bool,
}

/// What a Produce request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProduceSummary {
    /// `acks`.
    pub acks: i16,
    /// `timeout_ms`.
    pub timeout_ms: i32,
    /// Partitions in request order.
    pub partitions: Vec<ProducedPartition>,
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Arrival time.
    pub at: Instant,
    /// Connection.
    pub conn: FakeConnId,
    /// Broker.
    pub broker: i32,
    /// API key (None when the key was unknown).
    pub api_key: Option<ApiKey>,
    /// API version.
    pub api_version: i16,
    /// Correlation id (-1 when the header did not decode).
    pub correlation_id: i32,
    /// `client.id` from the header.
    pub client_id: Option<String>,
    /// Produce details.
    pub produce: Option<ProduceSummary>,
    /// The scripted fault it matched.
    pub fault: Option<AppliedFault>,
    /// Why the fake refused it (unsupported version, decode failure), closing the connection.
    pub rejected: Option<String>,
    /// The error code answered by a coordinator API (FindCoordinator: the first key's;
    /// AddPartitionsToTxn, TxnOffsetCommit: the first partition error, else 0); None for
    /// the other APIs.
    pub answered: Option<i16>,
}

struct Broker {
    up: bool,
    latency: Duration,
}

struct Partition {
    leader: i32,
    leader_epoch: i32,
    log: Vec<StoredBatch>,
    next_offset: i64,
    /// Idempotent producers writing here (KIP-98), by producer id.
    producers: HashMap<i64, ProducerState>,
}

/// What the broker remembers of one idempotent producer on one partition.
#[derive(Clone, Debug, Default)]
struct ProducerState {
    epoch: i16,
    /// The last [`RETAINED_BATCHES`] batches: (first seq, last seq, base offset, append time).
    batches: std::collections::VecDeque<(i32, i32, i64, i64)>,
    /// A marker started this epoch: the next batch must have sequence 0.
    fresh_epoch: bool,
    /// First offset of the producer's open transaction on this partition.
    txn_first_offset: Option<i64>,
}

/// Kafka keeps the last 5 batches per producer and partition for duplicate detection
/// (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
const RETAINED_BATCHES: usize = 5;

struct Topic {
    id: Uuid,
    partitions: Vec<Partition>,
    log_append_time: bool,
}

struct Conn {
    node: i32,
    open: bool,
    /// A Hang fault stalled it: nothing more is ever answered on it.
    hung: bool,
    /// Responses on one connection leave in request order.
    last_due: Instant,
}

/// The fake cluster. See the module docs.
pub struct FakeCluster {
    config: FakeConfig,
    brokers: BTreeMap<i32, Broker>,
    topics: BTreeMap<String, Topic>,
    conns: HashMap<FakeConnId, Conn>,
    next_conn: u64,
    /// Due outputs, ordered by (due, arrival sequence); `None` = disconnect notice.
    pending: BTreeMap<(Instant, u64), (FakeConnId, Option<Bytes>)>,
    seq: u64,
    faults: Vec<Fault>,
    requests: Vec<RequestRecord>,
    next_producer_id: i64,
    internal_errors: Vec<String>,
    coordinators: txn::Coordinators,
}

impl FakeCluster {
    /// A cluster with `config.brokers` brokers, all up, and no topics.
    pub fn new(config: FakeConfig) -> Self {
        let brokers = (1..=config.brokers.max(1))
            .map(|id| {
                (
                    id,
                    Broker {
                        up: true,
                        latency: config.latency,
                    },
                )
            })
            .collect();
        Self {
            config,
            brokers,
            topics: BTreeMap::new(),
            conns: HashMap::new(),
            next_conn: 1,
            pending: BTreeMap::new(),
            seq: 0,
            faults: Vec::new(),
            requests: Vec::new(),
            next_producer_id: 1000,
            internal_errors: Vec::new(),
            coordinators: txn::Coordinators::default(),
        }
    }

    /// The configuration the cluster was built with.
    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    /// Node ids of all brokers (up or down).
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// The address of broker `node`.
    pub fn address(node: i32) -> BrokerAddress {
        BrokerAddress {
            host: format!("{HOST_PREFIX}{node}"),
            port: PORT,
        }
    }

    /// Every broker's address, for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> Vec<BrokerAddress> {
        self.brokers.keys().map(|&n| Self::address(n)).collect()
    }

    /// Creates `name` with `partitions` partitions, leaders spread round-robin, epoch 0.
    /// Returns the topic id. Re-creating an existing topic leaves it unchanged.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Uuid {
        if let Some(t) = self.topics.get(name) {
            return t.id;
        }
        let n = self.brokers.len() as i32;
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let shift = self.topics.len() as i32;
        let id = Uuid::from_u128(
            0x5eed_0000_0000_4000_8000_0000_0000_0000 | (self.topics.len() as u128 + 1),
        );
        let partitions = (0..partitions.max(1))
            .map(|p| Partition {
                leader: ids[((p + shift) % n) as usize],
                leader_epoch: 0,
                log: Vec::new(),
                next_offset: 0,
                producers: HashMap::new(),
            })
            .collect();
        self.topics.insert(
            name.to_owned(),
            Topic {
                id,
                partitions,
                log_append_time: false,
            },
        );
        id
    }

    /// Makes `topic` stamp LogAppendTime (`message.timestamp.type=LogAppendTime`) or not.
    pub fn set_log_append_time(&mut self, topic: &str, on: bool) -> Result<(), FakeError> {
        self.topic_mut(topic)?.log_append_time = on;
        Ok(())
    }

    /// The id of `topic`.
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics.get(topic).map(|t| t.id)
    }

    /// Partition count of `topic`.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    /// `(leader node, leader epoch)` of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let p = self
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)?;
        Some((p.leader, p.leader_epoch))
    }

    /// Moves a partition's leadership to `to`, bumping the leader epoch; returns the new epoch.
    /// Produce requests to the old leader then get NOT_LEADER_OR_FOLLOWER.
    pub fn move_leader(&mut self, topic: &str, partition: i32, to: i32) -> Result<i32, FakeError> {
        if !self.brokers.contains_key(&to) {
            return Err(FakeError::UnknownBroker(to));
        }
        let p = self.partition_mut(topic, partition)?;
        p.leader = to;
        p.leader_epoch += 1;
        Ok(p.leader_epoch)
    }

    /// Grows `topic` to `total` partitions (Kafka can only add partitions); the new ones get
    /// leaders round-robin, epoch 0. Returns the new count.
    pub fn add_partitions(&mut self, topic: &str, total: i32) -> Result<i32, FakeError> {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let t = self.topic_mut(topic)?;
        while (t.partitions.len() as i32) < total {
            let p = t.partitions.len();
            t.partitions.push(Partition {
                leader: ids[p % ids.len()],
                leader_epoch: 0,
                log: Vec::new(),
                next_offset: 0,
                producers: HashMap::new(),
            });
        }
        Ok(t.partitions.len() as i32)
    }

    /// Sets broker `node`'s response latency.
    pub fn set_latency(&mut self, node: i32, latency: Duration) -> Result<(), FakeError> {
        self.brokers
            .get_mut(&node)
            .ok_or(FakeError::UnknownBroker(node))?
            .latency = latency;
        Ok(())
    }

    /// Takes broker `node` down: its connections drop now, new connects are refused, Metadata
    /// stops listing it and reports LEADER_NOT_AVAILABLE for partitions it leads.
    pub fn set_broker_down(&mut self, now: Instant, node: i32) -> Result<(), FakeError> {
        self.brokers
            .get_mut(&node)
            .ok_or(FakeError::UnknownBroker(node))?
            .up = false;
        self.disconnect_broker(now, node);
        Ok(())
    }

    /// Brings broker `node` back.
    pub fn set_broker_up(&mut self, node: i32) -> Result<(), FakeError> {
        self.brokers
            .get_mut(&node)
            .ok_or(FakeError::UnknownBroker(node))?
            .up = true;
        Ok(())
    }

    /// Whether broker `node` is up.
    pub fn is_broker_up(&self, node: i32) -> bool {
        self.brokers.get(&node).is_some_and(|b| b.up)
    }

    /// Adds a scripted fault (checked in insertion order; the first match applies).
    pub fn push_fault(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Forgets every scripted fault not yet used up.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Scripted faults with uses left.
    pub fn pending_faults(&self) -> impl Iterator<Item = &Fault> {
        self.faults.iter().filter(|f| f.count > 0)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> &[RequestRecord] {
        &self.requests
    }

    /// The Produce requests received so far, in arrival order.
    pub fn produce_requests(&self) -> impl Iterator<Item = &RequestRecord> {
        self.requests
            .iter()
            .filter(|r| r.api_key == Some(ApiKey::Produce))
    }

    /// Failures of the fake itself (a response it could not encode). Tests should assert this
    /// is empty.
    pub fn internal_errors(&self) -> &[String] {
        &self.internal_errors
    }

    /// The batches of a partition's log, in offset order.
    pub fn log(&self, topic: &str, partition: i32) -> Option<&[StoredBatch]> {
        let p = self
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)?;
        Some(&p.log)
    }

    /// The log end offset of a partition.
    pub fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let p = self
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)?;
        Some(p.next_offset)
    }

    /// Decodes every record of a partition's log (with `purekafka_protocol::batch`'s reader:
    /// CRC-checked, any codec the protocol crate's features enable).
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<LogRecord>, FakeError> {
        let log = self
            .log(topic, partition)
            .ok_or_else(|| FakeError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        let mut out = Vec::new();
        // Control batches (transaction markers) are not records a consumer sees.
        for b in log
            .iter()
            .filter(|b| b.header.attributes & ATTR_CONTROL == 0)
        {
            out.extend(self.decode_stored(topic, partition, b)?);
        }
        Ok(out)
    }

    /// Decodes the records of one stored batch.
    fn decode_stored(
        &self,
        topic: &str,
        partition: i32,
        b: &StoredBatch,
    ) -> Result<Vec<LogRecord>, FakeError> {
        let decode_err = |reason: String| FakeError::Decode {
            topic: topic.to_owned(),
            partition,
            base_offset: b.base_offset,
            reason,
        };
        let mut batches = purekafka_protocol::batch::decode_batches(
            &b.bytes,
            &purekafka_protocol::batch::DecodeLimits::default(),
        );
        let batch = match batches.next() {
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return Err(decode_err(e.to_string())),
            None => return Err(decode_err("no batch".to_owned())),
        };
        if batch.records.len() != b.header.record_count as usize {
            return Err(decode_err(format!(
                "{} records decoded, header says {}",
                batch.records.len(),
                b.header.record_count
            )));
        }
        Ok(batch
            .records
            .iter()
            .map(|r| LogRecord {
                // The producer writes baseOffset 0; the broker's assigned base replaces it.
                offset: b.base_offset + i64::from(r.offset_delta),
                timestamp: if b.log_append_time_ms >= 0 {
                    b.log_append_time_ms
                } else {
                    batch.timestamp_of(r)
                },
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().map(Bytes::from)))
                    .collect(),
            })
            .collect())
    }

    /// Opens a connection to the broker at `host:port`. Fails for unknown addresses and for
    /// brokers that are down (the caller reports it to the client as a failed connect).
    pub fn connect(
        &mut self,
        now: Instant,
        host: &str,
        port: u16,
    ) -> Result<FakeConnId, FakeError> {
        let unknown = || FakeError::UnknownAddress {
            host: host.to_owned(),
            port,
        };
        let node: i32 = host
            .strip_prefix(HOST_PREFIX)
            .and_then(|n| n.parse().ok())
            .filter(|_| port == PORT)
            .ok_or_else(unknown)?;
        let broker = self.brokers.get(&node).ok_or_else(unknown)?;
        if !broker.up {
            return Err(FakeError::BrokerDown(node));
        }
        let id = FakeConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                node,
                open: true,
                hung: false,
                last_due: now,
            },
        );
        Ok(id)
    }

    /// The broker a connection goes to.
    pub fn conn_broker(&self, conn: FakeConnId) -> Option<i32> {
        self.conns.get(&conn).map(|c| c.node)
    }

    /// Whether a connection is open.
    pub fn is_open(&self, conn: FakeConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.open)
    }

    /// Number of open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.values().filter(|c| c.open).count()
    }

    /// The client closes `conn`: nothing more is delivered on it.
    pub fn close(&mut self, conn: FakeConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.open = false;
        }
        self.pending.retain(|_, (c, _)| *c != conn);
    }

    /// The broker side drops `conn` now (a [`FakeOutput::Disconnected`] becomes due). Responses
    /// already due stay deliverable; later ones are lost.
    pub fn disconnect(&mut self, now: Instant, conn: FakeConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.open {
            return;
        }
        c.open = false;
        self.pending
            .retain(|&(due, _), (c, _)| *c != conn || due <= now);
        self.push_pending(now, conn, None);
    }

    /// Broker `node` stops answering on every open connection (a frozen process or a network
    /// black hole): pending responses are lost and nothing more is answered on them; the
    /// connections stay open until a side closes them. New connections are not affected
    /// (see `Sim::blackholed_hosts` for connects that hang).
    pub fn stall_broker(&mut self, node: i32) {
        let stalled: Vec<FakeConnId> = self
            .conns
            .iter_mut()
            .filter(|(_, c)| c.open && c.node == node)
            .map(|(&id, c)| {
                c.hung = true;
                id
            })
            .collect();
        self.pending.retain(|_, (c, _)| !stalled.contains(c));
    }

    /// Ends a stall of broker `node` the way a frozen broker that gets restarted does: its
    /// stalled connections are closed now (the client reconnects).
    pub fn unstall_broker(&mut self, now: Instant, node: i32) {
        let mut stalled: Vec<FakeConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open && c.hung && c.node == node)
            .map(|(&id, _)| id)
            .collect();
        stalled.sort();
        for id in stalled {
            self.disconnect(now, id);
        }
    }

    /// Drops every open connection to broker `node` now.
    pub fn disconnect_broker(&mut self, now: Instant, node: i32) {
        let mut ids: Vec<FakeConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.open && c.node == node)
            .map(|(&id, _)| id)
            .collect();
        ids.sort();
        for id in ids {
            self.disconnect(now, id);
        }
    }

    /// Responses and disconnect notices not delivered yet.
    pub fn pending_outputs(&self) -> usize {
        self.pending.len()
    }

    /// When the next output becomes due, or the coordinator has work to do (transaction
    /// markers, timeouts: [`FakeCluster::poll`] does it).
    pub fn next_due(&self) -> Option<Instant> {
        let output = self.pending.keys().next().map(|&(due, _)| due);
        match (output, self.coordinators.next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next output due at or before `now`. Coordinator work due before it runs first.
    pub fn poll(&mut self, now: Instant) -> Option<FakeOutput> {
        let first_output = self.pending.keys().next().map(|&(due, _)| due);
        self.run_timers(first_output.map_or(now, |d| d.min(now)));
        let (&key, _) = self.pending.iter().next()?;
        if key.0 > now {
            self.run_timers(now);
            return None;
        }
        let (conn, frame) = self.pending.remove(&key)?;
        Some(match frame {
            Some(frame) => FakeOutput::Response { conn, frame },
            None => FakeOutput::Disconnected { conn },
        })
    }

    fn push_pending(&mut self, due: Instant, conn: FakeConnId, frame: Option<Bytes>) {
        self.seq += 1;
        self.pending.insert((due, self.seq), (conn, frame));
    }

    fn topic_mut(&mut self, topic: &str) -> Result<&mut Topic, FakeError> {
        self.topics
            .get_mut(topic)
            .ok_or_else(|| FakeError::UnknownTopic(topic.to_owned()))
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Result<&mut Partition, FakeError> {
        let t = self.topic_mut(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get_mut(i))
            .ok_or_else(|| FakeError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    fn wall_clock_ms(&self, now: Instant) -> i64 {
        self.config.wall_clock_origin_ms + (now.as_nanos() / 1_000_000) as i64
    }
}
