//! `FutureProducer` against the real broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::time::{Duration, Instant};

use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::message::{Header, Headers, Message, OwnedHeaders, Timestamp};
use purekafka::producer::future_producer::{Delivery, OwnedDeliveryResult};
use purekafka::producer::{FutureProducer, FutureRecord, Producer};
use purekafka::util::Timeout;
use purekafka_testkit::broker::Kafka;

use producer_common::{config, read_back, topic_keeping_old_records};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn send_resolves_to_the_delivery_and_reads_back() {
    let kafka = Kafka::shared().unwrap();
    // The records carry 2020 timestamps.
    let topic = topic_keeping_old_records(&kafka, "future-send", 2);
    let producer: FutureProducer = config(&kafka).create().unwrap();
    let rt = rt();
    let deliveries: Vec<Delivery> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..20_i64 {
            let key = format!("k{i}");
            let value = format!("v{i}");
            let headers = OwnedHeaders::new().insert(Header {
                key: "i",
                value: Some(&i.to_string()),
            });
            let rec = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .partition((i % 2) as i32)
                .timestamp(1_600_000_000_000 + i)
                .headers(headers);
            out.push(producer.send(rec, Duration::from_secs(5)).await.unwrap());
        }
        out
    });
    for (i, d) in deliveries.iter().enumerate() {
        assert_eq!(d.partition, (i % 2) as i32);
        assert_eq!(d.offset, (i / 2) as i64);
        assert_eq!(
            d.timestamp,
            Timestamp::CreateTime(1_600_000_000_000 + i as i64)
        );
    }
    let consumed = read_back(&kafka, &topic, 20);
    for c in consumed {
        let i = c.timestamp - 1_600_000_000_000;
        assert_eq!(c.key, Some(format!("k{i}").into_bytes()));
        assert_eq!(c.value, Some(format!("v{i}").into_bytes()));
        assert_eq!(
            c.headers,
            vec![("i".to_owned(), Some(i.to_string().into_bytes()))]
        );
        assert_eq!(c.partition, (i % 2) as i32);
    }
}

#[test]
fn send_result_futures_resolve_in_order() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-send-result", 1).unwrap();
    let producer: FutureProducer = config(&kafka).create().unwrap();
    let futures: Vec<_> = (0..500)
        .map(|i| {
            let v = format!("{i}");
            producer
                .send_result(FutureRecord::<(), String>::to(&topic).payload(&v))
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    // Resolved by the producer's own thread: no runtime, no polling needed.
    let offsets: Vec<i64> = rt().block_on(async {
        let mut v = Vec::new();
        for f in futures {
            v.push(f.await.unwrap().unwrap().offset);
        }
        v
    });
    assert_eq!(offsets, (0..500).collect::<Vec<i64>>());
    assert_eq!(producer.in_flight_count(), 0);
}

#[test]
fn more_futures_held_than_completion_slots_all_resolve() {
    // queue.buffering.max.messages 1000 gives the smallest slot ring (4096). Holding 10 000
    // unfinished futures (some dropped on the way) makes later records fall back to
    // per-record channels; every kept future still resolves to its own offset.
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-ring", 1).unwrap();
    let producer: FutureProducer = config(&kafka)
        .set("queue.buffering.max.messages", "1000")
        .create()
        .unwrap();
    let mut kept = Vec::new();
    for i in 0..10_000_i64 {
        let v = format!("{i}");
        let f = loop {
            match producer.send_result(FutureRecord::<(), String>::to(&topic).payload(&v)) {
                Ok(f) => break f,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.flush(Duration::from_secs(10)).unwrap();
                }
                Err((e, _)) => panic!("send {i}: {e}"),
            }
        };
        if i % 7 != 3 {
            kept.push((i, f));
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let got: Vec<(i64, i64)> = rt().block_on(async {
        let mut v = Vec::new();
        for (i, f) in kept {
            v.push((i, f.await.unwrap().unwrap().offset));
        }
        v
    });
    assert_eq!(got.len(), (0..10_000).filter(|i| i % 7 != 3).count());
    for (i, offset) in got {
        assert_eq!(offset, i);
    }
    // The ring is usable again once the futures are gone.
    let d = rt()
        .block_on(producer.send(
            FutureRecord::<(), str>::to(&topic).payload("last"),
            Duration::ZERO,
        ))
        .unwrap();
    assert_eq!(d.offset, 10_000);
    assert_eq!(read_back(&kafka, &topic, 10_001).len(), 10_001);
}

#[test]
fn queue_full_retries_until_the_queue_timeout() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-qfull", 1).unwrap();
    let producer: FutureProducer = config(&kafka)
        .set("queue.buffering.max.messages", "1")
        .set("linger.ms", "3000")
        .create()
        .unwrap();
    let rt = rt();
    rt.block_on(async {
        let first = producer
            .send_result(FutureRecord::<str, str>::to(&topic).payload("first"))
            .map_err(|(e, _)| e)
            .unwrap();

        // A zero timeout is a single attempt.
        let start = Instant::now();
        let (e, msg) = producer
            .send(
                FutureRecord::to(&topic).key("k").payload("second"),
                Duration::ZERO,
            )
            .await
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_millis(500));
        assert_eq!(
            e,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        );
        assert_eq!(msg.payload(), Some(b"second".as_slice()));
        assert_eq!(msg.key(), Some(b"k".as_slice()));
        assert_eq!(msg.topic(), topic);
        assert_eq!(msg.partition(), -1);
        assert_eq!(msg.timestamp(), Timestamp::NotAvailable);

        // A 1 s timeout keeps retrying for about a second (the queue stays full: linger 3 s).
        let start = Instant::now();
        let (e, _) = producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload("third"),
                Duration::from_secs(1),
            )
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert_eq!(
            e,
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
        );
        assert!(took >= Duration::from_millis(950), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");

        // Once the first record is delivered the queue has room again: a waiting send
        // gets in as soon as that happens.
        let fourth = producer.send(
            FutureRecord::<str, str>::to(&topic).payload("fourth"),
            Timeout::Never,
        );
        let (a, b) = tokio::join!(first, fourth);
        assert_eq!(a.unwrap().unwrap().offset, 0);
        assert_eq!(b.unwrap().offset, 1);
    });
}

