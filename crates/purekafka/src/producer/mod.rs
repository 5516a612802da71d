//! Kafka producers, shaped like rust-rdkafka's `rdkafka::producer`.
//!
//! - [`BaseProducer`]: `send` never blocks; delivery reports reach
//!   [`ProducerContext::delivery`] on the thread that calls [`BaseProducer::poll`] or
//!   [`Producer::flush`].
//! - [`ThreadedProducer`]: a `BaseProducer` plus a thread (`"producer polling thread"`) that
//!   polls it.
//! - [`FutureProducer`]: `send` returns a future resolving to the delivery result.
//!
//! Every producer owns one background thread (a single-threaded tokio runtime, named
//! `purekafka-driver`) that talks to the brokers; it needs no runtime from the application.
//!
//! Transactions (`transactional.id`) follow librdkafka: the transaction methods of
//! [`Producer`] fail with `KafkaError::Transaction(RDKafkaError)` whose `is_retriable`,
//! `txn_requires_abort` and `is_fatal` say what to do next; a call that times out can be
//! repeated to resume the operation. Against brokers with KIP-890 transaction version 2
//! (Kafka 4.x) purekafka uses it (librdkafka does not).
//!
//! Known deviations from rdkafka: contexts and delivery opaques must be `'static` (they are
//! shared with the driver thread); `purge` ignores the `non_blocking` flag (purging never
//! blocks); [`ConsumerGroupMetadata`] is built with its own constructors (purekafka has no
//! consumer to get it from).

use std::sync::Arc;

use crate::client::ClientContext;
use crate::consumer::ConsumerGroupMetadata;
use crate::error::KafkaResult;
use crate::topic_partition_list::TopicPartitionList;
use crate::util::{IntoOpaque, Timeout};

pub mod base_producer;
mod client;
pub mod future_producer;
mod future_slots;
mod transaction;

pub use self::client::Client;

#[doc(inline)]
pub use self::base_producer::{BaseProducer, BaseRecord, DeliveryResult, ThreadedProducer};
#[doc(inline)]
pub use self::future_producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// Callbacks of a producer: a [`ClientContext`] plus delivery reports (and, optionally, a
/// custom partitioner).
pub trait ProducerContext<Part: Partitioner = NoCustomPartitioner>: ClientContext {
    /// The value passed with each record to `send` and handed back with its report.
    type DeliveryOpaque: IntoOpaque;

    /// Receives one record's delivery report, on the thread calling `poll` or `flush`.
    fn delivery(&self, delivery_result: &DeliveryResult<'_>, delivery_opaque: Self::DeliveryOpaque);

    /// The custom partitioner, if any (consulted once, when the producer is created).
    fn get_custom_partitioner(&self) -> Option<&Part> {
        None
    }
}

/// "Unassigned" partition: let the partitioner choose.
pub const PARTITION_UA: i32 = -1;

/// Chooses a partition for a record without an explicit one.
pub trait Partitioner {
    /// The partition (0..`partition_cnt`) for `key` in `topic_name`; `is_partition_available`
    /// tells whether a partition currently has a leader. May be called from any thread and
    /// more than once per record.
    fn partition(
        &self,
        topic_name: &str,
        key: Option<&[u8]>,
        partition_cnt: i32,
        is_partition_available: impl Fn(i32) -> bool,
    ) -> i32;
}

/// The placeholder partitioner type of producers without a custom partitioner.
#[derive(Clone)]
pub struct NoCustomPartitioner {}

impl Partitioner for NoCustomPartitioner {
    /// Never called: a context returning `None` from `get_custom_partitioner` installs none.
    fn partition(
        &self,
        _topic_name: &str,
        _key: Option<&[u8]>,
        _partition_cnt: i32,
        _is_partition_available: impl Fn(i32) -> bool,
    ) -> i32 {
        panic!("NoCustomPartitioner should not be called");
    }
}

/// A [`ProducerContext`] that ignores delivery reports (opaque `()`).
#[derive(Clone)]
pub struct DefaultProducerContext;

impl ClientContext for DefaultProducerContext {}

impl ProducerContext<NoCustomPartitioner> for DefaultProducerContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// What every producer type can do.
pub trait Producer<C = DefaultProducerContext, Part = NoCustomPartitioner>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    /// The client behind the producer.
    fn client(&self) -> &Client<C>;

