//! What every producer perf tool shares: the command line, the workload, process CPU and
//! memory accounting, the latency histogram, and the JSON report.
//!
//! Self-contained on purpose (std, `hdrhistogram`, `serde_json`, `cpu-time`): the comparison
//! clients in `benches/compare/` (rust-rdkafka, rskafka), which are outside the workspace,
//! include this same file with `#[path]`, so all tools measure and report identically.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use hdrhistogram::Histogram;

type Error = Box<dyn std::error::Error>;

/// Usage text shared by the tools.
pub const USAGE: &str = "\
Workload and target:
  --bootstrap HOST:PORT   broker to produce to (required unless the tool says otherwise)
  --topic NAME            topic (default perf)
  --count N               messages (default 1000000)
  --size B                value bytes (default 100)
  --key none|16           keyless, or 16-byte keys (4093 distinct, hashed partitioning)
  --partitions N          partition count of the topic (default 1)
  --acks 0|1|all          (default 1)
  --linger-ms MS          (default 5)
  --batch-size BYTES      batch.size (default 1000000, librdkafka's)
  --compression none|gzip|snappy|lz4|zstd   (default none)
  --idempotence           enable.idempotence=true (default off)
  --producer base|threaded|future   (default base)
  --await unordered|in-order   how the future run waits: a FuturesUnordered (one task
                          allocation per message, results as they complete) or a window of
                          futures awaited in send order (default unordered)
  --rate MSGS_PER_S       open loop: send at this rate, latency from the intended send time
                          (default 0 = as fast as possible, closed loop)
  --queue-max N           queue.buffering.max.messages (default 100000, librdkafka's)
  --warmup                before the run, send one record to each partition and wait for
                          its report, unmeasured: connections and metadata are in place
                          when the clock starts (steady-state latency)
  --stats-ms MS           statistics.interval.ms: report the broker round trip (request
                          written to response read, from the client's own statistics, per
                          window) as broker_rtt (default 0 = off)
  --idle-secs S           after the run, keep the (connected, empty) producer idle for S
                          seconds and report the CPU it used meanwhile (extra.idle)
  --label TEXT            free text copied into the report
  --target NAME           target name for the report (default: sink, local or bootstrap)
  -X KEY=VALUE            any producer property, set after the ones above (repeatable)
  --json PATH             append the JSON report as one line to PATH (always printed too)
  --quiet                 no progress line";

/// Why the command line was refused.
#[derive(Debug)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n\n{USAGE}", self.0)
    }
}

impl std::error::Error for ArgError {}

/// One perf run's settings (the same flags for every client).
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `bootstrap.servers`.
    pub bootstrap: Option<String>,
    /// Topic.
    pub topic: String,
    /// Messages to send.
    pub count: u64,
    /// Value size in bytes.
    pub size: usize,
    /// Key length: 0 (no key) or 16.
    pub key_len: usize,
    /// Partitions of the topic.
    pub partitions: i32,
    /// `acks`: "0", "1" or "all".
    pub acks: String,
    /// `linger.ms`.
    pub linger_ms: u64,
    /// `batch.size`.
    pub batch_size: u64,
    /// `compression.type`.
    pub compression: String,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// Producer flavour (base, threaded, future).
    pub producer: String,
    /// How the future run awaits its futures: `unordered` or `in-order`.
    pub await_mode: String,
    /// Open-loop rate in messages/s, 0 = closed loop.
    pub rate: u64,
    /// After the run, keep the producer idle this long and report the CPU it used.
    pub idle_secs: u64,
    /// `queue.buffering.max.messages`.
    pub queue_max: u64,
    /// `statistics.interval.ms` (0 = off): the broker round trip goes into the report.
    pub stats_ms: u64,
    /// Set up connections and metadata before the clock starts (`--warmup`).
    pub warmup: bool,
    /// Free text for the report.
    pub label: String,
    /// Where to append the JSON line.
    pub json: Option<String>,
    /// Print a progress line every second.
    pub progress: bool,
    /// Arguments this parser did not know (tool-specific flags), in order.
    pub extra: Vec<String>,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            bootstrap: None,
            topic: "perf".into(),
            count: 1_000_000,
            size: 100,
            key_len: 0,
            partitions: 1,
            acks: "1".into(),
            linger_ms: 5,
            batch_size: 1_000_000,
            compression: "none".into(),
            idempotence: false,
            producer: "base".into(),
            await_mode: "unordered".into(),
            rate: 0,
            idle_secs: 0,
            queue_max: 100_000,
            stats_ms: 0,
            warmup: false,
            label: String::new(),
            json: None,
            progress: true,
            extra: Vec::new(),
        }
    }
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, ArgError> {
    let v = v.ok_or_else(|| ArgError(format!("{flag} needs a value")))?;
    v.parse()
        .map_err(|_| ArgError(format!("{flag}: bad number {v:?}")))
}

