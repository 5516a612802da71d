//! Differential test: one scripted sequence of raw transaction requests runs against the fake
//! cluster and against a real Apache Kafka 4.1 broker started by the testkit, and every
//! answer (error code, producer epoch) must be the same. Ignored by default (it starts two
//! JVM brokers, ~30 s); run with
//! `cargo test -p purekafka-testkit --lib fake::real_kafka_tests -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use super::tests::{frame, produce_req, response};
use super::txn_tests::txn_batch;
use super::*;
use crate::broker::{BrokerOptions, Kafka};
use crate::raw::RawClient;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ApiVersionsRequest, EndTxnRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, ProduceRequest, ProducerId, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use purekafka_protocol::frame::KafkaRequest;

/// Where the script's requests go.
trait Target {
    fn call<R: KafkaRequest + Encodable>(&mut self, version: i16, req: &R) -> R::Response
    where
        R::Response: Decodable;
    fn sleep(&mut self, d: Duration);
}

/// A one-broker fake cluster on virtual time.
struct FakeTarget {
    c: FakeCluster,
    conn: FakeConnId,
    now: Instant,
    cid: i32,
}

impl Target for FakeTarget {
    fn call<R: KafkaRequest + Encodable>(&mut self, version: i16, req: &R) -> R::Response
    where
        R::Response: Decodable,
    {
        self.cid += 1;
        self.c
            .send(
                self.now,
                self.conn,
                frame(R::API_KEY, version, self.cid, req),
            )
            .unwrap();
        loop {
            self.now = self.now.max(self.c.next_due().unwrap());
            if let Some(FakeOutput::Response { frame, .. }) = self.c.poll(self.now) {
                return response::<R::Response>(R::API_KEY, version, frame).1;
            }
        }
    }

    fn sleep(&mut self, d: Duration) {
        self.now = self.now + d;
        while self.c.poll(self.now).is_some() {}
    }
}

/// A real broker over a blocking socket.
struct RealTarget {
    client: RawClient,
}

impl Target for RealTarget {
    fn call<R: KafkaRequest + Encodable>(&mut self, version: i16, req: &R) -> R::Response
    where
        R::Response: Decodable,
    {
        self.client.call(version, req).unwrap()
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(StdDuration::from_nanos(d.as_nanos() as u64));
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}

fn init_req(id: &str, timeout_ms: i32, expected: Option<(i64, i16)>) -> InitProducerIdRequest {
    let (pid, epoch) = expected.unwrap_or((-1, -1));
    InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
}

fn add_req(id: &str, (pid, epoch): (i64, i16), partition: i32) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![partition]),
        ])
}

fn end_req(id: &str, (pid, epoch): (i64, i16), commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

fn produce(id: &str, (pid, epoch): (i64, i16), seq: i32, partition: i32) -> ProduceRequest {
    produce_req(
        -1,
        &[("t", partition, txn_batch(&["v"], pid, epoch, seq, true))],
    )
    .with_transactional_id(Some(TransactionalId(s(id))))
}

fn offsets_req(id: &str, (pid, epoch): (i64, i16)) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_group_id(GroupId(s("g")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5)
                        .with_committed_leader_epoch(-1),
                ]),
        ])
}

