//! Draining partitions into ProduceRequests, and deciding each batch's fate.

use core::mem;

use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::{NodeEndpoint, PartitionProduceResponse};
use purekafka_protocol::kafka_protocol;

use super::accumulator::{Batch, seal_options};
use super::backoff::backoff;
use super::broker::{Outgoing, Phase, ReqKind};
use super::delivery::{DeliveryReport, TimestampType};
use super::idempotence::seq_add;
use super::request::{self, ProducePart};
use super::timer::Timer;
use super::transaction::TxnPart;
use super::{Engine, Event, PartKey};
use crate::config::Compression;
use crate::error::{
    ErrorCode, IdempotenceError, PersistenceStatus, ProduceErrorClass, ProduceErrorContext,
    classify_produce_error,
};
use crate::time::Instant;

impl<O> Engine<O> {
    /// Sends as many ProduceRequests to broker `b` as readiness and `max.in.flight` allow,
    /// connecting first if needed.
    pub(crate) fn serve_broker(&mut self, now: Instant, b: usize) {
        loop {
            let broker = &self.brokers[b];
            let Some(c) = broker.conn.as_ref() else {
                if !self.closed && broker.may_connect(now) {
                    self.connect(now, b);
                }
                return;
            };
            if c.phase != Phase::Ready || broker.throttled_until.is_some_and(|t| t > now) {
                return;
            }
            if self.cfg.acks != 0 && c.in_flight.len() >= self.cfg.max_in_flight.max(1) {
                return;
            }
            // queue.buffering.backpressure.threshold: no new request while that many are
            // still unwritten (with write feedback) or unpolled; `on_written` serves the
            // broker again. Records meanwhile keep filling batches.
            let threshold = self.backpressure_threshold();
            if c.unwritten.len() + broker.outbuf >= threshold {
                return;
            }
            // Nor, unless a batch is closed (full, compressing, or a retry: it cannot grow),
            // while that many wait at the broker behind the request it is working on: a Kafka
            // broker takes up one request per connection at a time (it mutes the connection
            // until it has answered), so a written request is not transmitted in any useful
            // sense until those before it are answered. Counting only unwritten ones let
            // linger.ms=0 fill the socket buffers with tiny requests (p99 0.36-0.65 s at
            // 0.77 M msgs/s to a real broker). Responses serve the broker again.
            let queued_at_broker = c.in_flight.len().saturating_sub(1);
            if !self.build_produce(now, b, queued_at_broker >= threshold) {
                return;
            }
        }
    }

