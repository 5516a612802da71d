//! The producer's typed configuration, with librdkafka's property names, defaults and ranges.
//!
//! [`ProducerConfig`] is what the engine and the driver read. [`ProducerConfig::from_properties`]
//! builds one from librdkafka property strings the way `rd_kafka_conf_set` and
//! `rd_kafka_conf_finalize` (librdkafka 2.12.1) do: aliases, the `topic.` prefix, value
//! parsing, ranges, defaults derived from other properties and the producer cross-checks, with
//! librdkafka's error texts. [`properties`] is the full catalogue, with what purekafka does
//! with each property.

use core::time::Duration;

pub use purekafka_protocol::compression::Compression;

use crate::partitioner::PartitionerKind;

pub mod properties;

pub use properties::{Disposition, Property, is_secret};
use properties::{Level, Role, ValueType};

/// A broker address from `bootstrap.servers` or from Metadata.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddress {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// `metadata.recovery.strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetadataRecoveryStrategy {
    /// `none`: never re-bootstrap.
    None,
    /// `rebootstrap`: go back to `bootstrap.servers` when no known broker is reachable.
    #[default]
    Rebootstrap,
}

/// `broker.address.family`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BrokerAddressFamily {
    /// `any`.
    #[default]
    Any,
    /// `v4`.
    V4,
    /// `v6`.
    V6,
}

/// `client.dns.lookup`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientDnsLookup {
    /// `use_all_dns_ips`: try every address a name resolves to.
    #[default]
    UseAllDnsIps,
    /// `resolve_canonical_bootstrap_servers_only`: replace bootstrap names by their canonical
    /// names before connecting.
    ResolveCanonicalBootstrapServersOnly,
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
    /// `topic.metadata.refresh.interval.ms`; `None` disables periodic refresh (-1 or 0). Default 300 s.
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
    /// `queue.buffering.backpressure.threshold`: requests waiting to be taken up by the
    /// broker (unwritten, or queued behind the one it works on) before batching is held
    /// back. Default 1.
    pub queue_buffering_backpressure_threshold: u32,
    /// `receive.message.max.bytes`: the largest response frame accepted. Default 100000000.
    pub receive_message_max_bytes: usize,
    /// `metadata.recovery.strategy`. Default rebootstrap.
    pub metadata_recovery_strategy: MetadataRecoveryStrategy,
    /// `metadata.recovery.rebootstrap.trigger.ms`. Default 300 s.
    pub metadata_recovery_rebootstrap_trigger: Duration,
    /// `topic.metadata.refresh.sparse`: request only the locally used topics. Default true.
    pub topic_metadata_refresh_sparse: bool,
    /// `socket.max.fails`: consecutive request send failures before the connection is closed;
    /// 0 disables. Default 1.
    pub socket_max_fails: u32,
    /// `connections.max.idle.ms`; `None` (0) keeps idle connections open. Default none,
    /// 230 s when a bootstrap host name contains `azure` (librdkafka issue #3109).
    pub connections_max_idle: Option<Duration>,
    /// `api.version.request.timeout.ms`. Default 10 s.
    pub api_version_request_timeout: Duration,
    /// `client.software.name`, sanitized to `a-zA-Z0-9.-` (KIP-511). Default `purekafka`.
    pub client_software_name: String,
    /// `client.software.version`, sanitized like the name. Default this crate's version.
    pub client_software_version: String,
    /// Driver: `socket.send.buffer.bytes`; 0 keeps the system default.
    pub socket_send_buffer_bytes: u32,
    /// Driver: `socket.receive.buffer.bytes`; 0 keeps the system default.
    pub socket_receive_buffer_bytes: u32,
    /// Driver: `socket.keepalive.enable` (SO_KEEPALIVE). Default false.
    pub socket_keepalive_enable: bool,
    /// Driver: `socket.nagle.disable` (TCP_NODELAY). Default true.
    pub socket_nagle_disable: bool,
    /// Driver: `broker.address.ttl`, how long resolved addresses are cached. Default 1 s.
    pub broker_address_ttl: Duration,
    /// Driver: `broker.address.family`. Default any.
    pub broker_address_family: BrokerAddressFamily,
    /// Driver: `client.dns.lookup`. Default use_all_dns_ips.
    pub client_dns_lookup: ClientDnsLookup,
    /// Driver: `debug` contexts enabled (librdkafka's names; `all` expands to every one).
    pub debug: Vec<&'static str>,
    /// Driver: `log_level` (syslog levels 0..=7). Default 6.
    pub log_level: i32,
    /// Driver: `log.queue`. Default false (rust-rdkafka forces it on).
    pub log_queue: bool,
    /// Driver: `log.thread.name`. Default true.
    pub log_thread_name: bool,
    /// Driver: `log.connection.close`: log broker-initiated disconnects. Default true.
    pub log_connection_close: bool,
    /// Driver: hidden `test.mock.num.brokers`: brokers of an in-process mock cluster
    /// (rdkafka's `mocking`); 0 means a real cluster.
    pub test_mock_num_brokers: u32,
    /// Driver: hidden `test.mock.broker.rtt`: simulated mock broker latency.
    pub test_mock_broker_rtt: Duration,
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
            queue_buffering_backpressure_threshold: 1,
            receive_message_max_bytes: 100_000_000,
            metadata_recovery_strategy: MetadataRecoveryStrategy::Rebootstrap,
            metadata_recovery_rebootstrap_trigger: Duration::from_millis(300_000),
            topic_metadata_refresh_sparse: true,
            socket_max_fails: 1,
            connections_max_idle: None,
            api_version_request_timeout: Duration::from_millis(10_000),
            client_software_name: "purekafka".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            socket_send_buffer_bytes: 0,
            socket_receive_buffer_bytes: 0,
            socket_keepalive_enable: false,
            socket_nagle_disable: true,
            broker_address_ttl: Duration::from_millis(1000),
            broker_address_family: BrokerAddressFamily::Any,
            client_dns_lookup: ClientDnsLookup::UseAllDnsIps,
            debug: Vec::new(),
            log_level: 6,
            log_queue: false,
            log_thread_name: true,
            log_connection_close: true,
            test_mock_num_brokers: 0,
            test_mock_broker_rtt: Duration::ZERO,
        }
    }
}

