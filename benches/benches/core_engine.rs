//! The sans-IO core against the in-memory responder, on a virtual clock (criterion).
//!
//! - `core_send/<workload>`: `Engine::send` alone, `SEND_BURST` 100-byte records per
//!   iteration into batches that don't fill up during the burst (so no seal happens inside
//!   it); the completion of the burst (linger, seal, produce, ack, reports) runs untimed.
//! - `core_cycle/<workload>`: the whole path per iteration: send `CYCLE_BURST` records (what
//!   arrives in one 5 ms linger window at 5 M records/s), then seal, transmit, answer, handle
//!   the response, drain every delivery report and touch each record's offset, key and value.
//!   The responder's own cost is included (see `core_cycle` for its share).
//!
//! Time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, a custom criterion
//! `Measurement`), not wall time: the 2-core machine is shared with other builds, and wall time
//! swung by up to 50 % between runs. Throughput is in records (`Throughput::Elements`), so
//! criterion prints records per CPU-second.
//! Run: `cargo bench -p purekafka-benches --bench core_engine -- --warm-up-time 1 --measurement-time 3`.
// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use purekafka_benches::{Harness, Workload};
use purekafka_protocol::compression::Compression;

/// Records per `core_send` iteration: below one batch (1 MB) per partition.
const SEND_BURST: usize = 5_000;
/// Records per `core_cycle` iteration.
const CYCLE_BURST: usize = 25_000;

/// This thread's CPU time so far.
fn cpu_now() -> Duration {
    match cpu_time::ThreadTime::try_now() {
        Ok(t) => t.as_duration(),
        Err(e) => panic!("CLOCK_THREAD_CPUTIME_ID: {e}"),
    }
}

/// Criterion measurement: thread CPU time, formatted like wall time (nanoseconds).
struct ThreadCpu;

/// Only its formatter is used (durations in ns, the same unit `ThreadCpu::to_f64` uses).
static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn harness(w: Workload) -> Harness {
    match Harness::new(w) {
        Ok(h) => h,
        Err(e) => panic!("{}: {e}", w.label()),
    }
}

fn send_only(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("core_send");
    g.throughput(Throughput::Elements(SEND_BURST as u64));
    // The untimed completion makes each iteration ~3x longer in wall time than it measures.
    g.sample_size(50);
    for w in [
        Workload::base(1),
        Workload::base(1).keyed(16).with_headers(2),
        Workload::base(16).keyed(16),
    ] {
        let mut h = harness(w);
        g.bench_function(BenchmarkId::from_parameter(w.label()), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let t = cpu_now();
                    if let Err(e) = h.send_n(SEND_BURST) {
                        panic!("{e}");
                    }
                    timed += cpu_now().saturating_sub(t);
                    if let Err(e) = h.complete() {
                        panic!("{e}");
                    }
                }
                timed
            });
        });
        black_box(h.checksum);
    }
    g.finish();
}

fn full_cycle(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("core_cycle");
    g.throughput(Throughput::Elements(CYCLE_BURST as u64));
    g.sample_size(20);
    let mut workloads = Vec::new();
    for codec in [Compression::None, Compression::Lz4] {
        workloads.push(Workload::base(1).compressed(codec));
        workloads.push(Workload::base(16).keyed(16).compressed(codec));
    }
    for w in workloads {
        let mut h = harness(w);
        g.bench_function(BenchmarkId::from_parameter(w.label()), |b| {
            b.iter(|| {
                if let Err(e) = h.cycle(CYCLE_BURST) {
                    panic!("{e}");
                }
            });
        });
        black_box(h.checksum);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = send_only, full_cycle
}
criterion_main!(benches);
