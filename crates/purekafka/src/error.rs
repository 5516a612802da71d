//! Errors, shaped exactly like rust-rdkafka's `rdkafka::error`.
//!
//! Applications match on these variants and on their `Display` text (for example
//! `Message production error: QueueFull (Local: Queue full)`), so both are kept identical to
//! rdkafka 0.39. Variants that only rdkafka's consumer or admin API produce exist so that code
//! written against rdkafka keeps compiling; purekafka never returns them.

use std::ffi::NulError;
use std::fmt;
use std::sync::Arc;

pub use purekafka_core::error::ErrorCode as RDKafkaErrorCode;

/// The result of a fallible Kafka operation.
pub type KafkaResult<T> = Result<T, KafkaError>;

/// Whether a value represents an error condition (some librdkafka codes are informational).
pub trait IsError {
    /// Reports whether the value represents an error.
    fn is_error(&self) -> bool;
}

impl IsError for RDKafkaErrorCode {
    fn is_error(&self) -> bool {
        *self != Self::NoError
    }
}

/// The outcome of setting one configuration property (librdkafka's `rd_kafka_conf_res_t`).
///
/// The variant names are librdkafka's C names, because rdkafka re-exports the C enum and
/// applications match on them.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Copy, Clone, Hash, PartialEq, Eq)]
pub enum RDKafkaConfRes {
    /// The property name is unknown.
    RD_KAFKA_CONF_UNKNOWN = -2,
    /// The value is invalid for the property.
    RD_KAFKA_CONF_INVALID = -1,
    /// The property was set.
    RD_KAFKA_CONF_OK = 0,
}

impl IsError for RDKafkaConfRes {
    fn is_error(&self) -> bool {
        *self != Self::RD_KAFKA_CONF_OK
    }
}

/// A rich error from a transactional or fatal-error API (librdkafka's `rd_kafka_error_t`):
/// a code, a human-readable message and the flags that tell the application how to react.
///
/// Clones share one allocation. Equality compares the codes only, as rdkafka does.
#[derive(Clone)]
pub struct RDKafkaError(Arc<RDKafkaErrorInner>);

#[derive(Clone)]
struct RDKafkaErrorInner {
    code: RDKafkaErrorCode,
    message: String,
    fatal: bool,
    retriable: bool,
    txn_requires_abort: bool,
}

impl RDKafkaError {
    /// A new error with `code` and `message` and no flags set (purekafka extension: rdkafka
    /// only builds these from librdkafka). An empty message means the code's standard text.
    pub fn new(code: RDKafkaErrorCode, message: impl Into<String>) -> Self {
        Self(Arc::new(RDKafkaErrorInner {
            code,
            message: message.into(),
            fatal: false,
            retriable: false,
            txn_requires_abort: false,
        }))
    }

    /// Sets whether the error is fatal (purekafka extension).
    #[must_use]
    pub fn with_fatal(mut self, fatal: bool) -> Self {
        Arc::make_mut(&mut self.0).fatal = fatal;
        self
    }

    /// Sets whether the failed operation may be retried (purekafka extension).
    #[must_use]
    pub fn with_retriable(mut self, retriable: bool) -> Self {
        Arc::make_mut(&mut self.0).retriable = retriable;
        self
    }

    /// Sets whether the transaction must be aborted (purekafka extension).
    #[must_use]
    pub fn with_txn_requires_abort(mut self, txn_requires_abort: bool) -> Self {
        Arc::make_mut(&mut self.0).txn_requires_abort = txn_requires_abort;
        self
    }

    /// The error code.
    pub fn code(&self) -> RDKafkaErrorCode {
        self.0.code
    }

    /// The code's librdkafka name (`rd_kafka_err2name`), e.g. `_TIMED_OUT` or
    /// `INVALID_PRODUCER_EPOCH`.
    pub fn name(&self) -> String {
        self.0.code.name().to_owned()
    }

    /// The human-readable message, or the code's standard text when none was given.
    pub fn string(&self) -> String {
        if self.0.message.is_empty() {
            self.0.code.description().to_owned()
        } else {
            self.0.message.clone()
        }
    }

    /// Whether the client instance is no longer usable.
    pub fn is_fatal(&self) -> bool {
        self.0.fatal
    }

    /// Whether the operation that failed may be retried.
    pub fn is_retriable(&self) -> bool {
        self.0.retriable
    }

    /// Whether the current transaction must be aborted (an abortable transaction error).
    pub fn txn_requires_abort(&self) -> bool {
        self.0.txn_requires_abort
    }
}

