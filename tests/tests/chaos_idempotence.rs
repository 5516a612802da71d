//! Idempotence under broker crashes (issue 5): records with unique values are produced with
//! `enable.idempotence=true` and `acks=all` to a 3-node KRaft cluster (replication factor 3,
//! `min.insync.replicas=2`) while another thread kill -9s the leader of a random partition,
//! waits, restarts it and waits for it to rejoin every ISR, again and again. Afterwards the
//! reference Java consumer reads every partition and the test checks:
//! - every record got exactly one delivery report;
//! - every record reported as delivered is in the log exactly once, in the reported partition
//!   and at the reported offset (an offset of -1, a DUPLICATE_SEQUENCE_NUMBER success, only
//!   needs the partition);
//! - no value appears twice anywhere in the topic (no duplicates at all);
//! - per partition, the values in the log are in send order;
//! - failed reports carry a reason (they are counted and printed; with the generous
//!   `message.timeout.ms` used here they are expected to be 0, but the engine may fail queued
//!   batches as PossiblyPersisted after an epoch bump, see DESIGN.md).
//!
//! Knobs: `CHAOS_RECORDS` (default 50,000), `CHAOS_KILLS` (default max(3, records / 50,000)),
//! `CHAOS_PARTITIONS` (default 8), `CHAOS_RATE` (records/s, default records / (kills * 12 s),
//! about one kill/restart cycle per kill), `CHAOS_PAUSES=1` (also SIGSTOP a leader for 7-9 s,
//! past the broker session timeout, after every second kill cycle; off by default),
//! `CHAOS_SEED` (default from the clock; printed), `CHAOS_COMPRESSION` (`compression.type`,
//! default none; a codec also runs the driver's compression offload under the kills).
//! The kills are spread over the stream: the producer sends at most `CHAOS_RATE` records per
//! second, sends record `i` only once `i * kills / records` kills have started, and flushes only
//! once all have, so records are in flight whenever a leader dies.
//!
//! Full-size run (1,000,000 records, 20 kill/restart cycles throughout):
//! ```text
//! CHAOS_RECORDS=1000000 cargo test --release -p purekafka-tests --test chaos_idempotence -- --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chaos_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chaos_common::{Rng, env_usize};
use purekafka::ClientContext;
use purekafka::config::ClientConfig;
use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::message::{DeliveryResult, Message};
use purekafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use purekafka_testkit::cluster::Cluster;
use purekafka_testkit::java::{Isolation, ReadOptions, ReadUntil, read_topic};

/// One delivery report: record id (the opaque), partition, offset, error text.
#[derive(Debug, Clone)]
struct Report {
    id: usize,
    partition: i32,
    offset: i64,
    error: Option<String>,
}

#[derive(Default)]
struct Ctx {
    reports: Mutex<Vec<Report>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors
            .lock()
            .unwrap()
            .push(format!("{error}: {reason}"));
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let (error, m) = match result {
            Ok(m) => (None, m),
            Err((e, m)) => (Some(e.to_string()), m),
        };
        // The payload must be the record's own value: a report attached to the wrong record
        // would make every later check meaningless.
        assert_eq!(
            m.payload(),
            Some(value_of(id).as_bytes()),
            "report for {id}"
        );
        self.reports.lock().unwrap().push(Report {
            id,
            partition: m.partition(),
            offset: m.offset(),
            error,
        });
    }
}

fn value_of(id: usize) -> String {
    format!("v{id:09}")
}

fn id_of(value: &[u8]) -> usize {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.strip_prefix('v'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("foreign value in the topic: {value:?}"))
}

/// What the chaos thread did.
#[derive(Debug, Default)]
struct ChaosLog {
    kills: Vec<(i32, i32, Duration)>,
    pauses: Vec<(i32, i32, Duration)>,
}