    /// Builds one ProduceRequest from `b`'s active partitions if any of them is ready; with
    /// `closed_only`, only if one has a closed batch (open ones may ride along).
    fn build_produce(&mut self, now: Instant, b: usize, closed_only: bool) -> bool {
        if !self.idem_allows_produce() {
            // Sent once the producer id is assigned (which kicks every broker).
            return false;
        }
        let idem = self.idem.as_ref().map(|i| (i.pid, i.epoch));
        let transactional = self.txn.is_some();
        let txn_gate = self.txn_drain_gate();
        let linger = self.cfg.linger;
        let flushing = self.flushing;
        let mut active = mem::take(&mut self.brokers[b].active);
        let mut chosen: Vec<PartKey> = Vec::with_capacity(active.len());
        let mut any_ready = false;
        // A ready open batch waits for `closed_only` to lift.
        let mut held = false;
        let mut i = 0;
        while i < active.len() {
            let key = active[i];
            let part = self.part_mut(key);
            if part.q.is_empty() || part.leader != Some(b) {
                if part.leader == Some(b) {
                    part.in_active = false;
                }
                active.swap_remove(i);
                continue;
            }
            i += 1;
            // After a leader change, wait for the batches still in flight to the old leader:
            // sending to the new one now could overtake them (and with max.in.flight=1 the
            // application asked for order).
            if part.q.in_backoff(now)
                || (part.q.in_flight > 0 && part.q.in_flight_broker != Some(b))
                || (idem.is_some() && part.q.in_flight >= part.q.idem_inflight_limit())
            {
                continue;
            }
            // Transactions: a partition's batches wait until it is in the transaction
            // (AddPartitionsToTxn answered, TV1) and while no commit/abort forbids sending.
            if txn_gate.is_some_and(|may| !may || part.txn != TxnPart::Added) {
                continue;
            }
            let ready = part.q.head_ready(now, linger, flushing);
            if closed_only && !part.q.has_closed() {
                held |= ready;
            } else {
                any_ready |= ready;
            }
            chosen.push(key);
        }
        if !any_ready {
            self.brokers[b].active = active;
            self.brokers[b].wants_send = held;
            return false;
        }
        let max_bytes = self.cfg.message_max_bytes;
        let compression = self.cfg.compression;
        let level = self.cfg.compression_level;
        let mut still_ready = false;
        let mut size = 0usize;
        let mut parts: Vec<(PartKey, Batch<O>)> = Vec::with_capacity(chosen.len());
        let mut seal_failed = Vec::new();
        // Compression offload: a batch goes out only once the caller compressed it.
        let offload = self.compress_offload && compression != Compression::None;
        let mut to_compress = Vec::new();
        let stats = self.stats_enabled();
        for key in chosen {
            let part = self.part_mut(key);
            // An open batch that `closed_only` holds back: it may ride along, but is not
            // closed for compression.
            let held_open = closed_only && !part.q.has_closed();
            let Some(head) = part.q.head() else { continue };
            if offload && head.sealed.is_none() && head.compressed.is_none() {
                // Only a ready batch is closed for compression: a lingering one riding along
                // would be cut short.
                if !head.compressing && !held_open && part.q.head_ready(now, linger, flushing) {
                    to_compress.push(key);
                }
                continue;
            }
            if !parts.is_empty() && size + head.wire_size() > max_bytes {
                still_ready = true;
                continue;
            }
            let Some(mut batch) = part.q.take_head() else {
                continue;
            };
            // (bytes, records) of a batch put in a request for the first time.
            let mut first_seal = None;
            if batch.sealed.is_none() {
                // Sequence numbers (idempotence) are stamped here, at drain time, in creation
                // order; a retry keeps its sealed bytes and so its sequence.
                let stamp = idem.map(|(pid, epoch)| (pid, epoch, part.q.producer_seq));
                let opts = seal_options(compression, level, stamp, transactional);
                let sealed = match batch.compressed.take() {
                    Some(c) => batch.records.seal_compressed(c, &opts),
                    None => batch.records.seal(&opts),
                };
                match sealed {
                    Ok(bytes) => {
                        // An epoch bump re-seals a batch already sent: counted once.
                        if batch.attempts == 0 {
                            first_seal = Some((bytes.len(), batch.record_count()));
                        }
                        batch.sealed = Some(bytes);
                        if stamp.is_some() {
                            let n = u32::try_from(batch.record_count()).unwrap_or(u32::MAX);
                            part.q.producer_seq = seq_add(part.q.producer_seq, n);
                        }
                    }
                    Err(_) => {
                        seal_failed.push((key, batch));
                        if part.q.head_ready(now, linger, flushing) {
                            still_ready = true;
                        }
                        continue;
                    }
                }
            }
            if idem.is_some() {
                part.q.inflight_seqs.push(batch.seq);
            }
            batch.attempts += 1;
            part.q.in_flight += 1;
            part.q.in_flight_broker = Some(b);
            if part.q.head_ready(now, linger, flushing) {
                still_ready = true;
            }
            size += batch.wire_size();
            parts.push((key, batch));
            if let Some((bytes, records)) = first_seal.filter(|_| stats) {
                let windows = &mut self.topics[key.topic.0 as usize].windows;
                windows.batchsize.record(bytes as u64);
                windows.batchcnt.record(records as u64);
            }
        }
        self.brokers[b].active = active;
        // A held open batch (compressed ones do not ride along) is served again once a
        // response lifts `closed_only`.
        self.brokers[b].wants_send = still_ready || held;
        for key in to_compress {
            self.request_compression(now, key);
        }
        // Each failed seal consumed a batch, so asking to be called again terminates.
        let retry_now = !seal_failed.is_empty() && still_ready;
        for (key, batch) in seal_failed {
            self.fail_batch(
                now,
                key,
                batch,
                ErrorCode::BadCompression,
                PersistenceStatus::NotPersisted,
            );
        }
        if parts.is_empty() {
            return retry_now;
        }
        // Group by topic for the request's topic_data.
        parts.sort_by_key(|(k, _)| k.topic);
        let Some(negotiated) = self.brokers[b].conn.as_ref().map(|c| c.produce_version) else {
            return false;
        };
        let version = self.txn_produce_version(negotiated);
        let Some(c) = self.brokers[b].conn.as_mut() else {
            return false;
        };
        let corr = c.next_corr();
        let encoded = {
            let pp: Vec<ProducePart<'_>> = parts
                .iter()
                .map(|(k, batch)| ProducePart {
                    topic: &self.topics[k.topic.0 as usize].name,
                    partition: k.partition as i32,
                    records: batch.sealed.clone().unwrap_or_default(),
                })
                .collect();
            let timeout_ms =
                i32::try_from(self.cfg.request_timeout.as_millis()).unwrap_or(i32::MAX);
            request::produce(
                version,
                corr,
                &self.cfg.client_id,
                self.txn.as_ref().map(|t| t.id()),
                self.cfg.acks,
                timeout_ms,
                &pp,
            )
        };
        let frame = match encoded {
            Ok(frame) => frame,
            Err(e) => {
                self.events.push_back(Event::Error {
                    code: ErrorCode::Fail,
                    reason: format!("encoding ProduceRequest: {e}"),
                });
                for (key, batch) in parts {
                    self.inflight_done(key, batch.seq);
                    self.fail_batch(
                        now,
                        key,
                        batch,
                        ErrorCode::Fail,
                        PersistenceStatus::NotPersisted,
                    );
                }
                return false;
            }
        };
        if transactional {
            self.txn_produced();
        }
        let broker = &mut self.brokers[b];
        broker.counters.produce_requests += 1;
        broker.counters.produce_batches += parts.len() as u64;
        if self.cfg.acks == 0 {
            let Some(c) = broker.conn.as_ref() else {
                return false;
            };
            let conn = c.id;
            broker.outbuf += 1;
            self.out.push_back(Outgoing {
                conn,
                broker: b,
                corr: None,
                frame,
                queued_at: now,
                acks0: parts,
            });
        } else {
            self.enqueue_frame(
                now,
                b,
                corr,
                ReqKind::Produce {
                    version,
                    batches: parts,
                },
                frame,
            );
        }
        true
    }

