//! Deterministic scenarios of the transactional producer (`purekafka_core::Engine`'s
//! init/begin/send_offsets/commit/abort) against the fake cluster's transaction coordinator,
//! on virtual time, for both transaction protocols: TV1 (a cluster with `transaction.version`
//! not finalized: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn <= v4) and TV2 (KIP-890,
//! Kafka 4.x's default: Produce v12 adds partitions, EndTxn v5 bumps the epoch).
//!
//! Every scenario checks the outcome where a consumer would: the fake's `read_committed` view
//! (committed transactions whole, nothing of aborted ones), its committed group offsets, its
//! log of completed transactions (a commit happens exactly once), and that every record got
//! exactly one delivery report.
//!
//! The random test runs `SIM_SEEDS` seeds (default 200); `SIM_SEED=<n>` runs one, with
//! `-- --nocapture` for its trace.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;
use kafka_protocol::messages::ApiKey;
use purekafka_core::config::Compression;
use purekafka_core::{
    ErrorCode, GroupMetadata, Instant, ProducerConfig, Rng, TxnError, TxnOffset, TxnOp,
};
use purekafka_testkit::fake::{
    CoordinatorType, EndCause, FakeCluster, FakeConfig, Fault, FaultAction, TxnStatus,
};
use purekafka_testkit::sim::Sim;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const TXN_ID: &str = "txn-1";
const TOPIC: &str = "t";
const PARTITIONS: i32 = 3;
const GROUP: &str = "group-1";

// Kafka error codes.
const MESSAGE_TOO_LARGE: i16 = 10;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const CONCURRENT_TRANSACTIONS: i16 = 51;

/// The two transaction protocols, as the cluster's finalized `transaction.version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tv {
    V1,
    V2,
}

impl Tv {
    fn level(self) -> i16 {
        match self {
            Self::V1 => 0,
            Self::V2 => 2,
        }
    }
}

fn txn_config(c: &mut ProducerConfig) {
    c.transactional_id = Some(TXN_ID.to_owned());
    c.enable_idempotence = true;
    c.acks = -1;
    c.max_in_flight = 5;
    c.linger = 5 * MS;
    c.transaction_timeout = 60 * SEC;
    // librdkafka's derived settings for a transactional producer.
    c.message_timeout = Some(60 * SEC);
    c.socket_timeout = 60 * SEC - 100 * MS;
}

fn fake(tv: Tv) -> FakeConfig {
    FakeConfig::default().with_transaction_version(tv.level())
}

fn txn_sim(tv: Tv, seed: u64) -> Sim<u64> {
    txn_sim_with(fake(tv), seed, |_| {})
}

fn txn_sim_with(fake: FakeConfig, seed: u64, tweak: impl FnOnce(&mut ProducerConfig)) -> Sim<u64> {
    Sim::with_topics(fake, &[(TOPIC, PARTITIONS), ("in", 2)], seed, |c| {
        txn_config(c);
        tweak(c);
    })
}

fn value(i: u64) -> Vec<u8> {
    format!("v-{i}").into_bytes()
}

