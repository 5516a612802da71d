//! purekafka-core: a sans-IO Kafka producer engine.
//!
//! The engine performs no I/O, reads no clock, spawns nothing and takes no entropy from the
//! system. A driver (tokio in the `purekafka` crate, a blocking loop, a wasm host or a
//! simulated cluster on virtual time) feeds it commands and inputs and polls its outputs, in
//! the style of quinn-proto:
//!
//! - commands: `send`, `flush`, `purge`, `close`;
//! - inputs: `handle_connected`, `handle_disconnected`, `handle_response`, `handle_timeout`;
//! - outputs: `poll_transmit`, `poll_conn_command`, `poll_timeout`, `poll_event`.
//!
//! See [`engine`] for the engine's structure and invariants.
//!
//! Time is an [`Instant`] the caller passes in; randomness comes from a seed the caller gives.
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod error;
pub mod partitioner;
pub mod rng;
pub mod time;

pub use config::{ConfigError, ProducerConfig};
pub use engine::{
    ConnCommand, ConnId, DeliveryReport, Engine, Event, Purge, Record, RecordView, SendError,
    Transmit,
};
pub use error::{ErrorCode, PersistenceStatus};
pub use rng::Rng;
pub use time::Instant;
