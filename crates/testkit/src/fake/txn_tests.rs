//! Unit tests of the fake cluster's transaction coordinator, driven with hand-built requests.
#![allow(clippy::unwrap_used)]

use super::tests::{frame, produce_req, response, t};
use super::*;
use bytes::BytesMut;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, InitProducerIdRequest, InitProducerIdResponse,
    ProduceRequest, ProduceResponse, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const MS: Duration = Duration::from_millis(1);
const TXN: &str = "txn-a";

// Kafka error codes.
const NOT_ENOUGH_REPLICAS: i16 = 19;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTION_ABORTABLE: i16 = 120;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

/// A client talking to the fake with raw requests on virtual time.
struct Client {
    c: FakeCluster,
    now: Instant,
    conns: BTreeMap<i32, FakeConnId>,
    cid: i32,
}

impl Client {
    fn new(config: FakeConfig) -> Self {
        let mut c = FakeCluster::new(config);
        c.create_topic("t", 3);
        Self {
            c,
            now: t(0),
            conns: BTreeMap::new(),
            cid: 0,
        }
    }

    fn conn(&mut self, node: i32) -> FakeConnId {
        if let Some(&c) = self.conns.get(&node).filter(|&&c| self.c.is_open(c)) {
            return c;
        }
        let c = self
            .c
            .connect(self.now, &format!("fake-{node}"), 9092)
            .unwrap();
        self.conns.insert(node, c);
        c
    }

    /// Sends `req` to `node` and returns the decoded answer (time moves to its arrival).
    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        node: i32,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let conn = self.conn(node);
        self.cid += 1;
        self.c
            .send(self.now, conn, frame(key, version, self.cid, req))
            .unwrap();
        for _ in 0..1000 {
            let due = self.c.next_due().expect("an answer is scheduled");
            self.now = self.now.max(due);
            while let Some(out) = self.c.poll(self.now) {
                match out {
                    FakeOutput::Response { conn: got, frame } if got == conn => {
                        let (cid, r) = response::<Resp>(key, version, frame);
                        assert_eq!(cid, self.cid);
                        return r;
                    }
                    FakeOutput::Disconnected { conn: other } if other != conn => {}
                    other => panic!(
                        "unexpected {other:?}; last request: {:?}",
                        self.c.requests().last()
                    ),
                }
            }
        }
        panic!("no answer to {key:?}");
    }

    /// Lets `d` of virtual time pass (coordinator timers run).
    fn wait(&mut self, d: Duration) {
        self.now = self.now + d;
        while let Some(out) = self.c.poll(self.now) {
            assert!(
                matches!(out, FakeOutput::Disconnected { .. }),
                "unexpected {out:?}"
            );
        }
    }

    fn txn_node(&self, id: &str) -> i32 {
        self.c.coordinator(CoordinatorType::Transaction, id)
    }

    fn group_node(&self, group: &str) -> i32 {
        self.c.coordinator(CoordinatorType::Group, group)
    }

    fn init(&mut self, id: &str, version: i16, expected: Option<(i64, i16)>) -> (i16, i64, i16) {
        let (pid, epoch) = expected.unwrap_or((-1, -1));
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(id))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch);
        let node = self.txn_node(id);
        let r: InitProducerIdResponse = self.call(node, ApiKey::InitProducerId, version, &req);
        (r.error_code, r.producer_id.0, r.producer_epoch)
    }

    fn init_ok(&mut self, id: &str) -> (i64, i16) {
        let (code, pid, epoch) = self.init(id, 5, None);
        assert_eq!(code, 0);
        (pid, epoch)
    }

    fn add_partitions(
        &mut self,
        id: &str,
        (pid, epoch): (i64, i16),
        version: i16,
        parts: &[(&str, i32)],
    ) -> Vec<(String, i32, i16)> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts {
            topics.entry(t).or_default().push(*p);
        }
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(id)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let node = self.txn_node(id);
        let r: AddPartitionsToTxnResponse =
            self.call(node, ApiKey::AddPartitionsToTxn, version, &req);
        r.results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| {
                t.results_by_partition.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        p.partition_error_code,
                    )
                })
            })
            .collect()
    }

    fn add_partitions_code(&mut self, id: &str, pe: (i64, i16), parts: &[(&str, i32)]) -> i16 {
        let r = self.add_partitions(id, pe, 3, parts);
        assert!(r.iter().all(|x| x.2 == r[0].2), "one code for all: {r:?}");
        r[0].2
    }

    fn end(
        &mut self,
        id: &str,
        (pid, epoch): (i64, i16),
        version: i16,
        commit: bool,
    ) -> EndTxnResponse {
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        let node = self.txn_node(id);
        self.call(node, ApiKey::EndTxn, version, &req)
    }

    /// Produces one transactional batch to the partition's leader; returns (code, offset).
    #[allow(clippy::too_many_arguments)]
    fn produce_txn(
        &mut self,
        id: &str,
        (pid, epoch): (i64, i16),
        seq: i32,
        version: i16,
        topic: &str,
        partition: i32,
        values: &[&str],
    ) -> (i16, i64) {
        let b = txn_batch(values, pid, epoch, seq, true);
        let req: ProduceRequest = produce_req(-1, &[(topic, partition, b)])
            .with_transactional_id(Some(TransactionalId(s(id))));
        let leader = self.c.leader(topic, partition).unwrap().0;
        let r: ProduceResponse = self.call(leader, ApiKey::Produce, version, &req);
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    fn produce_plain(&mut self, topic: &str, partition: i32, values: &[&str]) -> i16 {
        let b = txn_batch(values, -1, -1, -1, false);
        let req = produce_req(-1, &[(topic, partition, b)]);
        let leader = self.c.leader(topic, partition).unwrap().0;
        let r: ProduceResponse = self.call(leader, ApiKey::Produce, 11, &req);
        r.responses[0].partition_responses[0].error_code
    }

    fn committed_values(&self, topic: &str, partition: i32) -> Vec<String> {
        values_of(&self.c.read_committed(topic, partition).unwrap())
    }

    fn all_values(&self, topic: &str, partition: i32) -> Vec<String> {
        values_of(&self.c.records(topic, partition).unwrap())
    }
}

