//! Drives the sans-IO engine ([`purekafka_core::Engine`]) against a [`FakeCluster`] on virtual
//! time, the way quinn-proto's test `Pair` drives two endpoints.
//!
//! [`Sim::step`] drains the engine's outputs (connection commands are answered by the fake
//! cluster, transmits lose their size prefix and go to the fake broker), delivers responses
//! and broker-side disconnects that are due, collects events, then jumps virtual time to the
//! earliest of the engine's timer and the cluster's next response and fires the timer. Every
//! loop is bounded: a livelocked engine shows up as a [`Sim::violations`] entry, never as a
//! hung test.
//!
//! Delivery reports are flattened into a per-record log ([`Delivered`]) plus a per-report
//! summary ([`ReportInfo`]) that tests assert on.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use core::time::Duration;
use purekafka_core::config::BrokerAddress;
use purekafka_core::engine::{
    CompressJob, ConnCommand, ConnId, Engine, Event, Purge, Record, SendError, Transmit,
};
use purekafka_core::{
    ErrorCode, GroupMetadata, Instant, PersistenceStatus, ProducerConfig, TxnError, TxnOffset,
    TxnOp,
};

use crate::fake::{FakeCluster, FakeConfig, FakeConnId, FakeOutput};

/// Steps a `run_*` call may take before it gives up and records a violation.
pub const DEFAULT_MAX_STEPS: u64 = 200_000;
/// Output-draining rounds at one instant before the harness calls it a livelock.
const MAX_PUMP_ROUNDS: usize = 10_000;
/// Trace lines kept for failure messages.
const TRACE_LINES: usize = 300;

/// One record's outcome, copied out of its delivery report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered<O> {
    /// Virtual time the report was polled.
    pub at: Instant,
    /// Index of its report in [`Sim::reports`].
    pub report: usize,
    /// Topic.
    pub topic: String,
    /// Partition (-1 if none was assigned).
    pub partition: i32,
    /// `None` on success.
    pub error: Option<ErrorCode>,
    /// Persistence status.
    pub status: PersistenceStatus,
    /// Offset (-1 when unknown).
    pub offset: i64,
    /// Timestamp as reported.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The caller's opaque.
    pub opaque: O,
}

/// One delivery report (one partition batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportInfo {
    /// Virtual time the report was polled.
    pub at: Instant,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// `None` on success.
    pub error: Option<ErrorCode>,
    /// Persistence status.
    pub status: PersistenceStatus,
    /// Base offset (-1 when unknown).
    pub base_offset: i64,
    /// Number of records.
    pub len: usize,
    /// Whether the timestamps are LogAppendTime.
    pub log_append_time: bool,
}

/// One transactional operation's result, as `poll_txn_result` gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResult {
    /// When it was polled.
    pub at: Instant,
    /// The operation.
    pub op: TxnOp,
    /// Its result.
    pub result: Result<(), TxnError>,
}

/// A global error event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorEvent {
    /// When it was polled.
    pub at: Instant,
    /// Code.
    pub code: ErrorCode,
    /// Reason text.
    pub reason: String,
}

/// The simulation: an engine, a fake cluster and a virtual clock.
pub struct Sim<O> {
    /// The engine under test.
    pub engine: Engine<O>,
    /// The fake cluster it talks to.
    pub cluster: FakeCluster,
    /// Virtual now.
    pub now: Instant,
    /// Per-record outcomes, in the order reports were polled.
    pub delivered: Vec<Delivered<O>>,
    /// Per-report summaries.
    pub reports: Vec<ReportInfo>,
    /// Global error events.
    pub errors: Vec<ErrorEvent>,
    /// Transactional results (`poll_txn_result`), in the order they were polled.
    pub txn_results: Vec<TxnResult>,
    /// Harness-detected contract breaches (busy timer, transmit on an unknown connection,
    /// livelock, step cap). Tests assert this is empty.
    pub violations: Vec<String>,
    /// Delay between a Connect command and its outcome.
    pub connect_latency: Duration,
    /// Hosts whose connects do not complete (a SYN black hole): the engine gets neither
    /// `handle_connected` nor `handle_disconnected` until it closes the attempt itself, or
    /// the host leaves this set (then the attempt completes, as a retransmitted SYN would).
    pub blackholed_hosts: std::collections::BTreeSet<String>,
    /// Connect attempts swallowed by a black hole, in arrival order.
    swallowed: Vec<(ConnId, BrokerAddress)>,
    /// Step budget of each `run_*` call.
    pub max_steps: u64,
    /// How many trace lines [`Sim::trace_tail`] keeps (default 300).
    pub trace_lines: usize,
    /// Total steps taken.
    pub steps: u64,
    conns: HashMap<ConnId, FakeConnId>,
    rev: HashMap<FakeConnId, ConnId>,
    /// Connects in progress: due time -> (engine conn, address).
    connecting: BTreeMap<(Instant, u64), (ConnId, BrokerAddress)>,
    connect_seq: u64,
    trace: VecDeque<String>,
    /// Compression jobs taken from the engine, completed one pump round later (so the engine
    /// sees other inputs while they are out, as with a driver compressing off its lock).
    compressing: Vec<CompressJob>,
}

