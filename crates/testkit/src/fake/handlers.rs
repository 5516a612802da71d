//! Request decoding, fault application and the per-API handlers of the fake broker.

use bytes::{Bytes, BytesMut};
use core::time::Duration;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest,
    ApiVersionsResponse, BrokerId, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest,
    InitProducerIdResponse, MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
    ProducerId, RequestHeader, ResponseHeader, TopicName, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use purekafka_core::Instant;

use super::batch::parse_single_batch;
use super::faults::{AppliedFault, FaultAction};
use super::{
    FakeCluster, FakeConnId, FakeError, HOST_PREFIX, PORT, Partition, ProduceSummary,
    ProducedPartition, RequestRecord, StoredBatch, Topic,
};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LEADER_NOT_AVAILABLE: i16 = 5;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_REQUIRED_ACKS: i16 = 21;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;
const INVALID_REQUEST: i16 = 42;

/// The requests the fake answers.
pub(super) enum RequestKind {
    ApiVersions,
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    InitProducerId(InitProducerIdRequest),
    FindCoordinator(FindCoordinatorRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    EndTxn(EndTxnRequest),
}

/// What a handler decided for the connection besides (maybe) a response body.
struct Outcome {
    /// Encoded body, or None for no response (acks=0).
    body: Option<Bytes>,
    /// Close the connection after this request (acks=0 with an error).
    close: bool,
}

impl FakeCluster {
    /// A request frame (header + body, WITHOUT the size prefix) arrives on `conn` at `now`.
    /// Its response (if any) becomes due after the broker's latency.
    pub fn send(&mut self, now: Instant, conn: FakeConnId, frame: Bytes) -> Result<(), FakeError> {
        let (node, hung) = match self.conns.get(&conn) {
            Some(c) if c.open => (c.node, c.hung),
            _ => return Err(FakeError::ConnectionClosed(conn)),
        };
        let mut record = RequestRecord {
            at: now,
            conn,
            broker: node,
            api_key: None,
            api_version: -1,
            correlation_id: -1,
            client_id: None,
            produce: None,
            fault: None,
            rejected: None,
            answered: None,
        };
        if frame.len() < 4 {
            record.rejected = Some(format!("frame of {} bytes", frame.len()));
            return self.reject(now, record);
        }
        let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        record.api_version = version;
        let Ok(api_key) = ApiKey::try_from(raw_key) else {
            record.rejected = Some(format!("unknown api key {raw_key}"));
            return self.reject(now, record);
        };
        record.api_key = Some(api_key);
        let mut buf = frame;
        let header = match RequestHeader::decode(&mut buf, api_key.request_header_version(version))
        {
            Ok(h) => h,
            Err(e) => {
                record.rejected = Some(format!("header: {e}"));
                return self.reject(now, record);
            }
        };
        record.correlation_id = header.correlation_id;
        record.client_id = header.client_id.as_ref().map(|c| c.to_string());
        if hung {
            // A stalled broker reads nothing more; the request is recorded as having been sent.
            self.requests.push(record);
            return Ok(());
        }
        let supported = self
            .config
            .api_versions
            .iter()
            .find(|r| r.api_key == raw_key)
            .copied();
        let in_range = supported.is_some_and(|r| (r.min..=r.max).contains(&version));
        if !in_range {
            if api_key == ApiKey::ApiVersions {
                // KIP-511: a too-new ApiVersions gets a v0 answer listing what is supported.
                let body = self.api_versions_body(UNSUPPORTED_VERSION, 0);
                let frame = encode_body(&body, 0, &mut self.internal_errors).and_then(|b| {
                    prepend_header(header.correlation_id, 0, &b, &mut self.internal_errors)
                });
                self.requests.push(record);
                return self.respond(now, conn, frame, Duration::ZERO);
            }
            record.rejected = Some(format!("{api_key:?} v{version} not supported"));
            return self.reject(now, record);
        }
        let decoded =
            match api_key {
                ApiKey::ApiVersions => {
                    ApiVersionsRequest::decode(&mut buf, version).map(|_| RequestKind::ApiVersions)
                }
                ApiKey::Metadata => {
                    MetadataRequest::decode(&mut buf, version).map(RequestKind::Metadata)
                }
                ApiKey::Produce => {
                    ProduceRequest::decode(&mut buf, version).map(RequestKind::Produce)
                }
                ApiKey::InitProducerId => InitProducerIdRequest::decode(&mut buf, version)
                    .map(RequestKind::InitProducerId),
                ApiKey::FindCoordinator => FindCoordinatorRequest::decode(&mut buf, version)
                    .map(RequestKind::FindCoordinator),
                ApiKey::AddPartitionsToTxn if version <= 3 => {
                    AddPartitionsToTxnRequest::decode(&mut buf, version)
                        .map(RequestKind::AddPartitionsToTxn)
                }
                ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::decode(&mut buf, version)
                    .map(RequestKind::AddOffsetsToTxn),
                ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::decode(&mut buf, version)
                    .map(RequestKind::TxnOffsetCommit),
                ApiKey::EndTxn => EndTxnRequest::decode(&mut buf, version).map(RequestKind::EndTxn),
                _ => {
                    record.rejected = Some(format!("{api_key:?} is not implemented by the fake"));
                    return self.reject(now, record);
                }
            };
        let request = match decoded {
            Ok(r) => r,
            Err(e) => {
                record.rejected = Some(format!("{api_key:?} v{version} body: {e}"));
                return self.reject(now, record);
            }
        };
        let partitions = match &request {
            RequestKind::Produce(p) => self.produce_partitions(p, version),
            RequestKind::AddPartitionsToTxn(r) => r
                .v3_and_below_topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (t.name.0.to_string(), p)))
                .collect(),
            RequestKind::TxnOffsetCommit(r) => r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (t.name.0.to_string(), p.partition_index))
                })
                .collect(),
            _ => Vec::new(),
        };
        let keys = Self::request_keys(&request);
        // Coordinator work due now (markers, timeouts) happens before the request is read.
        self.run_timers(now);
        let fault = self.take_fault(api_key, node, &partitions, &keys);
        record.fault = fault.clone();
        let action = fault.as_ref().map(|f| f.action.clone());
        if action == Some(FaultAction::DisconnectBefore) {
            self.requests.push(record);
            self.disconnect(now, conn);
            return Ok(());
        }
        let error = match &action {
            Some(FaultAction::Error(code) | FaultAction::ErrorDelayed(code, _)) => {
                Some((*code, fault.as_ref().and_then(|f| f.partition.clone())))
            }
            _ => None,
        };
        let throttle_ms = match &action {
            Some(FaultAction::Throttle(d)) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
            _ => 0,
        };
        let outcome = match request {
            RequestKind::ApiVersions => {
                let body = self.api_versions_body(error.map_or(NONE, |e| e.0), version);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::Metadata(req) => {
                let mut body = self.metadata(&req, version, error.map(|e| e.0));
                if version >= 3 {
                    body.throttle_time_ms = throttle_ms;
                }
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::InitProducerId(req) => {
                let txn_id = req
                    .transactional_id
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .filter(|_| error.is_none());
                let mut body = match txn_id {
                    Some(id) => self.init_transactional_producer_id(now, node, &id, &req, version),
                    None => self.init_producer_id(&req, error.map(|e| e.0)),
                };
                body.throttle_time_ms = throttle_ms;
                record.answered = Some(body.error_code);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::FindCoordinator(req) => {
                let mut body = self.find_coordinator(&req, version, error.map(|e| e.0));
                if version >= 1 {
                    body.throttle_time_ms = throttle_ms;
                }
                record.answered = Some(
                    body.coordinators
                        .first()
                        .map_or(body.error_code, |c| c.error_code),
                );
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::AddPartitionsToTxn(req) => {
                let mut body =
                    self.add_partitions_to_txn(now, node, &req, version, error.map(|e| e.0));
                body.throttle_time_ms = throttle_ms;
                record.answered = body
                    .results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| t.results_by_partition.iter())
                    .map(|p| p.partition_error_code)
                    .max_by_key(|&c| c != NONE);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::AddOffsetsToTxn(req) => {
                let mut body =
                    self.add_offsets_to_txn(now, node, &req, version, error.map(|e| e.0));
                body.throttle_time_ms = throttle_ms;
                record.answered = Some(body.error_code);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::TxnOffsetCommit(req) => {
                let mut body = self.txn_offset_commit(now, node, &req, version, error.map(|e| e.0));
                body.throttle_time_ms = throttle_ms;
                record.answered = body
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .max_by_key(|&c| c != NONE);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::EndTxn(req) => {
                let mut body = self.end_txn(now, node, &req, version, error.map(|e| e.0));
                body.throttle_time_ms = throttle_ms;
                record.answered = Some(body.error_code);
                Outcome {
                    body: encode_body(&body, version, &mut self.internal_errors),
                    close: false,
                }
            }
            RequestKind::Produce(req) => {
                let (mut resp, summary) = self.produce(now, node, &req, version, error);
                resp.throttle_time_ms = throttle_ms;
                let any_error = summary.partitions.iter().any(|p| p.error_code != NONE);
                record.produce = Some(summary);
                if req.acks == 0 {
                    // Kafka sends nothing for acks=0, and closes the connection on an error so
                    // the client notices something went wrong.
                    Outcome {
                        body: None,
                        close: any_error,
                    }
                } else {
                    Outcome {
                        body: encode_body(&resp, version, &mut self.internal_errors),
                        close: false,
                    }
                }
            }
        };
        self.requests.push(record);
        match action {
            Some(FaultAction::Hang) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.hung = true;
                }
                return Ok(());
            }
            Some(FaultAction::DisconnectAfter) => {
                self.disconnect(now, conn);
                return Ok(());
            }
            _ => {}
        }
        if outcome.close {
            self.disconnect(now, conn);
            return Ok(());
        }
        let Some(body) = outcome.body else {
            return Ok(());
        };
        let delay = match action {
            Some(FaultAction::Delay(d) | FaultAction::ErrorDelayed(_, d)) => d,
            _ => Duration::ZERO,
        };
        let header_version = api_key.response_header_version(version);
        let frame = prepend_header(
            header.correlation_id,
            header_version,
            &body,
            &mut self.internal_errors,
        );
        let frame = match (frame, &action) {
            // A hostile or buggy broker: the header is right, the body is cut short or junk.
            (Some(f), Some(FaultAction::Truncate)) => {
                // Keep the correlation id, cut the rest in half.
                let keep = (f.len() / 2).max(4).min(f.len());
                Some(f.slice(..keep))
            }
            (Some(f), Some(FaultAction::Garbage)) => {
                let head = 4 + usize::from(header_version >= 1);
                let mut junk = f.slice(..head.min(f.len())).to_vec();
                // Large declared lengths and counts, then random-looking bytes.
                junk.extend_from_slice(&[0x7f, 0xff, 0xff, 0xf0, 0x80, 0x80, 0x80, 0x80, 0x0f]);
                junk.extend((0..40u8).map(|i| i.wrapping_mul(37) ^ 0xa5));
                Some(Bytes::from(junk))
            }
            (f, _) => f,
        };
        match frame {
            Some(frame) => self.respond(now, conn, Some(frame), delay),
            None => {
                self.disconnect(now, conn);
                Ok(())
            }
        }
    }

    fn reject(&mut self, now: Instant, record: RequestRecord) -> Result<(), FakeError> {
        let conn = record.conn;
        self.requests.push(record);
        self.disconnect(now, conn);
        Ok(())
    }

    fn respond(
        &mut self,
        now: Instant,
        conn: FakeConnId,
        frame: Option<Bytes>,
        delay: Duration,
    ) -> Result<(), FakeError> {
        let Some(frame) = frame else {
            self.disconnect(now, conn);
            return Ok(());
        };
        let node = self
            .conns
            .get(&conn)
            .map(|c| c.node)
            .ok_or(FakeError::ConnectionClosed(conn))?;
        let latency = self
            .brokers
            .get(&node)
            .map_or(Duration::ZERO, |b| b.latency);
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(FakeError::ConnectionClosed(conn));
        };
        let due = (now + latency + delay).max(c.last_due);
        c.last_due = due;
        self.push_pending(due, conn, Some(frame));
        Ok(())
    }

    fn take_fault(
        &mut self,
        api_key: ApiKey,
        node: i32,
        partitions: &[(String, i32)],
        keys: &[String],
    ) -> Option<AppliedFault> {
        let f = self
            .faults
            .iter_mut()
            .find(|f| f.matches(api_key, node, partitions, keys))?;
        f.count -= 1;
        let applied = AppliedFault {
            partition: f.partition.clone(),
            action: f.action.clone(),
        };
        self.faults.retain(|f| f.count > 0);
        Some(applied)
    }

    fn topic_name_by_id(&self, id: uuid::Uuid) -> Option<String> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.clone())
    }

    fn produce_partitions(&self, req: &ProduceRequest, version: i16) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for t in &req.topic_data {
            let name = if version >= 13 {
                self.topic_name_by_id(t.topic_id).unwrap_or_default()
            } else {
                t.name.0.to_string()
            };
            for p in &t.partition_data {
                out.push((name.clone(), p.index));
            }
        }
        out
    }

    fn api_versions_body(&self, error_code: i16, version: i16) -> ApiVersionsResponse {
        let mut body = ApiVersionsResponse::default();
        body.error_code = error_code;
        body.api_keys = self
            .config
            .api_versions
            .iter()
            .map(|r| {
                ApiVersion::default()
                    .with_api_key(r.api_key)
                    .with_min_version(r.min)
                    .with_max_version(r.max)
            })
            .collect();
        if version >= 3 {
            // KIP-584 features; a producer looks at transaction.version (KIP-890 TV2).
            body.supported_features = self
                .config
                .features
                .iter()
                .map(|f| {
                    SupportedFeatureKey::default()
                        .with_name(StrBytes::from_string(f.name.clone()))
                        .with_min_version(f.min)
                        .with_max_version(f.max)
                })
                .collect();
            body.finalized_features_epoch = 1;
            body.finalized_features = self
                .config
                .features
                .iter()
                .filter(|f| f.finalized > 0)
                .map(|f| {
                    FinalizedFeatureKey::default()
                        .with_name(StrBytes::from_string(f.name.clone()))
                        .with_min_version_level(f.finalized)
                        .with_max_version_level(f.finalized)
                })
                .collect();
        }
        body
    }

    fn metadata(
        &mut self,
        req: &MetadataRequest,
        version: i16,
        error: Option<i16>,
    ) -> MetadataResponse {
        let mut resp = MetadataResponse::default();
        resp.brokers = self
            .brokers
            .iter()
            .filter(|(_, b)| b.up)
            .map(|(&id, _)| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(format!("{HOST_PREFIX}{id}")))
                    .with_port(i32::from(PORT))
            })
            .collect();
        if version >= 2 {
            resp.cluster_id = Some(StrBytes::from_string(self.config.cluster_id.clone()));
        }
        if version >= 1 {
            resp.controller_id = BrokerId(self.brokers.keys().next().copied().unwrap_or(1));
        }
        let names: Vec<(Option<String>, Option<uuid::Uuid>)> = match &req.topics {
            None => self
                .topics
                .keys()
                .map(|n| (Some(n.clone()), None))
                .collect(),
            Some(list) if list.is_empty() && version == 0 => self
                .topics
                .keys()
                .map(|n| (Some(n.clone()), None))
                .collect(),
            Some(list) => list
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), Some(t.topic_id)))
                .collect(),
        };
        let allow_create =
            self.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
        for (name, id) in names {
            let name = match (name, id) {
                (Some(n), _) => n,
                (None, Some(id)) => match self.topic_name_by_id(id) {
                    Some(n) => n,
                    None => {
                        let mut t =
                            MetadataResponseTopic::default().with_error_code(UNKNOWN_TOPIC_ID);
                        if version >= 10 {
                            t.topic_id = id;
                        }
                        resp.topics.push(t);
                        continue;
                    }
                },
                (None, None) => continue,
            };
            let mut t = MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
            if let Some(code) = error {
                t.error_code = code;
                resp.topics.push(t);
                continue;
            }
            if !self.topics.contains_key(&name) && allow_create {
                self.create_topic(&name, self.config.default_partitions);
            }
            let Some(topic) = self.topics.get(&name) else {
                t.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                resp.topics.push(t);
                continue;
            };
            if version >= 10 {
                t.topic_id = topic.id;
            }
            t.partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| self.metadata_partition(i as i32, p, version))
                .collect();
            resp.topics.push(t);
        }
        resp
    }

    fn metadata_partition(
        &self,
        index: i32,
        p: &Partition,
        version: i16,
    ) -> MetadataResponsePartition {
        let leader_up = self.is_broker_up(p.leader);
        let mut mp = MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_replica_nodes(vec![BrokerId(p.leader)]);
        if leader_up {
            mp.leader_id = BrokerId(p.leader);
            mp.isr_nodes = vec![BrokerId(p.leader)];
        } else {
            mp.error_code = LEADER_NOT_AVAILABLE;
            mp.leader_id = BrokerId(-1);
            if version >= 5 {
                mp.offline_replicas = vec![BrokerId(p.leader)];
            }
        }
        if version >= 7 {
            mp.leader_epoch = p.leader_epoch;
        }
        mp
    }

    fn init_producer_id(
        &mut self,
        req: &InitProducerIdRequest,
        error: Option<i16>,
    ) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse::default();
        // Kafka: the current producer id and epoch come both or neither.
        let half = (req.producer_id.0 == -1) != (req.producer_epoch == -1);
        if let Some(code) = error.or_else(|| half.then_some(INVALID_REQUEST)) {
            resp.error_code = code;
            resp.producer_id = ProducerId(-1);
            resp.producer_epoch = -1;
            return resp;
        }
        if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
            // KIP-360: bump the epoch of the producer id the client already holds.
            resp.producer_id = req.producer_id;
            resp.producer_epoch = req.producer_epoch.saturating_add(1);
        } else {
            resp.producer_id = ProducerId(self.next_producer_id);
            self.next_producer_id += 1;
            resp.producer_epoch = 0;
        }
        resp
    }

    fn produce(
        &mut self,
        now: Instant,
        node: i32,
        req: &ProduceRequest,
        version: i16,
        error: Option<(i16, Option<(String, i32)>)>,
    ) -> (ProduceResponse, ProduceSummary) {
        let mut resp = ProduceResponse::default();
        let mut summary = ProduceSummary {
            acks: req.acks,
            timeout_ms: req.timeout_ms,
            partitions: Vec::new(),
        };
        let acks_ok = matches!(req.acks, -1..=1);
        let wall_ms = self.wall_clock_ms(now);
        let mut endpoints: Vec<i32> = Vec::new();
        for td in &req.topic_data {
            let name = if version >= 13 {
                self.topic_name_by_id(td.topic_id)
            } else {
                Some(td.name.0.to_string())
            };
            let mut tr = TopicProduceResponse::default();
            if version >= 13 {
                tr.topic_id = td.topic_id;
            } else {
                tr.name = td.name.clone();
            }
            for pd in &td.partition_data {
                let mut pr = PartitionProduceResponse::default().with_index(pd.index);
                let mut produced = ProducedPartition {
                    topic: name.clone().unwrap_or_default(),
                    partition: pd.index,
                    record_count: 0,
                    base_sequence: -1,
                    error_code: NONE,
                    base_offset: -1,
                    duplicate: false,
                };
                let parsed = pd.records.as_deref().map(parse_single_batch);
                if let Some(Ok(h)) = &parsed {
                    produced.record_count = h.record_count;
                    produced.base_sequence = h.base_sequence;
                }
                let injected = error.as_ref().and_then(|(code, only)| match only {
                    Some((t, p)) if Some(t) != name.as_ref() || *p != pd.index => None,
                    _ => Some(*code),
                });
                let code = if let Some(code) = injected {
                    code
                } else if !acks_ok {
                    INVALID_REQUIRED_ACKS
                } else if let Some(code) = self.txn_produce_check(
                    now,
                    node,
                    name.as_deref(),
                    pd.index,
                    parsed.as_ref(),
                    req.transactional_id.as_ref().map(|t| t.0.as_str()),
                    version,
                ) {
                    code
                } else {
                    match self.try_append(
                        now,
                        node,
                        name.as_deref(),
                        pd.index,
                        pd.records.as_ref(),
                        parsed,
                        wall_ms,
                    ) {
                        Ok(a) => {
                            pr.base_offset = a.base_offset;
                            pr.log_append_time_ms = a.log_append_time_ms;
                            produced.base_offset = a.base_offset;
                            produced.duplicate = a.duplicate;
                            NONE
                        }
                        Err(code) => code,
                    }
                };
                pr.error_code = code;
                produced.error_code = code;
                if code != NONE {
                    pr.base_offset = -1;
                    pr.log_append_time_ms = -1;
                }
                if version >= 5 {
                    pr.log_start_offset = if code == NONE { 0 } else { -1 };
                }
                let moved = name.as_deref().and_then(|n| self.leader(n, pd.index));
                if let (NOT_LEADER_OR_FOLLOWER, true, Some((leader, epoch))) =
                    (code, version >= 10, moved)
                {
                    // KIP-951: tell the client where the partition went.
                    pr.current_leader = LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(leader))
                        .with_leader_epoch(epoch);
                    if !endpoints.contains(&leader) {
                        endpoints.push(leader);
                    }
                }
                summary.partitions.push(produced);
                tr.partition_responses.push(pr);
            }
            resp.responses.push(tr);
        }
        if version >= 10 {
            resp.node_endpoints = endpoints
                .into_iter()
                .filter(|&n| self.is_broker_up(n))
                .map(|n| {
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(n))
                        .with_host(StrBytes::from_string(format!("{HOST_PREFIX}{n}")))
                        .with_port(i32::from(PORT))
                })
                .collect();
        }
        (resp, summary)
    }

    /// Transaction checks of one produced batch, before it is appended: a client may not
    /// write control batches, and a transactional batch is verified with the coordinator.
    #[allow(clippy::too_many_arguments)]
    fn txn_produce_check(
        &mut self,
        now: Instant,
        node: i32,
        topic: Option<&str>,
        partition: i32,
        parsed: Option<&Result<super::BatchHeader, super::BatchError>>,
        txn_id: Option<&str>,
        version: i16,
    ) -> Option<i16> {
        let (Some(topic), Some(Ok(h))) = (topic, parsed) else {
            return None;
        };
        if self.leader(topic, partition).map(|l| l.0) != Some(node) {
            return None;
        }
        if h.attributes & super::ATTR_CONTROL != 0 {
            return Some(INVALID_RECORD);
        }
        if h.attributes & super::ATTR_TRANSACTIONAL == 0 {
            return None;
        }
        self.verify_txn_produce(now, txn_id, h, topic, partition, version)
            .err()
    }

    /// Appends one partition's batch if this broker leads it (or finds it is an idempotent
    /// duplicate); returns where it is, or the Kafka error code.
    #[allow(clippy::too_many_arguments)]
    fn try_append(
        &mut self,
        now: Instant,
        node: i32,
        topic: Option<&str>,
        partition: i32,
        records: Option<&Bytes>,
        parsed: Option<Result<super::BatchHeader, super::BatchError>>,
        wall_ms: i64,
    ) -> Result<Appended, i16> {
        let max_bytes = self.config.max_message_bytes;
        let Some(topic_name) = topic else {
            return Err(UNKNOWN_TOPIC_ID);
        };
        let Some(t): Option<&mut Topic> = self.topics.get_mut(topic_name) else {
            return Err(UNKNOWN_TOPIC_OR_PARTITION);
        };
        let log_append_time = t.log_append_time;
        let Some(p) = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get_mut(i))
        else {
            return Err(UNKNOWN_TOPIC_OR_PARTITION);
        };
        if p.leader != node {
            return Err(NOT_LEADER_OR_FOLLOWER);
        }
        let (Some(bytes), Some(parsed)) = (records, parsed) else {
            return Err(INVALID_RECORD);
        };
        let header = parsed.map_err(|e| e.kafka_code())?;
        if bytes.len() > max_bytes {
            return Err(MESSAGE_TOO_LARGE);
        }
        let log_append_time_ms = if log_append_time { wall_ms } else { -1 };
        let base_offset = p.next_offset;
        let transactional = header.attributes & super::ATTR_TRANSACTIONAL != 0;
        if header.producer_id >= 0 {
            if !transactional
                && p.producers
                    .get(&header.producer_id)
                    .is_some_and(|s| s.txn_first_offset.is_some())
            {
                // Kafka: "Expected transactional write from producer".
                return Err(super::txn::INVALID_TXN_STATE);
            }
            match check_sequence(p.producers.get(&header.producer_id), &header) {
                SeqCheck::Append => {}
                SeqCheck::Duplicate {
                    base_offset,
                    log_append_time_ms,
                } => {
                    return Ok(Appended {
                        base_offset,
                        log_append_time_ms,
                        duplicate: true,
                    });
                }
                SeqCheck::Reject(code) => return Err(code),
            }
            let state = p.producers.entry(header.producer_id).or_default();
            if state.epoch != header.producer_epoch {
                state.epoch = header.producer_epoch;
                state.batches.clear();
            }
            state.fresh_epoch = false;
            if transactional && state.txn_first_offset.is_none() {
                state.txn_first_offset = Some(base_offset);
            }
            let last = increment_sequence(header.base_sequence, header.last_offset_delta);
            state
                .batches
                .push_back((header.base_sequence, last, base_offset, log_append_time_ms));
            if state.batches.len() > super::RETAINED_BATCHES {
                state.batches.pop_front();
            }
        }
        p.next_offset += i64::from(header.last_offset_delta) + 1;
        p.log.push(StoredBatch {
            base_offset,
            header,
            bytes: bytes.clone(),
            appended_at: now,
            broker: node,
            leader_epoch: p.leader_epoch,
            log_append_time_ms,
        });
        Ok(Appended {
            base_offset,
            log_append_time_ms,
            duplicate: false,
        })
    }
}

