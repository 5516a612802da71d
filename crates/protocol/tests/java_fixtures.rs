//! Decodes the record batches written by the reference Java producer (kafka-clients 4.1.2, taken
//! from a real broker's log segments; see protocol-fixtures/PROVENANCE.md) and compares every
//! field with `protocol-fixtures/batches/expected.json`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use purekafka_protocol::batch::{DecodeLimits, DecodedBatch, decode_batches};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-fixtures/batches")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(unhex)
}

fn decode_file(name: &str) -> Vec<DecodedBatch> {
    let data = std::fs::read(dir().join(name)).unwrap();
    decode_batches(&data, &DecodeLimits::default())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_java_fixture_decodes_to_the_expected_batches_and_records() {
    let expected = expected();
    let files = expected["files"].as_array().unwrap();
    let codecs: Vec<&str> = files
        .iter()
        .map(|f| f["batches"][0]["compression"].as_str().unwrap())
        .collect();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(codecs.contains(&codec), "no fixture for {codec}");
    }
    for file in files {
        let name = file["file"].as_str().unwrap();
        let batches = decode_file(name);
        let want = file["batches"].as_array().unwrap();
        assert_eq!(batches.len(), want.len(), "{name}: batch count");
        for (b, w) in batches.iter().zip(want) {
            let ctx = format!("{name} batch at offset {}", b.base_offset);
            let int = |k: &str| w[k].as_i64().unwrap_or_else(|| panic!("{ctx}: {k}"));
            assert_eq!(b.base_offset, int("base_offset"), "{ctx}");
            assert_eq!(
                b.base_offset + i64::from(b.last_offset_delta),
                int("last_offset"),
                "{ctx}"
            );
            assert_eq!(i64::from(b.batch_length) + 12, int("size"), "{ctx}");
            assert_eq!(i64::from(b.magic), int("magic"), "{ctx}");
            assert_eq!(i64::from(b.crc), int("crc"), "{ctx}");
            assert_eq!(
                b.compression.name(),
                w["compression"].as_str().unwrap(),
                "{ctx}"
            );
            assert_eq!(b.producer_id, int("producer_id"), "{ctx}");
            assert_eq!(i64::from(b.producer_epoch), int("producer_epoch"), "{ctx}");
            assert_eq!(i64::from(b.base_sequence), int("base_sequence"), "{ctx}");
            assert_eq!(
                i64::from(b.partition_leader_epoch),
                int("partition_leader_epoch"),
                "{ctx}"
            );
            assert_eq!(
                b.transactional,
                w["is_transactional"].as_bool().unwrap(),
                "{ctx}"
            );
            assert_eq!(b.control, w["is_control"].as_bool().unwrap(), "{ctx}");
            assert!(!b.log_append_time, "{ctx}: producer batches use CreateTime");
            assert_eq!(
                i64::try_from(b.records.len()).unwrap(),
                int("count"),
                "{ctx}"
            );
            if b.control {
                // Control record: key = version (int16 0) + type (int16: 0 ABORT, 1 COMMIT);
                // value = version (int16) + coordinatorEpoch (int32).
                let marker = w["control"]["marker"].as_str().unwrap();
                let r = &b.records[0];
                let kind = if marker == "COMMIT" { 1u8 } else { 0u8 };
                assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, kind][..]), "{ctx}");
                let value = r.value.as_deref().unwrap();
                let epoch = i32::from_be_bytes(value[2..6].try_into().unwrap());
                assert_eq!(
                    i64::from(epoch),
                    w["control"]["coordinator_epoch"].as_i64().unwrap(),
                    "{ctx}"
                );
                continue;
            }
            let want_records = w["records"].as_array().unwrap();
            for (r, wr) in b.records.iter().zip(want_records) {
                let ctx = format!("{name} offset {}", b.offset_of(r));
                assert_eq!(b.offset_of(r), wr["offset"].as_i64().unwrap(), "{ctx}");
                assert_eq!(
                    b.timestamp_of(r),
                    wr["timestamp"].as_i64().unwrap(),
                    "{ctx}"
                );
                assert_eq!(r.key, bytes(&wr["key"]), "{ctx}: key");
                assert_eq!(r.value, bytes(&wr["value"]), "{ctx}: value");
                let headers: Vec<(String, Option<Vec<u8>>)> = wr["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_owned(), bytes(&h[1])))
                    .collect();
                assert_eq!(r.headers, headers, "{ctx}: headers");
            }
            let max_ts = want_records
                .iter()
                .map(|r| r["timestamp"].as_i64().unwrap())
                .max()
                .unwrap();
            assert_eq!(b.max_timestamp, max_ts, "{ctx}: maxTimestamp");
        }
    }
}

#[test]
fn every_fixture_file_is_described() {
    let expected = expected();
    let listed: Vec<&str> = expected["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".bin") {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in expected.json"
            );
        }
    }
}

#[test]
fn a_flipped_byte_in_a_java_batch_fails_the_crc() {
    for name in ["none.bin", "zstd.bin", "transactional.bin"] {
        let mut data = std::fs::read(dir().join(name)).unwrap();
        // Last byte: inside the (possibly compressed) records section, covered by the CRC.
        let last = data.len() - 1;
        data[last] ^= 0x01;
        let results: Vec<_> = decode_batches(&data, &DecodeLimits::default()).collect();
        assert!(
            results.iter().any(Result::is_err),
            "{name}: corruption not detected"
        );
    }
}