impl<O: core::fmt::Debug> Sim<O> {
    /// A simulation at virtual time zero.
    pub fn new(config: ProducerConfig, cluster: FakeCluster, seed: u64) -> Self {
        let now = Instant::ZERO;
        Self {
            engine: Engine::new(config, seed, now),
            cluster,
            now,
            delivered: Vec::new(),
            reports: Vec::new(),
            errors: Vec::new(),
            txn_results: Vec::new(),
            violations: Vec::new(),
            connect_latency: Duration::ZERO,
            blackholed_hosts: std::collections::BTreeSet::new(),
            swallowed: Vec::new(),
            max_steps: DEFAULT_MAX_STEPS,
            trace_lines: TRACE_LINES,
            steps: 0,
            conns: HashMap::new(),
            rev: HashMap::new(),
            connecting: BTreeMap::new(),
            connect_seq: 0,
            trace: VecDeque::new(),
            compressing: Vec::new(),
        }
    }

    /// The engine hands compression to the simulation (`Engine::enable_compression_offload`).
    pub fn enable_compression_offload(&mut self) {
        self.engine.enable_compression_offload();
    }

    /// A cluster from `fake` with `topics` created, and an engine whose bootstrap servers
    /// are the fake brokers and whose other settings `tweak` adjusts.
    pub fn with_topics(
        fake: FakeConfig,
        topics: &[(&str, i32)],
        seed: u64,
        tweak: impl FnOnce(&mut ProducerConfig),
    ) -> Self {
        let mut cluster = FakeCluster::new(fake);
        for (t, p) in topics {
            cluster.create_topic(t, *p);
        }
        let mut config = ProducerConfig {
            bootstrap_servers: cluster.bootstrap_servers(),
            ..ProducerConfig::default()
        };
        tweak(&mut config);
        Self::new(config, cluster, seed)
    }

    /// Wall-clock milliseconds the fake cluster associates with `now` (for CreateTime).
    pub fn wall_clock_ms(&self) -> i64 {
        self.cluster.config().wall_clock_origin_ms + (self.now.as_nanos() / 1_000_000) as i64
    }

