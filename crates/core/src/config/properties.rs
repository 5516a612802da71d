//! The catalogue of librdkafka 2.12.1 configuration properties (global and topic level), with
//! librdkafka's types, ranges and defaults, and what purekafka does with each.
//!
//! The table mirrors `rd_kafka_properties[]` in librdkafka's `src/rdkafka_conf.c` (hidden
//! entries included, since applications and bindings set some of them) and the defaults
//! documented in its `CONFIGURATION.md`. The value parsers reproduce librdkafka's
//! `rd_kafka_anyconf_set_prop` rules and error texts.

/// Where a property lives in librdkafka: the global conf or the (default) topic conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// `rd_kafka_conf_t`.
    Global,
    /// `rd_kafka_topic_conf_t`; settable globally, optionally with a `topic.` prefix.
    Topic,
}

/// Which client type the property is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Producers and consumers.
    Both,
    /// Producers only.
    Producer,
    /// Consumers only (librdkafka warns when a producer sets one).
    Consumer,
    /// Consumer-group properties (librdkafka ignores them silently on a producer).
    ConsumerGroup,
}

/// librdkafka's value type of a property (`_RK_C_*`), with its range or allowed strings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueType {
    /// Free string (`_RK_C_STR`, `_RK_C_KSTR`).
    String,
    /// `strtol`-parsed integer in `min..=max`; `names` are accepted words (e.g. `all` = -1).
    Integer {
        /// Smallest accepted value.
        min: i32,
        /// Largest accepted value.
        max: i32,
        /// Words accepted in place of a number.
        names: &'static [(&'static str, i32)],
    },
    /// `strtod`-parsed float in `min..=max`.
    Float {
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// `true`/`false`/`t`/`f` (any case) or `1`/`0`.
    Bool,
    /// One of these words, case-insensitive.
    Enum(&'static [&'static str]),
    /// A CSV of these words, each optionally prefixed with `+` (add) or `-` (remove).
    Flags(&'static [&'static str]),
    /// A CSV of regular expressions.
    Patterns,
    /// Another name for the named property.
    Alias(&'static str),
    /// Only settable through a dedicated API function (callbacks, opaques).
    ApiOnly,
    /// Internal to librdkafka; never settable.
    Internal,
    /// A Java-client property librdkafka rejects with this explanation.
    Invalid(&'static str),
}

/// What purekafka does with a property once its value is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// The sans-IO core reads it (a typed [`ProducerConfig`](super::ProducerConfig) field).
    Core,
    /// The driver (sockets, DNS, logging, statistics) reads it from a typed field.
    Driver,
    /// Accepted and validated, but has no effect by design; the text says why.
    NoEffect(&'static str),
    /// A consumer property: accepted and ignored, as librdkafka does on a producer.
    ConsumerOnly,
    /// Refused: purekafka doesn't implement it yet; the text says what is missing.
    Unsupported(&'static str),
}

const DEPRECATED: u8 = 1;
const EXPERIMENTAL: u8 = 2;
const HIDDEN: u8 = 4;
const SENSITIVE: u8 = 8;

/// One configuration property.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Property {
    /// Canonical name (for an alias entry, the alias itself).
    pub name: &'static str,
    /// Global or topic level.
    pub level: Level,
    /// Client type it applies to.
    pub role: Role,
    /// Type and range.
    pub value_type: ValueType,
    /// librdkafka's default, as CONFIGURATION.md prints it ("" for none).
    pub default: &'static str,
    /// What purekafka does with it.
    pub disposition: Disposition,
    flags: u8,
}

impl Property {
    /// librdkafka marks it deprecated (setting it logs a warning).
    pub const fn is_deprecated(&self) -> bool {
        self.flags & DEPRECATED != 0
    }

    /// librdkafka marks it experimental (setting it logs a warning).
    pub const fn is_experimental(&self) -> bool {
        self.flags & EXPERIMENTAL != 0
    }

    /// Left out of librdkafka's CONFIGURATION.md but settable.
    pub const fn is_hidden(&self) -> bool {
        self.flags & HIDDEN != 0
    }

    /// librdkafka treats the value as sensitive (redacted in dumps and logs).
    pub const fn is_sensitive(&self) -> bool {
        self.flags & SENSITIVE != 0
    }
}

const fn int(min: i32, max: i32) -> ValueType {
    ValueType::Integer {
        min,
        max,
        names: &[],
    }
}

/// Every librdkafka 2.12.1 property, in librdkafka's table order (global, then topic).
#[rustfmt::skip]
pub static PROPERTIES: &[Property] = &[
    Property { name: "builtin.features", level: Level::Global, role: Role::Both, value_type: ValueType::Flags(&["gzip", "snappy", "ssl", "sasl", "regex", "lz4", "sasl_gssapi", "sasl_plain", "sasl_scram", "plugins", "zstd", "sasl_oauthbearer", "http", "oidc"]), default: "gzip, snappy, ssl, sasl, regex, lz4, sasl_gssapi, sasl_plain, sasl_scram, plugins, zstd, sasl_oauthbearer, http, oidc", disposition: Disposition::NoEffect("a query/assertion: requesting a feature purekafka lacks fails, others are no-ops"), flags: 0 },
    Property { name: "client.id", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "rdkafka", disposition: Disposition::Core, flags: 0 },
    Property { name: "client.software.name", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "librdkafka", disposition: Disposition::Core, flags: HIDDEN },
    Property { name: "client.software.version", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Core, flags: HIDDEN },
    Property { name: "metadata.broker.list", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Core, flags: 0 },
    Property { name: "bootstrap.servers", level: Level::Global, role: Role::Both, value_type: ValueType::Alias("metadata.broker.list"), default: "", disposition: Disposition::Core, flags: 0 },
    Property { name: "message.max.bytes", level: Level::Global, role: Role::Both, value_type: int(1000, 1000000000), default: "1000000", disposition: Disposition::Core, flags: 0 },
    Property { name: "message.copy.max.bytes", level: Level::Global, role: Role::Both, value_type: int(0, 1000000000), default: "65535", disposition: Disposition::NoEffect("payloads are reference-counted Bytes; nothing is copied or passed by iovec"), flags: 0 },
    Property { name: "receive.message.max.bytes", level: Level::Global, role: Role::Both, value_type: int(1000, 2147483647), default: "100000000", disposition: Disposition::Driver, flags: 0 },
    Property { name: "max.in.flight.requests.per.connection", level: Level::Global, role: Role::Both, value_type: int(1, 1000000), default: "1000000", disposition: Disposition::Core, flags: 0 },
    Property { name: "max.in.flight", level: Level::Global, role: Role::Both, value_type: ValueType::Alias("max.in.flight.requests.per.connection"), default: "1000000", disposition: Disposition::Core, flags: 0 },
    Property { name: "metadata.recovery.strategy", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["none", "rebootstrap"]), default: "rebootstrap", disposition: Disposition::Core, flags: 0 },
    Property { name: "metadata.recovery.rebootstrap.trigger.ms", level: Level::Global, role: Role::Both, value_type: int(0, 2147483647), default: "300000", disposition: Disposition::Core, flags: 0 },
    Property { name: "metadata.request.timeout.ms", level: Level::Global, role: Role::Both, value_type: int(10, 900000), default: "10", disposition: Disposition::NoEffect("deprecated and unused by librdkafka too"), flags: DEPRECATED | HIDDEN },
    Property { name: "topic.metadata.refresh.interval.ms", level: Level::Global, role: Role::Both, value_type: int(-1, 3600000), default: "300000", disposition: Disposition::Core, flags: 0 },
    Property { name: "metadata.max.age.ms", level: Level::Global, role: Role::Both, value_type: int(1, 86400000), default: "900000", disposition: Disposition::Core, flags: 0 },
    Property { name: "topic.metadata.refresh.fast.interval.ms", level: Level::Global, role: Role::Both, value_type: int(1, 60000), default: "100", disposition: Disposition::Core, flags: 0 },
    Property { name: "topic.metadata.refresh.fast.cnt", level: Level::Global, role: Role::Both, value_type: int(0, 1000), default: "10", disposition: Disposition::NoEffect("deprecated and unused by librdkafka too"), flags: DEPRECATED },
    Property { name: "topic.metadata.refresh.sparse", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Core, flags: 0 },
    Property { name: "topic.metadata.propagation.max.ms", level: Level::Global, role: Role::Both, value_type: int(0, 3600000), default: "30000", disposition: Disposition::Core, flags: 0 },
    Property { name: "topic.blacklist", level: Level::Global, role: Role::Both, value_type: ValueType::Patterns, default: "", disposition: Disposition::Unsupported("topic blacklist regex patterns are not implemented"), flags: 0 },
    Property { name: "debug", level: Level::Global, role: Role::Both, value_type: ValueType::Flags(&["generic", "broker", "topic", "metadata", "feature", "queue", "msg", "protocol", "cgrp", "security", "fetch", "interceptor", "plugin", "consumer", "admin", "eos", "mock", "assignor", "conf", "telemetry", "all"]), default: "", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.timeout.ms", level: Level::Global, role: Role::Both, value_type: int(10, 300000), default: "60000", disposition: Disposition::Core, flags: 0 },
    Property { name: "socket.blocking.max.ms", level: Level::Global, role: Role::Both, value_type: int(1, 60000), default: "1000", disposition: Disposition::NoEffect("deprecated and unused by librdkafka too"), flags: DEPRECATED },
    Property { name: "socket.send.buffer.bytes", level: Level::Global, role: Role::Both, value_type: int(0, 100000000), default: "0", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.receive.buffer.bytes", level: Level::Global, role: Role::Both, value_type: int(0, 100000000), default: "0", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.keepalive.enable", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.nagle.disable", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.max.fails", level: Level::Global, role: Role::Both, value_type: int(0, 1000000), default: "1", disposition: Disposition::Core, flags: 0 },
    Property { name: "broker.address.ttl", level: Level::Global, role: Role::Both, value_type: int(0, 86400000), default: "1000", disposition: Disposition::Driver, flags: 0 },
    Property { name: "broker.address.family", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["any", "v4", "v6"]), default: "any", disposition: Disposition::Driver, flags: 0 },
    Property { name: "socket.connection.setup.timeout.ms", level: Level::Global, role: Role::Both, value_type: int(1000, 2147483647), default: "30000", disposition: Disposition::Core, flags: 0 },
    Property { name: "connections.max.idle.ms", level: Level::Global, role: Role::Both, value_type: int(0, 2147483647), default: "0", disposition: Disposition::Core, flags: 0 },
    Property { name: "enable.sparse.connections", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::NoEffect("purekafka always connects sparsely: only to the brokers it needs"), flags: HIDDEN },
    Property { name: "reconnect.backoff.jitter.ms", level: Level::Global, role: Role::Both, value_type: int(0, 3600000), default: "0", disposition: Disposition::NoEffect("deprecated and unused by librdkafka too"), flags: DEPRECATED },
    Property { name: "reconnect.backoff.ms", level: Level::Global, role: Role::Both, value_type: int(0, 3600000), default: "100", disposition: Disposition::Core, flags: 0 },
    Property { name: "reconnect.backoff.max.ms", level: Level::Global, role: Role::Both, value_type: int(0, 3600000), default: "10000", disposition: Disposition::Core, flags: 0 },
    Property { name: "statistics.interval.ms", level: Level::Global, role: Role::Both, value_type: int(0, 86400000), default: "0", disposition: Disposition::Driver, flags: 0 },
    Property { name: "enabled_events", level: Level::Global, role: Role::Both, value_type: int(0, 2147483647), default: "0", disposition: Disposition::NoEffect("the rd_kafka_queue event API has no purekafka equivalent"), flags: 0 },
    Property { name: "error_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "throttle_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "stats_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "log_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "log_level", level: Level::Global, role: Role::Both, value_type: int(0, 7), default: "6", disposition: Disposition::Driver, flags: 0 },
    Property { name: "log.queue", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Driver, flags: 0 },
    Property { name: "log.thread.name", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Driver, flags: 0 },
    Property { name: "enable.random.seed", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::NoEffect("the core never seeds a global RNG; the driver passes a seed"), flags: 0 },
    Property { name: "log.connection.close", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Driver, flags: 0 },
    Property { name: "background_event_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "socket_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "connect_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "closesocket_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "open_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "resolve_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "opaque", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "default_topic_conf", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "internal.termination.signal", level: Level::Global, role: Role::Both, value_type: int(0, 128), default: "0", disposition: Disposition::NoEffect("purekafka threads are not woken by signals"), flags: 0 },
    Property { name: "api.version.request", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Core, flags: DEPRECATED },
    Property { name: "api.version.request.timeout.ms", level: Level::Global, role: Role::Both, value_type: int(1, 300000), default: "10000", disposition: Disposition::Core, flags: 0 },
    Property { name: "api.version.fallback.ms", level: Level::Global, role: Role::Both, value_type: int(0, 604800000), default: "0", disposition: Disposition::NoEffect("purekafka always negotiates ApiVersions and never falls back"), flags: DEPRECATED },
    Property { name: "broker.version.fallback", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "0.10.0", disposition: Disposition::NoEffect("purekafka always negotiates ApiVersions and never falls back"), flags: DEPRECATED },
    Property { name: "allow.auto.create.topics", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Core, flags: 0 },
    Property { name: "security.protocol", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]), default: "plaintext", disposition: Disposition::Core, flags: 0 },
    Property { name: "ssl.cipher.suites", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.curves.list", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.sigalgs.list", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.key.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl.key.password", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl.key.pem", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl_key", level: Level::Global, role: Role::Both, value_type: ValueType::Internal, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl.certificate.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.certificate.pem", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl_certificate", level: Level::Global, role: Role::Both, value_type: ValueType::Internal, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.ca.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "https.ca.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "https.ca.pem", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.ca.pem", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl_ca", level: Level::Global, role: Role::Both, value_type: ValueType::Internal, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.ca.certificate.stores", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "Root", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.crl.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.keystore.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.keystore.password", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "ssl.providers", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.engine.location", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: DEPRECATED },
    Property { name: "ssl.engine.id", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "dynamic", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl_engine_callback_data", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "enable.ssl.certificate.verification", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.endpoint.identification.algorithm", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["none", "https"]), default: "https", disposition: Disposition::Unsupported("TLS is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "ssl.certificate.verify_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "ssl.truststore.location", level: Level::Global, role: Role::Both, value_type: ValueType::Invalid("Java TrustStores are not supported, use `ssl.ca.location` and a certificate file instead. See https://github.com/confluentinc/librdkafka/wiki/Using-SSL-with-librdkafka for more information."), default: "", disposition: Disposition::NoEffect("librdkafka refuses this Java-client property"), flags: 0 },
    Property { name: "sasl.jaas.config", level: Level::Global, role: Role::Both, value_type: ValueType::Invalid("Java JAAS configuration is not supported, see https://github.com/confluentinc/librdkafka/wiki/Using-SASL-with-librdkafka for more information."), default: "", disposition: Disposition::NoEffect("librdkafka refuses this Java-client property"), flags: 0 },
    Property { name: "sasl.mechanisms", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "GSSAPI", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.mechanism", level: Level::Global, role: Role::Both, value_type: ValueType::Alias("sasl.mechanisms"), default: "GSSAPI", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.kerberos.service.name", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "kafka", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.kerberos.principal", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "kafkaclient", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.kerberos.kinit.cmd", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "kinit -R -t \"%{sasl.kerberos.keytab}\" -k %{sasl.kerberos.principal} || kinit -t \"%{sasl.kerberos.keytab}\" -k %{sasl.kerberos.principal}", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.kerberos.keytab", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.kerberos.min.time.before.relogin", level: Level::Global, role: Role::Both, value_type: int(0, 86400000), default: "60000", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.username", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.password", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.oauthbearer.config", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "enable.sasl.oauthbearer.unsecure.jwt", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "oauthbearer_token_refresh_cb", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "enable_sasl_queue", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: HIDDEN },
    Property { name: "sasl.oauthbearer.method", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["default", "oidc"]), default: "default", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.client.id", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.client.credentials.client.id", level: Level::Global, role: Role::Both, value_type: ValueType::Alias("sasl.oauthbearer.client.id"), default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.client.credentials.client.secret", level: Level::Global, role: Role::Both, value_type: ValueType::Alias("sasl.oauthbearer.client.secret"), default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.client.secret", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.oauthbearer.scope", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.extensions", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.token.endpoint.url", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.grant.type", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"]), default: "client_credentials", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.algorithm", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["RS256", "ES256"]), default: "RS256", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.private.key.file", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.oauthbearer.assertion.private.key.passphrase", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.oauthbearer.assertion.private.key.pem", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: SENSITIVE },
    Property { name: "sasl.oauthbearer.assertion.file", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.aud", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.exp.seconds", level: Level::Global, role: Role::Both, value_type: int(1, 2147483647), default: "300", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.iss", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.jti.include", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "false", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.nbf.seconds", level: Level::Global, role: Role::Both, value_type: int(0, 2147483647), default: "60", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.claim.sub", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.assertion.jwt.template.file", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "sasl.oauthbearer.metadata.authentication.type", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["none", "azure_imds"]), default: "none", disposition: Disposition::Unsupported("SASL is not implemented yet (only security.protocol=plaintext)"), flags: 0 },
    Property { name: "plugin.library.paths", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::Unsupported("librdkafka plugins (shared libraries) cannot be loaded"), flags: 0 },
    Property { name: "interceptors", level: Level::Global, role: Role::Both, value_type: ValueType::Internal, default: "", disposition: Disposition::NoEffect("set through the API only"), flags: 0 },
    Property { name: "test.mock.num.brokers", level: Level::Global, role: Role::Both, value_type: int(0, 10000), default: "0", disposition: Disposition::Driver, flags: HIDDEN },
    Property { name: "test.mock.broker.rtt", level: Level::Global, role: Role::Both, value_type: int(0, 3600000), default: "0", disposition: Disposition::Driver, flags: HIDDEN },
    Property { name: "ut_handle_ProduceResponse", level: Level::Global, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: HIDDEN },
    Property { name: "group.id", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::String, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "group.instance.id", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::String, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "partition.assignment.strategy", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::String, default: "range,roundrobin", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "session.timeout.ms", level: Level::Global, role: Role::ConsumerGroup, value_type: int(1, 3600000), default: "45000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "heartbeat.interval.ms", level: Level::Global, role: Role::ConsumerGroup, value_type: int(1, 3600000), default: "3000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "group.protocol.type", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::String, default: "consumer", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "group.protocol", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::Enum(&["classic", "consumer"]), default: "classic", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "group.remote.assignor", level: Level::Global, role: Role::ConsumerGroup, value_type: ValueType::String, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "coordinator.query.interval.ms", level: Level::Global, role: Role::ConsumerGroup, value_type: int(1, 3600000), default: "600000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "max.poll.interval.ms", level: Level::Global, role: Role::Consumer, value_type: int(1, 86400000), default: "300000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "enable.auto.commit", level: Level::Global, role: Role::Consumer, value_type: ValueType::Bool, default: "true", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "auto.commit.interval.ms", level: Level::Global, role: Role::Consumer, value_type: int(0, 86400000), default: "5000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "enable.auto.offset.store", level: Level::Global, role: Role::Consumer, value_type: ValueType::Bool, default: "true", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "queued.min.messages", level: Level::Global, role: Role::Consumer, value_type: int(1, 10000000), default: "100000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "queued.max.messages.kbytes", level: Level::Global, role: Role::Consumer, value_type: int(1, 2097151), default: "65536", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.wait.max.ms", level: Level::Global, role: Role::Consumer, value_type: int(0, 300000), default: "500", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.queue.backoff.ms", level: Level::Global, role: Role::Consumer, value_type: int(0, 300000), default: "1000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.message.max.bytes", level: Level::Global, role: Role::Consumer, value_type: int(1, 1000000000), default: "1048576", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "max.partition.fetch.bytes", level: Level::Global, role: Role::Consumer, value_type: ValueType::Alias("fetch.message.max.bytes"), default: "1048576", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.max.bytes", level: Level::Global, role: Role::Consumer, value_type: int(0, 2147483135), default: "52428800", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.min.bytes", level: Level::Global, role: Role::Consumer, value_type: int(1, 100000000), default: "1", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "fetch.error.backoff.ms", level: Level::Global, role: Role::Consumer, value_type: int(0, 300000), default: "500", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "offset.store.method", level: Level::Global, role: Role::Consumer, value_type: ValueType::Enum(&["none", "file", "broker"]), default: "broker", disposition: Disposition::ConsumerOnly, flags: DEPRECATED },
    Property { name: "isolation.level", level: Level::Global, role: Role::Consumer, value_type: ValueType::Enum(&["read_uncommitted", "read_committed"]), default: "read_committed", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "consume_cb", level: Level::Global, role: Role::Consumer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "rebalance_cb", level: Level::Global, role: Role::Consumer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "offset_commit_cb", level: Level::Global, role: Role::Consumer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "enable.partition.eof", level: Level::Global, role: Role::Consumer, value_type: ValueType::Bool, default: "false", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "check.crcs", level: Level::Global, role: Role::Consumer, value_type: ValueType::Bool, default: "false", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "client.rack", level: Level::Global, role: Role::Both, value_type: ValueType::String, default: "", disposition: Disposition::NoEffect("only consumers use it (fetch from closest replica, KIP-392)"), flags: 0 },
    Property { name: "transactional.id", level: Level::Global, role: Role::Producer, value_type: ValueType::String, default: "", disposition: Disposition::Core, flags: 0 },
    Property { name: "transaction.timeout.ms", level: Level::Global, role: Role::Producer, value_type: int(1000, 2147483647), default: "60000", disposition: Disposition::Core, flags: 0 },
    Property { name: "enable.idempotence", level: Level::Global, role: Role::Producer, value_type: ValueType::Bool, default: "false", disposition: Disposition::Core, flags: 0 },
    Property { name: "enable.gapless.guarantee", level: Level::Global, role: Role::Producer, value_type: ValueType::Bool, default: "false", disposition: Disposition::Core, flags: EXPERIMENTAL },
    Property { name: "queue.buffering.max.messages", level: Level::Global, role: Role::Producer, value_type: int(0, 2147483647), default: "100000", disposition: Disposition::Core, flags: 0 },
    Property { name: "queue.buffering.max.kbytes", level: Level::Global, role: Role::Producer, value_type: int(1, 2147483647), default: "1048576", disposition: Disposition::Core, flags: 0 },
    Property { name: "queue.buffering.max.ms", level: Level::Global, role: Role::Producer, value_type: ValueType::Float { min: 0.0, max: 900000.0 }, default: "5", disposition: Disposition::Core, flags: 0 },
    Property { name: "linger.ms", level: Level::Global, role: Role::Producer, value_type: ValueType::Alias("queue.buffering.max.ms"), default: "5", disposition: Disposition::Core, flags: 0 },
    Property { name: "message.send.max.retries", level: Level::Global, role: Role::Producer, value_type: int(0, 2147483647), default: "2147483647", disposition: Disposition::Core, flags: 0 },
    Property { name: "retries", level: Level::Global, role: Role::Producer, value_type: ValueType::Alias("message.send.max.retries"), default: "2147483647", disposition: Disposition::Core, flags: 0 },
    Property { name: "retry.backoff.ms", level: Level::Global, role: Role::Both, value_type: int(1, 300000), default: "100", disposition: Disposition::Core, flags: 0 },
    Property { name: "retry.backoff.max.ms", level: Level::Global, role: Role::Both, value_type: int(1, 300000), default: "1000", disposition: Disposition::Core, flags: 0 },
    Property { name: "queue.buffering.backpressure.threshold", level: Level::Global, role: Role::Producer, value_type: int(1, 1000000), default: "1", disposition: Disposition::Core, flags: 0 },
    Property { name: "compression.codec", level: Level::Global, role: Role::Producer, value_type: ValueType::Enum(&["none", "gzip", "snappy", "lz4", "zstd"]), default: "none", disposition: Disposition::Core, flags: 0 },
    Property { name: "compression.type", level: Level::Global, role: Role::Producer, value_type: ValueType::Alias("compression.codec"), default: "none", disposition: Disposition::Core, flags: 0 },
    Property { name: "batch.num.messages", level: Level::Global, role: Role::Producer, value_type: int(1, 1000000), default: "10000", disposition: Disposition::Core, flags: 0 },
    Property { name: "batch.size", level: Level::Global, role: Role::Producer, value_type: int(1, 2147483647), default: "1000000", disposition: Disposition::Core, flags: 0 },
    Property { name: "delivery.report.only.error", level: Level::Global, role: Role::Producer, value_type: ValueType::Bool, default: "false", disposition: Disposition::Core, flags: 0 },
    Property { name: "dr_cb", level: Level::Global, role: Role::Producer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "dr_msg_cb", level: Level::Global, role: Role::Producer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "sticky.partitioning.linger.ms", level: Level::Global, role: Role::Producer, value_type: int(0, 900000), default: "10", disposition: Disposition::Core, flags: 0 },
    Property { name: "client.dns.lookup", level: Level::Global, role: Role::Both, value_type: ValueType::Enum(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]), default: "use_all_dns_ips", disposition: Disposition::Driver, flags: 0 },
    Property { name: "enable.metrics.push", level: Level::Global, role: Role::Both, value_type: ValueType::Bool, default: "true", disposition: Disposition::NoEffect("client telemetry push (KIP-714) is not implemented; brokers just get no client metrics"), flags: 0 },
    Property { name: "request.required.acks", level: Level::Topic, role: Role::Producer, value_type: ValueType::Integer { min: -1, max: 1000, names: &[("all", -1)] }, default: "-1", disposition: Disposition::Core, flags: 0 },
    Property { name: "acks", level: Level::Topic, role: Role::Producer, value_type: ValueType::Alias("request.required.acks"), default: "-1", disposition: Disposition::Core, flags: 0 },
    Property { name: "request.timeout.ms", level: Level::Topic, role: Role::Producer, value_type: int(1, 900000), default: "30000", disposition: Disposition::Core, flags: 0 },
    Property { name: "message.timeout.ms", level: Level::Topic, role: Role::Producer, value_type: int(0, 2147483647), default: "300000", disposition: Disposition::Core, flags: 0 },
    Property { name: "delivery.timeout.ms", level: Level::Topic, role: Role::Producer, value_type: ValueType::Alias("message.timeout.ms"), default: "300000", disposition: Disposition::Core, flags: 0 },
    Property { name: "queuing.strategy", level: Level::Topic, role: Role::Producer, value_type: ValueType::Enum(&["fifo", "lifo"]), default: "fifo", disposition: Disposition::Core, flags: DEPRECATED | EXPERIMENTAL },
    Property { name: "produce.offset.report", level: Level::Topic, role: Role::Producer, value_type: ValueType::Bool, default: "false", disposition: Disposition::NoEffect("deprecated: librdkafka always reports offsets"), flags: DEPRECATED },
    Property { name: "partitioner", level: Level::Topic, role: Role::Producer, value_type: ValueType::String, default: "consistent_random", disposition: Disposition::Core, flags: 0 },
    Property { name: "partitioner_cb", level: Level::Topic, role: Role::Producer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "msg_order_cmp", level: Level::Topic, role: Role::Producer, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: DEPRECATED | EXPERIMENTAL },
    Property { name: "opaque", level: Level::Topic, role: Role::Both, value_type: ValueType::ApiOnly, default: "", disposition: Disposition::NoEffect("callbacks and opaques are set through the Rust API (contexts, partitioner), not as strings"), flags: 0 },
    Property { name: "compression.codec", level: Level::Topic, role: Role::Producer, value_type: ValueType::Enum(&["none", "gzip", "snappy", "lz4", "zstd", "inherit"]), default: "inherit", disposition: Disposition::Core, flags: 0 },
    Property { name: "compression.type", level: Level::Topic, role: Role::Producer, value_type: ValueType::Alias("compression.codec"), default: "none", disposition: Disposition::Core, flags: 0 },
    Property { name: "compression.level", level: Level::Topic, role: Role::Producer, value_type: int(-1, 12), default: "-1", disposition: Disposition::Core, flags: 0 },
    Property { name: "auto.commit.enable", level: Level::Topic, role: Role::Consumer, value_type: ValueType::Bool, default: "true", disposition: Disposition::ConsumerOnly, flags: DEPRECATED },
    Property { name: "enable.auto.commit", level: Level::Topic, role: Role::Consumer, value_type: ValueType::Alias("auto.commit.enable"), default: "true", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "auto.commit.interval.ms", level: Level::Topic, role: Role::Consumer, value_type: int(10, 86400000), default: "60000", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "auto.offset.reset", level: Level::Topic, role: Role::Consumer, value_type: ValueType::Enum(&["smallest", "earliest", "beginning", "largest", "latest", "end", "error"]), default: "largest", disposition: Disposition::ConsumerOnly, flags: 0 },
    Property { name: "offset.store.path", level: Level::Topic, role: Role::Consumer, value_type: ValueType::String, default: ".", disposition: Disposition::ConsumerOnly, flags: DEPRECATED },
    Property { name: "offset.store.sync.interval.ms", level: Level::Topic, role: Role::Consumer, value_type: int(-1, 86400000), default: "-1", disposition: Disposition::ConsumerOnly, flags: DEPRECATED },
    Property { name: "offset.store.method", level: Level::Topic, role: Role::Consumer, value_type: ValueType::Enum(&["file", "broker"]), default: "broker", disposition: Disposition::ConsumerOnly, flags: DEPRECATED },
    Property { name: "consume.callback.max.messages", level: Level::Topic, role: Role::Consumer, value_type: int(0, 1000000), default: "0", disposition: Disposition::ConsumerOnly, flags: 0 },
];

