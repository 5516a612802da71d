//! Engine behaviour against a tiny in-test broker, on virtual time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use purekafka_core::engine::{CustomPartitioner, Purge, Record, RecordHeader, TimestampType};
use purekafka_core::{ErrorCode, Instant, PersistenceStatus};
use support::{Cluster, Harness, config, ms};

#[test]
fn happy_path_bootstrap_metadata_produce_and_reports() {
    let mut h = Harness::new(config());
    // Bootstrap: one connection, ApiVersions then a brokers-only Metadata.
    assert_eq!(h.connects, 1);
    assert_eq!(h.cluster.metadata_requests, 1);
    let headers = [RecordHeader {
        key: "h",
        value: Some(b"hv"),
    }];
    for i in 0..3u64 {
        h.engine
            .send(
                h.now,
                Record {
                    topic: "t",
                    partition: Some(1),
                    key: Some(b"k"),
                    value: Some(format!("v{i}").as_bytes()),
                    headers: &headers,
                    timestamp_ms: 1_000 + i as i64,
                },
                i,
            )
            .unwrap();
    }
    assert_eq!(h.engine.in_flight_count(), 3);
    h.advance(ms(100));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(h.reports.len(), 1);
    let mut r = h.reports.pop().unwrap();
    assert_eq!((r.topic(), r.partition(), r.error()), ("t", 1, None));
    assert_eq!(r.status(), PersistenceStatus::Persisted);
    assert_eq!(r.timestamp_type(), TimestampType::CreateTime);
    let got: Vec<_> = r
        .drain()
        .map(|(v, o)| {
            let hs: Vec<_> = v.headers().iter().collect();
            assert_eq!(hs, vec![("h", Some(&b"hv"[..]))]);
            assert_eq!(v.key(), Some(&b"k"[..]));
            (v.offset(), v.timestamp(), v.value().unwrap().to_vec(), o)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 1_000, b"v0".to_vec(), 0),
            (1, 1_001, b"v1".to_vec(), 1),
            (2, 1_002, b"v2".to_vec(), 2)
        ]
    );
    assert_eq!(h.engine.in_flight_count(), 0);
    assert_eq!(h.cluster.produce_log[0].version, 12);
    assert_eq!(h.cluster.produce_log[0].acks, -1);
    assert_eq!(h.cluster.produce_log[0].timeout_ms, 30_000);
}

#[test]
fn linger_fires_exactly_at_linger_ms() {
    let mut cfg = config();
    cfg.linger = ms(5);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let t0 = h.now;
    h.send("t", Some(0), b"x", 1).unwrap();
    assert_eq!(h.engine.poll_timeout(), Some(t0 + ms(5)));
    h.advance_to(t0 + Duration::from_nanos(4_999_999));
    assert_eq!(h.produce_requests(), 0, "sent before linger.ms");
    h.advance_to(t0 + ms(5));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(h.cluster.produce_log[0].at, t0 + ms(5));
    assert_eq!(h.reports.len(), 1);
}

#[test]
fn batch_size_cuts_batches() {
    let mut cfg = config();
    cfg.linger = ms(1_000);
    cfg.batch_size = 200;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let value = [7u8; 50];
    for i in 0..10 {
        h.send("t", Some(0), &value, i).unwrap();
    }
    // 61-byte header + 2 records of ~58 bytes fit in 200, a third doesn't: the four full
    // batches go at once, the fifth waits for linger.
    assert_eq!(h.produce_requests(), 4);
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 5);
    for log in &h.cluster.produce_log {
        assert_eq!(log.parts.len(), 1);
        assert_eq!(log.parts[0].records, 2);
        assert!(
            log.parts[0].batch_bytes <= 200,
            "{}",
            log.parts[0].batch_bytes
        );
    }
    let offsets: Vec<i64> = h.reports.iter().map(|r| r.base_offset()).collect();
    assert_eq!(offsets, vec![1, 3, 5, 7, 9]);
}

#[test]
fn batch_num_messages_cuts_batches() {
    let mut cfg = config();
    cfg.linger = ms(1_000);
    cfg.batch_num_messages = 3;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    for i in 0..7 {
        h.send("t", Some(2), b"v", i).unwrap();
    }
    assert_eq!(h.produce_requests(), 2);
    h.advance(ms(1_000));
    let counts: Vec<i32> = h
        .cluster
        .produce_log
        .iter()
        .map(|l| l.parts[0].records)
        .collect();
    assert_eq!(counts, vec![3, 3, 1]);
}

#[test]
fn queue_full_counts_until_report_is_polled() {
    let mut cfg = config();
    cfg.linger = ms(100);
    cfg.queue_buffering_max_messages = 2;
    let mut h = Harness::new(cfg);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.send("t", Some(0), b"b", 2).unwrap();
    let err = h.send("t", Some(0), b"c", 3).unwrap_err();
    assert_eq!((err.code, err.opaque), (ErrorCode::QueueFull, 3));
    assert_eq!(h.engine.in_flight_count(), 2);
    h.advance(ms(200));
    assert_eq!(h.engine.in_flight_count(), 0);
    h.send("t", Some(0), b"c", 3).unwrap();
}

#[test]
fn queue_full_by_bytes() {
    let mut cfg = config();
    cfg.queue_buffering_max_kbytes = 1;
    let mut h = Harness::new(cfg);
    h.send("t", None, &[0u8; 600], 1).unwrap();
    let err = h.send("t", None, &[0u8; 600], 2).unwrap_err();
    assert_eq!((err.code, err.opaque), (ErrorCode::QueueFull, 2));
}

#[test]
fn message_size_too_large_uses_librdkafka_rule() {
    let mut cfg = config();
    cfg.message_max_bytes = 1_000;
    let mut h = Harness::new(cfg);
    // 36 bytes of overhead + 964 = 1000: accepted; one more byte is rejected.
    h.send("t", None, &[0u8; 964], 1).unwrap();
    let err = h.send("t", None, &[0u8; 965], 2).unwrap_err();
    assert_eq!((err.code, err.opaque), (ErrorCode::MessageSizeTooLarge, 2));
}