/// librdkafka's `rd_kafka_conf_res_t` for a failed `rd_kafka_conf_set` (rdkafka's
/// `RDKafkaConfRes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ConfRes {
    /// `RD_KAFKA_CONF_UNKNOWN` (-2): no such property.
    Unknown = -2,
    /// `RD_KAFKA_CONF_INVALID` (-1): bad value, or not supported.
    Invalid = -1,
}

/// Why a set of properties doesn't make a producer configuration.
///
/// rdkafka reports the first three as `KafkaError::ClientConfig(conf_res, description, key,
/// value)` (from `rd_kafka_conf_set`) and [`ConfigError::Conflict`] as
/// `KafkaError::ClientCreation(description)` (from `rd_kafka_new`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No property has this name (after the `topic.` prefix is stripped).
    #[error(
        "No such configuration property: \"{}\"",
        properties::strip_topic_prefix(name)
    )]
    UnknownProperty {
        /// The key as given.
        name: String,
        /// The value as given.
        value: String,
    },
    /// The value doesn't parse or is out of range; `reason` is librdkafka's text.
    #[error("{reason}")]
    InvalidValue {
        /// The key as given.
        name: String,
        /// The value as given.
        value: String,
        /// librdkafka's error text, naming the canonical property.
        reason: String,
    },
    /// purekafka doesn't implement this property (or this value of it) yet.
    #[error("{reason}")]
    Unsupported {
        /// The key as given.
        name: String,
        /// The value as given.
        value: String,
        /// What is missing, naming the property.
        reason: String,
    },
    /// Properties conflict, as `rd_kafka_conf_finalize` reports it.
    #[error("{description}")]
    Conflict {
        /// librdkafka's text, e.g. "`acks` must be set to `all` when `enable.idempotence` is true".
        description: String,
    },
}

impl ConfigError {
    /// The `rd_kafka_conf_res_t` rdkafka's `ClientConfig` error carries; `None` for a
    /// [`ConfigError::Conflict`], which rdkafka reports as `ClientCreation`.
    pub fn conf_res(&self) -> Option<ConfRes> {
        match self {
            Self::UnknownProperty { .. } => Some(ConfRes::Unknown),
            Self::InvalidValue { .. } | Self::Unsupported { .. } => Some(ConfRes::Invalid),
            Self::Conflict { .. } => None,
        }
    }

    /// The offending key as the caller spelled it, if one property is to blame.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownProperty { name, .. }
            | Self::InvalidValue { name, .. }
            | Self::Unsupported { name, .. } => Some(name),
            Self::Conflict { .. } => None,
        }
    }

    /// The offending value as given, if one property is to blame.
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::UnknownProperty { value, .. }
            | Self::InvalidValue { value, .. }
            | Self::Unsupported { value, .. } => Some(value),
            Self::Conflict { .. } => None,
        }
    }
}

/// librdkafka's `RD_KAFKA_IDEMP_MAX_INFLIGHT`.
const IDEMP_MAX_INFLIGHT: usize = 5;

