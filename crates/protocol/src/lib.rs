//! The Kafka wire protocol as purekafka speaks it.
//!
//! - [`frame`]: request/response framing on top of the `kafka-protocol` crate (size prefix,
//!   header versions, correlation ids, response decoding by api key and version).
//! - [`versions`]: ApiVersions negotiation.
//! - [`batch`]: our own RecordBatch v2 writer (incremental append, seal, in-place restamp)
//!   and a bounded reader.
//! - [`compression`]: gzip, snappy, lz4 and zstd, each behind a cargo feature.
//!
//! This crate performs no I/O.
#![warn(missing_docs)]

pub mod batch;
pub mod compression;
pub mod frame;
pub mod varint;
pub mod versions;

pub use kafka_protocol;