/// The table entry named exactly `name` at `level` (possibly an alias entry).
pub fn find(level: Level, name: &str) -> Option<&'static Property> {
    PROPERTIES
        .iter()
        .find(|p| p.level == level && p.name == name)
}

/// The property `name` designates at `level`, following aliases to the canonical entry.
pub fn resolve(level: Level, name: &str) -> Option<&'static Property> {
    let p = find(level, name)?;
    match p.value_type {
        ValueType::Alias(target) => find(level, target),
        _ => Some(p),
    }
}

/// The property a `rd_kafka_conf_set(name, ..)` call designates, as librdkafka looks it up:
/// global properties first, then topic properties with an optional `topic.` prefix stripped.
/// Aliases resolve to their canonical entry.
pub fn lookup(name: &str) -> Option<&'static Property> {
    resolve(Level::Global, name).or_else(|| resolve(Level::Topic, strip_topic_prefix(name)))
}

/// `name` without a leading `topic.`, as librdkafka's `rd_kafka_topic_conf_set` strips it.
pub fn strip_topic_prefix(name: &str) -> &str {
    name.strip_prefix("topic.").unwrap_or(name)
}

/// Property names rust-rdkafka's `ClientConfig` prints as `[sanitized for safety]`.
const RDKAFKA_SENSITIVE: [&str; 5] = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "sasl.oauthbearer.client.secret",
];