#[test]
fn one_request_carries_several_partitions() {
    let mut cfg = config();
    cfg.linger = ms(10);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.warm_up("u");
    let t0 = h.now;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.send("t", Some(1), b"b", 2).unwrap();
    h.send("u", Some(2), b"c", 3).unwrap();
    h.advance(ms(5));
    // Not lingered yet, but rides along once t/0 is ready.
    h.send("t", Some(2), b"d", 4).unwrap();
    h.advance_to(t0 + ms(10));
    assert_eq!(h.produce_requests(), 1);
    let mut parts: Vec<(String, i32)> = h.cluster.produce_log[0]
        .parts
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![
            ("t".into(), 0),
            ("t".into(), 1),
            ("t".into(), 2),
            ("u".into(), 2)
        ]
    );
    assert_eq!(h.reports.len(), 4);
    assert!(h.reports.iter().all(|r| r.error().is_none()));
}

#[test]
fn retriable_error_is_retried_with_growing_backoff() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    // NOT_ENOUGH_REPLICAS three times, then success.
    h.cluster.produce_errors.extend([19, 19, 19]);
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(5_000));
    let at: Vec<Instant> = h.cluster.produce_log.iter().map(|l| l.at).collect();
    assert_eq!(at.len(), 4);
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // retry.backoff.ms 100 doubling, ±20 % jitter.
    assert!((80..=120).contains(&gaps[0]), "{gaps:?}");
    assert!((160..=240).contains(&gaps[1]), "{gaps:?}");
    assert!((320..=480).contains(&gaps[2]), "{gaps:?}");
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
    assert_eq!(h.reports[0].status(), PersistenceStatus::Persisted);
}

#[test]
fn retries_exhausted_reports_last_error() {
    let mut cfg = config();
    cfg.message_send_max_retries = 2;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.cluster.produce_errors.extend([19; 10]);
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(5_000));
    assert_eq!(h.produce_requests(), 3);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::NotEnoughReplicas));
    assert_eq!(h.reports[0].status(), PersistenceStatus::NotPersisted);
}

#[test]
fn not_leader_refreshes_metadata_and_retries_for_free() {
    let mut cfg = config();
    cfg.message_send_max_retries = 0;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let md = h.cluster.metadata_requests;
    h.cluster.produce_errors.push_back(6);
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(2_000));
    assert!(h.cluster.metadata_requests > md);
    assert_eq!(h.produce_requests(), 2);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn message_timeout_never_sent_is_not_persisted() {
    let mut cfg = config();
    cfg.message_timeout = Some(ms(2_000));
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.refuse_connections = true;
    h.drop_connections();
    h.send("t", Some(1), b"x", 1).unwrap();
    h.advance(ms(1_999));
    assert!(h.reports.is_empty());
    h.advance(ms(1));
    assert_eq!(h.reports.len(), 1);
    let r = &h.reports[0];
    assert_eq!(
        (r.partition(), r.error()),
        (1, Some(ErrorCode::MessageTimedOut))
    );
    assert_eq!(r.status(), PersistenceStatus::NotPersisted);
    assert!(
        h.errors
            .iter()
            .any(|(c, _)| *c == ErrorCode::AllBrokersDown)
    );
}

#[test]
fn message_timeout_after_a_send_is_possibly_persisted() {
    let mut cfg = config();
    cfg.message_timeout = Some(ms(2_000));
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    // REQUEST_TIMED_OUT from the broker: may have been written.
    h.cluster.produce_errors.extend([7; 100]);
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(3_000));
    assert!(h.produce_requests() >= 2);
    assert_eq!(h.reports.len(), 1);
    let r = &h.reports[0];
    assert_eq!(r.error(), Some(ErrorCode::MessageTimedOut));
    assert_eq!(r.status(), PersistenceStatus::PossiblyPersisted);
}

#[test]
fn metadata_less_topic_times_out_in_pending_queue() {
    let mut cfg = config();
    cfg.message_timeout = Some(ms(1_000));
    let mut h = Harness::new(cfg);
    h.refuse_connections = true;
    h.drop_connections();
    h.send("t", None, b"x", 1).unwrap();
    h.send("t", Some(2), b"y", 2).unwrap();
    h.advance(ms(1_000));
    let got: Vec<_> = h
        .reports
        .iter()
        .map(|r| (r.partition(), r.error(), r.status(), r.len()))
        .collect();
    let timed_out = Some(ErrorCode::MessageTimedOut);
    let not = PersistenceStatus::NotPersisted;
    assert_eq!(got, vec![(-1, timed_out, not, 1), (2, timed_out, not, 1)]);
    assert_eq!(h.engine.in_flight_count(), 0);
}

/// Thousands of records sent before the topic's metadata arrives wait in chunks: those past
/// `message.timeout.ms` (a prefix spanning several chunks and part of one) fail, the rest go
/// to their partitions once the metadata comes, each record reported once, with its value.
#[test]
fn many_pending_records_expire_and_replay_across_chunks() {
    let mut cfg = config();
    cfg.message_timeout = Some(ms(1_000));
    let mut h = Harness::new(cfg);
    h.refuse_connections = true;
    h.drop_connections();
    let value = |i: u64| format!("{i:0>100}").into_bytes();
    // 100-byte values: 2000 records are about 230 KB, several 64 KB chunks.
    for i in 0..2_000 {
        h.send("t", None, &value(i), i).unwrap();
    }
    h.advance(ms(600));
    for i in 2_000..4_000 {
        h.send("t", if i % 2 == 0 { Some(1) } else { None }, &value(i), i)
            .unwrap();
    }
    h.advance(ms(450));
    let mut seen = std::collections::BTreeMap::new();
    let check = |h: &mut Harness, seen: &mut std::collections::BTreeMap<u64, _>| {
        for mut r in h.reports.drain(..) {
            let error = r.error();
            for (rec, opaque) in r.drain() {
                assert_eq!(rec.value(), Some(&value(opaque)[..]), "record {opaque}");
                assert!(
                    seen.insert(opaque, error).is_none(),
                    "{opaque} reported twice"
                );
            }
        }
    };
    check(&mut h, &mut seen);
    assert_eq!(seen.len(), 2_000, "the first 2000 expired");
    assert!(
        seen.values()
            .all(|e| *e == Some(ErrorCode::MessageTimedOut))
    );
    assert_eq!(h.engine.stats(h.now).msg_cnt, 2_000);
    h.refuse_connections = false;
    h.advance(ms(500));
    check(&mut h, &mut seen);
    assert_eq!(seen.len(), 4_000);
    assert!(seen.range(2_000..).all(|(_, e)| e.is_none()));
    assert_eq!(h.engine.stats(h.now).msg_cnt, 0);
}

