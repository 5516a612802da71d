//! `BaseProducer` against the real broker: what it writes is read back by the reference Java
//! consumer, and its delivery reports and errors behave like rdkafka's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::message::{Header, OwnedHeaders, Timestamp};
use purekafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Partitioner, Producer, ProducerContext,
    PurgeConfig,
};
use purekafka::{ClientConfig, ClientContext};
use purekafka_testkit::broker::Kafka;

use producer_common::{Recorder, Report, config, read_back, topic_keeping_old_records};

/// What one test record looks like, for comparing with the Java reader's view.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

fn producer(kafka: &Kafka, extra: &[(&str, &str)]) -> BaseProducer<Recorder> {
    let mut c = config(kafka);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create_with_context(Recorder::default()).unwrap()
}

fn send_ok(p: &BaseProducer<Recorder>, rec: BaseRecord<'_, [u8], [u8], usize>) {
    if let Err((e, _)) = p.send(rec) {
        panic!("send failed: {e}");
    }
}

#[test]
fn records_round_trip_through_the_java_consumer() {
    let kafka = Kafka::shared().unwrap();
    // The records carry 2023 timestamps.
    let topic = topic_keeping_old_records(&kafka, "base-roundtrip", 3);
    let p = producer(&kafka, &[]);
    let base_ts = 1_700_000_000_000_i64;
    let mut sent = Vec::new();
    for i in 0..60_usize {
        let partition = (i % 3) as i32;
        let key = match i % 4 {
            0 => None,
            1 => Some(Vec::new()),
            _ => Some(format!("key-{i}").into_bytes()),
        };
        let value = match i % 5 {
            0 => None,
            1 => Some(Vec::new()),
            _ => Some(vec![i as u8; i * 7]),
        };
        let headers: Vec<(String, Option<Vec<u8>>)> = match i % 3 {
            0 => Vec::new(),
            1 => vec![("h".to_owned(), Some(b"v".to_vec()))],
            _ => vec![
                ("trace".to_owned(), Some(format!("t{i}").into_bytes())),
                ("null".to_owned(), None),
                ("trace".to_owned(), Some(Vec::new())),
            ],
        };
        let timestamp = base_ts + (i as i64 % 7) * 1000 - 3000;
        let mut rec = BaseRecord::with_opaque_to(&topic, i)
            .partition(partition)
            .timestamp(timestamp);
        if let Some(k) = &key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &value {
            rec = rec.payload(v.as_slice());
        }
        if !headers.is_empty() {
            let mut h = OwnedHeaders::new();
            for (k, v) in &headers {
                h = h.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            rec = rec.headers(h);
        }
        send_ok(&p, rec);
        sent.push(Sent {
            partition,
            key,
            value,
            headers,
            timestamp,
        });
    }
    p.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(p.in_flight_count(), 0);

    // Delivery reports: one per record, in send order per partition, with offsets 0.. and
    // the record's own data.
    let reports = p.context().reports();
    assert_eq!(reports.len(), sent.len());
    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_opaque: Vec<Option<Report>> = vec![None; sent.len()];
    for r in reports {
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.topic, topic);
        let expect = next_offset.entry(r.partition).or_insert(0);
        assert_eq!(r.offset, *expect, "offsets per partition follow send order");
        *expect += 1;
        let s = &sent[r.opaque];
        assert_eq!(r.partition, s.partition);
        assert_eq!(r.key, s.key);
        assert_eq!(r.value, s.value);
        assert_eq!(r.headers, s.headers);
        assert_eq!(r.timestamp, Timestamp::CreateTime(s.timestamp));
        let idx = r.opaque;
        by_opaque[idx] = Some(r);
    }

    // The Java consumer sees exactly what was sent, in per-partition send order.
    let consumed = read_back(&kafka, &topic, sent.len());
    assert_eq!(consumed.len(), sent.len());
    for c in &consumed {
        let (i, r) = by_opaque
            .iter()
            .enumerate()
            .find_map(|(i, r)| {
                r.as_ref()
                    .filter(|r| r.partition == c.partition && r.offset == c.offset)
                    .map(|r| (i, r))
            })
            .expect("every consumed record was reported");
        let s = &sent[i];
        assert_eq!(c.key, s.key, "record {i}");
        assert_eq!(c.value, s.value, "record {i}");
        assert_eq!(c.headers, s.headers, "record {i}");
        assert_eq!(c.timestamp, s.timestamp, "record {i}");
        assert_eq!(c.timestamp_type, "CreateTime");
        assert_eq!(r.partition, c.partition);
    }
}