fn id_of(v: &[u8]) -> u64 {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.strip_prefix("v-"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The op's result, which must have arrived.
fn done(
    r: Result<Option<Result<(), TxnError>>, TxnError>,
    what: &str,
    s: &Sim<u64>,
) -> Result<(), TxnError> {
    match r {
        Ok(Some(r)) => r,
        Ok(None) => panic!("{what}: no result in time\n{}", s.trace_tail()),
        Err(e) => panic!("{what}: refused at once: {e:?}\n{}", s.trace_tail()),
    }
}

/// The op's outcome whether it was refused at once or failed later (an abortable or fatal
/// state makes the engine refuse at once with that error).
fn outcome(
    r: Result<Option<Result<(), TxnError>>, TxnError>,
    what: &str,
    s: &Sim<u64>,
) -> Result<(), TxnError> {
    match r {
        Ok(Some(r)) => r,
        Ok(None) => panic!("{what}: no result in time\n{}", s.trace_tail()),
        Err(e) => Err(e),
    }
}

fn init(s: &mut Sim<u64>) {
    let r = s.init_transactions(30 * SEC);
    assert_eq!(done(r, "init", s), Ok(()), "{}", s.trace_tail());
}

/// Runs until the coordinator has written every marker (EndTxn is answered before that,
/// as Kafka does: a read_committed consumer sees the transaction a little later).
fn settle_markers(s: &mut Sim<u64>) {
    let settled = s.run_until(
        |s| {
            s.cluster.transaction(TXN_ID).is_none_or(|t| {
                !matches!(t.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort)
            })
        },
        10 * SEC,
    );
    assert!(settled, "markers not written\n{}", s.trace_tail());
}

fn commit(s: &mut Sim<u64>) -> Result<(), TxnError> {
    let r = s.commit_transaction(30 * SEC);
    let r = done(r, "commit", s);
    settle_markers(s);
    r
}

fn abort(s: &mut Sim<u64>) -> Result<(), TxnError> {
    let r = s.abort_transaction(30 * SEC);
    let r = done(r, "abort", s);
    settle_markers(s);
    r
}

/// Sends ids `from..to`, spread over the partitions of `t`.
fn send_range(s: &mut Sim<u64>, from: u64, to: u64) {
    for i in from..to {
        let p = (i % PARTITIONS as u64) as i32;
        s.send(TOPIC, Some(p), None, Some(&value(i)), i)
            .unwrap_or_else(|e| panic!("send {i} refused: {:?}\n{}", e.code, s.trace_tail()));
    }
}

/// Ids visible to a read_committed consumer of `t`, per partition in offset order.
fn committed_ids(s: &Sim<u64>) -> BTreeMap<i32, Vec<u64>> {
    (0..PARTITIONS)
        .map(|p| {
            let ids = s
                .cluster
                .read_committed(TOPIC, p)
                .unwrap()
                .iter()
                .map(|r| id_of(r.value.as_deref().unwrap_or_default()))
                .collect();
            (p, ids)
        })
        .collect()
}

fn committed_set(s: &Sim<u64>) -> BTreeSet<u64> {
    committed_ids(s).into_values().flatten().collect()
}

/// Every record sent (ids in `sent`) has exactly one delivery report, and no other report.
fn assert_one_report_each(s: &Sim<u64>, sent: impl IntoIterator<Item = u64>) {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for d in &s.delivered {
        *counts.entry(d.opaque).or_default() += 1;
    }
    let sent: BTreeSet<u64> = sent.into_iter().collect();
    for id in &sent {
        assert_eq!(
            counts.get(id).copied().unwrap_or(0),
            1,
            "record {id}: reports {:?}\n{}",
            s.delivered
                .iter()
                .filter(|d| d.opaque == *id)
                .collect::<Vec<_>>(),
            s.trace_tail()
        );
    }
    let extra: Vec<_> = counts.keys().filter(|k| !sent.contains(k)).collect();
    assert!(
        extra.is_empty(),
        "reports for records never sent: {extra:?}"
    );
}

/// The cluster-side health every scenario ends with.
fn assert_cluster_clean(s: &Sim<u64>) {
    s.assert_healthy();
    assert!(
        s.cluster.hanging_transactions().is_empty(),
        "hanging transactions: {:?}",
        s.cluster.hanging_transactions()
    );
    let problems = s.check_against_log();
    assert!(problems.is_empty(), "{problems:#?}\n{}", s.trace_tail());
}

fn commits(s: &Sim<u64>) -> Vec<bool> {
    s.cluster
        .completed_transactions()
        .iter()
        .filter(|c| c.transactional_id == TXN_ID)
        .map(|c| c.commit)
        .collect()
}

fn requests_of(s: &Sim<u64>, key: ApiKey) -> Vec<i16> {
    s.cluster
        .requests()
        .iter()
        .filter(|r| r.api_key == Some(key))
        .map(|r| r.api_version)
        .collect()
}

/// Generates a `_tv1` and a `_tv2` test from one scenario function.
macro_rules! both_versions {
    ($($name:ident),* $(,)?) => {
        mod tv1 {
            $(#[test] fn $name() { super::$name(super::Tv::V1) })*
        }
        mod tv2 {
            $(#[test] fn $name() { super::$name(super::Tv::V2) })*
        }
    };
}

fn commit_is_visible_whole_and_once(tv: Tv) {
    let mut s = txn_sim(tv, 1);
    init(&mut s);
    for round in 0..3u64 {
        s.begin_transaction().unwrap();
        send_range(&mut s, round * 20, round * 20 + 20);
        assert_eq!(commit(&mut s), Ok(()), "round {round}\n{}", s.trace_tail());
        // Everything of the transaction is visible, per partition in send order.
        let ids = committed_ids(&s);
        for (p, got) in &ids {
            let want: Vec<u64> = (0..round * 20 + 20)
                .filter(|i| (i % PARTITIONS as u64) as i32 == *p)
                .collect();
            assert_eq!(got, &want, "partition {p} after round {round}");
        }
    }
    assert_eq!(commits(&s), vec![true; 3]);
    assert_one_report_each(&s, 0..60);
    assert!(s.delivered.iter().all(|d| d.error.is_none()));
    match tv {
        Tv::V1 => {
            assert!(!requests_of(&s, ApiKey::AddPartitionsToTxn).is_empty());
            assert!(requests_of(&s, ApiKey::Produce).iter().all(|&v| v <= 11));
            assert!(requests_of(&s, ApiKey::EndTxn).iter().all(|&v| v <= 4));
        }
        Tv::V2 => {
            assert!(requests_of(&s, ApiKey::AddPartitionsToTxn).is_empty());
            assert!(requests_of(&s, ApiKey::Produce).iter().all(|&v| v >= 12));
            assert!(requests_of(&s, ApiKey::EndTxn).iter().all(|&v| v >= 5));
            // Every EndTxn bumped the epoch: 3 transactions after InitProducerId's 0.
            assert_eq!(s.cluster.transaction(TXN_ID).unwrap().producer_epoch, 3);
        }
    }
    assert_cluster_clean(&s);
}

fn abort_leaves_nothing_visible(tv: Tv) {
    let mut s = txn_sim(tv, 2);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 10);
    // Let some records reach the log first.
    s.run_for(20 * MS);
    send_range(&mut s, 10, 20);
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    assert!(committed_set(&s).is_empty(), "{:?}", committed_ids(&s));
    assert_one_report_each(&s, 0..20);
    // The next transaction commits normally.
    s.begin_transaction().unwrap();
    send_range(&mut s, 20, 30);
    assert_eq!(commit(&mut s), Ok(()));
    assert_eq!(committed_set(&s), (20..30).collect());
    assert_one_report_each(&s, 0..30);
    assert_cluster_clean(&s);
}

fn offsets_become_visible_with_the_commit_only(tv: Tv) {
    let mut s = txn_sim(tv, 3);
    init(&mut s);
    let group = GroupMetadata::new(GROUP);
    let offsets = [
        TxnOffset {
            topic: "in",
            partition: 0,
            offset: 42,
            leader_epoch: -1,
            metadata: Some("m"),
        },
        TxnOffset {
            topic: "in",
            partition: 1,
            offset: 7,
            leader_epoch: 2,
            metadata: None,
        },
    ];
    // Aborted: never visible.
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 3);
    let r = s.send_offsets_to_transaction(&offsets, &group, 30 * SEC);
    assert_eq!(done(r, "send_offsets", &s), Ok(()), "{}", s.trace_tail());
    assert_eq!(abort(&mut s), Ok(()));
    assert_eq!(s.cluster.committed_offset(GROUP, "in", 0), None);
    // Committed: visible after the commit, not before.
    s.begin_transaction().unwrap();
    send_range(&mut s, 3, 6);
    let r = s.send_offsets_to_transaction(&offsets, &group, 30 * SEC);
    assert_eq!(done(r, "send_offsets", &s), Ok(()), "{}", s.trace_tail());
    s.run_for(50 * MS);
    assert_eq!(s.cluster.committed_offset(GROUP, "in", 0), None);
    assert_eq!(commit(&mut s), Ok(()));
    let c0 = s.cluster.committed_offset(GROUP, "in", 0).unwrap();
    let c1 = s.cluster.committed_offset(GROUP, "in", 1).unwrap();
    assert_eq!((c0.offset, c0.metadata.as_deref()), (42, Some("m")));
    assert_eq!((c1.offset, c1.leader_epoch), (7, 2));
    assert_eq!(committed_set(&s), (3..6).collect());
    if tv == Tv::V1 {
        assert_eq!(requests_of(&s, ApiKey::AddOffsetsToTxn).len(), 2);
        assert!(
            requests_of(&s, ApiKey::TxnOffsetCommit)
                .iter()
                .all(|&v| v <= 4)
        );
    } else {
        assert!(
            requests_of(&s, ApiKey::TxnOffsetCommit)
                .iter()
                .all(|&v| v >= 5)
        );
    }
    assert_cluster_clean(&s);
}

both_versions!(
    commit_is_visible_whole_and_once,
    abort_leaves_nothing_visible,
    offsets_become_visible_with_the_commit_only,
    a_second_instance_fences_the_first,
    coordinator_errors_are_retried,
    back_to_back_transactions_wait_for_the_markers,
    coordinator_moving_before_end_txn,
    coordinator_going_down_mid_commit,
    lost_end_txn_response_commits_exactly_once,
    broker_timeout_then_commit,
    broker_timeout_then_more_records,
    resumable_commit_reemits_its_result,
    a_failed_record_makes_the_commit_abortable,
    coordinator_down_until_it_returns,
    a_stale_group_generation_makes_send_offsets_abortable,
    an_expired_transactional_id_starts_over,
    a_sequence_error_bumps_the_epoch_at_abort,
);

/// Runs until the records `ids` all have a report.
fn wait_reported(s: &mut Sim<u64>, ids: core::ops::Range<u64>) {
    let n = ids.end - ids.start;
    let ok = s.run_until(
        |s| {
            s.delivered
                .iter()
                .filter(|d| ids.contains(&d.opaque))
                .count() as u64
                == n
        },
        30 * SEC,
    );
    assert!(ok, "records not reported\n{}", s.trace_tail());
}

fn other_broker(s: &Sim<u64>, not: i32) -> i32 {
    s.cluster
        .broker_ids()
        .into_iter()
        .find(|&b| b != not && s.cluster.is_broker_up(b))
        .unwrap()
}

fn a_second_instance_fences_the_first(tv: Tv) {
    let mut a = txn_sim(tv, 4);
    init(&mut a);
    a.begin_transaction().unwrap();
    send_range(&mut a, 0, 10);
    wait_reported(&mut a, 0..10);
    assert!(a.quiesce(SEC));
    // A second producer with the same transactional.id, on the same cluster.
    let config = a.engine.config().clone();
    let mut b: Sim<u64> = Sim::new(config, FakeCluster::new(fake(tv)), 5);
    core::mem::swap(&mut a.cluster, &mut b.cluster);
    b.now = a.now;
    init(&mut b);
    b.begin_transaction().unwrap();
    send_range(&mut b, 100, 105);
    assert_eq!(commit(&mut b), Ok(()), "{}", b.trace_tail());
    assert!(b.quiesce(SEC));
    core::mem::swap(&mut a.cluster, &mut b.cluster);
    a.now = b.now;
    // The first one's transaction was aborted by the fence; its commit fails fatally.
    let r = a.commit_transaction(30 * SEC);
    let e = done(r, "fenced commit", &a).unwrap_err();
    assert!(e.fatal && !e.abortable && !e.retriable, "{e:?}");
    assert_eq!(e.code, ErrorCode::Fenced, "{e:?}");
    assert_eq!(
        a.engine.fatal_error().map(|f| f.0),
        Some(ErrorCode::Fenced),
        "{}",
        a.trace_tail()
    );
    assert!(
        a.errors
            .iter()
            .any(|e| e.code == ErrorCode::Fatal || e.code == ErrorCode::Fenced),
        "a fatal error event: {:?}",
        a.errors
    );
    // Nothing more is accepted.
    let refused = a
        .send(TOPIC, Some(0), None, Some(b"late"), 999)
        .unwrap_err();
    assert!(
        matches!(
            refused.code,
            ErrorCode::Fatal | ErrorCode::Fenced | ErrorCode::State
        ),
        "{:?}",
        refused.code
    );
    assert!(a.engine.begin_transaction(a.now).is_err());
    assert_eq!(committed_set(&a), (100..105).collect());
    let ends: Vec<EndCause> = a
        .cluster
        .completed_transactions()
        .iter()
        .map(|c| c.cause)
        .collect();
    assert_eq!(ends, vec![EndCause::Fenced, EndCause::Client]);
    assert_one_report_each(&a, 0..10);
    assert_cluster_clean(&a);
}

fn coordinator_errors_are_retried(tv: Tv) {
    let mut s = txn_sim(tv, 6);
    let c = &mut s.cluster;
    c.push_fault(
        Fault::new(
            ApiKey::FindCoordinator,
            FaultAction::Error(COORDINATOR_NOT_AVAILABLE),
        )
        .times(2),
    );
    c.push_fault(Fault::new(
        ApiKey::InitProducerId,
        FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS),
    ));
    c.push_fault(Fault::new(
        ApiKey::InitProducerId,
        FaultAction::Error(NOT_COORDINATOR),
    ));
    c.push_fault(Fault::new(
        ApiKey::InitProducerId,
        FaultAction::Error(CONCURRENT_TRANSACTIONS),
    ));
    c.push_fault(
        Fault::new(
            ApiKey::AddPartitionsToTxn,
            FaultAction::Error(CONCURRENT_TRANSACTIONS),
        )
        .times(2),
    );
    c.push_fault(Fault::new(
        ApiKey::AddPartitionsToTxn,
        FaultAction::Error(NOT_COORDINATOR),
    ));
    c.push_fault(Fault::new(
        ApiKey::AddOffsetsToTxn,
        FaultAction::Error(CONCURRENT_TRANSACTIONS),
    ));
    c.push_fault(Fault::new(
        ApiKey::TxnOffsetCommit,
        FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS),
    ));
    c.push_fault(Fault::new(
        ApiKey::TxnOffsetCommit,
        FaultAction::Error(NOT_COORDINATOR),
    ));
    c.push_fault(Fault::new(ApiKey::EndTxn, FaultAction::Error(CONCURRENT_TRANSACTIONS)).times(2));
    c.push_fault(Fault::new(
        ApiKey::EndTxn,
        FaultAction::Error(NOT_COORDINATOR),
    ));
    c.push_fault(Fault::new(
        ApiKey::EndTxn,
        FaultAction::Error(COORDINATOR_NOT_AVAILABLE),
    ));
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 9);
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: 5,
        leader_epoch: -1,
        metadata: None,
    }];
    let r = s.send_offsets_to_transaction(&offsets, &GroupMetadata::new(GROUP), 30 * SEC);
    assert_eq!(done(r, "send_offsets", &s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commits(&s), vec![true]);
    assert_eq!(committed_set(&s), (0..9).collect());
    assert_eq!(
        s.cluster.committed_offset(GROUP, "in", 0).unwrap().offset,
        5
    );
    let left: Vec<_> = s
        .cluster
        .pending_faults()
        .filter(|f| tv == Tv::V1 || f.api_key != Some(ApiKey::AddPartitionsToTxn))
        .filter(|f| tv == Tv::V1 || f.api_key != Some(ApiKey::AddOffsetsToTxn))
        .collect();
    assert!(left.is_empty(), "faults never hit: {left:?}");
    // CONCURRENT_TRANSACTIONS is retried after a short backoff, not at once.
    let end_txn_at: Vec<Instant> = s
        .cluster
        .requests()
        .iter()
        .filter(|r| r.api_key == Some(ApiKey::EndTxn))
        .map(|r| r.at)
        .collect();
    assert!(end_txn_at.len() >= 5, "{end_txn_at:?}");
    assert!(end_txn_at[1] >= end_txn_at[0] + 10 * MS, "{end_txn_at:?}");
    assert_one_report_each(&s, 0..9);
    assert_cluster_clean(&s);
}

