//! purekafka's own record batches, produced to a real Apache Kafka broker with a minimal
//! Produce request (acks=-1, plain `std::net::TcpStream`), read back by the reference Java
//! consumer and checked with `DumpLogSegments`.
//!
//! Also holds the regeneration command of `protocol-fixtures/responses/` (ignored test
//! `regenerate_response_fixtures`, see `protocol-fixtures/PROVENANCE.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use purekafka_protocol::batch::{RecordBatchWriter, RecordHeader, SealOptions, SealedBatch};
use purekafka_protocol::compression::Compression;
use purekafka_protocol::frame::encode_request;
use purekafka_protocol::kafka_protocol::messages::ApiVersionsRequest;
use purekafka_protocol::kafka_protocol::protocol::StrBytes;
use purekafka_testkit::broker::{BrokerOptions, Kafka};
use purekafka_testkit::java::{
    ConsumedRecord, Isolation, ReadOptions, ReadUntil, dump_log_segments, read_topic,
};
use purekafka_testkit::raw::{
    CLIENT_ID, RawClient, init_producer_id_request, metadata_request, produce_request,
};

const CODECS: [(Compression, &str); 5] = [
    (Compression::None, "none"),
    (Compression::Gzip, "gzip"),
    (Compression::Snappy, "snappy"),
    (Compression::Lz4, "lz4"),
    (Compression::Zstd, "zstd"),
];

/// A record as produced, in the shape the Java reader reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Records covering the encodings that matter: keys, null and empty keys and values, headers
/// including a null header value and a repeated key, binary bytes, timestamps that go backwards
/// (negative deltas), and a compressible value large enough for codecs to kick in.
fn sample_records(tag: &str) -> Vec<Rec> {
    let base = 1_700_000_000_000;
    let h = |k: &str, v: Option<&[u8]>| (k.to_owned(), v.map(<[u8]>::to_vec));
    vec![
        Rec {
            timestamp: base,
            key: Some(format!("key-{tag}").into_bytes()),
            value: Some(format!("value-{tag}").into_bytes()),
            headers: vec![
                h("trace", Some(b"abc")),
                h("null-header", None),
                h("trace", Some(b"")),
            ],
        },
        Rec {
            timestamp: base + 5,
            key: None,
            value: Some(b"no key".to_vec()),
            headers: vec![],
        },
        Rec {
            timestamp: base + 3,
            key: Some(b"tombstone".to_vec()),
            value: None,
            headers: vec![h("h", Some(b"\x00\xff\x10"))],
        },
        Rec {
            timestamp: base - 1000,
            key: Some(Vec::new()),
            value: Some(Vec::new()),
            headers: vec![],
        },
        Rec {
            timestamp: base + 10,
            key: Some((0u8..=255).collect()),
            value: Some(format!("{tag} ").repeat(300).into_bytes()),
            headers: vec![h("", Some(b"empty key"))],
        },
    ]
}

fn writer_for(records: &[Rec]) -> RecordBatchWriter {
    let mut w = RecordBatchWriter::new();
    for r in records {
        let headers: Vec<RecordHeader<'_>> = r
            .headers
            .iter()
            .map(|(k, v)| RecordHeader {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        w.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
    }
    w
}

fn seal(records: &[Rec], opts: SealOptions) -> SealedBatch {
    writer_for(records).seal(&opts).unwrap()
}

fn as_rec(c: &ConsumedRecord) -> Rec {
    assert_eq!(c.timestamp_type, "CreateTime", "{c:?}");
    Rec {
        timestamp: c.timestamp,
        key: c.key.clone(),
        value: c.value.clone(),
        headers: c.headers.clone(),
    }
}

fn read_all(kafka: &Kafka, topic: &str) -> Vec<ConsumedRecord> {
    read_topic(
        &kafka.bootstrap(),
        topic,
        &ReadOptions {
            isolation: Isolation::ReadUncommitted,
            until: ReadUntil::End,
            ..ReadOptions::default()
        },
    )
    .unwrap()
}

/// `DumpLogSegments --deep-iteration --print-data-log` of partition `p`'s first segment, or
/// `None` when the broker is external (no local log dir).
fn dump(kafka: &Kafka, topic: &str, p: i32) -> Option<String> {
    let file = kafka
        .log_dir()?
        .join(format!("{topic}-{p}"))
        .join("00000000000000000000.log");
    Some(dump_log_segments(&file, true, true).unwrap())
}

/// The batch lines of a DumpLogSegments output (one per batch, records are `| offset:` lines).
fn batch_lines(dump: &str) -> Vec<&str> {
    dump.lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect()
}

#[test]
fn every_codec_round_trips_through_kafka_and_the_java_consumer() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("produce-raw-codecs", 5).unwrap();
    let mut client = RawClient::connect(kafka.bootstrap()).unwrap();
    let mut expected = Vec::new();
    for (p, (codec, name)) in CODECS.iter().enumerate() {
        let p = i32::try_from(p).unwrap();
        let records = sample_records(name);
        let batch = seal(
            &records,
            SealOptions {
                compression: *codec,
                ..SealOptions::default()
            },
        );
        assert_eq!(batch.compression(), *codec);
        let resp = client.produce(&topic, p, batch.bytes().clone()).unwrap();
        assert_eq!(resp.error_code, 0, "{name}: {resp:?}");
        assert_eq!(resp.base_offset, 0, "{name}");
        expected.push(records);
    }

    let consumed = read_all(&kafka, &topic);
    for (p, records) in expected.iter().enumerate() {
        let got: Vec<&ConsumedRecord> = consumed
            .iter()
            .filter(|c| c.partition == i32::try_from(p).unwrap())
            .collect();
        let offsets: Vec<i64> = got.iter().map(|c| c.offset).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "{}",
            CODECS[p].1
        );
        let got: Vec<Rec> = got.into_iter().map(as_rec).collect();
        assert_eq!(&got, records, "{}", CODECS[p].1);
    }

    for (p, (_, name)) in CODECS.iter().enumerate() {
        let Some(out) = dump(&kafka, &topic, i32::try_from(p).unwrap()) else {
            eprintln!("external broker: DumpLogSegments skipped");
            return;
        };
        let batches = batch_lines(&out);
        assert_eq!(batches.len(), 1, "{name}:\n{out}");
        let b = batches[0];
        assert!(b.contains("isvalid: true"), "{name}: {b}");
        assert!(b.contains(&format!("compresscodec: {name}")), "{name}: {b}");
        assert!(b.contains("count: 5"), "{name}: {b}");
        assert!(b.contains("magic: 2"), "{name}: {b}");
        assert!(b.contains("producerId: -1"), "{name}: {b}");
        assert!(
            out.contains(&format!("payload: value-{name}")),
            "{name}: printed data log lacks the first value:\n{out}"
        );
    }
}

