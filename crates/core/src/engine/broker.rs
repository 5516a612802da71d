//! Brokers, their connection, and the requests in flight on it.
//!
//! A connection goes `Connecting` → (`handle_connected`) ApiVersions exchange → `Ready`.
//! Only a `Ready` connection carries Metadata and Produce. Correlation ids are per
//! connection; responses are matched by id (Kafka answers in order, so the match is
//! normally the front entry). A response that matches nothing, or does not decode, is a
//! protocol error: the connection is closed and its requests fail with a transport error,
//! which the classification retries.

use std::collections::VecDeque;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, MetadataResponse, ProduceResponse};
use purekafka_protocol::frame::{decode_response, response_correlation_id};
use purekafka_protocol::kafka_protocol;
use purekafka_protocol::versions::{
    NegotiatedVersions, UNSUPPORTED_VERSION, api_versions_request_version,
    decode_api_versions_response,
};

use super::accumulator::Batch;
use super::backoff::backoff;
use super::stats::{BrokerCounters, BrokerWindows};
use super::timer::Timer;
use super::transaction::TxnApis;
use super::{ChunkedFrame, ConnCommand, ConnId, Engine, Event, PartKey, Transmit, request};
use crate::config::BrokerAddress;
use crate::error::ErrorCode;
use crate::time::Instant;

/// Where a connection is in its setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `Connect` issued, waiting for `handle_connected`.
    Connecting,
    /// ApiVersions sent at this version.
    ApiVersions,
    /// Versions negotiated.
    Ready,
}

/// What a request in flight was.
#[derive(Debug)]
pub(crate) enum ReqKind<O> {
    ApiVersions {
        version: i16,
    },
    Metadata {
        version: i16,
    },
    InitProducerId {
        version: i16,
    },
    /// `generation` identifies the lookup (a restarted lookup ignores older answers).
    FindCoordinator {
        version: i16,
        key_type: i8,
        generation: u64,
    },
    /// `generation` is the transaction generation: answers to an older one are outdated.
    AddPartitionsToTxn {
        version: i16,
        generation: u64,
        parts: Vec<PartKey>,
    },
    AddOffsetsToTxn {
        version: i16,
        generation: u64,
    },
    TxnOffsetCommit {
        version: i16,
        generation: u64,
    },
    EndTxn {
        version: i16,
        generation: u64,
        commit: bool,
    },
    /// The request owns its batches until the response, loss or purge decides them.
    Produce {
        version: i16,
        batches: Vec<(PartKey, Batch<O>)>,
    },
}