fn back_to_back_transactions_wait_for_the_markers(tv: Tv) {
    let config = FakeConfig {
        txn_marker_latency: 60 * MS,
        ..fake(tv)
    };
    let mut s = txn_sim_with(config, 7, |_| {});
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    let r = s.commit_transaction(30 * SEC);
    assert_eq!(done(r, "commit", &s), Ok(()));
    // At once the next transaction, while the coordinator still writes the markers.
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 12);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commits(&s), vec![true, true]);
    assert_eq!(committed_set(&s), (0..12).collect());
    // The broker made it wait: TV1 AddPartitionsToTxn got CONCURRENT_TRANSACTIONS, TV2
    // Produce got NOT_ENOUGH_REPLICAS (the verification's answer, translated for producers).
    let waited = s.cluster.requests().iter().filter(|r| {
        r.produce
            .as_ref()
            .is_some_and(|p| p.partitions.iter().any(|x| x.error_code == 19))
    });
    match tv {
        Tv::V2 => assert!(waited.count() > 0, "{}", s.trace_tail()),
        Tv::V1 => assert!(requests_of(&s, ApiKey::AddPartitionsToTxn).len() >= 3),
    }
    assert_one_report_each(&s, 0..12);
    assert_cluster_clean(&s);
}

fn coordinator_moving_before_end_txn(tv: Tv) {
    let mut s = txn_sim(tv, 8);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    wait_reported(&mut s, 0..6);
    let old = s.cluster.coordinator(CoordinatorType::Transaction, TXN_ID);
    let new = other_broker(&s, old);
    s.cluster
        .move_coordinator(s.now, CoordinatorType::Transaction, TXN_ID, new)
        .unwrap();
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commits(&s), vec![true]);
    assert_eq!(committed_set(&s), (0..6).collect());
    let end_brokers: Vec<i32> = s
        .cluster
        .requests()
        .iter()
        .filter(|r| r.api_key == Some(ApiKey::EndTxn))
        .map(|r| r.broker)
        .collect();
    assert_eq!(end_brokers.first(), Some(&old));
    assert_eq!(end_brokers.last(), Some(&new));
    assert_cluster_clean(&s);
}