#[test]
fn socket_timeout_closes_connection_and_retries() {
    let mut cfg = config();
    cfg.socket_timeout = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.cluster.hold_produce = true;
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(500));
    assert_eq!(h.produce_requests(), 1);
    h.cluster.hold_produce = false;
    h.advance(ms(2_000));
    assert_eq!(h.closes.len(), 1, "the timed-out connection is closed");
    assert_eq!(h.produce_requests(), 2);
    assert_ne!(h.cluster.produce_log[0].conn, h.cluster.produce_log[1].conn);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn acks_zero_reports_when_written() {
    let mut cfg = config();
    cfg.acks = 0;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.send("t", Some(0), b"x", 9).unwrap();
    h.advance(ms(10));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(h.cluster.produce_log[0].acks, 0);
    let r = &mut h.reports[0];
    assert_eq!((r.error(), r.base_offset()), (None, -1));
    assert_eq!(r.status(), PersistenceStatus::PossiblyPersisted);
    let (v, o) = r.drain().next().unwrap();
    assert_eq!((v.offset(), o), (-1, 9));
}

#[test]
fn purge_queue_and_inflight() {
    let mut cfg = config();
    cfg.linger = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.cluster.hold_produce = true;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 1);
    h.send("t", Some(0), b"b", 2).unwrap();
    h.send("t", Some(1), b"c", 3).unwrap();
    h.engine.purge(
        h.now,
        Purge {
            queue: true,
            inflight: false,
        },
    );
    h.pump();
    let mut codes: Vec<_> = h
        .reports
        .iter()
        .map(|r| (r.partition(), r.error(), r.status()))
        .collect();
    codes.sort_by_key(|c| c.0);
    let not = PersistenceStatus::NotPersisted;
    assert_eq!(
        codes,
        vec![
            (0, Some(ErrorCode::PurgeQueue), not),
            (1, Some(ErrorCode::PurgeQueue), not)
        ]
    );
    h.reports.clear();
    h.engine.purge(
        h.now,
        Purge {
            queue: false,
            inflight: true,
        },
    );
    h.pump();
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::PurgeInflight));
    assert_eq!(h.reports[0].status(), PersistenceStatus::PossiblyPersisted);
    // The late response is ignored.
    h.release_held();
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.engine.in_flight_count(), 0);
}

#[test]
fn unknown_topic_fails_after_propagation_grace() {
    let mut cfg = config();
    cfg.topic_metadata_propagation_max = ms(1_000);
    let mut h = Harness::new(cfg);
    h.cluster.unknown_topics.insert("nope".into());
    h.send("nope", None, b"x", 1).unwrap();
    h.advance(ms(500));
    assert!(h.reports.is_empty(), "still within the propagation grace");
    h.advance(ms(1_000));
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::UnknownTopic));
    assert_eq!(h.reports[0].partition(), -1);
    let err = h.send("nope", None, b"y", 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownTopic);
}

#[test]
fn explicit_partition_out_of_range() {
    let mut h = Harness::new(config());
    // Pending: reported once metadata says there are 3 partitions.
    h.send("t", Some(7), b"x", 1).unwrap();
    h.advance(ms(100));
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::UnknownPartition));
    assert_eq!(h.reports[0].partition(), 7);
    // Known: refused synchronously.
    let err = h.send("t", Some(3), b"y", 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownPartition);
}

#[test]
fn keyless_records_stick_to_one_partition() {
    let mut cfg = config();
    cfg.linger = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    for i in 0..20 {
        h.send("t", None, b"x", i).unwrap();
    }
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(
        h.cluster.produce_log[0].parts.len(),
        1,
        "sticky within sticky.partitioning.linger.ms"
    );
    assert_eq!(h.cluster.produce_log[0].parts[0].records, 20);
}