impl Workload {
    /// Parses the flags in [`USAGE`]; unknown ones are kept in `extra`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, ArgError> {
        let mut w = Self::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let need = |v: Option<String>| v.ok_or_else(|| ArgError(format!("{a} needs a value")));
            match a.as_str() {
                "--bootstrap" => w.bootstrap = Some(need(it.next())?),
                "--topic" => w.topic = need(it.next())?,
                "--count" => w.count = num(&a, it.next())?,
                "--size" => w.size = num(&a, it.next())?,
                "--key" => {
                    w.key_len = match need(it.next())?.as_str() {
                        "none" | "0" => 0,
                        "16" => 16,
                        other => return Err(ArgError(format!("--key: none or 16, not {other}"))),
                    }
                }
                "--partitions" => w.partitions = num(&a, it.next())?,
                "--acks" => {
                    w.acks = match need(it.next())?.as_str() {
                        "-1" | "all" => "all".into(),
                        v @ ("0" | "1") => v.into(),
                        other => return Err(ArgError(format!("--acks: 0, 1 or all, not {other}"))),
                    }
                }
                "--linger-ms" => w.linger_ms = num(&a, it.next())?,
                "--batch-size" => w.batch_size = num(&a, it.next())?,
                "--compression" => w.compression = need(it.next())?,
                "--idempotence" => w.idempotence = true,
                "--producer" => w.producer = need(it.next())?,
                "--await" => {
                    w.await_mode = match need(it.next())?.as_str() {
                        v @ ("unordered" | "in-order") => v.into(),
                        other => {
                            return Err(ArgError(format!(
                                "--await: unordered or in-order, not {other}"
                            )));
                        }
                    }
                }
                "--rate" => w.rate = num(&a, it.next())?,
                "--idle-secs" => w.idle_secs = num(&a, it.next())?,
                "--queue-max" => w.queue_max = num(&a, it.next())?,
                "--stats-ms" => w.stats_ms = num(&a, it.next())?,
                "--warmup" => w.warmup = true,
                "--label" => w.label = need(it.next())?,
                "--json" => w.json = Some(need(it.next())?),
                "--quiet" => w.progress = false,
                _ => w.extra.push(a),
            }
        }
        if w.partitions < 1 || w.count == 0 {
            return Err(ArgError("--partitions and --count must be positive".into()));
        }
        Ok(w)
    }

    /// The value sent with every message (the same bytes each time, as every peer tool does;
    /// each client copies it into its batch).
    pub fn value(&self) -> Vec<u8> {
        // JSON-ish text: compresses about like real payloads (not all-zero).
        let mut v = Vec::with_capacity(self.size);
        let mut i = 0u32;
        while v.len() < self.size {
            let _ = write!(ByteSink(&mut v), "{{\"id\":{i},\"v\":\"ab{i:x}\"}}");
            i = i.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        }
        v.truncate(self.size);
        v
    }

    /// The 4093 distinct keys (empty when keyless); message `i` uses `keys[i % len]`.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        if self.key_len == 0 {
            return Vec::new();
        }
        (0..4093u64)
            .map(|i| format!("key-{:012}", i.wrapping_mul(0x9E37_79B9)).into_bytes()[..16].to_vec())
            .collect()
    }
}

