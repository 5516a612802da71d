//! Unit tests of the fake cluster, driven with hand-built requests.
#![allow(clippy::unwrap_used)]

use super::*;
use bytes::BytesMut;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const MS: Duration = Duration::from_millis(1);

pub(super) fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub(super) fn frame<R: Encodable>(key: ApiKey, version: i16, cid: i32, body: &R) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(cid)
        .with_client_id(Some(StrBytes::from_static_str("unit")))
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

pub(super) fn response<R: Decodable>(key: ApiKey, version: i16, frame: Bytes) -> (i32, R) {
    let mut b = frame;
    let h = ResponseHeader::decode(&mut b, key.response_header_version(version)).unwrap();
    let r = R::decode(&mut b, version).unwrap();
    assert!(
        b.is_empty(),
        "trailing bytes in a {key:?} v{version} response"
    );
    (h.correlation_id, r)
}

fn batch(kvs: &[(&str, &str)]) -> Bytes {
    idempotent_batch(kvs, -1, -1, -1)
}

fn idempotent_batch(
    kvs: &[(&str, &str)],
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
) -> Bytes {
    let records: Vec<Record> = kvs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps one batch only while offset - sequence stays constant.
            sequence: base_sequence + i as i32,
            timestamp: 1_000 + i as i64,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

pub(super) fn produce_req(acks: i16, parts: &[(&str, i32, Bytes)]) -> ProduceRequest {
    let mut req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000);
    for (topic, p, b) in parts {
        let pd = PartitionProduceData::default()
            .with_index(*p)
            .with_records(Some(b.clone()));
        req.topic_data.push(
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string((*topic).to_owned())))
                .with_partition_data(vec![pd]),
        );
    }
    req
}

fn cluster() -> FakeCluster {
    let mut c = FakeCluster::new(FakeConfig::default());
    c.create_topic("t", 3);
    c
}

fn leader_conn(c: &mut FakeCluster, topic: &str, p: i32) -> FakeConnId {
    let (leader, _) = c.leader(topic, p).unwrap();
    c.connect(t(0), &format!("fake-{leader}"), 9092).unwrap()
}

fn next_response(c: &mut FakeCluster, now: Instant) -> (FakeConnId, Bytes) {
    match c.poll(now) {
        Some(FakeOutput::Response { conn, frame }) => (conn, frame),
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn batch_header_parses_and_rejects_defects() {
    let b = batch(&[("k0", "v0"), ("k1", "v1"), ("k2", "v2")]);
    let h = parse_single_batch(&b).unwrap();
    assert_eq!(
        (h.record_count, h.last_offset_delta, h.magic, h.producer_id),
        (3, 2, 2, -1)
    );
    let mut bad = b.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        parse_single_batch(&bad),
        Err(BatchError::CrcMismatch { .. })
    ));
    assert_eq!(parse_single_batch(&bad).unwrap_err().kafka_code(), 2);
    assert!(matches!(
        parse_single_batch(&b[..b.len() - 1]),
        Err(BatchError::Truncated { .. })
    ));
    let mut two = b.to_vec();
    two.extend_from_slice(&b);
    assert_eq!(parse_single_batch(&two).unwrap_err().kafka_code(), 87);
    assert!(matches!(
        parse_single_batch(&b[..10]),
        Err(BatchError::Truncated { .. })
    ));
}

#[test]
fn api_versions_advertises_kafka_4_1_with_v0_header() {
    let mut c = cluster();
    let conn = c.connect(t(0), "fake-1", 9092).unwrap();
    c.send(
        t(0),
        conn,
        frame(ApiKey::ApiVersions, 3, 7, &ApiVersionsRequest::default()),
    )
    .unwrap();
    assert_eq!(c.next_due(), Some(t(1)));
    assert!(c.poll(t(0)).is_none(), "not due before the latency");
    let (got_conn, f) = next_response(&mut c, t(1));
    assert_eq!(got_conn, conn);
    // The ApiVersions response header is v0 even for flexible request versions.
    let (cid, r): (i32, ApiVersionsResponse) = response(ApiKey::ApiVersions, 3, f);
    assert_eq!((cid, r.error_code), (7, 0));
    let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 13));
    let init = r.api_keys.iter().find(|k| k.api_key == 22).unwrap();
    assert_eq!(init.max_version, 5);
    let tv = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .unwrap();
    assert_eq!((tv.min_version_level, tv.max_version_level), (2, 2));
    assert!(
        r.supported_features
            .iter()
            .any(|f| f.name.as_str() == "transaction.version" && f.max_version == 2)
    );

    // Too new: a v0 answer with UNSUPPORTED_VERSION and the list.
    let mut f = BytesMut::new();
    f.extend_from_slice(&18i16.to_be_bytes());
    f.extend_from_slice(&9i16.to_be_bytes());
    f.extend_from_slice(&8i32.to_be_bytes());
    f.extend_from_slice(&(-1i16).to_be_bytes());
    f.extend_from_slice(&[0]); // empty tagged fields (header v2)
    c.send(t(2), conn, f.freeze()).unwrap();
    let (_, f) = next_response(&mut c, t(3));
    let (cid, r): (i32, ApiVersionsResponse) = response(ApiKey::ApiVersions, 0, f);
    assert_eq!((cid, r.error_code), (8, 35));
    assert!(!r.api_keys.is_empty());
}