fn values_of(records: &[LogRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

pub(super) fn txn_batch(
    values: &[&str],
    pid: i64,
    epoch: i16,
    seq: i32,
    transactional: bool,
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if seq < 0 { -1 } else { seq + i as i32 },
            timestamp: 1_000,
            key: None,
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

fn tv1() -> FakeConfig {
    FakeConfig::default().with_transaction_version(0)
}

#[test]
fn java_hash_and_key_partition_match_kafka() {
    // "hello".hashCode() in Java.
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash(""), 0);
    // Negative hashes are masked, not negated (Utils.abs).
    let h = java_string_hash("polygenelubricants");
    assert_eq!(h, i32::MIN);
    assert_eq!(key_partition("polygenelubricants"), 0);
    assert_eq!(key_partition("hello"), 99_162_322 % 50);
}

#[test]
fn transaction_version_setting_is_advertised_as_finalized() {
    assert_eq!(FakeConfig::default().transaction_version(), 2);
    let c = tv1();
    assert_eq!(c.transaction_version(), 0);
    let mut k = Client::new(c);
    let r: kafka_protocol::messages::ApiVersionsResponse = k.call(
        1,
        ApiKey::ApiVersions,
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    assert!(
        !r.finalized_features
            .iter()
            .any(|f| f.name.as_str() == "transaction.version"),
        "level 0 is not finalized"
    );
    let mut k = Client::new(FakeConfig::default().with_transaction_version(1));
    let r: kafka_protocol::messages::ApiVersionsResponse = k.call(
        1,
        ApiKey::ApiVersions,
        3,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    let tv = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .unwrap();
    assert_eq!(tv.max_version_level, 1);
}

#[test]
fn find_coordinator_single_and_batched_keys_and_a_down_coordinator() {
    let mut k = Client::new(FakeConfig::default());
    let node = k.txn_node(TXN);
    // v3: single key, transaction type, asked of any broker.
    let req = FindCoordinatorRequest::default()
        .with_key(s(TXN))
        .with_key_type(1);
    let r: FindCoordinatorResponse = k.call(1, ApiKey::FindCoordinator, 3, &req);
    assert_eq!((r.error_code, r.node_id.0, r.port), (0, node, 9092));
    assert_eq!(r.host.as_str(), format!("fake-{node}"));
    // v0: group only.
    let req = FindCoordinatorRequest::default().with_key(s("g"));
    let r: FindCoordinatorResponse = k.call(2, ApiKey::FindCoordinator, 0, &req);
    assert_eq!((r.error_code, r.node_id.0), (0, k.group_node("g")));
    // v4+: batched keys, per-key answers.
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(TXN), s("other"), s("")]);
    let r: FindCoordinatorResponse = k.call(3, ApiKey::FindCoordinator, 6, &req);
    assert_eq!(r.coordinators.len(), 3);
    assert_eq!(r.coordinators[0].node_id.0, node);
    assert_eq!(r.coordinators[1].node_id.0, k.txn_node("other"));
    assert_eq!(r.coordinators[2].error_code, INVALID_REQUEST);
    // Unknown key type.
    let req = FindCoordinatorRequest::default()
        .with_key(s(TXN))
        .with_key_type(7);
    let r: FindCoordinatorResponse = k.call(1, ApiKey::FindCoordinator, 2, &req);
    assert_eq!(r.error_code, INVALID_REQUEST);
    // The coordinator's broker is down.
    let other = k.c.broker_ids().into_iter().find(|&b| b != node).unwrap();
    k.c.set_broker_down(k.now, node).unwrap();
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(TXN)]);
    let r: FindCoordinatorResponse = k.call(other, ApiKey::FindCoordinator, 4, &req);
    assert_eq!(
        (r.coordinators[0].error_code, r.coordinators[0].node_id.0),
        (COORDINATOR_NOT_AVAILABLE, -1)
    );
    // It moves: the new one is reported.
    k.c.move_coordinator(k.now, CoordinatorType::Transaction, TXN, other)
        .unwrap();
    let r: FindCoordinatorResponse = k.call(other, ApiKey::FindCoordinator, 4, &req);
    assert_eq!(
        (r.coordinators[0].error_code, r.coordinators[0].node_id.0),
        (0, other)
    );
}

