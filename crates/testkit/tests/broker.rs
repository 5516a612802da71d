//! The real-broker launcher: the shared broker starts, answers Metadata, creates topics, is shared
//! across processes, and the Java reader reads back what was produced.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use purekafka_testkit::broker::{
    BOOTSTRAP_ENV, BrokerError, BrokerOptions, KEEP_OLD_RECORDS, Kafka,
};
use purekafka_testkit::java::{self, ReadOptions, ReadUntil};

fn shared() -> std::sync::Arc<Kafka> {
    match Kafka::shared() {
        Ok(k) => k,
        Err(e) => panic!("shared broker: {e}"),
    }
}

#[test]
fn shared_broker_answers_metadata_and_creates_topics() {
    let kafka = shared();
    assert!(
        kafka.bootstrap().starts_with("127.0.0.1:"),
        "{}",
        kafka.bootstrap()
    );
    assert_eq!(kafka.broker_ids().unwrap(), vec![1]);
    if std::env::var_os(BOOTSTRAP_ENV).is_none() {
        let pid = kafka.pid().unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(String::from_utf8_lossy(&cmdline).contains("kafka.Kafka"));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap_or("VmRSS: ?");
        eprintln!(
            "shared broker pid {pid} {rss}; started here: {:?}",
            kafka.startup_timings()
        );
    }

    let topic = kafka.unique_topic("tk-create", 3).unwrap();
    assert!(topic.starts_with("tk-create-"));
    // Same name again: the broker must refuse with TOPIC_ALREADY_EXISTS (36).
    match kafka.create_topic(&topic, 3, &[]) {
        Err(BrokerError::CreateTopic { code, .. }) => assert_eq!(code, 36),
        other => panic!("expected TOPIC_ALREADY_EXISTS, got {other:?}"),
    }
    // Topic configs are passed through (an invalid one is rejected: INVALID_CONFIG = 40).
    let name = format!("{topic}-cfg");
    kafka
        .create_topic(
            &name,
            1,
            &[
                ("cleanup.policy", "compact"),
                ("max.message.bytes", "2000000"),
            ],
        )
        .unwrap();
    match kafka.create_topic(
        &format!("{topic}-bad"),
        1,
        &[("cleanup.policy", "no-such-policy")],
    ) {
        Err(BrokerError::CreateTopic { code, .. }) => assert_eq!(code, 40),
        other => panic!("expected INVALID_CONFIG, got {other:?}"),
    }
}

#[test]
fn read_topic_on_a_missing_topic_fails() {
    let kafka = shared();
    let opts = ReadOptions {
        timeout: Duration::from_secs(3),
        ..ReadOptions::default()
    };
    let res = java::read_topic(&kafka.bootstrap(), "tk-no-such-topic-7f3a", &opts);
    assert!(matches!(res, Err(BrokerError::Tool { .. })), "{res:?}");
}

#[test]
fn read_topic_on_an_empty_topic_returns_nothing() {
    let kafka = shared();
    let topic = kafka.unique_topic("tk-empty", 2).unwrap();
    let records = java::read_topic(&kafka.bootstrap(), &topic, &ReadOptions::default()).unwrap();
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn shared_broker_is_reused_by_another_process() {
    let kafka = shared();
    // A second process (this same test binary, one ignored test) must attach to the same broker
    // (or, under KAFKA_BOOTSTRAP, use the same external one).
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "child_process_prints_shared_bootstrap",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BOOTSTRAP="))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(line, kafka.bootstrap());
}

/// Helper for `shared_broker_is_reused_by_another_process` (run only as its child).
#[test]
#[ignore = "run as a child process by shared_broker_is_reused_by_another_process"]
fn child_process_prints_shared_bootstrap() {
    let kafka = shared();
    println!("BOOTSTRAP={}", kafka.bootstrap());
}

#[test]
fn kafka_bootstrap_env_points_at_an_existing_broker() {
    let kafka = shared();
    let exe = std::env::current_exe().unwrap();
    // A bad override must fail loudly instead of silently starting a broker.
    let out = Command::new(&exe)
        .args([
            "--ignored",
            "--exact",
            "child_process_prints_shared_bootstrap",
            "--nocapture",
        ])
        .env(BOOTSTRAP_ENV, "127.0.0.1:1")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad bootstrap address"));
    // A good one is used as is.
    let out = Command::new(&exe)
        .args([
            "--ignored",
            "--exact",
            "child_process_prints_shared_bootstrap",
            "--nocapture",
        ])
        .env(BOOTSTRAP_ENV, kafka.bootstrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("BOOTSTRAP={}", kafka.bootstrap()))
    );
    // External handles have no local files and refuse lifecycle operations.
    let mut ext = Kafka::external(&kafka.bootstrap()).unwrap();
    assert!(ext.log_dir().is_none());
    assert!(matches!(ext.stop(), Err(BrokerError::NotPrivate { .. })));
}