#[test]
fn metadata_lists_brokers_topics_leaders_and_unknown_topics() {
    let mut c = cluster();
    let conn = c.connect(t(0), "fake-2", 9092).unwrap();
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str("t")))),
        MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("nope")))),
    ]));
    c.send(t(0), conn, frame(ApiKey::Metadata, 12, 1, &req))
        .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, MetadataResponse) = response(ApiKey::Metadata, 12, f);
    let hosts: Vec<_> = r
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(
        hosts,
        vec![
            (1, "fake-1".into(), 9092),
            (2, "fake-2".into(), 9092),
            (3, "fake-3".into(), 9092)
        ]
    );
    assert_eq!(r.topics.len(), 2);
    let topic = &r.topics[0];
    assert_eq!(
        (topic.error_code, topic.topic_id),
        (0, c.topic_id("t").unwrap())
    );
    for p in &topic.partitions {
        let (leader, epoch) = c.leader("t", p.partition_index).unwrap();
        assert_eq!(
            (p.leader_id.0, p.leader_epoch, p.error_code),
            (leader, epoch, 0)
        );
    }
    assert_eq!(r.topics[1].error_code, 3);

    // Leader moves and broker-down show up in the next Metadata.
    let (old, _) = c.leader("t", 0).unwrap();
    let new = if old == 1 { 2 } else { 1 };
    assert_eq!(c.move_leader("t", 0, new).unwrap(), 1);
    c.set_broker_down(t(2), 3).unwrap();
    let conn = if c.is_open(conn) {
        conn
    } else {
        c.connect(t(2), "fake-1", 9092).unwrap()
    };
    c.send(
        t(2),
        conn,
        frame(
            ApiKey::Metadata,
            12,
            2,
            &MetadataRequest::default().with_topics(None),
        ),
    )
    .unwrap();
    let (_, f) = next_response(&mut c, t(3));
    let (_, r): (i32, MetadataResponse) = response(ApiKey::Metadata, 12, f);
    assert_eq!(r.brokers.len(), 2);
    let p0 = &r.topics[0].partitions[0];
    assert_eq!((p0.leader_id.0, p0.leader_epoch), (new, 1));
    for p in &r.topics[0].partitions {
        if c.leader("t", p.partition_index).unwrap().0 == 3 {
            assert_eq!((p.error_code, p.leader_id.0), (5, -1));
        }
    }
}

#[test]
fn metadata_auto_creates_when_allowed() {
    let mut c = FakeCluster::new(FakeConfig {
        auto_create_topics: true,
        default_partitions: 2,
        ..FakeConfig::default()
    });
    let conn = c.connect(t(0), "fake-1", 9092).unwrap();
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("auto")))),
        ]));
    c.send(t(0), conn, frame(ApiKey::Metadata, 9, 1, &req))
        .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, MetadataResponse) = response(ApiKey::Metadata, 9, f);
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].partitions.len()),
        (0, 2)
    );
    assert_eq!(c.partition_count("auto"), Some(2));
}

