//! The transactional producer against the in-test broker (single node, also the
//! transaction and group coordinator), on virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use purekafka_core::engine::{GroupMetadata, TxnError, TxnOffset, TxnOp};
use purekafka_core::{ErrorCode, ProducerConfig};
use support::{Harness, TxnReq, config, ms};

fn txn_config() -> ProducerConfig {
    let mut cfg = config();
    cfg.transactional_id = Some("tx".into());
    cfg.enable_idempotence = true;
    cfg.max_in_flight = 5;
    cfg.linger = ms(5);
    cfg
}

fn harness(transaction_version: i16) -> Harness {
    let mut h = Harness::new(txn_config());
    h.cluster.transaction_version = transaction_version;
    h
}

fn results(h: &mut Harness) -> Vec<(TxnOp, Result<(), TxnError>)> {
    std::iter::from_fn(|| h.engine.poll_txn_result()).collect()
}

/// init_transactions until its result.
fn init(h: &mut Harness) {
    h.engine.init_transactions(h.now).unwrap();
    h.advance(ms(100));
    assert_eq!(results(h), vec![(TxnOp::Init, Ok(()))]);
}

fn kinds(h: &Harness) -> Vec<&'static str> {
    h.cluster
        .txn_log
        .iter()
        .map(|r| match r {
            TxnReq::FindCoordinator { .. } => "FindCoordinator",
            TxnReq::InitProducerId { .. } => "InitProducerId",
            TxnReq::AddPartitions { .. } => "AddPartitions",
            TxnReq::AddOffsets { .. } => "AddOffsets",
            TxnReq::TxnOffsetCommit { .. } => "TxnOffsetCommit",
            TxnReq::EndTxn { .. } => "EndTxn",
        })
        .collect()
}

fn commit(h: &mut Harness) -> Vec<(TxnOp, Result<(), TxnError>)> {
    h.engine.commit_transaction(h.now).unwrap();
    h.advance(ms(500));
    results(h)
}

