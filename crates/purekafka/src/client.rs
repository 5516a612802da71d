//! What every client shares, shaped like rust-rdkafka's `rdkafka::client`: the
//! [`ClientContext`] callbacks (logs, statistics, global errors, OAUTHBEARER tokens).
//!
//! rdkafka's `Client` type (metadata, fatal errors) comes with the producers.

use std::error::Error;
use std::fmt;

use crate::config::RDKafkaLogLevel;
use crate::error::KafkaError;
use crate::statistics::Statistics;

// Defined with the producers (purekafka's only client type).
pub use crate::producer::Client;

/// Callbacks a client calls with its logs, statistics and global errors.
///
/// Every method has a default, so `impl ClientContext for MyContext {}` is enough; override
/// the ones you need. Implementations must be thread-safe: the client may call them from its
/// own threads or tasks.
///
/// The defaults report through `tracing` (rdkafka uses `log`, or `tracing` with its
/// `tracing` feature) with rdkafka's targets: `librdkafka` for [`log`](Self::log) and
/// `rdkafka::client` for the others, so filters written for rdkafka keep working.
pub trait ClientContext: Send + Sync {
    /// Whether the client asks [`generate_oauth_token`](Self::generate_oauth_token) for
    /// SASL/OAUTHBEARER tokens (only relevant with `sasl.mechanism=OAUTHBEARER`).
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = false;

    /// Receives a client log line: `fac` is the facility (e.g. `BROKER`, `PRODUCE`).
    ///
    /// The default emits a `tracing` event with target `librdkafka`: Emerg, Alert, Critical
    /// and Error as errors, Warning as a warning, Notice and Info as info, Debug as debug.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {} {}", fac, log_message);
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "librdkafka: {} {}", fac, log_message);
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "librdkafka: {} {}", fac, log_message);
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", "librdkafka: {} {}", fac, log_message);
            }
        }
    }

    /// Receives decoded statistics every `statistics.interval.ms` (0, the default, disables
    /// them). The default logs them at info level.
    fn stats(&self, statistics: Statistics) {
        tracing::info!(target: "rdkafka::client", "Client stats: {:?}", statistics);
    }

    /// Receives the statistics JSON. The default decodes it and calls
    /// [`stats`](Self::stats), or logs an error when it does not parse.
    fn stats_raw(&self, statistics: &[u8]) {
        match serde_json::from_slice(statistics) {
            Ok(stats) => self.stats(stats),
            Err(e) => {
                tracing::error!(target: "rdkafka::client", "Could not parse statistics JSON: {}", e);
            }
        }
    }

    /// Receives a client-wide error (`error` is a [`KafkaError::Global`]). These are usually
    /// transient (a broker went away) and handled internally. The default logs them.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::error!(target: "rdkafka::client", "librdkafka: {}: {}", error, reason);
    }

    /// Produces a SASL/OAUTHBEARER token from `sasl.oauthbearer.config`. Called only when
    /// [`ENABLE_REFRESH_OAUTH_TOKEN`](Self::ENABLE_REFRESH_OAUTH_TOKEN) is true. The default
    /// always fails and must be overridden.
    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        Err("Default implementation of generate_oauth_token must be overridden".into())
    }
}

/// A [`ClientContext`] with every default callback.
#[derive(Clone, Debug, Default)]
pub struct DefaultClientContext;

impl ClientContext for DefaultClientContext {}

/// A SASL/OAUTHBEARER token, as [`ClientContext::generate_oauth_token`] returns it.
///
/// Its `Debug` output hides the token.
#[derive(Clone)]
pub struct OAuthToken {
    /// The token.
    pub token: String,
    /// The Kafka principal the token stands for.
    pub principal_name: String,
    /// When the token expires, in milliseconds since the Unix epoch.
    pub lifetime_ms: i64,
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("token", &"[sanitized for safety]")
            .field("principal_name", &self.principal_name)
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use std::fmt::Write as _;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    use super::*;
    use crate::error::RDKafkaErrorCode;

    /// Records every event as (level, target, message).
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<(Level, String, String)>>>);

    struct MessageVisitor(String);

    impl Visit for MessageVisitor {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.0, "{value:?}");
            }
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut v = MessageVisitor(String::new());
            event.record(&mut v);
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned(), v.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn capture(f: impl FnOnce()) -> Vec<(Level, String, String)> {
        let c = Capture::default();
        tracing::subscriber::with_default(c.clone(), f);
        c.0.lock().unwrap().clone()
    }

    #[test]
    fn default_log_maps_levels() {
        let ctx = DefaultClientContext;
        let events = capture(|| {
            ctx.log(RDKafkaLogLevel::Critical, "FAC", "crit");
            ctx.log(RDKafkaLogLevel::Warning, "FAC", "warn");
            ctx.log(RDKafkaLogLevel::Notice, "FAC", "notice");
            ctx.log(RDKafkaLogLevel::Debug, "BROKER", "dbg");
        });
        let got: Vec<(Level, &str, &str)> = events
            .iter()
            .map(|(l, t, m)| (*l, t.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Level::ERROR, "librdkafka", "librdkafka: FAC crit"),
                (Level::WARN, "librdkafka", "librdkafka: FAC warn"),
                (Level::INFO, "librdkafka", "librdkafka: FAC notice"),
                (Level::DEBUG, "librdkafka", "librdkafka: BROKER dbg"),
            ]
        );
    }

    #[test]
    fn default_stats_raw_and_error() {
        let ctx = DefaultClientContext;
        let sample = include_bytes!("testdata/librdkafka-stats-producer.json");
        let events = capture(|| {
            ctx.stats_raw(sample);
            ctx.stats_raw(b"{not json");
            ctx.error(
                KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
                "1/1 brokers are down",
            );
        });
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].0, Level::INFO);
        assert!(
            events[0]
                .2
                .starts_with("Client stats: Statistics { name: \"rdkafka#producer-1\"")
        );
        assert_eq!(events[1].0, Level::ERROR);
        assert!(events[1].2.starts_with("Could not parse statistics JSON: "));
        assert_eq!(
            events[2],
            (
                Level::ERROR,
                "rdkafka::client".to_owned(),
                "librdkafka: Global error: AllBrokersDown (Local: All broker connections are \
                 down): 1/1 brokers are down"
                    .to_owned()
            )
        );
    }

    struct Custom {
        seen: Mutex<Vec<i64>>,
    }

    impl ClientContext for Custom {
        const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

        fn stats(&self, statistics: Statistics) {
            self.seen.lock().unwrap().push(statistics.msg_cnt as i64);
        }

        fn generate_oauth_token(&self, cfg: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
            Ok(OAuthToken {
                token: format!("tok-{}", cfg.unwrap_or("")),
                principal_name: "svc".into(),
                lifetime_ms: 1,
            })
        }
    }

    #[test]
    fn overrides_and_oauth() {
        let ctx = Custom {
            seen: Mutex::new(Vec::new()),
        };
        ctx.stats_raw(include_bytes!("testdata/librdkafka-stats-producer.json"));
        assert_eq!(*ctx.seen.lock().unwrap(), [320]);
        const { assert!(Custom::ENABLE_REFRESH_OAUTH_TOKEN) };
        const { assert!(!DefaultClientContext::ENABLE_REFRESH_OAUTH_TOKEN) };
        let token = ctx.generate_oauth_token(Some("x")).unwrap();
        assert_eq!(token.token, "tok-x");
        assert!(!format!("{token:?}").contains("tok-x"));

        let err = DefaultClientContext.generate_oauth_token(None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Default implementation of generate_oauth_token must be overridden"
        );
    }
}