    /// Settles every batch of a decoded ProduceResponse.
    pub(crate) fn on_produce_response(
        &mut self,
        now: Instant,
        batches: Vec<(PartKey, Batch<O>)>,
        resp: &ProduceResponse,
    ) {
        // Responses normally list partitions in request order: try the next position first.
        let mut hint = (0usize, 0usize);
        for (key, batch) in batches {
            self.inflight_done(key, batch.seq);
            let name = &self.topics[key.topic.0 as usize].name;
            let found = find_partition(resp, name, key.partition as i32, &mut hint);
            match found {
                Some(pr) if pr.error_code == 0 => {
                    let (base, lat) = (pr.base_offset, pr.log_append_time_ms);
                    self.deliver_batch(now, key, batch, base, lat, PersistenceStatus::Persisted);
                }
                Some(pr) => {
                    let code = ErrorCode::from_broker(pr.error_code);
                    let hint = (
                        pr.current_leader.leader_id.0,
                        pr.current_leader.leader_epoch,
                    );
                    self.batch_failed(now, key, batch, code, true);
                    if matches!(
                        code,
                        ErrorCode::NotLeaderForPartition | ErrorCode::FencedLeaderEpoch
                    ) {
                        self.apply_leader_hint(key, hint, &resp.node_endpoints);
                    }
                }
                None => {
                    // The broker answered without this partition: it may or may not have
                    // written it; treat it like a lost connection.
                    self.batch_failed(now, key, batch, ErrorCode::BrokerTransportFailure, true);
                }
            }
        }
    }