#[test]
fn idempotent_batches_are_sequenced_by_the_broker() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("produce-raw-idempotent", 1).unwrap();
    let mut client = RawClient::connect(kafka.bootstrap()).unwrap();
    let (pid, epoch) = client.init_producer_id().unwrap();
    assert!(pid >= 0);

    let first = sample_records("idem-1");
    let second = sample_records("idem-2");
    let opts = |base_sequence| SealOptions {
        compression: Compression::Lz4,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence,
        ..SealOptions::default()
    };
    let b1 = seal(&first, opts(0));
    let b2 = seal(&second, opts(first.len() as i32));
    let r1 = client.produce(&topic, 0, b1.bytes().clone()).unwrap();
    assert_eq!((r1.error_code, r1.base_offset), (0, 0), "{r1:?}");
    let r2 = client.produce(&topic, 0, b2.bytes().clone()).unwrap();
    assert_eq!((r2.error_code, r2.base_offset), (0, 5), "{r2:?}");

    // A retry of the first batch is recognised as a duplicate: acknowledged with its original
    // offset and not written again.
    let dup = client.produce(&topic, 0, b1.bytes().clone()).unwrap();
    assert_eq!((dup.error_code, dup.base_offset), (0, 0), "{dup:?}");
    // A gap in the sequence is refused with OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    let gap = client
        .produce(&topic, 0, seal(&first, opts(100)).into_bytes())
        .unwrap();
    assert_eq!(gap.error_code, 45, "{gap:?}");

    let consumed = read_all(&kafka, &topic);
    let got: Vec<Rec> = consumed.iter().map(as_rec).collect();
    let want: Vec<Rec> = first.iter().chain(&second).cloned().collect();
    assert_eq!(got, want);

    if let Some(out) = dump(&kafka, &topic, 0) {
        let batches = batch_lines(&out);
        assert_eq!(batches.len(), 2, "{out}");
        for (b, (base, last)) in batches.iter().zip([(0, 4), (5, 9)]) {
            assert!(b.contains(&format!("producerId: {pid} ")), "{b}");
            assert!(b.contains(&format!("producerEpoch: {epoch} ")), "{b}");
            assert!(b.contains(&format!("baseSequence: {base} ")), "{b}");
            assert!(b.contains(&format!("lastSequence: {last} ")), "{b}");
            assert!(b.contains("compresscodec: lz4"), "{b}");
            assert!(b.contains("isvalid: true"), "{b}");
        }
    }
}

