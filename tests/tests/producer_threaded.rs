//! `ThreadedProducer` against the real broker, and the threads producers start and stop.
//! The tests count threads, so they hold a lock to run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::time::{Duration, Instant};

use purekafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, FutureProducer, Producer, ThreadedProducer,
};
use purekafka_testkit::broker::Kafka;

use producer_common::{Recorder, config, read_back, threads_named};

/// The tests of this file count threads: they must not run at the same time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Threads name themselves once running, and are gone some time after `join` returns (the
/// kernel reaps them): poll for the expected state.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn threaded_producer_and_thread_lifecycle() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("threaded", 2).unwrap();
    assert!(
        wait_for(|| threads_named("purekafka-driver") == 0),
        "{:?}",
        producer_common::thread_names()
    );

    // Reports arrive on the polling thread without the application polling.
    let producer: ThreadedProducer<Recorder> = config(&kafka)
        .create_with_context(Recorder::default())
        .unwrap();
    assert!(
        wait_for(|| threads_named("producer polling thread") == 1),
        "{:?}",
        producer_common::thread_names()
    );
    assert!(
        wait_for(|| threads_named("purekafka-driver") == 1),
        "{:?}",
        producer_common::thread_names()
    );
    let clone = producer.clone();
    for i in 0..50 {
        let v = format!("v{i}");
        clone
            .send(BaseRecord::with_opaque_to(&topic, i).payload(&v).key("k"))
            .map_err(|e| e.0)
            .unwrap();
    }
    assert!(wait_for(|| producer.context().reports().len() == 50));
    let reports = producer.context().reports();
    assert!(reports.iter().all(|r| r.error.is_none()));
    assert!(
        reports
            .iter()
            .all(|r| r.thread.as_deref() == Some("producer polling thread")),
        "delivery callbacks run on the polling thread"
    );
    // Same key: one partition, offsets in send order.
    let offsets: Vec<i64> = reports.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..50).collect::<Vec<i64>>());
    assert_eq!(read_back(&kafka, &topic, 50).len(), 50);

    drop(producer);
    // The clone keeps the thread.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(threads_named("producer polling thread"), 1);
    drop(clone);
    assert!(
        wait_for(|| threads_named("producer polling thread") == 0),
        "{:?}",
        producer_common::thread_names()
    );
    assert!(
        wait_for(|| threads_named("purekafka-driver") == 0),
        "{:?}",
        producer_common::thread_names()
    );

    // A default ThreadedProducer, a BaseProducer and a FutureProducer leave no thread
    // behind either, even with records still queued.
    let t: ThreadedProducer<DefaultProducerContext> = config(&kafka).create().unwrap();
    let b: BaseProducer = config(&kafka).set("linger.ms", "30000").create().unwrap();
    b.send(BaseRecord::<(), str>::to(&topic).payload("x"))
        .map_err(|e| e.0)
        .unwrap();
    let f: FutureProducer = config(&kafka).create().unwrap();
    assert!(
        wait_for(|| threads_named("purekafka-driver") == 3),
        "{:?}",
        producer_common::thread_names()
    );
    let start = Instant::now();
    drop(b);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "drop purges, doesn't wait for linger"
    );
    drop(t);
    drop(f);
    assert!(
        wait_for(|| threads_named("purekafka-driver") == 0),
        "{:?}",
        producer_common::thread_names()
    );
    assert!(
        wait_for(|| threads_named("producer polling thread") == 0),
        "{:?}",
        producer_common::thread_names()
    );
}

/// CPU time (user + system, in clock ticks) of this process's threads named `name`.
fn cpu_ticks_of(name: &str) -> u64 {
    let short: String = name.chars().take(15).collect();
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = entry.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim() != short {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised command: state is field 3; utime 14, stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}

#[test]
fn idle_producers_and_concurrent_senders() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("threaded-concurrent", 3).unwrap();
    let producer = std::sync::Arc::new(
        config(&kafka)
            .create_with_context::<_, BaseProducer<Recorder>>(Recorder::default())
            .unwrap(),
    );
    // Eight threads share one BaseProducer (it is Send + Sync); one of them polls.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = std::sync::Arc::clone(&producer);
            let topic = topic.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let v = format!("{t}-{i}");
                    let mut rec = BaseRecord::with_opaque_to(&topic, t * 1000 + i)
                        .key(&v)
                        .payload(&v);
                    loop {
                        match p.send(rec) {
                            Ok(()) => break,
                            Err((_, r)) => {
                                rec = r;
                                p.poll(Duration::from_millis(1));
                            }
                        }
                    }
                    if t == 0 {
                        p.poll(Duration::ZERO);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let reports = producer.context().reports();
    assert_eq!(reports.len(), 4000);
    assert!(reports.iter().all(|r| r.error.is_none()));
    assert_eq!(read_back(&kafka, &topic, 4000).len(), 4000);

    // Idle: the driver thread sleeps until the next engine deadline (no periodic ticks).
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks_of("purekafka-driver");
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks_of("purekafka-driver") - before;
    // Clock ticks are 10 ms; a busy loop would burn ~300.
    assert!(used <= 5, "idle driver used {used} ticks in 3 s");
}