/// A request awaiting its response.
#[derive(Debug)]
pub(crate) struct InFlight<O> {
    pub(crate) corr: i32,
    pub(crate) kind: ReqKind<O>,
    /// The driver polled the frame (it may have reached the broker).
    pub(crate) sent: bool,
    /// When it times out (set when polled): `socket.timeout.ms` after sending, or earlier if
    /// a batch in it reaches `message.timeout.ms` first (librdkafka's
    /// `rd_kafka_buf_set_abs_timeout` with the first message's timeout).
    pub(crate) deadline: Instant,
    /// When the frame was written whole (librdkafka's `ts_sent`): the rtt's start. Set
    /// when the driver polls the frame and, with write feedback, again when the driver
    /// reports its last byte written.
    pub(crate) sent_at: Instant,
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn<O> {
    pub(crate) id: ConnId,
    pub(crate) phase: Phase,
    next_corr: i32,
    pub(crate) in_flight: VecDeque<InFlight<O>>,
    pub(crate) produce_version: i16,
    pub(crate) metadata_version: i16,
    /// InitProducerId version, if the broker speaks one we do.
    pub(crate) init_pid_version: Option<i16>,
    /// The transaction APIs the broker speaks.
    pub(crate) txn_apis: TxnApis,
    /// The request-timeout timer armed for this connection. One timer per connection,
    /// re-armed for the earliest deadline when it fires, keeps the heap O(connections).
    timeout_armed: Option<Instant>,
    /// Write feedback: the frames polled but not yet reported written, oldest first, and
    /// how much of the oldest was written already.
    pub(crate) unwritten: VecDeque<Unwritten>,
    unwritten_head_done: usize,
}

/// A frame the driver polled and has not yet reported written (write feedback).
#[derive(Debug)]
pub(crate) struct Unwritten {
    len: usize,
    /// The request's correlation id when a response is expected.
    corr: Option<i32>,
    /// When the frame was queued for the driver: the outbuf latency's start.
    queued_at: Instant,
}

/// A frame waiting for `poll_transmit`.
#[derive(Debug)]
pub(crate) struct Outgoing<O> {
    pub(crate) conn: ConnId,
    pub(crate) broker: usize,
    /// The request's correlation id when a response is expected.
    pub(crate) corr: Option<i32>,
    pub(crate) frame: ChunkedFrame,
    /// When the frame was queued here: the outbuf latency's start.
    pub(crate) queued_at: Instant,
    /// acks=0 batches: delivered (possibly persisted) once the frame is polled.
    pub(crate) acks0: Vec<(PartKey, Batch<O>)>,
}

/// A broker: a Metadata node or a bootstrap address.
#[derive(Debug)]
pub(crate) struct Broker<O> {
    pub(crate) node_id: i32,
    pub(crate) address: BrokerAddress,
    pub(crate) bootstrap: bool,
    pub(crate) conn: Option<Conn<O>>,
    reconnect_at: Option<Instant>,
    reconnect_attempts: u32,
    /// Partitions it leads that hold batches (possibly a few that just emptied).
    pub(crate) active: Vec<PartKey>,
    pub(crate) wants_send: bool,
    pub(crate) in_send_queue: bool,
    pub(crate) outbuf: usize,
    pub(crate) counters: BrokerCounters,
    /// Latency windows for the statistics, reset each interval.
    pub(crate) windows: BrokerWindows,
    /// KIP-219: the broker asked for no requests before this instant.
    pub(crate) throttled_until: Option<Instant>,
    /// The last connection error reported for this broker since it was last ready:
    /// repeats of the same error (a broker refusing every reconnect) are not reported
    /// again, as librdkafka suppresses them.
    last_error: Option<(ErrorCode, String)>,
}

impl<O> Broker<O> {
    pub(crate) fn new(node_id: i32, address: BrokerAddress, bootstrap: bool) -> Self {
        Self {
            node_id,
            address,
            bootstrap,
            conn: None,
            reconnect_at: None,
            reconnect_attempts: 0,
            active: Vec::new(),
            wants_send: false,
            in_send_queue: false,
            outbuf: 0,
            counters: BrokerCounters::default(),
            windows: BrokerWindows::default(),
            throttled_until: None,
            last_error: None,
        }
    }

    pub(crate) fn ready_conn(&self) -> Option<&Conn<O>> {
        self.conn.as_ref().filter(|c| c.phase == Phase::Ready)
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match &self.conn {
            None if self.reconnect_attempts == 0 => "INIT",
            None => "DOWN",
            Some(c) => match c.phase {
                Phase::Connecting => "CONNECT",
                Phase::ApiVersions => "APIVERSION_QUERY",
                Phase::Ready => "UP",
            },
        }
    }

    pub(crate) fn may_connect(&self, now: Instant) -> bool {
        self.conn.is_none() && self.reconnect_at.is_none_or(|t| t <= now)
    }
}

/// Metadata refresh state.
#[derive(Debug)]
pub(crate) struct MetaState {
    /// A refresh is wanted as soon as a connection can carry it.
    pub(crate) wanted: bool,
    /// `drive` must run after the current command (e.g. a new topic was interned).
    pub(crate) kick: bool,
    /// The refresh in flight: broker and correlation id.
    pub(crate) in_flight: Option<(usize, i32)>,
    /// The next scheduled refresh.
    pub(crate) next_due: Option<Instant>,
    bootstrap_cursor: usize,
}

impl MetaState {
    pub(crate) fn new(bootstrap_cursor: usize) -> Self {
        Self {
            wanted: false,
            kick: false,
            in_flight: None,
            next_due: None,
            bootstrap_cursor,
        }
    }
}

impl<O> Engine<O> {
    /// Asks the driver for a new connection to broker `b`.
    pub(crate) fn connect(&mut self, now: Instant, b: usize) {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let broker = &mut self.brokers[b];
        broker.conn = Some(Conn {
            id,
            phase: Phase::Connecting,
            next_corr: 1,
            in_flight: VecDeque::new(),
            produce_version: 3,
            metadata_version: 4,
            init_pid_version: None,
            txn_apis: TxnApis::default(),
            timeout_armed: None,
            unwritten: VecDeque::new(),
            unwritten_head_done: 0,
        });
        broker.reconnect_at = None;
        broker.counters.connects += 1;
        self.conn_to_broker.insert(id, b);
        self.conn_cmds.push_back(ConnCommand::Connect {
            conn: id,
            address: broker.address.clone(),
        });
        self.timers.arm(
            now + self.cfg.socket_connection_setup_timeout,
            Timer::ConnectSetup {
                broker: b,
                conn: id,
            },
        );
    }