/// `fmt::Write` into a byte vector.
struct ByteSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Process-wide CPU and memory figures from `/proc/self` (no `unsafe`, no libc).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcStats {
    /// User CPU seconds (clock-tick resolution).
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Precise total CPU seconds (`CLOCK_PROCESS_CPUTIME_ID`).
    pub cpu_s: f64,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// Voluntary context switches (all threads).
    pub vol_ctxt: u64,
    /// Involuntary context switches (all threads).
    pub invol_ctxt: u64,
}

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux ABI Rust
/// targets).
const USER_HZ: f64 = 100.0;

impl ProcStats {
    /// Reads the current figures of this process.
    pub fn now() -> Self {
        let mut s = Self {
            cpu_s: cpu_time::ProcessTime::try_now()
                .map(|t| t.as_duration().as_secs_f64())
                .unwrap_or(0.0),
            ..Self::default()
        };
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name (which may contain spaces).
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                // rest[0] is field 3 (state); utime = field 14, stime = field 15.
                let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                s.user_s = tick(11) / USER_HZ;
                s.sys_s = tick(12) / USER_HZ;
            }
        }
        // Context switches of every thread (the status file counts the main thread only).
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for t in dir.flatten() {
                if let Ok(st) = std::fs::read_to_string(t.path().join("status")) {
                    s.vol_ctxt += status_field(&st, "voluntary_ctxt_switches:");
                    s.invol_ctxt += status_field(&st, "nonvoluntary_ctxt_switches:");
                }
            }
        }
        if let Ok(st) = std::fs::read_to_string("/proc/self/status") {
            s.peak_rss_kib = status_field(&st, "VmHWM:");
        }
        s
    }
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Delivery accounting shared between the sending loop and the delivery callbacks: latency
/// from the intended send time (in ns since the run started, carried as the message's
/// opaque) to the report.
#[derive(Debug)]
pub struct Recorder {
    base: Instant,
    /// The clock of `now_ns`: the TSC, scaled (quanta), where `Instant::now` plus the
    /// subtraction cost ~35 ns on a VM. Read twice per message in an open loop (pacing,
    /// report), that was a quarter of the sending thread's time at 3.5 M msgs/s, the same
    /// for every client, which the p99 at high rates then carried.
    clock: quanta::Clock,
    /// `clock`'s reading at `base`.
    base_raw: u64,
    /// The run's start, in ns after `base` (moved by `restart`).
    origin_ns: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    rtt: Mutex<Vec<RttWindow>>,
}

/// The opaque of `--warmup` records: their reports are not recorded.
pub const WARMUP_OPAQUE: usize = usize::MAX;

/// A closed-loop run times one message in this many (open-loop runs time every one). Timing
/// each took two clock reads per message (at the send and at the report), ~13 % of the
/// process's samples in the cheapest cell (sink, 100 B, linger 5), in both clients' tools
/// alike: harness cost that pulled the clients' CPU ratio towards 1.
pub const CLOSED_LOOP_TIMED_EVERY: u64 = 16;
const _: () = assert!(CLOSED_LOOP_TIMED_EVERY.is_power_of_two());

/// The intended time of a closed-loop message that is not timed (see
/// [`CLOSED_LOOP_TIMED_EVERY`]); distinct from [`WARMUP_OPAQUE`] as an opaque.
pub const NOT_TIMED: u64 = u64::MAX - 1;