#[test]
fn init_producer_id_allocates_bumps_and_checks_kip_360() {
    let mut k = Client::new(FakeConfig::default());
    let (pid, e0) = k.init_ok(TXN);
    assert_eq!(e0, 0);
    // Re-init by another instance: same pid, next epoch.
    let (pid2, e1) = k.init_ok(TXN);
    assert_eq!((pid2, e1), (pid, 1));
    // KIP-360 with the current pid/epoch: bump.
    assert_eq!(k.init(TXN, 4, Some((pid, 1))), (0, pid, 2));
    // The same request again (its answer was lost): the retry gets the same epoch.
    assert_eq!(k.init(TXN, 4, Some((pid, 1))), (0, pid, 2));
    // A stale epoch: fenced (PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before).
    assert_eq!(k.init(TXN, 4, Some((pid, 0))).0, PRODUCER_FENCED);
    assert_eq!(k.init(TXN, 3, Some((pid, 0))).0, INVALID_PRODUCER_EPOCH);
    assert_eq!(k.init(TXN, 4, Some((pid + 77, 2))).0, PRODUCER_FENCED);
    // Wrong broker, bad timeout, empty id.
    let node = k.txn_node(TXN);
    let other = k.c.broker_ids().into_iter().find(|&b| b != node).unwrap();
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(TXN))))
        .with_transaction_timeout_ms(1000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r: InitProducerIdResponse = k.call(other, ApiKey::InitProducerId, 4, &req);
    assert_eq!(r.error_code, NOT_COORDINATOR);
    let bad = req.clone().with_transaction_timeout_ms(900_001);
    let r: InitProducerIdResponse = k.call(node, ApiKey::InitProducerId, 4, &bad);
    assert_eq!(r.error_code, INVALID_TRANSACTION_TIMEOUT);
    let info = k.c.transaction(TXN).unwrap();
    assert_eq!(
        (info.producer_id, info.producer_epoch, info.status),
        (pid, 2, TxnStatus::Empty)
    );
}

#[test]
fn tv1_commit_writes_markers_and_read_committed_shows_it_whole() {
    let mut k = Client::new(tv1());
    let pe = k.init_ok(TXN);
    assert_eq!(k.produce_plain("t", 0, &["plain-0"]), 0);
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0), ("t", 1)]), 0);
    // Idempotent re-add answers NONE.
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0)]), 0);
    assert_eq!(k.produce_txn(TXN, pe, 0, 11, "t", 0, &["a0", "a1"]), (0, 1));
    assert_eq!(k.produce_txn(TXN, pe, 0, 11, "t", 1, &["b0"]).0, 0);
    // A partition not added: INVALID_TXN_STATE before v11, TRANSACTION_ABORTABLE at v11.
    assert_eq!(
        k.produce_txn(TXN, pe, 0, 10, "t", 2, &["x"]).0,
        INVALID_TXN_STATE
    );
    assert_eq!(
        k.produce_txn(TXN, pe, 0, 11, "t", 2, &["x"]).0,
        TRANSACTION_ABORTABLE
    );
    // The same producer writing non-transactionally to a partition of its open transaction.
    assert_eq!(k.c.last_stable_offset("t", 0), Some(1));
    assert_eq!(k.committed_values("t", 0), vec!["plain-0"]);
    let r = k.end(TXN, pe, 4, true);
    assert_eq!(r.error_code, 0);
    // Markers are being written: the next transaction has to wait.
    assert_eq!(
        k.add_partitions_code(TXN, pe, &[("t", 0)]),
        CONCURRENT_TRANSACTIONS
    );
    assert_eq!(k.end(TXN, pe, 4, true).error_code, CONCURRENT_TRANSACTIONS);
    k.wait(5 * MS);
    assert_eq!(
        k.c.transaction(TXN).unwrap().status,
        TxnStatus::CompleteCommit
    );
    assert_eq!(k.committed_values("t", 0), vec!["plain-0", "a0", "a1"]);
    assert_eq!(k.committed_values("t", 1), vec!["b0"]);
    assert_eq!(k.c.last_stable_offset("t", 0), Some(4));
    let markers = k.c.control_markers("t", 0).unwrap();
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (
            markers[0].offset,
            markers[0].producer_id,
            markers[0].producer_epoch,
            markers[0].commit
        ),
        (3, pe.0, pe.1, true)
    );
    let stored = &k.c.log("t", 0).unwrap()[2];
    assert_eq!(
        stored.header.attributes & 0x30,
        0x30,
        "transactional + control"
    );
    assert_eq!(stored.header.base_sequence, -1);
    // Markers are not records.
    assert_eq!(k.all_values("t", 0), vec!["plain-0", "a0", "a1"]);
    // TV1 EndTxn retries: the same result is NONE, the other one INVALID_TXN_STATE.
    assert_eq!(k.end(TXN, pe, 4, true).error_code, 0);
    assert_eq!(k.end(TXN, pe, 4, false).error_code, INVALID_TXN_STATE);
    let done = k.c.completed_transactions();
    assert_eq!(done.len(), 1);
    assert!(done[0].commit && done[0].cause == EndCause::Client);
    assert_eq!(
        done[0].partitions,
        vec![("t".to_owned(), 0), ("t".to_owned(), 1)]
    );
    // TV1 sequences continue across transactions at the same epoch.
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0)]), 0);
    assert_eq!(k.produce_txn(TXN, pe, 2, 11, "t", 0, &["c0"]).0, 0);
    assert!(k.c.hanging_transactions().is_empty());
}

