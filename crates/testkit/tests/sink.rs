//! The sink broker answers a raw client and the real producer, checks CRCs and counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::BrokerId;
use purekafka::ClientContext;
use purekafka::config::ClientConfig;
use purekafka::message::Message;
use purekafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use purekafka_protocol::batch::{RecordBatchWriter, SealOptions};
use purekafka_protocol::compression::Compression;
use purekafka_testkit::raw::{RawClient, produce_request};
use purekafka_testkit::sink::{NODE_ID, SinkBroker, SinkOptions};

fn batch(first: u32, n: u32, compression: Compression) -> Bytes {
    let mut w = RecordBatchWriter::new();
    for i in first..first + n {
        let v = format!("value-{i:06}-{}", "x".repeat(80));
        w.append(
            1_700_000_000_000 + i64::from(i),
            None,
            Some(v.as_bytes()),
            &[],
        );
    }
    let opts = SealOptions {
        compression,
        ..SealOptions::default()
    };
    w.seal(&opts).unwrap().into_bytes()
}

#[test]
fn raw_client_gets_metadata_producer_id_and_offsets() {
    let sink = SinkBroker::start(SinkOptions {
        partitions: 3,
        ..SinkOptions::default()
    })
    .unwrap();
    let mut c = RawClient::connect(sink.addr()).unwrap();

    let md = c.metadata(&["t1"]).unwrap();
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].node_id, BrokerId(NODE_ID));
    assert_eq!(md.brokers[0].port, i32::from(sink.addr().port()));
    assert_eq!(md.topics.len(), 1);
    assert_eq!(md.topics[0].error_code, 0);
    assert_eq!(md.topics[0].partitions.len(), 3);
    assert!(
        md.topics[0]
            .partitions
            .iter()
            .all(|p| p.leader_id == BrokerId(NODE_ID))
    );

    let (pid, epoch) = c.init_producer_id().unwrap();
    assert!(pid >= 1000, "{pid}");
    assert_eq!(epoch, 0);
    assert_ne!(c.init_producer_id().unwrap().0, pid);

    // Offsets are assigned per partition, in record counts; compressed batches pass too.
    let r = c.produce("t1", 1, batch(0, 10, Compression::None)).unwrap();
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    let r = c.produce("t1", 1, batch(10, 5, Compression::Lz4)).unwrap();
    assert_eq!((r.error_code, r.base_offset), (0, 10));
    let r = c.produce("t1", 2, batch(0, 7, Compression::None)).unwrap();
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    assert_eq!(sink.log_end_offset("t1", 1), Some(15));
    assert_eq!(sink.log_end_offset("t1", 2), Some(7));

    // One flipped byte after the CRC field: CORRUPT_MESSAGE, nothing appended.
    let mut bad = batch(0, 4, Compression::None).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let r = c.produce("t1", 1, Bytes::from(bad)).unwrap();
    assert_eq!(r.error_code, 2);
    assert_eq!(sink.log_end_offset("t1", 1), Some(15));

    // A partition the topic does not have.
    let r = c.produce("t1", 9, batch(0, 1, Compression::None)).unwrap();
    assert_eq!(r.error_code, 3);

    let k = sink.counters();
    assert_eq!(k.produce_requests, 5);
    assert_eq!(k.batches, 3);
    assert_eq!(k.records, 22);
    assert_eq!(k.crc_failures, 1);
    assert!(k.batch_bytes > 22 * 80, "{k:?}");
    assert_eq!(k.connections, 1);

    // acks=0: no response, but the records are taken (seen on the next acked request).
    let v = c
        .versions()
        .version(kafka_protocol::messages::ApiKey::Produce)
        .unwrap();
    let req = produce_request("t1", 0, batch(0, 6, Compression::None), 0);
    let mut buf = bytes::BytesMut::new();
    let id = c.next_correlation_id();
    purekafka_protocol::frame::encode_request(&mut buf, v, id, Some("t"), &req).unwrap();
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(sink.addr()).unwrap();
    s.write_all(&buf).unwrap();
    let r = c.produce("t1", 0, batch(6, 1, Compression::None)).unwrap();
    assert_eq!(r.error_code, 0);
    // The acks=0 request came on another connection: it may land before or after.
    assert!(
        r.base_offset == 0 || r.base_offset == 6,
        "{}",
        r.base_offset
    );
    for _ in 0..100 {
        if sink.log_end_offset("t1", 0) == Some(7) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sink.log_end_offset("t1", 0), Some(7));

    sink.reset_counters();
    assert_eq!(sink.counters().records, 0);
}

