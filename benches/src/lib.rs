//! Benchmarks live in `benches/benches/`; this library holds their shared workloads.