#[test]
fn default_timestamp_is_the_send_time() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-ts", 1).unwrap();
    let p = producer(&kafka, &[]);
    let before = purekafka::util::current_time_millis();
    send_ok(
        &p,
        BaseRecord::with_opaque_to(&topic, 0).payload(b"x".as_slice()),
    );
    p.flush(Duration::from_secs(30)).unwrap();
    let after = purekafka::util::current_time_millis();
    let r = &p.context().reports()[0];
    let Timestamp::CreateTime(ts) = r.timestamp else {
        panic!("{:?}", r.timestamp)
    };
    assert!(
        (before..=after).contains(&ts),
        "{before} <= {ts} <= {after}"
    );
    let consumed = read_back(&kafka, &topic, 1);
    assert_eq!(consumed[0].timestamp, ts);
}

#[test]
fn every_codec_and_acks_setting() {
    let kafka = Kafka::shared().unwrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let topic = kafka
                .unique_topic(&format!("base-{codec}-{acks}"), 2)
                .unwrap();
            let p = producer(
                &kafka,
                &[
                    ("compression.codec", codec),
                    ("acks", acks),
                    ("linger.ms", "20"),
                ],
            );
            let n = 200;
            let values: Vec<Vec<u8>> = (0..n)
                .map(|i| format!("{codec}-{acks}-value-{i}-{}", "z".repeat(i % 50)).into_bytes())
                .collect();
            for (i, v) in values.iter().enumerate() {
                let k = format!("k{i}");
                send_ok(
                    &p,
                    BaseRecord::with_opaque_to(&topic, i)
                        .key(k.as_bytes())
                        .payload(v.as_slice()),
                );
            }
            p.flush(Duration::from_secs(30)).unwrap();
            let reports = p.context().reports();
            assert_eq!(reports.len(), n, "{codec} acks={acks}");
            for r in &reports {
                assert_eq!(r.error, None, "{codec} acks={acks}: {r:?}");
                if acks == "0" {
                    assert_eq!(r.offset, -1001, "acks=0 reports no offset");
                } else {
                    assert!(r.offset >= 0);
                }
            }
            let mut consumed = read_back(&kafka, &topic, n);
            assert_eq!(consumed.len(), n, "{codec} acks={acks}");
            consumed.sort_by_key(|c| c.key.clone());
            let mut got: Vec<Vec<u8>> = consumed.into_iter().map(|c| c.value.unwrap()).collect();
            got.sort();
            let mut want = values.clone();
            want.sort();
            assert_eq!(got, want, "{codec} acks={acks}");
        }
    }
}

#[test]
fn queue_full_after_queue_buffering_max_messages() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-qfull", 1).unwrap();
    let p = producer(
        &kafka,
        &[
            ("queue.buffering.max.messages", "10"),
            ("linger.ms", "5000"),
        ],
    );
    for i in 0..10 {
        send_ok(
            &p,
            BaseRecord::with_opaque_to(&topic, i).payload(b"v".as_slice()),
        );
    }
    let Err((e, rec)) = p.send(BaseRecord::with_opaque_to(&topic, 10).payload(b"v".as_slice()))
    else {
        panic!("the 11th record was accepted");
    };
    assert_eq!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    );
    assert_eq!(
        e.to_string(),
        "Message production error: QueueFull (Local: Queue full)"
    );
    assert_eq!(
        rec.delivery_opaque, 10,
        "the record comes back with its opaque"
    );
    assert_eq!(p.in_flight_count(), 10);
    p.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(p.context().reports().len(), 10);
    // Served reports free the queue.
    send_ok(&p, rec);
    p.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(p.context().reports().len(), 11);
}

