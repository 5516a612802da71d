//! Rough throughput of the producers against the real broker (not a timed assertion: it
//! prints msgs/s). Run with
//! `cargo test --release -p purekafka-tests --test producer_throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use std::sync::Mutex;

use purekafka::ClientContext;
use purekafka::config::ClientConfig;
use purekafka::error::KafkaError;
use purekafka::producer::{BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer};
use purekafka_testkit::broker::Kafka;

fn count() -> usize {
    std::env::var("PUREKAFKA_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn config(kafka: &Kafka) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap())
        .set("queue.buffering.max.messages", "1000000")
        .set("linger.ms", "5");
    c
}

#[test]
#[ignore = "throughput measurement; run explicitly in release mode"]
fn base_producer_throughput() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("tput-base", 3).unwrap();
    let producer: BaseProducer = config(&kafka).create().unwrap();
    let payload = [b'x'; 100];
    let n = count();
    let start = Instant::now();
    for _ in 0..n {
        let mut rec = BaseRecord::<(), [u8]>::to(&topic).payload(&payload[..]);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let el = start.elapsed();
    println!(
        "BaseProducer: {n} x 100 B in {el:.2?} = {:.0} msgs/s",
        n as f64 / el.as_secs_f64()
    );
}

#[test]
#[ignore = "throughput measurement; run explicitly in release mode"]
fn future_producer_throughput() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("tput-future", 3).unwrap();
    let producer: FutureProducer = config(&kafka).create().unwrap();
    let n = count();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async {
        let payload = [b'x'; 100];
        let mut futures = Vec::with_capacity(n);
        for _ in 0..n {
            let rec = FutureRecord::<(), [u8]>::to(&topic).payload(&payload[..]);
            match producer.send_result(rec) {
                Ok(f) => futures.push(f),
                Err((e, _)) => panic!("{e}"),
            }
        }
        // Like the BaseProducer run: flush (ignores linger), then collect the results.
        producer.flush(Duration::from_secs(60)).unwrap();
        for f in futures {
            f.await.unwrap().unwrap();
        }
    });
    let el = start.elapsed();
    println!(
        "FutureProducer (send_result): {n} x 100 B in {el:.2?} = {:.0} msgs/s",
        n as f64 / el.as_secs_f64()
    );
}

/// The last statistics JSON, to show the engine's state if a report never comes.
static LAST_STATS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct DiagContext;

impl ClientContext for DiagContext {
    fn stats_raw(&self, json: &[u8]) {
        *LAST_STATS.lock().unwrap() = json.to_vec();
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("client error {error}: {reason}");
    }
}

/// Every one of many records gets its report (none is stranded in the queue); on failure
/// prints the producer's statistics.
#[test]
#[ignore = "volume run; run explicitly in release mode"]
fn future_producer_volume_all_delivered() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("volume", 3).unwrap();
    let producer: FutureProducer<DiagContext> = config(&kafka)
        .set("statistics.interval.ms", "2000")
        .create_with_context(DiagContext)
        .unwrap();
    let n = count();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let payload = [b'x'; 100];
        let mut futures = Vec::with_capacity(n);
        for _ in 0..n {
            let rec = FutureRecord::<(), [u8]>::to(&topic).payload(&payload[..]);
            futures.push(producer.send_result(rec).map_err(|e| e.0).unwrap());
        }
        for (done, f) in futures.into_iter().enumerate() {
            if let Ok(r) = tokio::time::timeout(Duration::from_secs(20), f).await {
                r.unwrap().unwrap();
                continue;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            panic!(
                "no report 20 s after the last send: {done} of {n} delivered, in flight {}\n{}",
                producer.in_flight_count(),
                String::from_utf8_lossy(&LAST_STATS.lock().unwrap())
            );
        }
    });
}