/// Runs the script; returns one line per observation.
fn script<T: Target>(t: &mut T, tv2: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |label: &str, what: String| out.push(format!("{label}: {what}"));
    let (pv, ev) = if tv2 { (12, 5) } else { (11, 4) };

    // ApiVersions: the transaction APIs' ranges and the finalized transaction.version (v3
    // needs a valid client software name, KIP-511).
    let r = t.call(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(s("probe"))
            .with_client_software_version(s("1")),
    );
    for key in [0i16, 10, 22, 24, 25, 26, 28] {
        let v = r.api_keys.iter().find(|k| k.api_key == key);
        note(
            &format!("api {key}"),
            format!("{:?}", v.map(|v| (v.min_version, v.max_version))),
        );
    }
    let tv = r
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .map(|f| f.max_version_level);
    note("finalized transaction.version", format!("{tv:?}"));

    // FindCoordinator creates the internal topics on a real broker; wait for both.
    for key_type in [1i8, 0] {
        let req = FindCoordinatorRequest::default()
            .with_key_type(key_type)
            .with_coordinator_keys(vec![s("diff-a"), s("diff-f"), s("diff-t"), s("g")]);
        for _ in 0..150 {
            let r = t.call(4, &req);
            if r.coordinators.iter().all(|c| c.error_code == 0) {
                break;
            }
            t.sleep(Duration::from_millis(200));
        }
    }
    // Init (a real coordinator may still be loading).
    let id = "diff-a";
    let mut r = t.call(5, &init_req(id, 60_000, None));
    for _ in 0..100 {
        if r.error_code == 0 {
            break;
        }
        t.sleep(Duration::from_millis(200));
        r = t.call(5, &init_req(id, 60_000, None));
    }
    note(
        "init",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    let pid = r.producer_id.0;
    let mut pe = (pid, r.producer_epoch);

    // KIP-360 re-inits.
    let r = t.call(4, &init_req(id, 60_000, Some(pe)));
    note(
        "init current",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    let r2 = t.call(4, &init_req(id, 60_000, Some(pe)));
    note(
        "init retry",
        format!("{} epoch {}", r2.error_code, r2.producer_epoch),
    );
    let r4 = t.call(4, &init_req(id, 60_000, Some((pid, r.producer_epoch))));
    note(
        "init current again",
        format!("{} epoch {}", r4.error_code, r4.producer_epoch),
    );
    let stale = Some((pid, r4.producer_epoch - 2));
    let r3 = t.call(3, &init_req(id, 60_000, stale));
    note("init stale v3", format!("{}", r3.error_code));
    let r3 = t.call(4, &init_req(id, 60_000, stale));
    note("init stale v4", format!("{}", r3.error_code));
    let r3 = t.call(4, &init_req(id, 60_000, Some((pid, -1))));
    note("init pid without epoch", format!("{}", r3.error_code));
    pe = (pid, r4.producer_epoch);
    if tv2 {
        let r = t.call(5, &end_req(id, pe, true));
        note("commit on Empty", format!("{}", r.error_code));
    } else {
        let r = t.call(
            3,
            &add_req(id, pe, 0).with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![0]),
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s("nope")))
                    .with_partitions(vec![0]),
            ]),
        );
        let mut codes: Vec<(String, i16)> = r
            .results_by_topic_v3_and_below
            .iter()
            .map(|t| {
                (
                    t.name.0.to_string(),
                    t.results_by_partition[0].partition_error_code,
                )
            })
            .collect();
        codes.sort();
        note("add with an unknown topic", format!("{codes:?}"));
    }

    // A transaction: add (TV1), produce, offsets, commit.
    if !tv2 {
        let r = t.call(3, &add_req(id, pe, 0));
        note(
            "add t/0",
            format!(
                "{}",
                r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
            ),
        );
    }
    let r = t.call(pv, &produce(id, pe, 0, 0));
    note(
        "produce t/0",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );
    // The same producer, non-transactionally, on a partition of its open transaction.
    let plain = produce_req(-1, &[("t", 0, txn_batch(&["x"], pe.0, pe.1, 1, false))]);
    let r = t.call(pv, &plain);
    note(
        "plain produce in txn",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );
    let r = t.call(3, &offsets_req(id, (pe.0, pe.1 + 1)));
    note(
        "offsets wrong epoch",
        format!("{}", r.topics[0].partitions[0].error_code),
    );
    if !tv2 {
        let r = t.call(10, &produce(id, pe, 0, 1));
        note(
            "produce v10 not added",
            format!("{}", r.responses[0].partition_responses[0].error_code),
        );
        let r = t.call(11, &produce(id, pe, 0, 1));
        note(
            "produce v11 not added",
            format!("{}", r.responses[0].partition_responses[0].error_code),
        );
        let r = t.call(4, &offsets_req(id, pe));
        note(
            "offsets v4 not added",
            format!("{}", r.topics[0].partitions[0].error_code),
        );
        let r = t.call(3, &offsets_req(id, pe));
        note(
            "offsets v3 not added",
            format!("{}", r.topics[0].partitions[0].error_code),
        );
    } else {
        let r = t.call(5, &offsets_req(id, pe));
        note(
            "offsets v5",
            format!("{}", r.topics[0].partitions[0].error_code),
        );
    }
    let r = t.call(ev, &end_req(id, pe, true));
    note(
        "commit",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    let next = if tv2 { (pid, r.producer_epoch) } else { pe };
    // The retry, once the markers are written.
    t.sleep(Duration::from_millis(500));
    let r = t.call(ev, &end_req(id, pe, true));
    note(
        "commit retry",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    let r = t.call(ev, &end_req(id, pe, false));
    note("abort at the committed epoch", format!("{}", r.error_code));
    // The empty abort (TV2 bumps, TV1 refuses).
    let r = t.call(ev, &end_req(id, next, false));
    note(
        "empty abort",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    t.sleep(Duration::from_millis(500));

    // Fencing an open transaction.
    let id = "diff-f";
    let r = t.call(5, &init_req(id, 60_000, None));
    let old = (r.producer_id.0, r.producer_epoch);
    if !tv2 {
        t.call(3, &add_req(id, old, 2));
    }
    let r = t.call(pv, &produce(id, old, 0, 2));
    note(
        "fence: produce",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );
    let r = t.call(5, &init_req(id, 60_000, None));
    note("fence: first init", format!("{}", r.error_code));
    let mut r = r;
    for _ in 0..50 {
        if r.error_code == 0 {
            break;
        }
        t.sleep(Duration::from_millis(100));
        r = t.call(5, &init_req(id, 60_000, None));
    }
    note(
        "fence: init",
        format!("{} epoch +{}", r.error_code, r.producer_epoch - old.1),
    );
    let r = t.call(ev, &end_req(id, old, true));
    note("fence: old commit", format!("{}", r.error_code));
    let r = t.call(1, &end_req(id, old, true));
    note("fence: old commit v1", format!("{}", r.error_code));
    let r = t.call(pv, &produce(id, old, 1, 2));
    note(
        "fence: old produce",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );

    // A transaction timing out (the broker checks every 500 ms).
    let id = "diff-t";
    let r = t.call(5, &init_req(id, 1_000, None));
    let pe = (r.producer_id.0, r.producer_epoch);
    if !tv2 {
        t.call(3, &add_req(id, pe, 1));
    }
    let r = t.call(pv, &produce(id, pe, 0, 1));
    note(
        "timeout: produce",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );
    t.sleep(Duration::from_millis(3_000));
    let r = t.call(pv, &produce(id, pe, 1, 1));
    note(
        "timeout: produce after",
        format!("{}", r.responses[0].partition_responses[0].error_code),
    );
    let r = t.call(ev, &end_req(id, pe, true));
    note("timeout: commit", format!("{}", r.error_code));
    let r = t.call(ev, &end_req(id, pe, false));
    note(
        "timeout: abort",
        format!("{} epoch {}", r.error_code, r.producer_epoch),
    );
    out
}

fn fake_target(tv2: bool) -> FakeTarget {
    let config = FakeConfig {
        brokers: 1,
        txn_abort_check_interval: Duration::from_millis(500),
        ..FakeConfig::default().with_transaction_version(if tv2 { 2 } else { 0 })
    };
    let mut c = FakeCluster::new(config);
    c.create_topic("t", 3);
    let conn = c.connect(Instant::ZERO, "fake-1", 9092).unwrap();
    FakeTarget {
        c,
        conn,
        now: Instant::ZERO,
        cid: 0,
    }
}

#[test]
#[ignore = "starts two real Kafka brokers (JVM); run explicitly"]
fn the_fake_answers_transactions_as_kafka_4_1_does() {
    let mut diffs = Vec::new();
    for tv2 in [false, true] {
        let fake = script(&mut fake_target(tv2), tv2);
        let mut opts = BrokerOptions::from_env().with_transaction_version(if tv2 { 2 } else { 0 });
        opts.server_properties.push((
            "transaction.abort.timed.out.transaction.cleanup.interval.ms".to_owned(),
            "500".to_owned(),
        ));
        let kafka = Kafka::start(opts).unwrap();
        kafka.create_topic("t", 3, &[]).unwrap();
        let client = RawClient::connect(kafka.bootstrap()).unwrap();
        let real = script(&mut RealTarget { client }, tv2);
        println!("== TV{} ==", if tv2 { 2 } else { 1 });
        for (f, r) in fake.iter().zip(&real) {
            let mark = if f == r { "  " } else { "!!" };
            println!("{mark} fake {f:<45} real {r}");
            if f != r {
                diffs.push(format!("tv2={tv2}: fake {f} / real {r}"));
            }
        }
        assert_eq!(fake.len(), real.len());
    }
    assert!(diffs.is_empty(), "{diffs:#?}");
}
