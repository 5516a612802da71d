//! The future-based producer: [`FutureProducer::send`] resolves to the delivery result.
//!
//! Unlike rdkafka, no polling thread and no per-record channel allocation: each record's
//! opaque is an index into a table of completion slots, which the producer's driver thread
//! fills as the delivery reports come in, waking the future directly.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
pub use futures_channel::oneshot::Canceled;

use crate::client::{Client, ClientContext, DefaultClientContext, OAuthToken};
use crate::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use crate::consumer::ConsumerGroupMetadata;
use crate::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use crate::topic_partition_list::TopicPartitionList;
use purekafka_core::Event;

use super::future_slots::SlotTable;
use crate::driver::{InlineDispatch, StatsMeta};
use crate::message::{Message, OwnedHeaders, OwnedMessage, Timestamp, ToBytes};
use crate::producer::base_producer::{owned_headers, report_offset, report_timestamp};
use crate::producer::{
    BaseProducer, BaseRecord, DeliveryResult, NoCustomPartitioner, Partitioner, Producer,
    ProducerContext, PurgeConfig,
};
use crate::statistics::Statistics;
use crate::util::{AsyncRuntime, DefaultRuntime, IntoOpaque, Timeout};

/// A record for [`FutureProducer`]. Key and payload are borrowed and copied during `send`.
#[derive(Debug)]
pub struct FutureRecord<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized> {
    /// Topic name.
    pub topic: &'a str,
    /// Explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Payload (value); `None` is a null value.
    pub payload: Option<&'a P>,
    /// Key; `None` is a null key.
    pub key: Option<&'a K>,
    /// CreateTime in ms since the epoch; `None` is the time of `send`.
    pub timestamp: Option<i64>,
    /// Headers.
    pub headers: Option<OwnedHeaders>,
}

impl<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized> FutureRecord<'a, K, P> {
    /// A record for `topic`.
    pub fn to(topic: &'a str) -> Self {
        Self {
            topic,
            partition: None,
            payload: None,
            key: None,
            timestamp: None,
            headers: None,
        }
    }

    fn from_base_record<D: IntoOpaque>(base: BaseRecord<'a, K, P, D>) -> Self {
        Self {
            topic: base.topic,
            partition: base.partition,
            key: base.key,
            payload: base.payload,
            timestamp: base.timestamp,
            headers: base.headers,
        }
    }

    /// Sets the partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the payload.
    #[must_use]
    pub fn payload(mut self, payload: &'a P) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp (ms since the epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the headers.
    #[must_use]
    pub fn headers(mut self, headers: OwnedHeaders) -> Self {
        self.headers = Some(headers);
        self
    }

    fn into_base_record<D: IntoOpaque>(self, delivery_opaque: D) -> BaseRecord<'a, K, P, D> {
        BaseRecord {
            topic: self.topic,
            partition: self.partition,
            key: self.key,
            payload: self.payload,
            timestamp: self.timestamp,
            headers: self.headers,
            delivery_opaque,
        }
    }
}

/// Where a successfully produced record landed.
#[derive(Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset (-1001 when unknown, e.g. with `acks=0`).
    pub offset: i64,
    /// The record's timestamp (CreateTime, or the broker's LogAppendTime).
    pub timestamp: Timestamp,
}

/// The outcome of [`FutureProducer::send`]: the delivery, or the error and the record.
pub type OwnedDeliveryResult = Result<Delivery, (KafkaError, OwnedMessage)>;

/// The delivery opaque of a [`FutureProducer`]'s records: where its future's result goes
/// (a slot of the producer's ring, or the index of a channel of its own when the ring had
/// no free slot; see `future_slots`).
#[derive(Debug)]
pub struct DeliverySlot(u32);

impl IntoOpaque for DeliverySlot {}

/// The [`ProducerContext`] of a [`FutureProducer`]: forwards the [`ClientContext`]
/// callbacks to the wrapped context and completes the delivery futures.
pub struct FutureProducerContext<C: ClientContext + 'static> {
    wrapped_context: C,
    slots: Arc<SlotTable>,
}

