//! Heap allocations of the sans-IO core, counted by `stats_alloc` (its `unsafe` lives in the
//! dependency: declaring the instrumented global allocator below needs none on our side).
//!
//! Counted: `alloc` calls, `realloc` calls (a `Vec` doubling) and bytes (allocated + net
//! realloc growth). For each workload, after warm-up:
//!
//! 1. **send**: only inside `Engine::send`, over `SENDS` records sent in bursts of `BURST`
//!    (each burst completed, uncounted, before the next). Every send is measured on its own,
//!    so the report says how many sends allocate at all and why: a send that opens a batch
//!    (first allocation of its records buffer and bookkeeping), one that grows a buffer
//!    (`realloc`: amortised doubling), or one that fills a batch (the engine then seals it and
//!    encodes the request inside that same `send`).
//! 2. **full path**: everything in whole cycles (send -> seal -> transmit -> ack -> delivery
//!    report iterated), per record and per batch, with the in-memory responder's own
//!    allocations measured separately and subtracted.
//!
//! Run: `cargo bench -p purekafka-benches --bench core_alloc`.
#![allow(missing_docs)]

use std::alloc::System;
use std::hint::black_box;

use purekafka_benches::{AllocCounters, Harness, HarnessError, Workload};
use purekafka_protocol::compression::Compression;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SENDS: usize = 100_000;
const BURST: usize = 25_000;

fn counters() -> AllocCounters {
    let s = GLOBAL.stats();
    AllocCounters {
        allocs: s.allocations as u64,
        reallocs: s.reallocations as u64,
        bytes: (s.bytes_allocated as u64).wrapping_add(s.bytes_reallocated as u64),
    }
}

#[derive(Default)]
struct SendStats {
    total: AllocCounters,
    /// Sends that called the allocator at all.
    allocating: u64,
    /// ... of which only `realloc`s (buffer growth).
    growth_only: u64,
    /// ... that opened a batch (the harness can't see it directly: it is the send right after
    /// a batch left, i.e. the one with a fresh `alloc` and no `realloc`).
    alloc_no_realloc: u64,
    /// Largest number of allocator calls in one send.
    max_calls: u64,
}

fn measure_sends(h: &mut Harness) -> Result<SendStats, HarnessError> {
    let mut st = SendStats::default();
    let mut left = SENDS;
    while left > 0 {
        let n = left.min(BURST);
        for _ in 0..n {
            let before = counters();
            h.send_n(1)?;
            let d = counters() - before;
            st.total += d;
            let calls = d.allocs + d.reallocs;
            if calls > 0 {
                st.allocating += 1;
                if d.allocs == 0 {
                    st.growth_only += 1;
                } else if d.reallocs == 0 {
                    st.alloc_no_realloc += 1;
                }
                st.max_calls = st.max_calls.max(calls);
            }
        }
        h.complete()?;
        left -= n;
    }
    Ok(st)
}

fn run(w: Workload) -> Result<(), HarnessError> {
    let mut h = Harness::new(w)?;
    for _ in 0..4 {
        h.cycle(BURST)?;
    }
    let reports0 = h.reports;
    let st = measure_sends(&mut h)?;
    let batches = (h.reports - reports0) as f64;
    let n = SENDS as f64;
    println!("{}", w.label());
    println!(
        "  send only ({SENDS} sends, {batches:.0} batches): {:.4} alloc + {:.4} realloc calls/record, {:.1} bytes/record",
        st.total.allocs as f64 / n,
        st.total.reallocs as f64 / n,
        st.total.bytes as f64 / n,
    );
    println!(
        "    sends calling the allocator: {} of {SENDS} ({} growth-only, {} alloc without realloc, max {} calls in one send); per batch: {:.1} alloc + {:.1} realloc",
        st.allocating,
        st.growth_only,
        st.alloc_no_realloc,
        st.max_calls,
        st.total.allocs as f64 / batches,
        st.total.reallocs as f64 / batches,
    );

    // Full path, responder separated.
    h.alloc_probe = Some(counters);
    h.responder_allocs = AllocCounters::default();
    let reports0 = h.reports;
    let requests0 = h.broker.counts.produce;
    let cycles = SENDS / BURST;
    let before = counters();
    for _ in 0..cycles {
        h.cycle(BURST)?;
    }
    let all = counters() - before;
    let resp = h.responder_allocs;
    let engine = all - resp;
    let batches = (h.reports - reports0) as f64;
    let requests = (h.broker.counts.produce - requests0) as f64;
    let n = (cycles * BURST) as f64;
    println!(
        "  full path ({n:.0} records, {batches:.0} batches, {requests:.0} requests): engine+harness {:.4} alloc + {:.4} realloc calls/record, {:.1} bytes/record",
        engine.allocs as f64 / n,
        engine.reallocs as f64 / n,
        engine.bytes as f64 / n,
    );
    println!(
        "    per batch: {:.1} alloc + {:.1} realloc calls, {:.0} bytes; responder (excluded) per request: {:.1} alloc + {:.1} realloc, {:.0} bytes",
        engine.allocs as f64 / batches,
        engine.reallocs as f64 / batches,
        engine.bytes as f64 / batches,
        resp.allocs as f64 / requests,
        resp.reallocs as f64 / requests,
        resp.bytes as f64 / requests,
    );
    black_box(h.checksum);
    Ok(())
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    println!("core_alloc: 100 B values, acks=1, linger 5 ms virtual, bursts of {BURST} records");
    let workloads = [
        Workload::base(1),
        Workload::base(1).keyed(16).with_headers(2),
        Workload::base(16).keyed(16).with_headers(2),
        Workload::base(1).compressed(Compression::Lz4),
    ];
    for w in workloads {
        if !w.label().contains(&filter) {
            continue;
        }
        if let Err(e) = run(w) {
            eprintln!("{}: {e}", w.label());
            std::process::exit(1);
        }
    }
}