/// Kills the leader of a random partition, waits, restarts it, waits for full ISRs; repeats
/// until `stop` (finishing the current cycle, so every node runs at the end). With `pauses`,
/// every second cycle also freezes (SIGSTOP) the leader of a random partition for longer than
/// the broker session timeout (a zombie leader that gets fenced), then resumes it.
fn chaos(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    seed: u64,
    pauses: bool,
    started: &AtomicUsize,
    stop: &AtomicBool,
) -> ChaosLog {
    let mut rng = Rng(seed | 1);
    let mut log = ChaosLog::default();
    let t0 = Instant::now();
    while !stop.load(Ordering::Acquire) {
        // Let traffic flow against the healed cluster first.
        std::thread::sleep(Duration::from_millis(500 + rng.below(1500)));
        if stop.load(Ordering::Acquire) {
            break;
        }
        let partition = i32::try_from(rng.below(u64::try_from(partitions).unwrap())).unwrap();
        let Some(leader) = cluster.leader_of(topic, partition) else {
            continue;
        };
        cluster.kill(leader).unwrap();
        log.kills.push((partition, leader, t0.elapsed()));
        started.fetch_add(1, Ordering::Release);
        eprintln!(
            "[chaos {:>6.1}s] kill -9 node {leader} (leader of partition {partition})",
            t0.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(1000 + rng.below(2000)));
        cluster
            .start_node(leader)
            .unwrap_or_else(|e| panic!("restarting node {leader}: {e}"));
        // A second kill before the restarted node is back in sync could leave a partition with
        // a single in-sync replica (below min.insync.replicas) or none at all.
        cluster
            .wait_fully_replicated(topic, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("after restarting node {leader}: {e}"));
        eprintln!(
            "[chaos {:>6.1}s] node {leader} restarted and in sync",
            t0.elapsed().as_secs_f64()
        );
        if pauses && log.kills.len() % 2 == 0 && !stop.load(Ordering::Acquire) {
            let partition = i32::try_from(rng.below(u64::try_from(partitions).unwrap())).unwrap();
            if let Some(leader) = cluster.leader_of(topic, partition) {
                cluster.pause(leader).unwrap();
                log.pauses.push((partition, leader, t0.elapsed()));
                eprintln!(
                    "[chaos {:>6.1}s] SIGSTOP node {leader} (leader of partition {partition})",
                    t0.elapsed().as_secs_f64()
                );
                // broker.session.timeout.ms is 6 s in the testkit cluster.
                std::thread::sleep(Duration::from_millis(7000 + rng.below(2000)));
                cluster.resume(leader).unwrap();
                cluster
                    .wait_fully_replicated(topic, Duration::from_secs(120))
                    .unwrap_or_else(|e| panic!("after resuming node {leader}: {e}"));
                eprintln!(
                    "[chaos {:>6.1}s] node {leader} resumed and in sync",
                    t0.elapsed().as_secs_f64()
                );
            }
        }
    }
    log
}

