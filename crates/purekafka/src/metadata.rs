//! Cluster metadata, shaped like rust-rdkafka's `rdkafka::metadata`, as
//! [`Client::fetch_metadata`](crate::client::Client::fetch_metadata) returns it.
//!
//! Deviation from rdkafka: the `error()` accessors return `Option<RDKafkaErrorCode>` (rdkafka
//! returns librdkafka's raw `RDKafkaRespErr`, which converts into the same code).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::{Bytes, BytesMut};
use purekafka_core::config::BrokerAddress;
use purekafka_protocol::frame::{KafkaRequest, decode_response, encode_request};
use purekafka_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use purekafka_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use purekafka_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use purekafka_protocol::kafka_protocol::protocol::StrBytes;
use purekafka_protocol::versions::{
    NegotiatedVersions, UNSUPPORTED_VERSION, api_versions_request_version,
    decode_api_versions_response,
};

use crate::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use crate::util::Deadline;

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    id: i32,
    host: String,
    port: i32,
}

impl MetadataBroker {
    /// The broker's node id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The broker's advertised host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The broker's advertised port.
    pub fn port(&self) -> i32 {
        self.port
    }
}

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    id: i32,
    leader: i32,
    error: Option<RDKafkaErrorCode>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

impl MetadataPartition {
    /// The partition index.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The leader's node id (-1 when none).
    pub fn leader(&self) -> i32 {
        self.leader
    }

    /// The partition-level error, if any.
    pub fn error(&self) -> Option<RDKafkaErrorCode> {
        self.error
    }

    /// Node ids of the replicas.
    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    /// Node ids of the in-sync replicas.
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    name: String,
    partitions: Vec<MetadataPartition>,
    error: Option<RDKafkaErrorCode>,
}

impl MetadataTopic {
    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The partitions, by index.
    pub fn partitions(&self) -> &[MetadataPartition] {
        &self.partitions
    }

    /// The topic-level error (e.g. `UnknownTopicOrPartition`), if any.
    pub fn error(&self) -> Option<RDKafkaErrorCode> {
        self.error
    }
}

/// The cluster's brokers and topics, as one broker reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    orig_broker_id: i32,
    orig_broker_name: String,
    brokers: Vec<MetadataBroker>,
    topics: Vec<MetadataTopic>,
}

impl Metadata {
    /// The node id of the broker that answered (-1 if it is not in its own broker list).
    pub fn orig_broker_id(&self) -> i32 {
        self.orig_broker_id
    }

    /// The broker that answered, as `host:port/id`.
    pub fn orig_broker_name(&self) -> &str {
        &self.orig_broker_name
    }

    /// Every broker.
    pub fn brokers(&self) -> &[MetadataBroker] {
        &self.brokers
    }

    /// The requested topic, or every topic.
    pub fn topics(&self) -> &[MetadataTopic] {
        &self.topics
    }
}

fn code(err: i16) -> Option<RDKafkaErrorCode> {
    (err != 0).then(|| RDKafkaErrorCode::from_broker(err))
}

/// Why one broker could not answer (the next bootstrap server is tried).
fn transport(e: impl std::fmt::Display) -> (RDKafkaErrorCode, String) {
    (RDKafkaErrorCode::BrokerTransportFailure, e.to_string())
}

/// One blocking connection, one request at a time.
struct Conn {
    stream: TcpStream,
    client_id: String,
    correlation_id: i32,
    deadline: Deadline,
}

