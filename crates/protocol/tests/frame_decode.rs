//! `decode_response` against messages encoded by kafka-protocol at every version purekafka
//! speaks: populated messages round-trip, every truncation fails, random corruption never
//! panics, and huge declared counts are refused before kafka-protocol sees them.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;

use bytes::{BufMut, Bytes, BytesMut};
use purekafka_protocol::frame::{CodecErrorKind, KafkaResponse, decode_response};
use purekafka_protocol::kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use purekafka_protocol::kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use purekafka_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use purekafka_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use purekafka_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use purekafka_protocol::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use purekafka_protocol::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use purekafka_protocol::kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse, BrokerId,
    EndTxnResponse, FindCoordinatorResponse, InitProducerIdResponse, ListOffsetsResponse,
    MetadataResponse, ProduceResponse, ProducerId, SaslAuthenticateResponse, SaslHandshakeResponse,
    TopicName, TransactionalId, TxnOffsetCommitResponse,
};
use purekafka_protocol::kafka_protocol::protocol::{Encodable, StrBytes};
use purekafka_protocol::versions::SUPPORTED;

fn s(x: &'static str) -> StrBytes {
    StrBytes::from_static_str(x)
}

fn topic(x: &'static str) -> TopicName {
    TopicName(s(x))
}

/// Response frame (no size prefix) as a broker would send it.
fn frame<R: KafkaResponse + Encodable>(msg: &R, version: i16, correlation_id: i32) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(correlation_id);
    if R::API_KEY.response_header_version(version) >= 1 {
        buf.put_u8(0); // no header tagged fields
    }
    msg.encode(&mut buf, version).unwrap();
    buf.freeze()
}

/// A tiny deterministic generator so failures reproduce.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn versions(api_key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let r = SUPPORTED
        .iter()
        .find(|s| s.api_key == api_key)
        .unwrap()
        .versions;
    r.min..=r.max
}

fn exercise<R: KafkaResponse + Encodable + PartialEq + Debug>(sample: impl Fn(i16) -> R) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for v in versions(R::API_KEY) {
        let msg = sample(v);
        let bytes = frame(&msg, v, 0x0102_0304);
        let (header, got) = decode_response::<R>(bytes.clone(), v)
            .unwrap_or_else(|e| panic!("{:?} v{v}: {e}", R::API_KEY));
        assert_eq!(header.correlation_id, 0x0102_0304);
        assert_eq!(got, msg, "{:?} v{v}", R::API_KEY);

        for cut in 0..bytes.len() {
            assert!(
                decode_response::<R>(bytes.slice(..cut), v).is_err(),
                "{:?} v{v} truncated to {cut} of {} bytes decoded",
                R::API_KEY,
                bytes.len()
            );
        }
        let mut extra = BytesMut::from(&bytes[..]);
        extra.put_u8(0);
        let err = decode_response::<R>(extra.freeze(), v).unwrap_err();
        assert!(
            matches!(err.kind, CodecErrorKind::TrailingBytes(1)),
            "{err}"
        );

        // Corruption: must return (Ok or Err), never panic or abort.
        for _ in 0..2000 {
            let mut m = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] = match rng.below(3) {
                    0 => 0xff,
                    1 => 0x7f,
                    _ => rng.next() as u8,
                };
            }
            let _ = decode_response::<R>(Bytes::from(m), v);
        }
        // Pure noise, with the frame's own header in front half of the time.
        for _ in 0..500 {
            let len = rng.below(96);
            let mut m: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 {
                let keep = bytes.len().min(5);
                m.splice(0..0, bytes[..keep].iter().copied());
            }
            let _ = decode_response::<R>(Bytes::from(m), v);
        }
    }
}

#[test]
fn api_versions() {
    exercise(|v| {
        let mut m = ApiVersionsResponse::default();
        m.error_code = 0;
        m.api_keys = (0..3)
            .map(|k| {
                let mut a = ApiVersion::default();
                a.api_key = k;
                a.min_version = k;
                a.max_version = k + 4;
                a
            })
            .collect();
        if v >= 1 {
            m.throttle_time_ms = 12;
        }
        if v >= 3 {
            let mut sf = SupportedFeatureKey::default();
            sf.name = s("transaction.version");
            sf.min_version = 0;
            sf.max_version = 2;
            m.supported_features = vec![sf];
            m.finalized_features_epoch = 77;
            let mut ff = FinalizedFeatureKey::default();
            ff.name = s("transaction.version");
            ff.min_version_level = 2;
            ff.max_version_level = 2;
            m.finalized_features = vec![ff.clone(), ff];
            m.zk_migration_ready = true;
            m.unknown_tagged_fields
                .insert(40, Bytes::from_static(b"unknown"));
        }
        m
    });
}