#[test]
fn produce_appends_assigns_offsets_and_reads_back() {
    let mut c = cluster();
    c.set_log_append_time("t", true).unwrap();
    let conn = leader_conn(&mut c, "t", 1);
    let b1 = batch(&[("a", "1"), ("b", "2")]);
    let b2 = batch(&[("c", "3")]);
    c.send(
        t(10),
        conn,
        frame(ApiKey::Produce, 9, 1, &produce_req(-1, &[("t", 1, b1)])),
    )
    .unwrap();
    c.send(
        t(10),
        conn,
        frame(ApiKey::Produce, 9, 2, &produce_req(1, &[("t", 1, b2)])),
    )
    .unwrap();
    let (_, f) = next_response(&mut c, t(11));
    let (cid, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(
        (cid, p.error_code, p.base_offset, p.log_start_offset),
        (1, 0, 0, 0)
    );
    assert_eq!(p.log_append_time_ms, 1_700_000_000_010);
    let (_, f) = next_response(&mut c, t(11));
    let (cid, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
    assert_eq!(
        (cid, r.responses[0].partition_responses[0].base_offset),
        (2, 2)
    );
    let recs = c.records("t", 1).unwrap();
    let got: Vec<_> = recs
        .iter()
        .map(|r| (r.offset, r.key.clone().unwrap(), r.value.clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Bytes::from("a"), Bytes::from("1")),
            (1, Bytes::from("b"), Bytes::from("2")),
            (2, Bytes::from("c"), Bytes::from("3"))
        ]
    );
    assert_eq!(c.log_end_offset("t", 1), Some(3));
    let reqs: Vec<_> = c.produce_requests().collect();
    assert_eq!(reqs.len(), 2);
    let s = reqs[0].produce.as_ref().unwrap();
    assert_eq!(
        (
            s.acks,
            s.partitions[0].record_count,
            s.partitions[0].base_offset
        ),
        (-1, 2, 0)
    );
    assert_eq!(reqs[0].at, t(10));
    assert_eq!(reqs[0].client_id.as_deref(), Some("unit"));
}

#[test]
fn produce_v13_uses_topic_ids() {
    let mut c = cluster();
    let id = c.topic_id("t").unwrap();
    let conn = leader_conn(&mut c, "t", 0);
    let mut req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000);
    req.topic_data.push(
        TopicProduceData::default()
            .with_topic_id(id)
            .with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch(&[("k", "v")]))),
            ]),
    );
    let mut unknown = req.clone();
    unknown.topic_data[0].topic_id = Uuid::from_u128(42);
    c.send(t(0), conn, frame(ApiKey::Produce, 13, 1, &req))
        .unwrap();
    c.send(t(0), conn, frame(ApiKey::Produce, 13, 2, &unknown))
        .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 13, f);
    assert_eq!(r.responses[0].topic_id, id);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 13, f);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 100);
    assert_eq!(c.records("t", 0).unwrap().len(), 1);
}

#[test]
fn produce_errors_not_leader_unknown_corrupt_too_large() {
    let mut c = FakeCluster::new(FakeConfig {
        max_message_bytes: 200,
        ..FakeConfig::default()
    });
    c.create_topic("t", 3);
    let (leader, _) = c.leader("t", 0).unwrap();
    let other = if leader == 1 { 2 } else { 1 };
    let conn = c.connect(t(0), &format!("fake-{other}"), 9092).unwrap();
    let mut corrupt = batch(&[("k", "v")]).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let big = batch(&[("k", &"x".repeat(300))]);
    let req = produce_req(
        -1,
        &[
            ("t", 0, batch(&[("k", "v")])),
            ("nope", 0, batch(&[("k", "v")])),
            ("t", 9, batch(&[("k", "v")])),
        ],
    );
    c.send(t(0), conn, frame(ApiKey::Produce, 12, 1, &req))
        .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 12, f);
    let codes: Vec<i16> = r
        .responses
        .iter()
        .map(|t| t.partition_responses[0].error_code)
        .collect();
    assert_eq!(codes, vec![6, 3, 3]);
    let nl = &r.responses[0].partition_responses[0];
    assert_eq!(
        (
            nl.current_leader.leader_id.0,
            nl.current_leader.leader_epoch
        ),
        (leader, 0)
    );
    assert_eq!(r.node_endpoints.len(), 1);
    assert_eq!(
        r.node_endpoints[0].host.to_string(),
        format!("fake-{leader}")
    );

    let conn = leader_conn(&mut c, "t", 0);
    let req = produce_req(-1, &[("t", 0, Bytes::from(corrupt)), ("t", 0, big)]);
    c.send(t(1), conn, frame(ApiKey::Produce, 9, 2, &req))
        .unwrap();
    let (_, f) = next_response(&mut c, t(2));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
    let codes: Vec<i16> = r
        .responses
        .iter()
        .map(|t| t.partition_responses[0].error_code)
        .collect();
    assert_eq!(codes, vec![2, 10]);
    assert!(c.log("t", 0).unwrap().is_empty());
    assert!(c.internal_errors().is_empty());
}

