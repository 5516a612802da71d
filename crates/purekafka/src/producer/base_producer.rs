//! The low-level producers: [`BaseProducer`] (the application polls for delivery reports)
//! and [`ThreadedProducer`] (a thread polls).

use std::ffi::CString;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use purekafka_core::engine::{DeliveryReport, HeadersView, RecordHeader, TimestampType};
use purekafka_core::partitioner::CustomPartitioner;
use purekafka_core::{Event, ProducerConfig, Record};

use crate::client::Client;
use crate::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use crate::consumer::ConsumerGroupMetadata;
use crate::driver::{Driver, InlineDispatch, Shared, State, StatsMeta};
use crate::error::{KafkaError, KafkaResult, RDKafkaConfRes, RDKafkaErrorCode};
use crate::message::{
    BorrowedHeaders, BorrowedMessage, Header, Headers, OwnedHeaders, Timestamp, ToBytes,
};
use crate::producer::{
    DefaultProducerContext, NoCustomPartitioner, Partitioner, Producer, ProducerContext,
    PurgeConfig,
};
use crate::topic_partition_list::TopicPartitionList;
use crate::util::{Deadline, IntoOpaque, Timeout};

pub use crate::message::DeliveryResult;

/// librdkafka's `RD_KAFKA_OFFSET_INVALID`: the offset of a report without one (a failure, or
/// `acks=0`).
pub(crate) const OFFSET_INVALID: i64 = -1001;

/// A record for [`BaseProducer::send`] / [`ThreadedProducer::send`]. Key and payload are
/// borrowed and copied during `send`.
#[derive(Debug)]
pub struct BaseRecord<'a, K: ToBytes + ?Sized = (), P: ToBytes + ?Sized = (), D: IntoOpaque = ()> {
    /// Topic name.
    pub topic: &'a str,
    /// Explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Payload (value); `None` is a null value.
    pub payload: Option<&'a P>,
    /// Key; `None` is a null key.
    pub key: Option<&'a K>,
    /// CreateTime in ms since the epoch; `None` (or 0) is the time of `send`.
    pub timestamp: Option<i64>,
    /// Headers.
    pub headers: Option<OwnedHeaders>,
    /// Handed back with the delivery report.
    pub delivery_opaque: D,
}