    /// One of the partition's batches left flight (answered, failed or purged).
    pub(crate) fn inflight_done(&mut self, key: PartKey, batch_seq: u64) {
        let part = self.part_mut(key);
        debug_assert!(part.q.in_flight > 0);
        part.q.in_flight = part.q.in_flight.saturating_sub(1);
        if let Some(i) = part.q.inflight_seqs.iter().position(|&s| s == batch_seq) {
            part.q.inflight_seqs.swap_remove(i);
        }
        let mut wake = false;
        if part.q.in_flight == 0 {
            // After a leader change the partition waited for this (see `build_produce`).
            wake = part.q.in_flight_broker.take() != part.leader;
        }
        // The idempotent producer caps batches in flight per partition: a slot freed up.
        wake |= self.idem.is_some();
        if wake && !self.part(key).q.is_empty() {
            self.mark_ready(key);
        }
    }

    /// A batch failed with `code`: retry it or report it, as the classification says.
    pub(crate) fn batch_failed(
        &mut self,
        now: Instant,
        key: PartKey,
        mut batch: Batch<O>,
        code: ErrorCode,
        sent: bool,
    ) {
        let ctx = ProduceErrorContext {
            idempotent: self.idem.is_some(),
            request_sent: sent,
        };
        let action = classify_produce_error(code, ctx);
        if action.status >= PersistenceStatus::PossiblyPersisted {
            batch.possibly_persisted = true;
        }
        batch.last_error = Some(action.report_code);
        if self.idem_fatal_code().is_some() {
            // Nothing is sent after a fatal idempotence error: don't queue a retry.
            let status = action.status.max(if batch.possibly_persisted {
                PersistenceStatus::PossiblyPersisted
            } else {
                PersistenceStatus::NotPersisted
            });
            self.fail_batch(now, key, batch, ErrorCode::Fatal, status);
            return;
        }
        if let ProduceErrorClass::Idempotence(kind) = action.class {
            self.idempotence_error(now, key, batch, kind, action.report_code);
            return;
        }
        if action.refresh_metadata {
            self.metadata.wanted = true;
            self.metadata.kick = true;
            // Stale leadership: stop sending to the old leader until Metadata says more.
            let stale_leader = !matches!(
                code,
                ErrorCode::BrokerTransportFailure | ErrorCode::KafkaStorageError
            );
            if stale_leader {
                self.set_leader(key, None, -1);
            }
        }
        let expired = self
            .cfg
            .message_timeout
            .is_some_and(|t| batch.first_enqueue + t <= now);
        let retries_left =
            !action.counts_as_retry || batch.retries < self.cfg.message_send_max_retries;
        if action.is_retry() && !expired && retries_left && !self.closed {
            if action.counts_as_retry {
                batch.retries += 1;
            }
            self.retry_batch(now, key, batch);
            return;
        }
        let report_code = if expired && action.is_retry() {
            ErrorCode::MessageTimedOut
        } else {
            action.report_code
        };
        let floor = if batch.possibly_persisted {
            PersistenceStatus::PossiblyPersisted
        } else {
            PersistenceStatus::NotPersisted
        };
        self.fail_batch(now, key, batch, report_code, action.status.max(floor));
        if self.txn.is_some() && !action.is_retry() {
            // librdkafka: any permanent produce failure leaves the transaction incomplete.
            let reason = format!(
                "ProduceRequest for {} [{}] failed: {report_code}: current transaction must be aborted",
                self.topics[key.topic.0 as usize].name, key.partition
            );
            self.txn_abortable(now, report_code, &reason, false);
        }
    }