#[test]
fn acks_zero_gets_no_response_and_errors_close_the_connection() {
    let mut c = cluster();
    let conn = leader_conn(&mut c, "t", 0);
    c.send(
        t(0),
        conn,
        frame(
            ApiKey::Produce,
            9,
            1,
            &produce_req(0, &[("t", 0, batch(&[("k", "v")]))]),
        ),
    )
    .unwrap();
    assert_eq!(c.next_due(), None);
    assert_eq!(c.log("t", 0).unwrap().len(), 1);
    c.send(
        t(1),
        conn,
        frame(
            ApiKey::Produce,
            9,
            2,
            &produce_req(0, &[("t", 7, batch(&[("k", "v")]))]),
        ),
    )
    .unwrap();
    assert_eq!(c.poll(t(1)), Some(FakeOutput::Disconnected { conn }));
    assert!(c.send(t(2), conn, Bytes::new()).is_err());
}

#[test]
fn scripted_faults_error_delay_hang_disconnect() {
    let mut c = cluster();
    let conn = leader_conn(&mut c, "t", 0);
    let p0 = || produce_req(-1, &[("t", 0, batch(&[("k", "v")]))]);
    c.push_fault(
        Fault::new(ApiKey::Produce, FaultAction::Error(6))
            .on_partition("t", 0)
            .times(2),
    );
    c.push_fault(Fault::new(
        ApiKey::Produce,
        FaultAction::Delay(Duration::from_millis(50)),
    ));
    for cid in 1..=4 {
        c.send(t(0), conn, frame(ApiKey::Produce, 9, cid, &p0()))
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut now = t(0);
    while let Some(due) = c.next_due() {
        now = due;
        let (_, f) = next_response(&mut c, now);
        let (cid, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
        seen.push((now, cid, r.responses[0].partition_responses[0].error_code));
    }
    // Two errors, one delayed success, and the fourth queued behind it on the same connection.
    assert_eq!(
        seen,
        vec![(t(1), 1, 6), (t(1), 2, 6), (t(51), 3, 0), (t(51), 4, 0)]
    );
    assert_eq!(c.log("t", 0).unwrap().len(), 2);
    assert_eq!(c.pending_faults().count(), 0);
    let faults: Vec<_> = c
        .requests()
        .iter()
        .map(|r| r.fault.as_ref().map(|f| f.action.clone()))
        .collect();
    assert_eq!(faults[2], Some(FaultAction::Delay(50 * MS)));

    // DisconnectAfter: appended, but the client only sees the connection drop.
    c.push_fault(Fault::new(ApiKey::Produce, FaultAction::DisconnectAfter));
    c.send(now, conn, frame(ApiKey::Produce, 9, 5, &p0()))
        .unwrap();
    assert_eq!(c.poll(now), Some(FakeOutput::Disconnected { conn }));
    assert_eq!(c.log("t", 0).unwrap().len(), 3);

    // DisconnectBefore: not appended.
    let conn = leader_conn(&mut c, "t", 0);
    c.push_fault(Fault::new(ApiKey::Produce, FaultAction::DisconnectBefore));
    c.send(now, conn, frame(ApiKey::Produce, 9, 6, &p0()))
        .unwrap();
    assert_eq!(c.poll(now), Some(FakeOutput::Disconnected { conn }));
    assert_eq!(c.log("t", 0).unwrap().len(), 3);

    // Hang: appended, never answered, and the connection stays silent afterwards.
    let conn = leader_conn(&mut c, "t", 0);
    c.push_fault(Fault::new(ApiKey::Produce, FaultAction::Hang));
    c.send(now, conn, frame(ApiKey::Produce, 9, 7, &p0()))
        .unwrap();
    c.send(
        now,
        conn,
        frame(ApiKey::Metadata, 12, 8, &MetadataRequest::default()),
    )
    .unwrap();
    assert_eq!(c.next_due(), None);
    assert_eq!(c.log("t", 0).unwrap().len(), 4);
    assert_eq!(c.requests().len(), 8);
}

#[test]
fn fault_filters_by_broker_and_error_delayed() {
    let mut c = cluster();
    let (leader, _) = c.leader("t", 0).unwrap();
    c.push_fault(
        Fault::new(ApiKey::Produce, FaultAction::ErrorDelayed(7, 20 * MS)).on_broker(leader),
    );
    let other = if leader == 1 { 2 } else { 1 };
    let oc = c.connect(t(0), &format!("fake-{other}"), 9092).unwrap();
    c.send(
        t(0),
        oc,
        frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
    )
    .unwrap();
    let conn = leader_conn(&mut c, "t", 0);
    c.send(
        t(0),
        conn,
        frame(
            ApiKey::Produce,
            9,
            2,
            &produce_req(-1, &[("t", 0, batch(&[("k", "v")]))]),
        ),
    )
    .unwrap();
    let (got, _) = next_response(&mut c, t(1));
    assert_eq!(got, oc);
    assert!(c.poll(t(20)).is_none());
    let (_, f) = next_response(&mut c, t(21));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 7);
    assert!(c.log("t", 0).unwrap().is_empty());
}

#[test]
fn broker_down_refuses_connects_and_drops_connections() {
    let mut c = cluster();
    let conn = c.connect(t(0), "fake-2", 9092).unwrap();
    c.send(
        t(0),
        conn,
        frame(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
    )
    .unwrap();
    c.set_broker_down(t(0), 2).unwrap();
    assert_eq!(c.poll(t(0)), Some(FakeOutput::Disconnected { conn }));
    assert_eq!(
        c.poll(t(5)),
        None,
        "the pending response was lost with the connection"
    );
    assert_eq!(
        c.connect(t(1), "fake-2", 9092),
        Err(FakeError::BrokerDown(2))
    );
    assert!(matches!(
        c.connect(t(1), "fake-9", 9092),
        Err(FakeError::UnknownAddress { .. })
    ));
    assert!(matches!(
        c.connect(t(1), "kafka", 9092),
        Err(FakeError::UnknownAddress { .. })
    ));
    c.set_broker_up(2).unwrap();
    assert!(c.connect(t(1), "fake-2", 9092).is_ok());
}

#[test]
fn init_producer_id_allocates_and_bumps() {
    let mut c = cluster();
    let conn = c.connect(t(0), "fake-1", 9092).unwrap();
    c.send(
        t(0),
        conn,
        frame(
            ApiKey::InitProducerId,
            4,
            1,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(kafka_protocol::messages::ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_timeout_ms(60_000),
        ),
    )
    .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, InitProducerIdResponse) = response(ApiKey::InitProducerId, 4, f);
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, 1000, 0)
    );
    let bump = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(r.producer_id)
        .with_producer_epoch(0);
    c.send(t(1), conn, frame(ApiKey::InitProducerId, 4, 2, &bump))
        .unwrap();
    let (_, f) = next_response(&mut c, t(2));
    let (_, r): (i32, InitProducerIdResponse) = response(ApiKey::InitProducerId, 4, f);
    assert_eq!((r.producer_id.0, r.producer_epoch), (1000, 1));
}

