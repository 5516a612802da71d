//! Test infrastructure for purekafka (not published).
//!
//! - [`broker`]: a real Apache Kafka broker (KRaft, from Maven Central jars) for tests.
//! - [`cluster`]: a 3-node KRaft cluster whose nodes can be killed, restarted and paused.
//! - [`java`]: Java tools (reference consumer, DumpLogSegments) on the broker's jars.
//! - [`fake`]: an in-memory fake Kafka cluster on virtual time, with fault injection.
//! - [`raw`]: a minimal blocking client (ApiVersions, Metadata, InitProducerId, Produce).
//! - [`sim`]: drives the sans-IO engine against the fake cluster on virtual time.
//! - [`sink`]: a sink broker acking every Produce at once, for client-only measurements.
#![warn(missing_docs)]

pub mod broker;
pub mod cluster;
pub mod fake;
pub mod java;
pub mod raw;
pub mod sim;
pub mod sink;
