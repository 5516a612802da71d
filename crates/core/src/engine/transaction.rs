//! The transactional producer (`transactional.id`): KIP-98 transactions, KIP-360 epoch
//! bumps on abort, KIP-890 transaction version 2, following librdkafka's transaction manager
//! (`rdkafka_txnmgr.c`) state by state.
//!
//! # States
//!
//! librdkafka's names (they show in the statistics' `txn_state`): `Init` → (`init_transactions`)
//! `WaitPID` → `ReadyNotAcked` → (result handed out by [`Engine::poll_txn_result`]) `Ready` →
//! (`begin_transaction`) `InTransaction` → (`commit_transaction`) `BeginCommit` (flushing) →
//! `CommittingTransaction` (EndTxn in flight) → `CommitNotAcked` → `Ready`; or
//! (`abort_transaction`) `BeginAbort` (queue purged, waiting for requests in flight) →
//! `AbortingTransaction` (EndTxn and/or the KIP-360 re-init in flight) → `AbortedNotAcked` →
//! `Ready`. `AbortableError` is left only by aborting; `FatalError` never.
//!
//! # Invariants
//!
//! - Records are accepted only in `InTransaction` (`send` fails with `State` otherwise,
//!   `Fatal` after a fatal error). A batch is drained into a ProduceRequest only in
//!   `InTransaction`/`BeginCommit`, only once its partition is in the transaction, and always
//!   with the transactional bit, the transaction's producer id and epoch, and the request's
//!   `transactional_id`.
//! - TV1: a partition enters the transaction by AddPartitionsToTxn (v3 at most), sent for every
//!   partition that got records and is not added yet, batched (one request in flight; records
//!   appended until the driver's next poll share it); its batches wait for the answer.
//!   Transactional Produce stays at v11, EndTxn at v4, TxnOffsetCommit at v4.
//! - TV2 (KIP-890): chosen per transaction at `begin_transaction` when the transaction
//!   coordinator reported a finalized `transaction.version` >= 2 and speaks Produce v12, EndTxn
//!   v5 and TxnOffsetCommit v5 (the Java client's rule; it never changes inside a
//!   transaction). Produce v12 adds partitions implicitly, TxnOffsetCommit v5 adds the group
//!   implicitly (no AddOffsetsToTxn, as the Java 4.x client does), and EndTxn v5 returns the
//!   producer id and epoch for the next transaction: sequences restart at 0. A retried EndTxn
//!   whose first attempt was applied gets the already bumped epoch back (KIP-890), so EndTxn
//!   retries are safe under both versions.
//! - Commit flushes (ignoring linger), waits until every record of the transaction has its
//!   delivery report (emitted, not necessarily served), fails abortably with `Inconsistent`
//!   if any failed, else sends EndTxn(commit) unless nothing reached the coordinator (an empty
//!   transaction ends locally, as in librdkafka and Java).
//! - Abort purges queued records (`PurgeQueue` reports), waits for those in flight, sends
//!   EndTxn(abort) if anything may have reached the coordinator, then, if an error left a
//!   sequence gap or lost producer state, re-initialises with InitProducerId carrying the
//!   current id and epoch (KIP-360: v3+, else fatal `UnsupportedFeature`).
//! - An idempotence error that would bump the epoch (a stamped batch failed, OUT_OF_ORDER,
//!   UNKNOWN_PRODUCER_ID) does not bump on its own under transactions: the transaction becomes
//!   abortable "with bump" and the bump happens at abort (librdkafka's `WAIT_TXN_ABORT`).
//!   While abortable, retries and queued records are purged, never sent.
//! - Every fatal error (transactional or idempotent) goes through one path: queued records
//!   fail with `Fatal`, `Event::Error` with `Fatal` is emitted, [`Engine::fatal_error`] keeps
//!   the first code and reason, and the running operation fails with the fatal error.
//! - Operations are resumable: a call of the running operation is accepted and changes
//!   nothing; a different operation is refused with `Conflict`. A success handed out by
//!   `poll_txn_result` is handed out again if the same operation (init, commit, abort) is called
//!   again before another one starts (the driver may have given up waiting). Errors derived
//!   from the state (abortable, fatal) are returned by the call itself.
//! - Responses are matched to the transaction generation (bumped at begin, abort and end) and
//!   to the coordinator lookup generation: late answers of an earlier attempt are ignored.
//!
//! # Coordinators
//!
//! FindCoordinator (key type 1 for the transactional id, 0 for the group of
//! `send_offsets_to_transaction`; v4+ batched keys) goes to any ready broker; the answer may
//! name a broker no partition lives on, which then gets a connection. A lost connection to a
//! coordinator, NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE start a new lookup; every retry
//! uses the `retry.backoff.ms` exponential backoff, CONCURRENT_TRANSACTIONS 20 ms.
//!
//! # Error classes
//!
//! librdkafka's tables (`rd_kafka_txn_handle_*`, `rd_kafka_idemp_check_error`), one
//! [`classify_txn_error`] per API (transport failures and request timeouts count as
//! retriable; both fencing codes become `Fenced`):
//!
//! | API | retry | abortable | fatal |
//! |---|---|---|---|
//! | FindCoordinator | everything else | GROUP_AUTHORIZATION_FAILED (group key) | TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED |
//! | InitProducerId | everything else (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE re-look up; CONCURRENT_TRANSACTIONS 20 ms) | – | INVALID_PRODUCER_EPOCH, PRODUCER_FENCED (`Fenced`), INVALID_TRANSACTION_TIMEOUT, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, UNSUPPORTED_VERSION |
//! | AddPartitionsToTxn | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE (re-look up), CONCURRENT_TRANSACTIONS (20 ms), COORDINATOR_LOAD_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION, transport | UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING (with bump); TOPIC_AUTHORIZATION_FAILED, OPERATION_NOT_ATTEMPTED, any other | INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE, CLUSTER_AUTHORIZATION_FAILED |
//! | AddOffsetsToTxn | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT, transport (re-look up); CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION | TOPIC/GROUP_AUTHORIZATION_FAILED, any other | TRANSACTIONAL_ID/CLUSTER_AUTHORIZATION_FAILED, INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, INVALID_TXN_STATE, UNSUPPORTED_FOR_MESSAGE_FORMAT |
//! | TxnOffsetCommit | as AddOffsetsToTxn (the group coordinator is looked up again) | TOPIC/GROUP_AUTHORIZATION_FAILED, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, any other | as AddOffsetsToTxn, plus INVALID_PRODUCER_ID_MAPPING |
//! | EndTxn | NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, transport (re-look up); CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS | UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING (abort: re-init then success; commit: abortable with bump); any other | INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, TRANSACTIONAL_ID/CLUSTER_AUTHORIZATION_FAILED, INVALID_TXN_STATE |
//! | Produce | the produce classification (`classify_produce_error`) | any permanent failure; UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER, a stamped batch failing (with bump) | INVALID_PRODUCER_EPOCH under TV1 (`Fenced`) |
//!
//! Choices where the clients differ or the tables are silent:
//! - PRODUCER_FENCED from AddOffsetsToTxn and TxnOffsetCommit is fatal `Fenced` (librdkafka
//!   lists only INVALID_PRODUCER_EPOCH there and would make it abortable; Java is fatal).
//! - INVALID_PRODUCER_EPOCH on Produce: fatal `Fenced` under TV1 (librdkafka); under TV2 it
//!   is abortable with a re-init on abort (Java, KIP-588/KIP-890): under TV2 the coordinator
//!   bumps the epoch on every EndTxn and when it aborts a transaction that exceeded
//!   `transaction.timeout.ms`, so a stale epoch is not proof of fencing. A real fence still
//!   ends fatally: the abort's EndTxn or InitProducerId then gets PRODUCER_FENCED. Under TV1
//!   a transaction timed out by the coordinator therefore ends the producer (`Fenced`), as
//!   in librdkafka.
//! - TRANSACTION_ABORTABLE (code 120, KIP-890) is not in librdkafka's error enum: it arrives as
//!   `ErrorCode::Unknown` and takes the "any other" row: abortable (Produce, AddPartitionsToTxn,
//!   EndTxn, TxnOffsetCommit), retried (InitProducerId). Java makes it fatal while aborting;
//!   here an abort that fails so returns an abortable error and may be called again.
//! - OUT_OF_ORDER_SEQUENCE_NUMBER at the head of the line is abortable with bump (Java:
//!   abortable when the epoch can be bumped), not fatal as in librdkafka.
//! - `send_offsets_to_transaction` retries until `transaction.timeout.ms` after it started
//!   (librdkafka caps the call's timeout so): then AddOffsetsToTxn fails retriably and
//!   TxnOffsetCommit abortably, as librdkafka does. Coordinator operations (init, commit,
//!   abort) retry without limit; the caller's timeout bounds the wait, not the operation.
//! - `Conflict` carries no class flag (librdkafka marks it retriable).

use std::collections::VecDeque;

use bytes::Bytes;
use core::time::Duration;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::frame::decode_response;
use purekafka_protocol::kafka_protocol;
use purekafka_protocol::versions::NegotiatedVersions;

use super::backoff::backoff;
use super::broker::{Broker, ReqKind};
use super::idempotence::IdemPhase;
use super::request::{self, OffsetGroup, OffsetPart, TxnIdent};
use super::timer::Timer;
use super::{Engine, PartKey};
use crate::config::BrokerAddress;
use crate::error::ErrorCode;
use crate::time::Instant;

/// The transactional operations whose result arrives through
/// [`Engine::poll_txn_result`] (librdkafka: init, send_offsets, commit, abort; `begin` is
/// synchronous).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnOp {
    /// `init_transactions`.
    Init,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

/// A transactional API error with librdkafka's classes: at most one of `retriable`,
/// `abortable` and `fatal` is set; none set means "treat as fatal" (rdkafka's documented
/// rule for `RDKafkaError`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct TxnError {
    /// The error code (`rd_kafka_error_code`).
    pub code: ErrorCode,
    /// The call may be retried (`is_retriable`).
    pub retriable: bool,
    /// The transaction must be aborted (`txn_requires_abort`).
    pub abortable: bool,
    /// The producer can't go on (`is_fatal`).
    pub fatal: bool,
    /// Human-readable context (`rd_kafka_error_string`).
    pub reason: String,
}

impl TxnError {
    /// An error with no class flag.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            retriable: false,
            abortable: false,
            fatal: false,
            reason: reason.into(),
        }
    }

    /// A retriable error.
    pub fn retriable(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            retriable: true,
            ..Self::new(code, reason)
        }
    }

    /// An error that requires aborting the transaction.
    pub fn abortable(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            abortable: true,
            ..Self::new(code, reason)
        }
    }

    /// A fatal error.
    pub fn fatal(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            fatal: true,
            ..Self::new(code, reason)
        }
    }
}

/// One offset to commit with the transaction (`send_offsets_to_transaction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnOffset<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// The offset to commit (the next record to consume); negative offsets are skipped, as
    /// librdkafka skips invalid offsets.
    pub offset: i64,
    /// The leader epoch of the consumed record, -1 when unknown.
    pub leader_epoch: i32,
    /// Commit metadata.
    pub metadata: Option<&'a str>,
}

/// Consumer group metadata for TxnOffsetCommit (KIP-447).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupMetadata {
    /// The consumer group id.
    pub group_id: String,
    /// The group generation, -1 when unknown.
    pub generation_id: i32,
    /// The member id, empty when unknown.
    pub member_id: String,
    /// The static member id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
}

impl GroupMetadata {
    /// Metadata with only a group id (generation -1, no member): what a producer that
    /// doesn't run the consumer group protocol can give (librdkafka's
    /// `rd_kafka_consumer_group_metadata_new`).
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// CONCURRENT_TRANSACTIONS is retried after this short backoff (the Java client's 20 ms).
const CONCURRENT_TXN_BACKOFF: Duration = Duration::from_millis(20);

/// librdkafka's transaction states (`rd_kafka_txn_state_t`), named as in its statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TxnState {
    Init,
    WaitPid,
    ReadyNotAcked,
    Ready,
    InTransaction,
    BeginCommit,
    CommittingTransaction,
    CommitNotAcked,
    BeginAbort,
    AbortingTransaction,
    AbortedNotAcked,
    AbortableError,
    FatalError,
}