#[derive(Default)]
struct Collect {
    offsets: Mutex<Vec<(i32, i64)>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Collect {}

impl ProducerContext for Collect {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(m) => self
                .offsets
                .lock()
                .unwrap()
                .push((m.partition(), m.offset())),
            Err((e, _)) => self.errors.lock().unwrap().push(e.to_string()),
        }
    }
}

fn produce_with_base_producer(acks: &str, compression: &str) {
    let sink = SinkBroker::start(SinkOptions {
        partitions: 4,
        ..SinkOptions::default()
    })
    .unwrap();
    let producer: BaseProducer<Collect> = ClientConfig::new()
        .set("bootstrap.servers", sink.bootstrap())
        .set("linger.ms", "5")
        .set("acks", acks)
        .set("compression.type", compression)
        .create_with_context(Collect::default())
        .unwrap();
    let n = 20_000usize;
    let value = [b'v'; 100];
    for i in 0..n {
        let key = format!("key-{:012}", i % 97);
        let mut rec = BaseRecord::to("perf").key(&key).payload(&value[..]);
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
    producer.flush(Duration::from_secs(30)).unwrap();
    let ctx = producer.context();
    assert!(ctx.errors.lock().unwrap().is_empty(), "{:?}", ctx.errors);
    let offsets = ctx.offsets.lock().unwrap().clone();
    assert_eq!(offsets.len(), n);
    // Every partition's offsets are 0..count without holes or duplicates (acks=0: unknown).
    let k = sink.counters();
    assert_eq!(k.records, n as u64, "{k:?}");
    assert_eq!(k.crc_failures, 0);
    assert!(k.batches >= 4, "{k:?}");
    let mut total = 0;
    for p in 0..4 {
        let mut o: Vec<i64> = offsets
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        o.sort_unstable();
        let end = sink.log_end_offset("perf", p as usize).unwrap();
        total += end;
        if acks != "0" {
            assert_eq!(o, (0..end).collect::<Vec<_>>(), "partition {p}");
        }
    }
    assert_eq!(total, n as i64);
}

#[test]
fn base_producer_acks1_all_delivered_with_dense_offsets() {
    produce_with_base_producer("1", "none");
}

#[test]
fn base_producer_lz4_batches_pass_the_crc_check() {
    produce_with_base_producer("all", "lz4");
}

#[test]
fn base_producer_acks0_records_reach_the_sink() {
    produce_with_base_producer("0", "none");
}

#[test]
fn held_produce_requests_keep_records_in_flight_until_they_time_out() {
    let sink = SinkBroker::start(SinkOptions {
        hold_produce: true,
        ..SinkOptions::default()
    })
    .unwrap();
    let producer: BaseProducer<Collect> = ClientConfig::new()
        .set("bootstrap.servers", sink.bootstrap())
        .set("linger.ms", "0")
        // Long enough for the checks below on a loaded machine; the flush waits it out.
        .set("message.timeout.ms", "2000")
        .create_with_context(Collect::default())
        .unwrap();
    let n = 50;
    for i in 0..n {
        let v = format!("value-{i}");
        producer
            .send(BaseRecord::<(), _>::to("held").payload(&v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    // Taken by the sink, never answered: still in flight a while later.
    for _ in 0..100 {
        if sink.counters().records == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let k = sink.counters();
    assert_eq!((k.records, k.crc_failures), (n, 0), "{k:?}");
    producer.poll(Duration::from_millis(100));
    assert_eq!(producer.in_flight_count(), n as i32);
    // Every record gets exactly one report: a timeout.
    producer.flush(Duration::from_secs(10)).unwrap();
    let ctx = producer.context();
    assert!(ctx.offsets.lock().unwrap().is_empty());
    let errors = ctx.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), n as usize);
    assert!(errors.iter().all(|e| e.contains("timed out")), "{errors:?}");
}
