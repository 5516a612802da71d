//! Producer perf tool on rskafka 0.6 (`BatchProducer` + `RecordAggregator`, one per
//! partition): the same flags, workload, measurement and JSON report as `purekafka-perf`.
//!
//! `rskafka-perf --bootstrap HOST:PORT [workload flags] [--target NAME]`. rskafka always
//! produces with acks=all and has no partitioner: keyed messages go to
//! `crc32(key) % partitions`-like `hash % partitions`, keyless ones round-robin per 1000.
//! `--acks`, `--idempotence` and `--queue-max` other than as an in-flight cap are ignored.

#[allow(dead_code, missing_docs)]
#[path = "../../../perf/src/measure.rs"]
mod measure;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use measure::{ProcStats, Recorder, Workload};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::producer::BatchProducerBuilder;
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::record::Record;

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        eprintln!("rskafka-perf: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let mut w = Workload::parse(std::env::args().skip(1))?;
    let mut target = "bootstrap".to_owned();
    let extra_args = std::mem::take(&mut w.extra);
    let mut it = extra_args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => target = it.next().ok_or("--target needs a value")?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if w.stats_ms > 0 {
        return Err("--stats-ms: rskafka has no statistics".into());
    }
    let bootstrap = w.bootstrap.clone().ok_or("--bootstrap is required")?;
    let compression = match w.compression.as_str() {
        "none" => Compression::NoCompression,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => return Err(format!("rskafka-perf: compression {other} not built in").into()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rec = Arc::new(Recorder::new());
    let sent = Arc::new(AtomicU64::new(0));
    let before = ProcStats::now();
    let w2 = w.clone();
    let rec2 = Arc::clone(&rec);
    let elapsed = rt.block_on(async move {
        let w = w2;
        let rec = rec2;
        let client = ClientBuilder::new(vec![bootstrap]).build().await?;
        let mut producers = Vec::new();
        for p in 0..w.partitions {
            let pc = client
                .partition_client(w.topic.clone(), p, UnknownTopicHandling::Retry)
                .await?;
            producers.push(
                BatchProducerBuilder::new(Arc::new(pc))
                    .with_linger(Duration::from_millis(w.linger_ms))
                    .with_compression(compression)
                    // rskafka sizes batches by an estimate below the wire size: at 1 MB its
                    // batches exceed the broker's default message.max.bytes (1048588) and are
                    // refused with MESSAGE_TOO_LARGE, so cap the estimate at 900 000.
                    .build(RecordAggregator::new(
                        usize::try_from(w.batch_size.min(900_000)).unwrap_or(900_000),
                    )),
            );
        }
        let (value, keys) = (w.value(), w.keys());
        // `--warmup`: one record to each partition, unmeasured, before the clock starts.
        if w.warmup {
            for producer in &producers {
                let record = Record {
                    key: None,
                    value: Some(value.clone()),
                    headers: Default::default(),
                    timestamp: chrono::Utc::now(),
                };
                producer.produce(record).await?;
            }
            rec.restart();
        }
        if w.progress {
            measure::progress_thread(Arc::clone(&rec), Arc::clone(&sent), w.count);
        }
        let t0 = Instant::now();
        let mut pending = FuturesUnordered::new();
        let finish =
            |rec: &Recorder, t: u64, r: Result<i64, rskafka::client::producer::Error>| match r {
                Ok(_) => rec.ok(t),
                Err(e) => rec.failed(&e),
            };
        let parts = producers.len() as u64;
        for i in 0..w.count {
            rec.pace(i, w.rate);
            let intended = rec.intended_ns(i, w.rate);
            let key = (!keys.is_empty()).then(|| keys[(i % keys.len() as u64) as usize].clone());
            let p = match &key {
                Some(k) => {
                    k.iter()
                        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
                        % parts
                }
                None => (i / 1000) % parts,
            };
            let record = Record {
                key,
                value: Some(value.clone()),
                headers: Default::default(),
                timestamp: chrono::Utc::now(),
            };
            let producer = &producers[p as usize];
            pending.push(producer.produce(record).map(move |r| (intended, r)));
            sent.fetch_add(1, Ordering::Relaxed);
            // Poll the new future at once (that is when rskafka appends the record), and
            // collect what has completed; cap the in-flight count like a producer queue.
            while let Some(Some((t, r))) = pending.next().now_or_never() {
                finish(&rec, t, r);
            }
            while pending.len() as u64 >= w.queue_max {
                match pending.next().await {
                    Some((t, r)) => finish(&rec, t, r),
                    None => break,
                }
            }
        }
        while let Some((t, r)) = pending.next().await {
            finish(&rec, t, r);
        }
        Ok::<_, Error>(t0.elapsed())
    })?;
    let after = ProcStats::now();
    w.producer = "batch".into();
    w.acks = "all".into();
    let report = measure::report(
        "rskafka",
        &w,
        &rec,
        elapsed,
        before,
        after,
        serde_json::json!({ "target": target }),
    );
    measure::emit(&w, &report)?;
    Ok(())
}
