//! Transactions under broker crashes (issue 5): one transactional producer runs many small
//! transactions on a 3-node KRaft cluster (replication factor 3, `min.insync.replicas=2`,
//! transaction state and offsets topics replicated 3 times with min ISR 2) while another thread
//! kill -9s, in turn, the transaction coordinator of the producer's `transactional.id`, the
//! leader of a random partition and the coordinator of the consumer group whose offsets the
//! transactions commit, waits, restarts the node and waits for every ISR to be full again.
//!
//! Transactions mix commits and intended aborts; about a third also call
//! `send_offsets_to_transaction`. The application follows rdkafka's recommended handling:
//! a retriable error retries the same call (resuming it), an abortable error aborts the
//! transaction and runs it again, a fatal error (or an error with no flag) drops the producer,
//! creates a new one with the same `transactional.id` (fencing the old epoch) and runs the
//! transaction again. Every attempt is logged with its outcome: *committed* (commit returned
//! Ok), *aborted* (abort returned Ok, or commit was never called: nothing but EndTxn(commit)
//! can commit) or *unknown* (commit failed fatally: it may have committed on the broker).
//!
//! Afterwards the reference Java consumer reads the topic with `read_committed` and the test
//! checks:
//! - every committed attempt is present whole, each record exactly once;
//! - nothing of an aborted attempt is present;
//! - an unknown attempt is all or nothing (no torn transaction);
//! - no record appears twice;
//! - per partition, records are in the producer's order (transaction, attempt, record);
//! - the group's committed offsets are those of the last visible transaction with offsets
//!   for each partition (offsets commit atomically with their transaction);
//! - `TransactionsCommand find-hanging` (every broker, no minimum age) finds nothing;
//! - every error a transactional call returned was a `KafkaError::Transaction` (rdkafka's
//!   contract: its flags are what the application acts on).
//!
//! Knobs: `CHAOS_TXNS` (default 30), `CHAOS_KILLS` (default 2), `CHAOS_PARTITIONS` (default 6),
//! `CHAOS_TXN_RATE` (transactions/s, default txns / (kills * 10 s)), `CHAOS_TXN_VERSION`
//! (finalized `transaction.version` to format the cluster with: 2, the default, or 0 for the
//! pre-KIP-890 protocol), `CHAOS_SEED` (default from the clock; printed).
//!
//! Full-size run (2,000 transactions, 20 kill/restart cycles throughout):
//! ```text
//! CHAOS_TXNS=2000 CHAOS_KILLS=20 cargo test --release -p purekafka-tests --test chaos_transactions -- --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chaos_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chaos_common::{Rng, env_usize};
use purekafka::ClientContext;
use purekafka::config::ClientConfig;
use purekafka::consumer::ConsumerGroupMetadata;
use purekafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use purekafka::message::DeliveryResult;
use purekafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use purekafka::{Offset, TopicPartitionList};
use purekafka_testkit::broker::{
    CoordinatorKind, committed_offsets, describe_transaction, find_coordinator, transaction_version,
};
use purekafka_testkit::cluster::{Cluster, ClusterOptions};
use purekafka_testkit::java::{
    Isolation, ReadOptions, ReadUntil, find_hanging_on_brokers, read_topic,
};

const TOPIC: &str = "chaos-txn";
const SRC_TOPIC: &str = "chaos-txn-src";
const SRC_PARTITIONS: i32 = 3;
const GROUP: &str = "chaos-txn-group";
const TXN_ID: &str = "chaos-txn-id";

/// How long one logical transaction may take, retries and producer re-creations included.
const TXN_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Ctx {
    failed_reports: Mutex<Vec<String>>,
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
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        if let Err((e, _)) = result {
            self.failed_reports.lock().unwrap().push(e.to_string());
        }
    }
}

/// What one logical transaction does.
#[derive(Debug, Clone)]
struct Plan {
    /// Partition of each record.
    partitions: Vec<i32>,
    /// Abort instead of committing.
    abort: bool,
    /// Offset to commit for the group: (source partition, offset).
    offsets: Option<(i32, i64)>,
}

