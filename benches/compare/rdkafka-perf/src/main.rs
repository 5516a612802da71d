//! Producer perf tool on rust-rdkafka 0.39 (librdkafka from its bundled sources): the same
//! flags, workload, measurement and JSON report as `purekafka-perf` (whose
//! `benches/perf/src/measure.rs` this includes), for side-by-side runs.
//!
//! `rdkafka-perf [--sink | --bootstrap HOST:PORT] [workload flags] [-X key=value ...]`;
//! `--sink` starts `$PUREKAFKA_SINK_BIN` (default: `purekafka-sink` in the workspace's
//! target/release) as a child process.

#[allow(dead_code, missing_docs)]
#[path = "../../../perf/src/measure.rs"]
mod measure;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use measure::{ProcStats, Recorder, RttWindow, ServeCadence, SinkProcess, WARMUP_OPAQUE, Workload};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer,
    ProducerContext, ThreadedProducer,
};
use rdkafka::statistics::Statistics;

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        eprintln!("rdkafka-perf: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut w = Workload::parse(args)?;
    let mut sink = None;
    let mut target = "bootstrap".to_owned();
    let mut overrides = Vec::new();
    let extra_args = std::mem::take(&mut w.extra);
    let mut it = extra_args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--target" => target = it.next().ok_or("--target needs a name")?,
            "--sink" => {
                let exe = std::env::var_os("PUREKAFKA_SINK_BIN").map_or_else(
                    || {
                        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                            .join("../../../target/release/purekafka-sink")
                    },
                    std::path::PathBuf::from,
                );
                let s = SinkProcess::start(&exe, w.partitions)?;
                w.bootstrap = Some(s.bootstrap.clone());
                sink = Some(s);
                target = "sink".into();
            }
            "-X" => {
                let kv = it.next().ok_or("-X needs key=value")?;
                let (k, v) = kv.split_once('=').ok_or("-X needs key=value")?;
                overrides.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown flag {other}\n{}", measure::USAGE).into()),
        }
    }
    if w.bootstrap.is_none() {
        return Err("one of --sink, --bootstrap is required".into());
    }
    let rec = Arc::new(Recorder::new());
    let before = ProcStats::now();
    let start = Instant::now();
    let (elapsed, extra) = match w.producer.as_str() {
        "base" => run_base(&w, &overrides, &rec)?,
        "threaded" => run_threaded(&w, &overrides, &rec)?,
        "future" => run_future(&w, &overrides, &rec)?,
        other => return Err(format!("--producer base|threaded|future, not {other}").into()),
    };
    let after = ProcStats::now();
    let _ = start;
    let mut extra = extra;
    extra["target"] = target.clone().into();
    if let Some(s) = sink.as_mut() {
        measure::add_sink_stats(&mut extra, s)?;
    }
    let report = measure::report("rdkafka", &w, &rec, elapsed, before, after, extra);
    measure::emit(&w, &report)?;
    Ok(())
}

fn config(w: &Workload, overrides: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", w.bootstrap.clone().unwrap_or_default())
        .set("acks", &w.acks)
        .set("linger.ms", w.linger_ms.to_string())
        .set("batch.size", w.batch_size.to_string())
        .set("compression.type", &w.compression)
        .set("enable.idempotence", w.idempotence.to_string())
        .set("queue.buffering.max.messages", w.queue_max.to_string());
    if w.stats_ms > 0 {
        c.set("statistics.interval.ms", w.stats_ms.to_string());
    }
    for (k, v) in overrides {
        c.set(k, v);
    }
    c
}

/// Delivery reports into the recorder; the opaque is the intended send time (ns).
struct PerfContext(Arc<Recorder>);

impl ClientContext for PerfContext {
    fn stats(&self, statistics: Statistics) {
        record_rtt(&self.0, &statistics);
    }
}

/// The FutureProducer's context: only the statistics (its reports go to its futures).
struct StatsContext(Arc<Recorder>);

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        record_rtt(&self.0, &statistics);
    }
}