#[test]
fn tv1_abort_hides_the_transaction_and_other_errors() {
    let mut k = Client::new(tv1());
    let pe = k.init_ok(TXN);
    // Empty + EndTxn under TV1: INVALID_TXN_STATE.
    assert_eq!(k.end(TXN, pe, 4, false).error_code, INVALID_TXN_STATE);
    // Unknown partition: UNKNOWN_TOPIC_OR_PARTITION, the rest OPERATION_NOT_ATTEMPTED.
    let r = k.add_partitions(TXN, pe, 3, &[("t", 0), ("nope", 0)]);
    assert!(r.contains(&("t".to_owned(), 0, OPERATION_NOT_ATTEMPTED)));
    assert!(r.contains(&("nope".to_owned(), 0, 3)));
    assert_eq!(
        k.add_partitions_code("unknown-id", pe, &[("t", 0)]),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        k.add_partitions_code(TXN, (pe.0 + 1, pe.1), &[("t", 0)]),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        k.add_partitions_code(TXN, (pe.0, pe.1 + 1), &[("t", 0)]),
        PRODUCER_FENCED
    );
    let r = k.add_partitions(TXN, (pe.0, pe.1 + 1), 1, &[("t", 0)]);
    assert_eq!(
        r[0].2, INVALID_PRODUCER_EPOCH,
        "v1 predates PRODUCER_FENCED"
    );
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0)]), 0);
    assert_eq!(k.produce_txn(TXN, pe, 0, 11, "t", 0, &["a0"]).0, 0);
    // The producer's non-transactional write while its transaction is open.
    let b = txn_batch(&["stray"], pe.0, pe.1, 1, false);
    let leader = k.c.leader("t", 0).unwrap().0;
    let r: ProduceResponse = k.call(
        leader,
        ApiKey::Produce,
        11,
        &produce_req(-1, &[("t", 0, b)]),
    );
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        INVALID_TXN_STATE
    );
    assert_eq!(k.end(TXN, pe, 4, false).error_code, 0);
    k.wait(5 * MS);
    assert_eq!(k.all_values("t", 0), vec!["a0"]);
    assert!(k.committed_values("t", 0).is_empty());
    assert!(!k.c.control_markers("t", 0).unwrap()[0].commit);
    assert_eq!(k.end(TXN, pe, 4, false).error_code, 0, "an abort retry");
    assert_eq!(k.end(TXN, pe, 4, true).error_code, INVALID_TXN_STATE);
}