#[test]
fn flush_ignores_linger_and_close_shuts_down() {
    let mut cfg = config();
    cfg.linger = ms(10_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.send("t", Some(0), b"x", 1).unwrap();
    h.engine.flush(h.now);
    h.pump();
    assert_eq!(h.produce_requests(), 1);
    h.send("t", Some(1), b"y", 2).unwrap();
    h.engine.close(h.now);
    h.pump();
    assert_eq!(h.produce_requests(), 2);
    assert!(h.engine.is_closed());
    assert!(h.open_conns.is_empty(), "every connection closed");
    let err = h.send("t", Some(0), b"z", 3).unwrap_err();
    assert_eq!(err.code, ErrorCode::State);
    assert_eq!(h.reports.len(), 2);
}

#[test]
fn log_append_time_is_reported() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    h.cluster.log_append_time = Some(42_000);
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(ms(100));
    let r = &h.reports[0];
    assert_eq!(r.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(r.records().next().unwrap().timestamp(), 42_000);
}

#[test]
fn stats_events_follow_the_interval() {
    let mut cfg = config();
    cfg.statistics_interval = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let before = h.stats_events;
    h.advance(ms(3_000));
    assert_eq!(h.stats_events - before, 3);
    let s = h.engine.stats(h.now);
    assert!(s.counters.tx >= 4);
    assert_eq!(s.topics[0].partitions[0].counters.txmsgs, 1);
}

#[test]
fn without_statistics_no_window_is_kept() {
    // librdkafka's windows are disabled without `statistics.interval.ms`; ours too, so a
    // producer without statistics pays neither their buckets nor the per-record samples.
    let mut h = Harness::new(config());
    h.warm_up("t");
    for i in 0..5 {
        h.send("t", Some(0), b"abcdef", i).unwrap();
    }
    h.advance(ms(30));
    let delivered: usize = h.reports.iter().map(|r| r.records().count()).sum();
    assert_eq!(delivered, 5);
    let s = h.engine.stats(h.now);
    assert!(h.stats.is_empty());
    assert_eq!(s.topics[0].batchcnt.cnt, 0);
    assert!(s.brokers.iter().all(|b| b.int_latency.cnt == 0
        && b.rtt.cnt == 0
        && b.outbuf_latency.cnt == 0
        && b.throttle.cnt == 0));
    // The counters are kept regardless.
    assert!(
        s.brokers.iter().any(|b| b.counters.tx > 0),
        "{:?}",
        s.brokers
    );
}

#[test]
fn stats_windows_cover_one_interval() {
    let mut cfg = config();
    cfg.statistics_interval = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    // warm_up ends exactly on an emission: the next interval starts empty.
    let emitted = h.stats.len();
    assert!(emitted >= 1);
    let start = h.now;
    h.cluster.hold_produce = true;
    h.cluster.throttle_ms = 7;
    for i in 0..5 {
        h.send("t", Some(0), b"abcdef", i).unwrap();
    }
    for i in 0..3 {
        h.send("t", Some(1), b"xyz", 10 + i).unwrap();
    }
    h.advance(ms(30));
    let sent: usize = h
        .cluster
        .produce_log
        .iter()
        .flat_map(|p| &p.parts)
        .map(|p| p.batch_bytes)
        .sum();
    assert_eq!(h.produce_requests(), 1);
    h.release_held();
    let delivered: usize = h.reports.iter().map(|r| r.records().count()).sum();
    assert_eq!(delivered, 8);

    // `stats` peeks without resetting.
    let peek = h.engine.stats(h.now);
    assert_eq!(peek, h.engine.stats(h.now));
    assert_eq!(peek.topics[0].batchcnt.sum, 8);

    h.advance_to(start + ms(1_000));
    assert_eq!(h.stats.len(), emitted + 1);
    let s = h.stats.last().unwrap();
    let t = &s.topics[0];
    assert_eq!(t.topic, "t");
    assert_eq!((t.batchcnt.cnt, t.batchcnt.sum), (2, 8));
    assert_eq!((t.batchcnt.min, t.batchcnt.max), (3, 5));
    assert_eq!(t.batchsize.cnt, 2);
    assert_eq!(t.batchsize.sum, sent as i64);
    let b = s.brokers.iter().find(|b| b.rtt.cnt > 0).unwrap();
    // The produce response was withheld ~30ms after the request was polled (µs).
    assert!(b.rtt.max >= 25_000, "{:?}", b.rtt);
    assert!(b.rtt.p99_99 <= b.rtt.max);
    // One sample per record, as librdkafka's: all eight waited at least linger.ms (5ms).
    assert_eq!(b.int_latency.cnt, 8);
    assert!(b.int_latency.min >= 5_000, "{:?}", b.int_latency);
    assert!(b.outbuf_latency.cnt >= 1);
    assert_eq!(b.throttle.cnt, 1);
    assert_eq!((b.throttle.min, b.throttle.max), (7, 7));
    assert!(b.rtt.hdrsize > 0);

    // Nothing produced in the next interval: its windows start from zero.
    h.advance_to(start + ms(2_000));
    assert_eq!(h.stats.len(), emitted + 2);
    let s = h.stats.last().unwrap();
    assert_eq!(s.topics[0].batchcnt.cnt, 0);
    assert_eq!(s.topics[0].batchsize.sum, 0);
    for b in &s.brokers {
        assert_eq!(b.int_latency.cnt, 0);
        assert_eq!(b.throttle.cnt, 0);
        assert_eq!(b.rtt.cnt, 0, "{}", b.name);
    }
}

/// With write feedback the windows follow librdkafka's clocks: a request's outbuf latency
/// runs until the socket took its last byte and its rtt from then to the response, so a
/// frame that took long to write does not count as broker time.
#[test]
fn with_write_feedback_rtt_starts_when_the_request_was_written_whole() {
    let mut cfg = config();
    cfg.statistics_interval = ms(1_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.engine.enable_write_feedback();
    h.cluster.hold_produce = true;
    h.send("t", Some(0), b"slow socket", 1).unwrap();
    h.advance(ms(6));
    assert_eq!(h.produce_requests(), 1);
    // The socket takes the frame 20 ms after it was polled, in two parts.
    h.advance(ms(20));
    let conns: Vec<_> = h.open_conns.iter().copied().collect();
    for &c in &conns {
        h.engine.handle_written(h.now, c, 10);
    }
    h.advance(ms(1));
    for &c in &conns {
        h.engine.handle_written(h.now, c, usize::MAX);
    }
    h.advance(ms(10));
    h.release_held();
    assert_eq!(h.reports.iter().map(|r| r.len()).sum::<usize>(), 1);
    let s = h.engine.stats(h.now);
    let b = s.brokers.iter().find(|b| b.rtt.cnt > 0).unwrap();
    assert_eq!(b.rtt.cnt, 1);
    // Written whole at +21 ms, answered at +31 ms (µs; windows are accurate to 12.5 %).
    assert!((9_000..=11_300).contains(&b.rtt.max), "{:?}", b.rtt);
    // Queued at the linger deadline, written whole 21 ms later.
    assert!(
        (20_000..=24_000).contains(&b.outbuf_latency.max),
        "{:?}",
        b.outbuf_latency
    );
}

#[test]
fn api_versions_falls_back_to_the_brokers_version() {
    let cluster = Cluster {
        default_partitions: 1,
        api_versions_max: Some(2),
        ..Cluster::default()
    };
    let mut h = Harness::with_cluster(config(), cluster);
    assert_eq!(h.cluster.api_versions_seen[..2], [4, 2]);
    h.send("t", None, b"x", 1).unwrap();
    h.advance(ms(100));
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

fn two_nodes() -> Cluster {
    Cluster {
        default_partitions: 1,
        nodes: vec![(1, "b1".into(), 9092), (2, "b2".into(), 9093)],
        leader_epoch: 5,
        ..Cluster::default()
    }
}

fn last_produce_node(h: &Harness) -> i32 {
    let conn = h.cluster.produce_log.last().unwrap().conn;
    h.conn_node[&conn]
}

#[test]
fn leader_move_follows_new_metadata_and_ignores_stale_epochs() {
    let mut h = Harness::with_cluster(config(), two_nodes());
    h.warm_up("t");
    h.cluster.leaders.insert(("t".into(), 0), (2, 6));
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    // Node 1 answered NOT_LEADER, Metadata moved the partition to node 2.
    assert_eq!(last_produce_node(&h), 2);
    assert_eq!(h.reports.last().unwrap().error(), None);

    // A lagging broker claims node 1 leads at an older epoch: ignored.
    h.cluster.leaders.insert(("t".into(), 0), (1, 4));
    h.cluster.produce_errors.push_back(6);
    h.reports.clear();
    h.send("t", Some(0), b"b", 2).unwrap();
    h.advance(ms(1_000));
    assert!(h.reports.is_empty(), "waits for a current leader");
    assert_eq!(last_produce_node(&h), 2);
    let n = h.produce_requests();
    h.cluster.leaders.insert(("t".into(), 0), (2, 7));
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), n + 1);
    assert_eq!(last_produce_node(&h), 2);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn broker_address_change_reconnects() {
    let mut h = Harness::with_cluster(config(), two_nodes());
    h.warm_up("t");
    h.cluster.nodes[0] = (1, "b1-new".into(), 9192);
    h.cluster.produce_errors.push_back(6);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert!(
        h.connect_log
            .iter()
            .any(|a| a.host == "b1-new" && a.port == 9192),
        "{:?}",
        h.connect_log
    );
    assert!(!h.closes.is_empty());
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn malformed_response_closes_and_retries() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    h.cluster.corrupt_next = true;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.closes.len(), 1);
    assert!(
        h.errors
            .iter()
            .any(|(c, _)| *c == ErrorCode::BrokerTransportFailure)
    );
    assert_eq!(h.produce_requests(), 2);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

struct Fixed(i32);

impl CustomPartitioner for Fixed {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        _partition_cnt: i32,
        _is_available: &dyn Fn(i32) -> bool,
    ) -> i32 {
        self.0
    }
}

#[test]
fn custom_partitioner_places_keyed_records() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    h.engine.set_custom_partitioner(Box::new(Fixed(2)));
    let rec = |key: &'static [u8]| Record {
        topic: "t",
        partition: None,
        key: Some(key),
        value: Some(b"v"),
        headers: &[],
        timestamp_ms: 0,
    };
    h.engine.send(h.now, rec(b"k"), 1).unwrap();
    h.advance(ms(100));
    assert_eq!(h.reports[0].partition(), 2);
    h.engine.set_custom_partitioner(Box::new(Fixed(-1)));
    let err = h.engine.send(h.now, rec(b"k"), 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownPartition);
}