/// Each broker's round-trip window (`--stats-ms`) into the recorder; bootstrap entries
/// (node -1: only the first ApiVersions and Metadata) are left out.
fn record_rtt(rec: &Recorder, statistics: &Statistics) {
    for b in statistics.brokers.values().filter(|b| b.nodeid >= 0) {
        if let Some(w) = &b.rtt {
            rec.broker_rtt(RttWindow {
                cnt: w.cnt,
                avg_us: w.avg,
                p99_us: w.p99,
            });
        }
    }
}

impl ProducerContext for PerfContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, r: &DeliveryResult<'_>, intended_ns: usize) {
        if intended_ns == WARMUP_OPAQUE {
            return;
        }
        match r {
            Ok(_) => self.0.ok(intended_ns as u64),
            Err((e, _)) => self.0.failed(e),
        }
    }
}

/// A `--warmup` record for partition `p` (its report is not recorded).
fn warm_up_record<'a>(w: &'a Workload, v: &'a [u8], p: i32) -> BaseRecord<'a, (), [u8], usize> {
    BaseRecord::with_opaque_to(&w.topic, WARMUP_OPAQUE)
        .payload(v)
        .partition(p)
}

/// [`measure::warm_up`] for the FutureProducer.
async fn warm_up_future<C: ClientContext + 'static>(
    w: &Workload,
    rec: &Recorder,
    producer: &FutureProducer<C>,
) -> Result<(), Error> {
    if !w.warmup {
        return Ok(());
    }
    let value = w.value();
    for p in 0..w.partitions {
        let r = FutureRecord::<(), [u8]>::to(&w.topic)
            .payload(&value[..])
            .partition(p);
        producer
            .send(r, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
    }
    rec.restart();
    Ok(())
}

fn is_queue_full(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Sends `w.count` messages through `send`, which returns `Err(true)` when the queue is
/// full (the caller's `wait` then makes room) and `Err(false)` on a hard error.
fn send_loop(
    w: &Workload,
    rec: &Recorder,
    sent: &AtomicU64,
    mut send: impl FnMut(u64, usize) -> Result<(), bool>,
    mut wait: impl FnMut(bool),
) -> Result<(), Error> {
    let mut serve = ServeCadence::new(1024, w.rate);
    for i in 0..w.count {
        let now = rec.pace(i, w.rate);
        let intended = rec.intended_ns(i, w.rate) as usize;
        loop {
            match send(i, intended) {
                Ok(()) => break,
                Err(true) => wait(true),
                Err(false) => return Err(format!("send failed at message {i}").into()),
            }
        }
        sent.fetch_add(1, Ordering::Relaxed);
        if serve.due(now, i) {
            wait(false);
        }
    }
    Ok(())
}

fn progress(w: &Workload, rec: &Arc<Recorder>, sent: &Arc<AtomicU64>) {
    if w.progress {
        measure::progress_thread(Arc::clone(rec), Arc::clone(sent), w.count);
    }
}

fn run_base(
    w: &Workload,
    overrides: &[(String, String)],
    rec: &Arc<Recorder>,
) -> Result<(Duration, serde_json::Value), Error> {
    let producer: BaseProducer<PerfContext> =
        config(w, overrides).create_with_context(PerfContext(Arc::clone(rec)))?;
    measure::warm_up(
        w,
        rec,
        |v, p| producer.send(warm_up_record(w, v, p)).map_err(|(e, _)| e),
        || producer.flush(Duration::from_secs(30)),
    )?;
    let (value, keys) = (w.value(), w.keys());
    let sent = Arc::new(AtomicU64::new(0));
    progress(w, rec, &sent);
    let t0 = Instant::now();
    send_loop(
        w,
        rec,
        &sent,
        |i, intended| {
            let mut r = BaseRecord::with_opaque_to(&w.topic, intended).payload(&value[..]);
            if !keys.is_empty() {
                r = r.key(&keys[(i % keys.len() as u64) as usize][..]);
            }
            producer.send(r).map_err(|(e, _)| is_queue_full(&e))
        },
        |full| {
            producer.poll(if full {
                Duration::from_millis(1)
            } else {
                Duration::ZERO
            })
        },
    )?;
    producer.flush(Duration::from_secs(300))?;
    let elapsed = t0.elapsed();
    Ok((
        elapsed,
        serde_json::json!({ "idle": measure::idle_period(w) }),
    ))
}

fn run_threaded(
    w: &Workload,
    overrides: &[(String, String)],
    rec: &Arc<Recorder>,
) -> Result<(Duration, serde_json::Value), Error> {
    let producer: ThreadedProducer<PerfContext> =
        config(w, overrides).create_with_context(PerfContext(Arc::clone(rec)))?;
    measure::warm_up(
        w,
        rec,
        |v, p| producer.send(warm_up_record(w, v, p)).map_err(|(e, _)| e),
        || producer.flush(Duration::from_secs(30)),
    )?;
    let (value, keys) = (w.value(), w.keys());
    let sent = Arc::new(AtomicU64::new(0));
    progress(w, rec, &sent);
    let t0 = Instant::now();
    send_loop(
        w,
        rec,
        &sent,
        |i, intended| {
            let mut r = BaseRecord::with_opaque_to(&w.topic, intended).payload(&value[..]);
            if !keys.is_empty() {
                r = r.key(&keys[(i % keys.len() as u64) as usize][..]);
            }
            producer.send(r).map_err(|(e, _)| is_queue_full(&e))
        },
        |full| {
            if full {
                std::thread::sleep(Duration::from_millis(1));
            }
        },
    )?;
    producer.flush(Duration::from_secs(300))?;
    let elapsed = t0.elapsed();
    Ok((
        elapsed,
        serde_json::json!({ "idle": measure::idle_period(w) }),
    ))
}

/// FutureProducer, `--await in-order`: futures kept in a window in send order; every 256
/// sends the completed head of the window is collected, and when the queue is full the
/// oldest future is awaited. No per-message allocation by the harness (a `FuturesUnordered`
/// allocates a task per future), so this isolates the producer's own cost. A report's
/// latency is taken when it is collected, so it can lag behind an earlier, slower one.
fn run_future_in_order(
    w: &Workload,
    overrides: &[(String, String)],
    rec: &Arc<Recorder>,
) -> Result<(Duration, serde_json::Value), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let producer: FutureProducer<StatsContext> =
        config(w, overrides).create_with_context(StatsContext(Arc::clone(rec)))?;
    rt.block_on(warm_up_future(w, rec, &producer))?;
    let (value, keys) = (w.value(), w.keys());
    let sent = Arc::new(AtomicU64::new(0));
    progress(w, rec, &sent);
    let t0 = Instant::now();
    let rec2 = Arc::clone(rec);
    // Borrowed, so the producer outlives the run for the idle period.
    let producer = &producer;
    let result: Result<(), Error> = rt.block_on(async move {
        let rec = rec2;
        // Grown to what is in flight, not sized for the queue's limit: a 100 000-entry ring
        // (2.4 MB) swept by its head and tail cost a cache miss every few records, the
        // harness's own (purekafka, sink, linger 5: 0.416 -> 0.382 CPU-s per 10^6).
        let mut window = std::collections::VecDeque::new();
        let finish =
            |rec: &Recorder,
             intended: u64,
             r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, _>| {
                match r {
                    Ok(Ok(_)) => rec.ok(intended),
                    Ok(Err((e, _))) => rec.failed(&e),
                    Err(e) => rec.failed(&e),
                }
            };
        let mut serve = ServeCadence::new(256, w.rate);
        for i in 0..w.count {
            let now = rec.pace(i, w.rate);
            let intended = rec.intended_ns(i, w.rate);
            loop {
                let mut r = FutureRecord::to(&w.topic).payload(&value[..]);
                if !keys.is_empty() {
                    r = r.key(&keys[(i % keys.len() as u64) as usize][..]);
                }
                match producer.send_result(r) {
                    Ok(f) => {
                        window.push_back((intended, f));
                        break;
                    }
                    Err((e, _)) if is_queue_full(&e) => match window.pop_front() {
                        Some((t, f)) => finish(&rec, t, f.await),
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    },
                    Err((e, _)) => return Err(format!("send failed at message {i}: {e}").into()),
                }
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if serve.due(now, i) {
                while let Some((t, f)) = window.front_mut() {
                    let t = *t;
                    match f.now_or_never() {
                        Some(r) => {
                            window.pop_front();
                            finish(&rec, t, r);
                        }
                        None => break,
                    }
                }
            }
        }
        while let Some((t, f)) = window.pop_front() {
            finish(&rec, t, f.await);
        }
        Ok(())
    });
    result?;
    let elapsed = t0.elapsed();
    Ok((
        elapsed,
        serde_json::json!({ "idle": measure::idle_period(w) }),
    ))
}

/// FutureProducer: one future per message, collected in a `FuturesUnordered` that the
/// sending task drains (without blocking) every 256 sends, and waits on when the queue is
/// full. A report's latency is taken when its future is seen complete (≤ 256 sends late).
fn run_future(
    w: &Workload,
    overrides: &[(String, String)],
    rec: &Arc<Recorder>,
) -> Result<(Duration, serde_json::Value), Error> {
    if w.await_mode == "in-order" {
        return run_future_in_order(w, overrides, rec);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let producer: FutureProducer<StatsContext> =
        config(w, overrides).create_with_context(StatsContext(Arc::clone(rec)))?;
    rt.block_on(warm_up_future(w, rec, &producer))?;
    let (value, keys) = (w.value(), w.keys());
    let sent = Arc::new(AtomicU64::new(0));
    progress(w, rec, &sent);
    let t0 = Instant::now();
    let rec2 = Arc::clone(rec);
    // Borrowed, so the producer outlives the run for the idle period.
    let producer = &producer;
    let result: Result<(), Error> = rt.block_on(async move {
        let rec = rec2;
        let mut pending = FuturesUnordered::new();
        let finish =
            |rec: &Recorder,
             intended: u64,
             r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, _>| {
                match r {
                    Ok(Ok(_)) => rec.ok(intended),
                    Ok(Err((e, _))) => rec.failed(&e),
                    Err(e) => rec.failed(&e),
                }
            };
        let mut serve = ServeCadence::new(256, w.rate);
        for i in 0..w.count {
            let now = rec.pace(i, w.rate);
            let intended = rec.intended_ns(i, w.rate);
            loop {
                let mut r = FutureRecord::to(&w.topic).payload(&value[..]);
                if !keys.is_empty() {
                    r = r.key(&keys[(i % keys.len() as u64) as usize][..]);
                }
                match producer.send_result(r) {
                    Ok(f) => {
                        pending.push(f.map(move |r| (intended, r)));
                        break;
                    }
                    Err((e, _)) if is_queue_full(&e) => match pending.next().await {
                        Some((t, r)) => finish(&rec, t, r),
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    },
                    Err((e, _)) => return Err(format!("send failed at message {i}: {e}").into()),
                }
            }
            sent.fetch_add(1, Ordering::Relaxed);
            if serve.due(now, i) {
                while let Some(Some((t, r))) = pending.next().now_or_never() {
                    finish(&rec, t, r);
                }
            }
        }
        while let Some((t, r)) = pending.next().await {
            finish(&rec, t, r);
        }
        Ok(())
    });
    result?;
    let elapsed = t0.elapsed();
    Ok((
        elapsed,
        serde_json::json!({ "idle": measure::idle_period(w) }),
    ))
}