fn value_of(txn: usize, attempt: usize, record: usize) -> String {
    format!("t{txn:06}a{attempt:03}r{record:03}")
}

/// (transaction, attempt, record) of a value written by this test.
fn parse_value(v: &[u8]) -> (usize, usize, usize) {
    let s = std::str::from_utf8(v).unwrap_or_else(|_| panic!("foreign value {v:?}"));
    let num = |a: usize, b: usize| -> usize {
        s.get(a..b)
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("foreign value {s:?}"))
    };
    assert!(
        s.len() == 15
            && s.starts_with('t')
            && s.get(7..8) == Some("a")
            && s.get(11..12) == Some("r"),
        "foreign value {s:?}"
    );
    (num(1, 7), num(8, 11), num(12, 15))
}

#[test]
fn record_values_round_trip() {
    assert_eq!(parse_value(value_of(12, 3, 7).as_bytes()), (12, 3, 7));
    assert_eq!(
        parse_value(value_of(999_999, 999, 999).as_bytes()),
        (999_999, 999, 999)
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Committed,
    Aborted,
    /// commit_transaction failed fatally: the broker may or may not have committed.
    Unknown,
}

#[derive(Debug, Clone)]
struct Attempt {
    txn: usize,
    attempt: usize,
    partitions: Vec<i32>,
    offsets: Option<(i32, i64)>,
    outcome: Outcome,
    /// Why it did not commit (the error), for the log.
    note: String,
}

/// What to do after an error, per rdkafka's `RDKafkaError` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Retriable,
    Abortable,
    /// Fatal, or no flag at all (rdkafka: treat as fatal).
    Fatal,
}

fn classify(e: &KafkaError) -> Class {
    match e {
        KafkaError::Transaction(r) if r.is_retriable() => Class::Retriable,
        KafkaError::Transaction(r) if r.txn_requires_abort() => Class::Abortable,
        _ => Class::Fatal,
    }
}

/// Counters of what the application saw.
#[derive(Debug, Default)]
struct Stats {
    retried_calls: usize,
    abortable_errors: usize,
    fatal_errors: usize,
    unflagged_errors: usize,
    /// Errors of transactional API calls that were not `KafkaError::Transaction` (rdkafka's
    /// transaction methods only return that variant).
    not_transaction_errors: Vec<String>,
    producers_created: usize,
    errors_by_code: BTreeMap<String, usize>,
}

impl Stats {
    fn note(&mut self, op: &str, e: &KafkaError) {
        let key = match e {
            KafkaError::Transaction(r) => {
                if !(r.is_retriable() || r.txn_requires_abort() || r.is_fatal()) {
                    self.unflagged_errors += 1;
                }
                format!("{op}: {:?}", r.code())
            }
            other => {
                self.not_transaction_errors.push(format!("{op}: {other:?}"));
                format!("{op}: {other}")
            }
        };
        *self.errors_by_code.entry(key).or_default() += 1;
        match classify(e) {
            Class::Retriable => self.retried_calls += 1,
            Class::Abortable => self.abortable_errors += 1,
            Class::Fatal => self.fatal_errors += 1,
        }
    }
}

struct App {
    bootstrap: String,
    producer: Option<BaseProducer<Ctx>>,
    stats: Stats,
    failed_reports: Vec<String>,
    client_errors: Vec<String>,
}

/// Why an attempt stopped early.
enum Stop {
    /// Abort the transaction (an abortable error, or a send refused in the abortable state).
    Abort(String),
    /// Recreate the producer.
    Fatal(String),
}