#[test]
fn throttled_broker_gets_no_requests_until_the_throttle_ends() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    h.cluster.throttle_ms = 500;
    let t0 = h.now;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(10));
    h.cluster.throttle_ms = 0;
    h.send("t", Some(0), b"b", 2).unwrap();
    h.advance(ms(1_000));
    let at: Vec<Instant> = h.cluster.produce_log.iter().map(|l| l.at).collect();
    assert_eq!(at, vec![t0 + ms(5), t0 + ms(505)]);
}

/// Not a timing assertion: prints records/s of the engine alone (no I/O) for eyeballing.
#[test]
#[ignore = "throughput smoke run; use --release --ignored --nocapture"]
fn throughput_smoke() {
    let mut cfg = config();
    cfg.linger = ms(5);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let value = [b'x'; 100];
    let n = 2_000_000u64;
    let start = std::time::Instant::now();
    let mut sent = 0;
    for i in 0..n {
        let r = Record {
            topic: "t",
            partition: None,
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp_ms: 0,
        };
        if h.engine.send(h.now, r, i).is_ok() {
            sent += 1;
        }
        if i % 10_000 == 0 {
            h.advance(ms(1));
            h.reports.clear();
        }
    }
    h.engine.flush(h.now);
    h.advance(ms(1_000));
    let el = start.elapsed();
    println!(
        "{sent} records in {el:?}: {:.0} rec/s, {} requests",
        sent as f64 / el.as_secs_f64(),
        h.produce_requests()
    );
    assert_eq!(h.engine.in_flight_count(), 0);
}

#[test]
fn not_leader_hint_moves_the_partition_despite_lagging_metadata() {
    let mut cluster = two_nodes();
    cluster.kip951 = true;
    let mut h = Harness::with_cluster(config(), cluster);
    h.warm_up("t");
    // Node 2 now leads at epoch 6, but Metadata keeps saying node 1 at epoch 5.
    h.cluster.leaders.insert(("t".into(), 0), (2, 6));
    h.cluster.metadata_leaders.insert(("t".into(), 0), (1, 5));
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 2);
    assert_eq!(last_produce_node(&h), 2);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn in_flight_request_times_out_at_the_message_timeout() {
    let mut cfg = config();
    cfg.message_timeout = Some(ms(2_000));
    cfg.socket_timeout = ms(60_000);
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.cluster.hold_produce = true;
    let t0 = h.now;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_999));
    assert!(h.reports.is_empty());
    h.advance(ms(1));
    assert_eq!(h.now, t0 + ms(2_000));
    assert_eq!(
        h.closes.len(),
        1,
        "the request timed out: its connection is closed"
    );
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::MessageTimedOut));
    assert_eq!(h.reports[0].status(), PersistenceStatus::PossiblyPersisted);
}

#[test]
fn delivery_report_only_error_skips_successes() {
    let mut cfg = config();
    cfg.delivery_report_only_error = true;
    cfg.message_send_max_retries = 0;
    let mut h = Harness::new(cfg);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(100));
    assert!(h.reports.is_empty());
    assert_eq!(h.engine.in_flight_count(), 0);
    h.cluster.produce_errors.push_back(19);
    h.send("t", Some(0), b"b", 2).unwrap();
    h.advance(ms(100));
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::NotEnoughReplicas));
}

#[test]
fn engine_and_reports_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<purekafka_core::Engine<Box<dyn FnOnce() + Send>>>();
    assert_send::<purekafka_core::DeliveryReport<u64>>();
    assert_send::<purekafka_core::Event<u64>>();
}

#[test]
fn idle_producer_rarely_wakes_up() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    let before = h.wakeups;
    let md = h.cluster.metadata_requests;
    h.advance(Duration::from_secs(600));
    // Two periodic metadata refreshes (300 s) plus a few moot timers of the warm-up batch.
    assert!(h.wakeups - before <= 6, "{} wakeups", h.wakeups - before);
    assert_eq!(h.cluster.metadata_requests - md, 2);
}

#[test]
fn close_waits_for_pending_records_until_purged() {
    let mut h = Harness::new(config());
    h.cluster.unknown_topics.insert("later".into());
    h.send("later", None, b"x", 1).unwrap();
    h.engine.close(h.now);
    h.advance(ms(1_000));
    assert!(!h.engine.is_closed(), "a record still waits for its topic");
    h.engine.purge(
        h.now,
        Purge {
            queue: true,
            inflight: true,
        },
    );
    h.pump();
    assert!(h.engine.is_closed());
    assert!(h.open_conns.is_empty());
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::PurgeQueue));
    assert_eq!(h.engine.in_flight_count(), 0);
    assert_eq!(h.engine.poll_timeout(), None, "nothing left to wake up for");
}