#[test]
fn tv1_transaction_adds_partitions_once_batched_then_commits() {
    let mut h = harness(0);
    init(&mut h);
    assert_eq!(
        h.cluster.txn_log[..2],
        [
            TxnReq::FindCoordinator {
                version: 6,
                key_type: 1,
                key: "tx".into()
            },
            TxnReq::InitProducerId {
                version: 5,
                transactional_id: "tx".into(),
                pid: -1,
                epoch: -1,
                timeout_ms: 60_000
            }
        ]
    );
    h.engine.begin_transaction(h.now).unwrap();
    for i in 0..4u64 {
        let record = purekafka_core::engine::Record {
            topic: "t",
            partition: Some((i % 2) as i32),
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp_ms: 0,
        };
        h.engine.send(h.now, record, i).unwrap();
    }
    h.advance(ms(100));
    // One AddPartitionsToTxn for both partitions, before any of their batches.
    let adds: Vec<_> = h
        .cluster
        .txn_log
        .iter()
        .filter_map(|r| match r {
            TxnReq::AddPartitions {
                version,
                pid,
                epoch,
                parts,
            } => Some((*version, *pid, *epoch, parts.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        adds,
        vec![(3, 2000, 0, vec![("t".into(), 0), ("t".into(), 1)])]
    );
    assert_eq!(h.reports.len(), 2);
    assert!(h.reports.iter().all(|r| r.error().is_none()));
    for l in &h.cluster.produce_log {
        assert_eq!(l.version, 11, "TV1 transactional produce stays at v11");
        assert_eq!(l.transactional_id.as_deref(), Some("tx"));
        for p in &l.parts {
            assert!(p.transactional);
            assert_eq!((p.producer_id, p.producer_epoch), (2000, 0));
        }
    }
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(
        h.cluster.txn_log.last(),
        Some(&TxnReq::EndTxn {
            version: 4,
            pid: 2000,
            epoch: 0,
            commit: true
        })
    );
    assert_eq!(
        h.cluster.txn.ended,
        vec![(true, vec![("t".into(), 0), ("t".into(), 1)])]
    );
    // The next transaction adds its partitions again; sequences go on (same epoch).
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"w", 10).unwrap();
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    let last = h.cluster.produce_log.last().unwrap();
    assert_eq!(last.parts[0].base_sequence, 2);
    assert_eq!(
        kinds(&h)[2..],
        ["AddPartitions", "EndTxn", "AddPartitions", "EndTxn"]
    );
}

#[test]
fn tv2_transaction_adds_implicitly_and_every_end_bumps_the_epoch() {
    let mut h = harness(2);
    init(&mut h);
    for round in 0..2i16 {
        h.engine.begin_transaction(h.now).unwrap();
        h.send("t", Some(0), b"a", 1).unwrap();
        h.send("t", Some(1), b"b", 2).unwrap();
        assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
        let stamps: Vec<_> = h
            .cluster
            .produce_log
            .iter()
            .flat_map(|l| {
                l.parts
                    .iter()
                    .map(move |p| (l.version, p.producer_epoch, p.base_sequence))
            })
            .collect();
        assert!(
            stamps.iter().all(|&s| s == (12, round, 0)),
            "round {round}: {stamps:?}"
        );
        h.cluster.produce_log.clear();
        assert_eq!(
            h.cluster.txn_log.last(),
            Some(&TxnReq::EndTxn {
                version: 5,
                pid: 2000,
                epoch: round,
                commit: true
            })
        );
    }
    assert!(!kinds(&h).contains(&"AddPartitions"));
    assert_eq!(h.engine.stats(h.now).eos.unwrap().producer_epoch, 2);
}

#[test]
fn records_are_refused_outside_a_transaction() {
    let mut h = harness(0);
    assert_eq!(
        h.send("t", Some(0), b"x", 1).unwrap_err().code,
        ErrorCode::State
    );
    init(&mut h);
    assert_eq!(
        h.send("t", Some(0), b"x", 1).unwrap_err().code,
        ErrorCode::State
    );
    let eos = h.engine.stats(h.now).eos.unwrap();
    assert_eq!((eos.txn_state, eos.txn_may_enq), ("Ready", false));
    h.engine.begin_transaction(h.now).unwrap();
    assert_eq!(
        h.engine.stats(h.now).eos.unwrap().txn_state,
        "InTransaction"
    );
    h.send("t", Some(0), b"x", 1).unwrap();
    h.engine.commit_transaction(h.now).unwrap();
    assert_eq!(
        h.send("t", Some(0), b"y", 2).unwrap_err().code,
        ErrorCode::State
    );
}

#[test]
fn api_misuse_is_refused_with_librdkafka_codes() {
    let mut plain = Harness::new(config());
    let e = plain.engine.init_transactions(plain.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotConfigured);
    let mut h = harness(0);
    let e = h.engine.begin_transaction(h.now).unwrap_err();
    assert_eq!(
        (e.code, e.reason.as_str()),
        (ErrorCode::State, "Operation not valid in state Init")
    );
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::State);
    init(&mut h);
    // init again after its success was handed out: handed out again.
    h.engine.init_transactions(h.now).unwrap();
    assert_eq!(results(&mut h), vec![(TxnOp::Init, Ok(()))]);
    h.engine.begin_transaction(h.now).unwrap();
    let e = h.engine.begin_transaction(h.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::State);
}

#[test]
fn an_empty_transaction_commits_and_aborts_without_end_txn() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    h.engine.begin_transaction(h.now).unwrap();
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(10));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(kinds(&h), ["FindCoordinator", "InitProducerId"]);
}