#[test]
fn tv2_implicit_add_epoch_bump_retry_and_sequences() {
    let mut k = Client::new(FakeConfig::default());
    let pe = k.init_ok(TXN);
    assert_eq!(k.produce_txn(TXN, pe, 0, 12, "t", 0, &["a0", "a1"]).0, 0);
    let info = k.c.transaction(TXN).unwrap();
    assert_eq!(info.status, TxnStatus::Ongoing);
    assert!(info.tv2);
    assert_eq!(info.partitions, vec![("t".to_owned(), 0)]);
    let r = k.end(TXN, pe, 5, true);
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pe.0, pe.1 + 1)
    );
    let next = (pe.0, pe.1 + 1);
    // A Produce of the next transaction while markers are written: NOT_ENOUGH_REPLICAS.
    assert_eq!(
        k.produce_txn(TXN, next, 0, 12, "t", 0, &["b0"]).0,
        NOT_ENOUGH_REPLICAS
    );
    // The retried EndTxn during the markers: CONCURRENT_TRANSACTIONS; after: NONE + new epoch.
    assert_eq!(k.end(TXN, pe, 5, true).error_code, CONCURRENT_TRANSACTIONS);
    k.wait(5 * MS);
    let r = k.end(TXN, pe, 5, true);
    assert_eq!((r.error_code, r.producer_epoch), (0, next.1));
    // A retried commit as an abort is not a retry.
    assert_eq!(k.end(TXN, pe, 5, false).error_code, INVALID_TXN_STATE);
    assert_eq!(k.committed_values("t", 0), vec!["a0", "a1"]);
    // The new epoch restarts sequences at 0: the marker reset them.
    assert_eq!(
        k.produce_txn(TXN, next, 2, 12, "t", 0, &["b0"]).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(k.produce_txn(TXN, next, 0, 12, "t", 0, &["b0"]).0, 0);
    // The old epoch is fenced at the partition.
    assert_eq!(
        k.produce_txn(TXN, pe, 2, 12, "t", 0, &["zombie"]).0,
        INVALID_PRODUCER_EPOCH
    );
    let r = k.end(TXN, next, 5, false);
    assert_eq!((r.error_code, r.producer_epoch), (0, next.1 + 1));
    k.wait(5 * MS);
    assert_eq!(k.committed_values("t", 0), vec!["a0", "a1"]);
    // TV2: an abort with nothing added still bumps the epoch (empty abort).
    let third = (pe.0, next.1 + 1);
    let r = k.end(TXN, third, 5, false);
    assert_eq!((r.error_code, r.producer_epoch), (0, third.1 + 1));
    k.wait(5 * MS);
    // ...but an empty commit is an invalid transition.
    let fourth = (pe.0, third.1 + 1);
    assert_eq!(k.end(TXN, fourth, 5, true).error_code, INVALID_TXN_STATE);
    assert!(k.c.hanging_transactions().is_empty());
}

#[test]
fn a_second_instance_fences_the_first_and_aborts_its_transaction() {
    for tv in [0, 2] {
        let mut k = Client::new(FakeConfig::default().with_transaction_version(tv));
        let old = k.init_ok(TXN);
        if tv == 2 {
            assert_eq!(k.produce_txn(TXN, old, 0, 12, "t", 1, &["old"]).0, 0);
        } else {
            assert_eq!(k.add_partitions_code(TXN, old, &[("t", 1)]), 0);
            assert_eq!(k.produce_txn(TXN, old, 0, 11, "t", 1, &["old"]).0, 0);
        }
        // The new instance: its first InitProducerId fences and aborts, and must be retried.
        assert_eq!(k.init(TXN, 5, None).0, CONCURRENT_TRANSACTIONS);
        assert_eq!(
            k.c.transaction(TXN).unwrap().status,
            TxnStatus::PrepareAbort
        );
        assert_eq!(k.init(TXN, 5, None).0, CONCURRENT_TRANSACTIONS);
        k.wait(5 * MS);
        let (code, pid, epoch) = k.init(TXN, 5, None);
        assert_eq!((code, pid), (0, old.0));
        assert!(epoch >= old.1 + 2, "tv{tv}: epoch {epoch}");
        assert!(k.committed_values("t", 1).is_empty());
        let done = &k.c.completed_transactions()[0];
        assert!(!done.commit && done.cause == EndCause::Fenced);
        // The old instance is fenced everywhere.
        assert_eq!(
            k.add_partitions_code(TXN, old, &[("t", 1)]),
            PRODUCER_FENCED
        );
        assert_eq!(k.end(TXN, old, 4, true).error_code, PRODUCER_FENCED);
        assert_eq!(k.end(TXN, old, 1, true).error_code, INVALID_PRODUCER_EPOCH);
        assert_eq!(k.end(TXN, old, 5, false).error_code, PRODUCER_FENCED);
        let v = if tv == 2 { 12 } else { 11 };
        assert_eq!(
            k.produce_txn(TXN, old, 1, v, "t", 1, &["zombie"]).0,
            INVALID_PRODUCER_EPOCH
        );
        assert!(k.c.hanging_transactions().is_empty());
    }
}