/// Whether a property's value must be masked in `Debug` output and logs: rust-rdkafka's
/// five sanitized keys plus everything librdkafka flags sensitive (keys, PEMs, passwords,
/// `sasl.username`, OAUTHBEARER secrets), aliases included.
pub fn is_secret(name: &str) -> bool {
    RDKAFKA_SENSITIVE.contains(&name)
        || find(Level::Global, name).is_some_and(|p| match p.value_type {
            ValueType::Alias(target) => {
                find(Level::Global, target).is_some_and(|t| t.is_sensitive())
            }
            _ => p.is_sensitive(),
        })
}

/// `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `strtol(s, &end, 0)` then `(int)` as librdkafka does it: leading blanks, a sign, `0x`
/// (hex) or `0` (octal) prefixes, digits up to the first non-digit. `None` if no digits were
/// consumed; trailing garbage is ignored; out-of-range values saturate to the 64-bit `long`
/// range and are then truncated to 32 bits, like the C cast.
pub(crate) fn strtol_int(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut radix = 10;
    if i + 1 < b.len()
        && b[i] == b'0'
        && (b[i + 1] | 0x20) == b'x'
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        radix = 16;
        i += 2;
    } else if i < b.len() && b[i] == b'0' {
        radix = 8;
    }
    let start = i;
    let mut acc: i128 = 0;
    while i < b.len() {
        let Some(d) = char::from(b[i]).to_digit(radix) else {
            break;
        };
        // Clamp early: anything past i64 saturates anyway.
        acc = (acc * i128::from(radix) + i128::from(d)).min(i128::from(i64::MAX) + 1);
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if neg { -acc } else { acc };
    let long = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    // The C `(int)` cast keeps the low 32 bits.
    Some(long as i32)
}

