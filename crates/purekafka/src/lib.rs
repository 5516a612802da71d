//! purekafka: a pure-Rust Kafka producer with rust-rdkafka's producer API.
//!
//! The rdkafka-compatible API and the tokio driver are built by their own issue; until then
//! this crate only re-exports the layers below it.
#![warn(missing_docs)]

pub use purekafka_core as core;
pub use purekafka_protocol as protocol;