fn coordinator_going_down_mid_commit(tv: Tv) {
    let mut s = txn_sim(tv, 9);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    wait_reported(&mut s, 0..6);
    let old = s.cluster.coordinator(CoordinatorType::Transaction, TXN_ID);
    // The EndTxn is processed, its answer is slow; the coordinator dies before sending it.
    s.cluster
        .push_fault(Fault::new(ApiKey::EndTxn, FaultAction::Delay(300 * MS)).on_broker(old));
    let r = s.commit_transaction(10 * MS).unwrap();
    assert_eq!(r, None, "still committing");
    let sent = s.run_until(|s| !requests_of(s, ApiKey::EndTxn).is_empty(), 10 * SEC);
    assert!(sent);
    s.run_for(5 * MS);
    let now = s.now;
    s.cluster.set_broker_down(now, old).unwrap();
    s.cluster.fail_over(now, old).unwrap();
    let got = s.run_until(
        |s| s.txn_results.iter().any(|r| r.op == TxnOp::Commit),
        60 * SEC,
    );
    assert!(got, "{}", s.trace_tail());
    let r = s
        .txn_results
        .iter()
        .find(|r| r.op == TxnOp::Commit)
        .unwrap();
    assert_eq!(r.result, Ok(()), "{}", s.trace_tail());
    settle_markers(&mut s);
    assert_eq!(commits(&s), vec![true], "exactly one commit");
    assert_eq!(committed_set(&s), (0..6).collect());
    // The producer goes on with the new coordinator.
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 9);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(committed_set(&s), (0..9).collect());
    assert_one_report_each(&s, 0..9);
    assert_cluster_clean(&s);
}

fn lost_end_txn_response_commits_exactly_once(tv: Tv) {
    let mut s = txn_sim(tv, 10);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    s.cluster
        .push_fault(Fault::new(ApiKey::EndTxn, FaultAction::DisconnectAfter));
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commits(&s), vec![true], "exactly one commit");
    assert!(requests_of(&s, ApiKey::EndTxn).len() >= 2, "retried");
    // The next transaction uses the right epoch (TV2: the bumped one from the retry).
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 12);
    // Written first, so the abort needs an EndTxn.
    wait_reported(&mut s, 6..12);
    s.cluster
        .push_fault(Fault::new(ApiKey::EndTxn, FaultAction::DisconnectAfter));
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    s.begin_transaction().unwrap();
    send_range(&mut s, 12, 15);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commits(&s), vec![true, false, true]);
    let mut want: BTreeSet<u64> = (0..6).collect();
    want.extend(12..15);
    assert_eq!(committed_set(&s), want);
    assert_one_report_each(&s, 0..15);
    assert_cluster_clean(&s);
}

/// A sim whose transactions time out on the broker after 2 s.
fn short_timeout_sim(tv: Tv, seed: u64) -> Sim<u64> {
    let config = FakeConfig {
        txn_abort_check_interval: 100 * MS,
        ..fake(tv)
    };
    txn_sim_with(config, seed, |c| {
        c.transaction_timeout = 2 * SEC;
        c.message_timeout = Some(2 * SEC);
        c.socket_timeout = 1900 * MS;
    })
}

/// The broker aborts the transaction on its timeout; then the producer commits. TV1: the
/// coordinator bumped the epoch (fence), EndTxn gets PRODUCER_FENCED: fatal. TV2 (Kafka
/// 4.1): the commit at the pre-abort epoch is INVALID_TXN_STATE: fatal too (KAFKA-20785 later
/// made it PRODUCER_FENCED). Either way nothing of the transaction is visible.
fn broker_timeout_then_commit(tv: Tv) {
    let mut s = short_timeout_sim(tv, 11);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    wait_reported(&mut s, 0..6);
    s.run_for(3 * SEC);
    let done_txns = s.cluster.completed_transactions().to_vec();
    assert_eq!(done_txns.len(), 1);
    assert_eq!(done_txns[0].cause, EndCause::Timeout);
    let r = s.commit_transaction(30 * SEC);
    let e = done(r, "commit after timeout", &s).unwrap_err();
    assert!(e.fatal, "{e:?}\n{}", s.trace_tail());
    assert!(s.engine.fatal_error().is_some());
    assert!(committed_set(&s).is_empty());
    assert_eq!(commits(&s), vec![false]);
    assert_one_report_each(&s, 0..6);
    assert_cluster_clean(&s);
}

/// The broker aborts the transaction on its timeout; then the producer sends more. The
/// Produce gets INVALID_PRODUCER_EPOCH (the partition saw the abort marker's bumped epoch).
/// TV2: the transaction is abortable; the abort at the old epoch is a retry of the broker's
/// abort and succeeds with the bumped epoch, and the producer goes on. TV1: fatal, either at
/// once (librdkafka treats a fenced epoch on Produce as fatal) or when the abort gets
/// PRODUCER_FENCED (the Java client's abortable-then-fenced path).
fn broker_timeout_then_more_records(tv: Tv) {
    let mut s = short_timeout_sim(tv, 12);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 3);
    wait_reported(&mut s, 0..3);
    s.run_for(3 * SEC);
    send_range(&mut s, 3, 6);
    wait_reported(&mut s, 3..6);
    let failed = s
        .delivered
        .iter()
        .filter(|d| (3..6).contains(&d.opaque))
        .filter(|d| d.error.is_some())
        .count();
    assert!(
        failed > 0,
        "records after the timeout must fail\n{}",
        s.trace_tail()
    );
    let r = s.commit_transaction(30 * SEC);
    let e = outcome(r, "commit", &s).unwrap_err();
    if tv == Tv::V1 && e.fatal {
        assert!(s.engine.fatal_error().is_some());
        assert!(committed_set(&s).is_empty());
        assert_one_report_each(&s, 0..6);
        assert_cluster_clean(&s);
        return;
    }
    assert!(e.abortable, "{e:?}\n{}", s.trace_tail());
    let r = outcome(s.abort_transaction(30 * SEC), "abort", &s);
    settle_markers(&mut s);
    match tv {
        Tv::V2 => {
            assert_eq!(r, Ok(()), "{}", s.trace_tail());
            s.begin_transaction().unwrap();
            send_range(&mut s, 6, 9);
            assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
            assert_eq!(committed_set(&s), (6..9).collect());
            assert_one_report_each(&s, 0..9);
        }
        Tv::V1 => {
            let e = r.unwrap_err();
            assert!(e.fatal, "{e:?}");
            assert!(committed_set(&s).is_empty());
            assert_one_report_each(&s, 0..6);
        }
    }
    assert_cluster_clean(&s);
}

fn resumable_commit_reemits_its_result(tv: Tv) {
    let mut s = txn_sim(tv, 13);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 6);
    s.cluster
        .push_fault(Fault::new(ApiKey::EndTxn, FaultAction::Delay(300 * MS)));
    // The driver's timeout expires before the result.
    assert_eq!(s.commit_transaction(20 * MS), Ok(None));
    let sent = requests_of(&s, ApiKey::EndTxn).len();
    // Called again while running: accepted, nothing new is sent; another op conflicts.
    assert_eq!(s.engine.commit_transaction(s.now), Ok(()));
    let conflict = s.engine.abort_transaction(s.now).unwrap_err();
    assert_eq!(conflict.code, ErrorCode::Conflict, "{conflict:?}");
    assert!(!conflict.retriable);
    s.run_for(5 * MS);
    assert_eq!(requests_of(&s, ApiKey::EndTxn).len(), sent);
    // The result arrives and is drained while no driver waits for it...
    let got = s.run_until(
        |s| s.txn_results.iter().any(|r| r.op == TxnOp::Commit),
        10 * SEC,
    );
    assert!(got);
    settle_markers(&mut s);
    // ...so the retried call gets it again, without a second EndTxn.
    assert_eq!(s.commit_transaction(SEC), Ok(Some(Ok(()))));
    assert_eq!(requests_of(&s, ApiKey::EndTxn).len(), sent);
    assert_eq!(commits(&s), vec![true]);
    // A different op clears it.
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 8);
    assert_eq!(commit(&mut s), Ok(()));
    assert_eq!(committed_set(&s), (0..8).collect());
    assert_cluster_clean(&s);
}

