//! Building the engine's request frames (ApiVersions, Metadata, Produce, InitProducerId and
//! the transaction APIs).
//!
//! Every frame goes through `purekafka_protocol::frame::encode_request` (size prefix, header
//! version, correlation id), except ProduceRequests: `ProduceFrameBuilder` splices the sealed
//! batch bytes into the frame without copying them. The engine never re-encodes a batch for
//! a retry.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiVersionsRequest, EndTxnRequest,
    FindCoordinatorRequest, GroupId, InitProducerIdRequest, MetadataRequest, ProducerId, TopicName,
    TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::frame::produce::{ChunkedFrame, ProduceFrameBuilder};
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

/// InitProducerId; `transactional_id` is `None` for an idempotent (non-transactional)
/// producer; `pid`/`epoch` are the current ones for a KIP-360 epoch bump (v3+), or -1.
pub(crate) fn init_producer_id(
    version: i16,
    corr: i32,
    client_id: &str,
    transactional_id: Option<&StrBytes>,
    pid: i64,
    epoch: i16,
    transaction_timeout_ms: i32,
) -> Result<Bytes, CodecError> {
    let body = InitProducerIdRequest::default()
        .with_transactional_id(transactional_id.cloned().map(TransactionalId))
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
/// The batches are not copied: the frame is framing chunks with each batch's `Bytes` in
/// between, for a vectored write.
#[allow(clippy::too_many_arguments)]
pub(crate) fn produce(
    version: i16,
    corr: i32,
    client_id: &str,
    transactional_id: Option<&StrBytes>,
    acks: i16,
    timeout_ms: i32,
    parts: &[ProducePart<'_>],
) -> Result<ChunkedFrame, CodecError> {
    let topics = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == 0 || parts[i - 1].topic != p.topic)
        .count();
    let mut frame = ProduceFrameBuilder::new(
        version,
        corr,
        Some(client_id),
        transactional_id.map(|t| t.as_str()),
        acks,
        timeout_ms,
        topics,
    )?;
    let mut rest = parts;
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|p| p.topic == first.topic).count();
        frame.topic(first.topic, n)?;
        for p in &rest[..n] {
            // Sealed without their CRC (`seal_options`): the frame computes it when written.
            frame.partition_crc_pending(p.partition, p.records.clone())?;
        }
        rest = &rest[n..];
    }
    frame.finish()
}

/// FindCoordinator for one key (`key_type` 0 = group, 1 = transaction); v4+ carries the key
/// in the batched `coordinator_keys`.
pub(crate) fn find_coordinator(
    version: i16,
    corr: i32,
    client_id: &str,
    key_type: i8,
    key: &StrBytes,
) -> Result<Bytes, CodecError> {
    let mut body = FindCoordinatorRequest::default().with_key_type(key_type);
    if version >= 4 {
        body = body.with_coordinator_keys(vec![key.clone()]);
    } else {
        body = body.with_key(key.clone());
    }
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// The producer identity every transactional request carries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxnIdent<'a> {
    pub(crate) transactional_id: &'a StrBytes,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
}

/// AddPartitionsToTxn v0-3; `topics` pairs each topic with its partitions.
pub(crate) fn add_partitions_to_txn(
    version: i16,
    corr: i32,
    client_id: &str,
    ident: TxnIdent<'_>,
    topics: Vec<(StrBytes, Vec<i32>)>,
) -> Result<Bytes, CodecError> {
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(name))
                .with_partitions(partitions)
        })
        .collect();
    let body = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(ident.transactional_id.clone()))
        .with_v3_and_below_producer_id(ProducerId(ident.producer_id))
        .with_v3_and_below_producer_epoch(ident.producer_epoch)
        .with_v3_and_below_topics(topics);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// AddOffsetsToTxn: puts the group's offsets topic partition into the transaction.
pub(crate) fn add_offsets_to_txn(
    version: i16,
    corr: i32,
    client_id: &str,
    ident: TxnIdent<'_>,
    group_id: &StrBytes,
) -> Result<Bytes, CodecError> {
    let body = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(ident.transactional_id.clone()))
        .with_producer_id(ProducerId(ident.producer_id))
        .with_producer_epoch(ident.producer_epoch)
        .with_group_id(GroupId(group_id.clone()));
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// One partition's offset in a TxnOffsetCommit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OffsetPart {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<StrBytes>,
}

/// The group fields of a TxnOffsetCommit (generation, member and instance id: v3+).
#[derive(Clone, Debug)]
pub(crate) struct OffsetGroup<'a> {
    pub(crate) group_id: &'a StrBytes,
    pub(crate) generation_id: i32,
    pub(crate) member_id: &'a StrBytes,
    pub(crate) group_instance_id: Option<&'a StrBytes>,
}

/// TxnOffsetCommit; `topics` must hold each topic once.
pub(crate) fn txn_offset_commit(
    version: i16,
    corr: i32,
    client_id: &str,
    ident: TxnIdent<'_>,
    group: OffsetGroup<'_>,
    topics: &[(StrBytes, Vec<OffsetPart>)],
) -> Result<Bytes, CodecError> {
    let topics = topics
        .iter()
        .map(|(name, parts)| {
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(name.clone()))
                .with_partitions(
                    parts
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(p.offset)
                                .with_committed_leader_epoch(p.leader_epoch)
                                .with_committed_metadata(p.metadata.clone())
                        })
                        .collect(),
                )
        })
        .collect();
    let mut body = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(ident.transactional_id.clone()))
        .with_group_id(GroupId(group.group_id.clone()))
        .with_producer_id(ProducerId(ident.producer_id))
        .with_producer_epoch(ident.producer_epoch)
        .with_topics(topics);
    if version >= 3 {
        body = body
            .with_generation_id(group.generation_id)
            .with_member_id(group.member_id.clone())
            .with_group_instance_id(group.group_instance_id.cloned());
    }
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}

/// EndTxn: commit (`true`) or abort the transaction.
pub(crate) fn end_txn(
    version: i16,
    corr: i32,
    client_id: &str,
    ident: TxnIdent<'_>,
    commit: bool,
) -> Result<Bytes, CodecError> {
    let body = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(ident.transactional_id.clone()))
        .with_producer_id(ProducerId(ident.producer_id))
        .with_producer_epoch(ident.producer_epoch)
        .with_committed(commit);
    let mut buf = BytesMut::new();
    encode_request(&mut buf, version, corr, Some(client_id), &body)?;
    Ok(buf.freeze())
}
