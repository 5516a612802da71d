//! purekafka: a pure-Rust Kafka producer with rust-rdkafka's producer API.
//!
//! The goal is a drop-in for rust-rdkafka 0.39's producer side: rename the dependency
//! (`rdkafka = { package = "purekafka", ... }`) and the same code compiles and behaves the
//! same, without librdkafka, OpenSSL or cmake.
//!
//! What works: [`producer::BaseProducer`], [`producer::ThreadedProducer`] and
//! [`producer::FutureProducer`] with rdkafka's records, contexts, custom partitioners,
//! `flush`, `purge`, `in_flight_count`, drop semantics and statistics; [`ClientConfig`] with
//! every librdkafka producer property (unsupported ones, such as TLS and SASL, are refused
//! with a `ClientConfig` error naming the property). Each producer owns one background thread
//! running a tokio current-thread runtime that drives the sans-IO engine
//! ([`purekafka_core::Engine`]); delivery callbacks run on the thread that calls `poll` or
//! `flush`, as with librdkafka.
//!
//! Transactions ([`producer::Producer::init_transactions`] and the rest, KIP-890 transaction
//! version 2 when the brokers support it) with [`TopicPartitionList`], [`Offset`] and
//! [`consumer::ConsumerGroupMetadata`] for `send_offsets_to_transaction`.
//!
//! Not here (consumer-side): `Client::fetch_group_list`.
//!
//! Known deviations from rdkafka (all because purekafka has no C library and no `unsafe`):
//! [`Message::payload_mut`] is a safe method; [`IntoOpaque`] is a marker trait without
//! raw-pointer conversions; `BorrowedMessage::ptr()`, `NativeClientConfig` and
//! `rdkafka::{bindings, helpers, types}` do not exist; [`util::get_rdkafka_version`] reports
//! purekafka's version. Each is documented where it applies.
//!
//! The value types are used exactly as with rdkafka:
//!
//! ```
//! use std::time::Duration;
//!
//! use purekafka::error::{KafkaError, RDKafkaErrorCode};
//! use purekafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
//! use purekafka::util::Timeout;
//! use purekafka::{ClientConfig, Message, Timestamp};
//!
//! let mut config = ClientConfig::new();
//! config
//!     .set("bootstrap.servers", "localhost:9092")
//!     .set("message.timeout.ms", "5000");
//! assert_eq!(config.get("message.timeout.ms"), Some("5000"));
//!
//! let headers = OwnedHeaders::new().insert(Header { key: "trace-id", value: Some("abc") });
//! let message = OwnedMessage::new(
//!     Some(b"hello".to_vec()),
//!     None,
//!     "events".to_owned(),
//!     Timestamp::now(),
//!     0,
//!     42,
//!     Some(headers),
//! );
//! assert_eq!(message.payload_view::<str>(), Some(Ok("hello")));
//! assert_eq!(message.headers().unwrap().get_as::<str>(0).unwrap().value, Some("abc"));
//!
//! let err = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
//! assert_eq!(err.to_string(), "Message production error: QueueFull (Local: Queue full)");
//! assert_eq!(Timeout::from(Some(Duration::from_secs(1))), Timeout::After(Duration::from_secs(1)));
//! ```
#![warn(missing_docs)]

pub use purekafka_core as core;
pub use purekafka_protocol as protocol;

pub mod client;
pub mod config;
pub mod consumer;
mod driver;
pub mod error;
pub mod message;
pub mod metadata;
pub mod producer;
pub mod statistics;
pub mod topic_partition_list;
pub mod util;

pub use crate::client::ClientContext;
pub use crate::config::ClientConfig;
pub use crate::message::{Message, Timestamp};
pub use crate::statistics::Statistics;
pub use crate::topic_partition_list::{Offset, TopicPartitionList};
pub use crate::util::IntoOpaque;

#[cfg(test)]
mod compat_tests;
