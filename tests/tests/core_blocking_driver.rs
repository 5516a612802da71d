//! The sans-IO core producing to a real Apache Kafka broker through a minimal blocking driver.
//!
//! The driver below is the whole I/O layer: std `TcpStream`s in non-blocking mode, one loop,
//! time from `std::time::Instant`. It shows that `purekafka_core::Engine` needs nothing from
//! tokio, and checks what it produced with the reference Java consumer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use purekafka_core::engine::{ConnCommand, ConnId, Engine, Event, Record, RecordHeader};
use purekafka_core::{ErrorCode, Instant, PersistenceStatus, ProducerConfig};
use purekafka_protocol::frame::FrameDecoder;
use purekafka_testkit::broker::Kafka;
use purekafka_testkit::java::{ReadOptions, read_topic};

struct Conn {
    stream: TcpStream,
    rx: BytesMut,
    tx: Vec<u8>,
}

/// What one record's delivery report said.
#[derive(Debug, Clone)]
struct Delivered {
    index: usize,
    partition: i32,
    offset: i64,
    error: Option<ErrorCode>,
    status: PersistenceStatus,
}

struct BlockingDriver {
    engine: Engine<usize>,
    conns: HashMap<ConnId, Conn>,
    origin: StdInstant,
    frames: FrameDecoder,
    delivered: Vec<Delivered>,
    errors: Vec<(ErrorCode, String)>,
}

impl BlockingDriver {
    fn new(config: ProducerConfig) -> Self {
        let origin = StdInstant::now();
        Self {
            engine: Engine::new(config, 0x5eed, Instant::ZERO),
            conns: HashMap::new(),
            origin,
            frames: FrameDecoder::default(),
            delivered: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    /// One pass over every output and input; returns whether anything happened.
    fn step(&mut self) -> bool {
        let now = self.now();
        let mut progress = false;
        while let Some(cmd) = self.engine.poll_conn_command() {
            progress = true;
            match cmd {
                ConnCommand::Connect { conn, address } => {
                    match TcpStream::connect((address.host.as_str(), address.port)) {
                        Ok(stream) => {
                            stream.set_nodelay(true).unwrap();
                            stream.set_nonblocking(true).unwrap();
                            let c = Conn {
                                stream,
                                rx: BytesMut::new(),
                                tx: Vec::new(),
                            };
                            self.conns.insert(conn, c);
                            self.engine.handle_connected(now, conn);
                        }
                        Err(_) => self.engine.handle_disconnected(now, conn),
                    }
                }
                ConnCommand::Close { conn } => {
                    self.conns.remove(&conn);
                }
            }
        }
        while let Some(t) = self.engine.poll_transmit(now) {
            progress = true;
            if let Some(c) = self.conns.get_mut(&t.conn) {
                for chunk in t.frame.into_chunks() {
                    c.tx.extend_from_slice(&chunk);
                }
            }
        }
        let mut dead = Vec::new();
        let mut frames = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        for (&id, c) in &mut self.conns {
            while !c.tx.is_empty() {
                match c.stream.write(&c.tx) {
                    Ok(0) => {
                        dead.push(id);
                        break;
                    }
                    Ok(n) => {
                        c.tx.drain(..n);
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        dead.push(id);
                        break;
                    }
                }
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        dead.push(id);
                        break;
                    }
                    Ok(n) => {
                        c.rx.extend_from_slice(&buf[..n]);
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        dead.push(id);
                        break;
                    }
                }
            }
            while let Some(frame) = self
                .frames
                .decode(&mut c.rx)
                .expect("frame from the broker")
            {
                frames.push((id, frame));
            }
        }
        for (id, frame) in frames {
            self.engine.handle_response(now, id, frame);
        }
        for id in dead {
            self.conns.remove(&id);
            self.engine.handle_disconnected(now, id);
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
            progress = true;
        }
        while let Some(event) = self.engine.poll_event() {
            progress = true;
            match event {
                Event::Delivery(mut report) => {
                    let (partition, error, status) =
                        (report.partition(), report.error(), report.status());
                    for (view, index) in report.drain() {
                        let offset = view.offset();
                        self.delivered.push(Delivered {
                            index,
                            partition,
                            offset,
                            error,
                            status,
                        });
                    }
                }
                Event::Error { code, reason } => self.errors.push((code, reason)),
                Event::Stats(_) => {}
            }
        }
        progress
    }