    /// The idempotent producer's own errors (see the `idempotence` module).
    fn idempotence_error(
        &mut self,
        now: Instant,
        key: PartKey,
        batch: Batch<O>,
        kind: IdempotenceError,
        code: ErrorCode,
    ) {
        // Behind a known gap (a bump is pending) nothing is at the head of the line yet.
        let head = self.is_head_of_line(key, batch.seq) && !self.idem_bump_pending();
        if self.txn.is_some() {
            self.txn_idempotence_error(now, key, batch, kind, code, head);
            return;
        }
        match kind {
            IdempotenceError::DuplicateSequence => {
                self.deliver_batch(now, key, batch, -1, -1, PersistenceStatus::Persisted);
            }
            IdempotenceError::OutOfOrderSequence if !head => self.retry_batch(now, key, batch),
            // At the head of the line the broker expects another sequence than ours (its
            // state moved on without this batch, e.g. a later batch was written first). Without
            // the gapless guarantee librdkafka drains and bumps the epoch; this attempt was
            // rejected, so resending it under the new epoch can't duplicate it.
            IdempotenceError::OutOfOrderSequence if !self.cfg.enable_gapless_guarantee => {
                self.idem_bump(now, code, "out of order sequence at the head of the line");
                let mut batch = batch;
                batch.sealed = None;
                self.retry_batch(now, key, batch);
            }
            IdempotenceError::UnknownProducerId if head && batch.attempts == 1 => {
                self.idem_bump(now, code, "unknown producer id");
                // Re-stamped with the new epoch when drained again.
                let mut batch = batch;
                batch.sealed = None;
                self.retry_batch(now, key, batch);
            }
            IdempotenceError::InvalidProducerEpoch => {
                self.fail_batch(now, key, batch, code, PersistenceStatus::NotPersisted);
                self.idem_bump(now, code, "invalid producer epoch");
            }
            IdempotenceError::OutOfOrderSequence | IdempotenceError::UnknownProducerId => {
                let status = if batch.possibly_persisted {
                    PersistenceStatus::PossiblyPersisted
                } else {
                    PersistenceStatus::NotPersisted
                };
                self.fail_batch(now, key, batch, code, status);
                self.idem_fatal(now, code, "sequence state lost at the head of the line");
            }
        }
    }

    /// The idempotence errors of a transactional producer: every sequence problem fails the
    /// transaction abortably with an epoch bump on abort (KIP-360), as librdkafka and the
    /// Java client do; see the `transaction` module doc for INVALID_PRODUCER_EPOCH.
    fn txn_idempotence_error(
        &mut self,
        now: Instant,
        key: PartKey,
        batch: Batch<O>,
        kind: IdempotenceError,
        code: ErrorCode,
        head: bool,
    ) {
        let status = if batch.possibly_persisted {
            PersistenceStatus::PossiblyPersisted
        } else {
            PersistenceStatus::NotPersisted
        };
        let name = format!(
            "{} [{}]",
            self.topics[key.topic.0 as usize].name, key.partition
        );
        match kind {
            IdempotenceError::DuplicateSequence => {
                self.deliver_batch(now, key, batch, -1, -1, PersistenceStatus::Persisted);
            }
            // An earlier batch's failure caused this one: it is resent (or purged by the
            // abort that the earlier failure requires).
            IdempotenceError::OutOfOrderSequence if !head => self.retry_batch(now, key, batch),
            IdempotenceError::InvalidProducerEpoch if !self.txn_is_tv2() => {
                self.fail_batch(now, key, batch, code, PersistenceStatus::NotPersisted);
                let reason = format!(
                    "ProduceRequest for {name} failed: {code}: transactional producer fenced by newer producer instance"
                );
                self.txn_fatal(now, ErrorCode::Fenced, &reason);
            }
            IdempotenceError::InvalidProducerEpoch
            | IdempotenceError::OutOfOrderSequence
            | IdempotenceError::UnknownProducerId => {
                self.fail_batch(
                    now,
                    key,
                    batch,
                    code,
                    status.min(PersistenceStatus::PossiblyPersisted),
                );
                let reason = format!(
                    "ProduceRequest for {name} failed: {code}: current transaction must be aborted"
                );
                self.txn_abortable(now, code, &reason, true);
            }
        }
    }

