//! The transactional producer (issue 5) against real Apache Kafka 4.1 brokers, with both
//! transaction protocols:
//! - **TV2** (KIP-890 transaction version 2, Kafka 4.x's default): the shared test broker;
//! - **TV1** (the pre-KIP-890 protocol with AddPartitionsToTxn/AddOffsetsToTxn): a private
//!   broker of this test binary, formatted with `transaction.version=0` (started once, on first
//!   use, and stopped by its watchdog when the binary exits).
//!
//! What is checked, through the reference Java consumer with `isolation.level=read_committed`
//! (and `read_uncommitted` for what was written but aborted), the broker's committed group
//! offsets (OffsetFetch with `require_stable`) and its transaction state (DescribeTransactions,
//! `TransactionsCommand find-hanging`):
//! - a committed transaction is visible whole, an aborted one not at all (but its records are
//!   in the log), a mixed commit/abort sequence shows exactly the committed ones, in order;
//! - `send_offsets_to_transaction` commits the group's offsets with the transaction only;
//! - fencing: a second producer with the same `transactional.id` makes the first fail fatally;
//! - the broker's transaction timeout aborts a stalled transaction; its commit then fails
//!   (fatal, as librdkafka reports the coordinator's epoch bump, or abortable) and nothing hangs;
//! - a commit that times out (broker paused with SIGSTOP), whether waiting for EndTxn or still
//!   flushing the transaction's records, returns a retriable `_TIMED_OUT` transaction error
//!   and completes when called again, committing the data once;
//! - API misuse fails with `_STATE` / `_NOT_CONFIGURED` as in librdkafka.
//!
//! Each producer type is used: `BaseProducer` (with `poll`), `FutureProducer` and
//! `ThreadedProducer`. Run: `cargo test -p purekafka-tests --test transactions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use purekafka::consumer::ConsumerGroupMetadata;
use purekafka::error::{KafkaError, KafkaResult, RDKafkaError, RDKafkaErrorCode};
use purekafka::producer::{
    BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer, ThreadedProducer,
};
use purekafka::{ClientConfig, Offset, TopicPartitionList};
use purekafka_testkit::broker::{
    BrokerOptions, Kafka, TxnDescription, committed_offsets, describe_transaction,
    transaction_version,
};
use purekafka_testkit::java::{self, HangingScope, Isolation, ReadOptions, ReadUntil};

use producer_common::Recorder;

/// Which transaction protocol (and so which broker) a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tv {
    /// KIP-890 transaction version 2: the shared broker (Kafka 4.x default).
    V2,
    /// Transaction version 1 (`transaction.version=0`): a private broker.
    V1,
}

impl Tv {
    fn level(self) -> i16 {
        match self {
            Self::V2 => 2,
            Self::V1 => 0,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::V2 => "tv2",
            Self::V1 => "tv1",
        }
    }
}

/// Broker options for a TV1 broker; the timeout-abort check runs every second instead of every
/// 10 s so the timeout scenario is quick.
fn tv1_options() -> BrokerOptions {
    BrokerOptions {
        server_properties: vec![(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms".into(),
            "1000".into(),
        )],
        ..BrokerOptions::default()
    }
    .with_transaction_version(0)
}

/// The broker of `tv`, checked to report the expected `transaction.version`.
fn broker(tv: Tv) -> Arc<Kafka> {
    static TV1: OnceLock<Arc<Kafka>> = OnceLock::new();
    let kafka = match tv {
        Tv::V2 => Kafka::shared().unwrap(),
        Tv::V1 => Arc::clone(TV1.get_or_init(|| Arc::new(Kafka::start(tv1_options()).unwrap()))),
    };
    assert_eq!(
        transaction_version(&kafka.bootstrap()).unwrap(),
        tv.level(),
        "{tv:?} broker"
    );
    kafka
}

/// A transactional producer's configuration with a fresh `transactional.id`.
fn txn_config(kafka: &Kafka, txn_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap())
        .set("transactional.id", txn_id)
        .set("linger.ms", "5");
    c
}