#[test]
fn a_transaction_timeout_aborts_on_the_check_tick_and_bumps_the_epoch() {
    for tv in [0, 2] {
        let config = FakeConfig {
            txn_abort_check_interval: 50 * MS,
            ..FakeConfig::default().with_transaction_version(tv)
        };
        let mut k = Client::new(config);
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(TXN))))
            .with_transaction_timeout_ms(120)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let node = k.txn_node(TXN);
        let r: InitProducerIdResponse = k.call(node, ApiKey::InitProducerId, 5, &req);
        let pe = (r.producer_id.0, r.producer_epoch);
        let started = k.now;
        if tv == 2 {
            assert_eq!(k.produce_txn(TXN, pe, 0, 12, "t", 0, &["late"]).0, 0);
        } else {
            assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0)]), 0);
            assert_eq!(k.produce_txn(TXN, pe, 0, 11, "t", 0, &["late"]).0, 0);
        }
        k.wait(100 * MS);
        assert_eq!(k.c.transaction(TXN).unwrap().status, TxnStatus::Ongoing);
        k.wait(100 * MS);
        let done = k.c.completed_transactions()[0].clone();
        assert_eq!((done.commit, done.cause), (false, EndCause::Timeout));
        // Started at ~2 ms, deadline ~122 ms: aborted at the 150 ms tick (+ marker latency).
        assert!(started < t(10));
        assert_eq!(done.at, t(150) + k.c.config().txn_marker_latency);
        assert_eq!(k.c.transaction(TXN).unwrap().producer_epoch, pe.1 + 1);
        assert!(k.committed_values("t", 0).is_empty());
        // The producer's next produce is fenced at the partition.
        let v = if tv == 2 { 12 } else { 11 };
        assert_eq!(
            k.produce_txn(TXN, pe, 1, v, "t", 0, &["x"]).0,
            INVALID_PRODUCER_EPOCH
        );
        if tv == 2 {
            // TV2: its commit is an invalid transition, its abort a retry that recovers.
            assert_eq!(k.end(TXN, pe, 5, true).error_code, INVALID_TXN_STATE);
            let r = k.end(TXN, pe, 5, false);
            assert_eq!((r.error_code, r.producer_epoch), (0, pe.1 + 1));
        } else {
            assert_eq!(k.end(TXN, pe, 4, true).error_code, PRODUCER_FENCED);
            assert_eq!(k.end(TXN, pe, 4, false).error_code, PRODUCER_FENCED);
        }
    }
}

fn txn_offset_commit(
    k: &mut Client,
    group: &str,
    pe: (i64, i16),
    version: i16,
    generation: i32,
    member: &str,
    offset: i64,
) -> i16 {
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s("in")))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ]);
    let node = k.group_node(group);
    let r: TxnOffsetCommitResponse = k.call(node, ApiKey::TxnOffsetCommit, version, &req);
    r.topics[0].partitions[0].error_code
}

fn add_offsets(k: &mut Client, group: &str, pe: (i64, i16), version: i16) -> i16 {
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_group_id(GroupId(s(group)));
    let node = k.txn_node(TXN);
    let r: AddOffsetsToTxnResponse = k.call(node, ApiKey::AddOffsetsToTxn, version, &req);
    r.error_code
}

