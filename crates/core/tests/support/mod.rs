//! A tiny in-test Kafka responder and a virtual-time driver for `Engine`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId,
    EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, ProducerId, ResponseHeader, TopicName, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, decode_request_header_from_buffer};
use purekafka_core::config::BrokerAddress;
use purekafka_core::engine::{
    ConnCommand, ConnId, DeliveryReport, Engine, Event, Record, SendError, StatsSnapshot,
};
use purekafka_core::{ErrorCode, Instant, ProducerConfig};

/// One partition's part of a ProduceRequest the fake broker saw.
#[derive(Clone, Debug)]
pub struct ProducedPart {
    pub topic: String,
    pub partition: i32,
    pub records: i32,
    pub batch_bytes: usize,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// The batch's transactional attribute bit.
    pub transactional: bool,
}

/// One ProduceRequest the fake broker saw.
#[derive(Clone, Debug)]
pub struct ProduceLog {
    pub at: Instant,
    pub conn: ConnId,
    pub corr: i32,
    pub version: i16,
    pub acks: i16,
    pub timeout_ms: i32,
    pub parts: Vec<ProducedPart>,
    pub transactional_id: Option<String>,
}

/// A transaction API request the fake coordinator saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnReq {
    FindCoordinator {
        version: i16,
        key_type: i8,
        key: String,
    },
    InitProducerId {
        version: i16,
        transactional_id: String,
        pid: i64,
        epoch: i16,
        timeout_ms: i32,
    },
    AddPartitions {
        version: i16,
        pid: i64,
        epoch: i16,
        parts: Vec<(String, i32)>,
    },
    AddOffsets {
        version: i16,
        group: String,
    },
    TxnOffsetCommit {
        version: i16,
        group: String,
        generation: i32,
        offsets: Vec<(String, i32, i64)>,
    },
    EndTxn {
        version: i16,
        pid: i64,
        epoch: i16,
        commit: bool,
    },
}

/// The fake transaction coordinator's state (one transactional id).
#[derive(Debug, Default)]
pub struct FakeTxn {
    pub pid: i64,
    pub epoch: i16,
    pub ongoing: bool,
    pub partitions: HashSet<(String, i32)>,
    /// Finished transactions: (committed, partitions).
    pub ended: Vec<(bool, Vec<(String, i32)>)>,
}

/// A single-node fake cluster (node 1 at b1:9092).
#[derive(Debug, Default)]
pub struct Cluster {
    pub partitions: HashMap<String, i32>,
    pub default_partitions: i32,
    pub unknown_topics: HashSet<String>,
    pub offsets: HashMap<(String, i32), i64>,
    /// Error code for the next ProduceRequests (applied to every partition), front first.
    pub produce_errors: VecDeque<i16>,
    /// Never answer ProduceRequests.
    pub hold_produce: bool,
    pub log_append_time: Option<i64>,
    pub produce_log: Vec<ProduceLog>,
    /// Responses withheld while `hold_produce` was set.
    pub held: Vec<(ConnId, Bytes)>,
    pub metadata_requests: usize,
    pub leader_epoch: i32,
    /// Nodes `(id, host, port)`; empty means just node 1 at b1:9092.
    pub nodes: Vec<(i32, String, u16)>,
    /// Per-partition `(leader, epoch)`; absent means node 1 at `leader_epoch`.
    pub leaders: HashMap<(String, i32), (i32, i32)>,
    /// Highest ApiVersions version understood (answers newer ones in v0 form with
    /// UNSUPPORTED_VERSION, as KIP-511 brokers do); None = 4.
    pub api_versions_max: Option<i16>,
    /// Replace the next response with garbage.
    pub corrupt_next: bool,
    /// ApiVersions requests seen, with their version.
    pub api_versions_seen: Vec<i16>,
    /// `throttle_time_ms` in produce responses.
    pub throttle_ms: i32,
    /// InitProducerId requests seen: `(producer_id, producer_epoch)` asked for.
    pub init_pid_requests: Vec<(i64, i16)>,
    /// Leaders Metadata reports instead of the real ones (a lagging broker).
    pub metadata_leaders: HashMap<(String, i32), (i32, i32)>,
    /// Send KIP-951 `current_leader` and `node_endpoints` with NOT_LEADER answers.
    pub kip951: bool,
    /// The finalized `transaction.version` feature level reported in ApiVersions.
    pub transaction_version: i16,
    /// The transaction coordinator's node (default 1).
    pub coordinator: Option<i32>,
    /// Errors for the next transaction API requests, per api key, front first.
    pub txn_errors: HashMap<i16, VecDeque<i16>>,
    /// Api keys whose responses are withheld (into `held`).
    pub hold_apis: HashSet<i16>,
    pub txn_log: Vec<TxnReq>,
    pub txn: FakeTxn,
}