fn idempotent() -> purekafka_core::ProducerConfig {
    let mut cfg = config();
    cfg.enable_idempotence = true;
    cfg.max_in_flight = 5;
    cfg.batch_num_messages = 1;
    cfg
}

/// `(partition, producer id, epoch, base sequence)` of every batch the broker saw.
fn stamps(h: &Harness) -> Vec<(i32, i64, i16, i32)> {
    h.cluster
        .produce_log
        .iter()
        .flat_map(|l| &l.parts)
        .map(|p| {
            (
                p.partition,
                p.producer_id,
                p.producer_epoch,
                p.base_sequence,
            )
        })
        .collect()
}

#[test]
fn idempotent_batches_carry_per_partition_sequences() {
    let mut h = Harness::new(idempotent());
    for (i, p) in [0, 0, 1, 0, 1].into_iter().enumerate() {
        h.send("t", Some(p), b"v", i as u64).unwrap();
    }
    h.advance(ms(1_000));
    assert_eq!(h.cluster.init_pid_requests, vec![(-1, -1)]);
    let mut got = stamps(&h);
    got.sort();
    assert_eq!(
        got,
        vec![
            (0, 1000, 0, 0),
            (0, 1000, 0, 1),
            (0, 1000, 0, 2),
            (1, 1000, 0, 0),
            (1, 1000, 0, 1)
        ]
    );
    assert_eq!(h.reports.len(), 5);
    assert!(h.reports.iter().all(|r| r.error().is_none()));
}

#[test]
fn idempotent_retry_resends_the_same_sequence() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    h.cluster.produce_errors.push_back(19);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(stamps(&h), vec![(0, 1000, 0, 1), (0, 1000, 0, 1)]);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn idempotent_duplicate_is_a_success_without_offset() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    h.cluster.produce_errors.push_back(46);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.produce_requests(), 1);
    let r = &h.reports[0];
    assert_eq!((r.error(), r.base_offset()), (None, -1));
    assert_eq!(r.status(), PersistenceStatus::Persisted);
}

#[test]
fn idempotent_out_of_order_at_the_head_bumps_the_epoch() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    h.cluster.produce_errors.push_back(45);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.cluster.init_pid_requests, vec![(-1, -1), (1000, 0)]);
    assert_eq!(stamps(&h), vec![(0, 1000, 0, 1), (0, 1000, 1, 0)]);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

#[test]
fn idempotent_out_of_order_at_the_head_is_fatal_with_gapless_guarantee() {
    let mut cfg = idempotent();
    cfg.enable_gapless_guarantee = true;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.cluster.produce_errors.push_back(45);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(
        h.reports[0].error(),
        Some(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert!(h.errors.iter().any(|(c, _)| *c == ErrorCode::Fatal));
    let err = h.send("t", Some(0), b"b", 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::Fatal);
}

#[test]
fn idempotent_gap_bumps_the_epoch_and_restarts_sequences() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    // INVALID_PRODUCER_EPOCH fails the batch and bumps the epoch (KIP-360 request).
    h.cluster.produce_errors.push_back(47);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.reports[0].error(), Some(ErrorCode::InvalidProducerEpoch));
    h.send("t", Some(0), b"b", 2).unwrap();
    h.send("t", Some(1), b"c", 3).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.cluster.init_pid_requests, vec![(-1, -1), (1000, 0)]);
    let got = stamps(&h);
    assert_eq!(got[0], (0, 1000, 0, 1));
    let mut rest = got[1..].to_vec();
    rest.sort();
    assert_eq!(rest, vec![(0, 1000, 1, 0), (1, 1000, 1, 0)]);
    assert!(h.reports[1..].iter().all(|r| r.error().is_none()));
}

#[test]
fn idempotent_out_of_order_behind_a_failed_batch_is_retried() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    // Two batches of partition 0 in flight: the first fails (retriable), so the broker
    // rejects the second as out of order; both are resent, in order, with their sequences.
    h.cluster.produce_errors.extend([19, 45]);
    h.cluster.hold_produce = true;
    h.send("t", Some(0), b"a", 1).unwrap();
    h.send("t", Some(0), b"b", 2).unwrap();
    h.advance(ms(10));
    assert_eq!(h.produce_requests(), 2, "both batches in flight");
    h.cluster.hold_produce = false;
    h.release_held();
    h.advance(ms(1_000));
    let seqs: Vec<i32> = stamps(&h).iter().map(|s| s.3).collect();
    assert_eq!(seqs, vec![1, 2, 1, 2]);
    assert_eq!(h.reports.len(), 2);
    assert!(h.reports.iter().all(|r| r.error().is_none()));
    assert_eq!(h.reports[0].base_offset() + 1, h.reports[1].base_offset());
    assert!(!h.errors.iter().any(|(c, _)| *c == ErrorCode::Fatal));
}

#[test]
fn idempotent_unknown_producer_id_bumps_and_retries() {
    let mut h = Harness::new(idempotent());
    h.warm_up("t");
    h.cluster.produce_errors.push_back(59);
    h.send("t", Some(0), b"a", 1).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.cluster.init_pid_requests, vec![(-1, -1), (1000, 0)]);
    assert_eq!(stamps(&h), vec![(0, 1000, 0, 1), (0, 1000, 1, 0)]);
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), None);
}

mod hostile {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Garbage answering an in-flight ProduceRequest (right correlation id, random body)
        /// never panics: the connection is closed, the batch retried and finally delivered.
        #[test]
        fn garbage_produce_responses_are_survived(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut h = Harness::new(config());
            h.warm_up("t");
            h.cluster.hold_produce = true;
            h.send("t", Some(0), b"x", 1).unwrap();
            h.advance(ms(10));
            let log = h.cluster.produce_log[0].clone();
            h.cluster.hold_produce = false;
            h.cluster.held.clear();
            let mut frame = log.corr.to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            h.engine.handle_response(h.now, log.conn, Bytes::from(frame));
            h.pump();
            h.advance(ms(5_000));
            prop_assert_eq!(h.reports.len(), 1);
            prop_assert_eq!(h.engine.in_flight_count(), 0);
        }