#[test]
fn idempotent_producer_survives_leader_crashes() {
    let records = env_usize("CHAOS_RECORDS", 50_000);
    let kills_wanted = env_usize("CHAOS_KILLS", (records / 50_000).max(3));
    let partitions = i32::try_from(env_usize("CHAOS_PARTITIONS", 8)).unwrap();
    let pauses = env_usize("CHAOS_PAUSES", 0) != 0;
    // One kill/restart cycle takes ~10-15 s here: pace the producer so it sends throughout.
    let rate = env_usize("CHAOS_RATE", records / (kills_wanted * 12)).max(1) as f64;
    assert!(partitions >= 6, "the test wants at least 6 partitions");
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!(
        "chaos_idempotence: CHAOS_RECORDS={records} CHAOS_KILLS={kills_wanted} \
         CHAOS_PARTITIONS={partitions} CHAOS_RATE={rate} CHAOS_PAUSES={} CHAOS_SEED={seed}",
        u8::from(pauses)
    );

    let t_start = Instant::now();
    let mut cluster = Cluster::start(3).unwrap();
    let topic = "chaos-idem";
    cluster
        .create_topic(topic, partitions, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let bootstrap = cluster.bootstrap();
    eprintln!("cluster ready in {:?}", t_start.elapsed());

    let producer: BaseProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "600000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set(
            "compression.type",
            std::env::var("CHAOS_COMPRESSION").unwrap_or_else(|_| "none".to_owned()),
        )
        .create_with_context(Ctx::default())
        .unwrap();

    let started = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let chaos_thread = {
        let (started, stop) = (Arc::clone(&started), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("chaos".into())
            .spawn(move || {
                let log = chaos(
                    &mut cluster,
                    topic,
                    partitions,
                    seed,
                    pauses,
                    &started,
                    &stop,
                );
                (cluster, log)
            })
            .unwrap()
    };

    let t_produce = Instant::now();
    let mut queue_full_waits = 0_u64;
    for id in 0..records {
        // Spread the kills over the stream, and the stream over the kills (module docs).
        if id % 100 == 0 {
            let due = t_produce + Duration::from_secs_f64(id as f64 / rate);
            while let Some(left) = due.checked_duration_since(Instant::now()) {
                producer.poll(left.min(Duration::from_millis(20)));
            }
        }
        let gate = id * kills_wanted / records;
        while started.load(Ordering::Acquire) < gate {
            assert!(!chaos_thread.is_finished(), "the chaos thread died");
            producer.poll(Duration::from_millis(50));
        }
        let value = value_of(id);
        let key = format!("k{}", id % 1009);
        let mut record = BaseRecord::with_opaque_to(topic, id)
            .key(&key)
            .payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    queue_full_waits += 1;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("send {id}: {e}"),
            }
        }
        if id % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    // The last kill lands on the tail of the stream.
    while started.load(Ordering::Acquire) < kills_wanted {
        assert!(!chaos_thread.is_finished(), "the chaos thread died");
        producer.poll(Duration::from_millis(50));
    }
    let flushed = producer.flush(Duration::from_secs(900));
    let produce_time = t_produce.elapsed();
    stop.store(true, Ordering::Release);
    let (cluster, chaos_log) = chaos_thread.join().expect("chaos thread");
    flushed.unwrap();
    let reports = producer.context().reports.lock().unwrap().clone();
    let client_errors = producer.context().errors.lock().unwrap().clone();
    drop(producer);
    eprintln!(
        "produced {records} records in {produce_time:?} with {} kills ({queue_full_waits} \
         queue-full waits, {} client errors)",
        chaos_log.kills.len(),
        client_errors.len()
    );

    let t_read = Instant::now();
    let consumed = read_topic(
        &cluster.bootstrap(),
        topic,
        &ReadOptions {
            isolation: Isolation::ReadUncommitted,
            until: ReadUntil::End,
            timeout: Duration::from_secs(120 + u64::try_from(records / 5_000).unwrap()),
        },
    )
    .unwrap();
    eprintln!(
        "read {} records back in {:?}",
        consumed.len(),
        t_read.elapsed()
    );
    drop(cluster);

    // Exactly one report per record.
    let mut report_of: Vec<Option<&Report>> = vec![None; records];
    let mut double_reports = Vec::new();
    for r in &reports {
        assert!(r.id < records, "report for unknown record {}", r.id);
        if report_of[r.id].replace(r).is_some() {
            double_reports.push(r.id);
        }
    }
    let unreported: Vec<usize> = (0..records).filter(|&i| report_of[i].is_none()).collect();

    // Where each value is in the log.
    let mut found: Vec<Vec<(i32, i64)>> = vec![Vec::new(); records];
    let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for c in &consumed {
        let id = id_of(c.value.as_deref().expect("null value in the topic"));
        assert!(id < records, "value {id} was never sent");
        found[id].push((c.partition, c.offset));
        by_partition.entry(c.partition).or_default().push(id);
    }
    let duplicates: Vec<(usize, &Vec<(i32, i64)>)> = found
        .iter()
        .enumerate()
        .filter(|(_, f)| f.len() > 1)
        .collect();

    let mut lost = Vec::new();
    let mut misplaced = Vec::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_but_written = 0_usize;
    let mut unknown_offset = 0_usize;
    for (id, r) in report_of.iter().enumerate() {
        let Some(r) = r else { continue };
        match &r.error {
            None => {
                if found[id].is_empty() {
                    lost.push(id);
                } else if r.offset < 0 {
                    unknown_offset += 1;
                    if found[id][0].0 != r.partition {
                        misplaced.push((id, r.partition, r.offset, found[id][0]));
                    }
                } else if found[id][0] != (r.partition, r.offset) {
                    misplaced.push((id, r.partition, r.offset, found[id][0]));
                }
            }
            Some(reason) => {
                assert!(!reason.trim().is_empty(), "failure without a reason: {r:?}");
                *failures.entry(reason.clone()).or_default() += 1;
                if !found[id].is_empty() {
                    failed_but_written += 1;
                }
            }
        }
    }
    // Per partition, ids (= send order, one sending thread) must rise along the log.
    let mut out_of_order = Vec::new();
    for (p, ids) in &by_partition {
        if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
            out_of_order.push((*p, w[0], w[1]));
        }
    }
    let failed: usize = failures.values().sum();
    eprintln!(
        "RESULT records={records} kills={} duration={:?} reports={} double_reports={} \
         unreported={} in_log={} duplicates={} lost={} misplaced={} out_of_order_partitions={} \
         failures={failed} (of which in the log: {failed_but_written}) \
         successes_without_offset={unknown_offset} seed={seed}",
        chaos_log.kills.len(),
        t_start.elapsed(),
        reports.len(),
        double_reports.len(),
        unreported.len(),
        consumed.len(),
        duplicates.len(),
        lost.len(),
        misplaced.len(),
        out_of_order.len(),
    );
    for (reason, n) in &failures {
        eprintln!("  failure x{n}: {reason}");
    }
    eprintln!("kills (partition, node, at): {:?}", chaos_log.kills);
    eprintln!("pauses (partition, node, at): {:?}", chaos_log.pauses);
    for e in client_errors.iter().take(5) {
        eprintln!("  client error: {e}");
    }

    assert!(
        chaos_log.kills.len() >= kills_wanted,
        "only {} kills",
        chaos_log.kills.len()
    );
    assert!(
        double_reports.is_empty(),
        "records reported twice: {:?}",
        &double_reports[..double_reports.len().min(10)]
    );
    assert!(
        unreported.is_empty(),
        "{} records without a report, e.g. {:?}",
        unreported.len(),
        &unreported[..unreported.len().min(10)]
    );
    assert!(
        lost.is_empty(),
        "{} records reported delivered are missing, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        misplaced.is_empty(),
        "{} records not at their reported partition/offset, e.g. {:?}",
        misplaced.len(),
        &misplaced[..misplaced.len().min(10)]
    );
    assert!(
        duplicates.is_empty(),
        "{} values written more than once, e.g. {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(10)]
    );
    assert!(
        out_of_order.is_empty(),
        "partitions whose log is not in send order (partition, id, next id): {out_of_order:?}"
    );
    assert!(
        by_partition.len() >= 6,
        "records landed in only {} partitions",
        by_partition.len()
    );
}
