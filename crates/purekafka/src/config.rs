//! Client configuration, shaped like rust-rdkafka's `rdkafka::config`.
//!
//! A [`ClientConfig`] is a map of librdkafka property names to string values; nothing is
//! checked when a property is set. Checking happens when a client is created from it
//! ([`ClientConfig::create`]): an unknown name or a bad value is a
//! [`KafkaError::ClientConfig`](crate::error::KafkaError::ClientConfig), conflicting
//! properties a [`KafkaError::ClientCreation`](crate::error::KafkaError::ClientCreation).
//!
//! Frequently used properties: `bootstrap.servers`, `client.id`, `message.timeout.ms`,
//! `linger.ms`, `acks`, `compression.type`, `enable.idempotence`, `transactional.id`,
//! `statistics.interval.ms`. See librdkafka's `CONFIGURATION.md` for the full list.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use purekafka_core::config::is_secret;

use crate::client::ClientContext;
use crate::error::KafkaResult;

/// What [`ClientConfig::config_map`] shows instead of a secret value.
const SANITIZED_VALUE_PLACEHOLDER: &str = "[sanitized for safety]";

/// librdkafka's syslog-style log levels, most severe first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RDKafkaLogLevel {
    /// System is unusable (reported as a `tracing` error).
    Emerg = 0,
    /// Action must be taken immediately (reported as a `tracing` error).
    Alert = 1,
    /// Critical condition (reported as a `tracing` error).
    Critical = 2,
    /// Error condition (a `tracing` error).
    Error = 3,
    /// Warning condition (a `tracing` warning).
    Warning = 4,
    /// Normal but significant condition (a `tracing` info event).
    Notice = 5,
    /// Informational (a `tracing` info event).
    Info = 6,
    /// Debugging detail (a `tracing` debug event).
    Debug = 7,
}

/// A client's configuration: librdkafka property names and values.
///
/// `Debug` leaves secret properties (passwords, keys, OAUTHBEARER secrets) out entirely and
/// [`config_map`](ClientConfig::config_map) masks their values, so a logged configuration
/// never shows them.
#[derive(Clone)]
pub struct ClientConfig {
    conf_map: HashMap<String, String>,
    /// The log level the client reports at; see [`RDKafkaLogLevel`].
    pub log_level: RDKafkaLogLevel,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let visible: BTreeMap<&str, &str> = self
            .conf_map
            .iter()
            .filter(|(k, _)| !is_secret(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        f.debug_struct("ClientConfig")
            .field("log_level", &self.log_level)
            .field("conf_map", &visible)
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientConfig {
    /// An empty configuration, with the log level the `tracing` subscriber enables for
    /// target `librdkafka` (Debug, Info, Warning, else Error).
    pub fn new() -> Self {
        Self {
            conf_map: HashMap::new(),
            log_level: log_level_from_tracing(),
        }
    }

    /// Every property set, sorted, with secret values replaced by
    /// `"[sanitized for safety]"`.
    pub fn config_map(&self) -> BTreeMap<&str, &str> {
        self.conf_map
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) {
                    SANITIZED_VALUE_PLACEHOLDER
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect()
    }

    /// The value set for `key`, if any (defaults are not reported).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.conf_map.get(key).map(String::as_str)
    }

    /// Sets `key` to `value`, replacing any previous value. Never fails: properties are
    /// checked when a client is created.
    pub fn set<K, V>(&mut self, key: K, value: V) -> &mut Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.conf_map.insert(key.into(), value.into());
        self
    }

    /// Removes `key`.
    pub fn remove<'a>(&'a mut self, key: &str) -> &'a mut Self {
        self.conf_map.remove(key);
        self
    }

    /// Sets the client's log level.
    pub fn set_log_level(&mut self, log_level: RDKafkaLogLevel) -> &mut Self {
        self.log_level = log_level;
        self
    }

    /// Creates a client (e.g. a producer) with its default context.
    pub fn create<T: FromClientConfig>(&self) -> KafkaResult<T> {
        T::from_config(self)
    }

    /// Creates a client (e.g. a producer) with the given context.
    pub fn create_with_context<C, T>(&self, context: C) -> KafkaResult<T>
    where
        C: ClientContext,
        T: FromClientConfigAndContext<C>,
    {
        T::from_config_and_context(self, context)
    }
}

impl FromIterator<(String, String)> for ClientConfig {
    fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut config = Self::new();
        config.extend(iter);
        config
    }
}

impl Extend<(String, String)> for ClientConfig {
    fn extend<I>(&mut self, iter: I)
    where
        I: IntoIterator<Item = (String, String)>,
    {
        self.conf_map.extend(iter);
    }
}