        /// Random frames on a ready connection (any correlation id) never panic.
        #[test]
        fn random_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut h = Harness::new(config());
            h.warm_up("t");
            let conn = *h.open_conns.iter().next().unwrap();
            h.engine.handle_response(h.now, conn, Bytes::from(frame));
            h.pump();
            h.send("t", Some(1), b"y", 2).unwrap();
            h.advance(ms(5_000));
            prop_assert_eq!(h.reports.len(), 1);
            prop_assert_eq!(h.reports[0].error(), None);
        }
    }
}

/// `queue.buffering.backpressure.threshold` with write feedback: while that many requests of
/// a broker are polled but not reported written, no new ProduceRequest is built; records
/// keep filling batches and go together once the socket took the earlier ones.
#[test]
fn unwritten_requests_hold_back_new_produce_requests() {
    for threshold in [1_u32, 2] {
        let mut cfg = config();
        cfg.linger = ms(5);
        cfg.queue_buffering_backpressure_threshold = threshold;
        let mut h = Harness::new(cfg);
        h.warm_up("t");
        h.engine.enable_write_feedback();
        let written_all = |h: &mut Harness| {
            let conns: Vec<_> = h.open_conns.iter().copied().collect();
            for c in conns {
                h.engine.handle_written(h.now, c, usize::MAX);
            }
            h.pump();
        };
        // `threshold` requests go out, each after its linger, and stay unwritten.
        for i in 0..u64::from(threshold) {
            h.send("t", Some(0), b"early", i).unwrap();
            h.advance(ms(6));
        }
        assert_eq!(h.produce_requests(), threshold as usize);
        // Held back: lingering records wait, far past linger.ms.
        for i in 0..3 {
            h.send("t", Some(0), b"held", 10 + i).unwrap();
            h.advance(ms(20));
        }
        assert_eq!(
            h.produce_requests(),
            threshold as usize,
            "built past the threshold"
        );
        // The socket took them: the held records leave in one request, as one batch.
        written_all(&mut h);
        assert_eq!(h.produce_requests(), threshold as usize + 1);
        let last = h.cluster.produce_log.last().unwrap();
        assert_eq!(last.parts.len(), 1);
        assert_eq!(last.parts[0].records, 3);
        written_all(&mut h);
        h.advance(ms(10));
        let delivered: usize = h.reports.iter().map(|r| r.len()).sum();
        assert_eq!(delivered, threshold as usize + 3);
        assert!(h.reports.iter().all(|r| r.error().is_none()));
    }
}

/// A Kafka broker takes up one request per connection at a time (it mutes the connection
/// until it has answered), so requests queued behind the one it works on count against
/// `queue.buffering.backpressure.threshold` as unwritten ones do, with write feedback or
/// without (then a polled frame counts as written): with the answers held, `threshold` + 1
/// requests go out, later records wait far past linger.ms and leave together, as one batch,
/// once the broker answers.
#[test]
fn requests_queued_at_the_broker_hold_back_new_produce_requests() {
    for (threshold, feedback) in [(1_u32, false), (1, true), (2, false), (3, true)] {
        let mut cfg = config();
        cfg.linger = ms(5);
        cfg.queue_buffering_backpressure_threshold = threshold;
        let mut h = Harness::new(cfg);
        h.warm_up("t");
        if feedback {
            h.engine.enable_write_feedback();
        }
        let written_all = |h: &mut Harness| {
            if feedback {
                let conns: Vec<_> = h.open_conns.iter().copied().collect();
                for c in conns {
                    h.engine.handle_written(h.now, c, usize::MAX);
                }
                h.pump();
            }
        };
        h.cluster.hold_produce = true;
        let first = threshold as usize + 1;
        for i in 0..first {
            h.send("t", Some(0), b"early", i as u64).unwrap();
            h.advance(ms(6));
            written_all(&mut h);
        }
        assert_eq!(h.produce_requests(), first, "threshold {threshold}");
        for i in 0..3 {
            h.send("t", Some(0), b"held", 10 + i).unwrap();
            h.advance(ms(20));
            written_all(&mut h);
        }
        assert_eq!(
            h.produce_requests(),
            first,
            "built past the threshold {threshold}"
        );
        h.cluster.hold_produce = false;
        h.release_held();
        written_all(&mut h);
        h.advance(ms(10));
        assert_eq!(h.produce_requests(), first + 1);
        let last = h.cluster.produce_log.last().unwrap();
        assert_eq!((last.parts.len(), last.parts[0].records), (1, 3));
        let delivered: usize = h.reports.iter().map(|r| r.len()).sum();
        assert_eq!(delivered, first + 3);
        assert!(h.reports.iter().all(|r| r.error().is_none()));
    }
}

/// A broker refusing every reconnect is reported once, not at every attempt (librdkafka
/// suppresses repeated identical errors); once it is back and lost again, it is reported
/// again.
#[test]
fn repeated_connection_failures_are_reported_once() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    h.errors.clear();
    // The most times one broker's transport failure was reported.
    let transport = |h: &Harness| {
        let mut per_broker = std::collections::HashMap::new();
        for (c, reason) in &h.errors {
            if *c == ErrorCode::BrokerTransportFailure {
                *per_broker.entry(reason.clone()).or_insert(0) += 1;
            }
        }
        per_broker.values().copied().max().unwrap_or(0)
    };
    h.refuse_connections = true;
    let connects = h.connects;
    h.drop_connections();
    // Records keep the leader wanted, so the engine keeps reconnecting.
    h.send("t", Some(0), b"x", 1).unwrap();
    h.advance(Duration::from_secs(5));
    assert!(
        h.connects >= connects + 3,
        "reconnects: {}",
        h.connects - connects
    );
    assert_eq!(transport(&h), 1, "{:?}", h.errors);
    h.refuse_connections = false;
    h.advance(Duration::from_secs(2));
    assert!(h.reports.iter().any(|r| r.error().is_none()));
    h.errors.clear();
    h.drop_connections();
    h.advance(Duration::from_millis(1));
    assert_eq!(
        transport(&h),
        1,
        "reported again after a success: {:?}",
        h.errors
    );
}