impl App {
    fn producer(&mut self, deadline: Instant) -> &BaseProducer<Ctx> {
        if self.producer.is_none() {
            loop {
                assert!(
                    Instant::now() < deadline,
                    "could not create a producer in time"
                );
                let p: BaseProducer<Ctx> = ClientConfig::new()
                    .set("bootstrap.servers", &self.bootstrap)
                    .set("transactional.id", TXN_ID)
                    .set("linger.ms", "5")
                    .set("reconnect.backoff.ms", "50")
                    .set("reconnect.backoff.max.ms", "1000")
                    .create_with_context(Ctx::default())
                    .unwrap();
                self.stats.producers_created += 1;
                // init_transactions: retriable -> call again (resumes); anything else: start
                // over with a new instance.
                let ok = loop {
                    assert!(
                        Instant::now() < deadline,
                        "init_transactions never succeeded"
                    );
                    match p.init_transactions(Duration::from_secs(30)) {
                        Ok(()) => break true,
                        Err(e) => {
                            self.stats.note("init", &e);
                            if classify(&e) != Class::Retriable {
                                eprintln!("init_transactions failed: {e}; new producer");
                                break false;
                            }
                        }
                    }
                };
                if ok {
                    self.producer = Some(p);
                    break;
                }
                self.retire(p);
            }
        }
        self.producer.as_ref().unwrap()
    }

    /// Drops the producer after a fatal error, keeping what its context saw.
    fn retire(&mut self, p: BaseProducer<Ctx>) {
        if let Some((code, reason)) = p.client().fatal_error() {
            eprintln!("retiring producer: fatal error {code:?}: {reason}");
        }
        // No flush: a fatal producer cannot deliver anything more.
        self.failed_reports
            .extend(p.context().failed_reports.lock().unwrap().drain(..));
        self.client_errors
            .extend(p.context().errors.lock().unwrap().drain(..));
        drop(p);
    }

    fn drop_producer(&mut self) {
        if let Some(p) = self.producer.take() {
            self.retire(p);
        }
    }

    /// Calls `op` until it returns something other than a retriable error.
    fn call(
        &mut self,
        name: &str,
        deadline: Instant,
        mut op: impl FnMut(&BaseProducer<Ctx>) -> KafkaResult<()>,
    ) -> Result<(), Stop> {
        loop {
            assert!(
                Instant::now() < deadline,
                "{name} kept failing with retriable errors: {:?}",
                self.stats
            );
            let p = self.producer.as_ref().expect("producer");
            match op(p) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.stats.note(name, &e);
                    match classify(&e) {
                        Class::Retriable => std::thread::sleep(Duration::from_millis(50)),
                        Class::Abortable => return Err(Stop::Abort(format!("{name}: {e}"))),
                        Class::Fatal => return Err(Stop::Fatal(format!("{name}: {e}"))),
                    }
                }
            }
        }
    }

    /// One attempt of transaction `txn`; returns its outcome.
    fn attempt(&mut self, txn: usize, attempt: usize, plan: &Plan, deadline: Instant) -> Attempt {
        self.producer(deadline);
        let mut log = Attempt {
            txn,
            attempt,
            partitions: plan.partitions.clone(),
            offsets: plan.offsets,
            outcome: Outcome::Aborted,
            note: String::new(),
        };
        let mut commit_called = false;
        let stop = self.run(txn, attempt, plan, deadline, &mut commit_called);
        match stop {
            Ok(()) if plan.abort => log.note = "intended abort".into(),
            Ok(()) => log.outcome = Outcome::Committed,
            Err(Stop::Abort(why)) => {
                // Abortable: abort, then the caller runs the transaction again.
                log.note = why;
                if let Err(stop) = self.call("abort", deadline, |p| {
                    p.abort_transaction(Duration::from_secs(10))
                }) {
                    let why = match stop {
                        Stop::Abort(w) | Stop::Fatal(w) => w,
                    };
                    log.note.push_str(&format!("; then {why}"));
                    self.drop_producer();
                }
            }
            Err(Stop::Fatal(why)) => {
                log.note = why;
                self.drop_producer();
                if commit_called {
                    log.outcome = Outcome::Unknown;
                }
            }
        }
        log
    }

    /// begin, send, offsets, then commit or (intended) abort. `Ok` means the intended end
    /// call returned Ok.
    fn run(
        &mut self,
        txn: usize,
        attempt: usize,
        plan: &Plan,
        deadline: Instant,
        commit_called: &mut bool,
    ) -> Result<(), Stop> {
        self.call("begin", deadline, |p| p.begin_transaction())?;
        for (i, &partition) in plan.partitions.iter().enumerate() {
            let value = value_of(txn, attempt, i);
            loop {
                let p = self.producer.as_ref().expect("producer");
                let rec = BaseRecord::<str, str, ()>::with_opaque_to(TOPIC, ())
                    .partition(partition)
                    .key("k")
                    .payload(&value);
                match p.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        p.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => {
                        // A refused send: the transaction is in an error state.
                        let why = format!("send: {e}");
                        return Err(if p.client().fatal_error().is_some() {
                            Stop::Fatal(why)
                        } else {
                            Stop::Abort(why)
                        });
                    }
                }
            }
            self.producer
                .as_ref()
                .expect("producer")
                .poll(Duration::ZERO);
        }
        if let Some((q, offset)) = plan.offsets {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(SRC_TOPIC, q, Offset::Offset(offset))
                .unwrap();
            let cgm = ConsumerGroupMetadata::new(GROUP);
            self.call("send_offsets", deadline, |p| {
                p.send_offsets_to_transaction(&tpl, &cgm, Duration::from_secs(10))
            })?;
        }
        if plan.abort {
            self.call("abort", deadline, |p| {
                p.abort_transaction(Duration::from_secs(10))
            })
        } else {
            *commit_called = true;
            self.call("commit", deadline, |p| {
                p.commit_transaction(Duration::from_secs(10))
            })
        }
    }
}