/// A parsed property value, before it's stored.
enum Value<'a> {
    /// A string; `None` resets to the default (librdkafka treats "" as NULL).
    Str(Option<&'a str>),
    Int(i32),
    Float(f64),
    Bool(bool),
    Word(&'static str),
    /// Nothing to store (validated no-op).
    Nothing,
}

/// Accumulates `rd_kafka_conf_set` calls, then finalizes like `rd_kafka_conf_finalize`.
struct Builder {
    cfg: ProducerConfig,
    /// Canonical names of the properties that were set (librdkafka's "modified" bits).
    modified: Vec<(Level, &'static str)>,
    /// linger in ms as librdkafka's double, so the cross-checks compare what it compares.
    linger_ms: f64,
    /// message.timeout.ms as set (0 = infinite).
    message_timeout_ms: i64,
    /// Topic-level `compression.codec`; `None` = inherit the global one.
    topic_compression: Option<Compression>,
    debug_mask: u64,
    /// The last (key, value) that set `metadata.broker.list`, parsed at finalize time.
    broker_list: Option<(String, String)>,
    warnings: Vec<String>,
}

fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

fn as_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn usize_of(v: i32) -> usize {
    usize::try_from(v).unwrap_or(0)
}

fn u32_of(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// KIP-511 client software name/version sanitizing, as librdkafka does it: leading and
/// trailing non-alphanumerics dropped, other characters outside `a-zA-Z0-9.-` become `-`.
pub fn sanitize_software_str(s: &str) -> String {
    let mapped: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Whether `codec` is compiled in, and if not, librdkafka's style of reason.
fn codec_unavailable(codec: &str) -> Option<&'static str> {
    match codec {
        "gzip" if !cfg!(feature = "gzip") => {
            Some("gzip not enabled at build time (purekafka-core feature `gzip`)")
        }
        "snappy" if !cfg!(feature = "snappy") => {
            Some("snappy not enabled at build time (purekafka-core feature `snappy`)")
        }
        "lz4" if !cfg!(feature = "lz4") => {
            Some("lz4 not enabled at build time (purekafka-core feature `lz4`)")
        }
        "zstd" if !cfg!(feature = "zstd") => {
            Some("zstd not enabled at build time (purekafka-core feature `zstd`)")
        }
        _ => None,
    }
}

/// Why a `builtin.features` word can't be satisfied, if it can't.
fn feature_unavailable(feature: &str) -> Option<&'static str> {
    match feature {
        "gzip" | "snappy" | "lz4" | "zstd" => codec_unavailable(feature),
        "ssl" => Some("TLS is not implemented yet"),
        "sasl" | "sasl_gssapi" | "sasl_plain" | "sasl_scram" | "sasl_oauthbearer" => {
            Some("SASL is not implemented yet")
        }
        "regex" => Some("regex topic patterns are not implemented"),
        "plugins" => Some("librdkafka plugins cannot be loaded"),
        "http" | "oidc" => Some("OAUTHBEARER OIDC (HTTP) is not implemented"),
        _ => None,
    }
}

fn compression_of(word: &str) -> Compression {
    match word {
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => Compression::None,
    }
}

fn conflict(description: &str) -> ConfigError {
    ConfigError::Conflict {
        description: description.to_owned(),
    }
}

impl Builder {
    fn new() -> Self {
        Self {
            cfg: ProducerConfig::default(),
            modified: Vec::new(),
            linger_ms: 5.0,
            message_timeout_ms: 300_000,
            topic_compression: None,
            debug_mask: 0,
            broker_list: None,
            warnings: Vec::new(),
        }
    }

    fn is_modified(&self, level: Level, name: &str) -> bool {
        self.modified.iter().any(|&(l, n)| l == level && n == name)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let Some(prop) = properties::lookup(key) else {
            return Err(ConfigError::UnknownProperty {
                name: key.to_owned(),
                value: value.to_owned(),
            });
        };
        let invalid = |reason: String| ConfigError::InvalidValue {
            name: key.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let unsupported = |why: &str| ConfigError::Unsupported {
            name: key.to_owned(),
            value: value.to_owned(),
            reason: format!(
                "Configuration property \"{}\" not supported by purekafka: {why}",
                prop.name
            ),
        };
        if let Disposition::Unsupported(why) = prop.disposition {
            return Err(unsupported(why));
        }
        // librdkafka turns "" into NULL before anything else.
        let v = (!value.is_empty()).then_some(value);
        let name = prop.name;
        let parsed = match prop.value_type {
            ValueType::String => {
                let s = v.map(|s| s.trim_start_matches(|c: char| c.is_ascii_whitespace()));
                if name == "partitioner" {
                    match s.and_then(PartitionerKind::from_name) {
                        Some(kind) => {
                            self.cfg.partitioner = kind;
                            Value::Nothing
                        }
                        None => {
                            return Err(invalid(format!(
                                "Invalid value for configuration property \"partitioner\": {}",
                                s.unwrap_or("(null)")
                            )));
                        }
                    }
                } else {
                    Value::Str(s)
                }
            }
            ValueType::Integer { min, max, names } => match v {
                None => {
                    return Err(invalid(format!(
                        "Integer configuration property \"{name}\" cannot be set to empty value"
                    )));
                }
                Some(s) => {
                    Value::Int(properties::parse_int(name, s, min, max, names).map_err(invalid)?)
                }
            },
            ValueType::Float { min, max } => match v {
                None => {
                    return Err(invalid(format!(
                        "Float configuration property \"{name}\" cannot be set to empty value"
                    )));
                }
                Some(s) => {
                    Value::Float(properties::parse_float(name, s, min, max).map_err(invalid)?)
                }
            },
            ValueType::Bool => match v {
                None => {
                    return Err(invalid(format!(
                        "Bool configuration property \"{name}\" cannot be set to empty value"
                    )));
                }
                Some(s) => Value::Bool(properties::parse_bool(name, s).map_err(invalid)?),
            },
            ValueType::Enum(words) => match v {
                None => {
                    return Err(invalid(format!(
                        "Configuration property \"{name}\" cannot be set to empty value"
                    )));
                }
                Some(s) => Value::Word(properties::parse_enum(name, s, words).map_err(invalid)?),
            },
            ValueType::Flags(words) => {
                let Some(s) = v else {
                    return Err(invalid(format!(
                        "Configuration property \"{name}\" cannot be set to empty value"
                    )));
                };
                if name == "debug" {
                    let mut mask = self.debug_mask;
                    properties::parse_flags(name, s, words, &mut mask).map_err(invalid)?;
                    self.debug_mask = mask;
                } else {
                    // builtin.features: an assertion about what this build supports.
                    let mut mask = 0;
                    for word in
                        properties::parse_flags(name, s, words, &mut mask).map_err(invalid)?
                    {
                        if let Some(why) = feature_unavailable(word) {
                            return Err(invalid(format!(
                                "Unsupported value \"{word}\" for configuration property \"{name}\": {why}"
                            )));
                        }
                    }
                }
                Value::Nothing
            }
            // Every pattern-list property is Unsupported, refused above.
            ValueType::Patterns => Value::Nothing,
            ValueType::Alias(_) => {
                return Err(invalid(format!(
                    "Configuration property \"{name}\" is an unresolved alias"
                )));
            }
            // librdkafka lets hidden pointer properties (unit-test hooks) through the string API.
            ValueType::ApiOnly if prop.is_hidden() => Value::Nothing,
            ValueType::ApiOnly => {
                return Err(invalid(format!(
                    "Property \"{name}\" must be set through dedicated .._set_..() function"
                )));
            }
            ValueType::Internal => {
                return Err(invalid(format!(
                    "Internal property \"{name}\" not settable"
                )));
            }
            ValueType::Invalid(text) => return Err(invalid(text.to_owned())),
        };

        // Values librdkafka accepts that purekafka can't honour yet.
        match (name, &parsed) {
            ("security.protocol", Value::Word(w)) if *w != "plaintext" => {
                return Err(unsupported(&format!(
                    "security.protocol={w} needs TLS/SASL, which is not implemented yet"
                )));
            }
            ("api.version.request", Value::Bool(false)) => {
                return Err(unsupported(
                    "purekafka always negotiates ApiVersions (brokers >= 0.10)",
                ));
            }
            ("queuing.strategy", Value::Word("lifo")) => {
                return Err(unsupported(
                    "only fifo queuing is implemented (lifo is deprecated)",
                ));
            }
            ("compression.codec", Value::Word(w)) => {
                if let Some(why) = codec_unavailable(w) {
                    return Err(invalid(format!(
                        "Unsupported value \"{w}\" for configuration property \"{name}\": {why}"
                    )));
                }
            }
            _ => {}
        }

        if !self.is_modified(prop.level, name) {
            self.modified.push((prop.level, name));
        }
        if prop.disposition == Disposition::ConsumerOnly && prop.role == Role::Consumer {
            self.warnings.push(format!(
                "Configuration property {name} is a consumer property and will be ignored by this producer instance"
            ));
        }
        if prop.is_deprecated() || prop.is_experimental() {
            let what = match (prop.is_deprecated(), prop.is_experimental()) {
                (true, true) => "deprecated and experimental",
                (true, false) => "deprecated",
                _ => "experimental",
            };
            self.warnings
                .push(format!("Configuration property {name} is {what}"));
        }
        self.apply(key, value, prop, parsed);
        Ok(())
    }

    /// Stores a validated value in its typed field.
    fn apply(&mut self, key: &str, raw: &str, prop: &Property, value: Value<'_>) {
        let c = &mut self.cfg;
        match (prop.level, prop.name, value) {
            (Level::Global, "client.id", Value::Str(s)) => {
                c.client_id = s.unwrap_or("rdkafka").to_owned()
            }
            (Level::Global, "client.software.name", Value::Str(s)) => {
                c.client_software_name = s.unwrap_or("purekafka").to_owned();
            }
            (Level::Global, "client.software.version", Value::Str(s)) => {
                c.client_software_version = s.unwrap_or(env!("CARGO_PKG_VERSION")).to_owned();
            }
            (Level::Global, "metadata.broker.list", Value::Str(s)) => {
                self.broker_list = s.map(|_| (key.to_owned(), raw.to_owned()));
            }
            (Level::Global, "message.max.bytes", Value::Int(v)) => {
                c.message_max_bytes = usize_of(v)
            }
            (Level::Global, "receive.message.max.bytes", Value::Int(v)) => {
                c.receive_message_max_bytes = usize_of(v)
            }
            (Level::Global, "max.in.flight.requests.per.connection", Value::Int(v)) => {
                c.max_in_flight = usize_of(v)
            }
            (Level::Global, "metadata.recovery.strategy", Value::Word(w)) => {
                c.metadata_recovery_strategy = if w == "none" {
                    MetadataRecoveryStrategy::None
                } else {
                    MetadataRecoveryStrategy::Rebootstrap
                };
            }
            (Level::Global, "metadata.recovery.rebootstrap.trigger.ms", Value::Int(v)) => {
                c.metadata_recovery_rebootstrap_trigger = ms(v);
            }
            (Level::Global, "topic.metadata.refresh.interval.ms", Value::Int(v)) => {
                // librdkafka only starts the refresh timer for a positive interval.
                c.topic_metadata_refresh_interval = (v > 0).then(|| ms(v));
            }
            (Level::Global, "metadata.max.age.ms", Value::Int(v)) => c.metadata_max_age = ms(v),
            (Level::Global, "topic.metadata.refresh.fast.interval.ms", Value::Int(v)) => {
                c.topic_metadata_refresh_fast_interval = ms(v);
            }
            (Level::Global, "topic.metadata.refresh.sparse", Value::Bool(b)) => {
                c.topic_metadata_refresh_sparse = b
            }
            (Level::Global, "topic.metadata.propagation.max.ms", Value::Int(v)) => {
                c.topic_metadata_propagation_max = ms(v);
            }
            (Level::Global, "debug", _) => {
                let words = match properties::find(Level::Global, "debug").map(|p| p.value_type) {
                    Some(ValueType::Flags(words)) => words,
                    _ => &[],
                };
                c.debug = words
                    .iter()
                    .enumerate()
                    .filter(|&(i, w)| *w != "all" && self.debug_mask & (1u64 << i) != 0)
                    .map(|(_, w)| *w)
                    .collect();
            }
            (Level::Global, "socket.timeout.ms", Value::Int(v)) => c.socket_timeout = ms(v),
            (Level::Global, "socket.send.buffer.bytes", Value::Int(v)) => {
                c.socket_send_buffer_bytes = u32_of(v)
            }
            (Level::Global, "socket.receive.buffer.bytes", Value::Int(v)) => {
                c.socket_receive_buffer_bytes = u32_of(v)
            }
            (Level::Global, "socket.keepalive.enable", Value::Bool(b)) => {
                c.socket_keepalive_enable = b
            }
            (Level::Global, "socket.nagle.disable", Value::Bool(b)) => c.socket_nagle_disable = b,
            (Level::Global, "socket.max.fails", Value::Int(v)) => c.socket_max_fails = u32_of(v),
            (Level::Global, "broker.address.ttl", Value::Int(v)) => c.broker_address_ttl = ms(v),
            (Level::Global, "broker.address.family", Value::Word(w)) => {
                c.broker_address_family = match w {
                    "v4" => BrokerAddressFamily::V4,
                    "v6" => BrokerAddressFamily::V6,
                    _ => BrokerAddressFamily::Any,
                };
            }
            (Level::Global, "socket.connection.setup.timeout.ms", Value::Int(v)) => {
                c.socket_connection_setup_timeout = ms(v);
            }
            (Level::Global, "connections.max.idle.ms", Value::Int(v)) => {
                c.connections_max_idle = (v > 0).then(|| ms(v));
            }
            (Level::Global, "reconnect.backoff.ms", Value::Int(v)) => c.reconnect_backoff = ms(v),
            (Level::Global, "reconnect.backoff.max.ms", Value::Int(v)) => {
                c.reconnect_backoff_max = ms(v)
            }
            (Level::Global, "statistics.interval.ms", Value::Int(v)) => {
                c.statistics_interval = ms(v)
            }
            (Level::Global, "log_level", Value::Int(v)) => c.log_level = v,
            (Level::Global, "log.queue", Value::Bool(b)) => c.log_queue = b,
            (Level::Global, "log.thread.name", Value::Bool(b)) => c.log_thread_name = b,
            (Level::Global, "log.connection.close", Value::Bool(b)) => c.log_connection_close = b,
            (Level::Global, "api.version.request.timeout.ms", Value::Int(v)) => {
                c.api_version_request_timeout = ms(v)
            }
            (Level::Global, "allow.auto.create.topics", Value::Bool(b)) => {
                c.allow_auto_create_topics = b
            }
            (Level::Global, "test.mock.num.brokers", Value::Int(v)) => {
                c.test_mock_num_brokers = u32_of(v)
            }
            (Level::Global, "test.mock.broker.rtt", Value::Int(v)) => {
                c.test_mock_broker_rtt = ms(v)
            }
            (Level::Global, "transactional.id", Value::Str(s)) => {
                c.transactional_id = s.map(str::to_owned)
            }
            (Level::Global, "transaction.timeout.ms", Value::Int(v)) => {
                c.transaction_timeout = ms(v)
            }
            (Level::Global, "enable.idempotence", Value::Bool(b)) => c.enable_idempotence = b,
            (Level::Global, "enable.gapless.guarantee", Value::Bool(b)) => {
                c.enable_gapless_guarantee = b
            }
            (Level::Global, "queue.buffering.max.messages", Value::Int(v)) => {
                c.queue_buffering_max_messages = usize_of(v);
            }
            (Level::Global, "queue.buffering.max.kbytes", Value::Int(v)) => {
                c.queue_buffering_max_kbytes = usize_of(v)
            }
            (Level::Global, "queue.buffering.max.ms", Value::Float(f)) => self.linger_ms = f,
            (Level::Global, "message.send.max.retries", Value::Int(v)) => {
                c.message_send_max_retries = u32_of(v)
            }
            (Level::Global, "retry.backoff.ms", Value::Int(v)) => c.retry_backoff = ms(v),
            (Level::Global, "retry.backoff.max.ms", Value::Int(v)) => c.retry_backoff_max = ms(v),
            (Level::Global, "queue.buffering.backpressure.threshold", Value::Int(v)) => {
                c.queue_buffering_backpressure_threshold = u32_of(v);
            }
            (Level::Global, "compression.codec", Value::Word(w)) => {
                c.compression = compression_of(w)
            }
            (Level::Global, "batch.num.messages", Value::Int(v)) => {
                c.batch_num_messages = usize_of(v)
            }
            (Level::Global, "batch.size", Value::Int(v)) => c.batch_size = usize_of(v),
            (Level::Global, "delivery.report.only.error", Value::Bool(b)) => {
                c.delivery_report_only_error = b
            }
            (Level::Global, "sticky.partitioning.linger.ms", Value::Int(v)) => {
                c.sticky_partitioning_linger = ms(v)
            }
            (Level::Global, "client.dns.lookup", Value::Word(w)) => {
                c.client_dns_lookup = if w == "use_all_dns_ips" {
                    ClientDnsLookup::UseAllDnsIps
                } else {
                    ClientDnsLookup::ResolveCanonicalBootstrapServersOnly
                };
            }
            // The range -1..=1000 fits i16.
            (Level::Topic, "request.required.acks", Value::Int(v)) => {
                c.acks = i16::try_from(v).unwrap_or(-1)
            }
            (Level::Topic, "request.timeout.ms", Value::Int(v)) => c.request_timeout = ms(v),
            (Level::Topic, "message.timeout.ms", Value::Int(v)) => {
                self.message_timeout_ms = i64::from(v)
            }
            (Level::Topic, "compression.codec", Value::Word(w)) => {
                self.topic_compression = (w != "inherit").then(|| compression_of(w));
            }
            (Level::Topic, "compression.level", Value::Int(v)) => c.compression_level = v,
            // Validated; no typed field (no effect, consumer-only, or handled while parsing).
            _ => {}
        }
    }

    /// `rd_kafka_conf_finalize` + `rd_kafka_topic_conf_finalize` for a producer.
    fn finalize(mut self) -> Result<(ProducerConfig, Vec<String>), ConfigError> {
        use Level::{Global as G, Topic as T};
        let txn_ms = as_ms(self.cfg.transaction_timeout);
        if self.cfg.transactional_id.is_some() {
            if !self.cfg.enable_idempotence {
                if self.is_modified(G, "enable.idempotence") {
                    return Err(conflict(
                        "`transactional.id` requires `enable.idempotence=true`",
                    ));
                }
                self.cfg.enable_idempotence = true;
            }
            // At least one request must fit in the transaction timeout.
            if !self.is_modified(G, "socket.timeout.ms") {
                self.cfg.socket_timeout =
                    Duration::from_millis(u64::try_from((txn_ms - 100).max(900)).unwrap_or(900));
            } else if txn_ms + 100 < as_ms(self.cfg.socket_timeout) {
                return Err(conflict(
                    "`socket.timeout.ms` must be set <= `transaction.timeout.ms` + 100",
                ));
            }
        }
        if self.cfg.enable_idempotence {
            if self.is_modified(G, "max.in.flight.requests.per.connection") {
                if self.cfg.max_in_flight > IDEMP_MAX_INFLIGHT {
                    return Err(conflict(
                        "`max.in.flight` must be set <= 5 when `enable.idempotence` is true",
                    ));
                }
            } else {
                self.cfg.max_in_flight = self.cfg.max_in_flight.min(IDEMP_MAX_INFLIGHT);
            }
            if self.is_modified(G, "message.send.max.retries") {
                if self.cfg.message_send_max_retries < 1 {
                    return Err(conflict(
                        "`retries` must be set >= 1 when `enable.idempotence` is true",
                    ));
                }
            } else {
                self.cfg.message_send_max_retries = i32::MAX as u32;
            }
            if self.is_modified(G, "queue.buffering.backpressure.threshold")
                && self.cfg.queue_buffering_backpressure_threshold > 1
            {
                return Err(conflict(
                    "`queue.buffering.backpressure.threshold` must be set to 1 when `enable.idempotence` is true",
                ));
            }
            self.cfg.queue_buffering_backpressure_threshold = 1;
        } else if self.cfg.enable_gapless_guarantee
            && self.is_modified(G, "enable.gapless.guarantee")
        {
            return Err(conflict(
                "`enable.gapless.guarantee` requires `enable.idempotence` to be enabled",
            ));
        }
        if !self.is_modified(G, "sticky.partitioning.linger.ms") {
            // librdkafka: (int)RD_MIN(900000, (rd_ts_t)(2 * linger.ms)).
            let sticky = ((2.0 * self.linger_ms) as i64).min(900_000);
            self.cfg.sticky_partitioning_linger =
                Duration::from_millis(u64::try_from(sticky).unwrap_or(0));
        }

        if !self.is_modified(G, "metadata.max.age.ms") {
            if let Some(refresh) = self
                .cfg
                .topic_metadata_refresh_interval
                .filter(|d| !d.is_zero())
            {
                self.cfg.metadata_max_age = refresh * 3;
            }
        }
        if self.cfg.reconnect_backoff_max < self.cfg.reconnect_backoff {
            return Err(conflict(
                "`reconnect.backoff.max.ms` must be >= `reconnect.backoff.ms`",
            ));
        }
        if !self.is_modified(G, "topic.metadata.refresh.fast.interval.ms") {
            self.cfg.topic_metadata_refresh_fast_interval = self.cfg.retry_backoff;
        }
        if let Some((key, list)) = self.broker_list.take() {
            if !self.is_modified(G, "connections.max.idle.ms")
                && list.to_ascii_lowercase().contains("azure")
            {
                // librdkafka issue #3109: Azure drops idle connections after 4 minutes.
                self.cfg.connections_max_idle = Some(Duration::from_millis((4 * 60 - 10) * 1000));
            }
            self.cfg.bootstrap_servers =
                parse_broker_list(&list).map_err(|reason| ConfigError::InvalidValue {
                    name: key,
                    value: list.clone(),
                    reason,
                })?;
        }

        // Default topic conf: linger vs message timeout.
        if self.message_timeout_ms != 0 && (self.message_timeout_ms as f64) <= self.linger_ms {
            if self.is_modified(G, "queue.buffering.max.ms") {
                return Err(conflict(
                    "`message.timeout.ms` must be greater than `linger.ms`",
                ));
            }
            self.linger_ms = self.message_timeout_ms as f64 - 0.1;
        }
        if self.cfg.enable_idempotence {
            if self.is_modified(T, "request.required.acks") {
                if self.cfg.acks != -1 {
                    return Err(conflict(
                        "`acks` must be set to `all` when `enable.idempotence` is true",
                    ));
                }
            } else {
                self.cfg.acks = -1;
            }
            if self.cfg.transactional_id.is_some() {
                if !self.is_modified(T, "message.timeout.ms") {
                    self.message_timeout_ms = txn_ms;
                } else if self.message_timeout_ms > txn_ms {
                    return Err(conflict(
                        "`message.timeout.ms` must be set <= `transaction.timeout.ms`",
                    ));
                }
            }
        }
        if self.message_timeout_ms != 0
            && (self.message_timeout_ms as f64) <= self.linger_ms
            && self.is_modified(G, "queue.buffering.max.ms")
        {
            return Err(conflict(
                "`message.timeout.ms` must be greater than `linger.ms`",
            ));
        }

        if self.cfg.retry_backoff > self.cfg.retry_backoff_max {
            self.warnings.push(format!(
                "Configuration `retry.backoff.ms` with value {} is greater than configuration `retry.backoff.max.ms` with value {}. A static backoff with value `retry.backoff.max.ms` will be applied.",
                self.cfg.retry_backoff.as_millis(),
                self.cfg.retry_backoff_max.as_millis()
            ));
        }
        if self.cfg.bootstrap_servers.is_empty() && self.cfg.test_mock_num_brokers == 0 {
            self.warnings.push(
                "No `bootstrap.servers` configured: client will not be able to connect to Kafka cluster".to_owned(),
            );
        }

        let c = &mut self.cfg;
        if let Some(codec) = self.topic_compression {
            c.compression = codec;
        }
        c.message_timeout = u64::try_from(self.message_timeout_ms)
            .ok()
            .filter(|&v| v != 0)
            .map(Duration::from_millis);
        // librdkafka keeps linger in whole microseconds: (rd_ts_t)(linger.ms * 1000).
        c.linger = Duration::from_micros((self.linger_ms * 1000.0) as u64);
        c.client_software_name = sanitize_software_str(&c.client_software_name);
        c.client_software_version = sanitize_software_str(&c.client_software_version);
        Ok((self.cfg, self.warnings))
    }
}

/// Parses a `bootstrap.servers` CSV the way librdkafka's `rd_kafka_brokers_add0` does:
/// `[proto://]host[:port][/path]` entries separated by commas (blanks ignored), default port
/// 9092, bracketed IPv6 with a port (`[::1]:9093`) or bare IPv6 without one, empty host =
/// `localhost`, duplicates dropped. Stricter than librdkafka where it only logs: a protocol
/// other than plaintext or a non-numeric port is an error here.
pub fn parse_broker_list(list: &str) -> Result<Vec<BrokerAddress>, String> {
    let mut out: Vec<BrokerAddress> = Vec::new();
    for entry in list.split(',') {
        let entry = entry.trim_matches(|c: char| c == ' ' || c.is_ascii_whitespace());
        if entry.is_empty() {
            continue;
        }
        let bad = |why: &str| {
            format!(
                "Invalid value for configuration property \"metadata.broker.list\": \"{entry}\": {why}"
            )
        };
        let mut s = entry;
        if let Some((proto, rest)) = s.split_once("://") {
            if proto.is_empty() {
                return Err(bad("empty protocol name"));
            }
            if !proto.eq_ignore_ascii_case("plaintext") {
                return Err(bad(&format!(
                    "protocol \"{}\" does not match security.protocol setting \"plaintext\"",
                    proto.to_ascii_uppercase()
                )));
            }
            // Anything that looks like the path part of a URL is ignored.
            s = rest.split_once('/').map_or(rest, |(host, _)| host);
        }
        let (host, port) = match (s.rfind(':'), s.find(':')) {
            (Some(last), Some(first)) if last == first || s[..last].ends_with(']') => {
                let port_str = &s[last + 1..];
                let port = port_str
                    .parse::<u16>()
                    .map_err(|_| bad(&format!("invalid port \"{port_str}\"")))?;
                (&s[..last], port)
            }
            _ => (s, 9092),
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = if host.is_empty() { "localhost" } else { host };
        let addr = BrokerAddress {
            host: host.to_owned(),
            port,
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

impl ProducerConfig {
    /// Builds a configuration from librdkafka properties, in order, as `rd_kafka_conf_set`
    /// on each pair then `rd_kafka_new(RD_KAFKA_PRODUCER)` would: the first bad property or
    /// the first conflict is the error. Warnings librdkafka would log are dropped; use
    /// [`ProducerConfig::from_properties_with_warnings`] to get them.
    pub fn from_properties<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        Self::from_properties_with_warnings(props).map(|(cfg, _)| cfg)
    }

    /// [`ProducerConfig::from_properties`], plus the warnings librdkafka would log at
    /// creation (`CONFWARN`: consumer properties ignored, deprecated properties, backoff
    /// inversions, no bootstrap servers).
    pub fn from_properties_with_warnings<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut b = Builder::new();
        for (key, value) in props {
            b.set(key, value)?;
        }
        b.finalize()
    }
}

#[cfg(test)]
mod tests;
