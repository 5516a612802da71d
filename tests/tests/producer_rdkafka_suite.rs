//! rust-rdkafka 0.39's own producer tests (`tests/test_low_producers.rs`,
//! `tests/test_high_producers.rs`), re-written against purekafka with the same calls and the
//! same assertions. Differences: topics are created first (the test broker does not
//! auto-create them), and the fatal-error test (which needs librdkafka's test hook) is left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Kept in the shape of rdkafka's tests (its types and closures), not tidied up.
#![allow(clippy::type_complexity, clippy::result_large_err)]

mod producer_common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purekafka::ClientContext;
use purekafka::client::DefaultClientContext;
use purekafka::config::ClientConfig;
use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders, OwnedMessage};
use purekafka::producer::{
    BaseProducer, BaseRecord, FutureProducer, FutureRecord, Partitioner, Producer, ProducerContext,
    ThreadedProducer,
};
use purekafka::util::current_time_millis;
use purekafka_testkit::broker::Kafka;

/// Collects every report, like rdkafka's test `CollectingContext`.
#[derive(Clone)]
struct CollectingContext<Part: Partitioner = purekafka::producer::NoCustomPartitioner> {
    results: Arc<Mutex<Vec<(OwnedMessage, Option<KafkaError>, usize)>>>,
    partitioner: Option<Part>,
}

impl CollectingContext {
    fn new() -> Self {
        Self {
            results: Arc::new(Mutex::new(Vec::new())),
            partitioner: None,
        }
    }
}

impl<Part: Partitioner> CollectingContext<Part> {
    fn new_with_custom_partitioner(partitioner: Part) -> Self {
        Self {
            results: Arc::new(Mutex::new(Vec::new())),
            partitioner: Some(partitioner),
        }
    }
}

impl<Part: Partitioner + Send + Sync> ClientContext for CollectingContext<Part> {}

impl<Part: Partitioner + Send + Sync> ProducerContext<Part> for CollectingContext<Part> {
    type DeliveryOpaque = usize;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, delivery_opaque: usize) {
        let mut results = self.results.lock().unwrap();
        match delivery_result {
            Ok(message) => results.push((message.detach(), None, delivery_opaque)),
            Err((err, message)) => {
                results.push((message.detach(), Some(err.clone()), delivery_opaque));
            }
        }
    }

    fn get_custom_partitioner(&self) -> Option<&Part> {
        self.partitioner.as_ref()
    }
}

/// Always the same partition.
#[derive(Clone)]
struct FixedPartitioner(i32);

impl Partitioner for FixedPartitioner {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: i32, _: impl Fn(i32) -> bool) -> i32 {
        self.0
    }
}

/// Must never be called.
#[derive(Clone)]
struct PanicPartitioner;

impl Partitioner for PanicPartitioner {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: i32, _: impl Fn(i32) -> bool) -> i32 {
        panic!("partitioner should not be called");
    }
}

fn config(kafka: &Kafka) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap())
        .set("message.timeout.ms", "5000");
    c
}

#[test]
fn test_base_producer_queue_full() {
    let kafka = Kafka::shared().unwrap();
    let topic_name = kafka
        .unique_topic("test_base_producer_queue_full", 3)
        .unwrap();
    let producer: BaseProducer<CollectingContext> = config(&kafka)
        .set("queue.buffering.max.messages", "10")
        .create_with_context(CollectingContext::new())
        .unwrap();
    let results = (0..30)
        .map(|id| {
            producer.send(
                BaseRecord::with_opaque_to(&topic_name, id)
                    .payload("payload")
                    .key("key")
                    .timestamp(current_time_millis()),
            )
        })
        .collect::<Vec<_>>();
    while producer.in_flight_count() > 0 {
        producer.poll(Duration::from_millis(100));
    }
    let errors = results
        .iter()
        .filter(|&e| {
            matches!(
                e,
                &Err((
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    _
                ))
            )
        })
        .count();
    let success = results.iter().filter(|&r| r.is_ok()).count();
    assert_eq!(results.len(), 30);
    assert_eq!(success, 10);
    assert_eq!(errors, 20);
}

#[test]
fn test_base_producer_timeout() {
    let kafka = Kafka::shared().unwrap();
    let context = CollectingContext::new();
    let producer: BaseProducer<CollectingContext> = config(&kafka)
        .set("message.timeout.ms", "100")
        .create_with_context(context.clone())
        .unwrap();
    // A topic that does not exist: the records wait for it and expire.
    let topic_name = format!("test_base_producer_timeout-{}", current_time_millis());
    let results_count = (0..10)
        .map(|id| {
            producer.send(
                BaseRecord::with_opaque_to(&topic_name, id)
                    .payload("A")
                    .key("B"),
            )
        })
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(results_count, 10);
    std::thread::sleep(Duration::from_secs(5));
    producer.flush(Duration::from_secs(10)).unwrap();
    let delivery_results = context.results.lock().unwrap();
    let mut ids = HashSet::new();
    for (message, error, id) in &*delivery_results {
        assert_eq!(message.payload_view::<str>(), Some(Ok("A")));
        assert_eq!(message.key_view::<str>(), Some(Ok("B")));
        assert_eq!(
            error,
            &Some(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            ))
        );
        ids.insert(*id);
    }
    assert_eq!(ids.len(), 10);
}