    /// The producer's context.
    fn context(&self) -> &Arc<C> {
        self.client().context()
    }

    /// Records queued, in flight, or whose delivery report was not served yet.
    fn in_flight_count(&self) -> i32;

    /// Sends everything queued now (ignoring `linger.ms`) and serves delivery reports until
    /// none is left, or fails with `KafkaError::Flush(OperationTimedOut)` at the timeout.
    fn flush<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()>;

    /// Fails queued and/or in-flight records now (reports with `PurgeQueue`/`PurgeInflight`).
    fn purge(&self, flags: PurgeConfig);

    /// Finds the transaction coordinator, fences older producers with the same
    /// `transactional.id` and gets the producer id and epoch. Call once, before the first
    /// transaction; repeat after a retriable error (e.g. a timeout) to resume.
    fn init_transactions<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()>;

    /// Starts a transaction (locally: nothing is sent until a record or offset is added).
    fn begin_transaction(&self) -> KafkaResult<()>;

    /// Adds consumed offsets (the next offset to read, per partition) for the group in `cgm`
    /// to the current transaction: they are committed if and only if the transaction is.
    fn send_offsets_to_transaction<T: Into<Timeout>>(
        &self,
        offsets: &TopicPartitionList,
        cgm: &ConsumerGroupMetadata,
        timeout: T,
    ) -> KafkaResult<()>;

    /// Flushes (serving delivery reports), then commits the current transaction. If a record
    /// of the transaction failed, fails with an error that `txn_requires_abort`.
    fn commit_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()>;

    /// Purges the records not yet sent, waits for those in flight, then aborts the current
    /// transaction; also the way out of an abortable error.
    fn abort_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()>;
}

/// What [`Producer::purge`] removes. The default purges nothing.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeConfig {
    queue: bool,
    inflight: bool,
    non_blocking: bool,
}

impl PurgeConfig {
    /// Also purge records not yet sent.
    #[must_use]
    pub fn queue(self) -> Self {
        Self {
            queue: true,
            ..self
        }
    }

    /// Also purge records sent and awaiting a response (their outcome stays unknown).
    #[must_use]
    pub fn inflight(self) -> Self {
        Self {
            inflight: true,
            ..self
        }
    }

    /// Don't wait (accepted; purging never blocks here anyway).
    #[must_use]
    pub fn non_blocking(self) -> Self {
        Self {
            non_blocking: true,
            ..self
        }
    }

    /// Unsets [`queue`](Self::queue).
    #[must_use]
    pub fn no_queue(self) -> Self {
        Self {
            queue: false,
            ..self
        }
    }

    /// Unsets [`inflight`](Self::inflight).
    #[must_use]
    pub fn no_inflight(self) -> Self {
        Self {
            inflight: false,
            ..self
        }
    }

    /// Unsets [`non_blocking`](Self::non_blocking).
    #[must_use]
    pub fn blocking(self) -> Self {
        Self {
            non_blocking: false,
            ..self
        }
    }

    pub(crate) fn to_engine(self) -> purekafka_core::Purge {
        purekafka_core::Purge {
            queue: self.queue,
            inflight: self.inflight,
        }
    }
}

impl std::fmt::Debug for PurgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeConfig")
            .field("queue", &self.queue)
            .field("inflight", &self.inflight)
            .field("non_blocking", &self.non_blocking)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn purge_config_builders_and_debug() {
        let p = PurgeConfig::default();
        assert_eq!(p.to_engine(), purekafka_core::Purge::default());
        let p = p.queue().inflight().non_blocking();
        assert_eq!(
            format!("{p:?}"),
            "PurgeConfig { queue: true, inflight: true, non_blocking: true }"
        );
        let e = p.to_engine();
        assert!(e.queue && e.inflight);
        let p = p.no_queue().no_inflight().blocking();
        assert_eq!(p, PurgeConfig::default());
    }

    #[test]
    fn producers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<BaseProducer>();
        check::<ThreadedProducer<DefaultProducerContext>>();
        check::<FutureProducer>();
        check::<DeliveryFuture>();
        check::<Client<DefaultProducerContext>>();
    }
}