    pub(crate) fn on_connected(&mut self, now: Instant, conn: ConnId) {
        let Some(&b) = self.conn_to_broker.get(&conn) else {
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        if c.phase != Phase::Connecting {
            return;
        }
        c.phase = Phase::ApiVersions;
        self.send_api_versions(now, b, api_versions_request_version());
    }

    fn send_api_versions(&mut self, now: Instant, b: usize, version: i16) {
        let client_id = self.cfg.client_id.clone();
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let corr = c.next_corr();
        match request::api_versions(version, corr, &client_id) {
            Ok(bytes) => {
                self.enqueue_request(now, b, corr, ReqKind::ApiVersions { version }, bytes)
            }
            Err(e) => self.fail_conn(now, b, ErrorCode::Fail, &e.to_string()),
        }
    }

    /// Registers a request in flight on `b`'s connection and queues its frame.
    pub(crate) fn enqueue_request(
        &mut self,
        now: Instant,
        b: usize,
        corr: i32,
        kind: ReqKind<O>,
        bytes: Bytes,
    ) {
        self.enqueue_frame(now, b, corr, kind, ChunkedFrame::single(bytes));
    }

    /// [`enqueue_request`](Self::enqueue_request) for a frame in chunks.
    pub(crate) fn enqueue_frame(
        &mut self,
        now: Instant,
        b: usize,
        corr: i32,
        kind: ReqKind<O>,
        frame: ChunkedFrame,
    ) {
        let broker = &mut self.brokers[b];
        let Some(c) = broker.conn.as_mut() else {
            return;
        };
        let conn = c.id;
        c.in_flight.push_back(InFlight {
            corr,
            kind,
            sent: false,
            deadline: Instant::ZERO,
            sent_at: Instant::ZERO,
        });
        broker.outbuf += 1;
        self.out.push_back(Outgoing {
            conn,
            broker: b,
            corr: Some(corr),
            frame,
            queued_at: now,
            acks0: Vec::new(),
        });
    }

    /// Write feedback: `bytes` more of `conn`'s frames reached the socket. A broker that
    /// was held back by the backpressure threshold is served again once below it; returns
    /// whether that happened.
    pub(crate) fn on_written(&mut self, now: Instant, conn: ConnId, mut bytes: usize) -> bool {
        let Some(&b) = self.conn_to_broker.get(&conn) else {
            return false;
        };
        let threshold = self.backpressure_threshold();
        let stats = self.stats_enabled();
        let broker = &mut self.brokers[b];
        let windows = &mut broker.windows;
        let Some(c) = broker.conn.as_mut().filter(|c| c.id == conn) else {
            return false;
        };
        let was_held = c.unwritten.len() >= threshold;
        while bytes > 0 {
            let Some(head) = c.unwritten.front() else {
                // More bytes than frames polled: a driver bug; nothing to account them to.
                break;
            };
            let left = head.len - c.unwritten_head_done;
            if bytes >= left {
                bytes -= left;
                // Written whole: librdkafka's outbuf latency ends and its rtt starts here,
                // not when the driver took the frame (a large one takes a while to write).
                if stats {
                    windows
                        .outbuf_latency
                        .record_micros(now.saturating_duration_since(head.queued_at));
                }
                if let Some(corr) = head.corr {
                    if let Some(r) = c.in_flight.iter_mut().find(|r| r.corr == corr) {
                        r.sent_at = now;
                    }
                }
                c.unwritten.pop_front();
                c.unwritten_head_done = 0;
            } else {
                c.unwritten_head_done += bytes;
                bytes = 0;
            }
        }
        let released =
            was_held && c.unwritten.len() < threshold && !self.brokers[b].active.is_empty();
        if released {
            self.broker_wants_send(b);
        }
        released
    }

    /// `queue.buffering.backpressure.threshold` (at least 1).
    pub(crate) fn backpressure_threshold(&self) -> usize {
        (self.cfg.queue_buffering_backpressure_threshold as usize).max(1)
    }

    /// Bookkeeping when the driver takes a frame.
    pub(crate) fn on_transmit_polled(&mut self, now: Instant, o: Outgoing<O>) -> Transmit {
        let len = o.frame.len() as u64;
        if self.write_feedback {
            if let Some(c) = self.brokers[o.broker]
                .conn
                .as_mut()
                .filter(|c| c.id == o.conn)
            {
                c.unwritten.push_back(Unwritten {
                    len: o.frame.len(),
                    corr: o.corr,
                    queued_at: o.queued_at,
                });
            }
        }
        self.counters.tx += 1;
        self.counters.tx_bytes += len;
        let broker = &mut self.brokers[o.broker];
        broker.outbuf = broker.outbuf.saturating_sub(1);
        // Without write feedback a polled frame counts as written: a broker held back by the
        // backpressure threshold builds its next request at the driver's next poll.
        if !self.write_feedback
            && broker.wants_send
            && broker.outbuf < (self.cfg.queue_buffering_backpressure_threshold as usize).max(1)
        {
            self.broker_wants_send(o.broker);
            if self.deferred_since.is_none() {
                self.deferred_since = Some(now);
            }
        }
        let stats = self.stats_enabled();
        let broker = &mut self.brokers[o.broker];
        broker.counters.tx += 1;
        broker.counters.tx_bytes += len;
        if stats && !self.write_feedback {
            broker
                .windows
                .outbuf_latency
                .record_micros(now.saturating_duration_since(o.queued_at));
        }
        if stats {
            for (_, batch) in &o.acks0 {
                record_int_latency(&mut broker.windows, batch, now);
            }
        }
        if let (Some(corr), Some(c)) = (o.corr, broker.conn.as_mut()) {
            if c.id == o.conn {
                if let Some(r) = c.in_flight.iter_mut().rev().find(|r| r.corr == corr) {
                    let mut deadline = now + self.cfg.socket_timeout;
                    if let ReqKind::Produce { batches, .. } = &r.kind {
                        for (_, b) in batches {
                            if let Some(t) = self.cfg.message_timeout {
                                deadline = deadline.min(b.first_enqueue + t);
                            }
                            if stats {
                                record_int_latency(&mut broker.windows, b, now);
                            }
                        }
                    }
                    r.sent = true;
                    r.deadline = deadline;
                    r.sent_at = now;
                    if c.timeout_armed.is_none_or(|a| a > deadline) {
                        c.timeout_armed = Some(deadline);
                        self.timers.arm(
                            deadline,
                            Timer::Request {
                                broker: o.broker,
                                conn: o.conn,
                            },
                        );
                    }
                }
            }
        }
        for (key, batch) in o.acks0 {
            self.inflight_done(key, batch.seq);
            self.deliver_batch(
                now,
                key,
                batch,
                -1,
                -1,
                crate::error::PersistenceStatus::PossiblyPersisted,
            );
        }
        Transmit {
            conn: o.conn,
            frame: o.frame,
        }
    }

    pub(crate) fn on_response(&mut self, now: Instant, conn: ConnId, frame: Bytes) {
        let Some(&b) = self.conn_to_broker.get(&conn) else {
            return;
        };
        let len = frame.len() as u64;
        self.counters.rx += 1;
        self.counters.rx_bytes += len;
        self.brokers[b].counters.rx += 1;
        self.brokers[b].counters.rx_bytes += len;
        let Ok(corr) = response_correlation_id(&frame) else {
            self.protocol_error(now, b, "response frame too short");
            return;
        };
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let Some(pos) = c.in_flight.iter().position(|r| r.corr == corr) else {
            self.protocol_error(now, b, "response for an unknown correlation id");
            return;
        };
        let Some(req) = c.in_flight.remove(pos) else {
            return;
        };
        if req.sent && self.stats_enabled() {
            self.brokers[b]
                .windows
                .rtt
                .record_micros(now.saturating_duration_since(req.sent_at));
        }
        match req.kind {
            ReqKind::ApiVersions { version } => self.on_api_versions(now, b, frame, version),
            ReqKind::InitProducerId { version } => self.on_init_producer_id(now, frame, version),
            // A transaction response that doesn't decode closes the connection like any
            // other (the handler has already scheduled the request's retry).
            ReqKind::FindCoordinator {
                version,
                key_type,
                generation,
            } => {
                if !self.on_find_coordinator(now, frame, version, key_type, generation) {
                    self.protocol_error(now, b, "undecodable FindCoordinator response");
                    return;
                }
            }
            ReqKind::AddPartitionsToTxn {
                version,
                generation,
                parts,
            } => {
                if !self.on_add_partitions(now, frame, version, generation, parts) {
                    self.protocol_error(now, b, "undecodable AddPartitionsToTxn response");
                    return;
                }
            }
            ReqKind::AddOffsetsToTxn {
                version,
                generation,
            } => {
                if !self.on_add_offsets(now, frame, version, generation) {
                    self.protocol_error(now, b, "undecodable AddOffsetsToTxn response");
                    return;
                }
            }
            ReqKind::TxnOffsetCommit {
                version,
                generation,
            } => {
                if !self.on_txn_offset_commit(now, frame, version, generation) {
                    self.protocol_error(now, b, "undecodable TxnOffsetCommit response");
                    return;
                }
            }
            ReqKind::EndTxn {
                version,
                generation,
                commit,
            } => {
                if !self.on_end_txn(now, frame, version, generation, commit) {
                    self.protocol_error(now, b, "undecodable EndTxn response");
                    return;
                }
            }
            ReqKind::Metadata { version } => {
                if self
                    .metadata
                    .in_flight
                    .is_some_and(|(mb, mc)| mb == b && mc == corr)
                {
                    self.metadata.in_flight = None;
                }
                match decode_response::<MetadataResponse>(frame, version) {
                    Ok((_, resp)) => self.on_metadata(now, resp),
                    Err(e) => {
                        self.metadata.wanted = true;
                        self.protocol_error(now, b, &e.to_string());
                        return;
                    }
                }
            }
            ReqKind::Produce { version, batches } => {
                match decode_response::<ProduceResponse>(frame, version) {
                    Ok((_, resp)) => {
                        self.on_produce_response(now, batches, &resp);
                        // librdkafka samples every Produce response's throttle, zeros included.
                        let ms = u64::try_from(resp.throttle_time_ms).unwrap_or(0);
                        if self.stats_enabled() {
                            self.brokers[b].windows.throttle.record(ms);
                        }
                        self.throttle(now, b, resp.throttle_time_ms);
                    }
                    Err(e) => {
                        for (key, batch) in batches {
                            self.inflight_done(key, batch.seq);
                            self.batch_failed(now, key, batch, ErrorCode::BadMessage, true);
                        }
                        self.protocol_error(now, b, &e.to_string());
                        return;
                    }
                }
            }
        }
        // A response frees an in-flight slot.
        if self.brokers[b].wants_send {
            self.broker_wants_send(b);
        }
    }

    fn on_api_versions(&mut self, now: Instant, b: usize, frame: Bytes, version: i16) {
        let (resp, decoded_at) = match decode_api_versions_response(frame, version) {
            Ok((_, resp, v)) => (resp, v),
            Err(e) => {
                self.protocol_error(now, b, &e.to_string());
                return;
            }
        };
        if resp.error_code == UNSUPPORTED_VERSION {
            // KIP-511: retry at the highest version both speak (the broker's range is in
            // the v0 answer), or at v0 if it sent none.
            let theirs = resp
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map_or(0, |k| k.max_version);
            if version == 0 {
                self.protocol_error(now, b, "broker rejects ApiVersions v0");
                return;
            }
            let next = theirs.clamp(0, version - 1);
            let _ = decoded_at;
            self.send_api_versions(now, b, next);
            return;
        }
        if resp.error_code != 0 {
            let code = ErrorCode::from_broker(resp.error_code);
            self.fail_conn(now, b, code, "ApiVersions failed");
            return;
        }
        let n = NegotiatedVersions::from_response(&resp);
        let (produce, metadata) = match (n.require(ApiKey::Produce), n.require(ApiKey::Metadata)) {
            (Ok(p), Ok(m)) => (p, m),
            (Err(e), _) | (_, Err(e)) => {
                self.events.push_back(Event::Error {
                    code: ErrorCode::UnsupportedFeature,
                    reason: format!("{}: {e}", self.broker_name(b)),
                });
                self.fail_conn(
                    now,
                    b,
                    ErrorCode::UnsupportedFeature,
                    "no usable api version",
                );
                return;
            }
        };
        let broker = &mut self.brokers[b];
        let Some(c) = broker.conn.as_mut() else {
            return;
        };
        c.phase = Phase::Ready;
        c.produce_version = produce;
        c.metadata_version = metadata;
        c.init_pid_version = n.version(ApiKey::InitProducerId);
        c.txn_apis = TxnApis::from_negotiated(&n);
        broker.reconnect_attempts = 0;
        broker.last_error = None;
        self.all_down_reported = false;
        if !broker.active.is_empty() || broker.wants_send {
            self.broker_wants_send(b);
        }
    }

    /// Sends a Metadata request if one is wanted and a connection can carry it; otherwise
    /// makes sure one is being set up.
    pub(crate) fn service_metadata(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.metadata.next_due.is_some_and(|t| t <= now) {
            self.metadata.next_due = None;
            self.metadata.wanted = true;
        }
        if !self.metadata.wanted || self.metadata.in_flight.is_some() {
            return;
        }
        // Prefer a ready cluster node, then a ready bootstrap address.
        let ready = (0..self.brokers.len())
            .filter(|&b| self.brokers[b].ready_conn().is_some())
            .min_by_key(|&b| {
                (
                    self.brokers[b].bootstrap,
                    self.brokers[b]
                        .conn
                        .as_ref()
                        .map_or(0, |c| c.in_flight.len()),
                )
            });
        if let Some(b) = ready {
            self.send_metadata(now, b);
            return;
        }
        if self.brokers.iter().any(|br| br.conn.is_some()) {
            return; // a connection is being set up; its readiness re-drives us
        }
        let n = self.brokers.len();
        if n == 0 {
            return;
        }
        // Known nodes first (round-robin from the cursor), then bootstrap addresses.
        let start = self.metadata.bootstrap_cursor;
        let pick = (0..n)
            .map(|i| (start + i) % n)
            .filter(|&b| self.brokers[b].may_connect(now))
            .min_by_key(|&b| self.brokers[b].bootstrap);
        if let Some(b) = pick {
            self.metadata.bootstrap_cursor = (b + 1) % n;
            self.connect(now, b);
        }
    }

    fn send_metadata(&mut self, now: Instant, b: usize) {
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        let version = c.metadata_version;
        let corr = c.next_corr();
        let client_id = self.cfg.client_id.clone();
        let auto = self.cfg.allow_auto_create_topics;
        match request::metadata(version, corr, &client_id, self.metadata_topics(), auto) {
            Ok(bytes) => {
                self.metadata.wanted = false;
                self.metadata.in_flight = Some((b, corr));
                self.enqueue_request(now, b, corr, ReqKind::Metadata { version }, bytes);
            }
            Err(e) => self.fail_conn(now, b, ErrorCode::Fail, &e.to_string()),
        }
    }

    pub(crate) fn on_disconnected(
        &mut self,
        now: Instant,
        conn: ConnId,
        code: ErrorCode,
        reason: &str,
    ) {
        let Some(&b) = self.conn_to_broker.get(&conn) else {
            return;
        };
        self.conn_lost(now, b, code, reason, None, false);
    }

    /// A malformed or unexpected response: close and fail the connection's requests.
    fn protocol_error(&mut self, now: Instant, b: usize, reason: &str) {
        self.brokers[b].counters.rxerrs += 1;
        self.fail_conn(now, b, ErrorCode::BrokerTransportFailure, reason);
    }

    /// Closes `b`'s connection because of an error, failing its requests with `code`.
    pub(crate) fn fail_conn(&mut self, now: Instant, b: usize, code: ErrorCode, reason: &str) {
        if let Some(c) = &self.brokers[b].conn {
            self.conn_cmds.push_back(ConnCommand::Close { conn: c.id });
        }
        self.conn_lost(now, b, code, reason, None, false);
    }

    /// Closes `b`'s connection on purpose (address change), retrying its requests quietly.
    pub(crate) fn close_conn_failing(&mut self, now: Instant, b: usize, code: ErrorCode) {
        if let Some(c) = &self.brokers[b].conn {
            self.conn_cmds.push_back(ConnCommand::Close { conn: c.id });
        }
        self.conn_lost(now, b, code, "address changed", None, true);
    }

    /// Closes an idle connection at shutdown.
    pub(crate) fn close_conn(&mut self, b: usize) {
        if let Some(c) = self.brokers[b].conn.take() {
            self.conn_to_broker.remove(&c.id);
            self.conn_cmds.push_back(ConnCommand::Close { conn: c.id });
        }
    }

    /// The request timer of `conn` fired: time out its sent request with the earliest
    /// deadline if that has passed, else re-arm for it.
    pub(crate) fn on_request_timer(&mut self, now: Instant, b: usize, conn: ConnId) {
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return;
        };
        if c.id != conn {
            return;
        }
        let Some(first) = c
            .in_flight
            .iter()
            .filter(|r| r.sent)
            .min_by_key(|r| r.deadline)
        else {
            c.timeout_armed = None;
            return;
        };
        let (deadline, corr) = (first.deadline, first.corr);
        if deadline > now {
            if c.timeout_armed.is_none_or(|a| a <= now || a > deadline) {
                c.timeout_armed = Some(deadline);
                self.timers
                    .arm(deadline, Timer::Request { broker: b, conn });
            }
            return;
        }
        self.brokers[b].counters.req_timeouts += 1;
        self.conn_cmds.push_back(ConnCommand::Close { conn });
        self.conn_lost(
            now,
            b,
            ErrorCode::BrokerTransportFailure,
            "request timed out",
            Some(corr),
            false,
        );
    }