fn a_failed_record_makes_the_commit_abortable(tv: Tv) {
    let mut s = txn_sim(tv, 14);
    init(&mut s);
    s.begin_transaction().unwrap();
    s.cluster.push_fault(
        Fault::new(ApiKey::Produce, FaultAction::Error(MESSAGE_TOO_LARGE)).on_partition(TOPIC, 1),
    );
    send_range(&mut s, 0, 6);
    let r = s.commit_transaction(30 * SEC);
    let e = outcome(r, "commit", &s).unwrap_err();
    assert!(e.abortable && !e.fatal, "{e:?}\n{}", s.trace_tail());
    assert!(
        s.delivered.iter().any(|d| d.error.is_some()),
        "a record failed"
    );
    // No EndTxn(commit) was sent.
    assert!(commits(&s).is_empty());
    // Begin is refused until the abort; the abort works.
    assert!(s.engine.begin_transaction(s.now).is_err());
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    assert!(committed_set(&s).is_empty());
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 12);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(committed_set(&s), (6..12).collect());
    assert_one_report_each(&s, 0..12);
    assert_cluster_clean(&s);
}

/// The coordinator's broker dies and nothing takes over (no replica): FindCoordinator says
/// COORDINATOR_NOT_AVAILABLE until it is back; the commit waits and then completes once.
fn coordinator_down_until_it_returns(tv: Tv) {
    let mut s = txn_sim(tv, 16);
    init(&mut s);
    let coord = s.cluster.coordinator(CoordinatorType::Transaction, TXN_ID);
    s.begin_transaction().unwrap();
    // Only partitions the coordinator's broker does not lead.
    let parts: Vec<i32> = (0..PARTITIONS)
        .filter(|&p| s.cluster.leader(TOPIC, p).unwrap().0 != coord)
        .collect();
    for i in 0..6u64 {
        let p = parts[i as usize % parts.len()];
        s.send(TOPIC, Some(p), None, Some(&value(i)), i).unwrap();
    }
    wait_reported(&mut s, 0..6);
    let now = s.now;
    s.cluster.set_broker_down(now, coord).unwrap();
    assert_eq!(
        s.commit_transaction(2 * SEC),
        Ok(None),
        "waits for the coordinator"
    );
    assert!(
        s.cluster
            .requests()
            .iter()
            .any(|r| r.api_key == Some(ApiKey::FindCoordinator)
                && r.answered == Some(COORDINATOR_NOT_AVAILABLE)),
        "{}",
        s.trace_tail()
    );
    assert!(commits(&s).is_empty());
    s.cluster.set_broker_up(coord).unwrap();
    let got = s.run_until(
        |s| s.txn_results.iter().any(|r| r.op == TxnOp::Commit),
        60 * SEC,
    );
    assert!(got, "{}", s.trace_tail());
    assert_eq!(
        s.txn_results
            .iter()
            .find(|r| r.op == TxnOp::Commit)
            .unwrap()
            .result,
        Ok(())
    );
    settle_markers(&mut s);
    assert_eq!(commits(&s), vec![true]);
    assert_eq!(committed_set(&s), (0..6).collect());
    assert_cluster_clean(&s);
}

/// KIP-447: the group coordinator refuses a TxnOffsetCommit from a stale generation
/// (ILLEGAL_GENERATION): the transaction is abortable.
fn a_stale_group_generation_makes_send_offsets_abortable(tv: Tv) {
    let mut s = txn_sim(tv, 17);
    s.cluster.set_group_generation(GROUP, 5, &["member-1"]);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 3);
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: 9,
        leader_epoch: -1,
        metadata: None,
    }];
    let stale = GroupMetadata {
        group_id: GROUP.to_owned(),
        generation_id: 4,
        member_id: "member-1".to_owned(),
        group_instance_id: None,
    };
    let r = s.send_offsets_to_transaction(&offsets, &stale, 30 * SEC);
    let e = outcome(r, "send_offsets", &s).unwrap_err();
    assert!(e.abortable, "{e:?}\n{}", s.trace_tail());
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(s.cluster.committed_offset(GROUP, "in", 0), None);
    // With the current generation it works.
    s.begin_transaction().unwrap();
    send_range(&mut s, 3, 6);
    let current = GroupMetadata {
        generation_id: 5,
        ..stale
    };
    let r = s.send_offsets_to_transaction(&offsets, &current, 30 * SEC);
    assert_eq!(done(r, "send_offsets", &s), Ok(()), "{}", s.trace_tail());
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    assert_eq!(
        s.cluster.committed_offset(GROUP, "in", 0).unwrap().offset,
        9
    );
    assert_eq!(committed_set(&s), (3..6).collect());
    assert_one_report_each(&s, 0..6);
    assert_cluster_clean(&s);
}

/// `transactional.id.expiration.ms` passed between two transactions: the coordinator forgot
/// the id and answers INVALID_PRODUCER_ID_MAPPING; the transaction is abortable, the abort
/// re-initialises (a new producer id) and the producer goes on.
fn an_expired_transactional_id_starts_over(tv: Tv) {
    let mut s = txn_sim(tv, 18);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 3);
    assert_eq!(commit(&mut s), Ok(()));
    let old_pid = s.cluster.transaction(TXN_ID).unwrap().producer_id;
    assert!(s.cluster.expire_transactional_id(TXN_ID));
    s.begin_transaction().unwrap();
    send_range(&mut s, 3, 6);
    let r = s.commit_transaction(30 * SEC);
    let e = outcome(r, "commit", &s).unwrap_err();
    assert!(e.abortable && !e.fatal, "{e:?}\n{}", s.trace_tail());
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 9);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    let new_pid = s.cluster.transaction(TXN_ID).unwrap().producer_id;
    assert_ne!(new_pid, old_pid);
    let mut want: BTreeSet<u64> = (0..3).collect();
    want.extend(6..9);
    assert_eq!(committed_set(&s), want);
    assert_one_report_each(&s, 0..9);
    assert_cluster_clean(&s);
}