impl<C: ClientContext + 'static> ClientContext for FutureProducerContext<C> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = C::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.wrapped_context.log(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.wrapped_context.stats(statistics);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.wrapped_context.stats_raw(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.wrapped_context.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.wrapped_context
            .generate_oauth_token(oauthbearer_config)
    }
}

impl<C, Part> ProducerContext<Part> for FutureProducerContext<C>
where
    C: ClientContext + 'static,
    Part: Partitioner,
{
    type DeliveryOpaque = DeliverySlot;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, slot: DeliverySlot) {
        let result = match delivery_result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp(),
            }),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // Served one at a time here: nothing to gather the wake for.
        let mut wakes = Vec::new();
        self.slots.fill(slot.0, result, &mut wakes);
        wakes.into_iter().for_each(Waker::wake);
    }
}

impl<C: ClientContext + 'static> Drop for FutureProducerContext<C> {
    fn drop(&mut self) {
        // The producer is gone: futures still waiting will never get a report.
        self.slots.close();
    }
}

/// A record's delivery result, as [`FutureProducer::send_result`] returns it. Resolves to
/// `Err(Canceled)` if the producer is dropped before the report.
#[must_use = "Futures do nothing unless polled"]
pub struct DeliveryFuture {
    inner: FutureInner,
}

enum FutureInner {
    Ring { slots: Arc<SlotTable>, index: u32 },
    Channel(oneshot::Receiver<OwnedDeliveryResult>),
    Finished,
}

impl Future for DeliveryFuture {
    type Output = Result<OwnedDeliveryResult, Canceled>;

    // Inlined with its common case, a delivered record, into the caller: returned from a
    // call, the 88-byte result was written field by field and read back with wider loads
    // (a store-forwarding stall per record); the rest stays out of line.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let FutureInner::Ring { slots, index } = &self.inner {
            if let Some(d) = slots.take_delivered(*index) {
                self.inner = FutureInner::Finished;
                return Poll::Ready(Ok(Ok(d)));
            }
        }
        self.poll_slow(cx)
    }
}

impl DeliveryFuture {
    /// [`DeliveryFuture::poll`] for every case but a delivered ring slot.
    #[inline(never)]
    fn poll_slow(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<OwnedDeliveryResult, Canceled>> {
        let r = match &mut self.inner {
            FutureInner::Ring { slots, index } => slots.poll(*index, cx),
            FutureInner::Channel(rx) => Pin::new(rx).poll(cx),
            FutureInner::Finished => Poll::Ready(Err(Canceled)),
        };
        if r.is_ready() {
            self.inner = FutureInner::Finished;
        }
        r
    }
}

impl Drop for DeliveryFuture {
    fn drop(&mut self) {
        if let FutureInner::Ring { slots, index } = &self.inner {
            slots.abandon(*index);
        }
    }
}

impl std::fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("DeliveryFuture");
        match &self.inner {
            FutureInner::Ring { index, .. } => d.field("slot", index),
            FutureInner::Channel(_) => d.field("slot", &"channel"),
            FutureInner::Finished => d.field("slot", &"finished"),
        };
        d.finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------
// FutureProducer
// ---------------------------------------------------------------------------------------

/// A producer whose `send` returns a future of the delivery result. Cheap to clone (clones
/// share one producer). Works on any executor; `R` only provides the sleep used while the
/// queue is full.
///
/// Delivery futures are completed by the producer's own background thread as reports
/// arrive, so no polling is needed; the context's callbacks (`error`, `stats`, ...) run on
/// that thread too and should return quickly.
#[must_use = "Producer polling thread will stop immediately if unused"]
pub struct FutureProducer<C = DefaultClientContext, R = DefaultRuntime, Part = NoCustomPartitioner>
where
    Part: Partitioner,
    C: ClientContext + 'static,
{
    producer: Arc<BaseProducer<FutureProducerContext<C>, Part>>,
    slots: Arc<SlotTable>,
    _runtime: PhantomData<fn() -> R>,
}

impl<C, R> Clone for FutureProducer<C, R>
where
    C: ClientContext + 'static,
{
    fn clone(&self) -> Self {
        Self {
            producer: Arc::clone(&self.producer),
            slots: Arc::clone(&self.slots),
            _runtime: PhantomData,
        }
    }
}

impl<R: AsyncRuntime> FromClientConfig for FutureProducer<DefaultClientContext, R> {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultClientContext)
    }
}