#[test]
fn unserved_reports_count_against_the_queue_limit() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-unserved", 1).unwrap();
    let p = producer(
        &kafka,
        &[("queue.buffering.max.messages", "10"), ("linger.ms", "0")],
    );
    for i in 0..10 {
        send_ok(
            &p,
            BaseRecord::with_opaque_to(&topic, i).payload(b"v".as_slice()),
        );
    }
    // Delivered, but nobody polled: the reports still hold their queue slots, as in
    // librdkafka, so memory stays bounded for an application that forgets to poll.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(p.in_flight_count(), 10);
    let Err((e, rec)) = p.send(BaseRecord::with_opaque_to(&topic, 10).payload(b"v".as_slice()))
    else {
        panic!("accepted while 10 reports were unserved");
    };
    assert_eq!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    );
    p.poll(Duration::ZERO);
    assert_eq!(p.context().reports().len(), 10);
    assert_eq!(p.in_flight_count(), 0);
    send_ok(&p, rec);
    p.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(p.context().reports().len(), 11);
}

#[test]
fn message_size_too_large_is_refused_at_send() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-toolarge", 1).unwrap();
    let p = producer(&kafka, &[("message.max.bytes", "10000")]);
    let big = vec![0_u8; 20_000];
    let Err((e, _)) =
        p.send(BaseRecord::<(), [u8], usize>::with_opaque_to(&topic, 0).payload(big.as_slice()))
    else {
        panic!("accepted");
    };
    assert_eq!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
    );
    assert_eq!(
        e.to_string(),
        "Message production error: MessageSizeTooLarge (Broker: Message size too large)"
    );
    assert_eq!(p.in_flight_count(), 0);
}

#[test]
fn unknown_partition_and_unknown_topic() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-unknown", 2).unwrap();
    // librdkafka declares a topic missing once Metadata said so for
    // topic.metadata.propagation.max.ms (30 s by default).
    let p = producer(
        &kafka,
        &[
            ("message.timeout.ms", "20000"),
            ("topic.metadata.propagation.max.ms", "1000"),
        ],
    );
    // Learn the topic first.
    send_ok(
        &p,
        BaseRecord::with_opaque_to(&topic, 0).payload(b"v".as_slice()),
    );
    p.flush(Duration::from_secs(30)).unwrap();
    let Err((e, _)) = p.send(
        BaseRecord::<(), [u8], usize>::with_opaque_to(&topic, 1)
            .partition(7)
            .payload(b"v".as_slice()),
    ) else {
        panic!("partition 7 of 2 accepted");
    };
    assert_eq!(
        e.to_string(),
        "Message production error: UnknownPartition (Local: Unknown partition)"
    );

    // A topic that does not exist (the broker doesn't auto-create): the record fails, either
    // at once or in its report, with UnknownTopic (librdkafka reports it in the DR).
    let missing = format!("{topic}-does-not-exist");
    let start = Instant::now();
    match p
        .send(BaseRecord::<(), [u8], usize>::with_opaque_to(&missing, 2).payload(b"v".as_slice()))
    {
        Err((e, _)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::UnknownTopic),
            "{e}"
        ),
        Ok(()) => {
            p.flush(Duration::from_secs(30)).unwrap();
            let r = p
                .context()
                .reports()
                .into_iter()
                .find(|r| r.opaque == 2)
                .unwrap();
            let err = r.error.unwrap();
            assert!(
                err == "Message production error: UnknownTopic (Local: Unknown topic)"
                    || err.contains("UnknownTopicOrPartition"),
                "{err}"
            );
            assert_eq!(r.partition, -1);
        }
    }
    assert!(start.elapsed() < Duration::from_secs(20), "no hang");
}

