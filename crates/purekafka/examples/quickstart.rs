//! The README's first command: `cargo run -p purekafka --example quickstart [host:port]`.
//!
//! Until the producer API lands, this produces our own record batches with a minimal Produce
//! request (purekafka-protocol's writer, the testkit's raw client), prints what the broker
//! acknowledged, and reads the topic back with the reference Java consumer.
//!
//! Uses the broker at the argument or `KAFKA_BOOTSTRAP`, or else starts a local Apache Kafka
//! that is stopped again when this exits.

use purekafka_protocol::batch::{RecordBatchWriter, RecordHeader, SealOptions};
use purekafka_protocol::compression::Compression;
use purekafka_testkit::broker::{BOOTSTRAP_ENV, BrokerOptions, Kafka};
use purekafka_testkit::java::{ReadOptions, ReadUntil, read_topic};
use purekafka_testkit::raw::RawClient;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var(BOOTSTRAP_ENV).ok())
        .filter(|b| !b.trim().is_empty());
    // A broker started here is private: dropping `kafka` stops it.
    let kafka = match bootstrap {
        Some(b) => Kafka::external(b.trim())?,
        None => {
            println!("no bootstrap servers given: starting a local Kafka broker...");
            Kafka::start(BrokerOptions::default())?
        }
    };
    let topic = kafka.unique_topic("quickstart", 3)?;
    println!("broker {} topic {topic}", kafka.bootstrap());

    let mut client = RawClient::connect(kafka.bootstrap())?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    for (partition, codec) in [Compression::None, Compression::Lz4, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let mut batch = RecordBatchWriter::new();
        for i in 0..3 {
            let key = format!("key-{i}");
            let value = format!("hello {i} from purekafka ({codec})");
            let headers = [RecordHeader {
                key: "source",
                value: Some(b"quickstart"),
            }];
            batch.append(
                now_ms,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                &headers,
            );
        }
        let sealed = batch.seal(&SealOptions {
            compression: codec,
            ..SealOptions::default()
        })?;
        let resp = client.produce(&topic, partition as i32, sealed.into_bytes())?;
        println!(
            "delivered {} records to {topic} [{partition}] at base offset {} (error code {})",
            batch.record_count(),
            resp.base_offset,
            resp.error_code
        );
    }

    let records = read_topic(
        &kafka.bootstrap(),
        &topic,
        &ReadOptions {
            until: ReadUntil::End,
            ..ReadOptions::default()
        },
    )?;
    println!(
        "read back {} records with the Java consumer:",
        records.len()
    );
    for r in &records {
        println!(
            "  [{}] offset {} key {:?} value {:?}",
            r.partition,
            r.offset,
            r.key.as_deref().map(String::from_utf8_lossy),
            r.value.as_deref().map(String::from_utf8_lossy),
        );
    }
    Ok(())
}