impl<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized, D: IntoOpaque> BaseRecord<'a, K, P, D> {
    /// A record for `topic` carrying `delivery_opaque`.
    pub fn with_opaque_to(topic: &'a str, delivery_opaque: D) -> Self {
        Self {
            topic,
            partition: None,
            payload: None,
            key: None,
            timestamp: None,
            headers: None,
            delivery_opaque,
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

    /// Sets the topic.
    #[must_use]
    pub fn topic(mut self, topic: &'a str) -> Self {
        self.topic = topic;
        self
    }

    /// Sets the delivery opaque.
    #[must_use]
    pub fn delivery_opaque(mut self, delivery_opaque: D) -> Self {
        self.delivery_opaque = delivery_opaque;
        self
    }
}

impl<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized> BaseRecord<'a, K, P, ()> {
    /// A record for `topic` without an opaque.
    pub fn to(topic: &'a str) -> Self {
        Self::with_opaque_to(topic, ())
    }
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// Parses a [`ClientConfig`] like `rd_kafka_conf_set` + `rd_kafka_new` would.
pub(crate) fn producer_config(config: &ClientConfig) -> KafkaResult<ProducerConfig> {
    let map = config.config_map();
    // `config_map` masks secrets; the real values come from `get`.
    let props = map.keys().filter_map(|k| config.get(k).map(|v| (*k, v)));
    ProducerConfig::from_properties(props).map_err(|e| match e.conf_res() {
        Some(res) => KafkaError::ClientConfig(
            match res {
                purekafka_core::config::ConfRes::Unknown => RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                purekafka_core::config::ConfRes::Invalid => RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            },
            e.to_string(),
            e.key().unwrap_or_default().to_owned(),
            e.value().unwrap_or_default().to_owned(),
        ),
        None => KafkaError::ClientCreation(e.to_string()),
    })
}

/// Adapts the context's [`Partitioner`] to the engine's object-safe partitioner.
struct ContextPartitioner<C, Part> {
    context: Arc<C>,
    _part: PhantomData<fn() -> Part>,
}

impl<C, Part> CustomPartitioner for ContextPartitioner<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partition_cnt: i32,
        is_available: &dyn Fn(i32) -> bool,
    ) -> i32 {
        match self.context.get_custom_partitioner() {
            Some(p) => p.partition(topic, key, partition_cnt, is_available),
            // Installed only when the context had one; a context that changed its mind gets
            // the out-of-range answer, which fails the record with UnknownPartition.
            None => -1,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dispatch of events to the context
// ---------------------------------------------------------------------------------------

/// Headers of a record passed to the engine without a heap allocation.
const INLINE_HEADERS: usize = 8;

/// Hands every record of one report to `context.delivery`, borrowing from the report.
fn deliver<C, Part>(context: &C, mut report: DeliveryReport<C::DeliveryOpaque>)
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    // One copy per batch: `drain` borrows the report mutably.
    let topic = report.topic().to_owned();
    let partition = report.partition();
    let error = report.error();
    let status = report.status();
    let ts_type = report.timestamp_type();
    // Headers are lent out of the batch's own bytes: a reference count, no copy.
    let records = report.share_records();
    for (view, opaque) in report.drain() {
        let headers = view.headers();
        let headers = (!headers.is_empty()).then(|| shared_headers(&records, headers));
        let offset = report_offset(view.offset());
        let timestamp = report_timestamp(ts_type, view.timestamp());
        let message = BorrowedMessage::new(&topic, partition, offset, timestamp)
            .with_key(view.key())
            .with_payload(view.value())
            .with_headers(headers.as_ref())
            .with_status(status)
            .with_latency(view.latency());
        let result = match error {
            None => Ok(message),
            Some(code) => Err((KafkaError::MessageProduction(code), message)),
        };
        context.delivery(&result, opaque);
    }
}

/// `h` as [`BorrowedHeaders`] sharing `records`, the report bytes it was read from; a copy
/// should it not lie within them (it always does: the views borrow from those bytes).
fn shared_headers(records: &Bytes, h: HeadersView<'_>) -> BorrowedHeaders {
    let wire = h.wire_bytes();
    let start = (wire.as_ptr() as usize).wrapping_sub(records.as_ptr() as usize);
    let within = start <= records.len() && wire.len() <= records.len() - start;
    within
        .then(|| records.slice(start..start + wire.len()))
        .and_then(|b| BorrowedHeaders::from_wire(b, h.len()))
        .unwrap_or_else(|| owned_headers(h).into_borrowed())
}

/// A record's headers copied out of its report.
pub(crate) fn owned_headers(h: HeadersView<'_>) -> OwnedHeaders {
    h.iter()
        .fold(OwnedHeaders::new_with_capacity(h.len()), |o, (k, v)| {
            o.insert(Header { key: k, value: v })
        })
}

/// A reported record's offset as rdkafka gives it: `OFFSET_INVALID` when there is none.
pub(crate) fn report_offset(offset: i64) -> i64 {
    if offset < 0 { OFFSET_INVALID } else { offset }
}

/// A reported record's timestamp, of its report's type.
pub(crate) fn report_timestamp(ts_type: TimestampType, ms: i64) -> Timestamp {
    match ts_type {
        TimestampType::CreateTime => Timestamp::CreateTime(ms),
        TimestampType::LogAppendTime => Timestamp::LogAppendTime(ms),
    }
}

/// The error for a record the engine refused. A topic name with a NUL byte is refused by
/// the engine (only when first seen, so that known topics pay nothing for the check) and
/// reported as rdkafka reports it, a `Nul` error from building the C string.
#[cold]
fn refusal(code: RDKafkaErrorCode, topic: &str) -> KafkaError {
    if code == RDKafkaErrorCode::InvalidArgument {
        if let Err(e) = CString::new(topic) {
            return KafkaError::Nul(e);
        }
    }
    KafkaError::MessageProduction(code)
}

/// Hands one event to the context.
pub(crate) fn dispatch<C, Part>(context: &C, stats: &StatsMeta, event: Event<C::DeliveryOpaque>)
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    match event {
        Event::Delivery(report) => deliver::<C, Part>(context, report),
        Event::Error { code, reason } => context.error(KafkaError::Global(code), reason.trim()),
        Event::Stats(snapshot) => context.stats_raw(&stats.json(&snapshot)),
    }
}