impl<C, R> FromClientConfigAndContext<C> for FutureProducer<C, R>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
{
    fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        // Sized for the records that can be in flight at once (librdkafka's default 100000).
        let in_flight = config
            .get("queue.buffering.max.messages")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(100_000);
        let slots = Arc::new(SlotTable::new(in_flight));
        let context = FutureProducerContext {
            wrapped_context: context,
            slots: Arc::clone(&slots),
        };
        let context = Arc::new(context);
        let dispatcher = |stats: &StatsMeta| {
            let context = Arc::clone(&context);
            let stats = stats.clone();
            Some(Box::new(move |ev, wakes: &mut Vec<Waker>| {
                dispatch_future(&context, &stats, ev, wakes)
            }) as InlineDispatch<DeliverySlot>)
        };
        let producer = BaseProducer::create(config, Arc::clone(&context), dispatcher)?;
        Ok(Self {
            producer: Arc::new(producer),
            slots,
            _runtime: PhantomData,
        })
    }
}

/// Completes the futures of one event's records, on the driver thread: no lock and no
/// allocation for successful records.
fn dispatch_future<C: ClientContext + 'static>(
    context: &FutureProducerContext<C>,
    stats: &StatsMeta,
    event: Event<DeliverySlot>,
    wakes: &mut Vec<Waker>,
) {
    let mut report = match event {
        Event::Delivery(report) => report,
        Event::Error { code, reason } => {
            context.error(KafkaError::Global(code), reason.trim());
            return;
        }
        Event::Stats(snapshot) => {
            context.stats_raw(&stats.json(&snapshot));
            return;
        }
    };
    let partition = report.partition();
    let ts_type = report.timestamp_type();
    let Some(code) = report.error() else {
        // A future's result is (partition, offset, timestamp): with the CreateTime in the
        // slot since the claim, the records need not be read back at all.
        let log_append_time = report.log_append_time();
        for (offset, DeliverySlot(i)) in report.drain_offsets() {
            context
                .slots
                .deliver(i, partition, report_offset(offset), log_append_time, wakes);
        }
        return;
    };
    // A failed record comes back whole, as rdkafka's does.
    let topic = report.topic().to_owned();
    for (view, slot) in report.drain() {
        let headers = view.headers();
        let message = OwnedMessage::new(
            view.value().map(<[u8]>::to_vec),
            view.key().map(<[u8]>::to_vec),
            topic.clone(),
            report_timestamp(ts_type, view.timestamp()),
            partition,
            report_offset(view.offset()),
            (!headers.is_empty()).then(|| owned_headers(headers)),
        );
        context.slots.fill(
            slot.0,
            Err((KafkaError::MessageProduction(code), message)),
            wakes,
        );
    }
}

/// Counts a task waiting for queue space while alive.
struct SpaceWaiter<'a>(&'a AtomicUsize);

impl<'a> SpaceWaiter<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for SpaceWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Completes when either future does.
async fn either<A: Future<Output = ()>, B: Future<Output = ()>>(a: A, b: B) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// An empty message of `topic`, for a result that has no record to hand back.
fn owned_topic_message(topic: &str) -> OwnedMessage {
    OwnedMessage::new(
        None,
        None,
        topic.to_owned(),
        Timestamp::NotAvailable,
        -1,
        0,
        None,
    )
}

