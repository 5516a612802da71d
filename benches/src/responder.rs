//! A minimal in-memory broker for the core benchmarks: it answers ApiVersions, Metadata and
//! Produce frames with real encodings, and nothing else.
//!
//! It is deliberately much cheaper than `purekafka_testkit::fake` (which records every request
//! and keeps every batch in a log for later inspection): the responder's own cost is part of
//! every full-cycle measurement, so it decodes the request header and body with
//! `kafka-protocol`'s broker-side decoders, reads each batch's record count from its header
//! (no CRC check, no record parsing), assigns offsets, and encodes one response. Its share of
//! the CPU time is reported separately by the `core_cycle` bench.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Host name of the single in-memory broker (node id 1).
pub const HOST: &str = "mem-1";
/// Its port.
pub const PORT: u16 = 9092;
/// Its node id.
pub const NODE_ID: i32 = 1;

/// Offset of `recordCount` in a RecordBatch v2 header.
const RECORD_COUNT_OFFSET: usize = 57;

/// Why the responder could not answer a frame (a bug in the engine or in the responder: the
/// benchmarks stop on it rather than measuring a broken run).
#[derive(Debug)]
pub struct ResponderError(pub String);

impl core::fmt::Display for ResponderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResponderError {}

fn err(what: impl core::fmt::Display) -> ResponderError {
    ResponderError(what.to_string())
}

/// One in-memory broker leading every partition of every topic it knows.
#[derive(Debug)]
pub struct MemBroker {
    /// Topics and the next offset of each of their partitions.
    topics: Vec<(String, Vec<i64>)>,
    /// Requests answered, per API (ApiVersions, Metadata, Produce).
    pub counts: RequestCounts,
    /// Reused encode buffer; responses are split off it.
    buf: BytesMut,
}

/// How many requests of each kind the responder answered, and what the Produce ones carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// ApiVersions requests.
    pub api_versions: u64,
    /// Metadata requests.
    pub metadata: u64,
    /// Produce requests.
    pub produce: u64,
    /// Partition batches in those Produce requests.
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Bytes of the batches (as sent: compressed when compression is on).
    pub batch_bytes: u64,
}

impl MemBroker {
    /// A broker with `topics` (name, partition count).
    pub fn new(topics: &[(&str, i32)]) -> Self {
        Self {
            topics: topics
                .iter()
                .map(|&(name, n)| (name.to_owned(), vec![0; n.max(0) as usize]))
                .collect(),
            counts: RequestCounts::default(),
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Answers one request frame (WITHOUT its 4-byte size prefix). `Ok(None)` = no response
    /// (Produce with acks=0).
    pub fn handle(&mut self, mut frame: Bytes) -> Result<Option<Bytes>, ResponderError> {
        if frame.len() < 4 {
            return Err(err(format!("frame of {} bytes", frame.len())));
        }
        let api_key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]]))
            .map_err(|()| err("unknown api key"))?;
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
            .map_err(err)?;
        let corr = header.correlation_id;
        let resp_header_version = api_key.response_header_version(version);
        match api_key {
            ApiKey::ApiVersions => {
                self.counts.api_versions += 1;
                // Kafka 4.1's ranges for the APIs the engine uses.
                let api_keys = [(0, 0, 13), (3, 0, 13), (18, 0, 4), (22, 0, 5)]
                    .into_iter()
                    .map(|(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .collect();
                let body = ApiVersionsResponse::default().with_api_keys(api_keys);
                self.respond(corr, 0, version, &body).map(Some)
            }
            ApiKey::Metadata => {
                self.counts.metadata += 1;
                let req = MetadataRequest::decode(&mut frame, version).map_err(err)?;
                let body = self.metadata(&req);
                self.respond(corr, resp_header_version, version, &body)
                    .map(Some)
            }
            ApiKey::Produce => {
                self.counts.produce += 1;
                let req = ProduceRequest::decode(&mut frame, version).map_err(err)?;
                let body = self.produce(&req)?;
                if req.acks == 0 {
                    return Ok(None);
                }
                self.respond(corr, resp_header_version, version, &body)
                    .map(Some)
            }
            other => Err(err(format!("{other:?} is not answered by MemBroker"))),
        }
    }

    fn metadata(&self, req: &MetadataRequest) -> MetadataResponse {
        let broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(NODE_ID))
            .with_host(StrBytes::from_static_str(HOST))
            .with_port(i32::from(PORT));
        let wanted: Vec<&str> = match &req.topics {
            Some(ts) => ts
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str()))
                .collect(),
            None => self.topics.iter().map(|(n, _)| n.as_str()).collect(),
        };
        let topics = wanted
            .into_iter()
            .map(|name| {
                let mut t = MetadataResponseTopic::default()
                    .with_name(Some(StrBytes::from_string(name.to_owned()).into()));
                match self.topics.iter().find(|(n, _)| n == name) {
                    Some((_, parts)) => {
                        t.partitions = (0..parts.len() as i32)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(BrokerId(NODE_ID))
                                    .with_leader_epoch(0)
                                    .with_replica_nodes(vec![BrokerId(NODE_ID)])
                                    .with_isr_nodes(vec![BrokerId(NODE_ID)])
                            })
                            .collect();
                    }
                    None => t.error_code = 3, // UNKNOWN_TOPIC_OR_PARTITION
                }
                t
            })
            .collect();
        MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_cluster_id(Some(StrBytes::from_static_str("mem-cluster")))
            .with_controller_id(BrokerId(NODE_ID))
            .with_topics(topics)
    }

    fn produce(&mut self, req: &ProduceRequest) -> Result<ProduceResponse, ResponderError> {
        let mut responses = Vec::with_capacity(req.topic_data.len());
        for td in &req.topic_data {
            let Some((_, offsets)) = self.topics.iter_mut().find(|(n, _)| *n == *td.name.0) else {
                return Err(err(format!("produce to unknown topic {:?}", td.name.0)));
            };
            let mut partition_responses = Vec::with_capacity(td.partition_data.len());
            for pd in &td.partition_data {
                let records = pd.records.as_deref().unwrap_or_default();
                let count = records
                    .get(RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| err("batch shorter than its header"))?;
                let next = usize::try_from(pd.index)
                    .ok()
                    .and_then(|i| offsets.get_mut(i))
                    .ok_or_else(|| err(format!("produce to unknown partition {}", pd.index)))?;
                let base = *next;
                *next += i64::from(count);
                self.counts.batches += 1;
                self.counts.records += count as u64;
                self.counts.batch_bytes += records.len() as u64;
                partition_responses.push(
                    PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_base_offset(base)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(0),
                );
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(td.name.clone())
                    .with_partition_responses(partition_responses),
            );
        }
        Ok(ProduceResponse::default().with_responses(responses))
    }

    fn respond<B: Encodable>(
        &mut self,
        corr: i32,
        header_version: i16,
        version: i16,
        body: &B,
    ) -> Result<Bytes, ResponderError> {
        self.buf.clear();
        ResponseHeader::default()
            .with_correlation_id(corr)
            .encode(&mut self.buf, header_version)
            .map_err(err)?;
        body.encode(&mut self.buf, version).map_err(err)?;
        Ok(self.buf.split().freeze())
    }

    /// Next offset of `topic`/`partition` (records appended so far).
    pub fn log_end_offset(&self, topic: &str, partition: usize) -> Option<i64> {
        self.topics
            .iter()
            .find(|(n, _)| n == topic)
            .and_then(|(_, p)| p.get(partition).copied())
    }
}