impl Conn {
    fn call<R: KafkaRequest>(
        &mut self,
        version: i16,
        body: &R,
    ) -> Result<Bytes, (RDKafkaErrorCode, String)> {
        let timed_out = || (RDKafkaErrorCode::OperationTimedOut, "timed out".to_owned());
        let left = self.deadline.remaining();
        if left.is_zero() {
            return Err(timed_out());
        }
        // `Duration::MAX` (no deadline) is not a valid socket timeout; None blocks forever.
        let io_timeout = (left < std::time::Duration::from_secs(u32::MAX.into())).then_some(left);
        self.stream
            .set_read_timeout(io_timeout)
            .map_err(transport)?;
        self.stream
            .set_write_timeout(io_timeout)
            .map_err(transport)?;
        self.correlation_id += 1;
        let mut buf = BytesMut::new();
        encode_request(
            &mut buf,
            version,
            self.correlation_id,
            Some(&self.client_id),
            body,
        )
        .map_err(transport)?;
        self.stream.write_all(&buf).map_err(transport)?;
        let mut size = [0_u8; 4];
        self.stream.read_exact(&mut size).map_err(transport)?;
        let size = usize::try_from(i32::from_be_bytes(size)).map_err(transport)?;
        // Read what arrives instead of allocating the declared size up front.
        let mut frame = Vec::new();
        let read = (&mut self.stream)
            .take(size as u64)
            .read_to_end(&mut frame)
            .map_err(transport)?;
        if read != size {
            return Err(transport("connection closed mid-response"));
        }
        Ok(Bytes::from(frame))
    }
}

/// A connection to `address` after the ApiVersions exchange.
fn connect(
    address: &BrokerAddress,
    client_id: &str,
    deadline: Deadline,
) -> Result<(Conn, NegotiatedVersions), (RDKafkaErrorCode, String)> {
    let addr = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(transport)?
        .next()
        .ok_or_else(|| transport("no address"))?;
    let left = deadline.remaining();
    if left.is_zero() {
        return Err((RDKafkaErrorCode::OperationTimedOut, "timed out".to_owned()));
    }
    let stream = TcpStream::connect_timeout(&addr, left.min(std::time::Duration::from_secs(3600)))
        .map_err(transport)?;
    let mut conn = Conn {
        stream,
        client_id: client_id.to_owned(),
        correlation_id: 0,
        deadline,
    };
    let mut version = api_versions_request_version();
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("purekafka"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let frame = conn.call(version, &request)?;
    let (_, mut versions, _) = decode_api_versions_response(frame, version).map_err(transport)?;
    if versions.error_code == UNSUPPORTED_VERSION {
        // KIP-511: the reply lists the broker's ApiVersions range; retry within it.
        version = NegotiatedVersions::from_response(&versions)
            .require(ApiKey::ApiVersions)
            .map_err(transport)?;
        let frame = conn.call(version, &request)?;
        versions = decode_api_versions_response(frame, version)
            .map_err(transport)?
            .1;
    }
    Ok((conn, NegotiatedVersions::from_response(&versions)))
}

fn fetch_from(
    address: &BrokerAddress,
    client_id: &str,
    topic: Option<&str>,
    deadline: Deadline,
) -> Result<MetadataResponse, (RDKafkaErrorCode, String)> {
    let (mut conn, versions) = connect(address, client_id, deadline)?;
    let version = versions.require(ApiKey::Metadata).map_err(transport)?;
    let topics = topic.map(|t| {
        vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.to_owned())))),
        ]
    });
    let request = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false);
    let frame = conn.call(version, &request)?;
    let (_, response) = decode_response::<MetadataResponse>(frame, version).map_err(transport)?;
    Ok(response)
}

/// Earliest (`-2`) or latest (`-1`) offset of one partition, from its leader.
fn list_offset(
    conn: &mut Conn,
    version: i16,
    topic: &str,
    partition: i32,
    which: i64,
) -> Result<i64, (RDKafkaErrorCode, String)> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(0)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_current_leader_epoch(-1)
                        .with_timestamp(which),
                ]),
        ]);
    let frame = conn.call(version, &request)?;
    let (_, response) =
        decode_response::<ListOffsetsResponse>(frame, version).map_err(transport)?;
    let p = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| transport("ListOffsets response without the partition"))?;
    match code(p.error_code) {
        Some(code) => Err((code, format!("ListOffsets for {topic} [{partition}]"))),
        None => Ok(p.offset),
    }
}