#[test]
fn unsupported_versions_and_garbage_close_the_connection() {
    let mut c = FakeCluster::new(FakeConfig {
        api_versions: vec![
            ApiRange {
                api_key: 0,
                min: 3,
                max: 11,
            },
            ApiRange {
                api_key: 18,
                min: 0,
                max: 4,
            },
        ],
        ..FakeConfig::default()
    });
    c.create_topic("t", 1);
    let conn = leader_conn(&mut c, "t", 0);
    c.send(
        t(0),
        conn,
        frame(
            ApiKey::Produce,
            12,
            1,
            &produce_req(-1, &[("t", 0, batch(&[("k", "v")]))]),
        ),
    )
    .unwrap();
    assert_eq!(c.poll(t(0)), Some(FakeOutput::Disconnected { conn }));
    assert!(
        c.requests()[0]
            .rejected
            .as_deref()
            .unwrap()
            .contains("not supported")
    );
    let conn = leader_conn(&mut c, "t", 0);
    c.send(t(0), conn, Bytes::from_static(&[0, 0, 0])).unwrap();
    assert_eq!(c.poll(t(0)), Some(FakeOutput::Disconnected { conn }));
    let conn = leader_conn(&mut c, "t", 0);
    c.send(t(0), conn, Bytes::from_static(&[0x7f, 0, 0, 1, 0, 0, 0, 1]))
        .unwrap();
    assert_eq!(c.poll(t(0)), Some(FakeOutput::Disconnected { conn }));
}