/// OUT_OF_ORDER_SEQUENCE_NUMBER on a transactional batch: abortable "with bump"; the abort
/// re-initialises with InitProducerId carrying the current producer id and epoch (KIP-360),
/// the coordinator bumps the epoch, and the next transaction starts its sequences at 0.
fn a_sequence_error_bumps_the_epoch_at_abort(tv: Tv) {
    let mut s = txn_sim(tv, 19);
    init(&mut s);
    s.begin_transaction().unwrap();
    send_range(&mut s, 0, 3);
    assert_eq!(commit(&mut s), Ok(()));
    let before = s.cluster.transaction(TXN_ID).unwrap();
    s.begin_transaction().unwrap();
    s.cluster
        .push_fault(Fault::new(ApiKey::Produce, FaultAction::Error(45)).on_partition(TOPIC, 0));
    send_range(&mut s, 3, 6);
    let r = s.commit_transaction(30 * SEC);
    let e = outcome(r, "commit", &s).unwrap_err();
    assert!(e.abortable && !e.fatal, "{e:?}\n{}", s.trace_tail());
    let inits = requests_of(&s, ApiKey::InitProducerId).len();
    assert_eq!(abort(&mut s), Ok(()), "{}", s.trace_tail());
    // One re-init (CONCURRENT_TRANSACTIONS while the abort markers are written is retried).
    let reinit: Vec<(i16, Option<i16>)> = s
        .cluster
        .requests()
        .iter()
        .filter(|r| r.api_key == Some(ApiKey::InitProducerId))
        .skip(inits)
        .map(|r| (r.api_version, r.answered))
        .collect();
    let ok: Vec<_> = reinit.iter().filter(|r| r.1 == Some(0)).collect();
    assert_eq!(
        ok.len(),
        1,
        "one KIP-360 re-init: {reinit:?}\n{}",
        s.trace_tail()
    );
    assert!(
        ok[0].0 >= 3,
        "InitProducerId v3+ carries the current pid/epoch"
    );
    let after = s.cluster.transaction(TXN_ID).unwrap();
    assert_eq!(
        after.producer_id, before.producer_id,
        "same producer id (KIP-360)"
    );
    assert!(after.producer_epoch > before.producer_epoch);
    s.begin_transaction().unwrap();
    send_range(&mut s, 6, 9);
    assert_eq!(commit(&mut s), Ok(()), "{}", s.trace_tail());
    let mut want: BTreeSet<u64> = (0..3).collect();
    want.extend(6..9);
    assert_eq!(committed_set(&s), want);
    assert_one_report_each(&s, 0..9);
    assert_cluster_clean(&s);
}

/// TV1: the AddPartitionsToTxn of a transaction is lost with its connection (never reached
/// the coordinator), then the application aborts. The coordinator has no open transaction,
/// so an EndTxn(abort) gets INVALID_TXN_STATE; the Java client re-sends the pending
/// AddPartitionsToTxn first (or skips EndTxn when no partition was ever added), so the abort
/// succeeds. (BUG T1 in /work/brief/txn.md, fixed in the engine by 09:12.)
#[test]
fn tv1_abort_after_a_lost_add_partitions_request() {
    for action in [FaultAction::DisconnectBefore, FaultAction::DisconnectAfter] {
        let config = FakeConfig {
            txn_marker_latency: 80 * MS,
            ..fake(Tv::V1)
        };
        let mut s = txn_sim_with(config, 15, |_| {});
        init(&mut s);
        s.begin_transaction().unwrap();
        send_range(&mut s, 0, 3);
        // Committed; its markers take 80 ms, so the next AddPartitionsToTxn gets
        // CONCURRENT_TRANSACTIONS (or, DisconnectBefore, is never read).
        let r = s.commit_transaction(30 * SEC);
        assert_eq!(done(r, "commit", &s), Ok(()));
        s.begin_transaction().unwrap();
        s.cluster
            .push_fault(Fault::new(ApiKey::AddPartitionsToTxn, action.clone()));
        send_range(&mut s, 3, 6);
        s.run_for(MS);
        assert_eq!(abort(&mut s), Ok(()), "{action:?}\n{}", s.trace_tail());
        assert!(s.engine.fatal_error().is_none());
        s.begin_transaction().unwrap();
        send_range(&mut s, 6, 9);
        assert_eq!(commit(&mut s), Ok(()), "{action:?}\n{}", s.trace_tail());
        let mut want: BTreeSet<u64> = (0..3).collect();
        want.extend(6..9);
        assert_eq!(committed_set(&s), want);
        assert_one_report_each(&s, 0..9);
        assert_cluster_clean(&s);
    }
}

// ---- randomized ---------------------------------------------------------------------------

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len() as u32) as usize]
}

/// Retriable coordinator answers a broker really gives.
const COORD_ERRORS: &[i16] = &[
    COORDINATOR_LOAD_IN_PROGRESS,
    COORDINATOR_NOT_AVAILABLE,
    NOT_COORDINATOR,
    CONCURRENT_TRANSACTIONS,
];

/// Faults (and cluster changes) before one transaction. Returns a broker to bring back up
/// after it.
fn inject(rng: &mut Rng, s: &mut Sim<u64>, tv: Tv) -> Option<i32> {
    let mut down = None;
    for _ in 0..rng.below(4) {
        let api = match tv {
            Tv::V1 => pick(
                rng,
                &[
                    ApiKey::FindCoordinator,
                    ApiKey::InitProducerId,
                    ApiKey::AddPartitionsToTxn,
                    ApiKey::AddOffsetsToTxn,
                    ApiKey::TxnOffsetCommit,
                    ApiKey::EndTxn,
                    ApiKey::Produce,
                ],
            ),
            Tv::V2 => pick(
                rng,
                &[
                    ApiKey::FindCoordinator,
                    ApiKey::InitProducerId,
                    ApiKey::TxnOffsetCommit,
                    ApiKey::EndTxn,
                    ApiKey::EndTxn,
                    ApiKey::Produce,
                ],
            ),
        };
        let action = match rng.below(7) {
            // A silent broker: the request times out (socket.timeout.ms) and is retried.
            6 if rng.below(3) == 0 => FaultAction::Hang,
            // A broken answer (right correlation id, bad body): processed, then unreadable.
            6 if rng.below(3) == 0 => {
                if rng.below(2) == 0 {
                    FaultAction::Truncate
                } else {
                    FaultAction::Garbage
                }
            }
            6 => FaultAction::Delay(Duration::from_millis(u64::from(rng.below(50)))),
            0 | 1 if api == ApiKey::Produce => {
                FaultAction::Error(pick(rng, &[6, 19, 19, MESSAGE_TOO_LARGE]))
            }
            0 | 1 => FaultAction::Error(pick(rng, COORD_ERRORS)),
            2 => FaultAction::Delay(Duration::from_millis(u64::from(rng.below(300)))),
            3 => FaultAction::DisconnectAfter,
            4 => FaultAction::DisconnectBefore,
            _ => FaultAction::ErrorDelayed(
                pick(
                    rng,
                    if api == ApiKey::Produce {
                        &[19]
                    } else {
                        COORD_ERRORS
                    },
                ),
                Duration::from_millis(u64::from(rng.below(100))),
            ),
        };
        let f = Fault::new(api, action).times(1 + rng.below(2));
        s.cluster.push_fault(f);
    }
    let ids = s.cluster.broker_ids();
    let now = s.now;
    match rng.below(8) {
        0 => {
            let to = pick(rng, &ids);
            s.cluster
                .move_coordinator(now, CoordinatorType::Transaction, TXN_ID, to)
                .unwrap();
        }
        1 => {
            let to = pick(rng, &ids);
            s.cluster
                .move_coordinator(now, CoordinatorType::Group, GROUP, to)
                .unwrap();
        }
        2 => {
            let p = rng.below(PARTITIONS as u32) as i32;
            let to = pick(rng, &ids);
            s.cluster.move_leader(TOPIC, p, to).unwrap();
        }
        3 => {
            let node = pick(rng, &ids);
            s.cluster.set_broker_down(now, node).unwrap();
            s.cluster.fail_over(now, node).unwrap();
            down = Some(node);
        }
        _ => {}
    }
    down
}

#[derive(Default)]
struct Ledger {
    committed: BTreeSet<u64>,
    aborted: BTreeSet<u64>,
    /// Offset committed with the last committed transaction that sent one.
    offset: Option<i64>,
    commits: usize,
    sent: Vec<u64>,
}

