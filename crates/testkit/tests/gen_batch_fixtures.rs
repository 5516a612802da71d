//! Regenerates `protocol-fixtures/batches/` (ignored in normal runs): record batches written by
//! the reference Java producer, copied byte for byte from a real broker's log segments, plus
//! `expected.json` describing them. Run:
//! `cargo test -p purekafka-testkit --test gen_batch_fixtures -- --ignored --nocapture`
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use purekafka_testkit::broker::{BrokerOptions, KEEP_OLD_RECORDS, Kafka};
use purekafka_testkit::java::{self, ReadOptions, unhex};
use serde_json::{Value, json};

/// Cases in GenBatchFixtures.java, in production order.
const CASES: &[&str] = &[
    "none",
    "gzip",
    "snappy",
    "lz4",
    "zstd",
    "idempotent",
    "transactional",
];
const PREFIX: &str = "fixture-";

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-fixtures/batches")
}

/// Splits a log segment into its batches (baseOffset i64, batchLength i32, then batchLength bytes).
fn split_batches(log: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < log.len() {
        let len = i32::from_be_bytes(log[pos + 8..pos + 12].try_into().unwrap());
        let end = pos + 12 + usize::try_from(len).unwrap();
        out.push(&log[pos..end]);
        pos = end;
    }
    assert_eq!(pos, log.len(), "segment does not end on a batch boundary");
    out
}

/// The per-batch and per-record lines of `DumpLogSegments --deep-iteration`, as key/value maps.
/// One DumpLogSegments batch line and its record lines, each as `field -> value`.
type DumpedBatch = (BTreeMap<String, String>, Vec<BTreeMap<String, String>>);

fn parse_dump(dump: &str) -> Vec<DumpedBatch> {
    let mut batches: Vec<DumpedBatch> = Vec::new();
    for line in dump.lines() {
        let (is_record, body) = match line.strip_prefix("| ") {
            Some(rest) => (true, rest),
            None if line.starts_with("baseOffset:") => (false, line),
            None => continue,
        };
        let mut map = BTreeMap::new();
        let tokens: Vec<&str> = body.split_whitespace().collect();
        let mut i = 0;
        while i < tokens.len() {
            if let Some(k) = tokens[i].strip_suffix(':') {
                let mut v = Vec::new();
                i += 1;
                while i < tokens.len() && !tokens[i].ends_with(':') {
                    v.push(tokens[i]);
                    i += 1;
                }
                map.insert(k.to_owned(), v.join(" "));
            } else {
                i += 1;
            }
        }
        if is_record {
            batches
                .last_mut()
                .expect("record line before a batch line")
                .1
                .push(map);
        } else {
            batches.push((map, Vec::new()));
        }
    }
    batches
}

fn hex_or_null(b: &Option<Vec<u8>>) -> Value {
    b.as_ref().map_or(Value::Null, |b| {
        Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
    })
}