/// The transactional error inside `r`, or a panic naming `what`.
fn txn_err(r: KafkaResult<()>, what: &str) -> RDKafkaError {
    match r {
        Err(KafkaError::Transaction(e)) => e,
        other => panic!("{what}: expected KafkaError::Transaction, got {other:?}"),
    }
}

/// (is_retriable, txn_requires_abort, is_fatal) of an error.
fn flags(e: &RDKafkaError) -> (bool, bool, bool) {
    (e.is_retriable(), e.txn_requires_abort(), e.is_fatal())
}

/// Waits until the coordinator has finished the last transaction of `txn_id` (every marker
/// written: `CompleteCommit`/`CompleteAbort` with no partitions left), so that a reader with
/// `ReadUntil::End` sees its final outcome.
fn settle(kafka: &Kafka, txn_id: &str) -> TxnDescription {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = describe_transaction(&kafka.bootstrap(), txn_id, Duration::from_secs(30)).unwrap();
        let done = matches!(
            d.state.as_str(),
            "CompleteCommit" | "CompleteAbort" | "Empty"
        ) && d.partitions.is_empty();
        if done {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "transaction {txn_id} did not complete: {d:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (partition, offset, value) of every record of `topic` the Java consumer reads with
/// `isolation` up to the end offsets (the last stable offset for read_committed).
fn read(kafka: &Kafka, topic: &str, isolation: Isolation) -> Vec<(i32, i64, String)> {
    java::read_topic(
        &kafka.bootstrap(),
        topic,
        &ReadOptions {
            isolation,
            until: ReadUntil::End,
            timeout: Duration::from_secs(60),
        },
    )
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.partition,
            r.offset,
            String::from_utf8(r.value.expect("null value")).unwrap(),
        )
    })
    .collect()
}

fn values(records: &[(i32, i64, String)]) -> Vec<String> {
    records.iter().map(|(_, _, v)| v.clone()).collect()
}

/// Values per partition, in log order.
fn by_partition(records: &[(i32, i64, String)]) -> BTreeMap<i32, Vec<String>> {
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (p, _, v) in records {
        out.entry(*p).or_default().push(v.clone());
    }
    out
}

fn assert_no_hanging(kafka: &Kafka, topic: &str) {
    let hanging = java::find_hanging(&kafka.bootstrap(), HangingScope::Topic(topic), 0).unwrap();
    assert!(hanging.is_empty(), "hanging transactions: {hanging:?}");
}