    /// Sends one record at `now` (CreateTime = the fake wall clock), then drains outputs.
    pub fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        opaque: O,
    ) -> Result<(), SendError<O>> {
        let record = Record {
            topic,
            partition,
            key,
            value,
            headers: &[],
            timestamp_ms: self.wall_clock_ms(),
        };
        self.send_record(record, opaque)
    }

    /// Sends a caller-built record at `now`, then drains outputs.
    pub fn send_record(&mut self, record: Record<'_>, opaque: O) -> Result<(), SendError<O>> {
        let line = format!("send {opaque:?} -> {}/{:?}", record.topic, record.partition);
        let r = self.engine.send(self.now, record, opaque);
        self.trace_line(|| match &r {
            Ok(()) => line,
            Err(e) => format!("{line} REFUSED {:?}", e.code),
        });
        self.pump();
        r
    }

    /// `engine.flush(now)`, then drains outputs.
    pub fn flush(&mut self) {
        self.engine.flush(self.now);
        self.pump();
    }

    /// `engine.purge(now, ..)`, then drains outputs.
    pub fn purge(&mut self, queue: bool, inflight: bool) {
        self.engine.purge(self.now, Purge { queue, inflight });
        self.pump();
    }

    /// `engine.close(now)`, then drains outputs.
    pub fn close(&mut self) {
        self.engine.close(self.now);
        self.pump();
    }

    /// Drains everything that is due at `now`: engine outputs, finished connects, cluster
    /// responses and disconnects, until nothing more happens.
    pub fn pump(&mut self) {
        for _ in 0..MAX_PUMP_ROUNDS {
            let mut progressed = false;
            for job in std::mem::take(&mut self.compressing) {
                progressed = true;
                let done = job.run();
                self.engine.handle_compressed(self.now, done);
            }
            while let Some(job) = self.engine.poll_compress() {
                progressed = true;
                self.compressing.push(job);
            }
            while let Some(cmd) = self.engine.poll_conn_command() {
                progressed = true;
                self.on_conn_command(cmd);
            }
            while let Some(due) = self
                .connecting
                .keys()
                .next()
                .copied()
                .filter(|k| k.0 <= self.now)
            {
                progressed = true;
                if let Some((conn, address)) = self.connecting.remove(&due) {
                    self.finish_connect(conn, &address);
                }
            }
            if let Some(i) = self
                .swallowed
                .iter()
                .position(|(_, a)| !self.blackholed_hosts.contains(&a.host))
            {
                progressed = true;
                let (conn, address) = self.swallowed.remove(i);
                self.finish_connect(conn, &address);
            }
            while let Some(tx) = self.engine.poll_transmit(self.now) {
                progressed = true;
                self.on_transmit(tx);
            }
            while let Some(ev) = self.engine.poll_event() {
                progressed = true;
                self.on_event(ev);
            }
            while let Some((op, result)) = self.engine.poll_txn_result() {
                progressed = true;
                self.trace_line(|| format!("txn result {op:?}: {result:?}"));
                self.txn_results.push(TxnResult {
                    at: self.now,
                    op,
                    result,
                });
            }
            while let Some(out) = self.cluster.poll(self.now) {
                progressed = true;
                self.on_cluster_output(out);
            }
            if !progressed {
                return;
            }
        }
        self.violation(format!(
            "outputs did not settle after {MAX_PUMP_ROUNDS} rounds at one instant"
        ));
    }

    /// The next instant something is scheduled: engine timer, response, connect.
    pub fn next_event_time(&self) -> Option<Instant> {
        [
            self.engine.poll_timeout(),
            self.cluster.next_due(),
            self.connecting.keys().next().map(|k| k.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One step: drain, then jump to the next scheduled instant and handle it. Returns false
    /// when nothing is scheduled, or when the engine's timer stayed in the past after
    /// `handle_timeout` (a violation is recorded).
    pub fn step(&mut self) -> bool {
        self.pump();
        let Some(next) = self.next_event_time() else {
            return false;
        };
        self.advance_to(next)
    }

    /// Steps until `pred` holds or `limit` of virtual time passes; true if `pred` held.
    pub fn run_until(&mut self, mut pred: impl FnMut(&Self) -> bool, limit: Duration) -> bool {
        let deadline = self.now + limit;
        let budget_end = self.steps + self.max_steps;
        loop {
            self.pump();
            if pred(self) {
                return true;
            }
            match self.next_event_time() {
                Some(t) if t <= deadline => {
                    if self.steps >= budget_end {
                        self.violation(format!(
                            "step budget of {} spent before the deadline",
                            self.max_steps
                        ));
                        return false;
                    }
                    if !self.advance_to(t) {
                        return pred(self);
                    }
                }
                _ => {
                    self.now = self.now.max(deadline);
                    self.pump();
                    return pred(self);
                }
            }
        }
    }

    /// Runs for `d` of virtual time, ending exactly at `now + d` (earlier only after a
    /// recorded violation).
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(|_| false, d);
    }

    /// Runs until the engine holds no records (all reported) or `limit` passes; true if idle.
    pub fn drive_until_idle(&mut self, limit: Duration) -> bool {
        self.run_until(|s| s.engine.in_flight_count() == 0, limit)
    }

    /// Panics with the violations, the fake's internal errors and the trace tail, if any.
    pub fn assert_healthy(&self) {
        if self.violations.is_empty() && self.cluster.internal_errors().is_empty() {
            return;
        }
        panic!(
            "simulation unhealthy at {:?}:\nviolations: {:#?}\nfake errors: {:#?}\ntrace tail:\n{}",
            self.now,
            self.violations,
            self.cluster.internal_errors(),
            self.trace_tail()
        );
    }

    /// The last trace lines (connects, requests, responses, timers, events).
    pub fn trace_tail(&self) -> String {
        self.trace
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The fake connection behind an engine connection.
    pub fn fake_conn(&self, conn: ConnId) -> Option<FakeConnId> {
        self.conns.get(&conn).copied()
    }

    /// Every record's outcome for `opaque`s equal to `o`.
    pub fn outcomes_of<'a>(&'a self, o: &'a O) -> impl Iterator<Item = &'a Delivered<O>>
    where
        O: PartialEq,
    {
        self.delivered.iter().filter(move |d| &d.opaque == o)
    }

    fn advance_to(&mut self, t: Instant) -> bool {
        self.steps += 1;
        if t > self.now {
            self.now = t;
        }
        if self.engine.poll_timeout().is_some_and(|x| x <= self.now) {
            self.trace_line(|| "timeout".to_owned());
            self.engine.handle_timeout(self.now);
            self.pump();
            if let Some(x) = self.engine.poll_timeout().filter(|&x| x <= self.now) {
                // Work due now must be done inside the inputs of now, not left to a timer
                // that is already due (a driver would spin on it).
                self.violation(format!(
                    "busy timer: after handle_timeout({:?}) and the inputs due then, \
                     poll_timeout() is {:?}",
                    self.now, x
                ));
                return false;
            }
        }
        self.pump();
        true
    }

    fn on_conn_command(&mut self, cmd: ConnCommand) {
        match cmd {
            ConnCommand::Connect { conn, address } => {
                self.trace_line(|| {
                    format!("connect {conn:?} -> {}:{}", address.host, address.port)
                });
                if self.conns.contains_key(&conn) {
                    self.violation(format!("Connect for {conn:?}, which is already connected"));
                    return;
                }
                if self.blackholed_hosts.contains(&address.host) {
                    self.trace_line(|| format!("connect {conn:?} black-holed"));
                    self.swallowed.push((conn, address));
                } else if self.connect_latency.is_zero() {
                    self.finish_connect(conn, &address);
                } else {
                    self.connect_seq += 1;
                    self.connecting.insert(
                        (self.now + self.connect_latency, self.connect_seq),
                        (conn, address),
                    );
                }
            }
            ConnCommand::Close { conn } => {
                self.trace_line(|| format!("close {conn:?}"));
                self.connecting.retain(|_, (c, _)| *c != conn);
                self.swallowed.retain(|(c, _)| *c != conn);
                if let Some(fc) = self.conns.remove(&conn) {
                    self.rev.remove(&fc);
                    self.cluster.close(fc);
                }
            }
        }
    }

    fn finish_connect(&mut self, conn: ConnId, address: &BrokerAddress) {
        match self.cluster.connect(self.now, &address.host, address.port) {
            Ok(fc) => {
                self.trace_line(|| format!("connected {conn:?} = {fc:?}"));
                self.conns.insert(conn, fc);
                self.rev.insert(fc, conn);
                self.engine.handle_connected(self.now, conn);
            }
            Err(e) => {
                self.trace_line(|| format!("connect {conn:?} failed: {e}"));
                self.engine.handle_disconnected(self.now, conn);
            }
        }
    }

    fn on_transmit(&mut self, tx: Transmit) {
        let Transmit { conn, frame } = tx;
        // The fake brokers parse whole frames: join the chunks (a copy only in simulation).
        let bytes = frame.to_bytes();
        let Some(&fc) = self.conns.get(&conn) else {
            self.violation(format!(
                "transmit of {} bytes on {conn:?}, which is not connected",
                bytes.len()
            ));
            return;
        };
        let mut rest: Bytes = bytes;
        while !rest.is_empty() {
            if rest.len() < 4 {
                self.violation(format!(
                    "{} stray bytes after a frame on {conn:?}",
                    rest.len()
                ));
                return;
            }
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let Some(len) = usize::try_from(len).ok().filter(|&l| l + 4 <= rest.len()) else {
                self.violation(format!(
                    "frame size prefix {len} but {} bytes follow on {conn:?}",
                    rest.len() - 4
                ));
                return;
            };
            let frame = rest.slice(4..4 + len);
            rest = rest.slice(4 + len..);
            let described = describe_request(&frame);
            let before = self.cluster.requests().len();
            // A write on a connection the broker just closed is lost; the pending
            // Disconnected output tells the engine.
            let sent = self.cluster.send(self.now, fc, frame).is_ok();
            let detail = match self.cluster.requests().get(before) {
                Some(r) if sent => describe_record(r),
                _ => " (lost: connection closed)".to_owned(),
            };
            self.trace_line(|| format!("tx {conn:?} {described}{detail}"));
        }
    }

    fn on_cluster_output(&mut self, out: FakeOutput) {
        match out {
            FakeOutput::Response { conn, frame } => {
                let Some(&c) = self.rev.get(&conn) else {
                    return;
                };
                self.trace_line(|| {
                    let cid = frame
                        .get(..4)
                        .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    format!("rx {c:?} corr {cid} ({} bytes)", frame.len())
                });
                self.engine.handle_response(self.now, c, frame);
            }
            FakeOutput::Disconnected { conn } => {
                let Some(c) = self.rev.remove(&conn) else {
                    return;
                };
                self.conns.remove(&c);
                self.trace_line(|| format!("broker closed {c:?}"));
                self.engine.handle_disconnected(self.now, c);
            }
        }
    }

    fn on_event(&mut self, ev: Event<O>) {
        match ev {
            Event::Delivery(mut report) => {
                let index = self.reports.len();
                let info = ReportInfo {
                    at: self.now,
                    topic: report.topic().to_owned(),
                    partition: report.partition(),
                    error: report.error(),
                    status: report.status(),
                    base_offset: report.base_offset(),
                    len: report.len(),
                    log_append_time: matches!(
                        report.timestamp_type(),
                        purekafka_core::engine::TimestampType::LogAppendTime
                    ),
                };
                let mut ids = Vec::new();
                for (r, opaque) in report.drain() {
                    ids.push(format!("{opaque:?}"));
                    self.delivered.push(Delivered {
                        at: self.now,
                        report: index,
                        topic: info.topic.clone(),
                        partition: info.partition,
                        error: info.error,
                        status: info.status,
                        offset: r.offset(),
                        timestamp: r.timestamp(),
                        key: r.key().map(<[u8]>::to_vec),
                        value: r.value().map(<[u8]>::to_vec),
                        headers: r
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_owned(), v.map(<[u8]>::to_vec)))
                            .collect(),
                        opaque,
                    });
                }
                self.trace_line(|| {
                    format!(
                        "report {}/{} n={} err={:?} status={:?} base={} records {}",
                        info.topic,
                        info.partition,
                        info.len,
                        info.error,
                        info.status,
                        info.base_offset,
                        if ids.len() <= 8 {
                            ids.join(",")
                        } else {
                            format!("{}..{} ({} records)", ids[0], ids[ids.len() - 1], ids.len())
                        }
                    )
                });
                self.reports.push(info);
            }
            Event::Error { code, reason } => {
                self.trace_line(|| format!("error event {code:?}: {reason}"));
                self.errors.push(ErrorEvent {
                    at: self.now,
                    code,
                    reason,
                });
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn violation(&mut self, what: String) {
        self.trace_line(|| format!("VIOLATION {what}"));
        self.violations.push(format!("at {:?}: {what}", self.now));
    }

    fn trace_line(&mut self, line: impl FnOnce() -> String) {
        while self.trace.len() >= self.trace_lines.max(1) {
            self.trace.pop_front();
        }
        let ms = self.now.as_nanos() as f64 / 1e6;
        self.trace.push_back(format!("{ms:>12.3}ms {}", line()));
    }
}

impl<O: core::fmt::Debug> Sim<O> {
    /// Starts a transactional operation with `start` (the engine call), then waits up to
    /// `limit` for its result. `Err` = refused at once; `Ok(None)` = accepted, no result yet
    /// (the op goes on, as after a driver's timeout); `Ok(Some(r))` = its result.
    pub fn txn_op(
        &mut self,
        op: TxnOp,
        limit: Duration,
        start: impl FnOnce(&mut Engine<O>, Instant) -> Result<(), TxnError>,
    ) -> Result<Option<Result<(), TxnError>>, TxnError> {
        let mark = self.txn_results.len();
        let r = start(&mut self.engine, self.now);
        self.trace_line(|| format!("txn call {op:?}: {r:?}"));
        r?;
        self.pump();
        let found = |s: &Self| s.txn_results[mark..].iter().any(|r| r.op == op);
        self.run_until(found, limit);
        Ok(self.txn_results[mark..]
            .iter()
            .find(|r| r.op == op)
            .map(|r| r.result.clone()))
    }

    /// `init_transactions`, waiting up to `limit` for the result.
    pub fn init_transactions(
        &mut self,
        limit: Duration,
    ) -> Result<Option<Result<(), TxnError>>, TxnError> {
        self.txn_op(TxnOp::Init, limit, |e, now| e.init_transactions(now))
    }

    /// `begin_transaction` (synchronous).
    pub fn begin_transaction(&mut self) -> Result<(), TxnError> {
        let r = self.engine.begin_transaction(self.now);
        self.trace_line(|| format!("txn call begin: {r:?}"));
        self.pump();
        r
    }

    /// `commit_transaction`, waiting up to `limit` for the result.
    pub fn commit_transaction(
        &mut self,
        limit: Duration,
    ) -> Result<Option<Result<(), TxnError>>, TxnError> {
        self.txn_op(TxnOp::Commit, limit, |e, now| e.commit_transaction(now))
    }

    /// `abort_transaction`, waiting up to `limit` for the result.
    pub fn abort_transaction(
        &mut self,
        limit: Duration,
    ) -> Result<Option<Result<(), TxnError>>, TxnError> {
        self.txn_op(TxnOp::Abort, limit, |e, now| e.abort_transaction(now))
    }

    /// `send_offsets_to_transaction`, waiting up to `limit` for the result.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: &[TxnOffset<'_>],
        group: &GroupMetadata,
        limit: Duration,
    ) -> Result<Option<Result<(), TxnError>>, TxnError> {
        self.txn_op(TxnOp::SendOffsets, limit, |e, now| {
            e.send_offsets_to_transaction(now, offsets, group)
        })
    }

    /// Runs until the fake cluster has no response or disconnect left to deliver (the
    /// coordinator's own timers may remain), so the cluster can be handed to another engine
    /// without losing this one's answers; true if it got there within `limit`.
    pub fn quiesce(&mut self, limit: Duration) -> bool {
        self.run_until(|s| s.cluster.pending_outputs() == 0, limit)
    }
}

fn same_headers(log: &[(String, Option<Bytes>)], reported: &[(String, Option<Vec<u8>>)]) -> bool {
    log.len() == reported.len()
        && log
            .iter()
            .zip(reported)
            .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.as_deref() == v2.as_deref())
}

/// What the fake made of a request: partitions, counts, outcome, fault.
fn describe_record(r: &crate::fake::RequestRecord) -> String {
    let mut out = String::new();
    if let Some(p) = &r.produce {
        let parts: Vec<String> = p
            .partitions
            .iter()
            .map(|p| {
                format!(
                    "{}/{} n={} err={} @{}",
                    p.topic, p.partition, p.record_count, p.error_code, p.base_offset
                )
            })
            .collect();
        out.push_str(&format!(" acks={} [{}]", p.acks, parts.join(", ")));
    }
    if let Some(f) = &r.fault {
        out.push_str(&format!(" FAULT {:?}", f.action));
    }
    if let Some(code) = r.answered {
        out.push_str(&format!(" -> {code}"));
    }
    if let Some(why) = &r.rejected {
        out.push_str(&format!(" REJECTED {why}"));
    }
    out
}

/// "Produce v13 corr 5" from a request frame (without its size prefix).
fn describe_request(frame: &[u8]) -> String {
    if frame.len() < 8 {
        return format!("{} bytes", frame.len());
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let cid = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let name = kafka_protocol::messages::ApiKey::try_from(key)
        .map_or_else(|()| format!("key{key}"), |k| format!("{k:?}"));
    format!("{name} v{version} corr {cid} ({} bytes)", frame.len())
}

impl<O: core::fmt::Debug> Sim<O> {
    /// Cross-checks every reported outcome with the fake's logs and returns the mismatches:
    /// - a success with an offset must find its record (same key, value, headers and
    ///   timestamp, CreateTime or LogAppendTime) at that offset of its partition's log;
    /// - a Persisted success without an offset must find its value somewhere in that log
    ///   (an `acks=0` success is PossiblyPersisted and may have been lost on the way);
    /// - a `NotPersisted` failure must not find its value in any partition of its topic.
    ///
    /// Values must be unique across the run for the last two checks to mean anything.
    pub fn check_against_log(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // Index every partition a report touches once: offset -> record, value -> offset.
        let mut logs: HashMap<(&str, i32), PartitionIndex> = HashMap::new();
        for d in &self.delivered {
            let partitions = match self.cluster.partition_count(&d.topic) {
                Some(n) if d.partition < 0 => (0..n).collect(),
                Some(_) => vec![d.partition],
                None => Vec::new(),
            };
            for p in partitions {
                logs.entry((d.topic.as_str(), p)).or_insert_with(|| {
                    match self.cluster.records(&d.topic, p) {
                        Ok(records) => PartitionIndex::new(records),
                        Err(e) => {
                            problems.push(format!("cannot read {}/{p}: {e}", d.topic));
                            PartitionIndex::new(Vec::new())
                        }
                    }
                });
            }
        }
        let empty = PartitionIndex::new(Vec::new());
        for d in &self.delivered {
            let value = d.value.as_deref();
            match (d.error, d.status) {
                (None, _) if d.offset >= 0 => match logs.get(&(d.topic.as_str(), d.partition)).unwrap_or(&empty).at(d.offset) {
                    Some(r)
                        if r.key.as_deref() == d.key.as_deref()
                            && r.value.as_deref() == value
                            && same_headers(&r.headers, &d.headers)
                            && (r.timestamp == d.timestamp) => {}
                    Some(r) => problems.push(format!(
                        "{:?} reported at {}/{}@{} (key {:?}, value {:?}, headers {:?}, ts {}) but the log \
                         holds key {:?} value {:?} headers {:?} ts {} there",
                        d.opaque, d.topic, d.partition, d.offset, d.key, d.value, d.headers, d.timestamp,
                        r.key, r.value, r.headers, r.timestamp
                    )),
                    None => problems.push(format!(
                        "{:?} reported at {}/{}@{} but that offset is not in the log",
                        d.opaque, d.topic, d.partition, d.offset
                    )),
                },
                // acks=0: fire and forget, nothing was acknowledged, so nothing to check.
                (None, PersistenceStatus::PossiblyPersisted) => {}
                (None, _) => {
                    if logs.get(&(d.topic.as_str(), d.partition)).unwrap_or(&empty).offset_of(value).is_none() {
                        problems.push(format!(
                            "{:?} reported delivered to {}/{} without offset but is not in the log",
                            d.opaque, d.topic, d.partition
                        ));
                    }
                }
                (Some(_), PersistenceStatus::NotPersisted) => {
                    let partitions = match self.cluster.partition_count(&d.topic) {
                        Some(n) if d.partition < 0 => (0..n).collect(),
                        Some(_) => vec![d.partition],
                        None => Vec::new(),
                    };
                    for p in partitions {
                        if let Some(offset) = logs.get(&(d.topic.as_str(), p)).unwrap_or(&empty).offset_of(value) {
                            problems.push(format!(
                                "{:?} reported {:?} NotPersisted but is in the log at {}/{p}@{offset}",
                                d.opaque, d.error, d.topic
                            ));
                        }
                    }
                }
                (Some(_), _) => {}
            }
        }
        problems
    }
}

/// One partition's log, indexed for [`Sim::check_against_log`].
struct PartitionIndex {
    records: Vec<crate::fake::LogRecord>,
    by_offset: HashMap<i64, usize>,
    by_value: HashMap<Option<Bytes>, i64>,
}

impl PartitionIndex {
    fn new(records: Vec<crate::fake::LogRecord>) -> Self {
        let mut by_offset = HashMap::new();
        let mut by_value = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            by_offset.insert(r.offset, i);
            by_value.entry(r.value.clone()).or_insert(r.offset);
        }
        Self {
            records,
            by_offset,
            by_value,
        }
    }

    fn at(&self, offset: i64) -> Option<&crate::fake::LogRecord> {
        self.by_offset
            .get(&offset)
            .and_then(|&i| self.records.get(i))
    }

    /// The first offset holding `value`.
    fn offset_of(&self, value: Option<&[u8]>) -> Option<i64> {
        self.by_value
            .get(&value.map(Bytes::copy_from_slice))
            .copied()
    }
}