// ---------------------------------------------------------------------------------------
// BaseProducer
// ---------------------------------------------------------------------------------------

/// The low-level producer: `send` queues a record and returns at once; delivery reports
/// reach [`ProducerContext::delivery`] during [`poll`](BaseProducer::poll) and
/// [`flush`](Producer::flush), on the calling thread.
///
/// Call `poll` regularly (or use a [`ThreadedProducer`]): reports not served keep counting
/// against `queue.buffering.max.messages`. Dropping the producer purges what is still
/// queued or in flight, serves those reports (`PurgeQueue`/`PurgeInflight`) for up to
/// 500 ms, and stops the background thread.
pub struct BaseProducer<C = DefaultProducerContext, Part = NoCustomPartitioner>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    client: Client<C>,
    driver: Driver<C::DeliveryOpaque>,
    stats: StatsMeta,
    /// Reports are dispatched on the driver thread (the `FutureProducer`).
    inline: bool,
    _partitioner: PhantomData<fn() -> Part>,
}

impl FromClientConfig for BaseProducer<DefaultProducerContext> {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultProducerContext)
    }
}

impl<C, Part> FromClientConfigAndContext<C> for BaseProducer<C, Part>
where
    Part: Partitioner + 'static,
    C: ProducerContext<Part> + 'static,
    C::DeliveryOpaque: 'static,
{
    fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        Self::create(config, Arc::new(context), |_| None)
    }
}

impl<C, Part> BaseProducer<C, Part>
where
    Part: Partitioner + 'static,
    C: ProducerContext<Part> + 'static,
    C::DeliveryOpaque: 'static,
{
    /// Creates the producer; with a `dispatcher`, events are handed to it on the driver
    /// thread instead of being queued for `poll`.
    pub(crate) fn create(
        config: &ClientConfig,
        context: Arc<C>,
        dispatcher: impl FnOnce(&StatsMeta) -> Option<InlineDispatch<C::DeliveryOpaque>>,
    ) -> KafkaResult<Self> {
        let cfg = producer_config(config)?;
        let bootstrap = cfg.bootstrap_servers.clone();
        let client_id = cfg.client_id.clone();
        let stats = StatsMeta::new(&cfg.client_id);
        let dispatcher = dispatcher(&stats);
        let inline = dispatcher.is_some();
        let partitioner: Option<Box<dyn CustomPartitioner>> =
            context.get_custom_partitioner().is_some().then(|| {
                Box::new(ContextPartitioner::<C, Part> {
                    context: Arc::clone(&context),
                    _part: PhantomData,
                }) as Box<dyn CustomPartitioner>
            });
        let driver = Driver::start(
            cfg,
            |engine| {
                if let Some(p) = partitioner {
                    engine.set_custom_partitioner(p);
                }
            },
            dispatcher,
            Some({
                let context = Arc::clone(&context);
                Box::new(move |level, fac: &str, message: &str| context.log(level, fac, message))
            }),
            config.log_level,
        )
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        tracing::debug!(target: "rdkafka::producer", "producer created");
        Ok(Self {
            client: Client::new(
                context,
                bootstrap,
                client_id,
                Arc::clone(&driver.shared().fatal),
            ),
            driver,
            stats,
            inline,
            _partitioner: PhantomData,
        })
    }
}