#[test]
fn restamped_batch_is_accepted_without_re_encoding() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("produce-raw-restamp", 1).unwrap();
    let mut client = RawClient::connect(kafka.bootstrap()).unwrap();
    // Two idempotent producers: the batch is sealed for the first, then handed to the second,
    // as after an epoch bump or a new producer id.
    let (pid_a, epoch_a) = client.init_producer_id().unwrap();
    let (pid_b, epoch_b) = client.init_producer_id().unwrap();
    assert_ne!(pid_a, pid_b);

    let records = sample_records("restamp");
    let mut batch = seal(
        &records,
        SealOptions {
            compression: Compression::Zstd,
            producer_id: pid_a,
            producer_epoch: epoch_a,
            base_sequence: 42,
            ..SealOptions::default()
        },
    );
    let records_section = batch.bytes().slice(61..);
    batch.restamp(pid_b, epoch_b, 0, false);
    assert_eq!(
        batch.bytes().slice(61..),
        records_section,
        "only the header changes"
    );
    assert_eq!(
        (
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence()
        ),
        (pid_b, epoch_b, 0)
    );

    let r = client.produce(&topic, 0, batch.bytes().clone()).unwrap();
    assert_eq!((r.error_code, r.base_offset), (0, 0), "{r:?}");
    let got: Vec<Rec> = read_all(&kafka, &topic).iter().map(as_rec).collect();
    assert_eq!(got, records);
    if let Some(out) = dump(&kafka, &topic, 0) {
        let b = batch_lines(&out);
        assert_eq!(b.len(), 1, "{out}");
        assert!(b[0].contains(&format!("producerId: {pid_b} ")), "{}", b[0]);
        assert!(b[0].contains("baseSequence: 0 "), "{}", b[0]);
        assert!(b[0].contains("isvalid: true"), "{}", b[0]);
        assert!(b[0].contains("compresscodec: zstd"), "{}", b[0]);
    }
}

/// Regenerates `protocol-fixtures/responses/` from a fresh private Kafka broker:
/// `cargo test -p purekafka-tests --test produce_raw -- --ignored regenerate_response_fixtures`
#[test]
#[ignore = "rewrites protocol-fixtures/responses/; run by hand"]
fn regenerate_response_fixtures() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol-fixtures/responses");
    let kafka = Kafka::start(BrokerOptions::default()).unwrap();
    kafka.create_topic("fx", 1, &[]).unwrap();
    kafka
        .create_topic("fx-small", 1, &[("max.message.bytes", "1024")])
        .unwrap();
    write_response_fixtures(&kafka.bootstrap(), &out);
}

fn write_response_fixtures(bootstrap: &str, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let write = |name: &str, frame: &[u8]| {
        let path: PathBuf = out.join(name);
        std::fs::write(&path, frame).unwrap();
        eprintln!("wrote {} ({} bytes)", path.display(), frame.len());
    };
    let mut c = RawClient::connect(bootstrap).unwrap();
    write("api-versions-v3.bin", &c.api_versions_raw(3).unwrap().0);
    write("api-versions-v4.bin", &c.api_versions_raw(4).unwrap().0);
    // ApiVersions v5 is unknown to Kafka 4.1 (and to kafka-protocol): encode v4, patch the
    // version field of the request header.
    let id = c.next_correlation_id();
    let mut req = BytesMut::new();
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("purekafka-testkit"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"));
    encode_request(&mut req, 4, id, Some(CLIENT_ID), &body).unwrap();
    req[6..8].copy_from_slice(&5i16.to_be_bytes());
    write(
        "api-versions-v5-unsupported.bin",
        &c.round_trip_encoded(&req, id).unwrap(),
    );
    write(
        "metadata-v12.bin",
        &c.round_trip_raw(12, &metadata_request(&["fx"])).unwrap(),
    );
    // A fresh broker can answer COORDINATOR_LOAD_IN_PROGRESS: warm up with retries first.
    c.init_producer_id().unwrap();
    write(
        "init-producer-id-v5.bin",
        &c.round_trip_raw(5, &init_producer_id_request()).unwrap(),
    );
    let batch = fixture_batch(b"value");
    let produce = |c: &mut RawClient, topic: &str, partition: i32, batch: Bytes| {
        c.round_trip_raw(12, &produce_request(topic, partition, batch, -1))
            .unwrap()
    };
    write(
        "produce-v12-ok.bin",
        &produce(&mut c, "fx", 0, batch.clone()),
    );
    write(
        "produce-v12-unknown-partition.bin",
        &produce(&mut c, "fx", 7, batch.clone()),
    );
    let mut corrupt = batch.to_vec();
    corrupt[17] ^= 0xff; // first byte of the CRC
    write(
        "produce-v12-corrupt-crc.bin",
        &produce(&mut c, "fx", 0, corrupt.into()),
    );
    write(
        "produce-v12-too-large.bin",
        &produce(&mut c, "fx-small", 0, fixture_batch(&[b'x'; 2000])),
    );
}

/// One uncompressed, non-idempotent record with key `k`, from purekafka's writer.
fn fixture_batch(value: &[u8]) -> Bytes {
    let mut w = RecordBatchWriter::new();
    w.append(1_700_000_000_000, Some(b"k"), Some(value), &[]);
    w.seal(&SealOptions::default()).unwrap().into_bytes()
}
