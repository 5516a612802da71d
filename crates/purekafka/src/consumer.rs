//! The one consumer type a producer needs: [`ConsumerGroupMetadata`], for
//! [`Producer::send_offsets_to_transaction`](crate::producer::Producer::send_offsets_to_transaction).
//!
//! purekafka has no consumer. In rdkafka the metadata comes from `Consumer::group_metadata()`;
//! here it is built with the constructors librdkafka offers for the same purpose
//! (`rd_kafka_consumer_group_metadata_new` and `..._new_with_genid`), from whatever consumer
//! the application uses.

/// The consumer group a transaction commits offsets for (KIP-447: group id, generation,
/// member id and static instance id let the group coordinator fence zombie consumers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub(crate) group_id: String,
    pub(crate) generation_id: i32,
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata with only a group id (generation -1, no member id): the coordinator then does
    /// not fence by generation, as with pre-KIP-447 clients.
    pub fn new(group_id: &str) -> Self {
        Self::new_with_genid(group_id, -1, "", None)
    }

    /// Metadata with the consumer's generation, member id and static instance id, as its
    /// consumer reports them.
    pub fn new_with_genid(
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Self {
        Self {
            group_id: group_id.to_owned(),
            generation_id,
            member_id: member_id.to_owned(),
            group_instance_id: group_instance_id.map(str::to_owned),
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The generation id (-1 when unknown).
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// The member id ("" when unknown).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The static group instance id, if any.
    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }
}