impl<C, Part> BaseProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    pub(super) fn shared(&self) -> &Arc<Shared<C::DeliveryOpaque>> {
        self.driver.shared()
    }

    /// Serves delivery reports and errors until `timeout` has passed (at least once; a zero
    /// timeout serves what is ready and returns).
    pub fn poll<T: Into<Timeout>>(&self, timeout: T) {
        let deadline: Deadline = timeout.into().into();
        self.poll_until(&deadline, |_| false);
    }

    /// [`poll`](Self::poll) that also returns when `done()` (checked after every wakeup).
    pub(crate) fn poll_until(
        &self,
        deadline: &Deadline,
        done: impl Fn(&State<C::DeliveryOpaque>) -> bool,
    ) {
        let shared = self.shared();
        loop {
            let (events, taken) = {
                let mut st = shared.lock();
                loop {
                    // With inline dispatch the driver serves the events itself.
                    let ready = !self.inline && !st.events_is_empty();
                    if ready || shared.stopping() || done(&st) {
                        break;
                    }
                    let left = deadline.remaining();
                    if left.is_zero() {
                        break;
                    }
                    st = shared.wait(st, (left != Duration::MAX).then_some(left));
                }
                if self.inline {
                    Default::default()
                } else {
                    Shared::take_events(&mut st)
                }
            };
            for ev in events {
                dispatch::<C, Part>(self.client.context(), &self.stats, ev);
            }
            shared.served(taken);
            if deadline.elapsed() || shared.stopping() || done(&shared.lock()) {
                break;
            }
        }
    }

    /// Queues a record. Never blocks. On failure (`QueueFull`, `MessageSizeTooLarge`,
    /// `UnknownPartition`, `UnknownTopic`, ...) the record comes back with the error.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), (KafkaError, BaseRecord<'a, K, P, C::DeliveryOpaque>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send_with(record, |o, _| (o, ()), |o, ()| o)
    }

    /// [`send`](Self::send) with the record's delivery opaque made by `make` while the engine
    /// lock is held, so that whatever `make` claims (`T`, returned once the record is queued)
    /// is claimed by one thread at a time: the FutureProducer's completion slots. `make` also
    /// gets the record's timestamp (ms, as written into the batch). A record the engine
    /// refuses gets `unmake` of the opaque and the claim back.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub(crate) fn send_with<'a, K, P, D: IntoOpaque, T>(
        &self,
        record: BaseRecord<'a, K, P, D>,
        make: impl FnOnce(D, i64) -> (C::DeliveryOpaque, T),
        unmake: impl FnOnce(C::DeliveryOpaque, T) -> D,
    ) -> Result<T, (KafkaError, BaseRecord<'a, K, P, D>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let BaseRecord {
            topic,
            partition,
            payload,
            key,
            timestamp,
            headers,
            delivery_opaque,
        } = record;
        // Up to INLINE_HEADERS headers are passed from the stack: no allocation per send.
        let mut inline_headers = [RecordHeader {
            key: "",
            value: None,
        }; INLINE_HEADERS];
        let mut header_vec = Vec::new();
        let header_list: &[RecordHeader<'_>] = match &headers {
            Some(h) if h.count() > INLINE_HEADERS => {
                header_vec.extend(h.iter().map(|h| RecordHeader {
                    key: h.key,
                    value: h.value,
                }));
                &header_vec
            }
            Some(h) => {
                let n = h.count();
                for (slot, h) in inline_headers.iter_mut().zip(h.iter()) {
                    *slot = RecordHeader {
                        key: h.key,
                        value: h.value,
                    };
                }
                &inline_headers[..n]
            }
            None => &[],
        };
        let rec = Record {
            topic,
            partition: partition.filter(|p| *p != super::PARTITION_UA),
            key: key.map(ToBytes::to_bytes),
            value: payload.map(ToBytes::to_bytes),
            headers: header_list,
            timestamp_ms: 0,
        };
        let shared = self.shared();
        // Read before the lock, not under it: the clock read (~25 ns on a VM's TSC) made every
        // hold of the engine lock longer, and the driver thread spins on it. The instant may be
        // a little older than one the driver already passed in; the engine's time arithmetic
        // saturates, and a CreateTime of the call's start is as right as one of its end.
        let now = shared.now();
        let mut st = shared.lock();
        let rec = Record {
            timestamp_ms: match timestamp {
                // librdkafka treats 0 as "now", like no timestamp.
                None | Some(0) => shared.wall_ms(now),
                Some(t) => t,
            },
            ..rec
        };
        // `claim` stays in this frame until it is returned: moved through a result tuple
        // first, it was copied between stack slots with loads wider than, or offset from,
        // the stores that wrote it (store-forwarding stalls, the top samples of this
        // function for the FutureProducer).
        let (delivery_opaque, claim) = make(delivery_opaque, rec.timestamp_ms);
        // Like librdkafka, a record counts against the queue limits until its report is
        // served (the driver tells the engine about reports it took and did not serve).
        let r = st.engine.send(now, rec, delivery_opaque);
        // Even a refused record may have started work (e.g. a metadata refresh).
        let wake = shared.service_after_send(&mut st, now);
        drop(st);
        if wake {
            shared.wake_driver();
        }
        match r {
            Ok(()) => Ok(claim),
            Err(e) => Err((
                refusal(e.code, topic),
                BaseRecord {
                    topic,
                    partition,
                    payload,
                    key,
                    timestamp,
                    headers,
                    delivery_opaque: unmake(e.opaque, claim),
                },
            )),
        }
    }

    /// Records queued, in flight, or whose report was not served.
    fn in_flight(&self) -> usize {
        self.shared().lock().engine.in_flight_count()
    }

    pub(super) fn flush_inner(&self, timeout: Timeout) -> KafkaResult<()> {
        let shared = self.shared();
        {
            let mut st = shared.lock();
            let now = shared.now();
            st.flushers += 1;
            st.engine.flush(now);
            shared.service(&mut st);
        }
        let deadline: Deadline = timeout.into();
        let result = loop {
            self.poll_until(&deadline, |st| st.engine.in_flight_count() == 0);
            if self.in_flight() == 0 {
                break Ok(());
            }
            if deadline.elapsed() || shared.stopping() {
                break Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
            }
        };
        let mut st = shared.lock();
        st.flushers -= 1;
        if result.is_err() && st.flushers == 0 {
            // librdkafka ignores linger only while a flush waits.
            st.engine.cancel_flush();
        }
        result
    }

    fn purge_inner(&self, flags: PurgeConfig) {
        let shared = self.shared();
        let mut st = shared.lock();
        let now = shared.now();
        st.engine.purge(now, flags.to_engine());
        shared.service(&mut st);
    }

    /// Wakes threads blocked in `poll` (used to stop the polling thread promptly).
    pub(crate) fn interrupt_pollers(&self) {
        self.shared().notify_all_pollers();
    }

    /// The state shared with the driver (for the future producer's queue-space waits).
    pub(crate) fn shared_state(&self) -> &Arc<Shared<C::DeliveryOpaque>> {
        self.shared()
    }
}