/// What the chaos thread did: (what, node, at).
type ChaosLog = Vec<(String, i32, Duration)>;

/// Kills, in turn, the transaction coordinator, a random partition leader and the group
/// coordinator; restarts the node and waits for full ISRs; repeats until `stop`, finishing
/// the current cycle so that every node runs at the end.
fn chaos(
    cluster: &mut Cluster,
    partitions: i32,
    seed: u64,
    started: &AtomicUsize,
    stop: &AtomicBool,
) -> ChaosLog {
    let mut rng = Rng(seed | 1);
    let mut log = ChaosLog::new();
    let t0 = Instant::now();
    let bootstrap = cluster.bootstrap();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1000 + rng.below(1500)));
        if stop.load(Ordering::Acquire) {
            break;
        }
        let (what, node) = match log.len() % 3 {
            0 => match find_coordinator(
                &bootstrap,
                CoordinatorKind::Transaction,
                TXN_ID,
                Duration::from_secs(10),
            ) {
                Ok((node, _)) => ("transaction coordinator".to_owned(), node),
                Err(_) => continue,
            },
            1 => {
                let p = i32::try_from(rng.below(u64::try_from(partitions).unwrap())).unwrap();
                match cluster.leader_of(TOPIC, p) {
                    Some(node) => (format!("leader of partition {p}"), node),
                    None => continue,
                }
            }
            _ => match find_coordinator(
                &bootstrap,
                CoordinatorKind::Group,
                GROUP,
                Duration::from_secs(10),
            ) {
                Ok((node, _)) => ("group coordinator".to_owned(), node),
                Err(_) => continue,
            },
        };
        cluster.kill(node).unwrap();
        eprintln!(
            "[chaos {:>6.1}s] kill -9 node {node} ({what})",
            t0.elapsed().as_secs_f64()
        );
        log.push((what, node, t0.elapsed()));
        started.fetch_add(1, Ordering::Release);
        std::thread::sleep(Duration::from_millis(1000 + rng.below(2000)));
        cluster
            .start_node(node)
            .unwrap_or_else(|e| panic!("restarting node {node}: {e}"));
        for topic in [TOPIC, "__transaction_state", "__consumer_offsets"] {
            cluster
                .wait_fully_replicated(topic, Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("after restarting node {node}: {e}"));
        }
        eprintln!(
            "[chaos {:>6.1}s] node {node} restarted and in sync",
            t0.elapsed().as_secs_f64()
        );
    }
    log
}