/// `--warmup`: one record to each partition (`send(value, partition)`, then `flush`),
/// reported before the clock starts, so that connections and metadata are in place; the
/// tools' delivery callbacks skip [`WARMUP_OPAQUE`]. Nothing without the flag.
pub fn warm_up<E: std::error::Error + 'static>(
    w: &Workload,
    rec: &Recorder,
    mut send: impl FnMut(&[u8], i32) -> Result<(), E>,
    flush: impl FnOnce() -> Result<(), E>,
) -> Result<(), Box<dyn std::error::Error>> {
    if !w.warmup {
        return Ok(());
    }
    let value = w.value();
    for p in 0..w.partitions {
        send(&value, p)?;
    }
    flush()?;
    rec.restart();
    Ok(())
}

/// One statistics window of one broker's round trips (librdkafka's `brokers.*.rtt`).
#[derive(Clone, Copy, Debug)]
pub struct RttWindow {
    /// Round trips in the window.
    pub cnt: i64,
    /// Their mean, µs.
    pub avg_us: i64,
    /// Their 99th percentile, µs.
    pub p99_us: i64,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let base_raw = clock.raw();
        Self {
            base: Instant::now(),
            clock,
            base_raw,
            origin_ns: AtomicU64::new(0),
            // 1 µs .. 10 min, 3 significant digits.
            hist: Mutex::new(
                Histogram::new_with_bounds(1, 600_000_000, 3)
                    .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_hist())),
            ),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            rtt: Mutex::new(Vec::new()),
        }
    }

    /// A statistics window's round trips to one broker (windows without any are skipped).
    pub fn broker_rtt(&self, w: RttWindow) {
        if w.cnt > 0
            && let Ok(mut v) = self.rtt.lock()
        {
            v.push(w);
        }
    }

    /// The broker round trips seen in the statistics: the windows' count, the mean over all
    /// round trips, and the median and largest of the windows' p99 (`null` without any).
    fn rtt_summary(&self) -> serde_json::Value {
        let Ok(mut v) = self.rtt.lock().map(|v| v.clone()) else {
            return serde_json::Value::Null;
        };
        if v.is_empty() {
            return serde_json::Value::Null;
        }
        let cnt: i64 = v.iter().map(|w| w.cnt).sum();
        let avg = v
            .iter()
            .map(|w| w.avg_us as f64 * w.cnt as f64)
            .sum::<f64>()
            / cnt as f64;
        v.sort_by_key(|w| w.p99_us);
        serde_json::json!({
            "windows": v.len(),
            "round_trips": cnt,
            "avg_us": avg,
            "p99_us_median": v[v.len() / 2].p99_us,
            "p99_us_max": v[v.len() - 1].p99_us,
        })
    }

    /// When the run started. (`origin_ns` comes from the TSC clock, which quanta calibrates
    /// against the OS clock, so it is a duration on `base`'s clock too.)
    pub fn start(&self) -> Instant {
        self.base + Duration::from_nanos(self.origin_ns.load(Ordering::Relaxed))
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        self.since_base_ns()
            .saturating_sub(self.origin_ns.load(Ordering::Relaxed))
    }

    fn since_base_ns(&self) -> u64 {
        self.clock.delta_as_nanos(self.base_raw, self.clock.raw())
    }

    /// Starts the run again from now, forgetting what was recorded (after a warm-up).
    pub fn restart(&self) {
        self.origin_ns
            .store(self.since_base_ns(), Ordering::Relaxed);
        if let Ok(mut h) = self.hist.lock() {
            h.reset();
        }
        self.delivered.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        if let Ok(mut e) = self.first_error.lock() {
            *e = None;
        }
        if let Ok(mut v) = self.rtt.lock() {
            v.clear();
        }
    }

    /// The intended send time of message `i` (open loop) or now (closed loop, or
    /// [`NOT_TIMED`] for all but one message in [`CLOSED_LOOP_TIMED_EVERY`]), in ns.
    pub fn intended_ns(&self, i: u64, rate: u64) -> u64 {
        let Some(rate) = std::num::NonZeroU64::new(rate) else {
            // A power of two: a mask, where `%` trips clippy's `is_multiple_of` (newer than the
            // workspace's MSRV) in the comparison tools.
            return if i & (CLOSED_LOOP_TIMED_EVERY - 1) == 0 {
                self.now_ns()
            } else {
                NOT_TIMED
            };
        };
        // In 64 bits while the product fits (any run shorter than 18 G messages): the
        // 128-bit division was a library call per message, twice (pace and the send).
        match i.checked_mul(1_000_000_000) {
            Some(p) => p / rate,
            None => u64::try_from(u128::from(i) * 1_000_000_000 / u128::from(rate.get()))
                .unwrap_or(u64::MAX),
        }
    }

    /// Open loop: waits until message `i`'s intended send time, and returns the time it
    /// last read (0 in a closed loop), for the caller's [`ServeCadence::due`]: one clock
    /// read per message fewer (the open loop read the clock three times per message, a
    /// quarter of the sending thread's time at 3 M msgs/s).
    ///
    /// Sleeps, never spins: the messages that fall due while it oversleeps (the timer's
    /// slack, ~0.05-0.1 ms) are then sent back to back, and their latency, taken from the
    /// intended time, includes the lateness. Spinning with `yield_now` within 0.2 ms of the
    /// due time kept the harness's thread runnable: at 0.88 M msgs/s to the real broker the
    /// client process used 1.0 CPU instead of 0.4, taken from the broker and the clients'
    /// own threads on a two-CPU machine.
    pub fn pace(&self, i: u64, rate: u64) -> u64 {
        if rate == 0 {
            return 0;
        }
        let due = self.intended_ns(i, rate);
        loop {
            let now = self.now_ns();
            if now >= due {
                return now;
            }
            std::thread::sleep(Duration::from_nanos(due - now));
        }
    }

    /// A successful delivery of a message intended at `intended_ns`.
    pub fn ok(&self, intended_ns: u64) {
        if intended_ns != NOT_TIMED {
            let us = self.now_ns().saturating_sub(intended_ns) / 1000;
            if let Ok(mut h) = self.hist.lock() {
                h.saturating_record(us.max(1));
            }
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// A failed delivery.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        if self.failed.fetch_add(1, Ordering::Relaxed) == 0
            && let Ok(mut e) = self.first_error.lock()
        {
            *e = Some(error.to_string());
        }
    }

    /// Reports received so far (successful + failed).
    pub fn done(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }

    /// Failed reports so far.
    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn unreachable_hist() -> Histogram<u64> {
    // `Histogram::new(3)` only fails for sigfig > 5; keep a total function anyway.
    Histogram::new(2).unwrap_or_else(|_| std::process::abort())
}

/// Prints a progress line to stderr once a second until `done` returns true.
pub fn progress_thread(
    rec: std::sync::Arc<Recorder>,
    sent: std::sync::Arc<AtomicU64>,
    total: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let d = rec.done();
            let el = rec.start().elapsed().as_secs_f64();
            eprintln!(
                "{el:6.1} s  sent {:>10}  delivered {d:>10}  ({:>9.0} msgs/s last second)  failed {}",
                sent.load(Ordering::Relaxed),
                (d - last) as f64,
                rec.failures()
            );
            last = d;
            if d >= total {
                return;
            }
        }
    })
}