/// The most verbose level the current `tracing` subscriber accepts for target `librdkafka`.
fn log_level_from_tracing() -> RDKafkaLogLevel {
    use tracing::Level;
    if tracing::enabled!(target: "librdkafka", Level::DEBUG) {
        RDKafkaLogLevel::Debug
    } else if tracing::enabled!(target: "librdkafka", Level::INFO) {
        RDKafkaLogLevel::Info
    } else if tracing::enabled!(target: "librdkafka", Level::WARN) {
        RDKafkaLogLevel::Warning
    } else {
        RDKafkaLogLevel::Error
    }
}

/// A client that can be created from a [`ClientConfig`] alone (with its default context).
pub trait FromClientConfig: Sized {
    /// Creates the client.
    fn from_config(config: &ClientConfig) -> KafkaResult<Self>;
}

/// A client that can be created from a [`ClientConfig`] and a context.
pub trait FromClientConfigAndContext<C: ClientContext>: Sized {
    /// Creates the client.
    fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;
    use crate::client::DefaultClientContext;
    use crate::error::KafkaError;

    #[test]
    fn set_get_remove_extend() {
        let mut config: ClientConfig = vec![("a".into(), "1".into()), ("b".into(), "1".into())]
            .into_iter()
            .collect();
        config.extend([("b".into(), "2".into()), ("c".into(), "3".into())]);
        assert_eq!(config.get("a"), Some("1"));
        assert_eq!(config.get("b"), Some("2"));
        assert_eq!(config.get("c"), Some("3"));
        config
            .set("bootstrap.servers", "localhost:9092")
            .set(String::from("acks"), "all")
            .remove("a");
        assert_eq!(config.get("a"), None);
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(
            config.config_map().into_iter().collect::<Vec<_>>(),
            [
                ("acks", "all"),
                ("b", "2"),
                ("bootstrap.servers", "localhost:9092"),
                ("c", "3")
            ]
        );
        let copy = config.clone();
        assert_eq!(copy.config_map(), config.config_map());
        assert_eq!(ClientConfig::default().config_map().len(), 0);
    }

    #[test]
    fn secrets_are_masked() {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "b:9092")
            .set("sasl.username", "alice")
            .set("sasl.password", "hunter2")
            .set("ssl.key.password", "k3y")
            .set("ssl.keystore.password", "ks")
            .set("ssl.truststore.password", "ts")
            .set("sasl.oauthbearer.client.secret", "oauth-s3cret")
            .set_log_level(RDKafkaLogLevel::Warning);
        let debug = format!("{config:?}");
        for secret in ["hunter2", "k3y", "\"ks\"", "\"ts\"", "oauth-s3cret"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(!debug.contains("sasl.password"), "{debug}");
        assert!(
            debug.contains("\"bootstrap.servers\": \"b:9092\""),
            "{debug}"
        );
        assert!(debug.starts_with("ClientConfig { log_level: Warning, conf_map: {"));

        let map = config.config_map();
        assert_eq!(map["sasl.password"], "[sanitized for safety]");
        assert_eq!(map["ssl.key.password"], "[sanitized for safety]");
        assert_eq!(
            map["sasl.oauthbearer.client.secret"],
            "[sanitized for safety]"
        );
        assert_eq!(map["bootstrap.servers"], "b:9092");
        // The real value is still there for the client to use.
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
    }

    struct Fake(String);

    impl FromClientConfig for Fake {
        fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
            config
                .get("bootstrap.servers")
                .map(|s| Self(s.to_owned()))
                .ok_or_else(|| KafkaError::ClientCreation("no brokers".into()))
        }
    }

    impl FromClientConfigAndContext<DefaultClientContext> for Fake {
        fn from_config_and_context(
            config: &ClientConfig,
            _: DefaultClientContext,
        ) -> KafkaResult<Self> {
            Self::from_config(config).map(|f| Self(format!("ctx:{}", f.0)))
        }
    }

    #[test]
    fn create_dispatches_to_the_client_type() {
        let mut config = ClientConfig::new();
        assert_eq!(
            config.create::<Fake>().err().map(|e| e.to_string()),
            Some("Client creation error: no brokers".to_owned())
        );
        config.set("bootstrap.servers", "h:1");
        assert_eq!(config.create::<Fake>().unwrap().0, "h:1");
        let with_ctx: Fake = config.create_with_context(DefaultClientContext).unwrap();
        assert_eq!(with_ctx.0, "ctx:h:1");
    }

    #[test]
    fn log_level_follows_tracing() {
        // No subscriber is installed in unit tests, so nothing is enabled.
        assert_eq!(ClientConfig::new().log_level, RDKafkaLogLevel::Error);
        assert_eq!(RDKafkaLogLevel::Debug as i32, 7);
        assert_eq!(RDKafkaLogLevel::Emerg as i32, 0);
    }
}