impl TxnState {
    /// librdkafka's `rd_kafka_txn_state2str`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Init => "Init",
            Self::WaitPid => "WaitPID",
            Self::ReadyNotAcked => "ReadyNotAcked",
            Self::Ready => "Ready",
            Self::InTransaction => "InTransaction",
            Self::BeginCommit => "BeginCommit",
            Self::CommittingTransaction => "CommittingTransaction",
            Self::CommitNotAcked => "CommitNotAcked",
            Self::BeginAbort => "BeginAbort",
            Self::AbortingTransaction => "AbortingTransaction",
            Self::AbortedNotAcked => "AbortedNotAcked",
            Self::AbortableError => "AbortableError",
            Self::FatalError => "FatalError",
        }
    }

    /// States in which records of a transaction may be produced (librdkafka's
    /// `txn_may_send`): accepted by `send` only in InTransaction.
    fn may_produce(self) -> bool {
        matches!(self, Self::InTransaction | Self::BeginCommit)
    }
}

/// A partition's place in the current transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxnPart {
    /// Not part of it.
    No,
    /// Has records; AddPartitionsToTxn not sent yet (TV1).
    Pending,
    /// In an AddPartitionsToTxn request awaiting its response (TV1).
    Adding,
    /// Added (TV1) or implicitly added by Produce v12 (TV2): its batches may be sent.
    Added,
}

/// The transaction APIs an error is classified for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TxnApi {
    FindCoordinator,
    InitProducerId,
    AddPartitionsToTxn,
    AddOffsetsToTxn,
    TxnOffsetCommit,
    EndTxn,
}

/// What to do about a transaction API error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TxnAction {
    /// Retry after the usual backoff.
    Retry,
    /// Retry after 20 ms (CONCURRENT_TRANSACTIONS).
    RetrySoon,
    /// Look the coordinator up again, then retry.
    RetryCoordinator,
    /// The transaction must be aborted.
    Abortable,
    /// The transaction must be aborted, and the epoch bumped (KIP-360) when aborting.
    AbortableBump,
    /// The producer can't go on.
    Fatal,
}

/// The error class of `code` from `api`: librdkafka 2.12's tables
/// (`rd_kafka_txn_handle_*`, `rd_kafka_idemp_check_error`); see the module doc for the rows
/// where purekafka differs. Local transport errors (a lost connection, a request timeout)
/// are passed as `BrokerTransportFailure` / `OperationTimedOut`.
pub(crate) fn classify_txn_error(api: TxnApi, code: ErrorCode) -> TxnAction {
    use ErrorCode as E;
    use TxnAction as A;
    let transport = matches!(
        code,
        E::BrokerTransportFailure | E::OperationTimedOut | E::TimedOutQueue | E::BadMessage
    );
    match api {
        TxnApi::FindCoordinator => match code {
            E::TransactionalIdAuthorizationFailed | E::ClusterAuthorizationFailed => A::Fatal,
            E::GroupAuthorizationFailed => A::Abortable,
            _ => A::Retry,
        },
        TxnApi::InitProducerId => match code {
            E::InvalidProducerEpoch
            | E::ProducerFenced
            | E::InvalidTransactionTimeout
            | E::TransactionalIdAuthorizationFailed
            | E::ClusterAuthorizationFailed
            | E::UnsupportedVersion
            | E::UnsupportedFeature => A::Fatal,
            E::NotCoordinator | E::CoordinatorNotAvailable => A::RetryCoordinator,
            E::ConcurrentTransactions => A::RetrySoon,
            _ => A::Retry,
        },
        TxnApi::AddPartitionsToTxn => match code {
            _ if transport => A::Retry,
            E::NotCoordinator | E::CoordinatorNotAvailable => A::RetryCoordinator,
            E::ConcurrentTransactions => A::RetrySoon,
            E::CoordinatorLoadInProgress | E::UnknownTopicOrPartition => A::Retry,
            E::InvalidProducerEpoch
            | E::ProducerFenced
            | E::TransactionalIdAuthorizationFailed
            | E::InvalidTransactionalState
            | E::ClusterAuthorizationFailed => A::Fatal,
            E::UnknownProducerId | E::InvalidProducerIdMapping => A::AbortableBump,
            _ => A::Abortable,
        },
        TxnApi::AddOffsetsToTxn => match code {
            _ if transport => A::RetryCoordinator,
            E::NotCoordinator | E::CoordinatorNotAvailable | E::RequestTimedOut => {
                A::RetryCoordinator
            }
            E::ConcurrentTransactions => A::RetrySoon,
            E::CoordinatorLoadInProgress | E::UnknownTopicOrPartition => A::Retry,
            E::TransactionalIdAuthorizationFailed
            | E::ClusterAuthorizationFailed
            | E::InvalidProducerEpoch
            | E::ProducerFenced
            | E::InvalidTransactionalState
            | E::UnsupportedForMessageFormat => A::Fatal,
            _ => A::Abortable,
        },
        TxnApi::TxnOffsetCommit => match code {
            _ if transport => A::RetryCoordinator,
            E::NotCoordinator | E::CoordinatorNotAvailable | E::RequestTimedOut => {
                A::RetryCoordinator
            }
            E::ConcurrentTransactions => A::RetrySoon,
            E::CoordinatorLoadInProgress | E::UnknownTopicOrPartition => A::Retry,
            E::TransactionalIdAuthorizationFailed
            | E::ClusterAuthorizationFailed
            | E::InvalidProducerIdMapping
            | E::InvalidProducerEpoch
            | E::ProducerFenced
            | E::InvalidTransactionalState
            | E::UnsupportedForMessageFormat => A::Fatal,
            _ => A::Abortable,
        },
        TxnApi::EndTxn => match code {
            _ if transport => A::RetryCoordinator,
            E::NotCoordinator | E::CoordinatorNotAvailable => A::RetryCoordinator,
            E::ConcurrentTransactions => A::RetrySoon,
            E::CoordinatorLoadInProgress => A::Retry,
            E::UnknownProducerId | E::InvalidProducerIdMapping => A::AbortableBump,
            E::InvalidProducerEpoch
            | E::ProducerFenced
            | E::TransactionalIdAuthorizationFailed
            | E::ClusterAuthorizationFailed
            | E::InvalidTransactionalState => A::Fatal,
            _ => A::Abortable,
        },
    }
}

/// librdkafka's `rd_kafka_txn_normalize_err`: both fencing codes become `Fenced`.
pub(crate) fn normalize_txn_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => ErrorCode::Fenced,
        ErrorCode::TimedOutQueue => ErrorCode::OperationTimedOut,
        other => other,
    }
}

/// The transaction APIs a connection's broker speaks (from its ApiVersions answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TxnApis {
    pub(crate) find_coordinator: Option<i16>,
    pub(crate) add_partitions: Option<i16>,
    pub(crate) add_offsets: Option<i16>,
    pub(crate) end_txn: Option<i16>,
    pub(crate) txn_offset_commit: Option<i16>,
    /// The finalized `transaction.version` feature level.
    pub(crate) transaction_version: i16,
    pub(crate) produce: Option<i16>,
}

impl TxnApis {
    pub(crate) fn from_negotiated(n: &NegotiatedVersions) -> Self {
        Self {
            find_coordinator: n.version(ApiKey::FindCoordinator),
            add_partitions: n.version(ApiKey::AddPartitionsToTxn),
            add_offsets: n.version(ApiKey::AddOffsetsToTxn),
            end_txn: n.version(ApiKey::EndTxn),
            txn_offset_commit: n.version(ApiKey::TxnOffsetCommit),
            transaction_version: n.transaction_version(),
            produce: n.version(ApiKey::Produce),
        }
    }

    /// KIP-890 transaction version 2: the cluster finalized `transaction.version` >= 2 and
    /// the broker speaks Produce v12, EndTxn v5 and TxnOffsetCommit v5 (the Java client's
    /// rule).
    pub(crate) fn tv2(&self) -> bool {
        self.transaction_version >= 2
            && self.produce.is_some_and(|v| v >= 12)
            && self.end_txn.is_some_and(|v| v >= 5)
            && self.txn_offset_commit.is_some_and(|v| v >= 5)
    }
}

/// Which coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoordKind {
    /// The transaction coordinator (FindCoordinator key type 1).
    Txn,
    /// The consumer group coordinator of `send_offsets_to_transaction` (key type 0).
    Group,
}

impl CoordKind {
    fn key_type(self) -> i8 {
        match self {
            Self::Txn => 1,
            Self::Group => 0,
        }
    }
}

/// A coordinator and its lookup.
#[derive(Debug, Default)]
struct Coord {
    broker: Option<usize>,
    in_flight: bool,
    retry_at: Option<Instant>,
    attempts: u32,
    /// Bumped whenever the lookup is restarted, so a stale answer is ignored.
    generation: u64,
}

impl Coord {
    fn reset(&mut self) {
        self.broker = None;
        self.in_flight = false;
        self.generation += 1;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OffsetsPhase {
    AddOffsets,
    AddOffsetsInFlight,
    Commit,
    CommitInFlight,
}

/// A running `send_offsets_to_transaction`.
#[derive(Debug)]
struct OffsetsOp {
    group_id: StrBytes,
    generation_id: i32,
    member_id: StrBytes,
    group_instance_id: Option<StrBytes>,
    topics: Vec<(StrBytes, Vec<OffsetPart>)>,
    phase: OffsetsPhase,
    /// librdkafka caps the operation at the transaction timeout.
    deadline: Instant,
    retry_at: Option<Instant>,
    attempts: u32,
}

/// Transactional producer state.
#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) state: TxnState,
    id: StrBytes,
    coord: Coord,
    group_coord: Coord,
    group_key: Option<StrBytes>,
    running: Option<TxnOp>,
    results: VecDeque<(TxnOp, Result<(), TxnError>)>,
    /// The last result handed out, re-emitted when the same op is called again (the driver
    /// may have given up waiting for it).
    last: Option<(TxnOp, Result<(), TxnError>)>,
    /// The abortable or fatal error of the current transaction.
    err: Option<TxnError>,
    /// A sequence gap or lost producer state: re-initialise with the current id and epoch
    /// (KIP-360) when aborting.
    requires_bump: bool,
    /// The abort is waiting for that re-initialisation.
    bumping: bool,
    /// The current transaction uses KIP-890 transaction version 2.
    pub(crate) tv2: bool,
    /// The coordinator's last known TV2 capability.
    cluster_tv2: bool,
    /// Bumped at every begin and abort: responses of an older generation are outdated.
    generation: u64,
    /// Partitions waiting for AddPartitionsToTxn.
    pending: Vec<PartKey>,
    /// Every partition with records in the transaction.
    touched: Vec<PartKey>,
    add_in_flight: bool,
    add_retry_at: Option<Instant>,
    add_attempts: u32,
    /// The coordinator may hold state for this transaction (a partition or the offsets were
    /// added, or such a request's outcome is unknown): EndTxn is needed (librdkafka's
    /// `txn_req_cnt`).
    any_added: bool,
    /// The coordinator surely holds this transaction (an add was answered, a batch was
    /// acknowledged); else `any_added` may rest on requests whose outcome is unknown.
    confirmed: bool,
    /// Records of this transaction that failed (librdkafka's `txn_dr_fails`).
    dr_fails: u64,
    offsets: Option<OffsetsOp>,
    end_in_flight: bool,
    end_retry_at: Option<Instant>,
    end_attempts: u32,
}

impl Txn {
    pub(crate) fn new(transactional_id: &str) -> Self {
        Self {
            state: TxnState::Init,
            id: StrBytes::from_string(transactional_id.to_owned()),
            coord: Coord::default(),
            group_coord: Coord::default(),
            group_key: None,
            running: None,
            results: VecDeque::new(),
            last: None,
            err: None,
            requires_bump: false,
            bumping: false,
            tv2: false,
            cluster_tv2: false,
            generation: 0,
            pending: Vec::new(),
            touched: Vec::new(),
            add_in_flight: false,
            add_retry_at: None,
            add_attempts: 0,
            any_added: false,
            confirmed: false,
            dr_fails: 0,
            offsets: None,
            end_in_flight: false,
            end_retry_at: None,
            end_attempts: 0,
        }
    }