/// Builds the JSON report of a finished run.
pub fn report(
    client: &str,
    w: &Workload,
    rec: &Recorder,
    elapsed: Duration,
    before: ProcStats,
    after: ProcStats,
    extra: serde_json::Value,
) -> serde_json::Value {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let delivered = rec.delivered.load(Ordering::Relaxed);
    let cpu = after.cpu_s - before.cpu_s;
    let per_million = |x: f64| x / (delivered.max(1) as f64 / 1e6);
    let (p50, p99, p999, max, mean) = rec
        .hist
        .lock()
        .map(|h| {
            (
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                h.mean(),
            )
        })
        .unwrap_or_default();
    let wire = (w.size + w.key_len) as f64;
    serde_json::json!({
        "client": client,
        "producer": w.producer,
        "await": w.await_mode,
        "label": w.label,
        "bootstrap": w.bootstrap,
        "topic": w.topic,
        "count": w.count,
        "size": w.size,
        "key_len": w.key_len,
        "partitions": w.partitions,
        "acks": w.acks,
        "linger_ms": w.linger_ms,
        "batch_size": w.batch_size,
        "compression": w.compression,
        "idempotence": w.idempotence,
        "rate": w.rate,
        "queue_max": w.queue_max,
        "delivered": delivered,
        "failed": rec.failures(),
        "first_error": rec.first_error.lock().ok().and_then(|e| e.clone()),
        "elapsed_s": secs,
        "msgs_per_s": delivered as f64 / secs,
        "mb_per_s": delivered as f64 * wire / secs / 1e6,
        "cpu_s": cpu,
        "cpu_user_s": after.user_s - before.user_s,
        "cpu_sys_s": after.sys_s - before.sys_s,
        "cpu_s_per_million": per_million(cpu),
        "cpu_util": cpu / secs,
        "vol_ctxt_per_1000": (after.vol_ctxt.saturating_sub(before.vol_ctxt)) as f64 * 1000.0 / delivered.max(1) as f64,
        "invol_ctxt_per_1000": (after.invol_ctxt.saturating_sub(before.invol_ctxt)) as f64 * 1000.0 / delivered.max(1) as f64,
        "peak_rss_kib": after.peak_rss_kib,
        "lat_timed_every": if w.rate == 0 { CLOSED_LOOP_TIMED_EVERY } else { 1 },
        "lat_us_p50": p50,
        "lat_us_p99": p99,
        "lat_us_p999": p999,
        "lat_us_max": max,
        "lat_us_mean": mean,
        "broker_rtt": rec.rtt_summary(),
        "extra": extra,
    })
}