#[test]
fn purge_queue_reports_purged_records() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-purge", 1).unwrap();
    let p = producer(&kafka, &[("linger.ms", "30000")]);
    for i in 0..5 {
        send_ok(
            &p,
            BaseRecord::with_opaque_to(&topic, i).payload(b"v".as_slice()),
        );
    }
    assert_eq!(p.in_flight_count(), 5);
    p.purge(PurgeConfig::default().queue());
    p.poll(Duration::from_millis(100));
    let reports = p.context().reports();
    assert_eq!(reports.len(), 5);
    for r in &reports {
        assert_eq!(
            r.error.as_deref(),
            Some("Message production error: PurgeQueue (Local: Purged in queue)")
        );
        assert_eq!(r.value.as_deref(), Some(b"v".as_slice()));
    }
    assert_eq!(p.in_flight_count(), 0);
    // Nothing was written.
    p.flush(Duration::from_secs(5)).unwrap();
}

#[test]
fn drop_purges_and_reports_queued_records() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-drop", 1).unwrap();
    let recorder = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));

    struct Ctx(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    impl ClientContext for Ctx {}
    impl ProducerContext for Ctx {
        type DeliveryOpaque = ();
        fn delivery(&self, r: &purekafka::message::DeliveryResult<'_>, _: ()) {
            let s = match r {
                Ok(_) => "ok".to_owned(),
                Err((e, _)) => e.to_string(),
            };
            self.0.lock().unwrap().push(s);
        }
    }
    let p: BaseProducer<Ctx> = config(&kafka)
        .set("linger.ms", "30000")
        .create_with_context(Ctx(std::sync::Arc::clone(&recorder)))
        .unwrap();
    for _ in 0..4 {
        p.send(BaseRecord::<(), str>::to(&topic).payload("v"))
            .map_err(|e| e.0)
            .unwrap();
    }
    drop(p);
    let got = recorder.lock().unwrap().clone();
    assert_eq!(
        got,
        vec!["Message production error: PurgeQueue (Local: Purged in queue)"; 4]
    );
}

#[test]
fn flush_times_out_and_records_time_out_without_brokers() {
    // Nothing listens on this port: every connection attempt is refused.
    let p: BaseProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("message.timeout.ms", "1500")
        .create_with_context(Recorder::default())
        .unwrap();
    p.send(BaseRecord::<(), str, usize>::with_opaque_to("t", 1).payload("v"))
        .map_err(|e| e.0)
        .unwrap();
    let start = Instant::now();
    let e = p.flush(Duration::from_millis(200)).unwrap_err();
    assert_eq!(e, KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
    assert!(start.elapsed() >= Duration::from_millis(200));
    p.flush(Duration::from_secs(10)).unwrap();
    let reports = p.context().reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].error.as_deref(),
        Some("Message production error: MessageTimedOut (Local: Message timed out)")
    );
    let errors = p.context().errors();
    assert!(
        errors
            .iter()
            .any(|(e, _)| *e == KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)),
        "{errors:?}"
    );
}

/// Always picks the last partition.
struct LastPartition;

impl Partitioner for LastPartition {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        partition_cnt: i32,
        is_available: impl Fn(i32) -> bool,
    ) -> i32 {
        assert!(is_available(partition_cnt - 1));
        partition_cnt - 1
    }
}

struct PartitionerCtx(LastPartition);

impl ClientContext for PartitionerCtx {}

impl ProducerContext<LastPartition> for PartitionerCtx {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &purekafka::message::DeliveryResult<'_>, _: ()) {
        use purekafka::Message;
        let m = r.as_ref().map_err(|(e, _)| e.clone()).unwrap();
        assert_eq!(m.partition(), 2);
    }

    fn get_custom_partitioner(&self) -> Option<&LastPartition> {
        Some(&self.0)
    }
}