#[test]
#[ignore = "regenerates protocol-fixtures/batches; see protocol-fixtures/PROVENANCE.md"]
fn generate_batch_fixtures() {
    let kafka = Kafka::start(BrokerOptions::default()).unwrap();
    for case in CASES {
        kafka
            // The records carry fixed 2023 timestamps. With the defaults the broker would roll
            // the segment at the next append (segment.ms counts from the first record's
            // timestamp) and delete it (retention.ms), and the transaction marker would land in
            // a second segment.
            .create_topic(&format!("{PREFIX}{case}"), 1, KEEP_OLD_RECORDS)
            .unwrap();
    }
    let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/GenBatchFixtures.java");
    let out = java::run_tool(
        &generator.display().to_string(),
        &[kafka.bootstrap(), PREFIX.to_owned()],
        Duration::from_secs(300),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "generator failed: {}\n{}",
        out.status,
        out.stderr
    );

    // What the producer sent, per case.
    let mut sent: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in out.stdout.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap();
        sent.entry(v["case"].as_str().unwrap().to_owned())
            .or_default()
            .push(v);
    }

    let dir = out_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for case in CASES {
        let topic = format!("{PREFIX}{case}");
        let sent = &sent[*case];
        let log_path = kafka
            .log_dir()
            .unwrap()
            .join(format!("{topic}-0/00000000000000000000.log"));
        // The reference consumer must read back exactly what was sent. With read_committed it
        // also waits for the transaction marker, which the coordinator writes asynchronously
        // after commitTransaction returns, so the segment is read afterwards.
        let read = java::read_topic(&kafka.bootstrap(), &topic, &ReadOptions::default()).unwrap();
        let mut log = std::fs::read(&log_path).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while *case == "transactional" && split_batches(&log).len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no transaction marker in {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(100));
            log = std::fs::read(&log_path).unwrap();
        }
        let batches = split_batches(&log);
        assert_eq!(read.len(), sent.len(), "{case}: {read:?}");
        let mut records = Vec::new();
        for (r, s) in read.iter().zip(sent) {
            let key = s["key"].as_str().map(|h| unhex(h).unwrap());
            let value = s["value"].as_str().map(|h| unhex(h).unwrap());
            let headers: Vec<(String, Option<Vec<u8>>)> = s["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    let name = String::from_utf8(unhex(h[0].as_str().unwrap()).unwrap()).unwrap();
                    (name, h[1].as_str().map(|x| unhex(x).unwrap()))
                })
                .collect();
            assert_eq!(
                (&r.key, &r.value, &r.headers),
                (&key, &value, &headers),
                "{case} offset {}",
                r.offset
            );
            assert_eq!(
                r.timestamp,
                s["timestamp"].as_i64().unwrap(),
                "{case} offset {}",
                r.offset
            );
            assert_eq!(r.timestamp_type, "CreateTime");
            records.push(json!({
                "offset": r.offset,
                "timestamp": r.timestamp,
                "key": hex_or_null(&key),
                "value": hex_or_null(&value),
                "headers": headers.iter().map(|(n, v)| json!([n, hex_or_null(v)])).collect::<Vec<_>>(),
            }));
        }

        // Batch metadata as the broker's own tool reports it.
        let dump = java::dump_log_segments(&log_path, true, false).unwrap();
        let dumped = parse_dump(&dump);
        assert_eq!(dumped.len(), batches.len(), "{case}: dump\n{dump}");
        let mut batch_json = Vec::new();
        let mut next_record = 0;
        for ((meta, recs), bytes) in dumped.iter().zip(&batches) {
            let int = |k: &str| -> i64 {
                meta[k]
                    .parse()
                    .unwrap_or_else(|_| panic!("{k} in {meta:?}"))
            };
            let is_control = meta["isControl"] == "true";
            assert_eq!(int("size"), i64::try_from(bytes.len()).unwrap());
            assert_eq!(meta["isvalid"], "true");
            let count = usize::try_from(int("count")).unwrap();
            let mut b = json!({
                "base_offset": int("baseOffset"),
                "last_offset": int("lastOffset"),
                "count": count,
                "size": bytes.len(),
                "magic": int("magic"),
                "crc": int("crc"),
                "compression": meta["compresscodec"],
                "producer_id": int("producerId"),
                "producer_epoch": int("producerEpoch"),
                "base_sequence": int("baseSequence"),
                "last_sequence": int("lastSequence"),
                "partition_leader_epoch": int("partitionLeaderEpoch"),
                "is_transactional": meta["isTransactional"] == "true",
                "is_control": is_control,
            });
            if is_control {
                assert_eq!(recs.len(), 1, "{recs:?}");
                b["control"] = json!({
                    "marker": recs[0]["endTxnMarker"],
                    "coordinator_epoch": recs[0]["coordinatorEpoch"].parse::<i64>().unwrap(),
                });
                b["records"] = json!([]);
            } else {
                assert_eq!(recs.len(), count);
                b["records"] = Value::Array(records[next_record..next_record + count].to_vec());
                next_record += count;
            }
            batch_json.push(b);
        }
        assert_eq!(
            next_record,
            records.len(),
            "{case}: records outside data batches"
        );

        let file = format!("{case}.bin");
        std::fs::write(dir.join(&file), &log).unwrap();
        println!("{file}: {} bytes, {} batch(es)", log.len(), batches.len());
        files.push(json!({ "file": file, "case": case, "batches": batch_json }));
    }
    let expected = json!({
        "generator": "crates/testkit/kafka/GenBatchFixtures.java via crates/testkit/tests/gen_batch_fixtures.rs",
        "kafka_version": purekafka_testkit::broker::KAFKA_VERSION,
        "note": "key/value/header values are hex (null = JSON null); offsets are absolute (base_offset + delta)",
        "files": files,
    });
    let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
    std::fs::write(dir.join("expected.json"), text).unwrap();
}
