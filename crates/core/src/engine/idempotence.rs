//! The idempotent producer (`enable.idempotence`): producer id, epoch and per-partition
//! sequence numbers (KIP-98), following librdkafka's rules.
//!
//! Invariants:
//! - No ProduceRequest leaves before a producer id is assigned, or while the producer is
//!   draining for an epoch bump.
//! - A batch's base sequence is stamped when it is drained into a request (never at append),
//!   from its partition's `next_seq`, in creation order; a retried batch keeps its sealed
//!   bytes and so its sequence. At most [`MAX_INFLIGHT_PER_PARTITION`] batches of a
//!   partition are in flight (the broker remembers the last 5), and only one until the
//!   partition's first acknowledgement under the current epoch: a broker without producer
//!   state accepts any first sequence, so a second batch could otherwise be written ahead of
//!   a first one that fails.
//! - A stamped batch that leaves without being written (permanent error, timeout, purge)
//!   opens a sequence gap: the producer drains (waits until nothing is in flight), bumps the
//!   epoch with InitProducerId (KIP-360), resets every partition's sequence to 0 and
//!   re-stamps queued batches as they are drained again. Queued batches that may already be
//!   in the log under the old epoch (a sent attempt's outcome is unknown) are failed with
//!   their last error and PossiblyPersisted instead: the broker could not deduplicate them
//!   across epochs (librdkafka resends them and may duplicate, its issue #4953).
//! - DUPLICATE_SEQUENCE_NUMBER is a success (PERSISTED, offset unknown);
//!   OUT_OF_ORDER_SEQUENCE_NUMBER is retried (not counted) when an earlier batch of the
//!   partition is still outstanding or a bump is under way; at the head of the line it bumps
//!   the epoch and retries (fatal with `enable.gapless.guarantee`);
//!   UNKNOWN_PRODUCER_ID bumps the epoch and retries when the batch is the head of the line
//!   and was never retried, else it is fatal; INVALID_PRODUCER_EPOCH fails the batch and
//!   bumps the epoch.
//! - A fatal error fails every queued record with `Fatal` and every later `send`.
//!   It is the one fatal path of the engine: it records the first code and reason for
//!   [`Engine::fatal_error`](super::Engine::fatal_error) and moves a transactional producer to
//!   its fatal state.
//! - A transactional producer (module `transaction`) never bumps on its own: a gap makes the
//!   transaction abortable, and the abort re-initialises the id with the coordinator
//!   (InitProducerId with the current id and epoch); its InitProducerId goes to the
//!   transaction coordinator, only during `init_transactions` and such a re-init.

use bytes::Bytes;
use kafka_protocol::messages::InitProducerIdResponse;
use purekafka_protocol::frame::decode_response;
use purekafka_protocol::kafka_protocol;

use super::backoff::backoff;
use super::broker::ReqKind;
use super::timer::Timer;
use super::{Engine, Event, PartKey, request};
use crate::error::{ErrorCode, PersistenceStatus, default_error_actions};
use crate::time::Instant;

/// The broker keeps the last 5 batches per producer and partition (KIP-98).
pub(crate) const MAX_INFLIGHT_PER_PARTITION: u32 = 5;

/// Where the producer id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdemPhase {
    /// Needs InitProducerId (first time, or after a failed attempt once `retry_at` passed).
    NeedPid,
    /// InitProducerId in flight on `broker` with `corr`.
    Requesting { broker: usize, corr: i32 },
    /// Producing with `pid`/`epoch`.
    Assigned,
    /// Waiting for in-flight batches to settle before bumping the epoch.
    DrainBump,
    /// A fatal idempotence error: nothing more is produced.
    Fatal(ErrorCode),
}

/// Idempotent producer state.
#[derive(Debug)]
pub(crate) struct Idem {
    pub(crate) pid: i64,
    pub(crate) epoch: i16,
    pub(crate) phase: IdemPhase,
    pub(crate) retry_at: Option<Instant>,
    pub(crate) attempts: u32,
    /// Epoch bumps so far (for stats).
    pub(crate) bumps: u64,
}

impl Idem {
    pub(crate) fn new() -> Self {
        Self {
            pid: -1,
            epoch: -1,
            phase: IdemPhase::NeedPid,
            retry_at: None,
            attempts: 0,
            bumps: 0,
        }
    }
}

impl Idem {
    /// librdkafka's `idemp_state` name.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.phase {
            IdemPhase::NeedPid if self.pid < 0 => "Init",
            IdemPhase::NeedPid | IdemPhase::Requesting { .. } => "WaitPID",
            IdemPhase::Assigned => "Assigned",
            IdemPhase::DrainBump => "DrainBump",
            IdemPhase::Fatal(_) => "FatalError",
        }
    }
}

/// Sequence numbers wrap from `i32::MAX` to 0 (Kafka's `DefaultRecordBatch.incrementSequence`).
pub(crate) fn seq_add(seq: i32, by: u32) -> i32 {
    let by = i64::from(by);
    ((i64::from(seq) + by) % (i64::from(i32::MAX) + 1)) as i32
}