#[test]
fn commit_is_resumable_and_its_result_is_handed_out_again() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.cluster.hold_apis.insert(ApiKey::EndTxn as i16);
    h.engine.commit_transaction(h.now).unwrap();
    h.advance(ms(500));
    assert!(results(&mut h).is_empty(), "EndTxn unanswered");
    assert_eq!(
        h.engine.stats(h.now).eos.unwrap().txn_state,
        "CommittingTransaction"
    );
    // The driver timed out; the user calls commit again: it keeps waiting, no new request.
    h.engine.commit_transaction(h.now).unwrap();
    h.advance(ms(10));
    assert_eq!(kinds(&h).iter().filter(|k| **k == "EndTxn").count(), 1);
    // A different op meanwhile conflicts.
    let e = h.engine.abort_transaction(h.now).unwrap_err();
    assert_eq!(
        (e.code, e.retriable, e.fatal, e.abortable),
        (ErrorCode::Conflict, false, false, false)
    );
    h.cluster.hold_apis.clear();
    h.release_held();
    assert_eq!(results(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    // The driver had given up: calling commit again hands the success out again.
    h.engine.commit_transaction(h.now).unwrap();
    assert_eq!(results(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(kinds(&h).iter().filter(|k| **k == "EndTxn").count(), 1);
    h.engine.begin_transaction(h.now).unwrap();
}

#[test]
fn fencing_on_init_is_fatal() {
    let mut h = harness(0);
    h.cluster
        .txn_errors
        .entry(ApiKey::InitProducerId as i16)
        .or_default()
        .push_back(90);
    h.engine.init_transactions(h.now).unwrap();
    h.advance(ms(100));
    let r = results(&mut h);
    assert_eq!(r.len(), 1);
    let e = r[0].1.clone().unwrap_err();
    assert_eq!(
        (r[0].0, e.code, e.fatal),
        (TxnOp::Init, ErrorCode::Fenced, true)
    );
    assert_eq!(
        h.engine.fatal_error().map(|(c, _)| c),
        Some(ErrorCode::Fenced)
    );
    assert!(h.errors.iter().any(|(c, _)| *c == ErrorCode::Fatal));
    let e = h.engine.begin_transaction(h.now).unwrap_err();
    assert!(e.fatal);
    assert_eq!(h.engine.stats(h.now).eos.unwrap().txn_state, "FatalError");
}

#[test]
fn a_second_producer_fences_the_first_on_produce_and_end_txn() {
    // TV1: INVALID_PRODUCER_EPOCH on Produce is fatal (librdkafka).
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.cluster.produce_errors.push_back(47);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.send("t", Some(1), b"b", 2).unwrap();
    h.advance(ms(100));
    assert_eq!(
        h.engine.fatal_error().map(|(c, _)| c),
        Some(ErrorCode::Fenced)
    );
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert_eq!((e.code, e.fatal), (ErrorCode::Fenced, true));
    assert_eq!(
        h.send("t", Some(0), b"c", 3).unwrap_err().code,
        ErrorCode::Fatal
    );
    assert_eq!(h.engine.in_flight_count(), 0, "every record got its report");

    // PRODUCER_FENCED on EndTxn.
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.cluster
        .txn_errors
        .entry(ApiKey::EndTxn as i16)
        .or_default()
        .push_back(90);
    let r = commit(&mut h);
    let e = r[0].1.clone().unwrap_err();
    assert_eq!((e.code, e.fatal), (ErrorCode::Fenced, true));
}

#[test]
fn a_failed_record_makes_the_transaction_abortable_and_abort_bumps_the_epoch() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"ok", 1).unwrap();
    h.advance(ms(100));
    h.cluster.produce_errors.push_back(87); // INVALID_RECORD: permanent
    h.send("t", Some(0), b"bad", 2).unwrap();
    h.advance(ms(100));
    assert_eq!(
        h.reports.last().unwrap().error(),
        Some(ErrorCode::InvalidRecord)
    );
    assert_eq!(
        h.engine.stats(h.now).eos.unwrap().txn_state,
        "AbortableError"
    );
    assert_eq!(
        h.send("t", Some(0), b"x", 3).unwrap_err().code,
        ErrorCode::State
    );
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert!(e.abortable && !e.fatal && !e.retriable);
    assert_eq!(e.code, ErrorCode::InvalidRecord);
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    // EndTxn(abort), then KIP-360 re-initialisation with the current id and epoch.
    assert_eq!(
        h.cluster.txn_log[h.cluster.txn_log.len() - 2..],
        [
            TxnReq::EndTxn {
                version: 4,
                pid: 2000,
                epoch: 0,
                commit: false
            },
            TxnReq::InitProducerId {
                version: 5,
                transactional_id: "tx".into(),
                pid: 2000,
                epoch: 0,
                timeout_ms: 60_000
            }
        ]
    );
    assert_eq!(h.cluster.txn.ended, vec![(false, vec![("t".into(), 0)])]);
    h.cluster.produce_log.clear();
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"again", 4).unwrap();
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    let p = &h.cluster.produce_log[0].parts[0];
    assert_eq!((p.producer_epoch, p.base_sequence), (1, 0));
}