/// Runs one op to its final result the way a driver does: it waits `limit` per call, and
/// calls the op again after its own timeout or a retriable error (resumable operations).
fn run_op(
    s: &mut Sim<u64>,
    op: TxnOp,
    offsets: &[TxnOffset<'_>],
    limit: Duration,
) -> Result<(), TxnError> {
    let group = GroupMetadata::new(GROUP);
    let tries = (180 * SEC).as_millis() / limit.as_millis().max(1);
    for _ in 0..tries.max(5) {
        let r = match op {
            TxnOp::Init => s.init_transactions(limit),
            TxnOp::Commit => s.commit_transaction(limit),
            TxnOp::Abort => s.abort_transaction(limit),
            TxnOp::SendOffsets => s.send_offsets_to_transaction(offsets, &group, limit),
        };
        match r {
            Ok(Some(Err(e))) | Err(e) if e.retriable => continue,
            Ok(Some(r)) => return r,
            Ok(None) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(TxnError::new(
        ErrorCode::OperationTimedOut,
        "no result within 180 s",
    ))
}

/// A second producer with the same transactional.id runs one committed transaction on the
/// same cluster (ids from 1_000_000), fencing the first. The first one's connections stay
/// open; its answers are all delivered before the hand-over so none is lost.
fn second_instance(
    s: &mut Sim<u64>,
    seed: u64,
    limit: Duration,
    l: &mut Ledger,
) -> Result<(), String> {
    if !s.quiesce(60 * SEC) {
        return Err("first instance did not quiesce".to_owned());
    }
    let config = s.engine.config().clone();
    let mut b: Sim<u64> = Sim::new(config, FakeCluster::new(FakeConfig::default()), seed + 1);
    core::mem::swap(&mut s.cluster, &mut b.cluster);
    b.now = s.now;
    let outcome = (|| {
        run_op(&mut b, TxnOp::Init, &[], limit).map_err(|e| format!("second init: {e:?}"))?;
        b.begin_transaction()
            .map_err(|e| format!("second begin: {e:?}"))?;
        let ids: Vec<u64> = (1_000_000..1_000_004).collect();
        for &i in &ids {
            b.send(TOPIC, Some((i % 3) as i32), None, Some(&value(i)), i)
                .map_err(|e| format!("second send: {:?}", e.code))?;
        }
        let ended_before = b.cluster.completed_transactions().len();
        let result = match run_op(&mut b, TxnOp::Commit, &[], limit) {
            Ok(()) => Ok(true),
            Err(e) if e.abortable => run_op(&mut b, TxnOp::Abort, &[], limit).map(|()| false),
            Err(e) => Err(e),
        };
        // As for the first instance: a transaction outliving its timeout (a hung request)
        // may end fatally.
        let timed_out = b.cluster.completed_transactions()[ended_before..]
            .iter()
            .any(|c| c.cause == EndCause::Timeout);
        let committed = match result {
            Ok(c) => c,
            Err(e) if e.fatal && timed_out => false,
            Err(e) => return Err(format!("second instance: {e:?}")),
        };
        if committed {
            l.committed.extend(&ids);
            l.commits += 1;
        } else {
            l.aborted.extend(&ids);
        }
        for &i in &ids {
            let n = b.delivered.iter().filter(|d| d.opaque == i).count();
            if n != 1 {
                return Err(format!("second instance's record {i}: {n} reports"));
            }
        }
        if !b.quiesce(60 * SEC) {
            return Err("second instance did not quiesce".to_owned());
        }
        Ok(())
    })();
    core::mem::swap(&mut s.cluster, &mut b.cluster);
    s.now = s.now.max(b.now);
    outcome.map_err(|e| format!("{e}\nsecond instance trace:\n{}", b.trace_tail()))
}

fn run_random(seed: u64) -> Result<String, String> {
    let mut rng = Rng::new(seed ^ 0x7a7a_0000);
    let tv = if rng.below(2) == 0 { Tv::V1 } else { Tv::V2 };
    let fake = FakeConfig {
        txn_marker_latency: Duration::from_millis(u64::from(pick(&mut rng, &[1u32, 3, 20, 80]))),
        coordinator_load_time: Duration::from_millis(u64::from(pick(&mut rng, &[0u32, 0, 30]))),
        ..fake(tv)
    };
    let linger = Duration::from_millis(u64::from(pick(&mut rng, &[0u32, 2, 10])));
    let batch_num = pick(&mut rng, &[1usize, 4, 10_000]);
    // Some seeds run with a 3 s transaction timeout and let transactions outlive it.
    let timeouts = rng.below(4) == 0;
    let fake = FakeConfig {
        txn_abort_check_interval: 200 * MS,
        ..fake
    };
    let max_in_flight = pick(&mut rng, &[1usize, 2, 5]);
    let batch_size = pick(&mut rng, &[300usize, 16_384]);
    let compression = pick(
        &mut rng,
        &[
            Compression::None,
            Compression::None,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Snappy,
        ],
    );
    let mut s = txn_sim_with(fake, seed, |c| {
        c.linger = linger;
        c.batch_num_messages = batch_num;
        c.max_in_flight = max_in_flight;
        c.batch_size = batch_size;
        c.compression = compression;
        if timeouts {
            c.transaction_timeout = 3 * SEC;
            c.message_timeout = Some(3 * SEC);
            c.socket_timeout = 2900 * MS;
        } else {
            // A hung request is noticed within a few seconds.
            c.socket_timeout = 5 * SEC;
        }
    });
    let fail = |s: &Sim<u64>, what: String| {
        Err(format!(
            "seed {seed} ({tv:?}): {what}\ntrace tail:\n{}",
            s.trace_tail()
        ))
    };
    if rng.below(2) == 0 {
        s.cluster.push_fault(
            Fault::new(
                ApiKey::InitProducerId,
                FaultAction::Error(pick(&mut rng, COORD_ERRORS)),
            )
            .times(1 + rng.below(2)),
        );
    }
    // Some drivers give up quickly and call again (librdkafka's resumable calls).
    let limit = pick(&mut rng, &[60 * SEC, 60 * SEC, 200 * MS, 20 * MS]);
    if let Err(e) = run_op(&mut s, TxnOp::Init, &[], limit) {
        return fail(&s, format!("init: {e:?}"));
    }
    let mut l = Ledger::default();
    let mut next = 0u64;
    let txns = 3 + rng.below(5);
    let mut fatal_end = None;
    // Some seeds start a second instance with the same transactional.id (a zombie fence)
    // before one of the transactions.
    let fence_at = (rng.below(5) == 0).then(|| rng.below(txns));
    let mut fenced = false;
    for n in 0..txns {
        let down = inject(&mut rng, &mut s, tv);
        let ended_before = s.cluster.completed_transactions().len();
        if fence_at == Some(n) {
            if let Err(e) = second_instance(&mut s, seed, limit, &mut l) {
                return fail(&s, e);
            }
            fenced = true;
        }
        if let Err(e) = s.begin_transaction() {
            return fail(&s, format!("begin {n}: {e:?}"));
        }
        let most = if rng.below(4) == 0 { 60 } else { 12 };
        let count = 1 + u64::from(rng.below(most));
        let mut ids: Vec<u64> = Vec::new();
        for i in next..next + count {
            let p = rng.below(PARTITIONS as u32) as i32;
            match s.send(TOPIC, Some(p), None, Some(&value(i)), i) {
                Ok(()) => {}
                // After a record failed the transaction is abortable: librdkafka refuses
                // further sends with __STATE until the abort.
                Err(e) if e.code == ErrorCode::State => continue,
                // Fatal already (a timed-out TV1 transaction): the decision below sees it.
                Err(e) if e.code == ErrorCode::Fatal && s.engine.fatal_error().is_some() => {
                    continue;
                }
                Err(e) => return fail(&s, format!("send {i} refused: {:?}", e.code)),
            }
            ids.push(i);
            l.sent.push(i);
            if rng.below(4) == 0 {
                s.run_for(Duration::from_millis(u64::from(rng.below(20))));
            }
            if timeouts && rng.below(8) == 0 {
                // Outlive transaction.timeout.ms: the coordinator aborts.
                s.run_for(4 * SEC);
            }
        }
        next += count;
        let offset = i64::from(n) * 10;
        let mut sent_offsets = false;
        if rng.below(3) == 0 {
            let offsets = [TxnOffset {
                topic: "in",
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: None,
            }];
            match run_op(&mut s, TxnOp::SendOffsets, &offsets, limit) {
                Ok(()) => sent_offsets = true,
                Err(e) if e.abortable || e.fatal => {}
                Err(e) => return fail(&s, format!("send_offsets {n}: {e:?}")),
            }
        }
        let want_commit = rng.below(4) != 0;
        let first = if want_commit {
            TxnOp::Commit
        } else {
            TxnOp::Abort
        };
        let result = match run_op(&mut s, first, &[], limit) {
            Ok(()) => Ok(want_commit),
            Err(e) if e.abortable && want_commit => {
                run_op(&mut s, TxnOp::Abort, &[], limit).map(|()| false)
            }
            Err(e) => Err(e),
        };
        // The only fatal end these faults allow: the coordinator timed the transaction out
        // (TV1: the epoch is fenced; TV2: a commit at the pre-abort epoch is
        // INVALID_TXN_STATE in 4.1).
        let timed_out = s.cluster.completed_transactions()[ended_before..]
            .iter()
            .any(|c| c.cause == EndCause::Timeout);
        let committed = match result {
            // An abort, or a transaction whose records never left, ends locally without the
            // coordinator; a commit of records cannot succeed once fenced.
            Ok(true) if fenced && !ids.is_empty() => {
                return fail(&s, format!("a fenced producer committed transaction {n}"));
            }
            Ok(c) => c,
            Err(e)
                if e.fatal
                    && (timed_out || fenced)
                    && matches!(
                        e.code,
                        ErrorCode::Fenced | ErrorCode::InvalidTransactionalState
                    ) =>
            {
                l.aborted.extend(&ids);
                if std::env::var_os("SIM_TRACE_FATAL").is_some() {
                    println!("fatal end: {e:?}\n{}", s.trace_tail());
                }
                fatal_end = Some(e);
                if let Some(node) = down {
                    s.cluster.set_broker_up(node).unwrap();
                }
                break;
            }
            Err(e) => return fail(&s, format!("{first:?} {n}: {e:?}")),
        };
        if committed {
            l.committed.extend(&ids);
            l.commits += 1;
            if sent_offsets {
                l.offset = Some(offset);
            }
        } else {
            l.aborted.extend(&ids);
        }
        if let Some(node) = down {
            s.cluster.set_broker_up(node).unwrap();
        }
    }
    // Heal and settle.
    s.cluster.clear_faults();
    settle_markers(&mut s);
    if !s.drive_until_idle(60 * SEC) {
        return fail(&s, "engine not idle".to_owned());
    }
    // 1. read_committed holds exactly the committed records, each once, in send order per
    //    partition (idempotence keeps order).
    let per_partition = committed_ids(&s);
    let visible: Vec<u64> = per_partition.values().flatten().copied().collect();
    let visible_set: BTreeSet<u64> = visible.iter().copied().collect();
    if visible.len() != visible_set.len() {
        return fail(
            &s,
            format!("duplicates in read_committed: {per_partition:?}"),
        );
    }
    if visible_set != l.committed {
        let missing: Vec<_> = l.committed.difference(&visible_set).collect();
        let extra: Vec<_> = visible_set.difference(&l.committed).collect();
        let aborted_seen: Vec<_> = visible_set.intersection(&l.aborted).collect();
        return fail(
            &s,
            format!(
                "read_committed mismatch: missing committed {missing:?}, extra {extra:?} \
                 (of aborted transactions: {aborted_seen:?})"
            ),
        );
    }
    for (p, ids) in &per_partition {
        if ids.windows(2).any(|w| w[0] > w[1]) {
            return fail(&s, format!("partition {p} out of order: {ids:?}"));
        }
    }
    // 2. Every record has exactly one report; a committed one a successful one.
    let mut reports: BTreeMap<u64, Vec<Option<ErrorCode>>> = BTreeMap::new();
    for d in &s.delivered {
        reports.entry(d.opaque).or_default().push(d.error);
    }
    for id in &l.sent {
        match reports.get(id).map(Vec::as_slice) {
            Some([e]) if l.committed.contains(id) && e.is_some() => {
                return fail(&s, format!("committed record {id} reported {e:?}"));
            }
            Some([_]) => {}
            other => return fail(&s, format!("record {id}: reports {other:?}")),
        }
    }
    // 3. Exactly the acknowledged commits happened; offsets follow the last one.
    let done_commits = s
        .cluster
        .completed_transactions()
        .iter()
        .filter(|c| c.commit)
        .count();
    if done_commits != l.commits {
        return fail(
            &s,
            format!(
                "{} commits acknowledged, {done_commits} happened",
                l.commits
            ),
        );
    }
    let offset = s.cluster.committed_offset(GROUP, "in", 0).map(|c| c.offset);
    if offset != l.offset {
        return fail(
            &s,
            format!("group offset {offset:?}, expected {:?}", l.offset),
        );
    }
    // 4. Nothing hangs, the fake is sane, the log agrees with the reports.
    if !s.cluster.hanging_transactions().is_empty() {
        return fail(
            &s,
            format!("hanging: {:?}", s.cluster.hanging_transactions()),
        );
    }
    if !s.violations.is_empty() || !s.cluster.internal_errors().is_empty() {
        return fail(
            &s,
            format!("{:?} {:?}", s.violations, s.cluster.internal_errors()),
        );
    }
    let problems = s.check_against_log();
    if !problems.is_empty() {
        return fail(&s, format!("{problems:#?}"));
    }
    if fatal_end.is_some() && s.engine.fatal_error().is_none() {
        return fail(&s, "a fatal result without fatal_error()".to_owned());
    }
    Ok(format!(
        "{tv:?} {} txns, {} committed / {} aborted records, timeouts {timeouts}, driver wait \
         {limit:?}, fenced {fenced}, fatal end {:?}",
        txns,
        l.committed.len(),
        l.aborted.len(),
        fatal_end.map(|e| e.code)
    ))
}

#[test]
fn random_faults_keep_transactions_atomic() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(v) => vec![v.parse().unwrap()],
        Err(_) => {
            let n = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200u64);
            (0..n).collect()
        }
    };
    let single = seeds.len() == 1;
    let mut failures = Vec::new();
    for seed in seeds {
        let r = std::panic::catch_unwind(|| run_random(seed));
        match r {
            Ok(Ok(summary)) => {
                if single {
                    println!("seed {seed}: {summary}");
                }
            }
            Ok(Err(e)) => failures.push(e),
            Err(p) => failures.push(format!(
                "seed {seed}: panicked: {:?}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
            )),
        }
    }
    if !failures.is_empty() {
        let first = failures[0].clone();
        let seeds: Vec<&str> = failures
            .iter()
            .map(|f| f.lines().next().unwrap_or(""))
            .collect();
        panic!(
            "{} seeds failed:\n{}\nfirst failure:\n{first}",
            failures.len(),
            seeds.join("\n")
        );
    }
}