    /// `socket.connection.setup.timeout.ms` passed for a connection attempt.
    pub(crate) fn on_connect_setup_timeout(&mut self, now: Instant, b: usize, conn: ConnId) {
        let Some(c) = self.brokers[b].conn.as_ref() else {
            return;
        };
        if c.id != conn || c.phase == Phase::Ready {
            return;
        }
        self.conn_cmds.push_back(ConnCommand::Close { conn });
        self.conn_lost(
            now,
            b,
            ErrorCode::BrokerTransportFailure,
            "connection setup timed out",
            None,
            false,
        );
    }

    /// Forgets `b`'s connection and decides the fate of everything that depended on it.
    fn conn_lost(
        &mut self,
        now: Instant,
        b: usize,
        code: ErrorCode,
        reason: &str,
        timed_out: Option<i32>,
        quiet: bool,
    ) {
        let Some(c) = self.brokers[b].conn.take() else {
            return;
        };
        self.conn_to_broker.remove(&c.id);
        let was_ready = c.phase == Phase::Ready;
        if was_ready && !quiet && !self.closed {
            // A lost connection may mean a moved leader (with acks=0 it's the only sign):
            // refresh, as the Java client does on every disconnect.
            self.metadata.wanted = true;
        }
        self.brokers[b].counters.disconnects += 1;
        let mut failed_requests = 0u64;
        for req in c.in_flight {
            match req.kind {
                ReqKind::Produce { batches, .. } => {
                    failed_requests += 1;
                    let req_code = if timed_out == Some(req.corr) {
                        ErrorCode::OperationTimedOut
                    } else {
                        code
                    };
                    for (key, batch) in batches {
                        self.inflight_done(key, batch.seq);
                        self.batch_failed(now, key, batch, req_code, req.sent);
                    }
                }
                ReqKind::Metadata { .. } => {
                    self.metadata.in_flight = None;
                    self.metadata.wanted = true;
                }
                ReqKind::InitProducerId { .. } => self.idem_request_lost(b),
                ReqKind::ApiVersions { .. } => {}
                kind => self.txn_request_lost(now, kind),
            }
        }
        self.txn_conn_lost(now, b);
        self.brokers[b].counters.txerrs += failed_requests;
        // Frames not yet polled for this connection will never be written.
        let conn = c.id;
        let mut i = 0;
        while i < self.out.len() {
            if self.out[i].conn == conn {
                if let Some(o) = self.out.remove(i) {
                    self.brokers[b].outbuf = self.brokers[b].outbuf.saturating_sub(1);
                    for (key, batch) in o.acks0 {
                        self.inflight_done(key, batch.seq);
                        self.batch_failed(now, key, batch, code, false);
                    }
                }
            } else {
                i += 1;
            }
        }
        let broker = &mut self.brokers[b];
        let delay = backoff(
            self.cfg.reconnect_backoff,
            self.cfg.reconnect_backoff_max,
            broker.reconnect_attempts,
            &mut self.rng,
        );
        broker.reconnect_attempts = broker.reconnect_attempts.saturating_add(1);
        let at = now + delay;
        broker.reconnect_at = Some(at);
        self.timers.arm(at, Timer::Reconnect(b));
        if !quiet
            && !self.closed
            && (was_ready || failed_requests > 0 || !self.brokers[b].bootstrap)
        {
            let repeat = !was_ready
                && failed_requests == 0
                && self.brokers[b]
                    .last_error
                    .as_ref()
                    .is_some_and(|(c, r)| *c == code && r == reason);
            if !repeat {
                self.brokers[b].last_error = Some((code, reason.to_owned()));
                self.events.push_back(Event::Error {
                    code,
                    reason: format!("{}: {reason}", self.broker_name(b)),
                });
            }
        }
        if !self.closed
            && !self.all_down_reported
            && self.brokers.iter().all(|br| br.conn.is_none())
        {
            self.all_down_reported = true;
            let n = self.brokers.len();
            self.events.push_back(Event::Error {
                code: ErrorCode::AllBrokersDown,
                reason: format!("{n}/{n} brokers are down"),
            });
        }
        if !self.brokers[b].active.is_empty() {
            self.brokers[b].wants_send = true;
        }
    }