#[test]
fn a_record_that_failed_before_commit_fails_the_commit_abortably() {
    let mut cfg = txn_config();
    cfg.message_timeout = Some(ms(200));
    let mut h = Harness::new(cfg);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    // The topic never gets metadata: its record times out in the pending queue.
    h.cluster.unknown_topics.insert("nope".into());
    h.send("nope", None, b"x", 1).unwrap();
    h.send("t", Some(0), b"y", 2).unwrap();
    h.engine.commit_transaction(h.now).unwrap();
    h.advance(ms(1_000));
    let r = results(&mut h);
    assert_eq!(r.len(), 1);
    let e = r[0].1.clone().unwrap_err();
    assert_eq!(
        (r[0].0, e.code, e.abortable),
        (TxnOp::Commit, ErrorCode::Inconsistent, true)
    );
    assert!(!kinds(&h).contains(&"EndTxn"));
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(h.cluster.txn.ended, vec![(false, vec![("t".into(), 0)])]);
}

#[test]
fn abort_purges_queued_records() {
    let mut cfg = txn_config();
    cfg.linger = ms(10_000);
    let mut h = Harness::new(cfg);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    for i in 0..3 {
        h.send("t", Some(0), b"q", i).unwrap();
    }
    h.advance(ms(50));
    assert_eq!(h.produce_requests(), 0, "still lingering");
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(50));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::PurgeQueue));
    assert_eq!(h.reports[0].len(), 3);
    // The partition was added (AddPartitionsToTxn went out at the first send): EndTxn.
    assert_eq!(kinds(&h)[2..], ["AddPartitions", "EndTxn"]);
    assert_eq!(h.produce_requests(), 0);
}

#[test]
fn send_offsets_tv1_adds_the_group_then_commits_to_the_group_coordinator() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    let offsets = [
        TxnOffset {
            topic: "in",
            partition: 1,
            offset: 42,
            leader_epoch: -1,
            metadata: None,
        },
        TxnOffset {
            topic: "in",
            partition: 0,
            offset: 7,
            leader_epoch: 3,
            metadata: Some("m"),
        },
        TxnOffset {
            topic: "in",
            partition: 2,
            offset: -1001,
            leader_epoch: -1,
            metadata: None,
        },
    ];
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &GroupMetadata::new("g"))
        .unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::SendOffsets, Ok(()))]);
    assert_eq!(
        h.cluster.txn_log[2..],
        [
            TxnReq::AddOffsets {
                version: 4,
                group: "g".into()
            },
            TxnReq::FindCoordinator {
                version: 6,
                key_type: 0,
                key: "g".into()
            },
            TxnReq::TxnOffsetCommit {
                version: 4,
                group: "g".into(),
                generation: -1,
                offsets: vec![("in".into(), 0, 7), ("in".into(), 1, 42)]
            }
        ]
    );
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(kinds(&h).last(), Some(&"EndTxn"));
}

