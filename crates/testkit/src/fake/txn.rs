//! Transactions in the fake cluster (KIP-98, KIP-360, KIP-447, KIP-890), behaving as
//! Apache Kafka 4.1's `TransactionCoordinator`, group coordinator and `ProducerStateManager`
//! do, as far as a producer can observe it.
//!
//! Coordinators: a transactional id (group id) lives on partition
//! `abs(javaHashCode(key)) % 50` of `__transaction_state` (`__consumer_offsets`); the
//! coordinator is that partition's leader, spread over the brokers. Tests move a coordinator
//! partition ([`FakeCluster::move_coordinator`]); the state is cluster-wide (it is in the
//! replicated log), so the new coordinator knows every transaction, after an optional
//! loading time (COORDINATOR_LOAD_IN_PROGRESS). Requests on a broker that is not the
//! coordinator get NOT_COORDINATOR; FindCoordinator answers COORDINATOR_NOT_AVAILABLE while
//! the coordinator's broker is down.
//!
//! States: Empty -> Ongoing (first AddPartitionsToTxn / AddOffsetsToTxn, or the implicit add
//! of Produce v12 / TxnOffsetCommit v5) -> PrepareCommit|PrepareAbort (EndTxn; answered at
//! once) -> CompleteCommit|CompleteAbort once the markers are written
//! ([`FakeConfig::txn_marker_latency`] later). While markers are pending every request for
//! the transaction gets CONCURRENT_TRANSACTIONS (KAFKA-18464 order: before the epoch check),
//! and a transactional Produce gets NOT_ENOUGH_REPLICAS (Kafka's translation of the
//! verification's CONCURRENT_TRANSACTIONS for producers).
//!
//! Epochs: InitProducerId bumps the epoch (KIP-360: with the current pid/epoch, or as a retry
//! of the last one); during an open transaction it fences it (epoch + 1, abort markers) and
//! answers CONCURRENT_TRANSACTIONS, so the new instance retries and gets one more bump.
//! EndTxn v5 (TV2) bumps the epoch and returns it; a retried EndTxn v5 with the epoch before
//! the bump is answered NONE with the bumped one; EndTxn v<=4 retries are NONE when the
//! result matches (CompleteCommit + commit). A transaction open longer than its timeout is
//! aborted on the next check tick ([`FakeConfig::txn_abort_check_interval`], Kafka's
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms`): TV1 fences (epoch + 1,
//! the producer's next request gets PRODUCER_FENCED / INVALID_PRODUCER_EPOCH), TV2 bumps once
//! so that the producer's abort at the old epoch is a retry (answered NONE) and its commit
//! is INVALID_TXN_STATE (KAFKA-20785 describes 4.1's behaviour). PRODUCER_FENCED becomes
//! INVALID_PRODUCER_EPOCH for InitProducerId < v4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn
//! < v2 and TxnOffsetCommit (KIP-588).
//!
//! Partitions: a transactional Produce batch to a partition not in the transaction gets
//! INVALID_TXN_STATE (v<=10) or TRANSACTION_ABORTABLE (v11), and is added implicitly by v12+
//! (Kafka's verification, `transaction.partition.verification.enable=true`); the same for a
//! TxnOffsetCommit whose group was not added: INVALID_TXN_STATE (v<=3), TRANSACTION_ABORTABLE
//! (v4), implicit add (v5). Markers are RecordBatch v2 control batches (transactional +
//! control attributes, one record: key = version 0 + type 0 abort / 1 commit, value =
//! version 0 + coordinator epoch) appended to every partition of the transaction;
//! transactional offsets become the group's committed offsets at a COMMIT marker and are
//! dropped at an ABORT one.
//!
//! Not modelled: producer id rotation at epoch exhaustion in EndTxn, transactional id
//! expiration on its own (tests call [`FakeCluster::expire_transactional_id`]), KIP-939
//! two-phase commit, ACLs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use core::time::Duration;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, BrokerId, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, ProducerId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use purekafka_core::Instant;

use super::{BatchHeader, FakeCluster, FakeError, HOST_PREFIX, LogRecord, PORT, StoredBatch};

/// The internal topic holding transaction state; transactional ids map onto its partitions.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The internal topic holding group offsets; group ids map onto its partitions.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Partitions of each internal topic (Kafka's defaults for both).
pub const INTERNAL_PARTITIONS: i32 = 50;

/// `attributes` bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// `attributes` bit 5: the batch is a control batch (a transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;

pub(super) const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub(super) const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub(super) const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub(super) const NOT_COORDINATOR: i16 = 16;
pub(super) const NOT_ENOUGH_REPLICAS: i16 = 19;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
pub(super) const INVALID_PRODUCER_EPOCH: i16 = 47;
pub(super) const INVALID_TXN_STATE: i16 = 48;
pub(super) const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
pub(super) const CONCURRENT_TRANSACTIONS: i16 = 51;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
pub(super) const PRODUCER_FENCED: i16 = 90;
pub(super) const TRANSACTION_ABORTABLE: i16 = 120;

/// Java's `String.hashCode` (over UTF-16 code units), which Kafka uses to place a key.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The internal-topic partition Kafka places `key` on (`Utils.abs(hash) % partitions`).
pub fn key_partition(key: &str) -> i32 {
    (java_string_hash(key) & 0x7fff_ffff) % INTERNAL_PARTITIONS
}

/// Which coordinator a FindCoordinator key type asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoordinatorType {
    /// Key type 0: a consumer group (TxnOffsetCommit goes there).
    Group,
    /// Key type 1: a transactional id.
    Transaction,
}

impl CoordinatorType {
    fn from_key_type(t: i8) -> Option<Self> {
        match t {
            0 => Some(Self::Group),
            1 => Some(Self::Transaction),
            _ => None,
        }
    }

    /// The internal topic of this coordinator.
    pub fn topic(self) -> &'static str {
        match self {
            Self::Group => CONSUMER_OFFSETS_TOPIC,
            Self::Transaction => TRANSACTION_STATE_TOPIC,
        }
    }
}

/// A transaction's coordinator state (Kafka's `TransactionState`, without Dead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnStatus {
    /// Initialised, no transaction open.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// EndTxn(commit) accepted, markers being written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout accepted, markers being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// Why a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndCause {
    /// The producer's EndTxn.
    Client,
    /// `transaction.timeout.ms` passed.
    Timeout,
    /// Another instance called InitProducerId with the same transactional id.
    Fenced,
}

/// A snapshot of one transactional id's coordinator state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnInfo {
    /// The transactional id.
    pub transactional_id: String,
    /// Current producer id.
    pub producer_id: i64,
    /// Current producer epoch (-1 before the first InitProducerId completed).
    pub producer_epoch: i16,
    /// The epoch before the last bump (-1 when none counts as a retry).
    pub last_producer_epoch: i16,
    /// State.
    pub status: TxnStatus,
    /// Partitions of the open (or completing) transaction, `__consumer_offsets` included.
    pub partitions: Vec<(String, i32)>,
    /// Groups whose offsets the transaction carries.
    pub groups: Vec<String>,
    /// `transaction.timeout.ms` from InitProducerId.
    pub timeout_ms: i32,
    /// Whether the current transaction follows TV2 (epoch bump per transaction).
    pub tv2: bool,
}

/// One finished transaction, in completion order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The transactional id.
    pub transactional_id: String,
    /// Producer id.
    pub producer_id: i64,
    /// Epoch of the markers.
    pub marker_epoch: i16,
    /// Committed (true) or aborted.
    pub commit: bool,
    /// Partitions that got a marker (`__consumer_offsets` ones included).
    pub partitions: Vec<(String, i32)>,
    /// Groups whose offsets were committed or dropped.
    pub groups: Vec<String>,
    /// Why it ended.
    pub cause: EndCause,
    /// When the markers were complete.
    pub at: Instant,
}

/// A committed (or pending) group offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset.
    pub offset: i64,
    /// The leader epoch given with it (-1 unknown).
    pub leader_epoch: i32,
    /// Metadata string.
    pub metadata: Option<String>,
    /// The producer whose transaction committed it.
    pub producer_id: i64,
}

/// A transaction marker (control batch) found in a partition's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlMarker {
    /// Its offset.
    pub offset: i64,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// COMMIT (true) or ABORT.
    pub commit: bool,
    /// Coordinator epoch from the record value.
    pub coordinator_epoch: i32,
}

/// A partition's transaction left open with no open transaction at the coordinator: it
/// holds the last stable offset back forever (Kafka's `find-hanging`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HangingTxn {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Producer id.
    pub producer_id: i64,
    /// First offset of the open transaction.
    pub first_offset: i64,
}

#[derive(Clone, Debug)]
struct CoordPartition {
    leader: i32,
    epoch: i32,
    loading_until: Instant,
}

#[derive(Clone, Debug)]
struct TxnMeta {
    producer_id: i64,
    producer_epoch: i16,
    last_producer_epoch: i16,
    timeout_ms: i32,
    status: TxnStatus,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    tv2: bool,
    /// Counts transactions, so a stale timeout timer is ignored.
    generation: u64,
    /// Markers still to write (PrepareX).
    markers_left: BTreeSet<(String, i32)>,
    end_cause: EndCause,
}

impl TxnMeta {
    fn pending(&self) -> bool {
        matches!(
            self.status,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort
        )
    }

    fn info(&self, id: &str) -> TxnInfo {
        TxnInfo {
            transactional_id: id.to_owned(),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            status: self.status,
            partitions: self.partitions.iter().cloned().collect(),
            groups: self.groups.iter().cloned().collect(),
            timeout_ms: self.timeout_ms,
            tv2: self.tv2,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct GroupState {
    committed: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets of open transactions, by producer id.
    pending: BTreeMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
    /// `(generation, members)` when a test declared the group as managed.
    membership: Option<(i32, BTreeSet<String>)>,
}

#[derive(Clone, Debug)]
enum TxnTimer {
    Markers(String),
    Timeout { txn: String, generation: u64 },
}

/// The cluster's coordinator state (shared by all brokers, as the replicated internal
/// topics are).
#[derive(Default)]
pub(super) struct Coordinators {
    moved: BTreeMap<(CoordinatorType, i32), CoordPartition>,
    txns: BTreeMap<String, TxnMeta>,
    groups: BTreeMap<String, GroupState>,
    timers: BTreeMap<(Instant, u64), TxnTimer>,
    timer_seq: u64,
    completed: Vec<CompletedTxn>,
}

impl Coordinators {
    fn schedule(&mut self, at: Instant, t: TxnTimer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), t);
    }

    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers.keys().next().map(|k| k.0)
    }
}

/// What a coordinator request found out about this broker's role.
enum Role {
    Coordinator,
    Refuse(i16),
}

impl FakeCluster {
    // ---- coordinators -------------------------------------------------------------------

    fn coord_partition(&self, kind: CoordinatorType, p: i32) -> CoordPartition {
        if let Some(c) = self.coordinators.moved.get(&(kind, p)) {
            return c.clone();
        }
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        // Group and transaction coordinators of one index sit on different brokers, so a
        // test sees both kinds of connection.
        let shift = usize::from(kind == CoordinatorType::Transaction);
        let leader = ids
            .get((p as usize + shift) % ids.len().max(1))
            .copied()
            .unwrap_or(1);
        CoordPartition {
            leader,
            epoch: 0,
            loading_until: Instant::ZERO,
        }
    }

    /// The broker coordinating `key` (a transactional id or a group id).
    pub fn coordinator(&self, kind: CoordinatorType, key: &str) -> i32 {
        self.coord_partition(kind, key_partition(key)).leader
    }

    /// Moves the coordinator of `key` (its whole internal partition) to broker `to`, bumping
    /// the coordinator epoch; the new one answers COORDINATOR_LOAD_IN_PROGRESS for
    /// [`FakeConfig::coordinator_load_time`]. Returns the new coordinator epoch.
    pub fn move_coordinator(
        &mut self,
        now: Instant,
        kind: CoordinatorType,
        key: &str,
        to: i32,
    ) -> Result<i32, FakeError> {
        if !self.brokers.contains_key(&to) {
            return Err(FakeError::UnknownBroker(to));
        }
        let p = key_partition(key);
        let mut c = self.coord_partition(kind, p);
        c.leader = to;
        c.epoch += 1;
        c.loading_until = now + self.config.coordinator_load_time;
        let epoch = c.epoch;
        self.coordinators.moved.insert((kind, p), c);
        Ok(epoch)
    }

    /// What Kafka's replication does when broker `node` dies: every partition it leads and
    /// every coordinator it hosts moves to the next broker that is up (leader epochs and
    /// coordinator epochs bump). Call it with [`FakeCluster::set_broker_down`].
    pub fn fail_over(&mut self, now: Instant, node: i32) -> Result<(), FakeError> {
        let up: Vec<i32> = self
            .brokers
            .iter()
            .filter(|(id, b)| b.up && **id != node)
            .map(|(id, _)| *id)
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let mut moves = Vec::new();
        for (name, t) in &self.topics {
            for (i, p) in t.partitions.iter().enumerate() {
                if p.leader == node {
                    moves.push((name.clone(), i as i32));
                }
            }
        }
        for (n, (topic, partition)) in moves.into_iter().enumerate() {
            self.move_leader(&topic, partition, up[n % up.len()])?;
        }
        for kind in [CoordinatorType::Group, CoordinatorType::Transaction] {
            for p in 0..INTERNAL_PARTITIONS {
                let mut c = self.coord_partition(kind, p);
                if c.leader == node {
                    c.leader = up[p as usize % up.len()];
                    c.epoch += 1;
                    c.loading_until = now + self.config.coordinator_load_time;
                    self.coordinators.moved.insert((kind, p), c);
                }
            }
        }
        Ok(())
    }

    fn role(&self, now: Instant, node: i32, kind: CoordinatorType, key: &str) -> Role {
        let c = self.coord_partition(kind, key_partition(key));
        if c.leader != node {
            Role::Refuse(NOT_COORDINATOR)
        } else if now < c.loading_until {
            Role::Refuse(COORDINATOR_LOAD_IN_PROGRESS)
        } else {
            Role::Coordinator
        }
    }

    /// Kafka's `transactional.id.expiration.ms` passing for `id`: the coordinator forgets it
    /// if no transaction is open or completing (then its requests get
    /// INVALID_PRODUCER_ID_MAPPING and InitProducerId starts over with a new producer id).
    /// Returns whether it was forgotten.
    pub fn expire_transactional_id(&mut self, id: &str) -> bool {
        let idle = self.coordinators.txns.get(id).is_some_and(|m| {
            matches!(
                m.status,
                TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
            )
        });
        if idle {
            self.coordinators.txns.remove(id);
        }
        idle
    }

    /// A coordinator that lost `id`'s state outright (whatever its state): for tests of
    /// the hanging-transaction check.
    #[cfg(test)]
    pub(super) fn lose_transaction_state(&mut self, id: &str) {
        self.coordinators.txns.remove(id);
    }

    // ---- inspection ---------------------------------------------------------------------

    /// The coordinator state of `transactional_id`.
    pub fn transaction(&self, transactional_id: &str) -> Option<TxnInfo> {
        self.coordinators
            .txns
            .get(transactional_id)
            .map(|m| m.info(transactional_id))
    }

    /// Every finished transaction, in completion order.
    pub fn completed_transactions(&self) -> &[CompletedTxn] {
        &self.coordinators.completed
    }

    /// The committed offsets of `group` (transactional commits only become visible here at
    /// the COMMIT marker).
    pub fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), CommittedOffset> {
        self.coordinators
            .groups
            .get(group)
            .map(|g| g.committed.clone())
            .unwrap_or_default()
    }

    /// The committed offset of one partition for `group`.
    pub fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Option<CommittedOffset> {
        self.coordinators
            .groups
            .get(group)?
            .committed
            .get(&(topic.to_owned(), partition))
            .cloned()
    }

    /// Offsets sent with still-open transactions to `group`, not visible yet.
    pub fn pending_offsets(&self, group: &str) -> usize {
        self.coordinators
            .groups
            .get(group)
            .map_or(0, |g| g.pending.values().map(BTreeMap::len).sum())
    }

    /// Declares `group` a managed group at `generation` with `members`: a TxnOffsetCommit with
    /// a generation >= 0 is then checked against it (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID).
    /// Groups not declared accept generation -1 only (a "simple" group), as Kafka's
    /// coordinator does for a group that does not exist.
    pub fn set_group_generation(&mut self, group: &str, generation: i32, members: &[&str]) {
        let g = self
            .coordinators
            .groups
            .entry(group.to_owned())
            .or_default();
        g.membership = Some((
            generation,
            members.iter().map(|m| (*m).to_owned()).collect(),
        ));
    }

    /// The transaction markers in a partition's log, in offset order.
    pub fn control_markers(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<ControlMarker>, FakeError> {
        let log = self
            .log(topic, partition)
            .ok_or_else(|| FakeError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        let mut out = Vec::new();
        for b in log
            .iter()
            .filter(|b| b.header.attributes & ATTR_CONTROL != 0)
        {
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
            let Some(r) = batch.records.first() else {
                return Err(decode_err("control batch without a record".to_owned()));
            };
            let key = r.key.as_deref().unwrap_or_default();
            let value = r.value.as_deref().unwrap_or_default();
            if key.len() < 4 || value.len() < 6 {
                return Err(decode_err(format!(
                    "control record key {key:?} value {value:?}"
                )));
            }
            out.push(ControlMarker {
                offset: b.base_offset,
                producer_id: b.header.producer_id,
                producer_epoch: b.header.producer_epoch,
                commit: i16::from_be_bytes([key[2], key[3]]) == 1,
                coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
            });
        }
        Ok(out)
    }

    /// The last stable offset of a partition: the first offset of its oldest open
    /// transaction, or the log end offset.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let p = self
            .topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)?;
        Some(
            p.producers
                .values()
                .filter_map(|s| s.txn_first_offset)
                .min()
                .unwrap_or(p.next_offset),
        )
    }

    /// What a `read_committed` consumer reads from a partition: non-transactional records
    /// and records of committed transactions, in offset order, below the last stable offset
    /// (records of aborted transactions and control records are skipped).
    pub fn read_committed(&self, topic: &str, partition: i32) -> Result<Vec<LogRecord>, FakeError> {
        let log = self
            .log(topic, partition)
            .ok_or_else(|| FakeError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        // Fate of each transactional batch: decided by the producer's next marker.
        let mut fate: HashMap<usize, bool> = HashMap::new();
        let mut open: HashMap<i64, Vec<usize>> = HashMap::new();
        let mut markers = self.control_markers(topic, partition)?.into_iter();
        for (i, b) in log.iter().enumerate() {
            let attrs = b.header.attributes;
            if attrs & ATTR_CONTROL != 0 {
                let commit = markers.next().is_some_and(|m| m.commit);
                for idx in open.remove(&b.header.producer_id).unwrap_or_default() {
                    fate.insert(idx, commit);
                }
            } else if attrs & ATTR_TRANSACTIONAL != 0 {
                open.entry(b.header.producer_id).or_default().push(i);
            }
        }
        let lso = self
            .last_stable_offset(topic, partition)
            .unwrap_or(i64::MAX);
        let mut out = Vec::new();
        for (i, b) in log.iter().enumerate() {
            let attrs = b.header.attributes;
            let visible = attrs & ATTR_CONTROL == 0
                && (attrs & ATTR_TRANSACTIONAL == 0 || fate.get(&i) == Some(&true))
                && b.base_offset < lso;
            if visible {
                out.extend(self.decode_stored(topic, partition, b)?);
            }
        }
        Ok(out)
    }

    /// Partitions holding an open transaction that the coordinator does not consider open
    /// (Kafka's `kafka-transactions find-hanging`). Must be empty after every test.
    pub fn hanging_transactions(&self) -> Vec<HangingTxn> {
        let mut out = Vec::new();
        for (name, t) in &self.topics {
            for (i, p) in t.partitions.iter().enumerate() {
                let mut pids: Vec<(&i64, i64)> = p
                    .producers
                    .iter()
                    .filter_map(|(pid, s)| s.txn_first_offset.map(|o| (pid, o)))
                    .collect();
                pids.sort();
                for (pid, first_offset) in pids {
                    let key = (name.clone(), i as i32);
                    let live = self.coordinators.txns.values().any(|m| {
                        m.producer_id == *pid
                            && matches!(
                                m.status,
                                TxnStatus::Ongoing
                                    | TxnStatus::PrepareCommit
                                    | TxnStatus::PrepareAbort
                            )
                            && (m.partitions.contains(&key) || m.markers_left.contains(&key))
                    });
                    if !live {
                        out.push(HangingTxn {
                            topic: name.clone(),
                            partition: i as i32,
                            producer_id: *pid,
                            first_offset,
                        });
                    }
                }
            }
        }
        out
    }

    // ---- virtual time ---------------------------------------------------------------------

    /// Runs the coordinator's work due at or before `now` (markers, timeout aborts).
    pub(super) fn run_timers(&mut self, now: Instant) {
        while let Some((&key, _)) = self.coordinators.timers.iter().next() {
            if key.0 > now {
                break;
            }
            let Some(timer) = self.coordinators.timers.remove(&key) else {
                break;
            };
            match timer {
                TxnTimer::Markers(id) => self.write_markers(key.0, &id),
                TxnTimer::Timeout { txn, generation } => self.time_out(key.0, &txn, generation),
            }
        }
    }

    fn time_out(&mut self, now: Instant, id: &str, generation: u64) {
        let cluster_tv2 = self.config.transaction_version() >= 2;
        let Some(m) = self.coordinators.txns.get_mut(id) else {
            return;
        };
        if m.generation != generation || m.status != TxnStatus::Ongoing {
            return;
        }
        if m.tv2 && cluster_tv2 {
            // One bump: the producer's abort at the old epoch is then a retry (KAFKA-20785).
            m.last_producer_epoch = m.producer_epoch;
        } else {
            m.last_producer_epoch = -1;
        }
        m.producer_epoch = m.producer_epoch.saturating_add(1);
        self.prepare_end(now, id, false, EndCause::Timeout);
    }

    /// Moves `id` to PrepareCommit/PrepareAbort and schedules its markers.
    fn prepare_end(&mut self, now: Instant, id: &str, commit: bool, cause: EndCause) {
        let latency = self.config.txn_marker_latency;
        let Some(m) = self.coordinators.txns.get_mut(id) else {
            return;
        };
        m.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        m.markers_left = m.partitions.clone();
        m.end_cause = cause;
        // The transaction's timeout no longer applies.
        self.coordinators
            .timers
            .retain(|_, t| !matches!(t, TxnTimer::Timeout { txn, .. } if txn == id));
        self.coordinators
            .schedule(now + latency, TxnTimer::Markers(id.to_owned()));
    }

    fn write_markers(&mut self, now: Instant, id: &str) {
        let Some(m) = self.coordinators.txns.get(id) else {
            return;
        };
        if !m.pending() {
            return;
        }
        let commit = m.status == TxnStatus::PrepareCommit;
        let (pid, epoch) = (m.producer_id, m.producer_epoch);
        let groups: Vec<String> = m.groups.iter().cloned().collect();
        let coordinator_epoch = self
            .coord_partition(CoordinatorType::Transaction, key_partition(id))
            .epoch;
        let mut left = BTreeSet::new();
        for (topic, partition) in m.markers_left.clone() {
            if topic == CONSUMER_OFFSETS_TOPIC {
                for g in groups.iter().filter(|g| key_partition(g) == partition) {
                    let state = self.coordinators.groups.entry(g.clone()).or_default();
                    if let Some(offsets) = state.pending.remove(&pid)
                        && commit
                    {
                        state.committed.extend(offsets);
                    }
                }
                continue;
            }
            match self.leader(&topic, partition) {
                Some((leader, _)) if self.is_broker_up(leader) => {
                    self.append_marker(
                        now,
                        &topic,
                        partition,
                        pid,
                        epoch,
                        commit,
                        coordinator_epoch,
                    );
                }
                // The marker channel retries until the leader is back.
                Some(_) => {
                    left.insert((topic, partition));
                }
                None => {}
            }
        }
        let Some(m) = self.coordinators.txns.get_mut(id) else {
            return;
        };
        if !left.is_empty() {
            m.markers_left = left;
            self.coordinators.schedule(
                now + Duration::from_millis(10),
                TxnTimer::Markers(id.to_owned()),
            );
            return;
        }
        m.markers_left.clear();
        m.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        let partitions = core::mem::take(&mut m.partitions).into_iter().collect();
        let groups = core::mem::take(&mut m.groups).into_iter().collect();
        let cause = m.end_cause;
        self.coordinators.completed.push(CompletedTxn {
            transactional_id: id.to_owned(),
            producer_id: pid,
            marker_epoch: epoch,
            commit,
            partitions,
            groups,
            cause,
            at: now,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn append_marker(
        &mut self,
        now: Instant,
        topic: &str,
        partition: i32,
        pid: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) {
        let wall = self.wall_clock_ms(now);
        let Some((_, leader_epoch)) = self.leader(topic, partition) else {
            return;
        };
        let mut value = vec![0u8, 0];
        value.extend_from_slice(&coordinator_epoch.to_be_bytes());
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: leader_epoch,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: wall,
            key: Some(Bytes::from_static(if commit {
                &[0, 0, 0, 1]
            } else {
                &[0, 0, 0, 0]
            })),
            value: Some(Bytes::from(value)),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        let encoded = RecordBatchEncoder::encode(
            &mut buf,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        );
        let bytes = buf.freeze();
        let header: BatchHeader = match encoded
            .map_err(|e| e.to_string())
            .and_then(|()| super::parse_single_batch(&bytes).map_err(|e| e.to_string()))
        {
            Ok(h) => h,
            Err(e) => {
                self.internal_errors
                    .push(format!("encoding a marker for {topic}/{partition}: {e}"));
                return;
            }
        };
        let Ok(p) = self.partition_mut(topic, partition) else {
            return;
        };
        let base_offset = p.next_offset;
        let state = p.producers.entry(pid).or_default();
        if epoch != state.epoch || state.batches.is_empty() {
            // A bumped epoch (TV2, fence, timeout) restarts the producer's sequences at 0.
            state.batches.clear();
            state.fresh_epoch = true;
        }
        state.epoch = state.epoch.max(epoch);
        state.txn_first_offset = None;
        p.next_offset += 1;
        let (broker, leader_epoch) = (p.leader, p.leader_epoch);
        p.log.push(StoredBatch {
            base_offset,
            header,
            bytes,
            appended_at: now,
            broker,
            leader_epoch,
            log_append_time_ms: -1,
        });
    }

    /// Starts a transaction on `id` if none is open (first partition added).
    fn ensure_ongoing(&mut self, now: Instant, id: &str, tv2: bool) {
        let interval = self.config.txn_abort_check_interval;
        let Some(m) = self.coordinators.txns.get_mut(id) else {
            return;
        };
        if m.status == TxnStatus::Ongoing {
            return;
        }
        m.status = TxnStatus::Ongoing;
        m.partitions.clear();
        m.groups.clear();
        m.tv2 = tv2;
        m.generation += 1;
        let generation = m.generation;
        let deadline = now + Duration::from_millis(u64::try_from(m.timeout_ms).unwrap_or(0));
        // The coordinator checks on a fixed period, so the abort lands on the first tick
        // after the deadline.
        let at = if interval.is_zero() {
            deadline
        } else {
            let step = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
            let ticks = deadline.as_nanos().div_ceil(step);
            Instant::ZERO + Duration::from_nanos(ticks.saturating_mul(step))
        };
        self.coordinators.schedule(
            at,
            TxnTimer::Timeout {
                txn: id.to_owned(),
                generation,
            },
        );
    }

    /// The checks AddPartitionsToTxn / AddOffsetsToTxn / EndTxn share: the id is known and
    /// the pid/epoch are current. Returns the meta's pid on success.
    fn check_producer(&self, id: &str, pid: i64, epoch: i16) -> Result<&TxnMeta, i16> {
        if id.is_empty() {
            return Err(INVALID_REQUEST);
        }
        let m = self
            .coordinators
            .txns
            .get(id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != pid {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if m.producer_epoch != epoch {
            return Err(PRODUCER_FENCED);
        }
        if m.pending() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        Ok(m)
    }

    // ---- handlers -----------------------------------------------------------------------

    /// Any broker answers FindCoordinator.
    pub(super) fn find_coordinator(
        &self,
        req: &FindCoordinatorRequest,
        version: i16,
        error: Option<i16>,
    ) -> FindCoordinatorResponse {
        let (keys, key_type): (Vec<String>, i8) = if version >= 4 {
            (
                req.coordinator_keys.iter().map(|k| k.to_string()).collect(),
                req.key_type,
            )
        } else {
            (
                vec![req.key.to_string()],
                if version >= 1 { req.key_type } else { 0 },
            )
        };
        let answers: Vec<Coordinator> = keys
            .iter()
            .map(|key| {
                let mut c = Coordinator::default()
                    .with_key(StrBytes::from_string(key.clone()))
                    .with_node_id(BrokerId(-1))
                    .with_port(-1);
                let code = match (error, CoordinatorType::from_key_type(key_type)) {
                    (Some(code), _) => code,
                    (None, None) => INVALID_REQUEST,
                    (None, Some(CoordinatorType::Transaction)) if key.is_empty() => INVALID_REQUEST,
                    (None, Some(kind)) => {
                        let leader = self.coordinator(kind, key);
                        if self.is_broker_up(leader) {
                            c.node_id = BrokerId(leader);
                            c.host = StrBytes::from_string(format!("{HOST_PREFIX}{leader}"));
                            c.port = i32::from(PORT);
                            NONE
                        } else {
                            COORDINATOR_NOT_AVAILABLE
                        }
                    }
                };
                c.error_code = code;
                if code != NONE {
                    c.error_message = Some(StrBytes::from_static_str("fake coordinator error"));
                }
                c
            })
            .collect();
        let mut resp = FindCoordinatorResponse::default();
        if version >= 4 {
            resp.coordinators = answers;
        } else if let Some(c) = answers.into_iter().next() {
            resp.error_code = c.error_code;
            resp.node_id = c.node_id;
            resp.host = c.host;
            resp.port = c.port;
            if version >= 1 {
                resp.error_message = c.error_message;
            }
        }
        resp
    }

    /// InitProducerId with a transactional id (the idempotent form is in handlers.rs).
    pub(super) fn init_transactional_producer_id(
        &mut self,
        now: Instant,
        node: i32,
        id: &str,
        req: &InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        let result = self.init_txn_inner(now, node, id, req);
        let mut resp = InitProducerIdResponse::default();
        match result {
            Ok((pid, epoch)) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Err(code) => {
                resp.error_code = if code == PRODUCER_FENCED && version < 4 {
                    INVALID_PRODUCER_EPOCH
                } else {
                    code
                };
                resp.producer_id = ProducerId(-1);
                resp.producer_epoch = -1;
            }
        }
        resp
    }

    fn init_txn_inner(
        &mut self,
        now: Instant,
        node: i32,
        id: &str,
        req: &InitProducerIdRequest,
    ) -> Result<(i64, i16), i16> {
        // Kafka validates the id and the timeout before looking the id up.
        if id.is_empty() || (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
            return Err(INVALID_REQUEST);
        }
        let max_ms =
            i32::try_from(self.config.transaction_max_timeout.as_millis()).unwrap_or(i32::MAX);
        if req.transaction_timeout_ms <= 0 || req.transaction_timeout_ms > max_ms {
            return Err(INVALID_TRANSACTION_TIMEOUT);
        }
        if let Role::Refuse(code) = self.role(now, node, CoordinatorType::Transaction, id) {
            return Err(code);
        }
        if !self.coordinators.txns.contains_key(id) {
            let pid = self.next_producer_id;
            self.next_producer_id += 1;
            self.coordinators.txns.insert(
                id.to_owned(),
                TxnMeta {
                    producer_id: pid,
                    producer_epoch: -1,
                    last_producer_epoch: -1,
                    timeout_ms: req.transaction_timeout_ms,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    tv2: false,
                    generation: 0,
                    markers_left: BTreeSet::new(),
                    end_cause: EndCause::Client,
                },
            );
        }
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        let next_pid = self.next_producer_id;
        let m = self
            .coordinators
            .txns
            .get_mut(id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.pending() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        if let Some((pid, _)) = expected
            && m.producer_epoch != -1
            && pid != m.producer_id
        {
            return Err(PRODUCER_FENCED);
        }
        match m.status {
            TxnStatus::Ongoing => {
                // Fence the open transaction: bump, abort it, make the caller retry.
                // Kafka 4.1.2, TV1 and TV2 alike: the fence is the abort's only bump
                // (checked against a real broker by real_kafka_tests).
                m.producer_epoch = m.producer_epoch.saturating_add(1);
                m.last_producer_epoch = -1;
                self.prepare_end(now, id, false, EndCause::Fenced);
                Err(CONCURRENT_TRANSACTIONS)
            }
            _ => {
                let bumped = m.producer_epoch.saturating_add(1);
                match expected {
                    None => {
                        m.last_producer_epoch = -1;
                        m.producer_epoch = bumped;
                    }
                    Some((_, e)) if m.producer_epoch == -1 || e == m.producer_epoch => {
                        m.last_producer_epoch = m.producer_epoch;
                        m.producer_epoch = bumped;
                    }
                    // A retry of a bump whose answer was lost.
                    Some((_, e)) if e == m.last_producer_epoch => {}
                    Some(_) => return Err(PRODUCER_FENCED),
                }
                if m.producer_epoch >= i16::MAX - 1 {
                    // Epochs exhausted: a new producer id (Kafka's producer id rotation).
                    m.producer_id = next_pid;
                    m.producer_epoch = 0;
                    m.last_producer_epoch = -1;
                    self.next_producer_id += 1;
                }
                let m = self
                    .coordinators
                    .txns
                    .get_mut(id)
                    .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
                m.status = TxnStatus::Empty;
                m.timeout_ms = req.transaction_timeout_ms;
                m.partitions.clear();
                m.groups.clear();
                m.generation += 1;
                Ok((m.producer_id, m.producer_epoch))
            }
        }
    }

    pub(super) fn add_partitions_to_txn(
        &mut self,
        now: Instant,
        node: i32,
        req: &AddPartitionsToTxnRequest,
        version: i16,
        error: Option<i16>,
    ) -> AddPartitionsToTxnResponse {
        let id = req.v3_and_below_transactional_id.0.to_string();
        let wanted: Vec<(String, i32)> = req
            .v3_and_below_topics
            .iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partitions.iter().map(move |&p| (name.clone(), p))
            })
            .collect();
        let per_partition: Vec<((String, i32), i16)> = if let Some(code) = error {
            wanted.iter().map(|tp| (tp.clone(), code)).collect()
        } else if wanted.iter().any(|(t, p)| self.leader(t, *p).is_none()) {
            // KafkaApis checks existence before the coordinator, and attempts none then.
            wanted
                .iter()
                .map(|(t, p)| {
                    let code = if self.leader(t, *p).is_none() {
                        UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        OPERATION_NOT_ATTEMPTED
                    };
                    ((t.clone(), *p), code)
                })
                .collect()
        } else if let Role::Refuse(code) = self.role(now, node, CoordinatorType::Transaction, &id) {
            wanted.iter().map(|tp| (tp.clone(), code)).collect()
        } else {
            let code = match self.check_producer(
                &id,
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
            ) {
                Ok(_) => {
                    self.ensure_ongoing(now, &id, false);
                    if let Some(m) = self.coordinators.txns.get_mut(&id) {
                        m.partitions.extend(wanted.iter().cloned());
                    }
                    NONE
                }
                Err(PRODUCER_FENCED) if version < 2 => INVALID_PRODUCER_EPOCH,
                Err(code) => code,
            };
            wanted.iter().map(|tp| (tp.clone(), code)).collect()
        };
        let mut resp = AddPartitionsToTxnResponse::default();
        let mut by_topic: BTreeMap<String, Vec<AddPartitionsToTxnPartitionResult>> =
            BTreeMap::new();
        for ((t, p), code) in per_partition {
            by_topic.entry(t).or_default().push(
                AddPartitionsToTxnPartitionResult::default()
                    .with_partition_index(p)
                    .with_partition_error_code(code),
            );
        }
        resp.results_by_topic_v3_and_below = by_topic
            .into_iter()
            .map(|(t, parts)| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
                        t,
                    )))
                    .with_results_by_partition(parts)
            })
            .collect();
        resp
    }

    pub(super) fn add_offsets_to_txn(
        &mut self,
        now: Instant,
        node: i32,
        req: &AddOffsetsToTxnRequest,
        version: i16,
        error: Option<i16>,
    ) -> AddOffsetsToTxnResponse {
        let id = req.transactional_id.0.to_string();
        let group = req.group_id.0.to_string();
        let code = if let Some(code) = error {
            code
        } else if let Role::Refuse(code) = self.role(now, node, CoordinatorType::Transaction, &id) {
            code
        } else {
            match self.check_producer(&id, req.producer_id.0, req.producer_epoch) {
                Ok(_) => {
                    self.ensure_ongoing(now, &id, false);
                    if let Some(m) = self.coordinators.txns.get_mut(&id) {
                        m.partitions
                            .insert((CONSUMER_OFFSETS_TOPIC.to_owned(), key_partition(&group)));
                        m.groups.insert(group);
                    }
                    NONE
                }
                Err(PRODUCER_FENCED) if version < 2 => INVALID_PRODUCER_EPOCH,
                Err(code) => code,
            }
        };
        AddOffsetsToTxnResponse::default().with_error_code(code)
    }

    pub(super) fn txn_offset_commit(
        &mut self,
        now: Instant,
        node: i32,
        req: &TxnOffsetCommitRequest,
        version: i16,
        error: Option<i16>,
    ) -> TxnOffsetCommitResponse {
        let group = req.group_id.0.to_string();
        let code = if let Some(code) = error {
            code
        } else if let Role::Refuse(code) = self.role(now, node, CoordinatorType::Group, &group) {
            code
        } else {
            match self.txn_offset_commit_inner(now, req, version) {
                Ok(()) => NONE,
                Err(code) => code,
            }
        };
        let mut resp = TxnOffsetCommitResponse::default();
        resp.topics = req
            .topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        resp
    }

    fn txn_offset_commit_inner(
        &mut self,
        now: Instant,
        req: &TxnOffsetCommitRequest,
        version: i16,
    ) -> Result<(), i16> {
        let group = req.group_id.0.to_string();
        let id = req.transactional_id.0.to_string();
        // KIP-447 membership: a simple group accepts generation -1 only.
        let membership = self
            .coordinators
            .groups
            .get(&group)
            .and_then(|g| g.membership.clone());
        if version >= 3 && req.generation_id >= 0 {
            match membership {
                None => return Err(ILLEGAL_GENERATION),
                Some((generation, members)) => {
                    if !members.contains(req.member_id.as_str()) {
                        return Err(UNKNOWN_MEMBER_ID);
                    }
                    if generation != req.generation_id {
                        return Err(ILLEGAL_GENERATION);
                    }
                }
            }
        }
        // Verification with the transaction coordinator.
        let offsets_partition = (CONSUMER_OFFSETS_TOPIC.to_owned(), key_partition(&group));
        let m = self
            .coordinators
            .txns
            .get(&id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != req.producer_id.0 {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if m.producer_epoch != req.producer_epoch {
            return Err(INVALID_PRODUCER_EPOCH);
        }
        if m.pending() {
            // CONCURRENT_TRANSACTIONS -> NOT_ENOUGH_REPLICAS -> the group coordinator's
            // normalised COORDINATOR_NOT_AVAILABLE.
            return Err(COORDINATOR_NOT_AVAILABLE);
        }
        let added = m.status == TxnStatus::Ongoing && m.partitions.contains(&offsets_partition);
        if !added {
            match version {
                5.. => {
                    self.ensure_ongoing(now, &id, true);
                    if let Some(m) = self.coordinators.txns.get_mut(&id) {
                        m.partitions.insert(offsets_partition);
                        m.groups.insert(group.clone());
                    }
                }
                4 => return Err(TRANSACTION_ABORTABLE),
                _ => return Err(INVALID_TXN_STATE),
            }
        }
        let pid = req.producer_id.0;
        let g = self.coordinators.groups.entry(group).or_default();
        let pending = g.pending.entry(pid).or_default();
        for t in &req.topics {
            for p in &t.partitions {
                pending.insert(
                    (t.name.0.to_string(), p.partition_index),
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        producer_id: pid,
                    },
                );
            }
        }
        Ok(())
    }

    pub(super) fn end_txn(
        &mut self,
        now: Instant,
        node: i32,
        req: &EndTxnRequest,
        version: i16,
        error: Option<i16>,
    ) -> EndTxnResponse {
        let result = match error {
            Some(code) => Err(code),
            None => self.end_txn_inner(now, node, req, version),
        };
        let mut resp = EndTxnResponse::default();
        match result {
            Ok((pid, epoch)) => {
                if version >= 5 {
                    resp.producer_id = ProducerId(pid);
                    resp.producer_epoch = epoch;
                }
            }
            Err(code) => {
                resp.error_code = if code == PRODUCER_FENCED && version < 2 {
                    INVALID_PRODUCER_EPOCH
                } else {
                    code
                };
                if version >= 5 {
                    resp.producer_id = ProducerId(-1);
                    resp.producer_epoch = -1;
                }
            }
        }
        resp
    }

    fn end_txn_inner(
        &mut self,
        now: Instant,
        node: i32,
        req: &EndTxnRequest,
        version: i16,
    ) -> Result<(i64, i16), i16> {
        let id = req.transactional_id.0.to_string();
        if id.is_empty() {
            return Err(INVALID_REQUEST);
        }
        if let Role::Refuse(code) = self.role(now, node, CoordinatorType::Transaction, &id) {
            return Err(code);
        }
        let request_tv2 = version >= 5;
        let commit = req.committed;
        let m = self
            .coordinators
            .txns
            .get_mut(&id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != req.producer_id.0 {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        // KAFKA-18464: a transition in progress is reported before the epoch check.
        if m.pending() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        let epoch = req.producer_epoch;
        // The epoch before the last TV2 bump (a fence leaves none: the fenced producer's
        // request is no retry).
        let retry = m.tv2
            && epoch.checked_add(1) == Some(m.producer_epoch)
            && m.last_producer_epoch == epoch;
        let valid_epoch = if m.tv2 {
            match m.status {
                TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                    retry || epoch == m.producer_epoch
                }
                _ => epoch == m.producer_epoch,
            }
        } else {
            epoch == m.producer_epoch
        };
        if !valid_epoch {
            return Err(PRODUCER_FENCED);
        }
        let current = (m.producer_id, m.producer_epoch);
        // The state table is chosen by the request version (KafkaApis: EndTxn v5+ is TV2).
        enum Next {
            Prepare,
            Done,
            Invalid,
        }
        let next = match (m.status, commit) {
            (TxnStatus::Ongoing, _) => Next::Prepare,
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false)
                if !request_tv2 || retry =>
            {
                Next::Done
            }
            // TV2: an abort with nothing added still bumps the epoch.
            (TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort, false)
                if request_tv2 && !retry =>
            {
                Next::Prepare
            }
            _ => Next::Invalid,
        };
        match next {
            Next::Done => Ok(current),
            Next::Invalid => Err(INVALID_TXN_STATE),
            Next::Prepare => {
                if m.status != TxnStatus::Ongoing {
                    // An abort of a transaction that added nothing.
                    m.partitions.clear();
                    m.groups.clear();
                    m.generation += 1;
                }
                m.tv2 = request_tv2;
                if request_tv2 {
                    m.last_producer_epoch = m.producer_epoch;
                    m.producer_epoch = m.producer_epoch.saturating_add(1);
                }
                let answer = (m.producer_id, m.producer_epoch);
                self.prepare_end(now, &id, commit, EndCause::Client);
                Ok(answer)
            }
        }
    }

    /// Kafka's transaction verification for one transactional Produce batch (the leader asks
    /// the coordinator whether the partition is in the transaction; Produce v12+ adds it).
    pub(super) fn verify_txn_produce(
        &mut self,
        now: Instant,
        txn_id: Option<&str>,
        h: &BatchHeader,
        topic: &str,
        partition: i32,
        version: i16,
    ) -> Result<(), i16> {
        let Some(id) = txn_id else {
            return Err(INVALID_TXN_STATE);
        };
        let key = (topic.to_owned(), partition);
        let m = self
            .coordinators
            .txns
            .get(id)
            .ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != h.producer_id {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if m.producer_epoch != h.producer_epoch {
            // PRODUCER_FENCED from the coordinator, as a producer sees it.
            return Err(INVALID_PRODUCER_EPOCH);
        }
        if m.pending() {
            return Err(NOT_ENOUGH_REPLICAS);
        }
        if m.status == TxnStatus::Ongoing && m.partitions.contains(&key) {
            return Ok(());
        }
        match version {
            12.. => {
                self.ensure_ongoing(now, id, true);
                if let Some(m) = self.coordinators.txns.get_mut(id) {
                    m.partitions.insert(key);
                }
                Ok(())
            }
            11 => Err(TRANSACTION_ABORTABLE),
            _ => Err(INVALID_TXN_STATE),
        }
    }

    /// The keys a request names (transactional id, group id, FindCoordinator keys), for
    /// fault filters.
    pub(super) fn request_keys(kind: &super::handlers::RequestKind) -> Vec<String> {
        use super::handlers::RequestKind as K;
        match kind {
            K::FindCoordinator(r) => {
                let mut keys: Vec<String> =
                    r.coordinator_keys.iter().map(|k| k.to_string()).collect();
                if !r.key.is_empty() {
                    keys.push(r.key.to_string());
                }
                keys
            }
            K::InitProducerId(r) => r.transactional_id.iter().map(|t| t.0.to_string()).collect(),
            K::AddPartitionsToTxn(r) => vec![r.v3_and_below_transactional_id.0.to_string()],
            K::AddOffsetsToTxn(r) => {
                vec![r.transactional_id.0.to_string(), r.group_id.0.to_string()]
            }
            K::TxnOffsetCommit(r) => {
                vec![r.transactional_id.0.to_string(), r.group_id.0.to_string()]
            }
            K::EndTxn(r) => vec![r.transactional_id.0.to_string()],
            K::Produce(r) => r.transactional_id.iter().map(|t| t.0.to_string()).collect(),
            K::ApiVersions | K::Metadata(_) => Vec::new(),
        }
    }
}
