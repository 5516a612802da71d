//! rdkafka's transactional API on top of the engine's transaction manager
//! ([`purekafka_core::Engine::init_transactions`] and friends).
//!
//! Each call starts (or resumes) an engine operation under the state lock and then waits for
//! its result, serving delivery reports meanwhile on producers whose reports are served by
//! the caller (`BaseProducer`), as `flush` does. A call that times out returns a retriable
//! `OperationTimedOut` error and leaves the operation running in the engine: calling the same
//! method again picks it up (librdkafka's resumable `init`/`commit`/`abort`).
//!
//! Deviation from rust-rdkafka, on purpose: its `commit_transaction` calls `flush` before
//! librdkafka's commit and returns `KafkaError::Flush(OperationTimedOut)` when that flush
//! times out, an error the recommended handling (`is_retriable` / `txn_requires_abort` /
//! fatal) cannot classify. Here the commit itself flushes, so that timeout is a retriable
//! `KafkaError::Transaction` (`OperationTimedOut`) like any other commit timeout, records
//! sent during the commit are refused with `State` (librdkafka's BEGIN_COMMIT), and calling
//! commit again resumes it.
//!
//! `Timeout::Never` is bounded like librdkafka does: `init_transactions` waits at most twice
//! `transaction.timeout.ms`, the other calls at most `transaction.timeout.ms` (the broker
//! aborts a transaction that runs longer anyway).

use std::time::Duration;

use purekafka_core::engine::{GroupMetadata, TxnError, TxnOffset, TxnOp};
use purekafka_core::{Engine, Instant};

use super::BaseProducer;
use super::{Partitioner, ProducerContext};
use crate::consumer::ConsumerGroupMetadata;
use crate::error::{KafkaError, KafkaResult, RDKafkaError, RDKafkaErrorCode};
use crate::topic_partition_list::TopicPartitionList;
use crate::util::{Deadline, Timeout};

/// The rdkafka error for an engine transaction error (same code, reason and class flags).
pub(crate) fn txn_error(e: TxnError) -> KafkaError {
    KafkaError::Transaction(
        RDKafkaError::new(e.code, e.reason)
            .with_retriable(e.retriable)
            .with_txn_requires_abort(e.abortable)
            .with_fatal(e.fatal),
    )
}

fn timed_out(op: TxnOp) -> KafkaError {
    let what = match op {
        TxnOp::Init => "init_transactions",
        TxnOp::SendOffsets => "send_offsets_to_transaction",
        TxnOp::Commit => "commit_transaction",
        TxnOp::Abort => "abort_transaction",
    };
    KafkaError::Transaction(
        RDKafkaError::new(
            RDKafkaErrorCode::OperationTimedOut,
            format!("{what} timed out; call it again to wait for its completion"),
        )
        .with_retriable(true),
    )
}

impl<C, Part> BaseProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    /// Starts `op` with `start` and waits for its result until `timeout`.
    fn txn_call(
        &self,
        op: TxnOp,
        timeout: Timeout,
        start: impl FnOnce(&mut Engine<C::DeliveryOpaque>, Instant) -> Result<(), TxnError>,
    ) -> KafkaResult<()> {
        let shared = self.shared();
        let bound = {
            let mut st = shared.lock();
            // A result left by an earlier call of the same op that gave up waiting is stale:
            // the engine reports it again for this call if the op is already done.
            st.take_txn_result(op);
            let now = shared.now();
            let started = start(&mut st.engine, now);
            shared.service(&mut st);
            started.map_err(txn_error)?;
            let txn_timeout = st.engine.config().transaction_timeout;
            if op == TxnOp::Init {
                txn_timeout.saturating_mul(2)
            } else {
                txn_timeout
            }
        };
        let deadline: Deadline = match timeout {
            Timeout::Never => Deadline::new(Some(bound)),
            Timeout::After(d) => Deadline::new(Some(d)),
        };
        loop {
            self.poll_until(&deadline, |st| st.has_txn_result(op));
            let mut st = shared.lock();
            if let Some(result) = st.take_txn_result(op) {
                return result.map_err(txn_error);
            }
            if deadline.elapsed() || shared.stopping() {
                return Err(timed_out(op));
            }
        }
    }

    pub(crate) fn init_transactions_inner(&self, timeout: Timeout) -> KafkaResult<()> {
        self.txn_call(TxnOp::Init, timeout, |e, now| e.init_transactions(now))
    }

    pub(crate) fn begin_transaction_inner(&self) -> KafkaResult<()> {
        let shared = self.shared();
        let mut st = shared.lock();
        let now = shared.now();
        let r = st.engine.begin_transaction(now);
        shared.service(&mut st);
        r.map_err(txn_error)
    }

    pub(crate) fn send_offsets_inner(
        &self,
        offsets: &TopicPartitionList,
        cgm: &ConsumerGroupMetadata,
        timeout: Timeout,
    ) -> KafkaResult<()> {
        let offsets: Vec<TxnOffset<'_>> = offsets
            .raw_elements()
            .map(|(topic, partition, offset, metadata)| TxnOffset {
                topic,
                partition,
                offset,
                leader_epoch: -1,
                metadata: Some(metadata),
            })
            .collect();
        let group = GroupMetadata {
            group_id: cgm.group_id.clone(),
            generation_id: cgm.generation_id,
            member_id: cgm.member_id.clone(),
            group_instance_id: cgm.group_instance_id.clone(),
        };
        self.txn_call(TxnOp::SendOffsets, timeout, |e, now| {
            e.send_offsets_to_transaction(now, &offsets, &group)
        })
    }

    pub(crate) fn commit_transaction_inner(&self, timeout: Timeout) -> KafkaResult<()> {
        // The engine's commit flushes (ignoring linger) and waits for every record's report
        // before EndTxn; `txn_call` serves those reports on this thread meanwhile. A timeout
        // (in the flush or in EndTxn) is librdkafka's retriable `_TIMED_OUT`: calling commit
        // again resumes it. (rust-rdkafka flushes before calling librdkafka and returns
        // `KafkaError::Flush` when that flush times out, which its own recommended retry
        // loop then treats as fatal; see the module doc.)
        self.txn_call(TxnOp::Commit, timeout, |e, now| e.commit_transaction(now))?;
        // As after rdkafka's flush: every delivery report of the transaction was served
        // before commit returns.
        self.poll_until(&Deadline::new(Some(Duration::ZERO)), |_| false);
        Ok(())
    }

    pub(crate) fn abort_transaction_inner(&self, timeout: Timeout) -> KafkaResult<()> {
        self.txn_call(TxnOp::Abort, timeout, |e, now| e.abort_transaction(now))
    }
}