#[test]
fn send_offsets_tv2_skips_add_offsets() {
    let mut h = harness(2);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: 5,
        leader_epoch: -1,
        metadata: None,
    }];
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &GroupMetadata::new("g"))
        .unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::SendOffsets, Ok(()))]);
    assert_eq!(kinds(&h)[2..], ["FindCoordinator", "TxnOffsetCommit"]);
    assert!(matches!(
        h.cluster.txn_log[3],
        TxnReq::TxnOffsetCommit { version: 5, .. }
    ));
    // Only offsets: EndTxn is still needed (the group was added implicitly).
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(kinds(&h).last(), Some(&"EndTxn"));
}

#[test]
fn send_offsets_with_nothing_valid_succeeds_without_requests() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: -1,
        leader_epoch: -1,
        metadata: None,
    }];
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &GroupMetadata::new("g"))
        .unwrap();
    assert_eq!(results(&mut h), vec![(TxnOp::SendOffsets, Ok(()))]);
    assert_eq!(kinds(&h).len(), 2);
}

#[test]
fn coordinator_errors_are_retried() {
    let mut h = harness(0);
    let errs = &mut h.cluster.txn_errors;
    errs.entry(ApiKey::FindCoordinator as i16)
        .or_default()
        .push_back(15);
    errs.entry(ApiKey::InitProducerId as i16)
        .or_default()
        .push_back(16);
    errs.entry(ApiKey::AddPartitionsToTxn as i16)
        .or_default()
        .extend([51, 14]);
    errs.entry(ApiKey::EndTxn as i16)
        .or_default()
        .extend([51, 15]);
    h.engine.init_transactions(h.now).unwrap();
    h.advance(ms(3_000));
    assert_eq!(results(&mut h), vec![(TxnOp::Init, Ok(()))]);
    // COORDINATOR_NOT_AVAILABLE: looked up again; NOT_COORDINATOR: looked up again.
    assert_eq!(
        kinds(&h),
        [
            "FindCoordinator",
            "FindCoordinator",
            "InitProducerId",
            "FindCoordinator",
            "InitProducerId"
        ]
    );
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    let t0 = h.now;
    h.advance(ms(15));
    assert_eq!(
        kinds(&h).iter().filter(|k| **k == "AddPartitions").count(),
        1,
        "CONCURRENT_TRANSACTIONS waits 20 ms"
    );
    h.advance_to(t0 + ms(21));
    assert_eq!(
        kinds(&h).iter().filter(|k| **k == "AddPartitions").count(),
        2
    );
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(
        kinds(&h).iter().filter(|k| **k == "AddPartitions").count(),
        3
    );
    assert_eq!(kinds(&h).iter().filter(|k| **k == "EndTxn").count(), 3);
    assert_eq!(h.cluster.txn.ended.len(), 1);
}

#[test]
fn end_txn_lost_with_the_connection_is_retried() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(100));
    h.cluster.hold_apis.insert(ApiKey::EndTxn as i16);
    h.engine.commit_transaction(h.now).unwrap();
    h.advance(ms(10));
    h.cluster.hold_apis.clear();
    h.cluster.held.clear();
    h.drop_connections();
    h.advance(ms(3_000));
    assert_eq!(results(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    assert_eq!(kinds(&h).iter().filter(|k| **k == "EndTxn").count(), 2);
}

#[test]
fn unknown_producer_id_on_abort_reinitialises_then_completes() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(100));
    h.cluster
        .txn_errors
        .entry(ApiKey::EndTxn as i16)
        .or_default()
        .push_back(59);
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(200));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(
        kinds(&h)[kinds(&h).len() - 2..],
        ["EndTxn", "InitProducerId"]
    );
    assert_eq!(h.engine.stats(h.now).eos.unwrap().producer_epoch, 1);
}