#[test]
fn compression_offload_sends_a_batch_once_the_caller_compressed_it() {
    // linger 0, lz4, offload: the engine hands each ready batch out for compression and
    // keeps taking records into the next batch meanwhile; a batch goes into a request only
    // after `handle_compressed`, sealed with the sequence of its turn.
    let mut cfg = config();
    cfg.linger = Duration::ZERO;
    cfg.compression = purekafka_core::config::Compression::Lz4;
    cfg.enable_idempotence = true;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.engine.enable_compression_offload();
    h.send("t", Some(0), &[b'a'; 500], 1).unwrap();
    // Ready at once (linger 0), but not sent: its compression is due now.
    assert_eq!(h.produce_requests(), 0);
    assert!(h.engine.poll_timeout().is_some_and(|t| t <= h.now));
    let job = h.engine.poll_compress().expect("a compression job");
    assert!(h.engine.poll_compress().is_none());
    assert_eq!(h.engine.poll_timeout().map(|t| t <= h.now), Some(false));
    // Records sent while the job is out open the next batch.
    h.send("t", Some(0), &[b'b'; 500], 2).unwrap();
    h.send("t", Some(0), &[b'c'; 500], 3).unwrap();
    assert_eq!(h.produce_requests(), 0);
    let done = job.run();
    h.engine.handle_compressed(h.now, done);
    h.pump();
    assert_eq!(h.produce_requests(), 1);
    let first = &h.cluster.produce_log[0].parts[0];
    assert_eq!((first.records, first.base_sequence), (1, 1));
    assert!(first.batch_bytes < 500, "compressed: {}", first.batch_bytes);
    // The second batch (2 records) is next, after its own job.
    let job = h.engine.poll_compress().expect("the second batch's job");
    h.engine.handle_compressed(h.now, job.run());
    h.pump();
    assert_eq!(h.produce_requests(), 2);
    let second = &h.cluster.produce_log[1].parts[0];
    assert_eq!((second.records, second.base_sequence), (2, 2));
    let ok: Vec<u64> = h
        .reports
        .iter_mut()
        .flat_map(|r| {
            assert_eq!(r.error(), None);
            r.drain().map(|(_, o)| o).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ok, vec![1, 2, 3]);
    assert_eq!(h.engine.in_flight_count(), 0);
}

#[test]
fn compression_offload_job_for_a_purged_batch_is_ignored() {
    let mut cfg = config();
    cfg.linger = Duration::ZERO;
    cfg.compression = purekafka_core::config::Compression::Lz4;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    h.engine.enable_compression_offload();
    h.send("t", Some(0), b"x", 7).unwrap();
    let job = h.engine.poll_compress().expect("a compression job");
    h.engine.purge(
        h.now,
        Purge {
            queue: true,
            inflight: false,
        },
    );
    h.pump();
    assert_eq!(h.reports.len(), 1);
    assert_eq!(h.reports[0].error(), Some(ErrorCode::PurgeQueue));
    // The late result finds no batch: nothing is sent, nothing reported twice.
    h.engine.handle_compressed(h.now, job.run());
    h.pump();
    assert_eq!(h.produce_requests(), 0);
    assert_eq!(h.reports.len(), 1);
}

#[test]
fn only_appends_to_an_open_batch_are_quiet() {
    let mut cfg = config();
    cfg.linger = ms(1_000);
    cfg.batch_num_messages = 4;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    // `Harness::send` also checks, for every quiet send of every test, that it left nothing
    // for the driver: no output, no new frame, no earlier deadline.
    let quiet = |h: &mut Harness, partition: i32, value: &[u8]| {
        h.send("t", Some(partition), value, 0).unwrap();
        h.engine.last_send_quiet()
    };
    assert!(
        !quiet(&mut h, 0, b"a"),
        "opened a batch and armed its linger"
    );
    assert!(quiet(&mut h, 0, b"b"));
    assert!(!quiet(&mut h, 1, b"c"), "another partition's first batch");
    assert!(quiet(&mut h, 1, b"d"));
    assert!(quiet(&mut h, 0, b"e"));
    // A refused record is never quiet, even right after a quiet one.
    assert!(h.send("t", Some(-1), b"f", 0).is_err());
    assert!(!h.engine.last_send_quiet());
    // Nor is a record for a topic whose metadata is not known yet (sent without letting the
    // fake cluster answer in between).
    let other = |v: &'static [u8]| Record {
        topic: "other",
        partition: None,
        key: None,
        value: Some(v),
        headers: &[],
        timestamp_ms: 0,
    };
    for v in [b"g", b"h"] {
        h.engine.send(h.now, other(v), 0).unwrap();
        assert!(!h.engine.last_send_quiet());
    }
    h.pump();
    assert_eq!(h.produce_requests(), 0);
    assert!(
        !quiet(&mut h, 0, b"i"),
        "filled the batch (batch.num.messages): ready"
    );
    assert_eq!(h.produce_requests(), 1);
    h.advance(ms(2_000));
    assert_eq!(h.reports.iter().map(|r| r.len()).sum::<usize>(), 8);
}

#[test]
fn linger_zero_appends_to_a_ready_batch_are_quiet() {
    let mut cfg = config();
    cfg.linger = Duration::ZERO;
    let mut h = Harness::new(cfg);
    h.warm_up("t");
    let r = |v: &'static [u8]| Record {
        topic: "t",
        partition: Some(0),
        key: None,
        value: Some(v),
        headers: &[],
        timestamp_ms: 0,
    };
    // Straight into the engine, without pumping: the batch stays queued between sends.
    h.engine.send(h.now, r(b"a"), 1).unwrap();
    assert!(!h.engine.last_send_quiet(), "the batch became ready");
    assert!(h.engine.has_pending_transmit());
    h.engine.send(h.now, r(b"b"), 2).unwrap();
    assert!(
        h.engine.last_send_quiet(),
        "rides in the request already pending"
    );
    h.advance(ms(100));
    assert_eq!(h.produce_requests(), 1);
    assert_eq!(h.cluster.produce_log[0].parts[0].records, 2);
}

#[test]
fn a_topic_name_with_a_nul_byte_is_refused_and_never_requested() {
    let mut h = Harness::new(config());
    h.warm_up("t");
    let metadata_before = h.cluster.metadata_requests;
    for _ in 0..2 {
        let err = h.send("bad\0topic", None, b"v", 7).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.opaque, 7);
    }
    h.advance(ms(1_000));
    assert_eq!(h.cluster.metadata_requests, metadata_before);
    assert!(h.reports.is_empty());
    h.send("t", Some(0), b"v", 8).unwrap();
    h.advance(ms(1_000));
    assert_eq!(h.reports.len(), 1);
}
