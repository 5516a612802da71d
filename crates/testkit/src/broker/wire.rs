//! A minimal blocking Kafka client for the launcher's own needs (readiness, topic creation).
//! It is deliberately independent of purekafka's protocol crate, so that a bug there cannot hide
//! behind a broker that "looks" ready.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Responses larger than this are refused: the launcher only reads small metadata answers.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Metadata v12: supported by Kafka 3.1 and later (4.1 accepts 0-13).
const METADATA_VERSION: i16 = 12;
/// ListOffsets v7: supported by Kafka 3.0 and later (4.x accepts 1-10).
const LIST_OFFSETS_VERSION: i16 = 7;
/// CreateTopics v7: supported by Kafka 2.8 and later (4.x accepts 2-7).
const CREATE_TOPICS_VERSION: i16 = 7;
/// DeleteTopics v6: supported by Kafka 2.8 and later (4.x accepts 1-6).
const DELETE_TOPICS_VERSION: i16 = 6;

/// One connection to a broker.
pub(crate) struct Conn {
    stream: TcpStream,
    correlation_id: i32,
}

impl Conn {
    /// Connects to `addr` ("host:port") with `timeout` for connect, reads and writes.
    pub(crate) fn connect(addr: &str, timeout: Duration) -> Result<Self, String> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| format!("resolving {addr}: {e}"))?
            .collect();
        let mut last = format!("{addr} resolved to no address");
        for sa in addrs {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(timeout))
                        .map_err(|e| e.to_string())?;
                    stream
                        .set_write_timeout(Some(timeout))
                        .map_err(|e| e.to_string())?;
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                    return Ok(Self {
                        stream,
                        correlation_id: 0,
                    });
                }
                Err(e) => last = format!("connecting to {sa}: {e}"),
            }
        }
        Err(last)
    }

    /// Sends `req` at `version` and decodes its response.
    pub(crate) fn call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, String> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("purekafka-testkit")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| format!("encoding request header: {e}"))?;
        req.encode(&mut buf, version)
            .map_err(|e| format!("encoding request: {e}"))?;
        let len = i32::try_from(buf.len() - 4).map_err(|_| "request too large".to_string())?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream
            .write_all(&buf)
            .map_err(|e| format!("sending: {e}"))?;

        let mut len_buf = [0u8; 4];
        self.stream
            .read_exact(&mut len_buf)
            .map_err(|e| format!("reading response size: {e}"))?;
        let len = i32::from_be_bytes(len_buf);
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_RESPONSE)
            .ok_or_else(|| format!("bad response size {len}"))?;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("reading response: {e}"))?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| format!("decoding response header: {e}"))?;
        if rh.correlation_id != self.correlation_id {
            return Err(format!(
                "correlation id {} in response, expected {}",
                rh.correlation_id, self.correlation_id
            ));
        }
        let resp = R::Response::decode(&mut body, version)
            .map_err(|e| format!("decoding response: {e}"))?;
        if body.has_remaining() {
            return Err(format!(
                "{} unread bytes after the response",
                body.remaining()
            ));
        }
        Ok(resp)
    }

    /// Metadata for `topics` (`None` = all topics).
    pub(crate) fn metadata(&mut self, topics: Option<&[&str]>) -> Result<MetadataResponse, String> {
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        self.call(&req, METADATA_VERSION)
    }

    /// Sends CreateTopics for one topic (`replication_factor` -1: the broker default) and
    /// returns its per-topic result.
    pub(crate) fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<CreatableTopicResult, String> {
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string((*k).to_owned()))
                            .with_value(Some(StrBytes::from_string((*v).to_owned())))
                    })
                    .collect(),
            );
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
            .with_validate_only(false);
        let resp = self.call(&req, CREATE_TOPICS_VERSION)?;
        resp.topics
            .into_iter()
            .find(|t| &*t.name.0 == name)
            .ok_or_else(|| format!("CreateTopics response does not mention {name}"))
    }
}

impl Conn {
    /// Sends DeleteTopics for one topic; returns its error code (0: deleted).
    pub(crate) fn delete_topic(&mut self, name: &str, timeout: Duration) -> Result<i16, String> {
        let req = DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(name))),
            ])
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
        let resp = self.call(&req, DELETE_TOPICS_VERSION)?;
        resp.responses
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| &*n.0 == name))
            .map(|t| t.error_code)
            .ok_or_else(|| format!("DeleteTopics response does not mention {name}"))
    }
}

impl Conn {
    /// ListOffsets (latest) for partitions `0..partitions` of `topic`: the error code per
    /// partition. 0 everywhere means this broker leads them all and serves requests for them.
    pub(crate) fn latest_offset_errors(
        &mut self,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<(i32, i16)>, String> {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        (0..partitions)
                            .map(|p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_current_leader_epoch(-1)
                                    .with_timestamp(-1)
                            })
                            .collect(),
                    ),
            ]);
        let resp = self.call(&req, LIST_OFFSETS_VERSION)?;
        Ok(resp
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code))
            })
            .collect())
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
