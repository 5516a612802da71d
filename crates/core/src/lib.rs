//! purekafka-core: a sans-IO Kafka producer engine.
//!
//! The engine performs no I/O, reads no clock, spawns nothing and takes no entropy from the
//! system. A driver (tokio in the `purekafka` crate, a blocking loop, a wasm host or a
//! simulated cluster on virtual time) feeds it commands and inputs and polls its outputs, in
//! the style of quinn-proto:
//!
//! - commands: `send`, `flush`, `purge`, `close`, and the transactional operations
//!   (`init_transactions`, `begin_transaction`, `send_offsets_to_transaction`,
//!   `commit_transaction`, `abort_transaction`);
//! - inputs: `handle_connected`, `handle_disconnected`, `handle_response`, `handle_timeout`;
//! - outputs: `poll_transmit`, `poll_conn_command`, `poll_timeout`, `poll_event`,
//!   `poll_txn_result`.
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
    CompressJob, Compressed, ConnCommand, ConnId, DeliveryReport, Engine, Event, GroupMetadata,
    Purge, Record, RecordView, SendError, Transmit, TxnError, TxnOffset, TxnOp,
};
pub use error::{ErrorCode, PersistenceStatus};
pub use rng::Rng;
pub use time::Instant;