    /// Puts a failed batch back at its position, behind a backoff.
    fn retry_batch(&mut self, now: Instant, key: PartKey, batch: Batch<O>) {
        if self.txn_blocks_retry() {
            // The transaction must be aborted: nothing more of it is sent.
            let status = if batch.possibly_persisted {
                PersistenceStatus::PossiblyPersisted
            } else {
                PersistenceStatus::NotPersisted
            };
            self.fail_batch(now, key, batch, ErrorCode::PurgeQueue, status);
            return;
        }
        let attempt = batch.attempts.saturating_sub(1);
        let delay = backoff(
            self.cfg.retry_backoff,
            self.cfg.retry_backoff_max,
            attempt,
            &mut self.rng,
        );
        let until = now + delay;
        let first_enqueue = batch.first_enqueue;
        let msg_timeout = self.cfg.message_timeout;
        if let Some(b) = self.part(key).leader {
            self.brokers[b].counters.txretries += 1;
        }
        let part = self.part_mut(key);
        part.q.reinsert(batch);
        let until = part.q.backoff_until.map_or(until, |u| u.max(until));
        part.q.backoff_until = Some(until);
        let mut arm_expiry = None;
        if let Some(t) = msg_timeout {
            let at = first_enqueue + t;
            if part.q.expiry_armed.is_none_or(|e| e > at) {
                part.q.expiry_armed = Some(at);
                arm_expiry = Some(at);
            }
        }
        self.timers.arm(until, Timer::Backoff(key));
        if let Some(at) = arm_expiry {
            self.timers.arm(at, Timer::Expiry(key));
        }
        self.ensure_active(key);
    }

    /// Emits a failure report for a batch.
    pub(crate) fn fail_batch(
        &mut self,
        now: Instant,
        key: PartKey,
        batch: Batch<O>,
        code: ErrorCode,
        status: PersistenceStatus,
    ) {
        self.part_mut(key).counters.failed_batches += 1;
        self.txn_records_failed(batch.record_count());
        if self.idem.is_some() && batch.sealed.is_some() && code != ErrorCode::Fatal {
            // A stamped batch that leaves unwritten opens a sequence gap.
            self.idem_bump(now, code, code.name());
        }
        self.emit_report(now, key, batch, Some(code), status, -1, -1);
    }