#[test]
fn private_broker_restarts_on_same_port_and_dies_on_drop() {
    let started = Instant::now();
    let mut kafka = Kafka::start(BrokerOptions::default()).unwrap();
    eprintln!("private broker ready after {:?}", started.elapsed());
    let bootstrap = kafka.bootstrap();
    let pid = kafka.pid().unwrap();
    let topic = kafka.unique_topic("tk-private", 1).unwrap();
    let data = kafka.log_dir().unwrap();
    assert!(data.join(format!("{topic}-0")).is_dir());

    kafka.restart().unwrap();
    assert_eq!(kafka.bootstrap(), bootstrap);
    assert_ne!(kafka.pid().unwrap(), pid);
    // The topic survived the restart (same data dir): creating it again is refused.
    assert!(matches!(
        kafka.create_topic(&topic, 1, &[]),
        Err(BrokerError::CreateTopic { code: 36, .. })
    ));

    // Crash and start again: same port, data intact.
    kafka.kill().unwrap();
    assert!(kafka.pid().is_none());
    kafka.start_again().unwrap();
    assert_eq!(kafka.bootstrap(), bootstrap);
    assert!(matches!(
        kafka.create_topic(&topic, 1, &[]),
        Err(BrokerError::CreateTopic { code: 36, .. })
    ));

    // Pause freezes the JVM (state T), resume brings it back.
    let pid = kafka.pid().unwrap();
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat.rsplit_once(") ").unwrap().1.chars().next().unwrap()
    };
    // Signal delivery is asynchronous: poll briefly for the state change.
    let wait_for = |want_stopped: bool| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while (state() == 'T') != want_stopped && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        state() == 'T'
    };
    kafka.pause().unwrap();
    assert!(wait_for(true), "JVM not stopped: {}", state());
    kafka.resume().unwrap();
    assert!(!wait_for(false), "JVM still stopped");
    assert_eq!(kafka.broker_ids().unwrap(), vec![1]);

    drop(kafka);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "JVM {pid} survived drop"
    );
}