impl Cluster {
    pub fn node_list(&self) -> Vec<(i32, String, u16)> {
        if self.nodes.is_empty() {
            vec![(1, "b1".into(), 9092)]
        } else {
            self.nodes.clone()
        }
    }

    pub fn node_of(&self, host: &str, port: u16) -> Option<i32> {
        self.node_list()
            .into_iter()
            .find(|(_, h, p)| h == host && *p == port)
            .map(|(id, _, _)| id)
    }

    fn leader(&self, topic: &str, partition: i32) -> (i32, i32) {
        self.leaders
            .get(&(topic.to_owned(), partition))
            .copied()
            .unwrap_or((1, self.leader_epoch))
    }

    fn handle(&mut self, now: Instant, conn: ConnId, node: i32, frame: &[u8]) -> Option<Bytes> {
        let r = self.handle_inner(now, conn, node, frame);
        if self.corrupt_next && r.is_some() {
            self.corrupt_next = false;
            // A correlation id nobody asked for.
            return Some(Bytes::from_static(&[0x7f, 0, 0, 0, 1, 2, 3]));
        }
        r
    }

    fn handle_inner(
        &mut self,
        now: Instant,
        conn: ConnId,
        node: i32,
        frame: &[u8],
    ) -> Option<Bytes> {
        let mut buf = Bytes::copy_from_slice(frame);
        let header = decode_request_header_from_buffer(&mut buf).expect("request header");
        let key = ApiKey::try_from(header.request_api_key).expect("api key");
        let v = header.request_api_version;
        let mut out = BytesMut::new();
        let max_av = self.api_versions_max.unwrap_or(4);
        let header_version = if key == ApiKey::ApiVersions {
            0
        } else {
            key.response_header_version(v)
        };
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, header_version)
            .unwrap();
        match key {
            ApiKey::ApiVersions if v > max_av => {
                self.api_versions_seen.push(v);
                ApiVersionsResponse::default()
                    .with_error_code(35)
                    .with_api_keys(vec![
                        ApiVersion::default()
                            .with_api_key(ApiKey::ApiVersions as i16)
                            .with_min_version(0)
                            .with_max_version(max_av),
                    ])
                    .encode(&mut out, 0)
                    .unwrap();
                return Some(out.freeze());
            }
            ApiKey::ApiVersions => {
                self.api_versions_seen.push(v);
                ApiVersionsRequest::decode(&mut buf, v).unwrap();
                let api = |k: ApiKey, min, max| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                };
                let mut resp = ApiVersionsResponse::default().with_api_keys(vec![
                    api(ApiKey::Produce, 0, 12),
                    api(ApiKey::Metadata, 0, 12),
                    api(ApiKey::ApiVersions, 0, max_av),
                    api(ApiKey::InitProducerId, 0, 5),
                    api(ApiKey::FindCoordinator, 0, 6),
                    api(ApiKey::AddPartitionsToTxn, 0, 5),
                    api(ApiKey::AddOffsetsToTxn, 0, 4),
                    api(ApiKey::EndTxn, 0, 5),
                    api(ApiKey::TxnOffsetCommit, 0, 5),
                ]);
                if self.transaction_version > 0 && v >= 3 {
                    resp.finalized_features = vec![
                        FinalizedFeatureKey::default()
                            .with_name(StrBytes::from_static_str("transaction.version"))
                            .with_min_version_level(self.transaction_version)
                            .with_max_version_level(self.transaction_version),
                    ];
                    resp.finalized_features_epoch = 1;
                }
                resp.encode(&mut out, v).unwrap();
            }
            ApiKey::Metadata => {
                self.metadata_requests += 1;
                let req = MetadataRequest::decode(&mut buf, v).unwrap();
                let topics = req
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        let name = t.name.unwrap().0.to_string();
                        if self.unknown_topics.contains(&name) {
                            return MetadataResponseTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_string(name))))
                                .with_error_code(3);
                        }
                        let n = *self
                            .partitions
                            .get(&name)
                            .unwrap_or(&self.default_partitions);
                        let parts = (0..n)
                            .map(|p| {
                                let (leader, epoch) = self
                                    .metadata_leaders
                                    .get(&(name.clone(), p))
                                    .copied()
                                    .unwrap_or_else(|| self.leader(&name, p));
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(BrokerId(leader))
                                    .with_leader_epoch(epoch)
                            })
                            .collect();
                        MetadataResponseTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name))))
                            .with_partitions(parts)
                    })
                    .collect();
                let brokers = self
                    .node_list()
                    .into_iter()
                    .map(|(id, host, port)| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(id))
                            .with_host(StrBytes::from_string(host))
                            .with_port(i32::from(port))
                    })
                    .collect();
                MetadataResponse::default()
                    .with_brokers(brokers)
                    .with_topics(topics)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut buf, v).unwrap();
                let mut log = ProduceLog {
                    at: now,
                    conn,
                    corr: header.correlation_id,
                    version: v,
                    acks: req.acks,
                    timeout_ms: req.timeout_ms,
                    parts: Vec::new(),
                    transactional_id: req.transactional_id.as_ref().map(|t| t.0.to_string()),
                };
                let injected = self.produce_errors.pop_front().unwrap_or(0);
                let mut responses = Vec::new();
                let mut endpoints = Vec::new();
                for t in &req.topic_data {
                    let name = t.name.0.to_string();
                    let mut prs = Vec::new();
                    for p in &t.partition_data {
                        let records = p.records.clone().unwrap();
                        let count = (&records[57..61]).get_i32();
                        log.parts.push(ProducedPart {
                            topic: name.clone(),
                            partition: p.index,
                            records: count,
                            batch_bytes: records.len(),
                            producer_id: (&records[43..51]).get_i64(),
                            producer_epoch: (&records[51..53]).get_i16(),
                            base_sequence: (&records[53..57]).get_i32(),
                            transactional: (&records[21..23]).get_i16() & 0x10 != 0,
                        });
                        let transactional = (&records[21..23]).get_i16() & 0x10 != 0;
                        let mut err = if injected == 0 && self.leader(&name, p.index).0 != node {
                            6 // NOT_LEADER_OR_FOLLOWER
                        } else {
                            injected
                        };
                        if err == 0 && transactional {
                            let key = (name.clone(), p.index);
                            if v >= 12 && self.transaction_version >= 2 {
                                // KIP-890: Produce v12 adds the partition implicitly.
                                self.txn.ongoing = true;
                                self.txn.partitions.insert(key);
                            } else if !self.txn.partitions.contains(&key) {
                                err = 48; // INVALID_TXN_STATE: not added
                            }
                        }
                        let actual_leader = self.leader(&name, p.index);
                        let off = self.offsets.entry((name.clone(), p.index)).or_insert(0);
                        let mut pr = PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(err)
                            .with_log_append_time_ms(self.log_append_time.unwrap_or(-1));
                        if err == 6 && self.kip951 {
                            let (leader, epoch) = actual_leader;
                            pr.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(epoch);
                            endpoints.push(leader);
                        }
                        if err == 0 {
                            pr = pr.with_base_offset(*off);
                            *off += i64::from(count);
                        } else {
                            pr = pr.with_base_offset(-1);
                        }
                        prs.push(pr);
                    }
                    responses.push(
                        TopicProduceResponse::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partition_responses(prs),
                    );
                }
                self.produce_log.push(log);
                if req.acks == 0 {
                    return None;
                }
                let node_endpoints = self
                    .node_list()
                    .into_iter()
                    .filter(|(id, _, _)| endpoints.contains(id))
                    .map(|(id, host, port)| {
                        NodeEndpoint::default()
                            .with_node_id(BrokerId(id))
                            .with_host(StrBytes::from_string(host))
                            .with_port(i32::from(port))
                    })
                    .collect();
                ProduceResponse::default()
                    .with_responses(responses)
                    .with_node_endpoints(node_endpoints)
                    .with_throttle_time_ms(self.throttle_ms)
                    .encode(&mut out, v)
                    .unwrap();
                if self.hold_produce {
                    self.held.push((conn, out.freeze()));
                    return None;
                }
            }
            ApiKey::InitProducerId if self.txn_error(ApiKey::InitProducerId).is_some() => {
                let req = InitProducerIdRequest::decode(&mut buf, v).unwrap();
                let err = self
                    .txn_errors
                    .get_mut(&(ApiKey::InitProducerId as i16))
                    .unwrap()
                    .pop_front()
                    .unwrap();
                self.txn_log.push(TxnReq::InitProducerId {
                    version: v,
                    transactional_id: req
                        .transactional_id
                        .map(|t| t.0.to_string())
                        .unwrap_or_default(),
                    pid: req.producer_id.0,
                    epoch: req.producer_epoch,
                    timeout_ms: req.transaction_timeout_ms,
                });
                InitProducerIdResponse::default()
                    .with_error_code(err)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::InitProducerId if self.peek_transactional(&buf, v) => {
                let req = InitProducerIdRequest::decode(&mut buf, v).unwrap();
                self.txn_log.push(TxnReq::InitProducerId {
                    version: v,
                    transactional_id: req.transactional_id.unwrap().0.to_string(),
                    pid: req.producer_id.0,
                    epoch: req.producer_epoch,
                    timeout_ms: req.transaction_timeout_ms,
                });
                if self.txn.ongoing {
                    // An open transaction of an older epoch is aborted.
                    self.end_txn(false);
                }
                if self.txn.pid == 0 {
                    self.txn.pid = 2000;
                } else {
                    self.txn.epoch += 1;
                }
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(self.txn.pid))
                    .with_producer_epoch(self.txn.epoch)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::FindCoordinator => {
                let req = FindCoordinatorRequest::decode(&mut buf, v).unwrap();
                let key = if v >= 4 {
                    req.coordinator_keys[0].to_string()
                } else {
                    req.key.to_string()
                };
                self.txn_log.push(TxnReq::FindCoordinator {
                    version: v,
                    key_type: req.key_type,
                    key: key.clone(),
                });
                let err = self.txn_error(ApiKey::FindCoordinator).unwrap_or(0);
                let coord = self.coordinator.unwrap_or(1);
                let (id, host, port) = self
                    .node_list()
                    .into_iter()
                    .find(|(id, _, _)| *id == coord)
                    .unwrap();
                let mut resp = FindCoordinatorResponse::default();
                if v >= 4 {
                    resp.coordinators = vec![
                        Coordinator::default()
                            .with_key(StrBytes::from_string(key))
                            .with_error_code(err)
                            .with_node_id(BrokerId(if err == 0 { id } else { -1 }))
                            .with_host(StrBytes::from_string(host))
                            .with_port(i32::from(port)),
                    ];
                } else {
                    resp = resp
                        .with_error_code(err)
                        .with_node_id(BrokerId(if err == 0 { id } else { -1 }))
                        .with_host(StrBytes::from_string(host))
                        .with_port(i32::from(port));
                }
                resp.encode(&mut out, v).unwrap();
            }
            ApiKey::AddPartitionsToTxn => {
                let req = AddPartitionsToTxnRequest::decode(&mut buf, v).unwrap();
                let parts: Vec<(String, i32)> = req
                    .v3_and_below_topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|&p| (t.name.0.to_string(), p)))
                    .collect();
                self.txn_log.push(TxnReq::AddPartitions {
                    version: v,
                    pid: req.v3_and_below_producer_id.0,
                    epoch: req.v3_and_below_producer_epoch,
                    parts: parts.clone(),
                });
                let err = self.txn_error(ApiKey::AddPartitionsToTxn).unwrap_or(0);
                if err == 0 {
                    self.txn.ongoing = true;
                    self.txn.partitions.extend(parts.iter().cloned());
                }
                let topics = req
                    .v3_and_below_topics
                    .iter()
                    .map(|t| {
                        AddPartitionsToTxnTopicResult::default()
                            .with_name(t.name.clone())
                            .with_results_by_partition(
                                t.partitions
                                    .iter()
                                    .map(|&p| {
                                        AddPartitionsToTxnPartitionResult::default()
                                            .with_partition_index(p)
                                            .with_partition_error_code(err)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                AddPartitionsToTxnResponse::default()
                    .with_results_by_topic_v3_and_below(topics)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::AddOffsetsToTxn => {
                let req = AddOffsetsToTxnRequest::decode(&mut buf, v).unwrap();
                self.txn_log.push(TxnReq::AddOffsets {
                    version: v,
                    group: req.group_id.0.to_string(),
                });
                let err = self.txn_error(ApiKey::AddOffsetsToTxn).unwrap_or(0);
                if err == 0 {
                    self.txn.ongoing = true;
                }
                AddOffsetsToTxnResponse::default()
                    .with_error_code(err)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::TxnOffsetCommit => {
                let req = TxnOffsetCommitRequest::decode(&mut buf, v).unwrap();
                let offsets: Vec<(String, i32, i64)> = req
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (t.name.0.to_string(), p.partition_index, p.committed_offset))
                    })
                    .collect();
                self.txn_log.push(TxnReq::TxnOffsetCommit {
                    version: v,
                    group: req.group_id.0.to_string(),
                    generation: req.generation_id,
                    offsets,
                });
                let err = self.txn_error(ApiKey::TxnOffsetCommit).unwrap_or(0);
                if err == 0 && v >= 5 {
                    self.txn.ongoing = true;
                }
                let topics = req
                    .topics
                    .iter()
                    .map(|t| {
                        TxnOffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        TxnOffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(err)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                TxnOffsetCommitResponse::default()
                    .with_topics(topics)
                    .encode(&mut out, v)
                    .unwrap();
            }
            ApiKey::EndTxn => {
                let req = EndTxnRequest::decode(&mut buf, v).unwrap();
                self.txn_log.push(TxnReq::EndTxn {
                    version: v,
                    pid: req.producer_id.0,
                    epoch: req.producer_epoch,
                    commit: req.committed,
                });
                let mut err = self.txn_error(ApiKey::EndTxn).unwrap_or(0);
                if err == 0 && !self.txn.ongoing {
                    // As the broker: a repeat of the last result is fine, anything else (or
                    // no transaction at all) is INVALID_TXN_STATE.
                    let last = self.txn.ended.last().map(|e| e.0);
                    if last != Some(req.committed) {
                        err = 48;
                    }
                }
                let mut resp = EndTxnResponse::default().with_error_code(err);
                if err == 0 {
                    self.end_txn(req.committed);
                    if v >= 5 {
                        // KIP-890: every EndTxn bumps the epoch.
                        self.txn.epoch += 1;
                        resp = resp
                            .with_producer_id(ProducerId(self.txn.pid))
                            .with_producer_epoch(self.txn.epoch);
                    }
                }
                resp.encode(&mut out, v).unwrap();
            }
            ApiKey::InitProducerId => {
                let req = InitProducerIdRequest::decode(&mut buf, v).unwrap();
                assert!(req.transactional_id.is_none());
                self.init_pid_requests
                    .push((req.producer_id.0, req.producer_epoch));
                let (pid, epoch) = if req.producer_id.0 >= 0 {
                    (req.producer_id.0, req.producer_epoch + 1)
                } else {
                    (1000, 0)
                };
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .encode(&mut out, v)
                    .unwrap();
            }
            other => panic!("unexpected request {other:?}"),
        }
        assert!(!buf.has_remaining(), "request not fully decoded");
        if self.hold_apis.contains(&(key as i16)) {
            self.held.push((conn, out.freeze()));
            return None;
        }
        Some(out.freeze())
    }

    /// The next injected error for `api`, if any.
    fn txn_error(&mut self, api: ApiKey) -> Option<i16> {
        let q = self.txn_errors.get_mut(&(api as i16))?;
        if q.is_empty() {
            return None;
        }
        if api == ApiKey::InitProducerId {
            // Popped by the handler itself (the guard only peeks).
            return q.front().copied();
        }
        q.pop_front()
    }

    fn peek_transactional(&self, buf: &Bytes, v: i16) -> bool {
        let mut b = buf.clone();
        InitProducerIdRequest::decode(&mut b, v)
            .map(|r| r.transactional_id.is_some())
            .unwrap_or(false)
    }

    fn end_txn(&mut self, commit: bool) {
        let mut parts: Vec<_> = self.txn.partitions.drain().collect();
        parts.sort();
        if self.txn.ongoing {
            self.txn.ended.push((commit, parts));
        }
        self.txn.ongoing = false;
    }
}

/// Drives an `Engine<u64>` against `Cluster` on virtual time, with zero network latency.
pub struct Harness {
    pub engine: Engine<u64>,
    pub now: Instant,
    pub cluster: Cluster,
    pub reports: Vec<DeliveryReport<u64>>,
    pub errors: Vec<(ErrorCode, String)>,
    pub open_conns: HashSet<ConnId>,
    pub conn_node: HashMap<ConnId, i32>,
    pub connect_log: Vec<BrokerAddress>,
    pub connects: usize,
    pub closes: Vec<ConnId>,
    pub refuse_connections: bool,
    pub stats_events: usize,
    /// The `Event::Stats` snapshots, oldest first.
    pub stats: Vec<StatsSnapshot>,
    /// `handle_timeout` calls.
    pub wakeups: usize,
}

pub fn config() -> ProducerConfig {
    ProducerConfig {
        bootstrap_servers: vec![BrokerAddress {
            host: "b1".into(),
            port: 9092,
        }],
        ..ProducerConfig::default()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Harness {
    pub fn new(cfg: ProducerConfig) -> Self {
        Self::with_cluster(
            cfg,
            Cluster {
                default_partitions: 3,
                ..Cluster::default()
            },
        )
    }

    pub fn with_cluster(cfg: ProducerConfig, cluster: Cluster) -> Self {
        let now = Instant::from_millis(1_000);
        let mut h = Self {
            engine: Engine::new(cfg, 42, now),
            now,
            cluster,
            reports: Vec::new(),
            errors: Vec::new(),
            open_conns: HashSet::new(),
            conn_node: HashMap::new(),
            connect_log: Vec::new(),
            connects: 0,
            closes: Vec::new(),
            refuse_connections: false,
            stats_events: 0,
            stats: Vec::new(),
            wakeups: 0,
        };
        h.pump();
        h
    }

    /// Delivers every output until the engine is quiet at `now`.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(cmd) = self.engine.poll_conn_command() {
                progress = true;
                match cmd {
                    ConnCommand::Connect { conn, address } => {
                        self.connects += 1;
                        let node = self.cluster.node_of(&address.host, address.port);
                        self.connect_log.push(address);
                        match node {
                            Some(node) if !self.refuse_connections => {
                                self.open_conns.insert(conn);
                                self.conn_node.insert(conn, node);
                                self.engine.handle_connected(self.now, conn);
                            }
                            _ => self.engine.handle_disconnected(self.now, conn),
                        }
                    }
                    ConnCommand::Close { conn } => {
                        self.open_conns.remove(&conn);
                        self.closes.push(conn);
                    }
                }
            }
            let mut responses = Vec::new();
            while let Some(t) = self.engine.poll_transmit(self.now) {
                progress = true;
                assert!(
                    self.open_conns.contains(&t.conn),
                    "transmit on a closed connection"
                );
                let bytes = t.frame.to_bytes();
                assert_eq!(bytes.len(), t.frame.len());
                let size = (&bytes[..4]).get_i32() as usize;
                assert_eq!(size + 4, bytes.len(), "size prefix");
                let node = self.conn_node[&t.conn];
                if let Some(r) = self.cluster.handle(self.now, t.conn, node, &bytes[4..]) {
                    responses.push((t.conn, r));
                }
            }
            for (conn, r) in responses {
                if self.open_conns.contains(&conn) {
                    self.engine.handle_response(self.now, conn, r);
                }
            }
            while let Some(ev) = self.engine.poll_event() {
                progress = true;
                match ev {
                    Event::Delivery(r) => self.reports.push(r),
                    Event::Error { code, reason } => self.errors.push((code, reason)),
                    Event::Stats(s) => {
                        self.stats_events += 1;
                        self.stats.push(*s);
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("engine never went quiet");
    }

    /// Advances virtual time to `t`, firing every timer on the way.
    pub fn advance_to(&mut self, t: Instant) {
        self.pump();
        for _ in 0..1_000_000 {
            match self.engine.poll_timeout() {
                Some(d) if d <= t => {
                    self.now = self.now.max(d);
                    self.wakeups += 1;
                    self.engine.handle_timeout(self.now);
                    self.pump();
                }
                _ => {
                    self.now = t;
                    return;
                }
            }
        }
        panic!("timers never settled");
    }

    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    pub fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        value: &[u8],
        opaque: u64,
    ) -> Result<(), SendError<u64>> {
        let timeout = self.engine.poll_timeout();
        let transmit = self.engine.has_pending_transmit();
        let r = self.engine.send(
            self.now,
            Record {
                topic,
                partition,
                key: None,
                value: Some(value),
                headers: &[],
                timestamp_ms: 1_700_000_000_000,
            },
            opaque,
        );
        if self.engine.last_send_quiet() {
            // What a driver that skips its output pass after a quiet send relies on.
            assert!(r.is_ok(), "a refused send reported quiet");
            assert!(
                !self.engine.has_queued_output(),
                "a quiet send queued output"
            );
            assert!(
                transmit || !self.engine.has_pending_transmit(),
                "a quiet send made a frame pending"
            );
            let now = self.engine.poll_timeout();
            assert!(
                now == timeout || now.is_some_and(|t| timeout.is_some_and(|was| t > was)),
                "a quiet send moved the deadline earlier: {timeout:?} -> {now:?}"
            );
        }
        self.pump();
        r
    }

    /// Delivers the withheld produce responses (to connections still open).
    pub fn release_held(&mut self) {
        for (conn, r) in std::mem::take(&mut self.cluster.held) {
            if self.open_conns.contains(&conn) {
                self.engine.handle_response(self.now, conn, r);
            }
        }
        self.pump();
    }

    /// Drops every open connection as if the network failed.
    pub fn drop_connections(&mut self) {
        let conns: Vec<_> = self.open_conns.drain().collect();
        for c in conns {
            self.engine.handle_disconnected(self.now, c);
        }
        self.pump();
    }

    /// Sends one record and lets the topic's metadata settle (so later sends go straight to
    /// partitions), then forgets the report.
    pub fn warm_up(&mut self, topic: &str) {
        self.send(topic, Some(0), b"warm-up", u64::MAX).unwrap();
        self.engine.flush(self.now);
        self.advance(Duration::from_secs(1));
        assert!(self.reports.iter().any(|r| r.error().is_none()));
        self.reports.clear();
        self.cluster.produce_log.clear();
    }

    pub fn produce_requests(&self) -> usize {
        self.cluster.produce_log.len()
    }
}