impl<C, Part> Producer<C, Part> for BaseProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    fn client(&self) -> &Client<C> {
        &self.client
    }

    fn in_flight_count(&self) -> i32 {
        i32::try_from(self.in_flight()).unwrap_or(i32::MAX)
    }

    fn flush<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.flush_inner(timeout.into())
    }

    fn purge(&self, flags: PurgeConfig) {
        self.purge_inner(flags);
    }

    fn init_transactions<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.init_transactions_inner(timeout.into())
    }

    fn begin_transaction(&self) -> KafkaResult<()> {
        self.begin_transaction_inner()
    }

    fn commit_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.commit_transaction_inner(timeout.into())
    }

    fn send_offsets_to_transaction<T: Into<Timeout>>(
        &self,
        offsets: &TopicPartitionList,
        cgm: &ConsumerGroupMetadata,
        timeout: T,
    ) -> KafkaResult<()> {
        self.send_offsets_inner(offsets, cgm, timeout.into())
    }

    fn abort_transaction<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.abort_transaction_inner(timeout.into())
    }
}

impl<C, Part> Drop for BaseProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
{
    fn drop(&mut self) {
        self.purge_inner(PurgeConfig::default().queue().inflight());
        if let Err(err) = self.flush_inner(Timeout::After(Duration::from_millis(500))) {
            tracing::warn!(
                target: "rdkafka::producer",
                "Failed to flush outstanding messages while dropping the producer: {:?}",
                err
            );
        }
        self.driver.stop();
    }
}

// ---------------------------------------------------------------------------------------
// ThreadedProducer
// ---------------------------------------------------------------------------------------

/// A [`BaseProducer`] with a thread (named `"producer polling thread"`) that polls it, so
/// delivery callbacks run without the application polling. Clones share the producer and
/// the thread, which stops when the last clone is dropped.
#[must_use = "The threaded producer will stop immediately if unused"]
pub struct ThreadedProducer<C, Part: Partitioner = NoCustomPartitioner>
where
    C: ProducerContext<Part> + 'static,
{
    producer: Arc<BaseProducer<C, Part>>,
    should_stop: Arc<AtomicBool>,
    handle: Option<Arc<JoinHandle<()>>>,
}

impl FromClientConfig for ThreadedProducer<DefaultProducerContext, NoCustomPartitioner> {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultProducerContext)
    }
}

