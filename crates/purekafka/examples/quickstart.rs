//! The README's first command: `cargo run -p purekafka --example quickstart [host:port]`.
//!
//! Uses the broker at the argument or `KAFKA_BOOTSTRAP`, or else starts a local Apache Kafka
//! (stopped again when this exits). Creates a topic, produces records with the
//! rdkafka-compatible `FutureProducer`, prints each delivery, then reads the topic back with
//! the reference Java consumer.

use std::time::Duration;

use purekafka::ClientConfig;
use purekafka::message::{Header, OwnedHeaders};
use purekafka::producer::{FutureProducer, FutureRecord};
use purekafka_testkit::broker::{BOOTSTRAP_ENV, BrokerOptions, Kafka};
use purekafka_testkit::java::{ReadOptions, read_topic};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var(BOOTSTRAP_ENV).ok())
        .filter(|b| !b.trim().is_empty());
    // A broker started here is a private one: dropping `kafka` stops it.
    let kafka = match bootstrap {
        Some(b) => Kafka::external(b.trim())?,
        None => {
            println!("no bootstrap servers given: starting a local Kafka broker...");
            Kafka::start(BrokerOptions::default())?
        }
    };
    let topic = kafka.unique_topic("quickstart", 3)?;
    println!("broker {}, topic {topic}", kafka.bootstrap());

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("compression.type", "zstd")
        .set("message.timeout.ms", "10000")
        .create()?;

    for i in 0..9 {
        let key = format!("key-{i}");
        let value = format!("hello from purekafka, record {i}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "source",
            value: Some("quickstart"),
        });
        let record = FutureRecord::to(&topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        match producer.send(record, Duration::from_secs(0)).await {
            Ok(delivery) => println!(
                "delivered {key} to partition {} at offset {} ({:?})",
                delivery.partition, delivery.offset, delivery.timestamp
            ),
            Err((e, message)) => return Err(format!("{message:?} failed: {e}").into()),
        }
    }

    println!("reading back with the Java consumer...");
    for r in read_topic(&kafka.bootstrap(), &topic, &ReadOptions::default())? {
        let text = |b: &Option<Vec<u8>>| match b {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => "<null>".to_owned(),
        };
        println!(
            "  partition {} offset {}: key={} value={} headers={:?}",
            r.partition,
            r.offset,
            text(&r.key),
            text(&r.value),
            r.headers
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
