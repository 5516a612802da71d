//! Building the engine's request frames (ApiVersions, Metadata, Produce).
//!
//! Every frame goes through `purekafka_protocol::frame::encode_request` (size prefix, header
//! version, correlation id). The records of a ProduceRequest are the sealed batch bytes; the
//! engine never re-encodes a batch for a retry.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiVersionsRequest, InitProducerIdRequest, MetadataRequest, ProduceRequest, ProducerId,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::frame::{CodecError, encode_request};
use purekafka_protocol::kafka_protocol;

/// The `client_software_name` sent in ApiVersions v3+ (KIP-511).
const SOFTWARE_NAME: &str = "purekafka";
/// The `client_software_version` sent in ApiVersions v3+.
const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn api_versions(version: i16, corr: i32, client_id: &str) -> Result<Bytes, CodecError> {
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str(SOFTWARE_NAME))
        .with_client_software_version(StrBytes::from_static_str(SOFTWARE_VERSION));
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

pub(crate) fn metadata(
    version: i16,
    corr: i32,
    client_id: &str,
    topics: impl Iterator<Item = StrBytes>,
    allow_auto_create: bool,
) -> Result<Bytes, CodecError> {
    let topics = topics
        .map(|name| MetadataRequestTopic::default().with_name(Some(TopicName(name))))
        .collect();
    let body = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(allow_auto_create);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// InitProducerId for an idempotent (non-transactional) producer; `pid`/`epoch` are the
/// current ones for a KIP-360 epoch bump (v3+), or -1.
pub(crate) fn init_producer_id(
    version: i16,
    corr: i32,
    client_id: &str,
    pid: i64,
    epoch: i16,
    transaction_timeout_ms: i32,
) -> Result<Bytes, CodecError> {
    let body = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(transaction_timeout_ms)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// One partition's batch in a ProduceRequest.
pub(crate) struct ProducePart<'a> {
    pub(crate) topic: &'a StrBytes,
    pub(crate) partition: i32,
    pub(crate) records: Bytes,
}

/// Encodes a ProduceRequest; `parts` must be grouped by topic (consecutive equal topics).
pub(crate) fn produce(
    version: i16,
    corr: i32,
    client_id: &str,
    acks: i16,
    timeout_ms: i32,
    parts: &[ProducePart<'_>],
) -> Result<Bytes, CodecError> {
    let mut topic_data: Vec<TopicProduceData> = Vec::new();
    let mut size = 0;
    for p in parts {
        size += p.records.len();
        let data = PartitionProduceData::default()
            .with_index(p.partition)
            .with_records(Some(p.records.clone()));
        match topic_data.last_mut() {
            Some(t) if *t.name.0 == **p.topic => t.partition_data.push(data),
            _ => topic_data.push(
                TopicProduceData::default()
                    .with_name(TopicName(p.topic.clone()))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    let body = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(topic_data);
    let mut buf = BytesMut::with_capacity(size + 64 + 32 * parts.len());
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}
