//! The producer's typed configuration, with librdkafka's property names, defaults and ranges.
//!
//! [`ProducerConfig`] is what the engine reads. [`ProducerConfig::from_properties`] builds one
//! from librdkafka property strings (aliases, ranges and cross-checks as librdkafka applies
//! them) and names the offending property in every [`ConfigError`].

use core::time::Duration;

pub use purekafka_protocol::compression::Compression;

use crate::partitioner::PartitionerKind;

/// A broker address from `bootstrap.servers` or from Metadata.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Host name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Typed producer configuration. Field defaults are librdkafka 2.12's.
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// `bootstrap.servers` / `metadata.broker.list`.
    pub bootstrap_servers: Vec<BrokerAddress>,
    /// `client.id` (default `rdkafka`).
    pub client_id: String,
    /// `acks` / `request.required.acks`: 0, 1 or -1 (all). Default -1.
    pub acks: i16,
    /// `request.timeout.ms`: the broker-side ack timeout sent in ProduceRequest. Default 30 s.
    pub request_timeout: Duration,
    /// `socket.timeout.ms`: how long the client waits for any response. Default 60 s.
    pub socket_timeout: Duration,
    /// `message.timeout.ms` / `delivery.timeout.ms`; `None` means no limit (0). Default 300 s.
    pub message_timeout: Option<Duration>,
    /// `linger.ms` / `queue.buffering.max.ms` (fractional ms allowed). Default 5 ms.
    pub linger: Duration,
    /// `batch.num.messages`. Default 10000.
    pub batch_num_messages: usize,
    /// `batch.size` in bytes. Default 1000000.
    pub batch_size: usize,
    /// `message.max.bytes`. Default 1000000.
    pub message_max_bytes: usize,
    /// `queue.buffering.max.messages`; 0 disables the limit. Default 100000.
    pub queue_buffering_max_messages: usize,
    /// `queue.buffering.max.kbytes`. Default 1048576.
    pub queue_buffering_max_kbytes: usize,
    /// `max.in.flight` / `max.in.flight.requests.per.connection`. Default 1000000.
    pub max_in_flight: usize,
    /// `message.send.max.retries` / `retries`. Default i32::MAX.
    pub message_send_max_retries: u32,
    /// `retry.backoff.ms`. Default 100 ms.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`. Default 1000 ms.
    pub retry_backoff_max: Duration,
    /// `compression.codec` / `compression.type`. Default none.
    pub compression: Compression,
    /// `compression.level`: -1 is the codec's default.
    pub compression_level: i32,
    /// `partitioner`. Default consistent_random.
    pub partitioner: PartitionerKind,
    /// `sticky.partitioning.linger.ms`; zero disables sticky partitioning. Default 10 ms.
    pub sticky_partitioning_linger: Duration,
    /// `topic.metadata.refresh.interval.ms`; `None` disables periodic refresh (-1). Default 300 s.
    pub topic_metadata_refresh_interval: Option<Duration>,
    /// `topic.metadata.refresh.fast.interval.ms`. Default 100 ms.
    pub topic_metadata_refresh_fast_interval: Duration,
    /// `metadata.max.age.ms`. Default 900 s.
    pub metadata_max_age: Duration,
    /// `topic.metadata.propagation.max.ms`. Default 30 s.
    pub topic_metadata_propagation_max: Duration,
    /// `allow.auto.create.topics`. librdkafka's producer default: true.
    pub allow_auto_create_topics: bool,
    /// `delivery.report.only.error`. Default false.
    pub delivery_report_only_error: bool,
    /// `enable.idempotence`. Default false.
    pub enable_idempotence: bool,
    /// `enable.gapless.guarantee`. Default false.
    pub enable_gapless_guarantee: bool,
    /// `transactional.id`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`. Default 60 s.
    pub transaction_timeout: Duration,
    /// `statistics.interval.ms`; zero disables. Default 0.
    pub statistics_interval: Duration,
    /// `reconnect.backoff.ms`. Default 100 ms.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`. Default 10 s.
    pub reconnect_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms`. Default 30 s.
    pub socket_connection_setup_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "rdkafka".to_owned(),
            acks: -1,
            request_timeout: Duration::from_millis(30_000),
            socket_timeout: Duration::from_millis(60_000),
            message_timeout: Some(Duration::from_millis(300_000)),
            linger: Duration::from_millis(5),
            batch_num_messages: 10_000,
            batch_size: 1_000_000,
            message_max_bytes: 1_000_000,
            queue_buffering_max_messages: 100_000,
            queue_buffering_max_kbytes: 1_048_576,
            max_in_flight: 1_000_000,
            message_send_max_retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            compression: Compression::None,
            compression_level: -1,
            partitioner: PartitionerKind::ConsistentRandom,
            sticky_partitioning_linger: Duration::from_millis(10),
            topic_metadata_refresh_interval: Some(Duration::from_millis(300_000)),
            topic_metadata_refresh_fast_interval: Duration::from_millis(100),
            metadata_max_age: Duration::from_millis(900_000),
            topic_metadata_propagation_max: Duration::from_millis(30_000),
            allow_auto_create_topics: true,
            delivery_report_only_error: false,
            enable_idempotence: false,
            enable_gapless_guarantee: false,
            transactional_id: None,
            transaction_timeout: Duration::from_millis(60_000),
            statistics_interval: Duration::ZERO,
            reconnect_backoff: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_millis(10_000),
            socket_connection_setup_timeout: Duration::from_millis(30_000),
        }
    }
}