#[test]
fn transactional_offsets_become_visible_only_on_commit() {
    let mut k = Client::new(tv1());
    let pe = k.init_ok(TXN);
    // TV1 without AddOffsetsToTxn: TRANSACTION_ABORTABLE at v4, INVALID_TXN_STATE before.
    assert_eq!(
        txn_offset_commit(&mut k, "g", pe, 4, -1, "", 5),
        TRANSACTION_ABORTABLE
    );
    assert_eq!(
        txn_offset_commit(&mut k, "g", pe, 3, -1, "", 5),
        INVALID_TXN_STATE
    );
    assert_eq!(add_offsets(&mut k, "g", pe, 3), 0);
    // Wrong broker for the group.
    let gnode = k.group_node("g");
    let other = k.c.broker_ids().into_iter().find(|&b| b != gnode).unwrap();
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_group_id(GroupId(s("g")))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_generation_id(-1)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s("in")))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()]),
        ]);
    let r: TxnOffsetCommitResponse = k.call(other, ApiKey::TxnOffsetCommit, 3, &req);
    assert_eq!(r.topics[0].partitions[0].error_code, NOT_COORDINATOR);
    // KIP-447 membership checks.
    assert_eq!(
        txn_offset_commit(&mut k, "g", pe, 3, 4, "m1", 5),
        ILLEGAL_GENERATION
    );
    k.c.set_group_generation("g", 4, &["m1"]);
    assert_eq!(
        txn_offset_commit(&mut k, "g", pe, 3, 4, "m2", 5),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        txn_offset_commit(&mut k, "g", pe, 3, 3, "m1", 5),
        ILLEGAL_GENERATION
    );
    assert_eq!(txn_offset_commit(&mut k, "g", pe, 3, 4, "m1", 5), 0);
    assert_eq!(txn_offset_commit(&mut k, "g", pe, 3, -1, "", 7), 0);
    assert_eq!(k.c.pending_offsets("g"), 1);
    assert_eq!(k.c.committed_offset("g", "in", 0), None);
    assert_eq!(k.end(TXN, pe, 4, true).error_code, 0);
    assert_eq!(
        k.c.committed_offset("g", "in", 0),
        None,
        "not before the marker"
    );
    k.wait(5 * MS);
    let c = k.c.committed_offset("g", "in", 0).unwrap();
    assert_eq!(
        (c.offset, c.leader_epoch, c.metadata.as_deref()),
        (7, 3, Some("meta"))
    );
    assert_eq!(k.c.pending_offsets("g"), 0);
    // An aborted transaction's offsets are dropped.
    assert_eq!(add_offsets(&mut k, "g", pe, 3), 0);
    assert_eq!(txn_offset_commit(&mut k, "g", pe, 3, -1, "", 9), 0);
    assert_eq!(k.end(TXN, pe, 4, false).error_code, 0);
    k.wait(5 * MS);
    assert_eq!(k.c.committed_offset("g", "in", 0).unwrap().offset, 7);
    // A fenced epoch.
    assert_eq!(
        add_offsets(&mut k, "g", (pe.0, pe.1 + 1), 1),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        add_offsets(&mut k, "g", (pe.0, pe.1 + 1), 2),
        PRODUCER_FENCED
    );
    assert_eq!(
        txn_offset_commit(&mut k, "g", (pe.0, pe.1 + 1), 3, -1, "", 1),
        INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn tv2_txn_offset_commit_v5_adds_the_group_implicitly() {
    let mut k = Client::new(FakeConfig::default());
    let pe = k.init_ok(TXN);
    assert_eq!(txn_offset_commit(&mut k, "g", pe, 5, -1, "", 11), 0);
    let info = k.c.transaction(TXN).unwrap();
    assert_eq!(info.groups, vec!["g".to_owned()]);
    assert!(info.tv2);
    let r = k.end(TXN, pe, 5, true);
    assert_eq!((r.error_code, r.producer_epoch), (0, pe.1 + 1));
    // The next transaction's commit while the markers are written.
    assert_eq!(
        txn_offset_commit(&mut k, "g", (pe.0, pe.1 + 1), 5, -1, "", 12),
        COORDINATOR_NOT_AVAILABLE
    );
    k.wait(5 * MS);
    assert_eq!(k.c.committed_offset("g", "in", 0).unwrap().offset, 11);
}

#[test]
fn a_moved_coordinator_keeps_the_state_after_loading() {
    let config = FakeConfig {
        coordinator_load_time: 20 * MS,
        ..tv1()
    };
    let mut k = Client::new(config);
    let pe = k.init_ok(TXN);
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", 0)]), 0);
    let old = k.txn_node(TXN);
    let new = k.c.broker_ids().into_iter().find(|&b| b != old).unwrap();
    let epoch =
        k.c.move_coordinator(k.now, CoordinatorType::Transaction, TXN, new)
            .unwrap();
    assert_eq!(epoch, 1);
    // The old coordinator refuses, the new one is loading, then answers.
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_committed(true);
    let r: EndTxnResponse = k.call(old, ApiKey::EndTxn, 4, &req);
    assert_eq!(r.error_code, NOT_COORDINATOR);
    let r: EndTxnResponse = k.call(new, ApiKey::EndTxn, 4, &req);
    assert_eq!(r.error_code, COORDINATOR_LOAD_IN_PROGRESS);
    k.wait(20 * MS);
    assert_eq!(k.end(TXN, pe, 4, true).error_code, 0);
    k.wait(5 * MS);
    let m = k.c.control_markers("t", 0).unwrap();
    assert_eq!((m.len(), m[0].coordinator_epoch), (1, 1));
}

#[test]
fn markers_wait_for_a_partition_leader_that_is_down() {
    let mut k = Client::new(tv1());
    let pe = k.init_ok(TXN);
    let txn_node = k.txn_node(TXN);
    // A partition led by another broker than the coordinator.
    let p = (0..3)
        .find(|&p| k.c.leader("t", p).unwrap().0 != txn_node)
        .unwrap();
    let leader = k.c.leader("t", p).unwrap().0;
    assert_eq!(k.add_partitions_code(TXN, pe, &[("t", p)]), 0);
    assert_eq!(k.produce_txn(TXN, pe, 0, 11, "t", p, &["v"]).0, 0);
    assert_eq!(k.end(TXN, pe, 4, true).error_code, 0);
    k.c.set_broker_down(k.now, leader).unwrap();
    k.wait(100 * MS);
    assert_eq!(
        k.c.transaction(TXN).unwrap().status,
        TxnStatus::PrepareCommit
    );
    assert_eq!(k.end(TXN, pe, 4, true).error_code, CONCURRENT_TRANSACTIONS);
    k.c.set_broker_up(leader).unwrap();
    k.wait(20 * MS);
    assert_eq!(
        k.c.transaction(TXN).unwrap().status,
        TxnStatus::CompleteCommit
    );
    assert_eq!(k.committed_values("t", p), vec!["v"]);
}

#[test]
fn coordinator_faults_filter_by_key_and_apply_per_api() {
    let mut k = Client::new(tv1());
    let pe = k.init_ok(TXN);
    let (other_pid, other_epoch) = k.init_ok("txn-b");
    k.c.push_fault(
        Fault::new(
            ApiKey::AddPartitionsToTxn,
            FaultAction::Error(CONCURRENT_TRANSACTIONS),
        )
        .for_key("txn-b"),
    );
    k.c.push_fault(Fault::new(
        ApiKey::EndTxn,
        FaultAction::Error(NOT_COORDINATOR),
    ));
    k.c.push_fault(
        Fault::new(
            ApiKey::FindCoordinator,
            FaultAction::Error(COORDINATOR_NOT_AVAILABLE),
        )
        .times(2),
    );
    assert_eq!(
        k.add_partitions_code(TXN, pe, &[("t", 0)]),
        0,
        "other key: untouched"
    );
    assert_eq!(
        k.add_partitions_code("txn-b", (other_pid, other_epoch), &[("t", 0)]),
        CONCURRENT_TRANSACTIONS
    );
    let r = k.end(TXN, pe, 4, true);
    assert_eq!(r.error_code, NOT_COORDINATOR);
    assert_eq!(
        k.c.transaction(TXN).unwrap().status,
        TxnStatus::Ongoing,
        "not processed"
    );
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![s(TXN), s("txn-b")]);
    let r: FindCoordinatorResponse = k.call(1, ApiKey::FindCoordinator, 4, &req);
    assert!(
        r.coordinators
            .iter()
            .all(|c| c.error_code == COORDINATOR_NOT_AVAILABLE)
    );
    let r: FindCoordinatorResponse = k.call(
        1,
        ApiKey::FindCoordinator,
        1,
        &FindCoordinatorRequest::default()
            .with_key(s(TXN))
            .with_key_type(1),
    );
    assert_eq!(r.error_code, COORDINATOR_NOT_AVAILABLE);
    // A lost EndTxn answer: processed, connection closed.
    k.c.push_fault(Fault::new(ApiKey::EndTxn, FaultAction::DisconnectAfter));
    let node = k.txn_node(TXN);
    let conn = k.conn(node);
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(TXN)))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_committed(true);
    k.c.send(k.now, conn, frame(ApiKey::EndTxn, 3, 99, &req))
        .unwrap();
    assert_eq!(k.c.poll(k.now), Some(FakeOutput::Disconnected { conn }));
    assert_eq!(
        k.c.transaction(TXN).unwrap().status,
        TxnStatus::PrepareCommit
    );
    k.wait(5 * MS);
    // The retry on a new connection: NONE, and exactly one commit happened.
    assert_eq!(k.end(TXN, pe, 3, true).error_code, 0);
    let commits =
        k.c.completed_transactions()
            .iter()
            .filter(|c| c.transactional_id == TXN)
            .count();
    assert_eq!(commits, 1);
    assert!(k.c.internal_errors().is_empty());
}