    /// The transactional id, for ProduceRequests.
    pub(crate) fn id(&self) -> &StrBytes {
        &self.id
    }

    fn finish(&mut self, op: TxnOp, result: Result<(), TxnError>) {
        if self.running == Some(op) {
            self.running = None;
        }
        self.results.push_back((op, result));
    }

    fn state_error(&self) -> TxnError {
        match (&self.err, self.state) {
            (Some(e), TxnState::AbortableError | TxnState::FatalError) => e.clone(),
            _ => TxnError::new(
                ErrorCode::State,
                format!("Operation not valid in state {}", self.state.name()),
            ),
        }
    }
}

fn op_name(op: TxnOp) -> &'static str {
    match op {
        TxnOp::Init => "init_transactions",
        TxnOp::SendOffsets => "send_offsets_to_transaction",
        TxnOp::Commit => "commit_transaction",
        TxnOp::Abort => "abort_transaction",
    }
}

/// How a public operation call was taken.
enum Entry {
    /// Go on with it.
    Start,
    /// Answered already (resumed, re-emitted, or refused).
    Done(Result<(), TxnError>),
}

impl<O> Engine<O> {
    /// Common checks of every transactional call: configured, not fatal, no conflicting op;
    /// a call of the running op resumes it, and a call of the op whose success was already
    /// handed out hands it out again.
    fn txn_entry(&mut self, op: Option<TxnOp>) -> Entry {
        let Some(txn) = self.txn.as_mut() else {
            return Entry::Done(Err(TxnError::new(
                ErrorCode::NotConfigured,
                "The Transactional API requires transactional.id to be configured",
            )));
        };
        if txn.state == TxnState::FatalError {
            return Entry::Done(Err(txn.state_error()));
        }
        if let Some(running) = txn.running {
            if Some(running) == op {
                return Entry::Done(Ok(()));
            }
            return Entry::Done(Err(TxnError::new(
                ErrorCode::Conflict,
                format!(
                    "Conflicting {} API call is already in progress",
                    op_name(running)
                ),
            )));
        }
        if let (Some(op), Some((last_op, Ok(())))) = (op, &txn.last) {
            if *last_op == op && op != TxnOp::SendOffsets && txn.state == TxnState::Ready {
                txn.results.push_back((op, Ok(())));
                return Entry::Done(Ok(()));
            }
        }
        Entry::Start
    }

    /// Starts (or resumes) `init_transactions`: finds the transaction coordinator and gets
    /// the producer id and epoch for `transactional.id` (InitProducerId with
    /// `transaction.timeout.ms`). `Ok` means accepted; the result arrives through
    /// [`Engine::poll_txn_result`].
    pub fn init_transactions(&mut self, now: Instant) -> Result<(), TxnError> {
        if let Entry::Done(r) = self.txn_entry(Some(TxnOp::Init)) {
            return r;
        }
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        match txn.state {
            TxnState::Init | TxnState::WaitPid => {
                txn.state = TxnState::WaitPid;
                txn.running = Some(TxnOp::Init);
                txn.last = None;
            }
            // Succeeded; the result waits in `poll_txn_result`.
            TxnState::ReadyNotAcked => return Ok(()),
            _ => return Err(txn.state_error()),
        }
        self.drive(now);
        Ok(())
    }

    /// Starts a transaction. Synchronous: no result event follows.
    pub fn begin_transaction(&mut self, now: Instant) -> Result<(), TxnError> {
        if let Entry::Done(r) = self.txn_entry(None) {
            return r;
        }
        let coord_tv2 = self
            .txn
            .as_ref()
            .and_then(|t| t.coord.broker)
            .and_then(|b| self.brokers[b].ready_conn().map(|c| c.txn_apis.tv2()));
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        if txn.state != TxnState::Ready {
            return Err(txn.state_error());
        }
        // KIP-890: the protocol is chosen per transaction, never switched inside one.
        if let Some(tv2) = coord_tv2 {
            txn.cluster_tv2 = tv2;
        }
        txn.tv2 = txn.cluster_tv2;
        txn.state = TxnState::InTransaction;
        txn.last = None;
        txn.err = None;
        txn.dr_fails = 0;
        txn.any_added = false;
        txn.confirmed = false;
        txn.requires_bump = false;
        txn.generation += 1;
        let _ = now;
        Ok(())
    }

    /// Starts (or resumes) adding consumer offsets to the transaction: AddOffsetsToTxn to
    /// the transaction coordinator (not under TV2), then TxnOffsetCommit to the group
    /// coordinator. Offsets below 0 are skipped; with none left it succeeds at once.
    pub fn send_offsets_to_transaction(
        &mut self,
        now: Instant,
        offsets: &[TxnOffset<'_>],
        group: &GroupMetadata,
    ) -> Result<(), TxnError> {
        if let Entry::Done(r) = self.txn_entry(Some(TxnOp::SendOffsets)) {
            return r;
        }
        if group.group_id.is_empty() {
            return Err(TxnError::new(
                ErrorCode::InvalidArgument,
                "the consumer group metadata needs a group id",
            ));
        }
        let txn_timeout = self.cfg.transaction_timeout;
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        if txn.state != TxnState::InTransaction {
            return Err(txn.state_error());
        }
        txn.last = None;
        let mut valid: Vec<&TxnOffset<'_>> = offsets.iter().filter(|o| o.offset >= 0).collect();
        if valid.is_empty() {
            // librdkafka: nothing consumed is not an error, and nothing is sent.
            txn.results.push_back((TxnOp::SendOffsets, Ok(())));
            return Ok(());
        }
        valid.sort_by(|a, b| (a.topic, a.partition).cmp(&(b.topic, b.partition)));
        let mut topics: Vec<(StrBytes, Vec<OffsetPart>)> = Vec::new();
        for o in valid {
            let part = OffsetPart {
                partition: o.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.map(|m| StrBytes::from_string(m.to_owned())),
            };
            match topics.last_mut() {
                Some((name, parts)) if **name == *o.topic => {
                    // The last offset given for a partition wins.
                    if parts.last().is_some_and(|p| p.partition == o.partition) {
                        parts.pop();
                    }
                    parts.push(part);
                }
                _ => topics.push((StrBytes::from_string(o.topic.to_owned()), vec![part])),
            }
        }
        let group_id = StrBytes::from_string(group.group_id.clone());
        if txn.group_key.as_ref() != Some(&group_id) {
            txn.group_coord.reset();
            txn.group_key = Some(group_id.clone());
        }
        txn.offsets = Some(OffsetsOp {
            group_id,
            generation_id: group.generation_id,
            member_id: StrBytes::from_string(group.member_id.clone()),
            group_instance_id: group
                .group_instance_id
                .as_ref()
                .map(|s| StrBytes::from_string(s.clone())),
            topics,
            // KIP-890: TxnOffsetCommit v5 adds the group implicitly, and the Java client
            // sends no AddOffsetsToTxn under TV2.
            phase: if txn.tv2 {
                OffsetsPhase::Commit
            } else {
                OffsetsPhase::AddOffsets
            },
            deadline: now + txn_timeout,
            retry_at: None,
            attempts: 0,
        });
        txn.running = Some(TxnOp::SendOffsets);
        self.drive(now);
        Ok(())
    }

    /// Starts (or resumes) committing the transaction: flushes every record of it (linger
    /// ignored), waits for all their delivery reports, fails abortably if any record failed,
    /// else sends EndTxn(commit) (skipped when nothing was added to the transaction).
    pub fn commit_transaction(&mut self, now: Instant) -> Result<(), TxnError> {
        if let Entry::Done(r) = self.txn_entry(Some(TxnOp::Commit)) {
            return r;
        }
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        match txn.state {
            TxnState::InTransaction => {
                txn.state = TxnState::BeginCommit;
                txn.running = Some(TxnOp::Commit);
                txn.last = None;
            }
            TxnState::CommitNotAcked => return Ok(()),
            _ => return Err(txn.state_error()),
        }
        self.flush(now);
        Ok(())
    }

    /// Starts (or resumes) aborting the transaction: purges its queued records
    /// (`PurgeQueue` reports), waits for those in flight, then sends EndTxn(abort) if
    /// anything was added, and re-initialises the producer id (KIP-360) when an error left a
    /// sequence gap. Also the way out of an abortable error.
    pub fn abort_transaction(&mut self, now: Instant) -> Result<(), TxnError> {
        if let Entry::Done(r) = self.txn_entry(Some(TxnOp::Abort)) {
            return r;
        }
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        match txn.state {
            TxnState::InTransaction | TxnState::AbortableError => {
                txn.state = TxnState::BeginAbort;
                // A dropped send_offsets request may have added the group already.
                if let Some(op) = txn.offsets.take() {
                    if matches!(
                        op.phase,
                        OffsetsPhase::AddOffsetsInFlight | OffsetsPhase::CommitInFlight
                    ) {
                        txn.any_added = true;
                    }
                }
                // An AddPartitionsToTxn in flight stays awaited: its answer tells whether
                // the coordinator holds the transaction (EndTxn waits for it).
                txn.add_retry_at = None;
                txn.pending.clear();
                txn.running = Some(TxnOp::Abort);
                txn.last = None;
                self.purge_queue(now);
            }
            // A failed EndTxn(abort) left the abort to be retried.
            TxnState::BeginAbort | TxnState::AbortingTransaction => {
                txn.running = Some(TxnOp::Abort);
                txn.last = None;
            }
            TxnState::AbortedNotAcked => return Ok(()),
            _ => return Err(txn.state_error()),
        }
        self.drive(now);
        Ok(())
    }

    /// Whether a finished transactional operation waits for [`Engine::poll_txn_result`].
    pub(crate) fn has_txn_result(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| !t.results.is_empty())
    }

    /// The next finished operation and its result. Handing out a success acknowledges it
    /// (librdkafka's `*NotAcked` states become `Ready`); the result is kept so that calling
    /// the same operation again hands it out again.
    pub fn poll_txn_result(&mut self) -> Option<(TxnOp, Result<(), TxnError>)> {
        let txn = self.txn.as_mut()?;
        let (op, result) = txn.results.pop_front()?;
        if result.is_ok() {
            match (op, txn.state) {
                (TxnOp::Init, TxnState::ReadyNotAcked)
                | (TxnOp::Commit, TxnState::CommitNotAcked)
                | (TxnOp::Abort, TxnState::AbortedNotAcked) => txn.state = TxnState::Ready,
                _ => {}
            }
        }
        txn.last = Some((op, result.clone()));
        Some((op, result))
    }

    /// The first fatal error (idempotence or transactions): code and reason, as
    /// rdkafka's `Client::fatal_error` returns them.
    pub fn fatal_error(&self) -> Option<(ErrorCode, &str)> {
        self.fatal.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    // ---- hooks for the other modules ----

    /// `send`'s check: records are accepted only inside a transaction.
    pub(crate) fn txn_refuses_send(&self) -> bool {
        self.txn
            .as_ref()
            .is_some_and(|t| t.state != TxnState::InTransaction)
    }

    /// A record was appended to `key`: the partition joins the transaction.
    pub(crate) fn txn_note_partition(&mut self, key: PartKey) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let tv2 = txn.tv2;
        let Some(part) = self
            .topics
            .get_mut(key.topic.0 as usize)
            .and_then(|t| t.partitions.get_mut(key.partition as usize))
        else {
            return;
        };
        if part.txn != TxnPart::No {
            return;
        }
        txn.touched.push(key);
        if tv2 {
            // Produce v12 adds the partition implicitly.
            part.txn = TxnPart::Added;
        } else {
            part.txn = TxnPart::Pending;
            txn.pending.push(key);
        }
    }