    /// Emits a success report for a batch.
    pub(crate) fn deliver_batch(
        &mut self,
        now: Instant,
        key: PartKey,
        batch: Batch<O>,
        base_offset: i64,
        log_append_time_ms: i64,
        status: PersistenceStatus,
    ) {
        let n = batch.record_count() as u64;
        let bytes = batch.accounted_bytes as u64;
        if self.txn.is_some() {
            self.txn_batch_acked();
        }
        let part = self.part_mut(key);
        part.q.idem_acked = true;
        part.counters.txmsgs += n;
        part.counters.txbytes += bytes;
        self.counters.txmsgs += n;
        self.counters.txmsg_bytes += bytes;
        self.emit_report(
            now,
            key,
            batch,
            None,
            status,
            base_offset,
            log_append_time_ms,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_report(
        &mut self,
        now: Instant,
        key: PartKey,
        batch: Batch<O>,
        error: Option<ErrorCode>,
        status: PersistenceStatus,
        base_offset: i64,
        log_append_time_ms: i64,
    ) {
        if error.is_none() && self.cfg.delivery_report_only_error {
            self.release_records(batch.record_count(), batch.accounted_bytes);
            return;
        }
        let report = DeliveryReport {
            topic: self.topics[key.topic.0 as usize].name.clone(),
            partition: key.partition as i32,
            error,
            status,
            base_offset,
            timestamp_type: if log_append_time_ms >= 0 {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            log_append_time_ms,
            records: batch.records,
            metas: batch.metas,
            completed: now,
            accounted_bytes: batch.accounted_bytes,
        };
        self.events.push_back(Event::Delivery(report));
    }

    /// Fires every timer due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if let Some(due) = self.stats_due {
            if due <= now {
                let snap = self.take_snapshot(now);
                self.events.push_back(Event::Stats(Box::new(snap)));
                self.stats_due = Some(now + self.cfg.statistics_interval);
            }
        }
        if self.metadata.next_due.is_some_and(|t| t <= now) {
            self.metadata.next_due = None;
            self.metadata.wanted = true;
        }
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::Linger(key) => {
                    let linger = self.cfg.linger;
                    match self
                        .part(key)
                        .q
                        .open
                        .as_ref()
                        .map(|b| b.first_enqueue + linger)
                    {
                        Some(due) if due <= now => self.mark_ready(key),
                        // The batch this timer was armed for left early (piggybacked or cut)
                        // and a newer open batch is not due yet: follow it, so that an open
                        // batch always has a linger timer.
                        Some(due) => self.timers.arm(due, Timer::Linger(key)),
                        None => {}
                    }
                }
                Timer::Backoff(key) => {
                    let part = self.part_mut(key);
                    if part.q.backoff_until.is_some_and(|u| u <= now) {
                        part.q.backoff_until = None;
                        if !part.q.is_empty() {
                            self.mark_ready(key);
                        }
                    }
                }
                Timer::Expiry(key) => self.on_expiry(now, key),
                Timer::PendingExpiry(tid) => self.on_pending_expiry(now, tid),
                Timer::Request { broker, conn } => self.on_request_timer(now, broker, conn),
                Timer::ConnectSetup { broker, conn } => {
                    self.on_connect_setup_timeout(now, broker, conn);
                }
                Timer::Reconnect(b) => self.on_reconnect_due(b),
                Timer::Throttle(b) => self.on_throttle_end(now, b),
                Timer::IdemRetry => self.on_idem_retry(now),
                // Nothing to do here: the `drive` after every timeout sends what is due.
                Timer::Txn => {}
            }
        }
    }

    /// Fails the partition's queued batches that reached `message.timeout.ms`, and re-arms.
    fn on_expiry(&mut self, now: Instant, key: PartKey) {
        let Some(t) = self.cfg.message_timeout else {
            return;
        };
        let part = self.part_mut(key);
        if part.q.expiry_armed.is_some_and(|a| a > now) {
            return; // a moot entry: an earlier or later arming supersedes it
        }
        part.q.expiry_armed = None;
        let expired = part.q.take_expired(now, t);
        let next = part.q.head().map(|b| b.first_enqueue + t);
        if let Some(at) = next {
            part.q.expiry_armed = Some(at);
            self.timers.arm(at, Timer::Expiry(key));
        }
        for batch in expired {
            let status = if batch.possibly_persisted {
                PersistenceStatus::PossiblyPersisted
            } else {
                PersistenceStatus::NotPersisted
            };
            self.fail_batch(now, key, batch, ErrorCode::MessageTimedOut, status);
        }
    }

    /// Fails every record not yet in a request with `PurgeQueue`.
    pub(crate) fn purge_queue(&mut self, now: Instant) {
        for t in 0..self.topics.len() {
            let tid = super::TopicId(t as u32);
            if !self.topics[t].pending_is_empty() {
                self.fail_all_pending(now, tid, ErrorCode::PurgeQueue);
            }
            for p in 0..self.topics[t].partitions.len() {
                let key = PartKey {
                    topic: tid,
                    partition: p as u32,
                };
                let batches = self.part_mut(key).q.take_all();
                for batch in batches {
                    let status = if batch.possibly_persisted {
                        PersistenceStatus::PossiblyPersisted
                    } else {
                        PersistenceStatus::NotPersisted
                    };
                    self.fail_batch(now, key, batch, ErrorCode::PurgeQueue, status);
                }
            }
        }
    }

    /// Fails every record in a request awaiting its response with `PurgeInflight`; the
    /// requests stay registered so their responses are recognised and ignored.
    pub(crate) fn purge_inflight(&mut self, now: Instant) {
        let mut purged = Vec::new();
        for broker in &mut self.brokers {
            if let Some(c) = broker.conn.as_mut() {
                for req in &mut c.in_flight {
                    if let ReqKind::Produce { batches, .. } = &mut req.kind {
                        purged.append(batches);
                    }
                }
            }
        }
        for o in &mut self.out {
            purged.append(&mut o.acks0);
        }
        for (key, batch) in purged {
            self.inflight_done(key, batch.seq);
            self.fail_batch(
                now,
                key,
                batch,
                ErrorCode::PurgeInflight,
                PersistenceStatus::PossiblyPersisted,
            );
        }
    }
}