#[test]
fn a_transaction_the_coordinator_lost_hangs_and_holds_the_lso() {
    let mut k = Client::new(FakeConfig::default());
    let pe = k.init_ok(TXN);
    assert_eq!(k.produce_plain("t", 0, &["before"]), 0);
    assert_eq!(k.produce_txn(TXN, pe, 0, 12, "t", 0, &["open"]).0, 0);
    assert!(k.c.hanging_transactions().is_empty(), "open, not hanging");
    // The coordinator loses the transaction (a bug a real cluster can have: KAFKA-14190);
    // the partition's transaction stays open forever.
    k.c.lose_transaction_state(TXN);
    assert_eq!(k.produce_plain("t", 0, &["after"]), 0);
    let hanging = k.c.hanging_transactions();
    assert_eq!(hanging.len(), 1);
    assert_eq!(
        (
            hanging[0].topic.as_str(),
            hanging[0].partition,
            hanging[0].producer_id
        ),
        ("t", 0, pe.0)
    );
    assert_eq!(hanging[0].first_offset, 1);
    // read_committed stops at the LSO: "after" is not readable either.
    assert_eq!(k.c.last_stable_offset("t", 0), Some(1));
    assert_eq!(k.committed_values("t", 0), vec!["before"]);
    assert_eq!(k.all_values("t", 0), vec!["before", "open", "after"]);
}

#[test]
fn stale_timeout_timers_do_not_keep_the_cluster_busy() {
    let mut k = Client::new(FakeConfig::default());
    let pe = k.init_ok(TXN);
    assert_eq!(k.produce_txn(TXN, pe, 0, 12, "t", 0, &["a"]).0, 0);
    assert!(k.c.next_due().is_some(), "the timeout check is scheduled");
    assert_eq!(k.end(TXN, pe, 5, true).error_code, 0);
    k.wait(5 * MS);
    assert_eq!(k.c.next_due(), None, "nothing left to do after the commit");
}