struct HeaderCheckContext {
    ids: Arc<Mutex<HashSet<usize>>>,
}

impl ClientContext for HeaderCheckContext {}

impl ProducerContext for HeaderCheckContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, message_id: usize) {
        let message = delivery_result.as_ref().unwrap();
        if message_id % 2 == 0 {
            let headers = message.headers().unwrap();
            assert_eq!(headers.count(), 4);
            assert_eq!(
                headers.get(0),
                Header {
                    key: "header1",
                    value: Some(&[1, 2, 3, 4][..])
                }
            );
            assert_eq!(
                headers.get_as::<str>(1),
                Ok(Header {
                    key: "header2",
                    value: Some("value2")
                })
            );
            assert_eq!(
                headers.get_as::<[u8]>(2),
                Ok(Header {
                    key: "header3",
                    value: Some(&[][..])
                })
            );
            assert_eq!(
                headers.get_as::<[u8]>(3),
                Ok(Header {
                    key: "header4",
                    value: None
                })
            );
        } else {
            assert!(message.headers().is_none());
        }
        self.ids.lock().unwrap().insert(message_id);
    }
}

#[test]
fn test_base_producer_headers() {
    let kafka = Kafka::shared().unwrap();
    let ids_set = Arc::new(Mutex::new(HashSet::new()));
    let context = HeaderCheckContext {
        ids: ids_set.clone(),
    };
    let producer: BaseProducer<HeaderCheckContext> =
        config(&kafka).create_with_context(context).unwrap();
    let topic_name = kafka.unique_topic("test_base_producer_headers", 3).unwrap();
    let results_count = (0..10)
        .map(|id| {
            let mut record = BaseRecord::with_opaque_to(&topic_name, id).payload("A");
            if id % 2 == 0 {
                record = record.headers(
                    OwnedHeaders::new()
                        .insert(Header {
                            key: "header1",
                            value: Some(&[1, 2, 3, 4]),
                        })
                        .insert(Header {
                            key: "header2",
                            value: Some("value2"),
                        })
                        .insert(Header {
                            key: "header3",
                            value: Some(&[]),
                        })
                        .insert::<Vec<u8>>(Header {
                            key: "header4",
                            value: None,
                        }),
                );
            }
            producer.send::<str, str>(record)
        })
        .filter(|r| r.is_ok())
        .count();
    producer.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(results_count, 10);
    assert_eq!(ids_set.lock().unwrap().len(), 10);
}

#[test]
fn test_threaded_producer_send() {
    let kafka = Kafka::shared().unwrap();
    let context = CollectingContext::new();
    let producer: ThreadedProducer<CollectingContext> =
        config(&kafka).create_with_context(context.clone()).unwrap();
    let topic_name = kafka
        .unique_topic("test_threaded_producer_send", 3)
        .unwrap();
    let results_count = (0..10)
        .map(|id| {
            producer.send(
                BaseRecord::with_opaque_to(&topic_name, id)
                    .payload("A")
                    .key("B"),
            )
        })
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(results_count, 10);
    producer.flush(Duration::from_secs(10)).unwrap();
    let delivery_results = context.results.lock().unwrap();
    let mut ids = HashSet::new();
    for (message, error, id) in &*delivery_results {
        assert_eq!(message.payload_view::<str>(), Some(Ok("A")));
        assert_eq!(message.key_view::<str>(), Some(Ok("B")));
        assert_eq!(error, &None);
        ids.insert(*id);
    }
    assert_eq!(ids.len(), 10);
}

struct OpaqueArcContext;

impl ClientContext for OpaqueArcContext {}

impl ProducerContext for OpaqueArcContext {
    type DeliveryOpaque = Arc<Mutex<usize>>;

    fn delivery(&self, _: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        *opaque.lock().unwrap() += 1;
    }
}

#[test]
fn test_base_producer_opaque_arc() {
    let kafka = Kafka::shared().unwrap();
    let producer: BaseProducer<OpaqueArcContext> = config(&kafka)
        .create_with_context(OpaqueArcContext)
        .unwrap();
    let topic_name = kafka
        .unique_topic("test_base_producer_opaque_arc", 3)
        .unwrap();
    let shared_count = Arc::new(Mutex::new(0));
    let results_count = (0..10)
        .map(|_| {
            let record = BaseRecord::with_opaque_to(&topic_name, shared_count.clone()).payload("A");
            producer.send::<str, str>(record)
        })
        .filter(|r| r.is_ok())
        .count();
    producer.flush(Duration::from_secs(10)).unwrap();
    let shared_count = Arc::try_unwrap(shared_count).unwrap().into_inner().unwrap();
    assert_eq!(results_count, shared_count);
}