fn convert(address: &BrokerAddress, response: MetadataResponse) -> Metadata {
    let brokers: Vec<MetadataBroker> = response
        .brokers
        .iter()
        .map(|b| MetadataBroker {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
        })
        .collect();
    let orig_broker_id = brokers
        .iter()
        .find(|b| b.host == address.host && b.port == i32::from(address.port))
        .map_or(-1, |b| b.id);
    let topics = response
        .topics
        .iter()
        .map(|t| {
            let mut topic = MetadataTopic {
                name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                error: code(t.error_code),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| MetadataPartition {
                        id: p.partition_index,
                        leader: p.leader_id.0,
                        error: code(p.error_code),
                        replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                        isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                    })
                    .collect(),
            };
            // Like librdkafka: partitions by index (brokers may list them in any order).
            topic.partitions.sort_by_key(|p| p.id);
            topic
        })
        .collect();
    Metadata {
        orig_broker_id,
        orig_broker_name: format!("{}:{}/{}", address.host, address.port, orig_broker_id),
        brokers,
        topics,
    }
}

/// Asks the bootstrap servers in turn for the metadata of `topic` (or of every topic) until
/// one answers or the deadline passes.
pub(crate) fn fetch(
    bootstrap: &[BrokerAddress],
    client_id: &str,
    topic: Option<&str>,
    deadline: Deadline,
) -> KafkaResult<Metadata> {
    let mut last = (
        RDKafkaErrorCode::AllBrokersDown,
        "no bootstrap servers".to_owned(),
    );
    for address in bootstrap {
        match fetch_from(address, client_id, topic, deadline) {
            Ok(m) => return Ok(convert(address, m)),
            Err(e) => {
                tracing::debug!(
                    target: "rdkafka::client",
                    "metadata from {}:{} failed: {}",
                    address.host,
                    address.port,
                    e.1
                );
                last = e;
            }
        }
        if deadline.elapsed() {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
    }
    Err(KafkaError::MetadataFetch(last.0))
}

/// The cluster id from the first bootstrap server that answers (`None` on failure or from
/// brokers too old to report one).
pub(crate) fn fetch_cluster_id(
    bootstrap: &[BrokerAddress],
    client_id: &str,
    deadline: Deadline,
) -> Option<String> {
    bootstrap.iter().find_map(|address| {
        fetch_from(address, client_id, Some(""), deadline)
            .ok()
            .and_then(|m| m.cluster_id.map(|id| id.to_string()))
    })
}

/// Low and high watermarks of one partition: metadata from the bootstrap servers, then
/// ListOffsets (earliest and latest, read_uncommitted) to the partition's leader.
pub(crate) fn fetch_watermarks(
    bootstrap: &[BrokerAddress],
    client_id: &str,
    topic: &str,
    partition: i32,
    deadline: Deadline,
) -> KafkaResult<(i64, i64)> {
    let metadata = fetch(bootstrap, client_id, Some(topic), deadline)?;
    let fail = KafkaError::MetadataFetch;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| fail(RDKafkaErrorCode::UnknownTopic))?;
    if let Some(e) = t.error() {
        return Err(fail(e));
    }
    let p = t
        .partitions()
        .iter()
        .find(|p| p.id() == partition)
        .ok_or_else(|| fail(RDKafkaErrorCode::UnknownPartition))?;
    let leader = metadata
        .brokers()
        .iter()
        .find(|b| b.id() == p.leader())
        .ok_or_else(|| fail(RDKafkaErrorCode::LeaderNotAvailable))?;
    let address = BrokerAddress {
        host: leader.host().to_owned(),
        port: u16::try_from(leader.port()).map_err(|_| fail(RDKafkaErrorCode::Fail))?,
    };
    let query = || -> Result<(i64, i64), (RDKafkaErrorCode, String)> {
        let (mut conn, versions) = connect(&address, client_id, deadline)?;
        let version = versions.require(ApiKey::ListOffsets).map_err(transport)?;
        let low = list_offset(&mut conn, version, topic, partition, -2)?;
        let high = list_offset(&mut conn, version, topic, partition, -1)?;
        Ok((low, high))
    };
    query().map_err(|(code, why)| {
        tracing::debug!(target: "rdkafka::client", "watermarks of {topic} [{partition}]: {why}");
        fail(code)
    })
}
