//! Plain-loop throughput of the sans-IO core (no criterion): send -> seal -> transmit -> ack
//! -> delivery report against the in-memory responder, on a virtual clock.
//!
//! For each workload: warm up, then `REPS` repetitions of `CYCLES` cycles of `BURST` records
//! (the small-batch workload: as many records in cycles of `SMALL_BURST`).
//! Each repetition reports records per second of this thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID` via the `cpu-time` crate) and of wall time; the summary gives median, min and max over the repetitions, because the
//! 2-core machine is shared with other builds. One extra repetition splits the CPU time into
//! send and completion (linger expiry, seal, request encode, responder, response handling,
//! delivery iteration), and reports the responder's and the delivery iteration's share.
//!
//! Run: `cargo bench -p purekafka-benches --bench core_cycle` (optional filter argument:
//! a substring of the workload label, e.g. `-- p16`).
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use purekafka_benches::{Harness, HarnessError, PhaseTimes, Workload};
use purekafka_protocol::compression::Compression;

/// Records per cycle: what arrives within one 5 ms linger window at 5 M records/s.
const BURST: usize = 25_000;
/// Cycles per repetition (500 k records).
const CYCLES: usize = 20;
/// Repetitions per workload.
const REPS: usize = 7;

/// This thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`: exact, unlike schedstat, which
/// only advances at scheduler ticks).
fn thread_cpu() -> Option<Duration> {
    cpu_time::ThreadTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

/// This thread's minor page faults so far (`/proc/thread-self/stat` field 10).
fn minor_faults() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name, which may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// Records per cycle of the small-batch workload: 16 partitions, 16-byte keys, 80 records
/// per cycle make 5-record batches, as `linger.ms = 0` does against a fast broker, so the
/// per-batch and per-request work dominates.
const SMALL_BURST: usize = 80;

/// Each workload with its records per cycle.
fn workloads() -> Vec<(Workload, usize)> {
    let mut out = Vec::new();
    for codec in [Compression::None, Compression::Lz4] {
        out.push((Workload::base(1).compressed(codec), BURST));
        out.push((Workload::base(16).keyed(16).compressed(codec), BURST));
    }
    // Per-record extras on one partition: a 16-byte key (hashed by the default
    // consistent_random partitioner), two headers, both.
    out.push((Workload::base(1).keyed(16), BURST));
    out.push((Workload::base(1).with_headers(2), BURST));
    out.push((Workload::base(1).keyed(16).with_headers(2), BURST));
    out.push((Workload::base(16).keyed(16), SMALL_BURST));
    out
}

/// A workload's label, with its burst when it is not [`BURST`].
fn label(w: &Workload, burst: usize) -> String {
    if burst == BURST {
        w.label()
    } else {
        format!("{}_burst{burst}", w.label())
    }
}

struct Rep {
    cpu: Option<Duration>,
    wall: Duration,
}

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn run(w: Workload, burst: usize) -> Result<(), HarnessError> {
    // The same records per repetition whatever the burst.
    let cycles = BURST * CYCLES / burst;
    let mut h = Harness::new(w)?;
    for _ in 0..5 {
        h.cycle(burst)?;
    }
    let counts_before = h.broker.counts;
    let faults_before = minor_faults();
    let mut reps = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let cpu0 = thread_cpu();
        let wall0 = Instant::now();
        for _ in 0..cycles {
            h.cycle(burst)?;
        }
        let wall = wall0.elapsed();
        let cpu = cpu0.zip(thread_cpu()).map(|(a, b)| b - a);
        reps.push(Rep { cpu, wall });
    }
    let c = h.broker.counts;
    let faults = faults_before.zip(minor_faults()).map(|(a, b)| b - a);
    let records = (burst * cycles) as f64;
    let per_s = |d: Duration| records / d.as_secs_f64();
    let wall = median_min_max(reps.iter().map(|r| per_s(r.wall)).collect());
    let cpu: Option<Vec<f64>> = reps.iter().map(|r| r.cpu.map(per_s)).collect();
    let batches = (c.batches - counts_before.batches) as f64;
    let requests = (c.produce - counts_before.produce) as f64;
    let recs = (c.records - counts_before.records) as f64;
    println!("{}", label(&w, burst));
    if let Some(cpu) = cpu {
        let (m, lo, hi) = median_min_max(cpu);
        println!(
            "  cpu : {:6.2} M rec/s median ({:.2}..{:.2}) = {:5.0} ns/rec",
            m / 1e6,
            lo / 1e6,
            hi / 1e6,
            1e9 / m
        );
    }
    println!(
        "  wall: {:6.2} M rec/s median ({:.2}..{:.2})",
        wall.0 / 1e6,
        wall.1 / 1e6,
        wall.2 / 1e6
    );
    println!(
        "  {:.0} records/batch, {:.1} batches/request, {:.0} wire bytes/record, {} minor page faults/1000 records",
        recs / batches,
        batches / requests,
        (c.batch_bytes - counts_before.batch_bytes) as f64 / recs,
        faults.map_or_else(
            || "?".to_owned(),
            |f| format!("{:.1}", f as f64 * 1000.0 / recs)
        ),
    );

    // Phase split in thread CPU time (a clock_gettime syscall, under a microsecond; it is
    // read a handful of times per 25 k-record cycle).
    h.timing = Some(PhaseTimes::default());
    h.clock = || thread_cpu().unwrap_or_default();
    for _ in 0..cycles {
        h.cycle(burst)?;
    }
    let t = h.timing.take().unwrap_or_default();
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / records;
    println!(
        "  split ns/rec (cpu): send {:.0} | completion: engine {:.0} + responder {:.1} + delivery iteration {:.0} | total {:.0}",
        ns(t.send),
        ns(t.engine_other),
        ns(t.responder),
        ns(t.delivery),
        ns(t.send + t.engine_other + t.responder + t.delivery),
    );
    black_box(h.checksum);
    Ok(())
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    println!(
        "core_cycle: {BURST} records/cycle x {CYCLES} cycles x {REPS} reps per workload (100 B values, acks=1, linger 5 ms virtual)"
    );
    for (w, burst) in workloads() {
        let name = label(&w, burst);
        if !name.contains(&filter) {
            continue;
        }
        if let Err(e) = run(w, burst) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}