impl<O> Engine<O> {
    /// Whether ProduceRequests may be built now.
    pub(crate) fn idem_allows_produce(&self) -> bool {
        self.idem
            .as_ref()
            .is_none_or(|i| i.phase == IdemPhase::Assigned)
    }

    /// Sends InitProducerId when needed and possible.
    pub(crate) fn service_idempotence(&mut self, now: Instant) {
        if self.txn.is_some() {
            // The transactional producer asks its coordinator, and only when told to.
            self.service_txn_pid(now);
            return;
        }
        let Some(idem) = self.idem.as_ref() else {
            return;
        };
        match idem.phase {
            IdemPhase::NeedPid => {}
            IdemPhase::DrainBump => {
                let in_flight = self
                    .topics
                    .iter()
                    .any(|t| t.partitions.iter().any(|p| p.q.in_flight > 0));
                if in_flight {
                    return;
                }
            }
            _ => return,
        }
        if idem.retry_at.is_some_and(|t| t > now) || self.closed {
            return;
        }
        let ready = (0..self.brokers.len())
            .filter(|&b| {
                self.brokers[b]
                    .ready_conn()
                    .is_some_and(|c| c.init_pid_version.is_some())
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
            // Any connection will do; Metadata's connection logic opens one.
            if self.brokers.iter().all(|br| br.ready_conn().is_none()) {
                self.metadata.wanted = true;
                self.service_metadata(now);
            }
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(version) = c.init_pid_version else {
            return;
        };
        let corr = c.next_corr();
        let (pid, epoch) = match (&self.idem, version >= 3) {
            // KIP-360: a v3+ request carrying the current id bumps its epoch.
            (Some(i), true) if i.pid >= 0 => (i.pid, i.epoch),
            _ => (-1, -1),
        };
        let timeout_ms =
            i32::try_from(self.cfg.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        match request::init_producer_id(
            version,
            corr,
            &self.cfg.client_id,
            None,
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
            Err(e) => self.idem_fatal(now, ErrorCode::Fatal, &format!("InitProducerId: {e}")),
        }
    }

    /// The InitProducerId request on `b` was lost with its connection.
    pub(crate) fn idem_request_lost(&mut self, b: usize) {
        if let Some(i) = self.idem.as_mut() {
            if matches!(i.phase, IdemPhase::Requesting { broker, .. } if broker == b) {
                i.phase = IdemPhase::NeedPid;
            }
        }
    }

    pub(crate) fn on_init_producer_id(&mut self, now: Instant, frame: Bytes, version: i16) {
        let resp = match decode_response::<InitProducerIdResponse>(frame, version) {
            Ok((_, r)) => r,
            Err(e) => {
                self.idem_retry_later(now);
                self.events.push_back(Event::Error {
                    code: ErrorCode::BadMessage,
                    reason: format!("InitProducerId response: {e}"),
                });
                return;
            }
        };
        let code = ErrorCode::from_broker(resp.error_code);
        if code != ErrorCode::NoError && self.txn.is_some() {
            self.txn_init_pid_failed(now, code);
            return;
        }
        if code != ErrorCode::NoError {
            let actions = default_error_actions(code);
            if actions.permanent {
                self.idem_fatal(now, code, "InitProducerId failed");
            } else {
                self.idem_retry_later(now);
            }
            return;
        }
        let bumped = self.idem.as_ref().is_some_and(|i| i.pid >= 0);
        if bumped {
            // New epoch: sequences restart at 0 and queued batches are re-stamped at drain.
            // A batch that may already be in the log under the old epoch can't be deduplicated
            // under the new one: it is given up (PossiblyPersisted) rather than resent, so the
            // bump never writes a record twice. (librdkafka resends it and may duplicate,
            // confluentinc/librdkafka#4953.) The phase is not Assigned yet, so failing these
            // doesn't start another bump.
            for t in 0..self.topics.len() {
                for p in 0..self.topics[t].partitions.len() {
                    let key = PartKey {
                        topic: super::TopicId(t as u32),
                        partition: p as u32,
                    };
                    let q = &mut self.part_mut(key).q;
                    q.producer_seq = 0;
                    q.idem_acked = false;
                    let unsure =
                        q.take_queued_where(|b| b.possibly_persisted && b.sealed.is_some());
                    for batch in &mut q.queued {
                        batch.sealed = None;
                    }
                    for batch in unsure {
                        let code = batch.last_error.unwrap_or(ErrorCode::Fail);
                        self.fail_batch(
                            now,
                            key,
                            batch,
                            code,
                            PersistenceStatus::PossiblyPersisted,
                        );
                    }
                }
            }
        }
        let Some(idem) = self.idem.as_mut() else {
            return;
        };
        idem.pid = resp.producer_id.0;
        idem.epoch = resp.producer_epoch;
        idem.phase = IdemPhase::Assigned;
        idem.attempts = 0;
        idem.retry_at = None;
        for b in 0..self.brokers.len() {
            if !self.brokers[b].active.is_empty() {
                self.broker_wants_send(b);
            }
        }
        if self.txn.is_some() {
            self.txn_pid_assigned(now);
        }
    }

    /// Asks for a producer id again after `delay`.
    pub(crate) fn idem_retry_after(&mut self, now: Instant, delay: core::time::Duration) {
        let Some(idem) = self.idem.as_mut() else {
            return;
        };
        idem.attempts = idem.attempts.saturating_add(1);
        idem.phase = IdemPhase::NeedPid;
        idem.retry_at = Some(now + delay);
        self.timers.arm(now + delay, Timer::IdemRetry);
    }

    fn idem_retry_later(&mut self, now: Instant) {
        let Some(idem) = self.idem.as_mut() else {
            return;
        };
        let delay = backoff(
            self.cfg.retry_backoff,
            self.cfg.retry_backoff_max,
            idem.attempts,
            &mut self.rng,
        );
        idem.attempts = idem.attempts.saturating_add(1);
        idem.phase = IdemPhase::NeedPid;
        idem.retry_at = Some(now + delay);
        self.timers.arm(now + delay, Timer::IdemRetry);
    }

    /// The InitProducerId retry backoff ended.
    pub(crate) fn on_idem_retry(&mut self, now: Instant) {
        if let Some(i) = self.idem.as_mut() {
            if i.retry_at.is_some_and(|t| t <= now) {
                i.retry_at = None;
            }
        }
    }

    /// A sequence gap was opened (or the broker lost our state): drain, then bump the epoch.
    /// A transactional producer can't bump on its own: the transaction fails abortably and
    /// the bump happens when it is aborted (librdkafka's `WAIT_TXN_ABORT`).
    pub(crate) fn idem_bump(&mut self, now: Instant, code: ErrorCode, reason: &str) {
        if self.txn.is_some() {
            let reason = format!("{reason}: {code}: the epoch must be bumped");
            self.txn_abortable(now, code, &reason, true);
            return;
        }
        let Some(idem) = self.idem.as_mut() else {
            return;
        };
        if matches!(idem.phase, IdemPhase::Assigned) {
            // librdkafka only logs this (no error event); `reason` is for a future log event.
            let _ = reason;
            idem.phase = IdemPhase::DrainBump;
            idem.bumps = idem.bumps.saturating_add(1);
        }
    }

    /// Enters the fatal state: reports it and fails every queued record.
    pub(crate) fn idem_fatal(&mut self, now: Instant, code: ErrorCode, reason: &str) {
        let Some(idem) = self.idem.as_mut() else {
            return;
        };
        if matches!(idem.phase, IdemPhase::Fatal(_)) {
            return;
        }
        idem.phase = IdemPhase::Fatal(code);
        let what = if self.txn.is_some() {
            "transactional"
        } else {
            "idempotent"
        };
        self.events.push_back(Event::Error {
            code: ErrorCode::Fatal,
            reason: format!("{what} producer fatal error: {code}: {reason}"),
        });
        if self.fatal.is_none() {
            self.fatal = Some((code, reason.to_owned()));
        }
        self.txn_on_fatal(code, reason);
        for t in 0..self.topics.len() {
            if !self.topics[t].pending_is_empty() {
                self.fail_all_pending(now, super::TopicId(t as u32), ErrorCode::Fatal);
            }
            for p in 0..self.topics[t].partitions.len() {
                let key = PartKey {
                    topic: super::TopicId(t as u32),
                    partition: p as u32,
                };
                for batch in self.part_mut(key).q.take_all() {
                    let status = if batch.possibly_persisted {
                        PersistenceStatus::PossiblyPersisted
                    } else {
                        PersistenceStatus::NotPersisted
                    };
                    self.fail_batch(now, key, batch, ErrorCode::Fatal, status);
                }
            }
        }
    }

    /// Whether an epoch bump is under way (a sequence gap is known): draining, or asking for
    /// the new epoch of an id already held.
    pub(crate) fn idem_bump_pending(&self) -> bool {
        self.idem.as_ref().is_some_and(|i| match i.phase {
            IdemPhase::DrainBump => true,
            IdemPhase::NeedPid | IdemPhase::Requesting { .. } => i.pid >= 0,
            IdemPhase::Assigned | IdemPhase::Fatal(_) => false,
        })
    }

    /// The fatal error, if the idempotent producer hit one.
    pub(crate) fn idem_fatal_code(&self) -> Option<ErrorCode> {
        match self.idem.as_ref()?.phase {
            IdemPhase::Fatal(code) => Some(code),
            _ => None,
        }
    }

    /// Whether `batch_seq` is the oldest outstanding batch of the partition (nothing earlier
    /// is waiting for a retry or still in flight).
    pub(crate) fn is_head_of_line(&self, key: PartKey, batch_seq: u64) -> bool {
        let q = &self.part(key).q;
        q.queued.front().is_none_or(|b| b.seq > batch_seq)
            && q.inflight_seqs.iter().all(|&s| s >= batch_seq)
    }
}