/// Prints `report` as one JSON line on stdout and appends it to `w.json` if set.
pub fn emit(w: &Workload, report: &serde_json::Value) -> std::io::Result<()> {
    let line = report.to_string();
    println!("{line}");
    if let Some(path) = &w.json {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{line}")?;
    }
    Ok(())
}

/// `purekafka-sink` running as a child process.
pub struct SinkProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its `host:port`.
    pub bootstrap: String,
}

impl SinkProcess {
    /// Starts the `purekafka-sink` binary at `path`.
    pub fn start(path: &std::path::Path, partitions: i32) -> Result<Self, Error> {
        let mut child = Command::new(path)
            .args(["--partitions", &partitions.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", path.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap=")
            .ok_or_else(|| format!("purekafka-sink said {line:?}"))?
            .to_owned();
        Ok(Self {
            child,
            stdin,
            stdout,
            bootstrap,
        })
    }

    /// Its counters, as JSON.
    pub fn stats(&mut self) -> Result<serde_json::Value, Error> {
        writeln!(self.stdin, "stats")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(serde_json::from_str(&line)?)
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds the sink's counters and the average batch size they imply to a report's `extra`.
pub fn add_sink_stats(extra: &mut serde_json::Value, sink: &mut SinkProcess) -> Result<(), Error> {
    let k = sink.stats()?;
    let batches = k["batches"].as_f64().unwrap_or(0.0);
    let reqs = k["produce_requests"].as_f64().unwrap_or(0.0);
    if batches > 0.0 {
        extra["avg_batch_records"] = (k["records"].as_f64().unwrap_or(0.0) / batches).into();
        extra["avg_batch_bytes"] = (k["batch_bytes"].as_f64().unwrap_or(0.0) / batches).into();
        extra["batches_per_request"] = (batches / reqs.max(1.0)).into();
    }
    extra["sink"] = k;
    Ok(())
}

/// With `--idle-secs`, keeps the caller's producer idle (alive, connected, nothing queued)
/// for that long and returns what the process used meanwhile: CPU milliseconds (precise
/// process CPU time) and context switches, i.e. wakeups. `Null` without the flag.
pub fn idle_period(w: &Workload) -> serde_json::Value {
    if w.idle_secs == 0 {
        return serde_json::Value::Null;
    }
    let before = ProcStats::now();
    std::thread::sleep(Duration::from_secs(w.idle_secs));
    let after = ProcStats::now();
    serde_json::json!({
        "secs": w.idle_secs,
        "cpu_ms": (after.cpu_s - before.cpu_s) * 1000.0,
        "vol_ctxt": after.vol_ctxt.saturating_sub(before.vol_ctxt),
        "invol_ctxt": after.invol_ctxt.saturating_sub(before.invol_ctxt),
    })
}

/// When a sending loop serves delivery reports (polls, or collects finished futures): every
/// `every` sends, and in an open-loop run also whenever 50 µs passed since it last did. Served
/// every 1024 sends only, a report waited up to 1 ms for the harness at 1 M msgs/s, the same
/// for every client, which buried the clients' own latency under the harness's.
pub struct ServeCadence {
    every: u64,
    open_loop: bool,
    last_ns: u64,
}

impl ServeCadence {
    /// Serving every `every` sends, and every 50 µs when `rate` > 0.
    pub fn new(every: u64, rate: u64) -> Self {
        Self {
            every: every.max(1),
            open_loop: rate > 0,
            last_ns: 0,
        }
    }

    /// Whether to serve after message `i` was sent, `now` being the time [`Recorder::pace`]
    /// returned for it.
    pub fn due(&mut self, now: u64, i: u64) -> bool {
        const OPEN_LOOP_NS: u64 = 50_000;
        let by_count = i % self.every == self.every - 1;
        if !by_count && !self.open_loop {
            return false;
        }
        if by_count || now.saturating_sub(self.last_ns) >= OPEN_LOOP_NS {
            self.last_ns = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: &str) -> Result<Workload, ArgError> {
        Workload::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_parse_and_unknown_ones_are_kept() {
        let w =
            parse("--count 5 --size 1024 --key 16 --acks -1 --linger-ms 0 --sink --idempotence")
                .unwrap();
        assert_eq!((w.count, w.size, w.key_len), (5, 1024, 16));
        assert_eq!(
            (w.acks.as_str(), w.linger_ms, w.idempotence),
            ("all", 0, true)
        );
        assert_eq!(w.extra, vec!["--sink".to_owned()]);
        assert!(parse("--key 8").is_err());
        assert!(parse("--count x").is_err());
        assert!(parse("--partitions 0").is_err());
    }

    #[test]
    fn workload_value_and_keys_have_the_asked_sizes() {
        let w = parse("--size 100 --key 16").unwrap();
        assert_eq!(w.value().len(), 100);
        let keys = w.keys();
        assert_eq!(keys.len(), 4093);
        assert!(keys.iter().all(|k| k.len() == 16));
        assert!(parse("").unwrap().keys().is_empty());
    }

    #[test]
    fn reports_are_served_by_count_and_in_open_loop_also_by_time() {
        let r = Recorder::new();
        let mut closed = ServeCadence::new(4, 0);
        let served: Vec<u64> = (0..12).filter(|&i| closed.due(r.pace(i, 0), i)).collect();
        assert_eq!(served, [3, 7, 11]);
        let rate = 1_000_000;
        let mut open = ServeCadence::new(1024, rate);
        std::thread::sleep(Duration::from_micros(100));
        let now = r.pace(0, rate);
        assert!(now >= 100_000, "pace gives the time it read: {now}");
        assert!(open.due(now, 0), "50 µs passed since the start");
        assert!(!open.due(r.pace(1, rate), 1), "served just now");
        std::thread::sleep(Duration::from_micros(100));
        assert!(open.due(r.pace(2, rate), 2));
        assert!(
            open.due(r.pace(3, rate), 1023),
            "by count, whatever the time"
        );
    }

    #[test]
    fn closed_loop_times_one_message_in_sixteen_and_counts_them_all() {
        let r = Recorder::new();
        let intended: Vec<u64> = (0..32).map(|i| r.intended_ns(i, 0)).collect();
        let timed = intended.iter().filter(|&&t| t != NOT_TIMED).count();
        assert_eq!(timed, 2, "messages 0 and 16");
        assert_ne!(intended[16], NOT_TIMED);
        for t in intended {
            r.ok(t);
        }
        assert_eq!(r.done(), 32);
        assert_eq!(r.hist.lock().unwrap().len(), 2);
        assert_ne!(NOT_TIMED as usize, WARMUP_OPAQUE);
    }

    #[test]
    fn open_loop_intended_times_follow_the_rate_and_latency_is_recorded() {
        let r = Recorder::new();
        assert_eq!(r.intended_ns(1000, 1000), 1_000_000_000);
        assert_eq!(r.intended_ns(3, 1_000_000), 3_000);
        // Past 64 bits for the product: the 128-bit path, the same arithmetic.
        assert_eq!(r.intended_ns(1 << 40, 1 << 20), (1 << 20) * 1_000_000_000);
        r.ok(0);
        r.failed(&"boom");
        assert_eq!((r.done(), r.failures()), (2, 1));
        let v = report(
            "t",
            &Workload::default(),
            &r,
            Duration::from_secs(1),
            ProcStats::default(),
            ProcStats::now(),
            serde_json::json!({}),
        );
        assert_eq!(v["delivered"], 1);
        assert_eq!(v["first_error"], "boom");
        assert!(v["peak_rss_kib"].as_u64().unwrap() > 0);
        assert!(v["broker_rtt"].is_null(), "no statistics, no round trips");
    }

    #[test]
    fn a_restart_forgets_the_warm_up_and_moves_the_clock() {
        let r = Recorder::new();
        r.ok(0);
        r.failed(&"warm-up");
        r.broker_rtt(RttWindow {
            cnt: 1,
            avg_us: 50_000,
            p99_us: 50_000,
        });
        std::thread::sleep(Duration::from_millis(20));
        let before = r.now_ns();
        r.restart();
        assert!(r.now_ns() < before, "the clock starts again");
        assert_eq!((r.done(), r.failures()), (0, 0));
        assert!(r.rtt_summary().is_null());
        assert!(r.first_error.lock().unwrap().is_none());
        assert!(r.hist.lock().unwrap().is_empty());
        assert_eq!(r.intended_ns(1000, 1000), 1_000_000_000);
    }

    #[test]
    fn broker_round_trips_are_summarised_over_the_statistics_windows() {
        let r = Recorder::new();
        let w = |cnt, avg_us, p99_us| RttWindow {
            cnt,
            avg_us,
            p99_us,
        };
        // A bootstrap broker's empty window is not a round trip of 0 µs.
        r.broker_rtt(w(0, 0, 0));
        r.broker_rtt(w(100, 1000, 4000));
        r.broker_rtt(w(300, 2000, 9000));
        r.broker_rtt(w(100, 500, 2000));
        let s = r.rtt_summary();
        assert_eq!(s["windows"], 3);
        assert_eq!(s["round_trips"], 500);
        // Weighted by round trips: (100*1000 + 300*2000 + 100*500) / 500.
        assert_eq!(s["avg_us"], 1500.0);
        assert_eq!(s["p99_us_median"], 4000);
        assert_eq!(s["p99_us_max"], 9000);
    }
}
