//! Test infrastructure for purekafka (not published).
//!
//! - [`broker`]: a real Apache Kafka broker (KRaft, from Maven Central jars) for tests.
#![warn(missing_docs)]

pub mod broker;