#[test]
fn tv1_produce_waits_for_add_partitions() {
    let mut h = harness(0);
    init(&mut h);
    h.cluster
        .hold_apis
        .insert(ApiKey::AddPartitionsToTxn as i16);
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.engine.flush(h.now);
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 0, "not added yet");
    h.cluster.hold_apis.clear();
    h.release_held();
    h.advance(ms(10));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn stats_name_the_transaction_states() {
    let mut h = harness(0);
    let state = |h: &Harness| h.engine.stats(h.now).eos.unwrap().txn_state;
    assert_eq!(state(&h), "Init");
    h.engine.init_transactions(h.now).unwrap();
    assert_eq!(state(&h), "WaitPID");
    h.advance(ms(100));
    assert_eq!(state(&h), "ReadyNotAcked");
    results(&mut h);
    assert_eq!(state(&h), "Ready");
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    h.engine.commit_transaction(h.now).unwrap();
    assert_eq!(state(&h), "BeginCommit");
    h.advance(ms(100));
    assert_eq!(state(&h), "CommitNotAcked");
    results(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.engine.abort_transaction(h.now).unwrap();
    assert_eq!(state(&h), "AbortedNotAcked");
    let _ = Duration::ZERO;
}

#[test]
fn the_coordinator_may_be_a_broker_we_do_not_otherwise_talk_to() {
    let mut cluster = support::Cluster {
        default_partitions: 1,
        nodes: vec![(1, "b1".into(), 9092), (2, "b2".into(), 9092)],
        coordinator: Some(2),
        ..Default::default()
    };
    cluster.transaction_version = 0;
    let mut h = Harness::with_cluster(txn_config(), cluster);
    init(&mut h);
    assert!(h.connect_log.iter().any(|a| a.host == "b2"));
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"a", 1).unwrap();
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    // Transaction requests went to node 2, produce to node 1 (the leader).
    let conns_to = |node: i32| {
        h.conn_node
            .iter()
            .filter(|(_, n)| **n == node)
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
    };
    assert!(
        h.cluster
            .produce_log
            .iter()
            .all(|l| conns_to(1).contains(&l.conn))
    );
    assert_eq!(h.cluster.txn.ended.len(), 1);
}

#[test]
fn tv2_stale_epoch_on_produce_is_abortable_and_abort_recovers() {
    let mut h = harness(2);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    h.cluster.produce_errors.push_back(47); // INVALID_PRODUCER_EPOCH
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(100));
    assert_eq!(h.engine.fatal_error(), None);
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert!(e.abortable);
    assert_eq!(e.code, ErrorCode::InvalidProducerEpoch);
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    // The refused produce added nothing: EndTxn(abort) finds no transaction
    // (INVALID_TXN_STATE, ignored since nothing was confirmed), the re-init bumps to 1.
    assert_eq!(
        kinds(&h)[kinds(&h).len() - 2..],
        ["EndTxn", "InitProducerId"]
    );
    assert_eq!(h.engine.stats(h.now).eos.unwrap().producer_epoch, 1);
    h.cluster.produce_log.clear();
    h.engine.begin_transaction(h.now).unwrap();
    h.send("t", Some(0), b"b", 2).unwrap();
    assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    let p = &h.cluster.produce_log[0].parts[0];
    assert_eq!((p.producer_epoch, p.base_sequence), (1, 0));
}

#[test]
fn an_idempotent_fatal_error_is_reported_by_fatal_error() {
    let mut cfg = config();
    cfg.enable_idempotence = true;
    cfg.enable_gapless_guarantee = true;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    assert_eq!(h.engine.fatal_error(), None);
    h.cluster.produce_errors.push_back(45);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    let (code, reason) = h.engine.fatal_error().unwrap();
    assert_eq!(code, ErrorCode::OutOfOrderSequenceNumber);
    assert!(!reason.is_empty());
}