#[test]
fn idempotent_producer_duplicates_gaps_and_epochs() {
    let mut c = cluster();
    let conn = leader_conn(&mut c, "t", 0);
    let mut cid = 0;
    let mut produce = |c: &mut FakeCluster, b: Bytes| {
        cid += 1;
        c.send(
            t(0),
            conn,
            frame(ApiKey::Produce, 9, cid, &produce_req(-1, &[("t", 0, b)])),
        )
        .unwrap();
        let (_, f) = next_response(c, t(1));
        let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    let kv = [("a", "1"), ("b", "2")];
    // Any first sequence is accepted from a producer the partition does not know.
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 0, 10)), (0, 0));
    // A retry of the same batch: the original offset, nothing appended.
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 0, 10)), (0, 0));
    assert_eq!(c.log_end_offset("t", 0), Some(2));
    assert!(
        c.produce_requests()
            .last()
            .unwrap()
            .produce
            .as_ref()
            .unwrap()
            .partitions[0]
            .duplicate
    );
    // A gap.
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 0, 13)).0, 45);
    // The next batch in sequence.
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 0, 12)), (0, 2));
    // A new epoch must start at 0; an old epoch is fenced.
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 1, 14)).0, 45);
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 1, 0)), (0, 4));
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 7, 0, 14)).0, 47);
    // Another producer is independent; sequences wrap at i32::MAX.
    assert_eq!(
        produce(&mut c, idempotent_batch(&kv[..1], 8, 0, i32::MAX)),
        (0, 6)
    );
    assert_eq!(produce(&mut c, idempotent_batch(&kv, 8, 0, 0)), (0, 7));
    assert_eq!(c.log("t", 0).unwrap().len(), 5);
    let seqs: Vec<i32> = c
        .log("t", 0)
        .unwrap()
        .iter()
        .map(|b| b.header.base_sequence)
        .collect();
    assert_eq!(seqs, vec![10, 12, 0, i32::MAX, 0]);
}

#[test]
fn throttle_and_partition_growth() {
    let mut c = cluster();
    let conn = leader_conn(&mut c, "t", 0);
    c.push_fault(Fault::new(ApiKey::Produce, FaultAction::Throttle(250 * MS)));
    c.send(
        t(0),
        conn,
        frame(
            ApiKey::Produce,
            9,
            1,
            &produce_req(-1, &[("t", 0, batch(&[("k", "v")]))]),
        ),
    )
    .unwrap();
    let (_, f) = next_response(&mut c, t(1));
    let (_, r): (i32, ProduceResponse) = response(ApiKey::Produce, 9, f);
    assert_eq!(
        (
            r.throttle_time_ms,
            r.responses[0].partition_responses[0].error_code
        ),
        (250, 0)
    );

    assert_eq!(c.add_partitions("t", 5).unwrap(), 5);
    assert_eq!(
        c.add_partitions("t", 2).unwrap(),
        5,
        "partitions are never removed"
    );
    assert_eq!(c.partition_count("t"), Some(5));
    let (leader, epoch) = c.leader("t", 4).unwrap();
    assert!((1..=3).contains(&leader) && epoch == 0);
    assert!(c.log("t", 4).unwrap().is_empty());
    assert!(matches!(
        c.add_partitions("nope", 2),
        Err(FakeError::UnknownTopic(_))
    ));
}

#[test]
fn truncated_and_garbage_responses_keep_the_correlation_id_but_do_not_decode() {
    let mut c = cluster();
    let conn = leader_conn(&mut c, "t", 0);
    for (cid, action) in [(1, FaultAction::Truncate), (2, FaultAction::Garbage)] {
        c.push_fault(Fault::new(ApiKey::Produce, action.clone()));
        c.send(
            t(0),
            conn,
            frame(
                ApiKey::Produce,
                9,
                cid,
                &produce_req(-1, &[("t", 0, batch(&[("k", "v")]))]),
            ),
        )
        .unwrap();
        let (_, f) = next_response(&mut c, t(1));
        assert_eq!(
            i32::from_be_bytes([f[0], f[1], f[2], f[3]]),
            cid,
            "{action:?}"
        );
        let mut b = f;
        let _ = ResponseHeader::decode(&mut b, ApiKey::Produce.response_header_version(9));
        assert!(
            ProduceResponse::decode(&mut b, 9).is_err(),
            "{action:?} decoded"
        );
    }
    // Both were appended: only the answers were broken.
    assert_eq!(c.log("t", 0).unwrap().len(), 2);
}
