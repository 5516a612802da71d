//! Test infrastructure for purekafka (not published).
//!
//! - [`broker`]: a real Apache Kafka broker (KRaft, from Maven Central jars) for tests.
//! - [`java`]: Java tools (reference consumer, DumpLogSegments) on the broker's jars.
//! - [`raw`]: a minimal blocking client (ApiVersions, Metadata, InitProducerId, Produce).
#![warn(missing_docs)]

pub mod broker;
pub mod java;
pub mod raw;