#[test]
fn custom_partitioner_chooses_keyed_partitions() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-partitioner", 3).unwrap();
    let p: BaseProducer<PartitionerCtx, LastPartition> = config(&kafka)
        .create_with_context(PartitionerCtx(LastPartition))
        .unwrap();
    for i in 0..20 {
        let k = format!("k{i}");
        p.send(BaseRecord::<String, str>::to(&topic).key(&k).payload("v"))
            .map_err(|e| e.0)
            .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let consumed = read_back(&kafka, &topic, 20);
    assert!(consumed.iter().all(|c| c.partition == 2));
}

#[test]
fn default_context_and_config_errors() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-default", 1).unwrap();
    let p: BaseProducer = config(&kafka).create().unwrap();
    p.send(BaseRecord::<str, str>::to(&topic).payload("hello"))
        .map_err(|e| e.0)
        .unwrap();
    p.flush(Duration::from_secs(30)).unwrap();
    let _: &DefaultProducerContext = p.context();

    let e = ClientConfig::new()
        .set("no.such.property", "1")
        .create::<BaseProducer>()
        .err()
        .unwrap();
    assert!(matches!(e, KafkaError::ClientConfig(..)), "{e:?}");
    let e = ClientConfig::new()
        .set("enable.idempotence", "true")
        .set("acks", "1")
        .create::<BaseProducer>()
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..)
        ),
        "{e:?}"
    );
    let Err((e, _)) = p.send(BaseRecord::<str, str>::to("bad\0topic").payload("x")) else {
        panic!("NUL accepted");
    };
    assert!(matches!(e, KafkaError::Nul(_)));
}