#[test]
fn errors_hand_the_message_back() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-errors", 1).unwrap();
    let producer: FutureProducer = config(&kafka)
        .set("message.max.bytes", "5000")
        .create()
        .unwrap();
    let rt = rt();
    rt.block_on(async {
        producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload("x"),
                Duration::ZERO,
            )
            .await
            .unwrap();
        let big = vec![7_u8; 10_000];
        let (e, msg): (KafkaError, _) = producer
            .send(
                FutureRecord::<(), Vec<u8>>::to(&topic).payload(&big),
                Duration::ZERO,
            )
            .await
            .unwrap_err();
        assert_eq!(
            e,
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
        );
        assert_eq!(msg.payload().map(<[u8]>::len), Some(10_000));

        let headers = OwnedHeaders::new().insert(Header {
            key: "h",
            value: Some("v"),
        });
        let (e, msg) = producer
            .send(
                FutureRecord::<str, str>::to(&topic)
                    .payload("p")
                    .partition(9)
                    .headers(headers),
                Duration::ZERO,
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Message production error: UnknownPartition (Local: Unknown partition)"
        );
        assert_eq!(msg.partition(), 9);
        assert_eq!(msg.headers().unwrap().get(0).key, "h");
    });
}

#[test]
fn dropping_the_producer_resolves_pending_futures() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-drop", 1).unwrap();
    let producer: FutureProducer = config(&kafka).set("linger.ms", "30000").create().unwrap();
    let clone = producer.clone();
    let f = producer
        .send_result(FutureRecord::<str, str>::to(&topic).payload("x"))
        .map_err(|(e, _)| e)
        .unwrap();
    drop(producer);
    // A clone keeps the producer alive.
    assert_eq!(clone.in_flight_count(), 1);
    drop(clone);
    let r: Result<OwnedDeliveryResult, _> = rt().block_on(f);
    let (e, msg) = r.unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Message production error: PurgeQueue (Local: Purged in queue)"
    );
    assert_eq!(msg.payload(), Some(b"x".as_slice()));
}

#[test]
fn unreachable_cluster_times_out_records() {
    let producer: FutureProducer = purekafka::ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("message.timeout.ms", "1000")
        .create()
        .unwrap();
    let start = Instant::now();
    let (e, _) = rt()
        .block_on(producer.send(
            FutureRecord::<str, str>::to("t").payload("x"),
            Duration::ZERO,
        ))
        .unwrap_err();
    assert_eq!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// A future's timestamp is the record's own as the broker stored it: default CreateTimes
/// (taken at send, many records per lingered batch, so they differ within a batch) and a
/// LogAppendTime topic's broker time, both checked against the Java consumer.
#[test]
fn delivery_timestamps_are_the_stored_ones() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("future-create-time", 2).unwrap();
    let producer: FutureProducer = config(&kafka).set("linger.ms", "20").create().unwrap();
    let rt = rt();
    let n = 3_000;
    let deliveries: Vec<Delivery> = rt.block_on(async {
        let mut futures = Vec::new();
        for i in 0..n {
            let value = format!("v{i}");
            let rec = FutureRecord::<(), _>::to(&topic)
                .payload(&value)
                .partition(i % 2);
            futures.push(producer.send_result(rec).unwrap());
            if i % 500 == 0 {
                // Spread the sends over a few milliseconds.
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        let mut out = Vec::new();
        for f in futures {
            out.push(f.await.unwrap().unwrap());
        }
        out
    });
    let consumed = read_back(&kafka, &topic, n as usize);
    let stored: std::collections::HashMap<(i32, i64), i64> = consumed
        .iter()
        .map(|c| {
            assert_eq!(c.timestamp_type, "CreateTime");
            ((c.partition, c.offset), c.timestamp)
        })
        .collect();
    let mut distinct = std::collections::HashSet::new();
    for d in &deliveries {
        let Timestamp::CreateTime(ts) = d.timestamp else {
            panic!("{:?}", d.timestamp)
        };
        assert_eq!(Some(&ts), stored.get(&(d.partition, d.offset)), "{d:?}");
        distinct.insert(ts);
    }
    assert!(distinct.len() > 1, "the sends spanned several milliseconds");

    let topic = kafka
        .unique_topic_with(
            "future-log-append",
            1,
            &[("message.timestamp.type", "LogAppendTime")],
        )
        .unwrap();
    let before = purekafka::util::current_time_millis();
    let d = rt
        .block_on(
            producer.send(
                FutureRecord::<(), _>::to(&topic)
                    .payload("v")
                    .timestamp(1_000),
                Duration::from_secs(30),
            ),
        )
        .unwrap();
    let Timestamp::LogAppendTime(ts) = d.timestamp else {
        panic!("{:?}", d.timestamp)
    };
    assert!(ts >= before - 1_000, "broker time {ts}, before {before}");
    let consumed = read_back(&kafka, &topic, 1);
    assert_eq!(consumed[0].timestamp_type, "LogAppendTime");
    assert_eq!(consumed[0].timestamp, ts);
}
