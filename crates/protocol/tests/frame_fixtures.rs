//! Response frames captured from a real Apache Kafka 4.1.2 broker (see
//! `protocol-fixtures/PROVENANCE.md`), decoded with `frame::decode_response`.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use purekafka_protocol::frame::{CodecErrorKind, decode_response, response_correlation_id};
use purekafka_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, ProduceResponse,
};
use purekafka_protocol::kafka_protocol::protocol::VersionRange;
use purekafka_protocol::versions::{
    NegotiatedVersions, UNSUPPORTED_VERSION, decode_api_versions_response,
};

fn fixture(name: &str) -> Bytes {
    let path = format!(
        "{}/../../protocol-fixtures/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

#[test]
fn api_versions_v3_and_v4_negotiate_against_kafka_4_1() {
    for (name, version) in [("api-versions-v3.bin", 3), ("api-versions-v4.bin", 4)] {
        let frame = fixture(name);
        let id = response_correlation_id(&frame).unwrap();
        let (header, body) = decode_response::<ApiVersionsResponse>(frame, version).unwrap();
        assert_eq!(header.correlation_id, id);
        assert_eq!(body.error_code, 0);
        let n = NegotiatedVersions::from_response(&body);
        // Kafka 4.1 advertises Produce 0..=13 (and rejects 0-2); purekafka stops at 12.
        assert_eq!(
            n.broker_range(ApiKey::Produce),
            Some(VersionRange { min: 0, max: 13 }),
            "{name}"
        );
        assert_eq!(n.version(ApiKey::Produce), Some(12));
        assert_eq!(n.version(ApiKey::Metadata), Some(13));
        assert_eq!(n.version(ApiKey::ApiVersions), Some(4));
        assert_eq!(n.version(ApiKey::InitProducerId), Some(5));
        assert_eq!(n.version(ApiKey::FindCoordinator), Some(6));
        assert_eq!(n.version(ApiKey::AddPartitionsToTxn), Some(3));
        assert_eq!(n.version(ApiKey::AddOffsetsToTxn), Some(4));
        assert_eq!(n.version(ApiKey::EndTxn), Some(5));
        assert_eq!(n.version(ApiKey::TxnOffsetCommit), Some(5));
        // 4.x formats new clusters with transaction.version=2 (KIP-890 part 2).
        assert_eq!(n.transaction_version(), 2, "{name}");
        assert!(n.finalized_features_epoch().is_some());
        assert!(n.finalized_feature("metadata.version").is_some());
    }
}

#[test]
fn api_versions_v4_lists_supported_features_that_v3_hides() {
    // Features whose minimum is 0 are only shown to v4+ clients (KAFKA-17011).
    let (_, v3) =
        decode_response::<ApiVersionsResponse>(fixture("api-versions-v3.bin"), 3).unwrap();
    let (_, v4) =
        decode_response::<ApiVersionsResponse>(fixture("api-versions-v4.bin"), 4).unwrap();
    let tv = v4
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .unwrap();
    assert_eq!((tv.min_version, tv.max_version), (0, 2));
    assert!(v3.supported_features.len() < v4.supported_features.len());
}

#[test]
fn unsupported_api_versions_version_falls_back_to_v0() {
    let frame = fixture("api-versions-v5-unsupported.bin");
    // Read as v4 (the newest kafka-protocol knows) it does not parse...
    assert!(decode_response::<ApiVersionsResponse>(frame.clone(), 4).is_err());
    // ...but the v0 fallback gives the broker's ApiVersions range.
    let (_, body, at) = decode_api_versions_response(frame, 4).unwrap();
    assert_eq!(at, 0);
    assert_eq!(body.error_code, UNSUPPORTED_VERSION);
    let n = NegotiatedVersions::from_response(&body);
    assert_eq!(n.version(ApiKey::ApiVersions), Some(4));
    assert_eq!(n.version(ApiKey::Produce), None);
}

#[test]
fn metadata_v12_lists_the_broker_and_topic() {
    let (_, m) = decode_response::<MetadataResponse>(fixture("metadata-v12.bin"), 12).unwrap();
    assert_eq!(m.brokers.len(), 1);
    assert_eq!(m.brokers[0].host.as_str(), "127.0.0.1");
    assert!(m.brokers[0].port > 0);
    assert_eq!(m.controller_id, m.brokers[0].node_id);
    assert!(m.cluster_id.is_some());
    assert_eq!(m.topics.len(), 1);
    let t = &m.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.name.as_ref().map(|n| n.0.as_str()), Some("fx"));
    assert!(!t.topic_id.is_nil());
    assert_eq!(t.partitions.len(), 1);
    assert_eq!(t.partitions[0].leader_id, m.brokers[0].node_id);
    assert_eq!(t.partitions[0].isr_nodes, vec![m.brokers[0].node_id]);
}

#[test]
fn init_producer_id_v5_gives_an_idempotent_id() {
    let (_, r) =
        decode_response::<InitProducerIdResponse>(fixture("init-producer-id-v5.bin"), 5).unwrap();
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id.0 >= 0);
    assert_eq!(r.producer_epoch, 0);
}