#[test]
fn metadata() {
    exercise(|v| {
        let mut m = MetadataResponse::default();
        if v >= 3 {
            m.throttle_time_ms = 5;
        }
        let mut b = MetadataResponseBroker::default();
        b.node_id = BrokerId(1);
        b.host = s("127.0.0.1");
        b.port = 9092;
        b.rack = Some(s("r1"));
        m.brokers = vec![b.clone(), b];
        m.cluster_id = Some(s("cluster"));
        m.controller_id = BrokerId(1);
        let mut p = MetadataResponsePartition::default();
        p.partition_index = 3;
        p.leader_id = BrokerId(1);
        if v >= 7 {
            p.leader_epoch = 9;
        }
        p.replica_nodes = vec![BrokerId(1), BrokerId(2)];
        p.isr_nodes = vec![BrokerId(1)];
        if v >= 5 {
            p.offline_replicas = vec![BrokerId(2)];
        }
        let mut t = MetadataResponseTopic::default();
        t.name = Some(topic("orders"));
        if v >= 10 {
            t.topic_id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        }
        if v >= 9 {
            t.unknown_tagged_fields.insert(3, Bytes::new());
        }
        t.is_internal = true;
        t.partitions = vec![p.clone(), p];
        if v >= 8 {
            t.topic_authorized_operations = 0x0f;
        }
        m.topics = vec![t];
        if (8..=10).contains(&v) {
            m.cluster_authorized_operations = 1;
        }
        if v >= 13 {
            m.error_code = 0;
        }
        m
    });
}

#[test]
fn produce() {
    exercise(|v| {
        let mut p = PartitionProduceResponse::default();
        p.index = 2;
        p.error_code = 0;
        p.base_offset = 1234;
        p.log_append_time_ms = -1;
        if v >= 5 {
            p.log_start_offset = 10;
        }
        if v >= 8 {
            let mut e = BatchIndexAndErrorMessage::default();
            e.batch_index = 1;
            e.batch_index_error_message = Some(s("bad record"));
            p.record_errors = vec![e];
            p.error_message = Some(s("oops"));
        }
        if v >= 10 {
            let mut l = LeaderIdAndEpoch::default();
            l.leader_id = BrokerId(3);
            l.leader_epoch = 4;
            p.current_leader = l;
        }
        if v >= 9 {
            // Tags unknown to this version must be skipped by size.
            p.unknown_tagged_fields
                .insert(99, Bytes::from_static(b"future field"));
        }
        let mut t = TopicProduceResponse::default();
        t.name = topic("orders");
        t.partition_responses = vec![p.clone(), p];
        let mut m = ProduceResponse::default();
        m.responses = vec![t];
        m.throttle_time_ms = 3;
        if v >= 10 {
            let mut n = NodeEndpoint::default();
            n.node_id = BrokerId(3);
            n.host = s("h");
            n.port = 1;
            n.rack = None;
            m.node_endpoints = vec![n];
        }
        if v >= 9 {
            m.unknown_tagged_fields
                .insert(7, Bytes::from_static(b"\x00\x01"));
        }
        m
    });
}

#[test]
fn init_producer_id() {
    exercise(|_| {
        let mut m = InitProducerIdResponse::default();
        m.throttle_time_ms = 1;
        m.producer_id = ProducerId(4000);
        m.producer_epoch = 7;
        m
    });
}

#[test]
fn list_offsets() {
    exercise(|v| {
        let mut p = ListOffsetsPartitionResponse::default();
        p.partition_index = 3;
        p.error_code = 0;
        p.timestamp = -1;
        p.offset = 42;
        p.leader_epoch = if v >= 4 { 5 } else { -1 };
        let mut t = ListOffsetsTopicResponse::default();
        t.name = topic("t");
        t.partitions = vec![p.clone(), p];
        let mut m = ListOffsetsResponse::default();
        m.throttle_time_ms = if v >= 2 { 1 } else { 0 };
        m.topics = vec![t];
        m
    });
}

#[test]
fn find_coordinator() {
    exercise(|v| {
        let mut m = FindCoordinatorResponse::default();
        m.throttle_time_ms = 1;
        if v <= 3 {
            m.error_code = 15;
            m.error_message = Some(s("not available"));
            m.node_id = BrokerId(2);
            m.host = s("host");
            m.port = 9092;
        } else {
            let mut c = Coordinator::default();
            c.key = s("txn-1");
            c.node_id = BrokerId(2);
            c.host = s("host");
            c.port = 9092;
            c.error_message = None;
            m.coordinators = vec![c.clone(), c];
        }
        m
    });
}