#[test]
fn test_register_custom_partitioner_linger_non_zero_key_null() {
    let kafka = Kafka::shared().unwrap();
    let context = CollectingContext::new_with_custom_partitioner(PanicPartitioner);
    let producer: BaseProducer<CollectingContext<PanicPartitioner>, PanicPartitioner> =
        config(&kafka)
            .set("sticky.partitioning.linger.ms", "10")
            .create_with_context(context.clone())
            .unwrap();
    let topic = kafka
        .unique_topic("test_register_custom_partitioner", 3)
        .unwrap();
    producer
        .send(BaseRecord::<(), str, usize>::with_opaque_to(&topic, 0).payload(""))
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let delivery_results = context.results.lock().unwrap();
    assert_eq!(delivery_results.len(), 1);
    for (_, error, _) in &*delivery_results {
        assert_eq!(*error, None);
    }
}

#[test]
fn test_custom_partitioner_threaded_producer() {
    let kafka = Kafka::shared().unwrap();
    let context = CollectingContext::new_with_custom_partitioner(FixedPartitioner(2));
    let producer: ThreadedProducer<CollectingContext<FixedPartitioner>, FixedPartitioner> =
        config(&kafka).create_with_context(context.clone()).unwrap();
    let topic_name = kafka
        .unique_topic("test_custom_partitioner_threaded", 3)
        .unwrap();
    let results_count = (0..10)
        .map(|id| {
            producer.send(
                BaseRecord::with_opaque_to(&topic_name, id)
                    .payload("")
                    .key(""),
            )
        })
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(results_count, 10);
    producer.flush(Duration::from_secs(10)).unwrap();
    let delivery_results = context.results.lock().unwrap();
    assert_eq!(delivery_results.len(), 10);
    for (message, error, _) in &*delivery_results {
        assert_eq!(error, &None);
        assert_eq!(message.partition(), 2);
    }
}

#[tokio::test]
async fn test_future_producer_send() {
    let kafka = Kafka::shared().unwrap();
    let producer: FutureProducer<DefaultClientContext> = config(&kafka).create().unwrap();
    let topic_name = kafka.unique_topic("test_future_producer_send", 3).unwrap();
    let results: Vec<_> = (0..10)
        .map(|_| producer.send_result(FutureRecord::to(&topic_name).payload("A").key("B")))
        .collect();
    for r in results {
        let delivery = r.map_err(|(e, _)| e).unwrap().await.unwrap().unwrap();
        assert!(delivery.offset >= 0);
    }
}

#[tokio::test]
async fn test_future_producer_send_fail() {
    let kafka = Kafka::shared().unwrap();
    let producer: FutureProducer<DefaultClientContext> = config(&kafka).create().unwrap();
    // rdkafka's test relies on an auto-created 1-partition topic named "topic".
    let topic = kafka.unique_topic("topic", 1).unwrap();
    let future = producer.send(
        FutureRecord::to(&topic)
            .payload("payload")
            .key("key")
            .partition(100)
            .headers(
                OwnedHeaders::new()
                    .insert(Header {
                        key: "0",
                        value: Some("A"),
                    })
                    .insert(Header {
                        key: "1",
                        value: Some("B"),
                    })
                    .insert(Header {
                        key: "2",
                        value: Some("C"),
                    }),
            ),
        Duration::from_secs(10),
    );
    match future.await {
        Err((kafka_error, owned_message)) => {
            assert_eq!(
                kafka_error.to_string(),
                "Message production error: UnknownPartition (Local: Unknown partition)"
            );
            assert_eq!(owned_message.topic(), topic);
            let headers = owned_message.headers().unwrap();
            assert_eq!(headers.count(), 3);
            assert_eq!(
                headers.get_as::<str>(2),
                Ok(Header {
                    key: "2",
                    value: Some("C")
                })
            );
        }
        e => panic!("Unexpected return value: {e:?}"),
    }
}

#[tokio::test]
async fn test_future_undelivered() {
    let delivery_future = {
        let mut config = ClientConfig::new();
        // There's no server running there
        config
            .set("bootstrap.servers", "localhost:47021")
            .set("message.timeout.ms", "1");
        let producer: FutureProducer = config.create().expect("Failed to create producer");
        producer
            .send_result(
                FutureRecord::to("topic")
                    .payload("payload")
                    .key("key")
                    .partition(100),
            )
            .expect("Failed to queue message")
        // drop producer. This should resolve the future as per purge API (couldn't be delivered)
    };
    match delivery_future.await {
        Ok(Err((kafka_error, owned_message))) => {
            assert_eq!(
                kafka_error.to_string(),
                "Message production error: PurgeQueue (Local: Purged in queue)"
            );
            assert_eq!(owned_message.topic(), "topic");
            assert_eq!(owned_message.key(), Some(b"key" as _));
            assert_eq!(owned_message.payload(), Some(b"payload" as _));
        }
        v => panic!("Unexpected return value: {v:?}"),
    }
}