#[test]
fn send_offsets_conflicts_with_commit_and_its_errors_are_classified() {
    let mut h = harness(0);
    init(&mut h);
    h.engine.begin_transaction(h.now).unwrap();
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
    }];
    let g = GroupMetadata::new("g");
    h.cluster.hold_apis.insert(ApiKey::TxnOffsetCommit as i16);
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &g)
        .unwrap();
    h.advance(ms(100));
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Resuming the running call is accepted and sends nothing new.
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &g)
        .unwrap();
    h.cluster.hold_apis.clear();
    h.release_held();
    assert_eq!(results(&mut h), vec![(TxnOp::SendOffsets, Ok(()))]);
    assert_eq!(
        kinds(&h)
            .iter()
            .filter(|k| **k == "TxnOffsetCommit")
            .count(),
        1
    );

    // NOT_COORDINATOR from the group coordinator: looked up again, then committed.
    h.cluster
        .txn_errors
        .entry(ApiKey::TxnOffsetCommit as i16)
        .or_default()
        .push_back(16);
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &g)
        .unwrap();
    h.advance(ms(2_000));
    assert_eq!(results(&mut h), vec![(TxnOp::SendOffsets, Ok(()))]);
    let n = kinds(&h).len();
    assert_eq!(
        kinds(&h)[n - 4..],
        [
            "AddOffsets",
            "TxnOffsetCommit",
            "FindCoordinator",
            "TxnOffsetCommit"
        ]
    );

    // UNKNOWN_MEMBER_ID: abortable.
    h.cluster
        .txn_errors
        .entry(ApiKey::TxnOffsetCommit as i16)
        .or_default()
        .push_back(25);
    h.engine
        .send_offsets_to_transaction(h.now, &offsets, &g)
        .unwrap();
    h.advance(ms(100));
    let r = results(&mut h);
    let e = r[0].1.clone().unwrap_err();
    assert_eq!(
        (r[0].0, e.code, e.abortable),
        (TxnOp::SendOffsets, ErrorCode::UnknownMemberId, true)
    );
    assert_eq!(
        h.engine.stats(h.now).eos.unwrap().txn_state,
        "AbortableError"
    );
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(100));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(h.cluster.txn.ended.last().map(|e| e.0), Some(false));
}

#[test]
fn transaction_timeout_is_sent_and_abortable_errors_purge_the_queue() {
    let mut cfg = txn_config();
    cfg.transaction_timeout = ms(10_000);
    cfg.linger = ms(10_000);
    let mut h = Harness::new(cfg);
    init(&mut h);
    assert!(matches!(
        h.cluster.txn_log[1],
        TxnReq::InitProducerId {
            timeout_ms: 10_000,
            ..
        }
    ));
    h.engine.begin_transaction(h.now).unwrap();
    // An abortable AddPartitionsToTxn error fails the transaction and purges its records.
    h.cluster
        .txn_errors
        .entry(ApiKey::AddPartitionsToTxn as i16)
        .or_default()
        .push_back(29); // TOPIC_AUTHORIZATION_FAILED
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(10));
    assert_eq!(
        h.engine.stats(h.now).eos.unwrap().txn_state,
        "AbortableError"
    );
    assert_eq!(
        h.send("t", Some(0), b"b", 2).unwrap_err().code,
        ErrorCode::State
    );
    assert_eq!(h.reports.len(), 1);
    assert_eq!(
        (h.reports[0].error(), h.reports[0].len()),
        (Some(ErrorCode::PurgeQueue), 1)
    );
    let e = h.engine.commit_transaction(h.now).unwrap_err();
    assert_eq!(
        (e.code, e.abortable),
        (ErrorCode::TopicAuthorizationFailed, true)
    );
    h.engine.abort_transaction(h.now).unwrap();
    h.advance(ms(10));
    assert_eq!(results(&mut h), vec![(TxnOp::Abort, Ok(()))]);
    assert_eq!(h.produce_requests(), 0);
}