    /// KIP-219: hold further produce requests to `b` for `ms` milliseconds.
    fn throttle(&mut self, now: Instant, b: usize, ms: i32) {
        let Ok(ms) = u64::try_from(ms) else { return };
        if ms == 0 {
            return;
        }
        let until = now + core::time::Duration::from_millis(ms);
        let broker = &mut self.brokers[b];
        if broker.throttled_until.is_none_or(|t| t < until) {
            broker.throttled_until = Some(until);
            self.timers.arm(until, Timer::Throttle(b));
        }
    }

    /// A broker's throttle time ended.
    pub(crate) fn on_throttle_end(&mut self, now: Instant, b: usize) {
        if self.brokers[b].throttled_until.is_some_and(|t| t <= now) {
            self.brokers[b].throttled_until = None;
            if self.brokers[b].wants_send {
                self.broker_wants_send(b);
            }
        }
    }

    /// The broker's reconnect backoff ended.
    pub(crate) fn on_reconnect_due(&mut self, b: usize) {
        if self.brokers[b].wants_send || !self.brokers[b].active.is_empty() {
            self.broker_wants_send(b);
        }
        self.metadata.kick = true;
    }

    /// librdkafka's broker name: `host:port/nodeid` or `host:port/bootstrap`.
    pub(crate) fn broker_name(&self, b: usize) -> String {
        let br = &self.brokers[b];
        if br.bootstrap {
            format!("{}:{}/bootstrap", br.address.host, br.address.port)
        } else {
            format!("{}:{}/{}", br.address.host, br.address.port, br.node_id)
        }
    }
}

impl<O> Conn<O> {
    pub(crate) fn next_corr(&mut self) -> i32 {
        let c = self.next_corr;
        // Wraps after 2^31 requests; ids only need to be unique among those in flight.
        self.next_corr = if c == i32::MAX { 1 } else { c + 1 };
        c
    }
}

/// librdkafka's `int_latency`: each record's wait from `send` to its batch going into a
/// request, sampled per record as librdkafka does, on the batch's first send only (a retry's
/// wait is backoff, not queueing).
fn record_int_latency<O>(windows: &mut BrokerWindows, batch: &Batch<O>, now: Instant) {
    if batch.attempts != 1 {
        return;
    }
    for meta in &batch.metas {
        windows
            .int_latency
            .record_micros(now.saturating_duration_since(meta.enqueued));
    }
}