#[test]
fn transactions_survive_coordinator_and_leader_crashes() {
    let txns = env_usize("CHAOS_TXNS", 30);
    let kills_wanted = env_usize("CHAOS_KILLS", 2).max(1);
    let partitions = i32::try_from(env_usize("CHAOS_PARTITIONS", 6)).unwrap();
    let tv = i16::try_from(env_usize("CHAOS_TXN_VERSION", 2)).unwrap();
    let rate = env_usize("CHAOS_TXN_RATE", 0) as f64;
    // One kill/restart cycle takes ~10 s here: spread the transactions over the cycles.
    let rate = if rate > 0.0 {
        rate
    } else {
        (txns as f64 / (kills_wanted as f64 * 10.0)).max(0.1)
    };
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
        "chaos_transactions: CHAOS_TXNS={txns} CHAOS_KILLS={kills_wanted} \
         CHAOS_PARTITIONS={partitions} CHAOS_TXN_RATE={rate} CHAOS_TXN_VERSION={tv} \
         CHAOS_SEED={seed}"
    );

    // The plan, from the seed.
    let mut rng = Rng(seed.rotate_left(17) | 1);
    let plans: Vec<Plan> = (0..txns)
        .map(|k| {
            let n = 1 + rng.below(12) as usize;
            Plan {
                partitions: (0..n)
                    .map(|_| i32::try_from(rng.below(u64::try_from(partitions).unwrap())).unwrap())
                    .collect(),
                abort: rng.below(5) == 0,
                offsets: (rng.below(3) == 0).then(|| {
                    (
                        i32::try_from(k).unwrap() % SRC_PARTITIONS,
                        i64::try_from(k).unwrap() + 1,
                    )
                }),
            }
        })
        .collect();

    let t_start = Instant::now();
    let mut opts = ClusterOptions::default();
    if tv != 2 {
        opts.features.push(("transaction.version".to_owned(), tv));
    }
    let mut cluster = Cluster::start_with(3, opts).unwrap();
    cluster
        .create_topic(TOPIC, partitions, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    cluster
        .create_topic(SRC_TOPIC, SRC_PARTITIONS, 3, &[])
        .unwrap();
    let bootstrap = cluster.bootstrap();
    assert_eq!(transaction_version(&bootstrap).unwrap(), tv);
    eprintln!("cluster ready in {:?}", t_start.elapsed());

    let mut app = App {
        bootstrap: bootstrap.clone(),
        producer: None,
        stats: Stats::default(),
        failed_reports: Vec::new(),
        client_errors: Vec::new(),
    };
    // The first init creates the transaction state topic: check its replication, then wait
    // for it (and the offsets topic, created by a first group lookup) to be fully replicated
    // before any node dies.
    app.producer(Instant::now() + Duration::from_secs(120));
    find_coordinator(
        &bootstrap,
        CoordinatorKind::Group,
        GROUP,
        Duration::from_secs(60),
    )
    .unwrap();
    for internal in ["__transaction_state", "__consumer_offsets"] {
        cluster
            .wait_fully_replicated(internal, Duration::from_secs(120))
            .unwrap();
        let parts = cluster.partitions(internal).unwrap();
        assert!(
            parts.iter().all(|p| p.replicas.len() == 3),
            "{internal}: {parts:?}"
        );
    }

    let started = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let chaos_thread = {
        let (started, stop) = (Arc::clone(&started), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("chaos".into())
            .spawn(move || {
                let log = chaos(&mut cluster, partitions, seed, &started, &stop);
                (cluster, log)
            })
            .unwrap()
    };

    let t_txns = Instant::now();
    let mut attempts: Vec<Attempt> = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        // Pace the transactions over the kill cycles (module docs).
        let due = t_txns + Duration::from_secs_f64(k as f64 / rate);
        let gate = k * kills_wanted / txns.max(1);
        while Instant::now() < due || started.load(Ordering::Acquire) < gate {
            assert!(!chaos_thread.is_finished(), "the chaos thread died");
            match app.producer.as_ref() {
                Some(p) => p.poll(Duration::from_millis(20)),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let deadline = Instant::now() + TXN_DEADLINE;
        let mut attempt = 0;
        loop {
            let a = app.attempt(k, attempt, plan, deadline);
            let done = match a.outcome {
                Outcome::Committed => true,
                Outcome::Aborted => plan.abort && a.note == "intended abort",
                Outcome::Unknown => false,
            };
            if !a.note.is_empty() && a.note != "intended abort" {
                eprintln!(
                    "txn {k} attempt {attempt}: {:?} after {}",
                    a.outcome, a.note
                );
            }
            attempts.push(a);
            attempt += 1;
            if done {
                break;
            }
            assert!(attempt < 1000, "txn {k}: too many attempts");
        }
    }
    // The last kill lands on the tail of the run.
    while started.load(Ordering::Acquire) < kills_wanted {
        assert!(!chaos_thread.is_finished(), "the chaos thread died");
        if let Some(p) = app.producer.as_ref() {
            p.poll(Duration::from_millis(50));
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let txn_time = t_txns.elapsed();
    stop.store(true, Ordering::Release);
    let (cluster, chaos_log) = chaos_thread.join().expect("chaos thread");
    app.drop_producer();

    // Let the coordinator finish the last transaction (markers written) before reading.
    let settle_deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = describe_transaction(&bootstrap, TXN_ID, Duration::from_secs(60)).unwrap();
        if matches!(d.state.as_str(), "CompleteCommit" | "CompleteAbort") && d.partitions.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < settle_deadline,
            "last transaction never completed: {d:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let consumed = read_topic(
        &bootstrap,
        TOPIC,
        &ReadOptions {
            isolation: Isolation::ReadCommitted,
            until: ReadUntil::End,
            timeout: Duration::from_secs(120 + u64::try_from(txns / 50).unwrap()),
        },
    )
    .unwrap();
    let group_offsets = committed_offsets(
        &bootstrap,
        GROUP,
        &[(SRC_TOPIC, SRC_PARTITIONS)],
        Duration::from_secs(120),
    )
    .unwrap();
    let hanging = find_hanging_on_brokers(&bootstrap, &cluster.node_ids(), 0).unwrap();

    // --- Checks -------------------------------------------------------------------------
    let mut seen: BTreeMap<(usize, usize, usize), Vec<(i32, i64)>> = BTreeMap::new();
    let mut per_partition: BTreeMap<i32, Vec<(usize, usize, usize)>> = BTreeMap::new();
    for c in &consumed {
        let id = parse_value(c.value.as_deref().expect("null value"));
        seen.entry(id).or_default().push((c.partition, c.offset));
        per_partition.entry(c.partition).or_default().push(id);
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, at)| at.len() > 1).collect();
    let attempt_keys: BTreeSet<(usize, usize)> =
        attempts.iter().map(|a| (a.txn, a.attempt)).collect();
    let foreign: Vec<_> = seen
        .keys()
        .filter(|(t, a, _)| !attempt_keys.contains(&(*t, *a)))
        .collect();

    let mut missing_committed = Vec::new();
    let mut misplaced = Vec::new();
    let mut aborted_visible = Vec::new();
    let mut torn = Vec::new();
    let mut unknown_committed = 0_usize;
    let mut unknown_absent = 0_usize;
    let mut visible: Vec<&Attempt> = Vec::new();
    for a in &attempts {
        let present: Vec<usize> = (0..a.partitions.len())
            .filter(|&i| seen.contains_key(&(a.txn, a.attempt, i)))
            .collect();
        for &i in &present {
            let (p, _) = seen[&(a.txn, a.attempt, i)][0];
            if p != a.partitions[i] {
                misplaced.push((a.txn, a.attempt, i, p, a.partitions[i]));
            }
        }
        let whole = present.len() == a.partitions.len();
        match a.outcome {
            Outcome::Committed if !whole => {
                missing_committed.push((a.txn, a.attempt, present.len(), a.partitions.len()))
            }
            Outcome::Aborted if !present.is_empty() => {
                aborted_visible.push((a.txn, a.attempt, present.len(), a.note.clone()))
            }
            Outcome::Unknown if !whole && !present.is_empty() => {
                torn.push((a.txn, a.attempt, present.len(), a.partitions.len()))
            }
            Outcome::Unknown if whole => unknown_committed += 1,
            Outcome::Unknown => unknown_absent += 1,
            _ => {}
        }
        if whole {
            visible.push(a);
        }
    }
    let mut out_of_order = Vec::new();
    for (p, ids) in &per_partition {
        if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
            out_of_order.push((*p, w[0], w[1]));
        }
    }
    // Offsets: the last visible transaction with offsets for each source partition.
    let mut expected_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for a in &visible {
        if let Some((q, o)) = a.offsets {
            let e = expected_offsets
                .entry((SRC_TOPIC.to_owned(), q))
                .or_insert(o);
            *e = (*e).max(o);
        }
    }
    let logical_committed: BTreeSet<usize> = visible.iter().map(|a| a.txn).collect();
    let logical_twice = visible.len() - logical_committed.len();

    let count = |o: Outcome| attempts.iter().filter(|a| a.outcome == o).count();
    eprintln!(
        "RESULT txns={txns} attempts={} committed={} aborted={} unknown={} \
         (visible {unknown_committed}, absent {unknown_absent}) kills={} duration={:?} \
         txn_phase={txn_time:?} records_read={} duplicates={} foreign={} missing_committed={} \
         aborted_visible={} torn={} misplaced={} out_of_order_partitions={} \
         logical_txns_visible_twice={logical_twice} hanging={} producers={} retried_calls={} \
         abortable={} fatal={} unflagged={} failed_reports={} seed={seed}",
        attempts.len(),
        count(Outcome::Committed),
        count(Outcome::Aborted),
        count(Outcome::Unknown),
        chaos_log.len(),
        t_start.elapsed(),
        consumed.len(),
        duplicates.len(),
        foreign.len(),
        missing_committed.len(),
        aborted_visible.len(),
        torn.len(),
        misplaced.len(),
        out_of_order.len(),
        hanging.len(),
        app.stats.producers_created,
        app.stats.retried_calls,
        app.stats.abortable_errors,
        app.stats.fatal_errors,
        app.stats.unflagged_errors,
        app.failed_reports.len(),
    );
    for (what, n) in &app.stats.errors_by_code {
        eprintln!("  error x{n}: {what}");
    }
    let mut report_failures: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &app.failed_reports {
        *report_failures.entry(r.as_str()).or_default() += 1;
    }
    for (reason, n) in &report_failures {
        eprintln!("  failed delivery report x{n}: {reason}");
    }
    eprintln!("kills (what, node, at): {chaos_log:?}");
    eprintln!("group offsets: {group_offsets:?} (expected {expected_offsets:?})");
    for e in app.client_errors.iter().take(5) {
        eprintln!("  client error: {e}");
    }
    drop(cluster);

    assert!(
        chaos_log.len() >= kills_wanted,
        "only {} kills",
        chaos_log.len()
    );
    assert!(duplicates.is_empty(), "records read twice: {duplicates:?}");
    assert!(
        foreign.is_empty(),
        "records of no logged attempt: {foreign:?}"
    );
    assert!(
        missing_committed.is_empty(),
        "committed transactions not whole (txn, attempt, present, sent): {missing_committed:?}"
    );
    assert!(
        aborted_visible.is_empty(),
        "aborted transactions visible to read_committed: {aborted_visible:?}"
    );
    assert!(torn.is_empty(), "torn transactions: {torn:?}");
    assert!(
        misplaced.is_empty(),
        "records in the wrong partition: {misplaced:?}"
    );
    assert!(
        out_of_order.is_empty(),
        "partitions out of producer order (partition, id, next id): {out_of_order:?}"
    );
    assert_eq!(group_offsets, expected_offsets, "committed group offsets");
    assert!(hanging.is_empty(), "hanging transactions: {hanging:?}");
    assert!(
        app.stats.not_transaction_errors.is_empty(),
        "transactional calls failed with errors other than KafkaError::Transaction: {:?}",
        app.stats.not_transaction_errors
    );
    // Exactly the transactions meant to commit are visible (some perhaps twice, after a
    // commit with an unknown outcome that did commit and was run again).
    let intended: BTreeSet<usize> = (0..txns).filter(|&k| !plans[k].abort).collect();
    assert_eq!(logical_committed, intended, "visible logical transactions");
}