#[test]
fn abort_after_an_add_partitions_in_doubt_is_not_fatal() {
    for reached in [false, true] {
        let mut h = harness(0);
        init(&mut h);
        h.engine.begin_transaction(h.now).unwrap();
        h.send("t", Some(0), b"a", 1).unwrap();
        assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
        h.engine.begin_transaction(h.now).unwrap();
        h.cluster
            .hold_apis
            .insert(ApiKey::AddPartitionsToTxn as i16);
        h.send("t", Some(1), b"b", 2).unwrap();
        if !reached {
            // The request never reached the coordinator.
            h.cluster.txn.ongoing = false;
            h.cluster.txn.partitions.clear();
        }
        h.cluster.hold_apis.clear();
        h.cluster.held.clear();
        h.drop_connections();
        h.engine.abort_transaction(h.now).unwrap();
        h.advance(ms(2_000));
        assert_eq!(
            results(&mut h),
            vec![(TxnOp::Abort, Ok(()))],
            "reached {reached}"
        );
        assert_eq!(h.engine.fatal_error(), None);
        let ended: Vec<_> = h.cluster.txn.ended.iter().map(|e| e.0).collect();
        assert_eq!(
            ended,
            if reached {
                vec![true, false]
            } else {
                vec![true]
            }
        );
        h.engine.begin_transaction(h.now).unwrap();
        h.send("t", Some(1), b"c", 3).unwrap();
        assert_eq!(commit(&mut h), vec![(TxnOp::Commit, Ok(()))]);
    }
}

mod hostile {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    const APIS: [ApiKey; 6] = [
        ApiKey::FindCoordinator,
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::EndTxn,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        /// Garbage answering any transaction request (right correlation id, random body)
        /// never panics, never turns fatal, and the transaction still commits.
        #[test]
        fn garbage_transaction_responses_are_survived(
            api in 0usize..APIS.len(),
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let api = APIS[api];
            let mut h = harness(0);
            h.cluster.hold_apis.insert(api as i16);
            h.engine.init_transactions(h.now).unwrap();
            h.advance(ms(50));
            if h.cluster.held.is_empty() {
                results(&mut h);
                h.engine.begin_transaction(h.now).unwrap();
                h.send("t", Some(0), b"a", 1).unwrap();
                let offsets = [TxnOffset { topic: "in", partition: 0, offset: 1, leader_epoch: -1, metadata: None }];
                h.engine.send_offsets_to_transaction(h.now, &offsets, &GroupMetadata::new("g")).unwrap();
                h.advance(ms(50));
                results(&mut h);
                if h.cluster.held.is_empty() {
                    h.engine.commit_transaction(h.now).unwrap();
                    h.advance(ms(50));
                }
            }
            prop_assert!(!h.cluster.held.is_empty(), "{api:?} never sent");
            h.cluster.hold_apis.clear();
            let (conn, held) = h.cluster.held.remove(0);
            h.cluster.held.clear();
            let mut frame = held[..4].to_vec(); // the correlation id
            frame.extend_from_slice(&body);
            h.engine.handle_response(h.now, conn, Bytes::from(frame));
            h.pump();
            // Drive every operation to its end.
            let mut done = Vec::new();
            for _ in 0..20 {
                h.advance(ms(1_000));
                done.extend(results(&mut h));
                let state = h.engine.stats(h.now).eos.unwrap().txn_state;
                match state {
                    "Ready" if done.iter().any(|(op, _)| *op == TxnOp::Init) && h.cluster.txn.ended.is_empty() => {
                        h.engine.begin_transaction(h.now).unwrap();
                        h.send("t", Some(0), b"a", 1).unwrap();
                        h.engine.commit_transaction(h.now).unwrap();
                    }
                    "Ready" => break,
                    // Refused with Conflict while send_offsets still runs: try again later.
                    "InTransaction" => {
                        let _ = h.engine.commit_transaction(h.now);
                    }
                    _ => {}
                }
            }
            prop_assert!(h.engine.fatal_error().is_none());
            prop_assert!(done.iter().all(|(_, r)| r.is_ok()), "{done:?}");
            prop_assert_eq!(h.cluster.txn.ended.iter().filter(|e| e.0).count(), 1);
            prop_assert_eq!(h.engine.in_flight_count(), 0);
        }
    }
}