impl<O> Engine<O> {
    /// KIP-951: a NOT_LEADER answer (Produce v10+) may name the new leader and its address;
    /// move the partition there at once if the epoch is not older than the known one (the
    /// Metadata refresh asked for by the classification still runs).
    fn apply_leader_hint(
        &mut self,
        key: PartKey,
        (leader_id, epoch): (i32, i32),
        endpoints: &[NodeEndpoint],
    ) {
        if leader_id < 0 || epoch < 0 || epoch < self.part(key).leader_epoch {
            return;
        }
        let b = match self.node_to_broker.get(&leader_id) {
            Some(&b) => b,
            None => {
                let Some(ep) = endpoints.iter().find(|e| e.node_id.0 == leader_id) else {
                    return;
                };
                let Ok(port) = u16::try_from(ep.port) else {
                    return;
                };
                let address = crate::config::BrokerAddress {
                    host: ep.host.to_string(),
                    port,
                };
                let b = self.brokers.len();
                self.brokers
                    .push(super::broker::Broker::new(leader_id, address, false));
                self.node_to_broker.insert(leader_id, b);
                b
            }
        };
        self.part_mut(key).leader_epoch = epoch;
        self.set_leader(key, Some(b), leader_id);
    }
}

fn find_partition<'r>(
    resp: &'r ProduceResponse,
    topic: &str,
    partition: i32,
    hint: &mut (usize, usize),
) -> Option<&'r PartitionProduceResponse> {
    let (ti, pi) = *hint;
    if let Some(t) = resp.responses.get(ti) {
        if *t.name.0 == *topic {
            if let Some(p) = t.partition_responses.get(pi) {
                if p.index == partition {
                    *hint = (ti, pi + 1);
                    return Some(p);
                }
            }
        }
    }
    if let Some(t) = resp.responses.get(ti + 1) {
        if *t.name.0 == *topic {
            if let Some(p) = t.partition_responses.first() {
                if p.index == partition {
                    *hint = (ti + 1, 1);
                    return Some(p);
                }
            }
        }
    }
    for (ti, t) in resp.responses.iter().enumerate() {
        if *t.name.0 != *topic {
            continue;
        }
        for (pi, p) in t.partition_responses.iter().enumerate() {
            if p.index == partition {
                *hint = (ti, pi + 1);
                return Some(p);
            }
        }
    }
    None
}