fn send_base(p: &BaseProducer<Recorder>, topic: &str, partition: i32, value: &str, id: usize) {
    let rec = BaseRecord::with_opaque_to(topic, id)
        .partition(partition)
        .key("k")
        .payload(value);
    if let Err((e, _)) = p.send(rec) {
        panic!("send {value}: {e}");
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Commit: visible whole (BaseProducer with poll)
// ---------------------------------------------------------------------------------------------

fn commit_is_visible_whole(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-commit-{}", tv.label()), 3)
        .unwrap();
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();

    // Two transactions in a row: under TV2 every EndTxn bumps the epoch and sequences restart.
    let mut expected: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut id = 0;
    for txn in 0..2 {
        p.begin_transaction().unwrap();
        for i in 0..30 {
            let partition = i % 3;
            let value = format!("t{txn}-r{i:02}");
            send_base(&p, &topic, partition, &value, id);
            id += 1;
            expected.entry(partition).or_default().push(value);
            if i % 7 == 0 {
                p.poll(Duration::ZERO);
            }
        }
        p.commit_transaction(Duration::from_secs(60)).unwrap();
        // commit_transaction flushed: every report is ready to be served.
        p.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(p.in_flight_count(), 0);
    }
    let reports = p.context().reports();
    assert_eq!(reports.len(), id, "one report per record");
    for r in &reports {
        assert_eq!(r.error, None, "{r:?}");
        assert!(r.offset >= 0, "{r:?}");
    }

    let done = settle(&kafka, &txn_id);
    assert_eq!(done.state, "CompleteCommit");
    let committed = read(&kafka, &topic, Isolation::ReadCommitted);
    assert_eq!(by_partition(&committed), expected, "read_committed");
    // Nothing was aborted: read_uncommitted sees the same records at the same offsets.
    assert_eq!(read(&kafka, &topic, Isolation::ReadUncommitted), committed);
    // The delivery reports name the offsets the reader found.
    for r in &reports {
        let value = String::from_utf8(r.value.clone().unwrap()).unwrap();
        assert!(
            committed.contains(&(r.partition, r.offset, value.clone())),
            "report {r:?} does not match the log"
        );
    }
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_commit_is_visible_whole() {
    commit_is_visible_whole(Tv::V2);
}

#[test]
fn tv1_commit_is_visible_whole() {
    commit_is_visible_whole(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Abort: invisible, but in the log (FutureProducer)
// ---------------------------------------------------------------------------------------------

fn abort_is_invisible(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-abort-{}", tv.label()), 2)
        .unwrap();
    let txn_id = format!("{topic}-id");
    // A long linger keeps records queued until something flushes: the second transaction's
    // records are still queued when it is aborted.
    let producer: FutureProducer = txn_config(&kafka, &txn_id)
        .set("linger.ms", "3000")
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(60)).unwrap();
    let rt = rt();

    // 1: written to the log (delivered), then aborted.
    producer.begin_transaction().unwrap();
    let futures: Vec<_> = (0..10)
        .map(|i| {
            let value = format!("aborted-{i}");
            producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key("k")
                        .payload(&value)
                        .partition(i % 2),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    producer.flush(Duration::from_secs(30)).unwrap();
    for f in futures {
        let d = rt.block_on(f).unwrap().unwrap();
        assert!(d.offset >= 0);
    }
    producer.abort_transaction(Duration::from_secs(60)).unwrap();

    // 2: still queued when aborted: purged, reported with _PURGE_QUEUE, never written.
    producer.begin_transaction().unwrap();
    let queued: Vec<_> = (0..3)
        .map(|i| {
            producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key("k")
                        .payload(&format!("purged-{i}")),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    producer.abort_transaction(Duration::from_secs(60)).unwrap();
    for f in queued {
        match rt.block_on(f).unwrap() {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::PurgeQueue), _)) => {}
            other => panic!("queued record of an aborted transaction: {other:?}"),
        }
    }

    // 3: committed after the aborts, awaited through the futures.
    producer.begin_transaction().unwrap();
    let committed_futures: Vec<_> = (0..5)
        .map(|i| {
            let value = format!("committed-{i}");
            producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key("k")
                        .payload(&value)
                        .partition(0),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    producer
        .commit_transaction(Duration::from_secs(60))
        .unwrap();
    rt.block_on(async {
        for f in committed_futures {
            f.await.unwrap().unwrap();
        }
    });

    settle(&kafka, &txn_id);
    let committed = read(&kafka, &topic, Isolation::ReadCommitted);
    assert_eq!(
        values(&committed),
        (0..5).map(|i| format!("committed-{i}")).collect::<Vec<_>>()
    );
    let all = values(&read(&kafka, &topic, Isolation::ReadUncommitted));
    let mut aborted: Vec<String> = all
        .iter()
        .filter(|v| v.starts_with("aborted-"))
        .cloned()
        .collect();
    aborted.sort();
    assert_eq!(
        aborted,
        (0..10).map(|i| format!("aborted-{i}")).collect::<Vec<_>>(),
        "the aborted records are in the log as aborted data"
    );
    assert!(
        !all.iter().any(|v| v.starts_with("purged-")),
        "purged records were written: {all:?}"
    );
    assert_eq!(all.len(), 15, "{all:?}");
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_abort_is_invisible() {
    abort_is_invisible(Tv::V2);
}

#[test]
fn tv1_abort_is_invisible() {
    abort_is_invisible(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Mixed commit/abort sequence (ThreadedProducer)
// ---------------------------------------------------------------------------------------------

fn mixed_commit_abort_sequence(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-mixed-{}", tv.label()), 2)
        .unwrap();
    let txn_id = format!("{topic}-id");
    let p: ThreadedProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    let mut expected: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut committed_ids = Vec::new();
    let mut id = 0;
    for txn in 0..12 {
        let commit = txn % 3 != 1;
        p.begin_transaction().unwrap();
        for j in 0..4 {
            let partition = (txn + j) % 2;
            let value = format!("m{txn:02}-{j}-{}", if commit { "c" } else { "a" });
            let rec = BaseRecord::with_opaque_to(&topic, id)
                .partition(partition)
                .key("k")
                .payload(&value);
            if let Err((e, _)) = p.send(rec) {
                panic!("send {value}: {e}");
            }
            if commit {
                expected.entry(partition).or_default().push(value);
                committed_ids.push(id);
            }
            id += 1;
        }
        if commit {
            p.commit_transaction(Duration::from_secs(60)).unwrap();
        } else {
            p.abort_transaction(Duration::from_secs(60)).unwrap();
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
    // Every record got one report; those of committed transactions succeeded (an aborted
    // transaction's records may have been written or purged).
    let reports = p.context().reports();
    assert_eq!(reports.len(), id);
    for r in &reports {
        if committed_ids.contains(&r.opaque) {
            assert_eq!(r.error, None, "{r:?}");
        }
    }

    settle(&kafka, &txn_id);
    let committed = read(&kafka, &topic, Isolation::ReadCommitted);
    assert_eq!(by_partition(&committed), expected);
    let all = values(&read(&kafka, &topic, Isolation::ReadUncommitted));
    for v in values(&committed) {
        assert_eq!(all.iter().filter(|a| **a == v).count(), 1, "{v} not once");
    }
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_mixed_commit_abort_sequence() {
    mixed_commit_abort_sequence(Tv::V2);
}

#[test]
fn tv1_mixed_commit_abort_sequence() {
    mixed_commit_abort_sequence(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Back-to-back transactions: the next one starts while the last one's markers are written
// ---------------------------------------------------------------------------------------------

fn back_to_back_transactions_all_commit(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-b2b-{}", tv.label()), 3)
        .unwrap();
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .set("linger.ms", "0")
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    let mut expected: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let txns = 150;
    for txn in 0..txns {
        p.begin_transaction().unwrap();
        for partition in 0..3 {
            let value = format!("b{txn:03}-{partition}");
            send_base(&p, &topic, partition, &value, 0);
            expected.entry(partition).or_default().push(value);
        }
        // Right after the previous commit returned, the coordinator is still writing its
        // markers: the broker may answer CONCURRENT_TRANSACTIONS, which clients retry (Java:
        // a retriable exception); the application must not see it.
        if let Err(e) = p.commit_transaction(Duration::from_secs(60)) {
            failures.push((txn, e.to_string()));
            p.abort_transaction(Duration::from_secs(60)).unwrap();
            for partition in 0..3 {
                expected.get_mut(&partition).unwrap().pop();
            }
        }
    }
    settle(&kafka, &txn_id);
    assert!(
        failures.is_empty(),
        "{} of {txns} back-to-back commits failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        by_partition(&read(&kafka, &topic, Isolation::ReadCommitted)),
        expected
    );
}

#[test]
fn tv2_back_to_back_transactions_all_commit() {
    back_to_back_transactions_all_commit(Tv::V2);
}

#[test]
fn tv1_back_to_back_transactions_all_commit() {
    back_to_back_transactions_all_commit(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// send_offsets_to_transaction: group offsets committed with the transaction only
// ---------------------------------------------------------------------------------------------

fn offsets(topic: &str, list: &[(i32, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &(p, o) in list {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))
            .unwrap();
    }
    tpl
}

fn send_offsets_commit_with_the_transaction(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-offsets-{}", tv.label()), 1)
        .unwrap();
    let src = format!("{topic}-src");
    kafka.create_topic(&src, 2, &[]).unwrap();
    let group = format!("{topic}-group");
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    let cgm = ConsumerGroupMetadata::new(&group);
    let group_offsets = || {
        committed_offsets(
            &kafka.bootstrap(),
            &group,
            &[(&src, 2)],
            Duration::from_secs(60),
        )
        .unwrap()
        .into_iter()
        .map(|((t, p), o)| {
            assert_eq!(t, src);
            (p, o)
        })
        .collect::<Vec<_>>()
    };

    // 1: a record and offsets, committed.
    p.begin_transaction().unwrap();
    send_base(&p, &topic, 0, "with-offsets", 0);
    p.send_offsets_to_transaction(
        &offsets(&src, &[(0, 10), (1, 20)]),
        &cgm,
        Duration::from_secs(60),
    )
    .unwrap();
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    assert_eq!(group_offsets(), [(0, 10), (1, 20)]);

    // 2: offsets in an aborted transaction never become the group's.
    p.begin_transaction().unwrap();
    send_base(&p, &topic, 0, "aborted", 1);
    p.send_offsets_to_transaction(&offsets(&src, &[(0, 30)]), &cgm, Duration::from_secs(60))
        .unwrap();
    p.abort_transaction(Duration::from_secs(60)).unwrap();
    assert_eq!(group_offsets(), [(0, 10), (1, 20)]);

    // 3: offsets only (no record), with the generation-aware constructor (generation -1 and
    // no member id: not fenced by generation).
    let cgm2 = ConsumerGroupMetadata::new_with_genid(&group, -1, "", None);
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&offsets(&src, &[(1, 40)]), &cgm2, Duration::from_secs(60))
        .unwrap();
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    assert_eq!(group_offsets(), [(0, 10), (1, 40)]);

    settle(&kafka, &txn_id);
    assert_eq!(
        values(&read(&kafka, &topic, Isolation::ReadCommitted)),
        ["with-offsets"]
    );
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_send_offsets_commit_with_the_transaction() {
    send_offsets_commit_with_the_transaction(Tv::V2);
}

#[test]
fn tv1_send_offsets_commit_with_the_transaction() {
    send_offsets_commit_with_the_transaction(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Fencing
// ---------------------------------------------------------------------------------------------

fn second_producer_fences_the_first(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-fence-{}", tv.label()), 1)
        .unwrap();
    let txn_id = format!("{topic}-id");
    let first: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    first.init_transactions(Duration::from_secs(60)).unwrap();
    first.begin_transaction().unwrap();
    for i in 0..5 {
        send_base(&first, &topic, 0, &format!("zombie-{i}"), i);
    }
    first.flush(Duration::from_secs(30)).unwrap();
    assert!(first.context().reports().iter().all(|r| r.error.is_none()));
    assert!(first.client().fatal_error().is_none());

    // The new instance takes over: the coordinator aborts the open transaction and bumps the
    // epoch, fencing the first.
    let second: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    second.init_transactions(Duration::from_secs(60)).unwrap();

    let e = txn_err(
        first.commit_transaction(Duration::from_secs(60)),
        "commit of the fenced producer",
    );
    assert!(e.is_fatal(), "fenced commit: {e:?} flags {:?}", flags(&e));
    assert!(!e.is_retriable() && !e.txn_requires_abort(), "{e:?}");
    // librdkafka reports both PRODUCER_FENCED and INVALID_PRODUCER_EPOCH as _FENCED.
    assert_eq!(e.code(), RDKafkaErrorCode::Fenced, "{e:?}");
    let (code, reason) = first
        .client()
        .fatal_error()
        .expect("Client::fatal_error after fencing");
    assert_eq!(code, RDKafkaErrorCode::Fenced, "{reason}");
    assert!(!reason.is_empty());
    // The fenced instance stays unusable.
    let e = txn_err(first.begin_transaction(), "begin after fencing");
    assert!(e.is_fatal(), "{e:?}");
    match first.send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 99).payload("late")) {
        Err((KafkaError::MessageProduction(code), _)) => assert!(
            matches!(code, RDKafkaErrorCode::Fatal | RDKafkaErrorCode::State),
            "{code:?}"
        ),
        Err((e, _)) => panic!("send after fencing: {e:?}"),
        Ok(()) => panic!("send after fencing was accepted"),
    }

    second.begin_transaction().unwrap();
    for i in 0..3 {
        send_base(&second, &topic, 0, &format!("live-{i}"), i);
    }
    second.commit_transaction(Duration::from_secs(60)).unwrap();
    assert!(second.client().fatal_error().is_none());

    settle(&kafka, &txn_id);
    assert_eq!(
        values(&read(&kafka, &topic, Isolation::ReadCommitted)),
        ["live-0", "live-1", "live-2"]
    );
    // The zombie's records were written, and aborted by the coordinator.
    let all = values(&read(&kafka, &topic, Isolation::ReadUncommitted));
    assert_eq!(all.len(), 8, "{all:?}");
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_second_producer_fences_the_first() {
    second_producer_fences_the_first(Tv::V2);
}

#[test]
fn tv1_second_producer_fences_the_first() {
    second_producer_fences_the_first(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Transaction timeout
// ---------------------------------------------------------------------------------------------

fn transaction_timeout_aborts_a_stalled_transaction(tv: Tv) {
    let kafka = broker(tv);
    let topic = kafka
        .unique_topic(&format!("txn-timeout-{}", tv.label()), 1)
        .unwrap();
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .set("transaction.timeout.ms", "2000")
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..3 {
        send_base(&p, &topic, 0, &format!("stalled-{i}"), i);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let open = describe_transaction(&kafka.bootstrap(), &txn_id, Duration::from_secs(30)).unwrap();
    assert_eq!(open.state, "Ongoing", "{open:?}");
    assert_eq!(
        open.timeout_ms, 2000,
        "transaction.timeout.ms reaches the coordinator"
    );

    // Stall past the timeout until the coordinator has aborted it (and bumped the epoch). The
    // shared broker checks for timed-out transactions every 10 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let aborted = loop {
        let d = describe_transaction(&kafka.bootstrap(), &txn_id, Duration::from_secs(30)).unwrap();
        if d.state == "CompleteAbort" && d.producer_epoch > open.producer_epoch {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "not aborted by the timeout: {d:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!("{tv:?}: coordinator aborted the stalled transaction: {aborted:?}");

    let e = txn_err(
        p.commit_transaction(Duration::from_secs(60)),
        "commit after the transaction timed out",
    );
    let (retriable, abortable, fatal) = flags(&e);
    eprintln!(
        "{tv:?}: commit after the timeout: {e} (code {:?}, retriable {retriable}, abortable \
         {abortable}, fatal {fatal})",
        e.code()
    );
    assert!(!retriable, "{e:?}");
    assert!(abortable ^ fatal, "exactly one of abortable/fatal: {e:?}");
    let after = if fatal {
        // librdkafka: the coordinator's epoch bump reads as fencing (_FENCED, fatal).
        assert!(p.client().fatal_error().is_some());
        drop(p);
        let p2: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
            .set("transaction.timeout.ms", "2000")
            .create_with_context(Recorder::default())
            .unwrap();
        p2.init_transactions(Duration::from_secs(60)).unwrap();
        p2
    } else {
        assert!(p.client().fatal_error().is_none());
        p.abort_transaction(Duration::from_secs(60)).unwrap();
        p
    };
    after.begin_transaction().unwrap();
    send_base(&after, &topic, 0, "after", 10);
    after.commit_transaction(Duration::from_secs(60)).unwrap();

    settle(&kafka, &txn_id);
    assert_eq!(
        values(&read(&kafka, &topic, Isolation::ReadCommitted)),
        ["after"]
    );
    assert_eq!(read(&kafka, &topic, Isolation::ReadUncommitted).len(), 4);
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_transaction_timeout_aborts_a_stalled_transaction() {
    transaction_timeout_aborts_a_stalled_transaction(Tv::V2);
}

#[test]
fn tv1_transaction_timeout_aborts_a_stalled_transaction() {
    transaction_timeout_aborts_a_stalled_transaction(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// Resumed commit after a retriable timeout (private broker, paused)
// ---------------------------------------------------------------------------------------------

fn commit_resumes_after_a_timeout(tv: Tv) {
    let opts = match tv {
        Tv::V2 => BrokerOptions::default(),
        Tv::V1 => tv1_options(),
    };
    let mut kafka = Kafka::start(opts).unwrap();
    assert_eq!(transaction_version(&kafka.bootstrap()).unwrap(), tv.level());
    let topic = kafka.unique_topic("txn-resume", 2).unwrap();
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..6 {
        send_base(
            &p,
            &topic,
            i % 2,
            &format!("resumed-{i}"),
            usize::try_from(i).unwrap(),
        );
    }
    // Everything is delivered: only EndTxn is left for the commit.
    p.flush(Duration::from_secs(30)).unwrap();

    kafka.pause().unwrap();
    let started = Instant::now();
    let e = txn_err(
        p.commit_transaction(Duration::from_millis(1500)),
        "commit against a paused broker",
    );
    let took = started.elapsed();
    assert_eq!(e.code(), RDKafkaErrorCode::OperationTimedOut, "{e:?}");
    assert_eq!(flags(&e), (true, false, false), "retriable only: {e:?}");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    // Still paused: calling again keeps waiting for the same commit and times out again.
    let e = txn_err(
        p.commit_transaction(Duration::from_millis(500)),
        "second commit against a paused broker",
    );
    assert_eq!(e.code(), RDKafkaErrorCode::OperationTimedOut, "{e:?}");
    assert!(e.is_retriable(), "{e:?}");
    // Another operation conflicts with the commit in progress (librdkafka: _CONFLICT).
    let e = txn_err(p.begin_transaction(), "begin while a commit is in progress");
    assert!(
        matches!(
            e.code(),
            RDKafkaErrorCode::Conflict | RDKafkaErrorCode::State
        ),
        "{e:?}"
    );
    assert!(!e.is_fatal() && !e.txn_requires_abort(), "{e:?}");
    kafka.resume().unwrap();
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    assert!(p.client().fatal_error().is_none());

    // The producer goes on with a new transaction.
    p.begin_transaction().unwrap();
    send_base(&p, &topic, 0, "next", 100);
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    assert!(p.context().reports().iter().all(|r| r.error.is_none()));

    settle(&kafka, &txn_id);
    let mut got = values(&read(&kafka, &topic, Isolation::ReadCommitted));
    got.sort();
    let mut want: Vec<String> = (0..6).map(|i| format!("resumed-{i}")).collect();
    want.push("next".into());
    want.sort();
    assert_eq!(got, want, "committed once");
    assert_eq!(read(&kafka, &topic, Isolation::ReadUncommitted).len(), 7);
    assert_no_hanging(&kafka, &topic);
}

/// A commit that times out while it still flushes the transaction's records (they can't be
/// delivered while the broker is paused) is resumable the same way: librdkafka returns a
/// retriable `_TIMED_OUT` transaction error ("Failed to flush all outstanding messages within
/// the API timeout"), and the next call completes it. The flush is the API layer's and the same
/// for both protocols, so this runs on TV2 only.
#[test]
fn tv2_commit_resumes_after_a_flush_timeout() {
    let mut kafka = Kafka::start(BrokerOptions::default()).unwrap();
    let topic = kafka.unique_topic("txn-resume-flush", 2).unwrap();
    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    p.init_transactions(Duration::from_secs(60)).unwrap();
    p.begin_transaction().unwrap();
    kafka.pause().unwrap();
    for i in 0..4 {
        send_base(
            &p,
            &topic,
            i % 2,
            &format!("flushed-{i}"),
            usize::try_from(i).unwrap(),
        );
    }
    let r = p.commit_transaction(Duration::from_millis(1500));
    kafka.resume().unwrap();
    let e = txn_err(r, "commit whose flush times out");
    assert_eq!(e.code(), RDKafkaErrorCode::OperationTimedOut, "{e:?}");
    assert_eq!(flags(&e), (true, false, false), "retriable only: {e:?}");
    // The commit has begun (librdkafka: BEGIN_COMMIT before the flush): no more records.
    match p.send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 99).payload("late")) {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::State), _)) => {}
        Err((e, _)) => panic!("send during a commit: {e:?}"),
        Ok(()) => panic!("send during a commit was accepted"),
    }
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let reports = p.context().reports();
    assert_eq!(reports.len(), 4);
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");

    settle(&kafka, &txn_id);
    let mut got = values(&read(&kafka, &topic, Isolation::ReadCommitted));
    got.sort();
    assert_eq!(
        got,
        (0..4).map(|i| format!("flushed-{i}")).collect::<Vec<_>>(),
        "committed once"
    );
    assert_no_hanging(&kafka, &topic);
}

#[test]
fn tv2_commit_resumes_after_a_timeout() {
    commit_resumes_after_a_timeout(Tv::V2);
}

#[test]
fn tv1_commit_resumes_after_a_timeout() {
    commit_resumes_after_a_timeout(Tv::V1);
}

// ---------------------------------------------------------------------------------------------
// API misuse: _STATE and _NOT_CONFIGURED
// ---------------------------------------------------------------------------------------------

#[test]
fn misuse_fails_with_state_errors() {
    let kafka = broker(Tv::V2);
    let topic = kafka.unique_topic("txn-state", 1).unwrap();

    // Not transactional: the transactional API is not configured.
    let plain: BaseProducer<Recorder> = producer_common::config(&kafka)
        .create_with_context(Recorder::default())
        .unwrap();
    let e = txn_err(plain.begin_transaction(), "begin without transactional.id");
    assert_eq!(e.code(), RDKafkaErrorCode::NotConfigured, "{e:?}");
    let e = txn_err(
        plain.init_transactions(Duration::from_secs(5)),
        "init without transactional.id",
    );
    assert_eq!(e.code(), RDKafkaErrorCode::NotConfigured, "{e:?}");
    drop(plain);

    let txn_id = format!("{topic}-id");
    let p: BaseProducer<Recorder> = txn_config(&kafka, &txn_id)
        .create_with_context(Recorder::default())
        .unwrap();
    let state = |r: KafkaResult<()>, what: &str| {
        let e = txn_err(r, what);
        assert_eq!(e.code(), RDKafkaErrorCode::State, "{what}: {e:?}");
        assert_eq!(flags(&e), (false, false, false), "{what}: {e:?}");
    };
    let send_state = |what: &str| match p
        .send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 0).payload("x"))
    {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::State), _)) => {}
        Err((e, _)) => panic!("{what}: {e:?}"),
        Ok(()) => panic!("{what}: send accepted outside a transaction"),
    };
    state(p.begin_transaction(), "begin before init");
    send_state("send before init");
    p.init_transactions(Duration::from_secs(60)).unwrap();
    send_state("send before begin");
    state(
        p.commit_transaction(Duration::from_secs(5)),
        "commit before begin",
    );
    state(
        p.abort_transaction(Duration::from_secs(5)),
        "abort before begin",
    );
    p.begin_transaction().unwrap();
    state(p.begin_transaction(), "begin twice");
    // An empty transaction commits.
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    send_state("send after commit");
    p.begin_transaction().unwrap();
    send_base(&p, &topic, 0, "inside", 1);
    p.commit_transaction(Duration::from_secs(60)).unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(p.context().reports().len(), 1);
    assert!(p.client().fatal_error().is_none());
    settle(&kafka, &txn_id);
    assert_eq!(
        values(&read(&kafka, &topic, Isolation::ReadCommitted)),
        ["inside"]
    );
}
