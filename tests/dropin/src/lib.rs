//! Code written only against rust-rdkafka 0.39's producer API (`rdkafka` here is purekafka
//! under rdkafka's name): [`run`] produces with each producer type and checks the results.
//! The binary runs it against a broker; `purekafka-tests` runs it in its test suite.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer,
    ProducerContext, ThreadedProducer,
};
use rdkafka::util::Timeout;

/// Any failure, described.
pub type Failure = Box<dyn std::error::Error>;

/// Counts deliveries and checks each report carries its record.
#[derive(Default)]
struct CountingContext {
    delivered: AtomicUsize,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        match result {
            Ok(m) => {
                let expected = format!("payload-{opaque}");
                let ok = m.payload_view::<str>() == Some(Ok(expected.as_str()))
                    && m.headers().map(|h| h.count()) == Some(1)
                    && m.offset() >= 0;
                if ok {
                    self.delivered.fetch_add(1, Ordering::SeqCst);
                } else {
                    self.failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("record {opaque}: unexpected report {m:?}"));
                }
            }
            Err((e, m)) => self
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("record {opaque} to {}: {e}", m.topic())),
        }
    }
}

fn base_producer(bootstrap: &str, topic: &str) -> Result<(), Failure> {
    let producer: BaseProducer<CountingContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        .create_with_context(CountingContext::default())?;
    // The usual connectivity check.
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), Timeout::After(Duration::from_secs(10)))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len());
    if partitions != Some(2) {
        return Err(format!("metadata for {topic}: {partitions:?} partitions").into());
    }
    for i in 0..100_usize {
        let payload = format!("payload-{i}");
        let key = format!("key-{}", i % 7);
        let headers = OwnedHeaders::new().insert(Header {
            key: "index",
            value: Some(&i.to_string()),
        });
        let record = BaseRecord::with_opaque_to(topic, Box::new(i))
            .key(&key)
            .payload(&payload)
            .headers(headers);
        if let Err((e, _)) = producer.send(record) {
            return Err(format!("send {i}: {e}").into());
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Timeout::After(Duration::from_secs(30)))?;
    let ctx = producer.context();
    let failed = ctx.failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !failed.is_empty() {
        return Err(failed.join("\n").into());
    }
    let delivered = ctx.delivered.load(Ordering::SeqCst);
    if delivered != 100 || producer.in_flight_count() != 0 {
        return Err(format!("BaseProducer: {delivered} of 100 delivered").into());
    }

    // Errors are matched the rdkafka way.
    let huge = vec![0_u8; 2_000_000];
    match producer.send(
        BaseRecord::with_opaque_to(topic, Box::new(0))
            .payload(&huge)
            .key("k"),
    ) {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => return Err(format!("expected MessageSizeTooLarge, got {:?}", other.err()).into()),
    }
    println!("BaseProducer: 100 records delivered");
    Ok(())
}

fn threaded_producer(bootstrap: &str, topic: &str) -> Result<(), Failure> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("compression.codec", "lz4")
        .create()?;
    for i in 0..50 {
        let payload = format!("threaded-{i}");
        producer
            .send(
                BaseRecord::<str, String>::to(topic)
                    .payload(&payload)
                    .partition(i % 2),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    println!("ThreadedProducer: 50 records flushed");
    Ok(())
}

async fn future_producer(bootstrap: &str, topic: &str) -> Result<(), Failure> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("queue.buffering.max.messages", "1")
        .set("linger.ms", "200")
        .create()?;
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "a",
            value: Some("1"),
        })
        .insert::<str>(Header {
            key: "null",
            value: None,
        });
    let delivery = producer
        .send(
            FutureRecord::to(topic)
                .key("future-key")
                .payload("future-payload")
                .timestamp(1_700_000_000_000)
                .headers(headers),
            Timeout::Never,
        )
        .await
        .map_err(|(e, m)| format!("{e} ({m:?})"))?;
    if delivery.partition < 0 || delivery.offset < 0 {
        return Err(format!("bad delivery {delivery:?}").into());
    }
    println!(
        "FutureProducer: delivered to partition {} offset {}",
        delivery.partition, delivery.offset
    );

    // A full queue with a zero queue timeout fails at once with QueueFull.
    let pending = producer
        .send_result(FutureRecord::<str, str>::to(topic).payload("fills the queue"))
        .map_err(|(e, _)| e)?;
    match producer
        .send(
            FutureRecord::<str, str>::to(topic).payload("no room"),
            Duration::ZERO,
        )
        .await
    {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), m))
            if m.payload() == Some(b"no room".as_slice()) => {}
        other => return Err(format!("expected QueueFull, got {other:?}").into()),
    }
    match pending.await {
        Ok(Ok(_)) => {}
        other => return Err(format!("pending record: {other:?}").into()),
    }
    println!("FutureProducer: QueueFull handled");
    Ok(())
}

/// Produces to `topic` (which must exist, with 2 partitions) at `bootstrap` with a
/// BaseProducer, a ThreadedProducer and a FutureProducer, checking every outcome.
pub async fn run(bootstrap: &str, topic: &str) -> Result<(), Failure> {
    base_producer(bootstrap, topic)?;
    threaded_producer(bootstrap, topic)?;
    future_producer(bootstrap, topic).await?;
    Ok(())
}