impl<C, Part> FromClientConfigAndContext<C> for ThreadedProducer<C, Part>
where
    Part: Partitioner + Send + Sync + 'static,
    C: ProducerContext<Part> + 'static,
    C::DeliveryOpaque: 'static,
{
    fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        let producer = Arc::new(BaseProducer::from_config_and_context(config, context)?);
        let should_stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let producer = Arc::clone(&producer);
            let should_stop = Arc::clone(&should_stop);
            thread::Builder::new()
                .name("producer polling thread".to_owned())
                .spawn(move || {
                    tracing::trace!("Polling thread loop started");
                    loop {
                        let deadline = Deadline::new(Some(Duration::from_millis(100)));
                        producer.poll_until(&deadline, |_| should_stop.load(Ordering::Acquire));
                        if should_stop.load(Ordering::Acquire) {
                            break;
                        }
                    }
                    tracing::trace!("Polling thread loop terminated");
                })
                .map_err(|e| {
                    KafkaError::ClientCreation(format!("could not start the polling thread: {e}"))
                })?
        };
        Ok(Self {
            producer,
            should_stop,
            handle: Some(Arc::new(thread)),
        })
    }
}

impl<C, Part> ThreadedProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part> + 'static,
{
    /// Queues a record; see [`BaseProducer::send`].
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), (KafkaError, BaseRecord<'a, K, P, C::DeliveryOpaque>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.producer.send(record)
    }

    /// Serves reports on this thread too (the polling thread already does).
    pub fn poll<T: Into<Timeout>>(&self, timeout: T) {
        self.producer.poll(timeout);
    }
}