#[test]
fn statistics_reach_the_context_as_rdkafka_json() {
    use purekafka::Statistics;
    use std::sync::Mutex;

    /// Keeps the default `stats_raw`, which parses the JSON into rdkafka's `Statistics` and
    /// calls `stats` only when it parses.
    #[derive(Default)]
    struct StatsCtx {
        parsed: Mutex<Vec<Statistics>>,
    }
    impl ClientContext for StatsCtx {
        fn stats(&self, s: Statistics) {
            self.parsed.lock().unwrap().push(s);
        }
    }
    impl ProducerContext for StatsCtx {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &purekafka::message::DeliveryResult<'_>, _: ()) {}
    }

    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-stats", 2).unwrap();
    let p: BaseProducer<StatsCtx> = config(&kafka)
        .set("statistics.interval.ms", "100")
        .set("client.id", "stats-test")
        .create_with_context(StatsCtx::default())
        .unwrap();
    for _ in 0..10 {
        p.send(BaseRecord::<(), str>::to(&topic).payload("v"))
            .map_err(|e| e.0)
            .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    p.poll(Duration::from_millis(350));
    let parsed = p.context().parsed.lock().unwrap().clone();
    assert!(parsed.len() >= 2, "{} statistics", parsed.len());
    let last = parsed.last().unwrap();
    assert_eq!(last.client_type, "producer");
    assert_eq!(last.client_id, "stats-test");
    assert!(
        last.name.starts_with("stats-test#producer-"),
        "{}",
        last.name
    );
    assert_eq!(last.txmsgs, 10);
    assert_eq!(last.msg_cnt, 0);
    let t = &last.topics[&topic];
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(t.partitions.values().map(|p| p.txmsgs).sum::<u64>(), 10);
    assert!(last.brokers.values().any(|b| b.state == "UP"));
    // The rolling windows cover one interval each: over all of them, every batch was
    // counted once and some request got its round trip measured.
    let batched: i64 = parsed
        .iter()
        .filter_map(|s| s.topics.get(&topic))
        .map(|t| t.batchcnt.sum)
        .sum();
    assert_eq!(batched, 10);
    assert!(
        parsed
            .iter()
            .filter_map(|s| s.topics.get(&topic))
            .all(|t| t.batchsize.cnt == t.batchcnt.cnt && t.batchsize.sum >= t.batchcnt.sum)
    );
    let rtts: Vec<_> = parsed
        .iter()
        .flat_map(|s| s.brokers.values())
        .filter_map(|b| b.rtt.as_ref())
        .filter(|w| w.cnt > 0)
        .collect();
    assert!(!rtts.is_empty(), "no rtt sample in any interval");
    assert!(
        rtts.iter()
            .all(|w| w.max > 0 && w.min <= w.p50 && w.p50 <= w.max)
    );
    assert!(
        parsed
            .iter()
            .flat_map(|s| s.brokers.values())
            .any(|b| b.int_latency.as_ref().is_some_and(|w| w.cnt > 0))
    );
}

#[test]
fn log_append_time_topics_report_the_broker_timestamp() {
    let kafka = Kafka::shared().unwrap();
    let topic = format!(
        "base-logappend-{}-{}",
        std::process::id(),
        purekafka::util::current_time_millis()
    );
    kafka
        .create_topic(&topic, 1, &[("message.timestamp.type", "LogAppendTime")])
        .unwrap();
    let p = producer(&kafka, &[]);
    let before = purekafka::util::current_time_millis();
    send_ok(
        &p,
        BaseRecord::with_opaque_to(&topic, 0)
            .payload(b"v".as_slice())
            .timestamp(1_000),
    );
    p.flush(Duration::from_secs(30)).unwrap();
    let r = &p.context().reports()[0];
    let Timestamp::LogAppendTime(ts) = r.timestamp else {
        panic!("{:?}", r.timestamp)
    };
    assert!(ts >= before - 1000, "broker time {ts}, before {before}");
    let consumed = read_back(&kafka, &topic, 1);
    assert_eq!(consumed[0].timestamp_type, "LogAppendTime");
    assert_eq!(consumed[0].timestamp, ts);
}

#[test]
fn connection_failures_are_logged_to_the_context() {
    use purekafka::config::RDKafkaLogLevel;
    use std::sync::Mutex;

    #[derive(Default)]
    struct LogCtx(Mutex<Vec<(RDKafkaLogLevel, String, String)>>);
    impl ClientContext for LogCtx {
        fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
            self.0
                .lock()
                .unwrap()
                .push((level, fac.to_owned(), message.to_owned()));
        }
    }
    impl ProducerContext for LogCtx {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &purekafka::message::DeliveryResult<'_>, _: ()) {}
    }

    let p: BaseProducer<LogCtx> = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(LogCtx::default())
        .unwrap();
    let start = Instant::now();
    let logged = loop {
        let logs = p.context().0.lock().unwrap().clone();
        if !logs.is_empty() || start.elapsed() > Duration::from_secs(10) {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (level, fac, message) = logged.first().expect("a log line");
    assert!(matches!(level, RDKafkaLogLevel::Error), "{level:?}");
    assert_eq!(fac, "FAIL");
    assert!(
        message.starts_with("127.0.0.1:1: Connect failed"),
        "{message}"
    );
}

#[test]
fn client_fetch_metadata() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("base-metadata", 3).unwrap();
    let p: BaseProducer = config(&kafka).create().unwrap();
    let md = p
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.topics().len(), 1);
    let t = &md.topics()[0];
    assert_eq!(t.name(), topic);
    assert_eq!(t.error(), None);
    assert_eq!(t.partitions().len(), 3);
    let broker_ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    assert_eq!(broker_ids, kafka.broker_ids().unwrap());
    assert!(md.orig_broker_id() >= 0);
    for (i, part) in t.partitions().iter().enumerate() {
        assert_eq!(part.id(), i as i32);
        assert!(broker_ids.contains(&part.leader()));
        assert_eq!(part.error(), None);
        assert!(!part.isr().is_empty());
    }
    // Every topic.
    let all = p
        .client()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert!(all.topics().iter().any(|t| t.name() == topic));
    // A missing topic comes back with its error.
    let missing = p
        .client()
        .fetch_metadata(Some("no-such-topic-here"), Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        missing.topics()[0].error(),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
    // No broker: a MetadataFetch error, in time.
    let down: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .create()
        .unwrap();
    let start = Instant::now();
    let e = down
        .client()
        .fetch_metadata(None, Duration::from_millis(500))
        .unwrap_err();
    assert!(matches!(e, KafkaError::MetadataFetch(_)), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