impl IsError for RDKafkaError {
    fn is_error(&self) -> bool {
        self.0.code.is_error()
    }
}

impl PartialEq for RDKafkaError {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

impl Eq for RDKafkaError {}

impl fmt::Debug for RDKafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RDKafkaError({self})")
    }
}

impl fmt::Display for RDKafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.message.is_empty() {
            f.write_str(self.0.code.description())
        } else {
            f.write_str(&self.0.message)
        }
    }
}

impl std::error::Error for RDKafkaError {}

/// Every error a Kafka client operation can report.
///
/// Inspect the underlying [`RDKafkaErrorCode`] with [`KafkaError::rdkafka_error_code`].
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaError {
    /// Creating an admin operation failed (rdkafka admin API; never returned by purekafka).
    #[error("Admin operation creation error: {0}")]
    AdminOpCreation(String),
    /// An admin operation failed (rdkafka admin API; never returned by purekafka).
    #[error("Admin operation error: {0}")]
    AdminOp(RDKafkaErrorCode),
    /// The client was dropped before the operation completed.
    #[error("KafkaError (Client dropped)")]
    Canceled,
    /// A configuration property was rejected: result, description, key, value.
    #[error("Client config error: {1} {2} {3}")]
    ClientConfig(RDKafkaConfRes, String, String, String),
    /// The client could not be created (e.g. conflicting properties).
    #[error("Client creation error: {0}")]
    ClientCreation(String),
    /// A consumer commit failed (rdkafka consumer API; never returned by purekafka).
    #[error("Consumer commit error: {0}")]
    ConsumerCommit(#[source] RDKafkaErrorCode),
    /// Closing a consumer queue failed (rdkafka consumer API; never returned by purekafka).
    #[error("Consumer queue close error: {0}")]
    ConsumerQueueClose(#[source] RDKafkaErrorCode),
    /// Flushing did not complete (usually `OperationTimedOut`).
    #[error("Flush error: {0}")]
    Flush(#[source] RDKafkaErrorCode),
    /// A client-wide error, as passed to [`ClientContext::error`](crate::ClientContext::error).
    #[error("Global error: {0}")]
    Global(#[source] RDKafkaErrorCode),
    /// Listing groups failed (rdkafka consumer API; never returned by purekafka).
    #[error("Group list fetch error: {0}")]
    GroupListFetch(#[source] RDKafkaErrorCode),
    /// Consuming a message failed (rdkafka consumer API; never returned by purekafka).
    #[error("Message consumption error: {0}")]
    MessageConsumption(#[source] RDKafkaErrorCode),
    /// Consuming failed fatally (rdkafka consumer API; never returned by purekafka).
    #[error("(Fatal) Message consumption error: {0}")]
    MessageConsumptionFatal(#[source] RDKafkaErrorCode),
    /// Producing a message failed, synchronously or in its delivery report.
    #[error("Message production error: {0}")]
    MessageProduction(#[source] RDKafkaErrorCode),
    /// Fetching metadata failed.
    #[error("Meta data fetch error: {0}")]
    MetadataFetch(#[source] RDKafkaErrorCode),
    /// No message arrived within the poll interval (rdkafka consumer API).
    #[error("No message received within the given poll interval")]
    NoMessageReceived,
    /// A string passed to the client contained a NUL byte.
    #[error("FFI nul error")]
    Nul(NulError),
    /// Fetching offsets failed (rdkafka consumer API; never returned by purekafka).
    #[error("Offset fetch error: {0}")]
    OffsetFetch(#[source] RDKafkaErrorCode),
    /// The end of a partition was reached (rdkafka consumer API).
    #[error("Partition EOF: {0}")]
    PartitionEOF(i32),
    /// Pausing or resuming failed (rdkafka consumer API).
    #[error("Pause/resume error: {0}")]
    PauseResume(String),
    /// A rebalance failed (rdkafka consumer API; never returned by purekafka).
    #[error("Rebalance error: {0}")]
    Rebalance(#[source] RDKafkaErrorCode),
    /// Seeking failed (rdkafka consumer API).
    #[error("Seek error: {0}")]
    Seek(String),
    /// Setting a partition offset failed (rdkafka API; never returned by purekafka).
    #[error("Set partition offset error: {0}")]
    SetPartitionOffset(#[source] RDKafkaErrorCode),
    /// Storing an offset failed (rdkafka consumer API; never returned by purekafka).
    #[error("Store offset error: {0}")]
    StoreOffset(#[source] RDKafkaErrorCode),
    /// Subscribing failed (rdkafka consumer API).
    #[error("Subscription error: {0}")]
    Subscription(String),
    /// A transactional operation failed; the [`RDKafkaError`] says how to react.
    #[error("Transaction error: {0}")]
    Transaction(#[source] RDKafkaError),
    /// A mock cluster operation failed (rdkafka `mocking`; never returned by purekafka yet).
    #[error("Mock cluster error: {0}")]
    MockCluster(#[source] RDKafkaErrorCode),
}

impl fmt::Debug for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // rdkafka's Debug wraps most Display texts in `KafkaError (...)`, with a few
        // historical differences (e.g. "Metadata" vs "Meta data") kept verbatim.
        match self {
            Self::AdminOp(e) => write!(f, "KafkaError (Admin operation error: {e})"),
            Self::AdminOpCreation(e) => {
                write!(f, "KafkaError (Admin operation creation error: {e})")
            }
            Self::Canceled => f.write_str("KafkaError (Client dropped)"),
            Self::ClientConfig(_, desc, key, value) => {
                write!(f, "KafkaError (Client config error: {desc} {key} {value})")
            }
            Self::ClientCreation(e) => write!(f, "KafkaError (Client creation error: {e})"),
            Self::ConsumerCommit(e) => write!(f, "KafkaError (Consumer commit error: {e})"),
            Self::ConsumerQueueClose(e) => {
                write!(f, "KafkaError (Consumer queue close error: {e})")
            }
            Self::Flush(e) => write!(f, "KafkaError (Flush error: {e})"),
            Self::Global(e) => write!(f, "KafkaError (Global error: {e})"),
            Self::GroupListFetch(e) => write!(f, "KafkaError (Group list fetch error: {e})"),
            Self::MessageConsumption(e) => {
                write!(f, "KafkaError (Message consumption error: {e})")
            }
            Self::MessageConsumptionFatal(e) => {
                write!(f, "(Fatal) KafkaError (Message consumption error: {e})")
            }
            Self::MessageProduction(e) => {
                write!(f, "KafkaError (Message production error: {e})")
            }
            Self::MetadataFetch(e) => write!(f, "KafkaError (Metadata fetch error: {e})"),
            Self::NoMessageReceived => {
                f.write_str("No message received within the given poll interval")
            }
            Self::Nul(_) => f.write_str("FFI null error"),
            Self::OffsetFetch(e) => write!(f, "KafkaError (Offset fetch error: {e})"),
            Self::PartitionEOF(p) => write!(f, "KafkaError (Partition EOF: {p})"),
            Self::PauseResume(e) => write!(f, "KafkaError (Pause/resume error: {e})"),
            Self::Rebalance(e) => write!(f, "KafkaError (Rebalance error: {e})"),
            Self::Seek(e) => write!(f, "KafkaError (Seek error: {e})"),
            Self::SetPartitionOffset(e) => {
                write!(f, "KafkaError (Set partition offset error: {e})")
            }
            Self::StoreOffset(e) => write!(f, "KafkaError (Store offset error: {e})"),
            Self::Subscription(e) => write!(f, "KafkaError (Subscription error: {e})"),
            Self::Transaction(e) => write!(f, "KafkaError (Transaction error: {e})"),
            Self::MockCluster(e) => write!(f, "KafkaError (Mock cluster error: {e})"),
        }
    }
}

// Written by hand rather than with `#[from]`: rdkafka reports no `source()` for `Nul`.
impl From<NulError> for KafkaError {
    fn from(err: NulError) -> Self {
        Self::Nul(err)
    }
}

impl KafkaError {
    /// The [`RDKafkaErrorCode`] underlying this error, if it has one.
    pub fn rdkafka_error_code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            Self::AdminOp(_)
            | Self::AdminOpCreation(_)
            | Self::Canceled
            | Self::ClientConfig(..)
            | Self::ClientCreation(_)
            | Self::NoMessageReceived
            | Self::Nul(_)
            | Self::PartitionEOF(_)
            | Self::PauseResume(_)
            | Self::Seek(_)
            | Self::Subscription(_) => None,
            Self::ConsumerCommit(c)
            | Self::ConsumerQueueClose(c)
            | Self::Flush(c)
            | Self::Global(c)
            | Self::GroupListFetch(c)
            | Self::MessageConsumption(c)
            | Self::MessageConsumptionFatal(c)
            | Self::MessageProduction(c)
            | Self::MetadataFetch(c)
            | Self::OffsetFetch(c)
            | Self::Rebalance(c)
            | Self::SetPartitionOffset(c)
            | Self::StoreOffset(c)
            | Self::MockCluster(c) => Some(*c),
            Self::Transaction(e) => Some(e.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use std::error::Error as _;
    use std::ffi::CString;

    use super::*;

    #[test]
    fn display_matches_rdkafka() {
        let cases: [(KafkaError, &str); 8] = [
            (
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                "Message production error: QueueFull (Local: Queue full)",
            ),
            (
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
                "Message production error: MessageTimedOut (Local: Message timed out)",
            ),
            (
                KafkaError::MessageProduction(RDKafkaErrorCode::PurgeQueue),
                "Message production error: PurgeQueue (Local: Purged in queue)",
            ),
            (
                KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                "Flush error: OperationTimedOut (Local: Timed out)",
            ),
            (
                KafkaError::MetadataFetch(RDKafkaErrorCode::AllBrokersDown),
                "Meta data fetch error: AllBrokersDown (Local: All broker connections are down)",
            ),
            (KafkaError::Canceled, "KafkaError (Client dropped)"),
            (
                KafkaError::ClientConfig(
                    RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN,
                    "No such configuration property: \"foo\"".into(),
                    "foo".into(),
                    "bar".into(),
                ),
                "Client config error: No such configuration property: \"foo\" foo bar",
            ),
            (
                KafkaError::ClientCreation("boom".into()),
                "Client creation error: boom",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
    }

    #[test]
    fn debug_matches_rdkafka() {
        assert_eq!(
            format!(
                "{:?}",
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
            ),
            "KafkaError (Message production error: QueueFull (Local: Queue full))"
        );
        assert_eq!(
            format!(
                "{:?}",
                KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut)
            ),
            "KafkaError (Metadata fetch error: OperationTimedOut (Local: Timed out))"
        );
        let nul = CString::new("a\0b").unwrap_err();
        assert_eq!(
            format!("{:?}", KafkaError::from(nul.clone())),
            "FFI null error"
        );
        assert_eq!(KafkaError::from(nul).to_string(), "FFI nul error");
    }

    #[test]
    fn codes_and_sources() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::MessageSizeTooLarge)
        );
        let source = e.source().map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("MessageSizeTooLarge (Broker: Message size too large)")
        );
        assert_eq!(KafkaError::Canceled.rdkafka_error_code(), None);
        assert!(KafkaError::ClientCreation("x".into()).source().is_none());

        let txn = KafkaError::Transaction(RDKafkaError::new(
            RDKafkaErrorCode::InvalidProducerEpoch,
            "",
        ));
        assert_eq!(
            txn.rdkafka_error_code(),
            Some(RDKafkaErrorCode::InvalidProducerEpoch)
        );
        assert!(txn.source().is_some());
    }

    #[test]
    fn rdkafka_error_accessors() {
        let plain = RDKafkaError::new(RDKafkaErrorCode::OperationTimedOut, "");
        assert_eq!(plain.code(), RDKafkaErrorCode::OperationTimedOut);
        assert_eq!(plain.name(), "_TIMED_OUT");
        assert_eq!(plain.string(), "Local: Timed out");
        assert_eq!(plain.to_string(), "Local: Timed out");
        assert_eq!(format!("{plain:?}"), "RDKafkaError(Local: Timed out)");
        assert!(!plain.is_fatal() && !plain.is_retriable() && !plain.txn_requires_abort());
        assert!(plain.is_error());

        let rich = RDKafkaError::new(
            RDKafkaErrorCode::OperationTimedOut,
            "Transactional operation timed out",
        )
        .with_retriable(true);
        assert!(rich.is_retriable() && !rich.is_fatal());
        assert_eq!(rich.string(), "Transactional operation timed out");
        assert_eq!(
            KafkaError::Transaction(rich.clone()).to_string(),
            "Transaction error: Transactional operation timed out"
        );
        // Equality is by code only, as in rdkafka.
        assert_eq!(rich, plain);
        let abortable = plain.clone().with_txn_requires_abort(true).with_fatal(true);
        assert!(abortable.txn_requires_abort() && abortable.is_fatal());
        // Builders copy on write: the clone it came from is unchanged.
        assert!(!plain.txn_requires_abort());
        assert!(!RDKafkaError::new(RDKafkaErrorCode::NoError, "").is_error());
    }

    #[test]
    fn conf_res_is_error() {
        assert!(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN.is_error());
        assert!(RDKafkaConfRes::RD_KAFKA_CONF_INVALID.is_error());
        assert!(!RDKafkaConfRes::RD_KAFKA_CONF_OK.is_error());
        assert_eq!(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN as i32, -2);
        assert!(RDKafkaErrorCode::QueueFull.is_error());
        assert!(!RDKafkaErrorCode::NoError.is_error());
    }
}