/// A successful produce to one partition.
struct Appended {
    base_offset: i64,
    log_append_time_ms: i64,
    /// A retry of a batch already in the log (not appended again).
    duplicate: bool,
}

enum SeqCheck {
    Append,
    Duplicate {
        base_offset: i64,
        log_append_time_ms: i64,
    },
    Reject(i16),
}

/// Kafka's `ProducerAppendInfo.checkSequence` and duplicate detection, for one batch of an
/// idempotent producer.
fn check_sequence(state: Option<&super::ProducerState>, h: &super::BatchHeader) -> SeqCheck {
    // A producer the partition has no state for may start at any sequence (its state may
    // have been removed by retention).
    let Some(state) = state else {
        return SeqCheck::Append;
    };
    if h.producer_epoch < state.epoch {
        return SeqCheck::Reject(INVALID_PRODUCER_EPOCH);
    }
    if h.producer_epoch > state.epoch {
        return if h.base_sequence == 0 {
            SeqCheck::Append
        } else {
            SeqCheck::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER)
        };
    }
    let last = increment_sequence(h.base_sequence, h.last_offset_delta);
    if let Some(&(_, _, base_offset, log_append_time_ms)) = state
        .batches
        .iter()
        .find(|b| b.0 == h.base_sequence && b.1 == last)
    {
        return SeqCheck::Duplicate {
            base_offset,
            log_append_time_ms,
        };
    }
    match state.batches.back() {
        Some(&(_, prev_last, _, _)) if increment_sequence(prev_last, 1) != h.base_sequence => {
            SeqCheck::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
        // A marker started this epoch: sequences restart at 0 (KIP-890 TV2, fences).
        None if state.fresh_epoch && h.base_sequence != 0 => {
            SeqCheck::Reject(OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
        _ => SeqCheck::Append,
    }
}

/// Sequence numbers wrap from i32::MAX to 0.
fn increment_sequence(seq: i32, by: i32) -> i32 {
    if seq > i32::MAX - by {
        by - (i32::MAX - seq) - 1
    } else {
        seq + by
    }
}

fn encode_body<B: Encodable>(body: &B, version: i16, errors: &mut Vec<String>) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    match body.encode(&mut buf, version) {
        Ok(()) => Some(buf.freeze()),
        Err(e) => {
            errors.push(format!("encoding a v{version} response: {e}"));
            None
        }
    }
}

fn prepend_header(
    correlation_id: i32,
    header_version: i16,
    body: &Bytes,
    errors: &mut Vec<String>,
) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    if let Err(e) = ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
    {
        errors.push(format!("encoding a v{header_version} response header: {e}"));
        return None;
    }
    buf.extend_from_slice(body);
    Some(buf.freeze())
}