fn owned_message<K, P, D>(record: BaseRecord<'_, K, P, D>) -> OwnedMessage
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    D: IntoOpaque,
{
    OwnedMessage::new(
        record.payload.map(|p| p.to_bytes().to_vec()),
        record.key.map(|k| k.to_bytes().to_vec()),
        record.topic.to_owned(),
        record
            .timestamp
            .map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
        record.partition.unwrap_or(-1),
        0,
        record.headers,
    )
}

impl<C, R, Part> FutureProducer<C, R, Part>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    Part: Partitioner,
{
    /// Sends a record and waits for its delivery. While the queue is full it retries until
    /// `queue_timeout` has passed (zero: a single attempt; `Timeout::Never`: forever), then
    /// fails with `QueueFull`; once queued, only `message.timeout.ms` applies.
    pub async fn send<K, P, T>(
        &self,
        record: FutureRecord<'_, K, P>,
        queue_timeout: T,
    ) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let start = Instant::now();
        let queue_timeout = queue_timeout.into();
        let left = || match queue_timeout {
            Timeout::Never => Some(Duration::from_millis(100)),
            Timeout::After(t) => t.checked_sub(start.elapsed()).filter(|d| !d.is_zero()),
        };
        let topic = record.topic;
        // A slot is claimed only by an attempt that queues the record, so none is held
        // while this future waits for queue space (or is dropped meanwhile).
        let mut attempt = self.queue(record.into_base_record(()));
        let future = loop {
            match attempt {
                Ok(future) => break future,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec))
                    if left().is_some() =>
                {
                    let shared = self.producer.shared_state();
                    let _waiter = SpaceWaiter::new(shared.space_waiters());
                    let mut notified = pin!(shared.space_freed().notified());
                    notified.as_mut().enable();
                    // Space may have been freed before we registered.
                    attempt = self.queue(rec);
                    if let Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec)) =
                        attempt
                    {
                        let wait = left().unwrap_or_default().min(Duration::from_millis(100));
                        either(notified, R::delay_for(wait)).await;
                        attempt = self.queue(rec);
                    }
                }
                Err((e, rec)) => return Err((e, owned_message(rec))),
            }
        };
        match future.await {
            Ok(r) => r,
            // The producer is borrowed for the whole call, so it cannot be gone; answer
            // like a client that was dropped anyway.
            Err(Canceled) => Err((KafkaError::Canceled, owned_topic_message(topic))),
        }
    }

    /// Queues a record without waiting; on success the future resolves to its delivery
    /// result. On failure (e.g. `QueueFull`) the record comes back with the error.
    // Inlined, with `queue`, into the caller: the future is then built where it is kept
    // instead of being handed back through memory (a store-forwarding stall per record).
    #[inline(always)]
    #[allow(clippy::result_large_err)]
    pub fn send_result<'a, K, P>(
        &self,
        record: FutureRecord<'a, K, P>,
    ) -> Result<DeliveryFuture, (KafkaError, FutureRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.queue(record.into_base_record(()))
            .map_err(|(e, rec)| (e, FutureRecord::from_base_record(rec)))
    }

    /// Queues a record, claiming its completion slot while the engine lock is held (which
    /// is what makes claims one at a time, see `SlotTable::claim`), and returns its future;
    /// a record that comes back holds no slot.
    #[inline(always)]
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    fn queue<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, ()>,
    ) -> Result<DeliveryFuture, (KafkaError, BaseRecord<'a, K, P, ()>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let mut channel = None;
        let index = self.producer.send_with(
            record,
            |(), timestamp| self.claim(&mut channel, timestamp),
            |_, index| self.slots.release(index),
        )?;
        let inner = match channel {
            Some(rx) => FutureInner::Channel(rx),
            None => FutureInner::Ring {
                slots: Arc::clone(&self.slots),
                index,
            },
        };
        Ok(DeliveryFuture { inner })
    }

    /// A completion slot for a new record with CreateTime `timestamp` (engine lock held):
    /// the record's opaque and its index; the receiver of a fallback channel is put in
    /// `channel`.
    // Always inlined into `send_with`: returned through memory, the pair was read back
    // with wider loads than it was written with (a store-forwarding stall per record).
    #[inline(always)]
    fn claim(
        &self,
        channel: &mut Option<oneshot::Receiver<OwnedDeliveryResult>>,
        timestamp: i64,
    ) -> (DeliverySlot, u32) {
        let index = match self.slots.claim(timestamp) {
            Some(i) => i,
            None => {
                let (i, rx) = self.slots.claim_channel(timestamp);
                *channel = Some(rx);
                i
            }
        };
        (DeliverySlot(index), index)
    }

    /// Waits for `timeout` (reports are served by the producer's own thread; kept for
    /// rdkafka compatibility).
    pub fn poll<T: Into<Timeout>>(&self, timeout: T) {
        self.producer.poll(timeout);
    }
}