    /// Drives until `done` or `limit` of wall time; sleeps 1 ms only when nothing happened.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let start = StdInstant::now();
        while !done(self) {
            assert!(
                start.elapsed() < limit,
                "driver gave up after {limit:?}; errors: {:?}",
                self.errors
            );
            if !self.step() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn core_produces_to_real_kafka_and_the_java_consumer_reads_it_back() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("core-blocking", 3).unwrap();
    let bootstrap = kafka.bootstrap();
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("linger.ms", "5"),
        ("compression.type", "lz4"),
        ("batch.num.messages", "500"),
    ])
    .unwrap();
    let mut driver = BlockingDriver::new(config);

    const N: usize = 5_000;
    let ts = now_ms();
    for i in 0..N {
        let key = format!("key-{}", i % 17);
        let value = format!("value-{i}");
        let headers = [RecordHeader {
            key: "i",
            value: Some(value.as_bytes()),
        }];
        let record = Record {
            topic: &topic,
            partition: None,
            key: Some(key.as_bytes()),
            value: if i % 100 == 99 {
                None
            } else {
                Some(value.as_bytes())
            },
            headers: &headers,
            timestamp_ms: ts + i as i64,
        };
        driver.engine.send(driver.now(), record, i).expect("queued");
        if i % 1000 == 0 {
            driver.step();
        }
    }
    driver.engine.flush(driver.now());
    driver.run_until(Duration::from_secs(60), |d| d.delivered.len() == N);
    assert_eq!(driver.engine.in_flight_count(), 0);

    // Exactly one successful report per record, and per partition offsets follow send order.
    let mut by_index = vec![None; N];
    for d in &driver.delivered {
        assert!(
            by_index[d.index].is_none(),
            "record {} reported twice",
            d.index
        );
        assert_eq!(d.error, None, "record {} failed: {d:?}", d.index);
        assert_eq!(d.status, PersistenceStatus::Persisted);
        by_index[d.index] = Some(d.clone());
    }
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    for d in by_index.iter().map(|d| d.as_ref().unwrap()) {
        let prev = last_offset.insert(d.partition, d.offset);
        assert!(
            prev.is_none_or(|p| p < d.offset),
            "partition {} out of order at {d:?}",
            d.partition
        );
    }
    assert_eq!(last_offset.len(), 3, "keys spread over all 3 partitions");

    // The independent reader sees exactly what the reports said, where they said it.
    let read = read_topic(&bootstrap, &topic, &ReadOptions::default()).unwrap();
    assert_eq!(read.len(), N);
    let at: HashMap<(i32, i64), _> = read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    for d in by_index.iter().map(|d| d.as_ref().unwrap()) {
        let r = at
            .get(&(d.partition, d.offset))
            .expect("reported offset present in the log");
        let i = d.index;
        assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 17).as_bytes()));
        let value = format!("value-{i}");
        let expected_value = if i % 100 == 99 {
            None
        } else {
            Some(value.as_bytes())
        };
        assert_eq!(r.value.as_deref(), expected_value);
        assert_eq!(
            r.headers,
            vec![("i".to_owned(), Some(value.clone().into_bytes()))]
        );
        assert_eq!(r.timestamp, ts + i as i64);
        assert_eq!(r.timestamp_type, "CreateTime");
    }
}

#[test]
fn core_reports_unknown_topic_and_partition_from_a_real_broker() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("core-unknown", 2).unwrap();
    let bootstrap = kafka.bootstrap();
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("topic.metadata.propagation.max.ms", "1000"),
        ("allow.auto.create.topics", "false"),
    ])
    .unwrap();
    let mut driver = BlockingDriver::new(config);
    let missing = format!("{topic}-missing");
    let record = |topic: &'static str| Record {
        topic,
        partition: None,
        key: None,
        value: Some(b"x"),
        headers: &[],
        timestamp_ms: now_ms(),
    };
    let missing: &'static str = Box::leak(missing.into_boxed_str());
    let existing: &'static str = Box::leak(topic.into_boxed_str());
    driver
        .engine
        .send(driver.now(), record(missing), 0)
        .expect("queued while unknown");
    // Partition 7 of a 2-partition topic: refused at send once metadata is known, or
    // reported, depending on whether metadata arrived first; both are librdkafka's behaviour.
    let mut explicit = record(existing);
    explicit.partition = Some(7);
    let refused_at_send = match driver.engine.send(driver.now(), explicit, 1) {
        Ok(()) => false,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::UnknownPartition);
            true
        }
    };
    let expected = if refused_at_send { 1 } else { 2 };
    driver.run_until(Duration::from_secs(30), |d| d.delivered.len() == expected);
    for d in &driver.delivered {
        match d.index {
            0 => assert!(
                matches!(
                    d.error,
                    Some(ErrorCode::UnknownTopic | ErrorCode::UnknownTopicOrPartition)
                ),
                "{d:?}"
            ),
            1 => assert_eq!(d.error, Some(ErrorCode::UnknownPartition), "{d:?}"),
            _ => unreachable!(),
        }
        assert_eq!(d.status, PersistenceStatus::NotPersisted);
    }
}