    /// Whether AddPartitionsToTxn could go out now (`send` defers it to the next poll).
    pub(crate) fn txn_register_due(&self) -> bool {
        self.txn
            .as_ref()
            .is_some_and(|t| !t.pending.is_empty() && !t.add_in_flight)
    }

    /// `None` when not transactional; else whether the transaction state lets batches be
    /// drained at all (a partition's own gate is `TxnPart::Added`).
    pub(crate) fn txn_drain_gate(&self) -> Option<bool> {
        self.txn.as_ref().map(|t| t.state.may_produce())
    }

    /// The Produce version to use on a connection that negotiated `negotiated`: a TV1
    /// transaction must stay at v11 (v12 means implicit partition adds, KIP-890).
    pub(crate) fn txn_produce_version(&self, negotiated: i16) -> i16 {
        match &self.txn {
            Some(t) if !t.tv2 => negotiated.min(11),
            _ => negotiated,
        }
    }

    /// Whether the current transaction uses KIP-890 transaction version 2.
    pub(crate) fn txn_is_tv2(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.tv2)
    }

    /// A ProduceRequest of the transaction was built: under TV2 it may add partitions.
    pub(crate) fn txn_produced(&mut self) {
        if let Some(t) = self.txn.as_mut() {
            t.any_added = true;
        }
    }

    /// A batch of the transaction was acknowledged: under TV2 the coordinator now surely
    /// holds the transaction.
    pub(crate) fn txn_batch_acked(&mut self) {
        if let Some(t) = self.txn.as_mut() {
            t.confirmed = true;
        }
    }

    /// Records of the transaction failed (counted for commit, librdkafka's `txn_dr_fails`).
    pub(crate) fn txn_records_failed(&mut self, n: usize) {
        if let Some(t) = self.txn.as_mut() {
            if matches!(
                t.state,
                TxnState::InTransaction
                    | TxnState::BeginCommit
                    | TxnState::CommittingTransaction
                    | TxnState::AbortableError
            ) {
                t.dr_fails = t.dr_fails.saturating_add(n as u64);
            }
        }
    }

    /// Whether a failed batch must not be queued for a retry: the transaction can't send it
    /// any more (abortable error or abort under way); it is failed as purged instead.
    pub(crate) fn txn_blocks_retry(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| !t.state.may_produce())
    }

    /// The current transaction failed and must be aborted (librdkafka's
    /// `rd_kafka_txn_set_abortable_error0`): queued records are purged. Ignored outside a
    /// transaction's active states and after the first such error, except that a needed
    /// epoch bump is always remembered.
    pub(crate) fn txn_abortable(
        &mut self,
        now: Instant,
        code: ErrorCode,
        reason: &str,
        bump: bool,
    ) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if bump {
            txn.requires_bump = true;
        }
        if !matches!(
            txn.state,
            TxnState::InTransaction | TxnState::BeginCommit | TxnState::CommittingTransaction
        ) || txn.err.is_some()
        {
            return;
        }
        txn.err = Some(TxnError::abortable(code, reason));
        txn.state = TxnState::AbortableError;
        self.purge_queue(now);
    }

    /// A fatal error: the idempotent producer's fatal path does the rest.
    pub(crate) fn txn_fatal(&mut self, now: Instant, code: ErrorCode, reason: &str) {
        self.idem_fatal(now, code, reason);
    }

    /// Called by the idempotent producer's fatal path: the transaction state follows and a
    /// running operation fails with the fatal error.
    pub(crate) fn txn_on_fatal(&mut self, code: ErrorCode, reason: &str) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let err = TxnError::fatal(code, reason);
        txn.state = TxnState::FatalError;
        txn.err = Some(err.clone());
        txn.offsets = None;
        if let Some(op) = txn.running {
            txn.finish(op, Err(err));
        }
    }

    /// Whether every record of the transaction has an outcome (reports emitted).
    fn txn_settled(&self) -> bool {
        let Some(txn) = &self.txn else {
            return true;
        };
        if self.topics.iter().any(|t| !t.pending_is_empty()) {
            return false;
        }
        txn.touched.iter().all(|&k| {
            let q = &self.part(k).q;
            q.is_empty() && q.in_flight == 0
        })
    }

    fn txn_retry_delay(&mut self, action: TxnAction, attempts: u32) -> Duration {
        match action {
            TxnAction::RetrySoon => CONCURRENT_TXN_BACKOFF,
            _ => backoff(
                self.cfg.retry_backoff,
                self.cfg.retry_backoff_max,
                attempts,
                &mut self.rng,
            ),
        }
    }

    fn txn_arm(&mut self, at: Instant) {
        self.timers.arm(at, Timer::Txn);
    }

    /// The current producer identity, if a producer id is assigned.
    fn txn_ident(&self) -> Option<(StrBytes, i64, i16)> {
        let txn = self.txn.as_ref()?;
        let idem = self.idem.as_ref()?;
        (idem.pid >= 0 && idem.phase == IdemPhase::Assigned)
            .then(|| (txn.id.clone(), idem.pid, idem.epoch))
    }

    // ---- coordinators ----

    /// The coordinator's broker when its connection is ready; otherwise starts what is
    /// missing (lookup, connection) and returns `None`.
    fn txn_coordinator(&mut self, now: Instant, kind: CoordKind) -> Option<usize> {
        let txn = self.txn.as_ref()?;
        let coord = match kind {
            CoordKind::Txn => &txn.coord,
            CoordKind::Group => &txn.group_coord,
        };
        if let Some(b) = coord.broker {
            if self.brokers[b].ready_conn().is_some() {
                return Some(b);
            }
            if !self.closed && self.brokers[b].may_connect(now) {
                self.connect(now, b);
            }
            return None;
        }
        if coord.in_flight || coord.retry_at.is_some_and(|t| t > now) || self.closed {
            return None;
        }
        let key = match kind {
            CoordKind::Txn => txn.id.clone(),
            CoordKind::Group => txn.group_key.clone()?,
        };
        let generation = coord.generation;
        let ready = (0..self.brokers.len())
            .filter(|&b| {
                self.brokers[b]
                    .ready_conn()
                    .is_some_and(|c| c.txn_apis.find_coordinator.is_some())
            })
            .min_by_key(|&b| {
                (
                    self.brokers[b].bootstrap,
                    self.brokers[b]
                        .conn
                        .as_ref()
                        .map_or(0, |c| c.in_flight.len()),
                )
            });
        let Some(b) = ready else {
            if self.brokers.iter().all(|br| br.ready_conn().is_none()) {
                // Any connection will do; Metadata's connection logic opens one.
                self.metadata.wanted = true;
                self.service_metadata(now);
            }
            return None;
        };
        let c = self.brokers[b].conn.as_mut()?;
        let version = c.txn_apis.find_coordinator?;
        let corr = c.next_corr();
        let key_type = kind.key_type();
        match request::find_coordinator(version, corr, &self.cfg.client_id, key_type, &key) {
            Ok(bytes) => {
                if let Some(t) = self.txn.as_mut() {
                    match kind {
                        CoordKind::Txn => t.coord.in_flight = true,
                        CoordKind::Group => t.group_coord.in_flight = true,
                    }
                }
                self.enqueue_request(
                    now,
                    b,
                    corr,
                    ReqKind::FindCoordinator {
                        version,
                        key_type,
                        generation,
                    },
                    bytes,
                );
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("FindCoordinator: {e}")),
        }
        None
    }

    fn txn_coord_mut(&mut self, key_type: i8) -> Option<&mut Coord> {
        let txn = self.txn.as_mut()?;
        Some(if key_type == 1 {
            &mut txn.coord
        } else {
            &mut txn.group_coord
        })
    }

    /// Looks the coordinator up again after a backoff (a failed lookup, NOT_COORDINATOR).
    fn txn_coord_retry(&mut self, now: Instant, key_type: i8, reset: bool) {
        let attempts = self.txn_coord_mut(key_type).map_or(0, |c| c.attempts);
        let delay = self.txn_retry_delay(TxnAction::Retry, attempts);
        if let Some(c) = self.txn_coord_mut(key_type) {
            if reset {
                c.reset();
            }
            c.in_flight = false;
            c.attempts = c.attempts.saturating_add(1);
            c.retry_at = Some(now + delay);
        }
        self.txn_arm(now + delay);
    }

    /// Handles the response; `false` when it doesn't decode (the caller closes the
    /// connection; the request is already scheduled for a retry).
    pub(crate) fn on_find_coordinator(
        &mut self,
        now: Instant,
        frame: Bytes,
        version: i16,
        key_type: i8,
        generation: u64,
    ) -> bool {
        match self.txn_coord_mut(key_type) {
            Some(c) if c.generation == generation && c.in_flight => c.in_flight = false,
            _ => return true,
        }
        let Ok((_, resp)) = decode_response::<FindCoordinatorResponse>(frame, version) else {
            self.txn_coord_retry(now, key_type, false);
            return false;
        };
        let (code, node, host, port) = if version >= 4 {
            match resp.coordinators.first() {
                Some(c) => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
                None => (
                    ErrorCode::CoordinatorNotAvailable as i16,
                    -1,
                    String::new(),
                    0,
                ),
            }
        } else {
            (
                resp.error_code,
                resp.node_id.0,
                resp.host.to_string(),
                resp.port,
            )
        };
        let code = ErrorCode::from_broker(code);
        if code != ErrorCode::NoError || node < 0 {
            let code = if code == ErrorCode::NoError {
                ErrorCode::CoordinatorNotAvailable
            } else {
                code
            };
            match classify_txn_error(TxnApi::FindCoordinator, code) {
                TxnAction::Fatal => self.txn_fatal(
                    now,
                    code,
                    &format!("Failed to find transaction coordinator: {code}"),
                ),
                TxnAction::Abortable | TxnAction::AbortableBump => {
                    let reason = format!("Failed to find group coordinator: {code}");
                    self.txn_offsets_failed(now, TxnError::abortable(code, &reason));
                    self.txn_abortable(now, code, &reason, false);
                }
                _ => self.txn_coord_retry(now, key_type, false),
            }
            return true;
        }
        let Ok(port) = u16::try_from(port) else {
            self.txn_coord_retry(now, key_type, false);
            return true;
        };
        let b = match self.node_to_broker.get(&node) {
            Some(&b) => b,
            None => {
                // The coordinator may be a broker no partition of ours lives on.
                let b = self.brokers.len();
                self.brokers
                    .push(Broker::new(node, BrokerAddress { host, port }, false));
                self.node_to_broker.insert(node, b);
                b
            }
        };
        if let Some(c) = self.txn_coord_mut(key_type) {
            c.broker = Some(b);
            c.attempts = 0;
            c.retry_at = None;
        }
        if self.brokers[b].conn.is_none() && self.brokers[b].may_connect(now) {
            self.connect(now, b);
        }
        true
    }

    /// A connection closed: a coordinator on it is looked up again (it may have moved), and
    /// the transaction requests it carried are retried.
    pub(crate) fn txn_conn_lost(&mut self, now: Instant, b: usize) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.coord.broker == Some(b) {
            txn.coord.reset();
        }
        if txn.group_coord.broker == Some(b) {
            txn.group_coord.reset();
        }
        let _ = now;
    }

    /// A transaction request was lost with its connection (or timed out): its outcome is
    /// unknown, so it may have been applied.
    pub(crate) fn txn_request_lost(&mut self, now: Instant, kind: ReqKind<O>) {
        match kind {
            ReqKind::FindCoordinator {
                key_type,
                generation,
                ..
            } if self
                .txn_coord_mut(key_type)
                .is_some_and(|c| c.generation == generation) =>
            {
                self.txn_coord_retry(now, key_type, false);
            }
            ReqKind::AddPartitionsToTxn {
                generation, parts, ..
            } => {
                self.txn_add_partitions_failed(now, generation, parts, TxnAction::Retry, true);
            }
            ReqKind::AddOffsetsToTxn { generation, .. } => {
                self.txn_offsets_retry(now, generation, OffsetsPhase::AddOffsetsInFlight, true);
            }
            ReqKind::TxnOffsetCommit { generation, .. } => {
                self.txn_offsets_retry(now, generation, OffsetsPhase::CommitInFlight, true);
            }
            ReqKind::EndTxn { generation, .. } => {
                self.txn_end_retry(now, generation, TxnAction::RetryCoordinator)
            }
            _ => {}
        }
    }

    // ---- the state machine ----

    /// Sends whatever the transaction state needs (called by `drive`).
    pub(crate) fn service_transactions(&mut self, now: Instant) {
        let Some(txn) = self.txn.as_ref() else {
            return;
        };
        if self.closed {
            return;
        }
        match txn.state {
            TxnState::InTransaction => {
                self.txn_register_partitions(now);
                self.txn_service_offsets(now);
            }
            TxnState::BeginCommit => {
                self.txn_register_partitions(now);
                self.txn_service_commit(now);
            }
            TxnState::CommittingTransaction => self.txn_send_end(now, true),
            TxnState::AbortableError => {
                let commit_waits = txn.running == Some(TxnOp::Commit);
                self.txn_service_offsets(now);
                if commit_waits && self.txn_settled() {
                    if let Some(t) = self.txn.as_mut() {
                        let err = t.state_error();
                        t.finish(TxnOp::Commit, Err(err));
                    }
                }
            }
            TxnState::BeginAbort => self.txn_service_abort(now),
            TxnState::AbortingTransaction if !txn.bumping => self.txn_send_end(now, false),
            _ => {}
        }
    }

    /// BeginCommit: once every record has its outcome, fail abortably or send EndTxn.
    fn txn_service_commit(&mut self, now: Instant) {
        if !self.txn_settled() {
            return;
        }
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.dr_fails > 0 {
            let reason = format!(
                "{} message(s) failed delivery (see individual delivery reports)",
                txn.dr_fails
            );
            self.txn_abortable(now, ErrorCode::Inconsistent, &reason, false);
            if let Some(t) = self.txn.as_mut() {
                let err = t.state_error();
                t.finish(TxnOp::Commit, Err(err));
            }
            return;
        }
        if !txn.pending.is_empty() || txn.add_in_flight {
            return;
        }
        if !txn.any_added {
            // Nothing reached the coordinator: no EndTxn (librdkafka and Java skip it).
            self.txn_complete(true);
            return;
        }
        txn.state = TxnState::CommittingTransaction;
        self.txn_send_end(now, true);
    }

    /// BeginAbort: once nothing is in flight, EndTxn(abort) or the epoch bump.
    fn txn_service_abort(&mut self, now: Instant) {
        if !self.txn_settled() {
            return;
        }
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.add_in_flight {
            return;
        }
        txn.state = TxnState::AbortingTransaction;
        if txn.any_added {
            self.txn_send_end(now, false);
        } else if txn.requires_bump {
            self.txn_start_bump(now);
        } else {
            self.txn_complete(false);
        }
    }

    /// The transaction ended on the broker (or needed no EndTxn).
    fn txn_complete(&mut self, commit: bool) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let touched = core::mem::take(&mut txn.touched);
        txn.pending.clear();
        txn.any_added = false;
        txn.confirmed = false;
        txn.requires_bump = false;
        txn.bumping = false;
        txn.offsets = None;
        txn.end_in_flight = false;
        txn.end_retry_at = None;
        txn.end_attempts = 0;
        txn.add_in_flight = false;
        txn.add_retry_at = None;
        txn.generation += 1;
        let op = if commit { TxnOp::Commit } else { TxnOp::Abort };
        txn.state = if commit {
            TxnState::CommitNotAcked
        } else {
            TxnState::AbortedNotAcked
        };
        txn.finish(op, Ok(()));
        for key in touched {
            if let Some(p) = self
                .topics
                .get_mut(key.topic.0 as usize)
                .and_then(|t| t.partitions.get_mut(key.partition as usize))
            {
                p.txn = TxnPart::No;
            }
        }
    }

    /// KIP-360 for transactions: InitProducerId with the current id and epoch, sent by
    /// `service_txn_pid`; the abort completes when it is answered.
    fn txn_start_bump(&mut self, now: Instant) {
        if let Some(t) = self.txn.as_mut() {
            t.bumping = true;
            t.state = TxnState::AbortingTransaction;
        }
        if let Some(i) = self.idem.as_mut() {
            if !matches!(i.phase, IdemPhase::Fatal(_)) {
                i.phase = IdemPhase::NeedPid;
                i.bumps = i.bumps.saturating_add(1);
            }
        }
        self.service_txn_pid(now);
    }

    /// InitProducerId for the transactional producer, to the transaction coordinator:
    /// during `init_transactions`, and for an abort's epoch bump.
    pub(crate) fn service_txn_pid(&mut self, now: Instant) {
        let Some(txn) = self.txn.as_ref() else {
            return;
        };
        if !(txn.state == TxnState::WaitPid || txn.bumping) || self.closed {
            return;
        }
        let id = txn.id.clone();
        let Some(idem) = self.idem.as_ref() else {
            return;
        };
        if idem.phase != IdemPhase::NeedPid || idem.retry_at.is_some_and(|t| t > now) {
            return;
        }
        let Some(b) = self.txn_coordinator(now, CoordKind::Txn) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(version) = c.init_pid_version else {
            self.txn_fatal(
                now,
                ErrorCode::UnsupportedFeature,
                "the transaction coordinator does not support InitProducerId",
            );
            return;
        };
        let (pid, epoch) = match self.idem.as_ref() {
            Some(i) if i.pid >= 0 => (i.pid, i.epoch),
            _ => (-1, -1),
        };
        if pid >= 0 && version < 3 {
            self.txn_fatal(
                now,
                ErrorCode::UnsupportedFeature,
                "an epoch bump needs InitProducerId v3 (KIP-360, Apache Kafka 2.5+)",
            );
            return;
        }
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let corr = c.next_corr();
        let timeout_ms =
            i32::try_from(self.cfg.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        match request::init_producer_id(
            version,
            corr,
            &self.cfg.client_id,
            Some(&id),
            pid,
            epoch,
            timeout_ms,
        ) {
            Ok(bytes) => {
                if let Some(i) = self.idem.as_mut() {
                    i.phase = IdemPhase::Requesting { broker: b, corr };
                }
                self.enqueue_request(now, b, corr, ReqKind::InitProducerId { version }, bytes);
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("InitProducerId: {e}")),
        }
    }

    /// The transactional InitProducerId failed with `code`.
    pub(crate) fn txn_init_pid_failed(&mut self, now: Instant, code: ErrorCode) {
        let action = classify_txn_error(TxnApi::InitProducerId, code);
        match action {
            TxnAction::Fatal => {
                let norm = normalize_txn_error(code);
                let reason = if norm == ErrorCode::Fenced {
                    format!(
                        "Producer fenced by newer instance: Failed to acquire transactional PID: {code}"
                    )
                } else {
                    format!("Failed to acquire transactional PID: {code}")
                };
                self.txn_fatal(now, norm, &reason);
            }
            _ => {
                if action == TxnAction::RetryCoordinator {
                    if let Some(t) = self.txn.as_mut() {
                        t.coord.reset();
                    }
                }
                let attempts = self.idem.as_ref().map_or(0, |i| i.attempts);
                let delay = self.txn_retry_delay(action, attempts);
                self.idem_retry_after(now, delay);
            }
        }
    }

    /// A producer id was assigned to the transactional producer.
    pub(crate) fn txn_pid_assigned(&mut self, _now: Instant) {
        let coord_tv2 = self
            .txn
            .as_ref()
            .and_then(|t| t.coord.broker)
            .and_then(|b| self.brokers[b].ready_conn().map(|c| c.txn_apis.tv2()));
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if let Some(tv2) = coord_tv2 {
            txn.cluster_tv2 = tv2;
        }
        if txn.state == TxnState::WaitPid {
            txn.state = TxnState::ReadyNotAcked;
            txn.finish(TxnOp::Init, Ok(()));
        } else if txn.bumping {
            self.txn_complete(false);
        }
    }

    // ---- AddPartitionsToTxn (TV1) ----

    fn txn_register_partitions(&mut self, now: Instant) {
        let Some(txn) = self.txn.as_ref() else {
            return;
        };
        if txn.tv2
            || txn.pending.is_empty()
            || txn.add_in_flight
            || txn.add_retry_at.is_some_and(|t| t > now)
        {
            return;
        }
        let Some((id, pid, epoch)) = self.txn_ident() else {
            return;
        };
        let Some(b) = self.txn_coordinator(now, CoordKind::Txn) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(version) = c.txn_apis.add_partitions else {
            self.txn_fatal(
                now,
                ErrorCode::UnsupportedFeature,
                "the transaction coordinator does not support AddPartitionsToTxn",
            );
            return;
        };
        let corr = c.next_corr();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let mut parts = core::mem::take(&mut txn.pending);
        parts.sort();
        let generation = txn.generation;
        let mut topics: Vec<(StrBytes, Vec<i32>)> = Vec::new();
        for &key in &parts {
            let name = &self.topics[key.topic.0 as usize].name;
            match topics.last_mut() {
                Some((n, ps)) if n == name => ps.push(key.partition as i32),
                _ => topics.push((name.clone(), vec![key.partition as i32])),
            }
        }
        let ident = TxnIdent {
            transactional_id: &id,
            producer_id: pid,
            producer_epoch: epoch,
        };
        match request::add_partitions_to_txn(version, corr, &self.cfg.client_id, ident, topics) {
            Ok(bytes) => {
                for &key in &parts {
                    self.part_mut(key).txn = TxnPart::Adding;
                }
                if let Some(t) = self.txn.as_mut() {
                    t.add_in_flight = true;
                }
                self.enqueue_request(
                    now,
                    b,
                    corr,
                    ReqKind::AddPartitionsToTxn {
                        version,
                        generation,
                        parts,
                    },
                    bytes,
                );
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("AddPartitionsToTxn: {e}")),
        }
    }

    /// Partitions of an AddPartitionsToTxn that did not get added go back to pending.
    fn txn_add_partitions_failed(
        &mut self,
        now: Instant,
        generation: u64,
        parts: Vec<PartKey>,
        action: TxnAction,
        maybe_applied: bool,
    ) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.generation != generation {
            return;
        }
        txn.add_in_flight = false;
        if maybe_applied {
            txn.any_added = true;
        }
        if !txn.state.may_produce() {
            // Aborting: nothing more is added; the answer only mattered for EndTxn.
            return;
        }
        let attempts = txn.add_attempts;
        txn.add_attempts = attempts.saturating_add(1);
        for key in parts {
            let part = self.part_mut(key);
            if part.txn == TxnPart::Adding {
                part.txn = TxnPart::Pending;
                if let Some(t) = self.txn.as_mut() {
                    t.pending.push(key);
                }
            }
        }
        if action == TxnAction::RetryCoordinator {
            if let Some(t) = self.txn.as_mut() {
                t.coord.reset();
            }
        }
        let delay = self.txn_retry_delay(action, attempts);
        if let Some(t) = self.txn.as_mut() {
            t.add_retry_at = Some(now + delay);
        }
        self.txn_arm(now + delay);
    }

    /// Handles the response; `false` when it doesn't decode (the caller closes the
    /// connection; the request is already scheduled for a retry).
    pub(crate) fn on_add_partitions(
        &mut self,
        now: Instant,
        frame: Bytes,
        version: i16,
        generation: u64,
        parts: Vec<PartKey>,
    ) -> bool {
        let Some(txn) = self.txn.as_mut() else {
            return true;
        };
        if txn.generation != generation || !txn.add_in_flight {
            return true;
        }
        if !txn.state.may_produce() {
            // The transaction is being aborted (or failed): only learn whether the
            // coordinator holds it.
            txn.add_in_flight = false;
            let ok = decode_response::<AddPartitionsToTxnResponse>(frame, version).map(|(_, r)| {
                r.results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| t.results_by_partition.iter())
                    .any(|p| p.partition_error_code == 0)
            });
            match ok {
                Ok(true) => {
                    txn.any_added = true;
                    txn.confirmed = true;
                }
                Ok(false) => {}
                Err(_) => {
                    txn.any_added = true;
                    return false;
                }
            }
            return true;
        }
        let Ok((_, resp)) = decode_response::<AddPartitionsToTxnResponse>(frame, version) else {
            self.txn_add_partitions_failed(now, generation, parts, TxnAction::Retry, true);
            return false;
        };
        let mut worst: Option<(TxnAction, ErrorCode)> = None;
        let mut added = Vec::new();
        for t in &resp.results_by_topic_v3_and_below {
            let Some(&tid) = self.topic_ids.get(&*t.name.0) else {
                continue;
            };
            for p in &t.results_by_partition {
                let Ok(partition) = u32::try_from(p.partition_index) else {
                    continue;
                };
                let key = PartKey {
                    topic: tid,
                    partition,
                };
                if !parts.contains(&key) {
                    continue;
                }
                let code = ErrorCode::from_broker(p.partition_error_code);
                if code == ErrorCode::NoError {
                    added.push(key);
                    continue;
                }
                let action = classify_txn_error(TxnApi::AddPartitionsToTxn, code);
                // OPERATION_NOT_ATTEMPTED only echoes another partition's error.
                let rank = if code == ErrorCode::OperationNotAttempted {
                    TxnAction::Retry
                } else {
                    action
                };
                if worst.is_none_or(|(w, _)| rank > w) {
                    worst = Some((action, code));
                }
            }
        }
        for &key in &added {
            let part = self.part_mut(key);
            if part.txn == TxnPart::Adding {
                part.txn = TxnPart::Added;
                if !part.q.is_empty() {
                    self.mark_ready(key);
                }
            }
        }
        if let Some(t) = self.txn.as_mut() {
            if !added.is_empty() {
                t.any_added = true;
                t.confirmed = true;
            }
        }
        let rest: Vec<PartKey> = parts.into_iter().filter(|k| !added.contains(k)).collect();
        let Some((action, code)) = worst else {
            if let Some(t) = self.txn.as_mut() {
                t.add_in_flight = false;
                t.add_attempts = 0;
            }
            if !rest.is_empty() {
                // Not answered for: ask again.
                self.txn_add_partitions_failed(now, generation, rest, TxnAction::Retry, true);
            }
            return true;
        };
        let reason = format!("Failed to add partition(s) to transaction: {code}");
        match action {
            TxnAction::Fatal => {
                self.txn_add_partitions_failed(now, generation, rest, TxnAction::Retry, false);
                self.txn_fatal(now, normalize_txn_error(code), &reason);
            }
            TxnAction::Abortable | TxnAction::AbortableBump => {
                self.txn_add_partitions_failed(now, generation, rest, TxnAction::Retry, false);
                self.txn_abortable(now, code, &reason, action == TxnAction::AbortableBump);
            }
            retry => self.txn_add_partitions_failed(now, generation, rest, retry, false),
        }
        true
    }

    // ---- send_offsets_to_transaction ----

    fn txn_service_offsets(&mut self, now: Instant) {
        let Some(op) = self.txn.as_ref().and_then(|t| t.offsets.as_ref()) else {
            return;
        };
        if op.retry_at.is_some_and(|t| t > now) {
            return;
        }
        match op.phase {
            OffsetsPhase::AddOffsets => self.txn_send_add_offsets(now),
            OffsetsPhase::Commit => self.txn_send_offset_commit(now),
            OffsetsPhase::AddOffsetsInFlight | OffsetsPhase::CommitInFlight => {}
        }
    }

    fn txn_send_add_offsets(&mut self, now: Instant) {
        let Some((id, pid, epoch)) = self.txn_ident() else {
            return;
        };
        let Some(b) = self.txn_coordinator(now, CoordKind::Txn) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(version) = c.txn_apis.add_offsets else {
            self.txn_offsets_failed(
                now,
                TxnError::new(
                    ErrorCode::UnsupportedFeature,
                    "the transaction coordinator does not support AddOffsetsToTxn",
                ),
            );
            return;
        };
        let corr = c.next_corr();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let generation = txn.generation;
        let Some(op) = txn.offsets.as_mut() else {
            return;
        };
        let ident = TxnIdent {
            transactional_id: &id,
            producer_id: pid,
            producer_epoch: epoch,
        };
        match request::add_offsets_to_txn(version, corr, &self.cfg.client_id, ident, &op.group_id) {
            Ok(bytes) => {
                op.phase = OffsetsPhase::AddOffsetsInFlight;
                self.enqueue_request(
                    now,
                    b,
                    corr,
                    ReqKind::AddOffsetsToTxn {
                        version,
                        generation,
                    },
                    bytes,
                );
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("AddOffsetsToTxn: {e}")),
        }
    }

    fn txn_send_offset_commit(&mut self, now: Instant) {
        let Some((id, pid, epoch)) = self.txn_ident() else {
            return;
        };
        let Some(b) = self.txn_coordinator(now, CoordKind::Group) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(negotiated) = c.txn_apis.txn_offset_commit else {
            self.txn_offsets_failed(
                now,
                TxnError::new(
                    ErrorCode::UnsupportedFeature,
                    "the group coordinator does not support TxnOffsetCommit",
                ),
            );
            return;
        };
        let corr = c.next_corr();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        // v5 means the group is added implicitly (TV2); a TV1 transaction stays below it.
        let version = if txn.tv2 {
            negotiated
        } else {
            negotiated.min(4)
        };
        let generation = txn.generation;
        let tv2 = txn.tv2;
        let Some(op) = txn.offsets.as_mut() else {
            return;
        };
        let ident = TxnIdent {
            transactional_id: &id,
            producer_id: pid,
            producer_epoch: epoch,
        };
        let group = OffsetGroup {
            group_id: &op.group_id,
            generation_id: op.generation_id,
            member_id: &op.member_id,
            group_instance_id: op.group_instance_id.as_ref(),
        };
        match request::txn_offset_commit(
            version,
            corr,
            &self.cfg.client_id,
            ident,
            group,
            &op.topics,
        ) {
            Ok(bytes) => {
                op.phase = OffsetsPhase::CommitInFlight;
                if tv2 {
                    txn.any_added = true;
                }
                self.enqueue_request(
                    now,
                    b,
                    corr,
                    ReqKind::TxnOffsetCommit {
                        version,
                        generation,
                    },
                    bytes,
                );
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("TxnOffsetCommit: {e}")),
        }
    }

    /// The running send_offsets operation ends with `err`.
    fn txn_offsets_failed(&mut self, _now: Instant, err: TxnError) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.offsets.take().is_some() {
            txn.finish(TxnOp::SendOffsets, Err(err));
        }
    }

    /// A send_offsets request failed retriably (or was lost): retry it after a backoff,
    /// unless the operation ran out of time.
    fn txn_offsets_retry(
        &mut self,
        now: Instant,
        generation: u64,
        in_flight: OffsetsPhase,
        reset_coord: bool,
    ) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        let current = txn.generation == generation
            && txn.offsets.as_ref().is_some_and(|o| o.phase == in_flight);
        if !current {
            return;
        }
        let adding = in_flight == OffsetsPhase::AddOffsetsInFlight;
        if adding {
            // The coordinator may have added the group.
            txn.any_added = true;
        }
        if reset_coord {
            if adding {
                txn.coord.reset();
            } else {
                txn.group_coord.reset();
            }
        }
        let Some(op) = txn.offsets.as_mut() else {
            return;
        };
        if now >= op.deadline {
            // librdkafka: a timed-out AddOffsetsToTxn is retriable for the caller, a timed-out
            // TxnOffsetCommit fails the transaction.
            if adding {
                let err = TxnError::retriable(
                    ErrorCode::OperationTimedOut,
                    "Failed to add offsets to transaction: timed out",
                );
                self.txn_offsets_failed(now, err);
            } else {
                let reason = "Failed to commit offsets to transaction: timed out";
                self.txn_offsets_failed(
                    now,
                    TxnError::abortable(ErrorCode::OperationTimedOut, reason),
                );
                self.txn_abortable(now, ErrorCode::OperationTimedOut, reason, false);
            }
            return;
        }
        op.phase = if adding {
            OffsetsPhase::AddOffsets
        } else {
            OffsetsPhase::Commit
        };
        let attempts = op.attempts;
        op.attempts = attempts.saturating_add(1);
        let delay = self.txn_retry_delay(TxnAction::Retry, attempts);
        if let Some(op) = self.txn.as_mut().and_then(|t| t.offsets.as_mut()) {
            op.retry_at = Some(now + delay);
        }
        self.txn_arm(now + delay);
    }

    fn txn_offsets_error(&mut self, now: Instant, generation: u64, api: TxnApi, code: ErrorCode) {
        let in_flight = if api == TxnApi::AddOffsetsToTxn {
            OffsetsPhase::AddOffsetsInFlight
        } else {
            OffsetsPhase::CommitInFlight
        };
        let what = if api == TxnApi::AddOffsetsToTxn {
            "add offsets to"
        } else {
            "commit offsets to"
        };
        let reason = format!("Failed to {what} transaction: {code}");
        match classify_txn_error(api, code) {
            TxnAction::Fatal => self.txn_fatal(now, normalize_txn_error(code), &reason),
            TxnAction::Abortable | TxnAction::AbortableBump => {
                self.txn_offsets_failed(now, TxnError::abortable(code, &reason));
                self.txn_abortable(now, code, &reason, false);
            }
            TxnAction::RetrySoon => {
                self.txn_offsets_retry(now, generation, in_flight, false);
                if let Some(op) = self.txn.as_mut().and_then(|t| t.offsets.as_mut()) {
                    op.retry_at = Some(now + CONCURRENT_TXN_BACKOFF);
                }
                self.txn_arm(now + CONCURRENT_TXN_BACKOFF);
            }
            TxnAction::RetryCoordinator => self.txn_offsets_retry(now, generation, in_flight, true),
            TxnAction::Retry => self.txn_offsets_retry(now, generation, in_flight, false),
        }
    }

    /// Handles the response; `false` when it doesn't decode (the caller closes the
    /// connection; the request is already scheduled for a retry).
    pub(crate) fn on_add_offsets(
        &mut self,
        now: Instant,
        frame: Bytes,
        version: i16,
        generation: u64,
    ) -> bool {
        let current = self.txn.as_ref().is_some_and(|t| {
            t.generation == generation
                && t.offsets
                    .as_ref()
                    .is_some_and(|o| o.phase == OffsetsPhase::AddOffsetsInFlight)
        });
        if !current {
            return true;
        }
        let (code, decoded) = match decode_response::<AddOffsetsToTxnResponse>(frame, version) {
            Ok((_, r)) => (ErrorCode::from_broker(r.error_code), true),
            Err(_) => (ErrorCode::BadMessage, false),
        };
        if code != ErrorCode::NoError {
            self.txn_offsets_error(now, generation, TxnApi::AddOffsetsToTxn, code);
            return decoded;
        }
        if let Some(t) = self.txn.as_mut() {
            t.any_added = true;
            t.confirmed = true;
            if let Some(op) = t.offsets.as_mut() {
                op.phase = OffsetsPhase::Commit;
                op.attempts = 0;
                op.retry_at = None;
            }
        }
        true
    }

    /// Handles the response; `false` when it doesn't decode (the caller closes the
    /// connection; the request is already scheduled for a retry).
    pub(crate) fn on_txn_offset_commit(
        &mut self,
        now: Instant,
        frame: Bytes,
        version: i16,
        generation: u64,
    ) -> bool {
        let current = self.txn.as_ref().is_some_and(|t| {
            t.generation == generation
                && t.offsets
                    .as_ref()
                    .is_some_and(|o| o.phase == OffsetsPhase::CommitInFlight)
        });
        if !current {
            return true;
        }
        let (code, decoded) = match decode_response::<TxnOffsetCommitResponse>(frame, version) {
            Ok((_, r)) => (
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| ErrorCode::from_broker(p.error_code))
                    .find(|&c| c != ErrorCode::NoError)
                    .unwrap_or(ErrorCode::NoError),
                true,
            ),
            Err(_) => (ErrorCode::BadMessage, false),
        };
        if code != ErrorCode::NoError {
            self.txn_offsets_error(now, generation, TxnApi::TxnOffsetCommit, code);
            return decoded;
        }
        if let Some(t) = self.txn.as_mut() {
            if version >= 5 {
                // TV2: the group was added implicitly.
                t.confirmed = true;
            }
            t.offsets = None;
            t.finish(TxnOp::SendOffsets, Ok(()));
        }
        true
    }

    // ---- EndTxn ----

    fn txn_send_end(&mut self, now: Instant, commit: bool) {
        let Some(txn) = self.txn.as_ref() else {
            return;
        };
        if txn.end_in_flight || txn.end_retry_at.is_some_and(|t| t > now) {
            return;
        }
        let Some((id, pid, epoch)) = self.txn_ident() else {
            return;
        };
        let Some(b) = self.txn_coordinator(now, CoordKind::Txn) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(negotiated) = c.txn_apis.end_txn else {
            self.txn_fatal(
                now,
                ErrorCode::UnsupportedFeature,
                "the transaction coordinator does not support EndTxn",
            );
            return;
        };
        let corr = c.next_corr();
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        // EndTxn v5 is the TV2 form (the response carries the bumped epoch); a TV1
        // transaction ends with v4 at most.
        let version = if txn.tv2 {
            negotiated
        } else {
            negotiated.min(4)
        };
        let generation = txn.generation;
        let ident = TxnIdent {
            transactional_id: &id,
            producer_id: pid,
            producer_epoch: epoch,
        };
        match request::end_txn(version, corr, &self.cfg.client_id, ident, commit) {
            Ok(bytes) => {
                txn.end_in_flight = true;
                self.enqueue_request(
                    now,
                    b,
                    corr,
                    ReqKind::EndTxn {
                        version,
                        generation,
                        commit,
                    },
                    bytes,
                );
            }
            Err(e) => self.txn_fatal(now, ErrorCode::Fail, &format!("EndTxn: {e}")),
        }
    }

    fn txn_end_retry(&mut self, now: Instant, generation: u64, action: TxnAction) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.generation != generation || !txn.end_in_flight {
            return;
        }
        txn.end_in_flight = false;
        if action == TxnAction::RetryCoordinator {
            txn.coord.reset();
        }
        let attempts = txn.end_attempts;
        txn.end_attempts = attempts.saturating_add(1);
        let delay = self.txn_retry_delay(action, attempts);
        if let Some(t) = self.txn.as_mut() {
            t.end_retry_at = Some(now + delay);
        }
        self.txn_arm(now + delay);
    }

    /// Handles the response; `false` when it doesn't decode (the caller closes the
    /// connection; the request is already scheduled for a retry).
    pub(crate) fn on_end_txn(
        &mut self,
        now: Instant,
        frame: Bytes,
        version: i16,
        generation: u64,
        commit: bool,
    ) -> bool {
        let expected = if commit {
            TxnState::CommittingTransaction
        } else {
            TxnState::AbortingTransaction
        };
        let current = self
            .txn
            .as_ref()
            .is_some_and(|t| t.generation == generation && t.end_in_flight && t.state == expected);
        if !current {
            return true;
        }
        let Ok((_, resp)) = decode_response::<EndTxnResponse>(frame, version) else {
            self.txn_end_retry(now, generation, TxnAction::RetryCoordinator);
            return false;
        };
        let mut code = ErrorCode::from_broker(resp.error_code);
        let unconfirmed = self.txn.as_ref().is_some_and(|t| !t.confirmed);
        if !commit && code == ErrorCode::InvalidTransactionalState && unconfirmed {
            // Only requests in doubt (lost, unanswered) suggested the coordinator held this
            // transaction, and it holds none: there is nothing to abort. (Java re-sends the
            // pending AddPartitionsToTxn first; the outcome is the same.)
            code = ErrorCode::NoError;
        }
        if code == ErrorCode::NoError {
            if let Some(t) = self.txn.as_mut() {
                t.end_in_flight = false;
                t.end_attempts = 0;
            }
            if version >= 5 && resp.producer_id.0 >= 0 && resp.producer_epoch >= 0 {
                self.txn_apply_epoch(resp.producer_id.0, resp.producer_epoch);
            }
            let bump = self.txn.as_ref().is_some_and(|t| t.requires_bump);
            if !commit && bump {
                self.txn_start_bump(now);
            } else {
                self.txn_complete(commit);
            }
            return true;
        }
        let what = if commit { "commit" } else { "abort" };
        let reason = format!("EndTxn {what} failed: {code}");
        match classify_txn_error(TxnApi::EndTxn, code) {
            TxnAction::Fatal => {
                let norm = normalize_txn_error(code);
                self.txn_fatal(now, norm, &format!("Failed to end transaction: {code}"));
            }
            action @ (TxnAction::Abortable | TxnAction::AbortableBump) => {
                let bump = action == TxnAction::AbortableBump;
                if let Some(t) = self.txn.as_mut() {
                    t.end_in_flight = false;
                }
                if !commit && bump {
                    // KIP-360: the abort re-initialises the producer id, then completes.
                    if let Some(t) = self.txn.as_mut() {
                        t.requires_bump = true;
                    }
                    self.txn_start_bump(now);
                } else if commit {
                    self.txn_abortable(now, code, &reason, bump);
                    if let Some(t) = self.txn.as_mut() {
                        let err = t.state_error();
                        t.finish(TxnOp::Commit, Err(err));
                    }
                } else if let Some(t) = self.txn.as_mut() {
                    // The abort may be retried from the start.
                    t.state = TxnState::BeginAbort;
                    t.finish(TxnOp::Abort, Err(TxnError::abortable(code, reason)));
                }
            }
            retry => self.txn_end_retry(now, generation, retry),
        }
        true
    }

    /// KIP-890: EndTxn v5 returned the producer id and epoch for the next transaction;
    /// sequences restart at 0.
    fn txn_apply_epoch(&mut self, pid: i64, epoch: i16) {
        if let Some(i) = self.idem.as_mut() {
            if (i.pid, i.epoch) == (pid, epoch) {
                return;
            }
            i.pid = pid;
            i.epoch = epoch;
        }
        self.reset_sequences();
    }

    /// Every partition's producer sequence restarts at 0 (a new producer id or epoch).
    pub(crate) fn reset_sequences(&mut self) {
        for t in &mut self.topics {
            for p in &mut t.partitions {
                p.q.producer_seq = 0;
                p.q.idem_acked = false;
            }
        }
    }

    /// librdkafka's `txn_state` and `txn_may_enq` for the statistics.
    pub(crate) fn txn_stats(&self) -> (&'static str, bool) {
        match &self.txn {
            Some(t) => (t.state.name(), t.state == TxnState::InTransaction),
            None => (TxnState::Init.name(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::{
        AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
        InitProducerIdRequest, ProduceRequest, RequestHeader, TxnOffsetCommitRequest,
    };
    use kafka_protocol::protocol::{Decodable, decode_request_header_from_buffer};

    use super::*;
    use crate::error::ErrorCode as E;

    /// Kafka's TRANSACTION_ABORTABLE, absent from librdkafka's enum.
    const TRANSACTION_ABORTABLE: i16 = 120;

    #[test]
    fn classification_tables_follow_librdkafka() {
        use TxnAction::*;
        use TxnApi::*;
        let rows: &[(TxnApi, ErrorCode, TxnAction)] = &[
            (FindCoordinator, E::CoordinatorNotAvailable, Retry),
            (FindCoordinator, E::BrokerTransportFailure, Retry),
            (
                FindCoordinator,
                E::TransactionalIdAuthorizationFailed,
                Fatal,
            ),
            (FindCoordinator, E::ClusterAuthorizationFailed, Fatal),
            (FindCoordinator, E::GroupAuthorizationFailed, Abortable),
            (InitProducerId, E::NotCoordinator, RetryCoordinator),
            (InitProducerId, E::CoordinatorNotAvailable, RetryCoordinator),
            (InitProducerId, E::CoordinatorLoadInProgress, Retry),
            (InitProducerId, E::ConcurrentTransactions, RetrySoon),
            (InitProducerId, E::ProducerFenced, Fatal),
            (InitProducerId, E::InvalidProducerEpoch, Fatal),
            (InitProducerId, E::InvalidTransactionTimeout, Fatal),
            (InitProducerId, E::TransactionalIdAuthorizationFailed, Fatal),
            (InitProducerId, E::ClusterAuthorizationFailed, Fatal),
            (InitProducerId, E::UnsupportedVersion, Fatal),
            (InitProducerId, E::Unknown, Retry),
            (AddPartitionsToTxn, E::NotCoordinator, RetryCoordinator),
            (
                AddPartitionsToTxn,
                E::CoordinatorNotAvailable,
                RetryCoordinator,
            ),
            (AddPartitionsToTxn, E::ConcurrentTransactions, RetrySoon),
            (AddPartitionsToTxn, E::CoordinatorLoadInProgress, Retry),
            (AddPartitionsToTxn, E::UnknownTopicOrPartition, Retry),
            (AddPartitionsToTxn, E::BrokerTransportFailure, Retry),
            (AddPartitionsToTxn, E::OperationTimedOut, Retry),
            (AddPartitionsToTxn, E::InvalidProducerEpoch, Fatal),
            (AddPartitionsToTxn, E::ProducerFenced, Fatal),
            (
                AddPartitionsToTxn,
                E::TransactionalIdAuthorizationFailed,
                Fatal,
            ),
            (AddPartitionsToTxn, E::InvalidTransactionalState, Fatal),
            (AddPartitionsToTxn, E::ClusterAuthorizationFailed, Fatal),
            (AddPartitionsToTxn, E::UnknownProducerId, AbortableBump),
            (
                AddPartitionsToTxn,
                E::InvalidProducerIdMapping,
                AbortableBump,
            ),
            (AddPartitionsToTxn, E::TopicAuthorizationFailed, Abortable),
            (AddPartitionsToTxn, E::OperationNotAttempted, Abortable),
            (AddPartitionsToTxn, E::Unknown, Abortable),
            (AddOffsetsToTxn, E::BrokerTransportFailure, RetryCoordinator),
            (AddOffsetsToTxn, E::NotCoordinator, RetryCoordinator),
            (
                AddOffsetsToTxn,
                E::CoordinatorNotAvailable,
                RetryCoordinator,
            ),
            (AddOffsetsToTxn, E::RequestTimedOut, RetryCoordinator),
            (AddOffsetsToTxn, E::ConcurrentTransactions, RetrySoon),
            (AddOffsetsToTxn, E::CoordinatorLoadInProgress, Retry),
            (AddOffsetsToTxn, E::UnknownTopicOrPartition, Retry),
            (
                AddOffsetsToTxn,
                E::TransactionalIdAuthorizationFailed,
                Fatal,
            ),
            (AddOffsetsToTxn, E::ClusterAuthorizationFailed, Fatal),
            (AddOffsetsToTxn, E::InvalidProducerEpoch, Fatal),
            (AddOffsetsToTxn, E::ProducerFenced, Fatal),
            (AddOffsetsToTxn, E::InvalidTransactionalState, Fatal),
            (AddOffsetsToTxn, E::UnsupportedForMessageFormat, Fatal),
            (AddOffsetsToTxn, E::TopicAuthorizationFailed, Abortable),
            (AddOffsetsToTxn, E::GroupAuthorizationFailed, Abortable),
            (AddOffsetsToTxn, E::Unknown, Abortable),
            (TxnOffsetCommit, E::NotCoordinator, RetryCoordinator),
            (
                TxnOffsetCommit,
                E::CoordinatorNotAvailable,
                RetryCoordinator,
            ),
            (TxnOffsetCommit, E::RequestTimedOut, RetryCoordinator),
            (TxnOffsetCommit, E::BrokerTransportFailure, RetryCoordinator),
            (TxnOffsetCommit, E::ConcurrentTransactions, RetrySoon),
            (TxnOffsetCommit, E::CoordinatorLoadInProgress, Retry),
            (TxnOffsetCommit, E::UnknownTopicOrPartition, Retry),
            (
                TxnOffsetCommit,
                E::TransactionalIdAuthorizationFailed,
                Fatal,
            ),
            (TxnOffsetCommit, E::ClusterAuthorizationFailed, Fatal),
            (TxnOffsetCommit, E::InvalidProducerIdMapping, Fatal),
            (TxnOffsetCommit, E::InvalidProducerEpoch, Fatal),
            (TxnOffsetCommit, E::ProducerFenced, Fatal),
            (TxnOffsetCommit, E::InvalidTransactionalState, Fatal),
            (TxnOffsetCommit, E::UnsupportedForMessageFormat, Fatal),
            (TxnOffsetCommit, E::TopicAuthorizationFailed, Abortable),
            (TxnOffsetCommit, E::GroupAuthorizationFailed, Abortable),
            (TxnOffsetCommit, E::IllegalGeneration, Abortable),
            (TxnOffsetCommit, E::UnknownMemberId, Abortable),
            (TxnOffsetCommit, E::FencedInstanceId, Abortable),
            (TxnOffsetCommit, E::Unknown, Abortable),
            (EndTxn, E::BrokerTransportFailure, RetryCoordinator),
            (EndTxn, E::OperationTimedOut, RetryCoordinator),
            (EndTxn, E::NotCoordinator, RetryCoordinator),
            (EndTxn, E::CoordinatorNotAvailable, RetryCoordinator),
            (EndTxn, E::CoordinatorLoadInProgress, Retry),
            (EndTxn, E::ConcurrentTransactions, RetrySoon),
            (EndTxn, E::UnknownProducerId, AbortableBump),
            (EndTxn, E::InvalidProducerIdMapping, AbortableBump),
            (EndTxn, E::InvalidProducerEpoch, Fatal),
            (EndTxn, E::ProducerFenced, Fatal),
            (EndTxn, E::TransactionalIdAuthorizationFailed, Fatal),
            (EndTxn, E::ClusterAuthorizationFailed, Fatal),
            (EndTxn, E::InvalidTransactionalState, Fatal),
            (EndTxn, E::Unknown, Abortable),
        ];
        for &(api, code, want) in rows {
            assert_eq!(classify_txn_error(api, code), want, "{api:?} {code:?}");
        }
        // TRANSACTION_ABORTABLE reaches the tables as Unknown.
        assert_eq!(ErrorCode::from_broker(TRANSACTION_ABORTABLE), E::Unknown);
        assert_eq!(
            classify_txn_error(EndTxn, ErrorCode::from_broker(TRANSACTION_ABORTABLE)),
            Abortable
        );
    }

    #[test]
    fn fencing_codes_normalize_to_fenced() {
        assert_eq!(normalize_txn_error(E::ProducerFenced), E::Fenced);
        assert_eq!(normalize_txn_error(E::InvalidProducerEpoch), E::Fenced);
        assert_eq!(normalize_txn_error(E::TimedOutQueue), E::OperationTimedOut);
        assert_eq!(
            normalize_txn_error(E::ClusterAuthorizationFailed),
            E::ClusterAuthorizationFailed
        );
    }

    #[test]
    fn state_names_are_librdkafkas() {
        use TxnState::*;
        let names: Vec<_> = [
            Init,
            WaitPid,
            ReadyNotAcked,
            Ready,
            InTransaction,
            BeginCommit,
            CommittingTransaction,
            CommitNotAcked,
            BeginAbort,
            AbortingTransaction,
            AbortedNotAcked,
            AbortableError,
            FatalError,
        ]
        .into_iter()
        .map(TxnState::name)
        .collect();
        assert_eq!(
            names,
            [
                "Init",
                "WaitPID",
                "ReadyNotAcked",
                "Ready",
                "InTransaction",
                "BeginCommit",
                "CommittingTransaction",
                "CommitNotAcked",
                "BeginAbort",
                "AbortingTransaction",
                "AbortedNotAcked",
                "AbortableError",
                "FatalError"
            ]
        );
        assert!(InTransaction.may_produce() && BeginCommit.may_produce());
        assert!(!AbortableError.may_produce() && !BeginAbort.may_produce() && !Ready.may_produce());
    }

    #[test]
    fn tv2_needs_the_feature_and_every_v2_api() {
        let full = TxnApis {
            find_coordinator: Some(6),
            add_partitions: Some(3),
            add_offsets: Some(4),
            end_txn: Some(5),
            txn_offset_commit: Some(5),
            transaction_version: 2,
            produce: Some(12),
        };
        assert!(full.tv2());
        assert!(
            !TxnApis {
                transaction_version: 1,
                ..full
            }
            .tv2()
        );
        assert!(
            !TxnApis {
                produce: Some(11),
                ..full
            }
            .tv2()
        );
        assert!(
            !TxnApis {
                end_txn: Some(4),
                ..full
            }
            .tv2()
        );
        assert!(
            !TxnApis {
                txn_offset_commit: Some(4),
                ..full
            }
            .tv2()
        );
        assert!(!TxnApis::default().tv2());
    }

    #[test]
    fn txn_error_constructors_set_one_class() {
        let e = TxnError::abortable(E::InvalidRecord, "x");
        assert!((e.abortable, e.retriable, e.fatal) == (true, false, false));
        let e = TxnError::fatal(E::Fenced, "y");
        assert!((e.abortable, e.retriable, e.fatal) == (false, false, true));
        let e = TxnError::retriable(E::OperationTimedOut, "z");
        assert!((e.abortable, e.retriable, e.fatal) == (false, true, false));
        assert_eq!(
            TxnError::new(E::State, "w").to_string(),
            "State (Local: Erroneous state): w"
        );
        let g = GroupMetadata::new("g");
        assert_eq!((g.generation_id, g.member_id.as_str()), (-1, ""));
    }

    /// Splits a frame into its header and body at `version`.
    fn parse(frame: Bytes) -> (RequestHeader, Bytes) {
        let mut b = frame;
        let size = b.get_i32() as usize;
        assert_eq!(size, b.len());
        let h = decode_request_header_from_buffer(&mut b).unwrap();
        (h, b)
    }

    fn ident(id: &StrBytes) -> TxnIdent<'_> {
        TxnIdent {
            transactional_id: id,
            producer_id: 7,
            producer_epoch: 3,
        }
    }

    #[test]
    fn transaction_requests_encode_their_fields_at_every_version() {
        let id = StrBytes::from_static_str("tx");
        let group = StrBytes::from_static_str("g");
        for v in 1..=6 {
            let (h, mut b) = parse(request::find_coordinator(v, 9, "c", 1, &id).unwrap());
            assert_eq!(
                (h.request_api_key, h.request_api_version, h.correlation_id),
                (10, v, 9)
            );
            let r = FindCoordinatorRequest::decode(&mut b, v).unwrap();
            assert_eq!(r.key_type, 1);
            if v >= 4 {
                assert_eq!(r.coordinator_keys, vec![id.clone()]);
            } else {
                assert_eq!(r.key, id);
            }
            assert!(!b.has_remaining());
        }
        for v in 0..=5 {
            let (_, mut b) = parse(
                request::init_producer_id(v, 1, "c", Some(&id), 7, 3, 60_000).unwrap_or_else(
                    // v0-2 can't carry an id and epoch: ask without them.
                    |_| request::init_producer_id(v, 1, "c", Some(&id), -1, -1, 60_000).unwrap(),
                ),
            );
            let r = InitProducerIdRequest::decode(&mut b, v).unwrap();
            assert_eq!(r.transactional_id.unwrap().0, id);
            assert_eq!(r.transaction_timeout_ms, 60_000);
            if v >= 3 {
                assert_eq!((r.producer_id.0, r.producer_epoch), (7, 3));
            }
        }
        for v in 0..=3 {
            let topics = vec![
                (StrBytes::from_static_str("a"), vec![0, 2]),
                (StrBytes::from_static_str("b"), vec![1]),
            ];
            let (_, mut b) =
                parse(request::add_partitions_to_txn(v, 1, "c", ident(&id), topics).unwrap());
            let r = AddPartitionsToTxnRequest::decode(&mut b, v).unwrap();
            assert_eq!(r.v3_and_below_transactional_id.0, id);
            assert_eq!(
                (r.v3_and_below_producer_id.0, r.v3_and_below_producer_epoch),
                (7, 3)
            );
            let got: Vec<_> = r
                .v3_and_below_topics
                .iter()
                .map(|t| (t.name.0.to_string(), t.partitions.clone()))
                .collect();
            assert_eq!(got, vec![("a".into(), vec![0, 2]), ("b".into(), vec![1])]);
        }
        for v in 0..=4 {
            let (_, mut b) =
                parse(request::add_offsets_to_txn(v, 1, "c", ident(&id), &group).unwrap());
            let r = AddOffsetsToTxnRequest::decode(&mut b, v).unwrap();
            assert_eq!(
                (r.group_id.0.as_str(), r.producer_id.0, r.producer_epoch),
                ("g", 7, 3)
            );
        }
        for v in 0..=5 {
            for commit in [true, false] {
                let (_, mut b) = parse(request::end_txn(v, 1, "c", ident(&id), commit).unwrap());
                let r = EndTxnRequest::decode(&mut b, v).unwrap();
                assert_eq!(
                    (r.committed, r.producer_id.0, r.producer_epoch),
                    (commit, 7, 3)
                );
            }
        }
        let member = StrBytes::from_static_str("m");
        let instance = StrBytes::from_static_str("i");
        let topics = vec![(
            StrBytes::from_static_str("in"),
            vec![OffsetPart {
                partition: 4,
                offset: 99,
                leader_epoch: 2,
                metadata: Some(StrBytes::from_static_str("meta")),
            }],
        )];
        for v in 0..=5 {
            let g = OffsetGroup {
                group_id: &group,
                generation_id: 5,
                member_id: &member,
                group_instance_id: Some(&instance),
            };
            let (_, mut b) =
                parse(request::txn_offset_commit(v, 1, "c", ident(&id), g, &topics).unwrap());
            let r = TxnOffsetCommitRequest::decode(&mut b, v).unwrap();
            assert_eq!(r.group_id.0.as_str(), "g");
            let p = &r.topics[0].partitions[0];
            assert_eq!((p.partition_index, p.committed_offset), (4, 99));
            assert_eq!(
                p.committed_metadata.as_ref().map(|m| m.as_str()),
                Some("meta")
            );
            if v >= 2 {
                assert_eq!(p.committed_leader_epoch, 2);
            }
            if v >= 3 {
                assert_eq!((r.generation_id, r.member_id.as_str()), (5, "m"));
                assert_eq!(r.group_instance_id.unwrap().as_str(), "i");
            }
        }
        // Produce carries the transactional id.
        let frame = request::produce(11, 1, "c", Some(&id), -1, 1000, &[]).unwrap();
        let (_, mut b) = parse(frame.to_bytes());
        let r = ProduceRequest::decode(&mut b, 11).unwrap();
        assert_eq!(r.transactional_id.unwrap().0, id);
    }
}