impl<C, R, Part> Producer<FutureProducerContext<C>, Part> for FutureProducer<C, R, Part>
where
    C: ClientContext + 'static,
    R: AsyncRuntime,
    Part: Partitioner,
{
    fn client(&self) -> &Client<FutureProducerContext<C>> {
        self.producer.client()
    }

    fn in_flight_count(&self) -> i32 {
        self.producer.in_flight_count()
    }

    fn flush<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.producer.flush(timeout)
    }

    fn purge(&self, flags: PurgeConfig) {
        self.producer.purge(flags);
    }

    fn init_transactions<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.producer.init_transactions(timeout)
    }

    fn begin_transaction(&self) -> KafkaResult<()> {
        self.producer.begin_transaction()
    }

    fn send_offsets_to_transaction<T: Into<Timeout>>(
        &self,
        offsets: &TopicPartitionList,
        cgm: &ConsumerGroupMetadata,
        timeout: T,
    ) -> KafkaResult<()> {
        self.producer
            .send_offsets_to_transaction(offsets, cgm, timeout)
    }

    fn commit_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.producer.commit_transaction(timeout)
    }

    fn abort_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.producer.abort_transaction(timeout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Condvar, Mutex, PoisonError};
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    use futures_util::FutureExt;
    use purekafka_testkit::sink::{SinkBroker, SinkOptions};

    use super::*;
    use crate::config::ClientConfig;

    /// A waker that notes the producer's in-flight count at the moment it is woken.
    struct Probe {
        producer: FutureProducer,
        seen: Mutex<Option<i32>>,
        cv: Condvar,
    }

    impl Wake for Probe {
        fn wake(self: Arc<Self>) {
            let n = self.producer.in_flight_count();
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            seen.get_or_insert(n);
            self.cv.notify_all();
        }
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_producer() {
        struct Panics;
        impl ClientContext for Panics {
            fn stats_raw(&self, _: &[u8]) {
                panic!("a statistics callback that panics");
            }
        }
        let sink = SinkBroker::start(SinkOptions::default()).unwrap();
        let producer: FutureProducer<Panics> = ClientConfig::new()
            .set("bootstrap.servers", sink.bootstrap())
            .set("statistics.interval.ms", "10")
            .set("linger.ms", "0")
            .create_with_context(Panics)
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Several statistics callbacks panic meanwhile.
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..3 {
            let value = format!("record {i}");
            let record = FutureRecord::<(), str>::to("t").payload(&value);
            let delivery = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(10),
                    producer.send(record, Duration::ZERO),
                )
                .await
            });
            assert!(matches!(delivery, Ok(Ok(_))), "{delivery:?}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    #[test]
    fn a_waiting_future_is_woken_only_once_its_round_left_the_queue() {
        // A sender blocked on a full queue waits on its oldest future. Woken as soon as that
        // record's result was filled, it found the rest of the round still counted against
        // the queue and slept again, about 20 times per round; it must be woken after the
        // round's records were served.
        let sink = SinkBroker::start(SinkOptions::default()).unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", sink.bootstrap())
            // One batch, and ample time (even on a loaded machine) to start waiting on its
            // first record before the batch is sent.
            .set("linger.ms", "1000")
            .create()
            .unwrap();
        let mut futures: Vec<DeliveryFuture> = (0..500)
            .map(|i| {
                let value = format!("record {i}");
                producer
                    .send_result(FutureRecord::<(), str>::to("t").payload(&value))
                    .map_err(|(e, _)| e)
                    .unwrap()
            })
            .collect();
        let probe = Arc::new(Probe {
            producer: producer.clone(),
            seen: Mutex::new(None),
            cv: Condvar::new(),
        });
        let waker = Waker::from(Arc::clone(&probe));
        let mut first = futures.remove(0);
        assert!(
            Pin::new(&mut first)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let seen = probe.seen.lock().unwrap();
        let (seen, _) = probe
            .cv
            .wait_timeout_while(seen, Duration::from_secs(10), |s| s.is_none())
            .unwrap();
        assert_eq!(
            *seen,
            Some(0),
            "records still counted when the future was woken"
        );
        assert!(matches!(first.now_or_never(), Some(Ok(Ok(_)))));
        for f in futures {
            assert!(matches!(f.now_or_never(), Some(Ok(Ok(_)))));
        }
    }
}
