//! Helpers shared by the `producer_*` integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;
use std::time::Duration;

use purekafka::ClientContext;
use purekafka::config::ClientConfig;
use purekafka::error::KafkaError;
use purekafka::message::{DeliveryResult, Headers, Message, Timestamp};
use purekafka::producer::ProducerContext;
use purekafka_testkit::broker::{KEEP_OLD_RECORDS, Kafka};
use purekafka_testkit::java::{ConsumedRecord, ReadOptions, ReadUntil, read_topic};

/// One delivery report as a test context saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) opaque: usize,
    pub(crate) error: Option<String>,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: Timestamp,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(crate) thread: Option<String>,
}

/// A context recording every delivery report and global error.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) reports: Mutex<Vec<Report>>,
    pub(crate) errors: Mutex<Vec<(KafkaError, String)>>,
}

impl Recorder {
    pub(crate) fn reports(&self) -> Vec<Report> {
        self.reports.lock().unwrap().clone()
    }

    pub(crate) fn errors(&self) -> Vec<(KafkaError, String)> {
        self.errors.lock().unwrap().clone()
    }
}

impl ClientContext for Recorder {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.lock().unwrap().push((error, reason.to_owned()));
    }
}

impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let (error, m) = match result {
            Ok(m) => (None, m),
            Err((e, m)) => (Some(e.to_string()), m),
        };
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        self.reports.lock().unwrap().push(Report {
            opaque,
            error,
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            thread: std::thread::current().name().map(str::to_owned),
        });
    }
}

/// A configuration for the shared broker.
pub(crate) fn config(kafka: &Kafka) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap());
    c
}

/// A new topic that keeps records with old timestamps: with the default retention the broker's
/// retention check may delete their segment before a reader gets to it (seen in CI: 8 of 20
/// records read back).
pub(crate) fn topic_keeping_old_records(kafka: &Kafka, prefix: &str, partitions: i32) -> String {
    kafka
        .unique_topic_with(prefix, partitions, KEEP_OLD_RECORDS)
        .unwrap()
}

/// Every record of `topic`, read back by the Java consumer (waits for `count` records).
pub(crate) fn read_back(kafka: &Kafka, topic: &str, count: usize) -> Vec<ConsumedRecord> {
    read_topic(
        &kafka.bootstrap(),
        topic,
        &ReadOptions {
            until: ReadUntil::Count(count),
            timeout: Duration::from_secs(60),
            ..ReadOptions::default()
        },
    )
    .unwrap()
}

/// Names of this process's threads.
pub(crate) fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path().join("comm");
        if let Ok(name) = std::fs::read_to_string(path) {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// How many threads of this process have `name` (Linux truncates names to 15 bytes).
pub(crate) fn threads_named(name: &str) -> usize {
    let short: String = name.chars().take(15).collect();
    thread_names().iter().filter(|n| **n == short).count()
}