fn txn_topic(name: &'static str) -> AddPartitionsToTxnTopicResult {
    let mut p = AddPartitionsToTxnPartitionResult::default();
    p.partition_index = 1;
    p.partition_error_code = 48;
    let mut t = AddPartitionsToTxnTopicResult::default();
    t.name = topic(name);
    t.results_by_partition = vec![p.clone(), p];
    t
}

#[test]
fn add_partitions_to_txn() {
    exercise(|_| {
        let mut m = AddPartitionsToTxnResponse::default();
        m.throttle_time_ms = 2;
        m.results_by_topic_v3_and_below = vec![txn_topic("a"), txn_topic("bb")];
        m
    });
    // The v4+ (broker) shape is not in SUPPORTED but its schema still bounds it.
    let mut m = AddPartitionsToTxnResponse::default();
    let mut r = AddPartitionsToTxnResult::default();
    r.transactional_id = TransactionalId(s("t"));
    r.topic_results = vec![txn_topic("a")];
    m.results_by_transaction = vec![r];
    let got = decode_response::<AddPartitionsToTxnResponse>(frame(&m, 5, 1), 5).unwrap();
    assert_eq!(got.1, m);
}

#[test]
fn add_offsets_to_txn() {
    exercise(|_| {
        let mut m = AddOffsetsToTxnResponse::default();
        m.throttle_time_ms = 2;
        m.error_code = 51;
        m
    });
}

#[test]
fn end_txn() {
    exercise(|v| {
        let mut m = EndTxnResponse::default();
        m.throttle_time_ms = 2;
        if v >= 5 {
            m.producer_id = ProducerId(9);
            m.producer_epoch = 3;
        }
        m
    });
}

#[test]
fn txn_offset_commit() {
    exercise(|_| {
        let mut p = TxnOffsetCommitResponsePartition::default();
        p.partition_index = 4;
        p.error_code = 0;
        let mut t = TxnOffsetCommitResponseTopic::default();
        t.name = topic("orders");
        t.partitions = vec![p];
        let mut m = TxnOffsetCommitResponse::default();
        m.topics = vec![t.clone(), t];
        m
    });
}

#[test]
fn sasl() {
    exercise(|_| {
        let mut m = SaslHandshakeResponse::default();
        m.mechanisms = vec![s("PLAIN"), s("SCRAM-SHA-256")];
        m
    });
    exercise(|v| {
        let mut m = SaslAuthenticateResponse::default();
        m.error_message = Some(s("no"));
        m.auth_bytes = Bytes::from_static(b"\x00user\x00pw");
        if v >= 1 {
            m.session_lifetime_ms = 1000;
        }
        m
    });
}

fn length_error(frame: Bytes, version: i16) -> CodecErrorKind {
    decode_response::<MetadataResponse>(frame, version)
        .unwrap_err()
        .kind
}

#[test]
fn huge_declared_counts_are_refused_before_decoding() {
    // Metadata v4, header v0: correlation id, throttle, then a brokers array claiming i32::MAX
    // entries. kafka-protocol alone would call Vec::with_capacity(i32::MAX) for it.
    let mut b = BytesMut::new();
    b.put_i32(1);
    b.put_i32(0);
    b.put_i32(i32::MAX);
    b.put_slice(&[0; 16]);
    assert_eq!(
        length_error(b.freeze(), 4),
        CodecErrorKind::LengthExceedsInput {
            offset: 4,
            declared: i32::MAX as u64,
            remaining: 16
        }
    );

    // Metadata v12 (flexible, header v1): a compact array count of u32::MAX - 1.
    let mut b = BytesMut::new();
    b.put_i32(1);
    b.put_u8(0);
    b.put_i32(0);
    b.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    b.put_slice(&[0; 8]);
    assert!(matches!(
        length_error(b.freeze(), 12),
        CodecErrorKind::LengthExceedsInput {
            declared: 0xffff_fffe,
            ..
        }
    ));

    // A replica list (int32 elements) claiming 3 elements with 8 bytes left.
    let mut b = BytesMut::new();
    b.put_i32(1);
    b.put_i32(0); // throttle
    b.put_i32(0); // no brokers
    b.put_i16(-1); // null cluster id
    b.put_i32(-1); // controller
    b.put_i32(1); // one topic
    b.put_i16(0);
    b.put_i16(1);
    b.put_u8(b'x');
    b.put_u8(0); // is_internal
    b.put_i32(1); // one partition
    b.put_i16(0);
    b.put_i32(0);
    b.put_i32(1);
    b.put_i32(3); // replicas: 3 claimed
    b.put_slice(&[0; 8]);
    assert!(matches!(
        length_error(b.freeze(), 4),
        CodecErrorKind::LengthExceedsInput {
            declared: 12,
            remaining: 8,
            ..
        }
    ));
}