impl<C, Part> Producer<C, Part> for ThreadedProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part> + 'static,
{
    fn client(&self) -> &Client<C> {
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

impl<C: ProducerContext + 'static> Clone for ThreadedProducer<C> {
    fn clone(&self) -> Self {
        Self {
            producer: Arc::clone(&self.producer),
            should_stop: Arc::clone(&self.should_stop),
            handle: self.handle.clone(),
        }
    }
}

impl<C, Part> Drop for ThreadedProducer<C, Part>
where
    Part: Partitioner,
    C: ProducerContext<Part> + 'static,
{
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take().and_then(Arc::into_inner) {
            self.should_stop.store(true, Ordering::Release);
            self.producer.interrupt_pollers();
            if handle.join().is_err() {
                tracing::warn!(target: "rdkafka::producer", "the producer polling thread panicked");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::ClientContext;
    use crate::message::Message;
    use crate::util::current_time_millis;
    use purekafka_testkit::sink::{SinkBroker, SinkOptions};

    #[test]
    fn config_errors_map_to_rdkafka_variants() {
        let mut c = ClientConfig::new();
        c.set("no.such.property", "x");
        match producer_config(&c) {
            Err(KafkaError::ClientConfig(res, _, key, value)) => {
                assert_eq!(res, RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN);
                assert_eq!((key.as_str(), value.as_str()), ("no.such.property", "x"));
            }
            other => panic!("{other:?}"),
        }
        let mut c = ClientConfig::new();
        c.set("linger.ms", "not a number");
        assert!(matches!(
            producer_config(&c),
            Err(KafkaError::ClientConfig(
                RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
                ..
            ))
        ));
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "h:1").set("linger.ms", "7");
        let cfg = producer_config(&c).unwrap();
        assert_eq!(cfg.linger, Duration::from_millis(7));
        assert_eq!(cfg.bootstrap_servers.len(), 1);
    }

    #[test]
    fn send_without_brokers_never_blocks_and_purge_empties_the_queue() {
        // Nothing listens on port 1; records wait for metadata until purged by the drop.
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .unwrap();
        for _ in 0..100 {
            p.send(BaseRecord::<(), str>::to("t").payload("x"))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        assert_eq!(p.in_flight_count(), 100);
        p.purge(PurgeConfig::default().queue());
        p.poll(Duration::ZERO);
        assert_eq!(p.in_flight_count(), 0);
    }

    #[test]
    fn default_create_time_is_the_wall_clock() {
        use std::sync::Mutex;
        struct Capture(Mutex<Vec<Timestamp>>);
        impl ClientContext for Capture {}
        impl ProducerContext for Capture {
            type DeliveryOpaque = ();
            fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
                let m = match r {
                    Ok(m) | Err((_, m)) => m,
                };
                self.0.lock().unwrap().push(m.timestamp());
            }
        }
        let p: BaseProducer<Capture> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create_with_context(Capture(Mutex::new(Vec::new())))
            .unwrap();
        let before = current_time_millis();
        for _ in 0..3 {
            p.send(BaseRecord::<(), str>::to("t").payload("x"))
                .map_err(|(e, _)| e)
                .unwrap();
            // Past the 1 s re-read of the system clock for the last record.
            thread::sleep(Duration::from_millis(600));
        }
        let after = current_time_millis();
        p.purge(PurgeConfig::default().queue());
        p.poll(Duration::ZERO);
        let got = std::mem::take(&mut *p.context().0.lock().unwrap());
        assert_eq!(got.len(), 3);
        let mut last = 0;
        for t in got {
            let Timestamp::CreateTime(ms) = t else {
                panic!("{t:?}")
            };
            // Derived from the monotonic clock: within a few ms of the system clock.
            assert!(
                ms >= before - 5 && ms <= after + 5,
                "{before} <= {ms} <= {after}"
            );
            assert!(ms >= last);
            last = ms;
        }
    }

    /// A sink broker (acks at once) and a `linger.ms=0` producer on it, with `props` set.
    fn on_sink(props: &[(&str, &str)]) -> (SinkBroker, BaseProducer) {
        let sink = SinkBroker::start(SinkOptions::default()).unwrap();
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", sink.bootstrap())
            .set("linger.ms", "0");
        for (k, v) in props {
            c.set(*k, *v);
        }
        let p = c.create().unwrap();
        (sink, p)
    }

    #[test]
    fn compressed_batches_at_linger_zero_wait_on_no_blocking_pool_thread() {
        // A finished compression makes the engine's deferred deadline due again; the driver
        // once re-armed before building the requests, took that for a stuck deadline and
        // slept 1 ms on the blocking pool per wake-up (about one per request).
        let (sink, p) = on_sink(&[
            ("compression.type", "lz4"),
            // Small batches: many compressions and wake-ups even in a debug build.
            ("batch.num.messages", "100"),
        ]);
        let value = [b'v'; 100];
        for _ in 0..50_000 {
            let mut rec = BaseRecord::<(), [u8]>::to("t").payload(&value[..]);
            loop {
                match p.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        rec = r;
                        p.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => panic!("{e}"),
                }
            }
        }
        p.flush(Duration::from_secs(30)).unwrap();
        let requests = sink.counters().produce_requests;
        let sleeps = p.shared().blocking_sleeps.load(Ordering::Relaxed);
        // Enough wake-ups for a per-request cost to show.
        assert!(requests >= 200, "only {requests} produce requests");
        assert!(
            sleeps * 10 < requests,
            "{sleeps} blocking-pool sleeps for {requests} produce requests"
        );
    }

    #[test]
    fn unserved_reports_count_against_the_byte_limit() {
        // librdkafka counts a record against queue.buffering.max.kbytes until its report is
        // served: a producer that never polls gets QueueFull, not unbounded memory, also
        // when the byte limit binds before the message limit.
        let (sink, p) = on_sink(&[("queue.buffering.max.kbytes", "1024")]);
        let value = vec![b'v'; 100 * 1024];
        let mut accepted = 0;
        for _ in 0..100 {
            match p.send(BaseRecord::<(), [u8]>::to("t").payload(&value[..])) {
                Ok(()) => accepted += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => break,
                Err((e, _)) => panic!("{e}"),
            }
            // Time for the sink to acknowledge: the records leave the queue, their
            // reports wait for a poll that never comes.
            thread::sleep(Duration::from_millis(5));
        }
        // 1 MiB holds ten 100 KiB records.
        assert_eq!(accepted, 10, "{accepted} records accepted without a poll");
        assert_eq!(p.in_flight_count(), 10);
        // Serving the reports frees the space.
        p.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(p.in_flight_count(), 0);
        p.send(BaseRecord::<(), [u8]>::to("t").payload(&value[..]))
            .map_err(|(e, _)| e)
            .unwrap();
        assert!(sink.counters().records >= 10);
    }
}