/// C `strtod` on the longest decimal prefix (`inf`/`infinity`/`nan` included); `None` if
/// nothing parses. Hex floats are not recognised.
pub(crate) fn strtod(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let rest = &t[i..];
    for word in ["infinity", "inf", "nan"] {
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word) {
            return t[..i + word.len()].parse().ok();
        }
    }
    let mantissa_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - mantissa_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        let dot = i;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - dot - 1;
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] | 0x20) == b'e' {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    t[..i].parse().ok()
}

/// C `printf("%g")`: six significant digits, trailing zeros dropped, exponent form when the
/// exponent is below -4 or at least 6. Used in librdkafka's float range error text.
pub(crate) fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".to_owned()
        } else if v > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let sci = format!("{v:.5e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim(&format!("{v:.decimals$}"))
    }
}

/// Parses a `Bool` value as librdkafka does; the error is librdkafka's text.
pub(crate) fn parse_bool(prop: &str, value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("t") || value == "1" {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") || value.eq_ignore_ascii_case("f") || value == "0"
    {
        Ok(false)
    } else {
        Err(format!("Expected bool value for \"{prop}\": true or false"))
    }
}

/// Parses an `Integer` value as librdkafka does; the error is librdkafka's text (the range
/// message really ends in a newline).
pub(crate) fn parse_int(
    prop: &str,
    value: &str,
    min: i32,
    max: i32,
    names: &[(&str, i32)],
) -> Result<i32, String> {
    let v = match strtol_int(value) {
        Some(v) => v,
        None => match names.iter().find(|(n, _)| n.eq_ignore_ascii_case(value)) {
            Some(&(_, v)) => v,
            None => {
                return Err(format!(
                    "Invalid value for configuration property \"{prop}\""
                ));
            }
        },
    };
    if v < min || v > max {
        return Err(format!(
            "Configuration property \"{prop}\" value {v} is outside allowed range {min}..{max}\n"
        ));
    }
    Ok(v)
}

/// Parses a `Float` value as librdkafka does (NaN refused, where librdkafka lets it through).
pub(crate) fn parse_float(prop: &str, value: &str, min: f64, max: f64) -> Result<f64, String> {
    let Some(v) = strtod(value).filter(|v| !v.is_nan()) else {
        return Err(format!(
            "Invalid value for configuration property \"{prop}\""
        ));
    };
    if v < min || v > max {
        return Err(format!(
            "Configuration property \"{prop}\" value {} is outside allowed range {}..{}\n",
            fmt_g(v),
            fmt_g(min),
            fmt_g(max)
        ));
    }
    Ok(v)
}

/// Parses an `Enum` value (case-insensitive, leading blanks ignored) to its canonical word.
/// librdkafka's right-trim never fires (it starts on the terminator), so trailing blanks
/// make the value invalid there and here.
pub(crate) fn parse_enum(
    prop: &str,
    value: &str,
    words: &[&'static str],
) -> Result<&'static str, String> {
    let w = value.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
    words
        .iter()
        .find(|x| x.eq_ignore_ascii_case(w))
        .copied()
        .ok_or_else(|| format!("Invalid value \"{w}\" for configuration property \"{prop}\""))
}

/// Applies a `Flags` CSV to `mask` (bit i = `words[i]`; a word `all` sets every bit) with
/// librdkafka's `+`/`-` prefixes; returns the words that were added, for feature checks.
pub(crate) fn parse_flags(
    prop: &str,
    value: &str,
    words: &[&'static str],
    mask: &mut u64,
) -> Result<Vec<&'static str>, String> {
    let mut added = Vec::new();
    for token in value.split(',') {
        // Leading blanks only, as librdkafka (see parse_enum).
        let t = token.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
        let (add, word) = match t.as_bytes().first() {
            Some(b'+') => (true, &t[1..]),
            Some(b'-') => (false, &t[1..]),
            _ => (true, t),
        };
        if word.is_empty() {
            continue;
        }
        let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(word)) else {
            return Err(format!(
                "Invalid value \"{word}\" for configuration property \"{prop}\""
            ));
        };
        let bits = if words[i] == "all" {
            u64::MAX
        } else {
            1u64 << i
        };
        if add {
            *mask |= bits;
            added.push(words[i]);
        } else {
            *mask &= !bits;
        }
    }
    Ok(added)
}