fn produce(name: &str) -> (String, i32, i16, i64) {
    let (_, r) = decode_response::<ProduceResponse>(fixture(name), 12).unwrap();
    assert_eq!(r.responses.len(), 1);
    let t = &r.responses[0];
    assert_eq!(t.partition_responses.len(), 1);
    let p = &t.partition_responses[0];
    (t.name.0.to_string(), p.index, p.error_code, p.base_offset)
}

#[test]
fn produce_v12_success_and_errors() {
    assert_eq!(produce("produce-v12-ok.bin"), ("fx".into(), 0, 0, 0));
    // UNKNOWN_TOPIC_OR_PARTITION
    assert_eq!(
        produce("produce-v12-unknown-partition.bin"),
        ("fx".into(), 7, 3, -1)
    );
    // CORRUPT_MESSAGE
    assert_eq!(
        produce("produce-v12-corrupt-crc.bin"),
        ("fx".into(), 0, 2, -1)
    );
    // MESSAGE_TOO_LARGE
    assert_eq!(
        produce("produce-v12-too-large.bin"),
        ("fx-small".into(), 0, 10, -1)
    );
}

#[test]
fn fixtures_decoded_at_the_wrong_version_fail_cleanly() {
    // A flexible (v12) body read as v8 must come back as an error, not garbage or a panic.
    let err = decode_response::<ProduceResponse>(fixture("produce-v12-ok.bin"), 8).unwrap_err();
    assert_eq!(err.api_key, ApiKey::Produce);
    assert!(
        !matches!(err.kind, CodecErrorKind::UnsupportedVersion { .. }),
        "{err}"
    );
}

/// Decodes `frame` as the fixture `name` says it is; `Ok` if it parsed.
fn decode_as(name: &str, frame: Bytes) -> Result<(), String> {
    let e = |e: purekafka_protocol::frame::CodecError| e.to_string();
    match name {
        "api-versions-v3.bin" => decode_response::<ApiVersionsResponse>(frame, 3)
            .map(drop)
            .map_err(e),
        "api-versions-v4.bin" => decode_response::<ApiVersionsResponse>(frame, 4)
            .map(drop)
            .map_err(e),
        "api-versions-v5-unsupported.bin" => decode_response::<ApiVersionsResponse>(frame, 0)
            .map(drop)
            .map_err(e),
        "metadata-v12.bin" => decode_response::<MetadataResponse>(frame, 12)
            .map(drop)
            .map_err(e),
        "init-producer-id-v5.bin" => decode_response::<InitProducerIdResponse>(frame, 5)
            .map(drop)
            .map_err(e),
        n if n.starts_with("produce-v12-") => decode_response::<ProduceResponse>(frame, 12)
            .map(drop)
            .map_err(e),
        other => panic!("fixture {other} has no decoder in this test: add it"),
    }
}

#[test]
fn every_fixture_decodes_and_every_truncation_fails() {
    let dir = format!(
        "{}/../../protocol-fixtures/responses",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".bin") {
            continue;
        }
        let frame = fixture(&name);
        decode_as(&name, frame.clone()).unwrap();
        for cut in 0..frame.len() {
            assert!(
                decode_as(&name, frame.slice(..cut)).is_err(),
                "{name} cut at {cut}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} fixtures found");
}
