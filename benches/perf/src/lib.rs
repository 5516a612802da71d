//! Producer perf tooling: the `purekafka-perf` and `purekafka-sink` binaries and what they
//! share with the comparison clients in `benches/compare/` ([`measure`]).

pub mod measure;
