//! Benchmarks live in `benches/benches/`; this library holds their shared workloads.
//!
//! - [`responder`]: a minimal in-memory broker answering ApiVersions, Metadata and Produce.
//! - [`harness`]: drives a `purekafka_core::Engine` against it on a virtual clock.

pub mod harness;
pub mod responder;

pub use harness::{AllocCounters, Harness, HarnessError, PhaseTimes, Workload};
pub use responder::MemBroker;