/// Runs GenBatchFixtures.java (the reference producer) for `cases` into `<prefix><case>` topics
/// and returns the records it reports having sent.
fn java_produce(kafka: &Kafka, prefix: &str, cases: &[&str]) -> Vec<serde_json::Value> {
    // The records carry 2023 timestamps: keep the broker from rolling and deleting the segment.
    for case in cases {
        kafka
            .create_topic(&format!("{prefix}{case}"), 1, KEEP_OLD_RECORDS)
            .unwrap();
    }
    let generator =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/GenBatchFixtures.java");
    let mut args = vec![kafka.bootstrap(), prefix.to_owned()];
    args.extend(cases.iter().map(|c| (*c).to_owned()));
    let out = java::run_tool(
        &generator.display().to_string(),
        &args,
        Duration::from_secs(180),
    )
    .unwrap();
    assert!(out.status.success(), "{}\n{}", out.status, out.stderr);
    out.stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex_field(v: &serde_json::Value) -> Option<Vec<u8>> {
    v.as_str().map(|h| java::unhex(h).unwrap())
}

#[test]
fn java_reader_and_tools_see_what_the_java_producer_wrote() {
    let kafka = shared();
    let prefix = format!("{}-", kafka.unique_topic("tk-tools", 1).unwrap());
    let sent = java_produce(&kafka, &prefix, &["zstd", "transactional"]);
    assert_eq!(sent.len(), 14);

    for case in ["zstd", "transactional"] {
        let topic = format!("{prefix}{case}");
        let read = java::read_topic(&kafka.bootstrap(), &topic, &ReadOptions::default()).unwrap();
        let sent: Vec<&serde_json::Value> = sent.iter().filter(|s| s["case"] == case).collect();
        assert_eq!(read.len(), sent.len(), "{case}");
        for (i, (r, s)) in read.iter().zip(&sent).enumerate() {
            assert_eq!(r.offset, i64::try_from(i).unwrap());
            assert_eq!(r.partition, 0);
            assert_eq!(r.timestamp, s["timestamp"].as_i64().unwrap());
            assert_eq!(r.key, hex_field(&s["key"]), "{case} {i}");
            assert_eq!(r.value, hex_field(&s["value"]), "{case} {i}");
            let headers: Vec<(String, Option<Vec<u8>>)> = s["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        String::from_utf8(hex_field(&h[0]).unwrap()).unwrap(),
                        hex_field(&h[1]),
                    )
                })
                .collect();
            assert_eq!(r.headers, headers, "{case} {i}");
        }
    }
    // The fixed record set covers null key, null value, empty key/value and a null header value.
    let zstd = java::read_topic(
        &kafka.bootstrap(),
        &format!("{prefix}zstd"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(zstd[1].key, None);
    assert_eq!(zstd[2].value, None);
    assert_eq!(
        (zstd[3].key.as_deref(), zstd[3].value.as_deref()),
        (Some(&[][..]), Some(&[][..]))
    );
    assert!(zstd[4].headers.contains(&("h-null".to_owned(), None)));
    // Count mode stops after the requested number of records.
    let two = java::read_topic(
        &kafka.bootstrap(),
        &format!("{prefix}zstd"),
        &ReadOptions {
            until: ReadUntil::Count(2),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(two.len(), 2);
    // Asking for more records than exist fails at the timeout instead of returning short.
    let short = java::read_topic(
        &kafka.bootstrap(),
        &format!("{prefix}zstd"),
        &ReadOptions {
            until: ReadUntil::Count(8),
            timeout: Duration::from_secs(10),
            ..ReadOptions::default()
        },
    );
    // The timeout includes the JVM start, so on a loaded machine fewer than the 7 records may
    // have arrived by then; what matters is that it fails rather than returning short.
    match short {
        Err(BrokerError::Tool { detail, .. }) => {
            let got = (0..=7).find(|n| detail.contains(&format!("after {n} records")));
            assert!(got.is_some(), "{detail}");
        }
        other => panic!("expected a timeout error, got {other:?}"),
    }

    // DumpLogSegments on the shared broker's own segment file (not reachable under
    // KAFKA_BOOTSTRAP, where the broker's files are elsewhere).
    if let Some(log_dir) = kafka.log_dir() {
        let seg = log_dir.join(format!("{prefix}transactional-0/00000000000000000000.log"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let dump = loop {
            let dump = java::dump_log_segments(&seg, true, true).unwrap();
            if dump.contains("endTxnMarker: COMMIT") || Instant::now() > deadline {
                break dump;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(dump.contains("isTransactional: true"), "{dump}");
        assert!(dump.contains("compresscodec: lz4"), "{dump}");
        assert!(dump.contains("endTxnMarker: COMMIT"), "{dump}");
        assert!(dump.contains("payload: value-headers"), "{dump}");
    }

    // The tools the pom keeps after excluding connect-runtime still run.
    let offsets = java::run_tool(
        "org.apache.kafka.tools.GetOffsetShell",
        &[
            "--bootstrap-server".into(),
            kafka.bootstrap(),
            "--topic".into(),
            format!("{prefix}zstd"),
        ],
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(offsets.status.success(), "{}", offsets.stderr);
    assert_eq!(offsets.stdout.trim(), format!("{prefix}zstd:0:7"));

    let console = java::run_tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server".into(),
            kafka.bootstrap(),
            "--topic".into(),
            format!("{prefix}zstd"),
            "--from-beginning".into(),
            "--max-messages".into(),
            "7".into(),
            "--timeout-ms".into(),
            "30000".into(),
            "--property".into(),
            "print.offset=true".into(),
        ],
        Duration::from_secs(90),
    )
    .unwrap();
    assert!(console.status.success(), "{}", console.stderr);
    assert!(
        console.stdout.contains("Offset:0") && console.stdout.contains("value-0"),
        "{}",
        console.stdout
    );

    let txns = java::run_tool(
        "org.apache.kafka.tools.TransactionsCommand",
        &[
            "--bootstrap-server".into(),
            kafka.bootstrap(),
            "describe".into(),
            "--transactional-id".into(),
            "purekafka-fixtures".into(),
        ],
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(txns.status.success(), "{}", txns.stderr);
    assert!(txns.stdout.contains("CompleteCommit"), "{}", txns.stdout);
}

#[test]
fn private_broker_of_a_killed_process_is_stopped_by_the_watchdog() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "child_process_starts_private_broker_and_hangs",
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut pid = None;
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0 {
        if let Some(p) = line.trim().strip_prefix("JVM_PID=") {
            pid = Some(p.parse::<u32>().unwrap());
            break;
        }
        line.clear();
    }
    let pid = pid.expect("child printed no JVM pid");
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    // SIGKILL: no Drop runs, only the lease (released by the OS) can tell the watchdog.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !proc_dir.exists(),
        "broker JVM {pid} outlived its killed owner"
    );
}

/// Helper for `private_broker_of_a_killed_process_is_stopped_by_the_watchdog`.
#[test]
#[ignore = "run as a child process by private_broker_of_a_killed_process_is_stopped_by_the_watchdog"]
fn child_process_starts_private_broker_and_hangs() {
    let kafka = Kafka::start(BrokerOptions::default()).unwrap();
    println!("JVM_PID={}", kafka.pid().unwrap());
    std::thread::sleep(Duration::from_secs(600));
}

/// Polls `f` every 200 ms until it returns `Some`, or gives up after `timeout`.
fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs TxnProbe.java (the reference transactional producer: a committed, an aborted and an
/// open transaction, see the file) against `kafka` with `expect_tv` as its finalized
/// `transaction.version`, and checks every transaction probe of the testkit against the state it
/// leaves: committed group offsets, read_committed/read_uncommitted views, describe-producers,
/// DescribeTransactions, find-hanging, and the coordinator's timeout abort of the open one.
fn check_transaction_probes(kafka: &Kafka, expect_tv: i16) {
    use purekafka_testkit::broker::{
        TRANSACTION_VERSION_FEATURE, committed_offsets, describe_transaction, finalized_features,
        transaction_version,
    };
    use purekafka_testkit::java::{
        HangingScope, Isolation, describe_producers, find_hanging, find_hanging_on_brokers,
    };
    let bootstrap = kafka.bootstrap();

    // The feature level, from the testkit's own ApiVersions and from purekafka's negotiation.
    let features = finalized_features(&bootstrap).unwrap();
    eprintln!("finalized features: {features:?}");
    assert_eq!(transaction_version(&bootstrap).unwrap(), expect_tv);
    assert_eq!(
        features
            .get(TRANSACTION_VERSION_FEATURE)
            .copied()
            .unwrap_or(0),
        expect_tv
    );
    let raw = purekafka_testkit::raw::RawClient::connect(bootstrap.as_str()).unwrap();
    assert_eq!(raw.versions().transaction_version(), expect_tv);
    eprintln!(
        "advertised Produce {:?}, EndTxn {:?}, TxnOffsetCommit {:?}",
        raw.versions()
            .broker_range(kafka_protocol::messages::ApiKey::Produce),
        raw.versions()
            .broker_range(kafka_protocol::messages::ApiKey::EndTxn),
        raw.versions()
            .broker_range(kafka_protocol::messages::ApiKey::TxnOffsetCommit),
    );
    drop(raw);

    let topic = kafka.unique_topic("tk-txn", 1).unwrap();
    let src = format!("{topic}-src");
    kafka.create_topic(&src, 1, &[]).unwrap();
    let group = format!("{topic}-group");
    let txn_id = format!("{topic}-txn");
    let probe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kafka/TxnProbe.java");
    let out = java::run_tool(
        &probe.display().to_string(),
        &[
            bootstrap.clone(),
            topic.clone(),
            src.clone(),
            group.clone(),
            txn_id.clone(),
            "12000".into(),
        ],
        Duration::from_secs(180),
    )
    .unwrap();
    assert!(
        out.status.success() && out.stdout.contains("DONE 3"),
        "{}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );

    // The open transaction: offsets 0 committed, 1 marker, 2 aborted, 3 marker, 4 open.
    let producers = describe_producers(&bootstrap, &topic, 0, None).unwrap();
    assert_eq!(producers.len(), 1, "{producers:?}");
    assert_eq!(producers[0].current_txn_start_offset, Some(4));
    let open = describe_transaction(&bootstrap, &txn_id, Duration::from_secs(30)).unwrap();
    eprintln!("open transaction: {open:?}");
    assert_eq!(open.state, "Ongoing");
    assert_eq!(open.timeout_ms, 12000);
    assert!(open.start_time_ms > 0);
    assert!(open.partitions.contains(&(topic.clone(), 0)), "{open:?}");
    assert_eq!(open.producer_id, producers[0].producer_id);
    // The coordinator knows about it: not hanging, even with no minimum age.
    assert_eq!(
        find_hanging(&bootstrap, HangingScope::Topic(&topic), 0).unwrap(),
        vec![]
    );

    // Offsets of the committed transaction only (the aborted one's 9 never shows).
    let offsets =
        committed_offsets(&bootstrap, &group, &[(&src, 1)], Duration::from_secs(30)).unwrap();
    assert_eq!(
        offsets.into_iter().collect::<Vec<_>>(),
        vec![((src.clone(), 0), 5)]
    );
    // An unknown group has no offsets.
    assert!(
        committed_offsets(
            &bootstrap,
            &format!("{group}-none"),
            &[(&src, 1)],
            Duration::from_secs(30)
        )
        .unwrap()
        .is_empty()
    );

    let values = |isolation| -> Vec<String> {
        java::read_topic(
            &bootstrap,
            &topic,
            &ReadOptions {
                isolation,
                ..ReadOptions::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect()
    };
    // read_committed stops at the open transaction (the last stable offset).
    assert_eq!(values(Isolation::ReadCommitted), ["committed"]);
    assert_eq!(
        values(Isolation::ReadUncommitted),
        ["committed", "aborted", "open"]
    );

    // The coordinator aborts it after transaction.timeout.ms (its check runs every
    // transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default) and fences
    // the producer by bumping the epoch.
    let aborted = poll_until(Duration::from_secs(90), || {
        describe_transaction(&bootstrap, &txn_id, Duration::from_secs(10))
            .ok()
            .filter(|d| d.state == "CompleteAbort")
    })
    .unwrap_or_else(|| panic!("the open transaction was not aborted by its timeout"));
    eprintln!("after the timeout: {aborted:?}");
    assert!(aborted.producer_epoch > open.producer_epoch, "{aborted:?}");
    assert!(aborted.partitions.is_empty(), "{aborted:?}");
    let closed = poll_until(Duration::from_secs(30), || {
        describe_producers(&bootstrap, &topic, 0, None)
            .ok()
            .filter(|ps| ps.iter().all(|p| p.current_txn_start_offset.is_none()))
    });
    assert!(closed.is_some(), "the abort marker was never written");
    assert_eq!(values(Isolation::ReadCommitted), ["committed"]);
    assert_eq!(
        find_hanging_on_brokers(&bootstrap, &kafka.broker_ids().unwrap(), 0).unwrap(),
        vec![]
    );
    // The offsets are unchanged by the aborted transactions.
    assert_eq!(
        committed_offsets(&bootstrap, &group, &[(&src, 1)], Duration::from_secs(30))
            .unwrap()
            .get(&(src, 0)),
        Some(&5)
    );
}

#[test]
fn transaction_probes_on_the_default_tv2_broker() {
    let kafka = shared();
    check_transaction_probes(&kafka, 2);
}

#[test]
fn transaction_probes_on_a_tv1_broker() {
    let opts = BrokerOptions {
        // A quicker timeout abort than the 10 s default check interval.
        server_properties: vec![(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms".into(),
            "1000".into(),
        )],
        ..BrokerOptions::default()
    }
    .with_transaction_version(0);
    let kafka = Kafka::start(opts).unwrap();
    check_transaction_probes(&kafka, 0);
}
