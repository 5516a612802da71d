//! Counters for a librdkafka-compatible statistics JSON.
//!
//! The engine bumps plain integers on its hot paths (per request, per batch, never a map
//! lookup); [`Engine::stats`](super::Engine::stats) walks brokers and partitions once to build
//! a [`StatsSnapshot`] whose field names follow librdkafka's STATISTICS.md, so the `purekafka`
//! crate can serialise it to the JSON rdkafka's `Statistics` expects.
//!
//! librdkafka's rolling windows (per broker `int_latency`, `outbuf_latency` and `rtt` in
//! microseconds, `throttle` in milliseconds; per topic `batchsize` in bytes and `batchcnt` in
//! records) are fixed-size [`WindowAccumulator`]s fed per request, per batch or per response,
//! and `int_latency` per record, as librdkafka's are: each record's `send` to its batch's first
//! request being polled. They are kept only when statistics are enabled. As in
//! librdkafka, `outbuf_latency` ends and `rtt` starts when a request was written whole (with
//! write feedback; without it, when the driver polled it). Each
//! `Event::Stats` emission reports the interval just ended and resets them.

use crate::time::Instant;

/// Sub-buckets per power of two (6 bits of mantissa: buckets at most 1/64 = 1.6% wide
/// relative to their lower bound, about librdkafka's two significant digits).
const SUB_BITS: u32 = 6;
/// Exact values below this are counted one per bucket (the first octave as wide as a bucket
/// of one).
const LINEAR: u64 = 1 << SUB_BITS;
/// Values at or above `2^MAX_EXP` are [`WindowStats::outofrange`] (2^40 µs is 12 days).
const MAX_EXP: u32 = 40;
/// Bucket count: the linear ones, then `2^SUB_BITS` per octave from `LINEAR` to 2^MAX_EXP.
const BUCKETS: usize = LINEAR as usize + ((MAX_EXP - SUB_BITS) as usize) * (1 << SUB_BITS);

/// A rolling window of samples over one statistics interval (librdkafka's `rd_avg_t`,
/// which keeps an HDR histogram): count, sum, min, max and sum of squares are exact; the
/// percentiles come from fixed log-scale buckets (exact below 64, then 64 buckets per power
/// of two), so a percentile is the highest value of the bucket holding it, at most 1.6%
/// above the true sample. The buckets (9 KB) are allocated by the first sample, so a client
/// without statistics, which records none, has none; after that recording is a few integer
/// operations.
#[derive(Clone, Debug, Default)]
pub struct WindowAccumulator {
    cnt: u64,
    sum: u64,
    sum_sq: u128,
    min: u64,
    max: u64,
    outofrange: u64,
    /// `BUCKETS` counters once a sample was recorded.
    buckets: Option<Box<[u32]>>,
}

/// Equal when they hold the same samples' summary: buckets not yet allocated are all zero.
impl PartialEq for WindowAccumulator {
    fn eq(&self, other: &Self) -> bool {
        let same_buckets = match (self.buckets.as_deref(), other.buckets.as_deref()) {
            (Some(a), Some(b)) => a == b,
            (Some(x), None) | (None, Some(x)) => x.iter().all(|&n| n == 0),
            (None, None) => true,
        };
        (
            self.cnt,
            self.sum,
            self.sum_sq,
            self.min,
            self.max,
            self.outofrange,
        ) == (
            other.cnt,
            other.sum,
            other.sum_sq,
            other.min,
            other.max,
            other.outofrange,
        ) && same_buckets
    }
}

impl Eq for WindowAccumulator {}

/// The bucket holding `v` (values past the range land in the last bucket).
fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + ((exp - SUB_BITS) as usize) * (1 << SUB_BITS) + sub as usize
}

/// The highest value bucket `i` holds.
fn bucket_high(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let rel = i - LINEAR as usize;
    let exp = (rel >> SUB_BITS) as u32 + SUB_BITS;
    let sub = (rel & ((1 << SUB_BITS) - 1)) as u64;
    let low = (1u64 << exp) + (sub << (exp - SUB_BITS));
    low + (1u64 << (exp - SUB_BITS)) - 1
}

impl WindowAccumulator {
    /// Adds one sample.
    pub fn record(&mut self, v: u64) {
        if self.cnt == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.cnt += 1;
        self.sum = self.sum.saturating_add(v);
        self.sum_sq = self.sum_sq.saturating_add(u128::from(v) * u128::from(v));
        if v >> MAX_EXP != 0 {
            self.outofrange += 1;
        }
        let buckets = self
            .buckets
            .get_or_insert_with(|| vec![0; BUCKETS].into_boxed_slice());
        if let Some(b) = buckets.get_mut(bucket_of(v)) {
            *b = b.saturating_add(1);
        }
    }

    /// Adds a duration sample in microseconds.
    pub fn record_micros(&mut self, d: core::time::Duration) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Forgets every sample (a new interval starts).
    pub fn reset(&mut self) {
        // The buckets stay allocated: a window in use is reset every interval.
        let buckets = self.buckets.take().map(|mut b| {
            b.fill(0);
            b
        });
        *self = Self {
            buckets,
            ..Self::default()
        };
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.cnt
    }

    /// The value at quantile `q` (0..=1), estimated from the buckets and clamped to the
    /// exact min and max.
    fn percentile(&self, q: f64) -> u64 {
        if self.cnt == 0 {
            return 0;
        }
        let Some(buckets) = &self.buckets else {
            return self.max;
        };
        // The rank of the sample at `q` (1-based), rounded to the nearest as librdkafka's
        // `rd_hdr_histogram_quantile` does (`q * cnt + 0.5`): with 93 samples the p99 is the
        // 92nd, not the largest. The float product is exact enough for counts far beyond one
        // interval's.
        let rank = ((q * self.cnt as f64 + 0.5) as u64).clamp(1, self.cnt);
        let mut seen = 0u64;
        for (i, &n) in buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                // The last bucket also holds the out-of-range samples: only `max` bounds it.
                if i == BUCKETS - 1 {
                    return self.max;
                }
                return bucket_high(i).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The accumulator's size in use (librdkafka's `hdrsize`): its fields and its buckets.
    fn hdrsize() -> i64 {
        (size_of::<Self>() + BUCKETS * size_of::<u32>()) as i64
    }

    /// The window's summary, in librdkafka's fields.
    pub fn stats(&self) -> WindowStats {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if self.cnt == 0 {
            return WindowStats {
                hdrsize: Self::hdrsize(),
                ..WindowStats::default()
            };
        }
        let n = self.cnt as f64;
        let mean = self.sum as f64 / n;
        // Population variance; rounding can take it a hair below zero for equal samples.
        let var = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        WindowStats {
            min: as_i64(self.min),
            max: as_i64(self.max),
            avg: as_i64(self.sum / self.cnt),
            sum: as_i64(self.sum),
            cnt: as_i64(self.cnt),
            stddev: var.sqrt() as i64,
            hdrsize: Self::hdrsize(),
            p50: as_i64(self.percentile(0.50)),
            p75: as_i64(self.percentile(0.75)),
            p90: as_i64(self.percentile(0.90)),
            p95: as_i64(self.percentile(0.95)),
            p99: as_i64(self.percentile(0.99)),
            p99_99: as_i64(self.percentile(0.9999)),
            outofrange: as_i64(self.outofrange),
        }
    }
}

/// A [`WindowAccumulator`]'s summary: librdkafka's window object (`int_latency`, `rtt`, `batchsize`...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Smallest sample.
    pub min: i64,
    /// Largest sample.
    pub max: i64,
    /// Mean (integer division of `sum` by `cnt`).
    pub avg: i64,
    /// Sum of the samples.
    pub sum: i64,
    /// Number of samples.
    pub cnt: i64,
    /// Population standard deviation.
    pub stddev: i64,
    /// Size of the accumulator in bytes.
    pub hdrsize: i64,
    /// 50th percentile (bucket estimate).
    pub p50: i64,
    /// 75th percentile (bucket estimate).
    pub p75: i64,
    /// 90th percentile (bucket estimate).
    pub p90: i64,
    /// 95th percentile (bucket estimate).
    pub p95: i64,
    /// 99th percentile (bucket estimate).
    pub p99: i64,
    /// 99.99th percentile (bucket estimate).
    pub p99_99: i64,
    /// Samples at or above 2^40 (counted in the top bucket).
    pub outofrange: i64,
}

/// A broker's windows (accumulators, reset every statistics interval).
#[derive(Clone, Debug, Default)]
pub(crate) struct BrokerWindows {
    /// Each record's enqueue to its batch's first request being polled, µs.
    pub(crate) int_latency: WindowAccumulator,
    /// Request queued to written whole (polled, without write feedback), µs.
    pub(crate) outbuf_latency: WindowAccumulator,
    /// Request written whole (polled, without write feedback) to its response, µs.
    pub(crate) rtt: WindowAccumulator,
    /// Produce throttle time, ms.
    pub(crate) throttle: WindowAccumulator,
}

impl BrokerWindows {
    fn reset(&mut self) {
        self.int_latency.reset();
        self.outbuf_latency.reset();
        self.rtt.reset();
        self.throttle.reset();
    }
}

/// A topic's windows.
#[derive(Clone, Debug, Default)]
pub(crate) struct TopicWindows {
    /// Sealed batch size, bytes.
    pub(crate) batchsize: WindowAccumulator,
    /// Records per batch.
    pub(crate) batchcnt: WindowAccumulator,
}

impl TopicWindows {
    fn reset(&mut self) {
        self.batchsize.reset();
        self.batchcnt.reset();
    }
}

/// Client-wide counters (librdkafka's top-level fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCounters {
    /// Requests sent to brokers.
    pub tx: u64,
    /// Bytes sent to brokers.
    pub tx_bytes: u64,
    /// Responses received from brokers.
    pub rx: u64,
    /// Bytes received from brokers.
    pub rx_bytes: u64,
    /// Messages sent (acknowledged or acks=0 written).
    pub txmsgs: u64,
    /// Payload bytes of those messages.
    pub txmsg_bytes: u64,
}

/// Per-broker counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerCounters {
    /// Requests sent.
    pub tx: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Transmission errors (requests failed by a lost connection).
    pub txerrs: u64,
    /// Requests retried.
    pub txretries: u64,
    /// Responses received.
    pub rx: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Malformed or unexpected responses.
    pub rxerrs: u64,
    /// Requests that hit `socket.timeout.ms`.
    pub req_timeouts: u64,
    /// Connection attempts.
    pub connects: u64,
    /// Connections lost or closed.
    pub disconnects: u64,
    /// ProduceRequests sent.
    pub produce_requests: u64,
    /// Batches sent in those requests.
    pub produce_batches: u64,
}

/// Per-partition counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionCounters {
    /// Messages acknowledged (or written with acks=0).
    pub txmsgs: u64,
    /// Payload bytes of those messages.
    pub txbytes: u64,
    /// Messages ever appended to this partition.
    pub msgs: u64,
    /// Batches failed with an error.
    pub failed_batches: u64,
}

/// One broker in a [`StatsSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerSnapshot {
    /// librdkafka's broker name, `host:port/nodeid` (`bootstrap` for bootstrap entries).
    pub name: String,
    /// Node id (-1 for a bootstrap entry).
    pub nodeid: i32,
    /// `host:port`.
    pub nodename: String,
    /// `INIT`, `CONNECT`, `APIVERSION_QUERY`, `UP` or `DOWN`.
    pub state: &'static str,
    /// Requests built but not yet handed to the driver.
    pub outbuf_cnt: usize,
    /// Requests sent and awaiting a response.
    pub waitresp_cnt: usize,
    /// Counters.
    pub counters: BrokerCounters,
    /// Internal producer queue latency (batch enqueue to request sent), µs.
    pub int_latency: WindowStats,
    /// Time requests wait until the socket took them whole, µs.
    pub outbuf_latency: WindowStats,
    /// Request round-trip time, from written whole to the response, µs.
    pub rtt: WindowStats,
    /// Produce throttle time from the broker, ms.
    pub throttle: WindowStats,
}

/// One partition in a [`StatsSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSnapshot {
    /// Partition id.
    pub partition: i32,
    /// Leader node id, -1 if unknown.
    pub leader: i32,
    /// Messages queued (not in flight).
    pub msgq_cnt: usize,
    /// Bytes queued.
    pub msgq_bytes: usize,
    /// Batches in flight.
    pub inflight_batches: u32,
    /// Counters.
    pub counters: PartitionCounters,
}

/// One topic in a [`StatsSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSnapshot {
    /// Topic name.
    pub topic: String,
    /// Records waiting for the topic's metadata.
    pub pending_cnt: usize,
    /// Partitions.
    pub partitions: Vec<PartitionSnapshot>,
    /// Sealed batch sizes, bytes.
    pub batchsize: WindowStats,
    /// Records per batch.
    pub batchcnt: WindowStats,
}

/// The idempotent producer's state (librdkafka's `eos` object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EosSnapshot {
    /// `idemp_state`: `Init`, `WaitPID`, `Assigned`, `DrainBump` or `FatalError`.
    pub idemp_state: &'static str,
    /// Current producer id (-1 before assignment).
    pub producer_id: i64,
    /// Current producer epoch (-1 before assignment).
    pub producer_epoch: i16,
    /// Epoch bumps so far (`epoch_cnt`).
    pub epoch_cnt: u64,
    /// `txn_state`: librdkafka's transaction state name (`Init` when not transactional).
    pub txn_state: &'static str,
    /// `txn_may_enq`: whether `send` accepts records (inside a transaction).
    pub txn_may_enq: bool,
}

/// A point-in-time copy of the engine's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// When the snapshot was taken (the caller's clock).
    pub now: Instant,
    /// Records queued, in flight, or with an undelivered report (`msg_cnt`).
    pub msg_cnt: usize,
    /// Bytes of those records (`msg_size`).
    pub msg_size: usize,
    /// `queue.buffering.max.messages` (`msg_max`).
    pub msg_max: usize,
    /// `queue.buffering.max.kbytes` in bytes (`msg_size_max`).
    pub msg_size_max: usize,
    /// Client-wide counters.
    pub counters: ClientCounters,
    /// Brokers, bootstrap entries included.
    pub brokers: Vec<BrokerSnapshot>,
    /// Topics in use.
    pub topics: Vec<TopicSnapshot>,
    /// Idempotent producer state, when `enable.idempotence` is on.
    pub eos: Option<EosSnapshot>,
}

impl<O> super::Engine<O> {
    /// The snapshot emitted at a statistics interval's end: the windows it reports start
    /// over, as librdkafka's roll over when their stats are emitted.
    pub(crate) fn take_snapshot(&mut self, now: Instant) -> StatsSnapshot {
        let snap = self.snapshot(now);
        for b in &mut self.brokers {
            b.windows.reset();
        }
        for t in &mut self.topics {
            t.windows.reset();
        }
        snap
    }

    /// Whether the rolling windows are kept: only with `statistics.interval.ms` > 0, as in
    /// librdkafka (its `rd_avg_t`s are disabled without statistics).
    pub(crate) fn stats_enabled(&self) -> bool {
        !self.cfg.statistics_interval.is_zero()
    }

    pub(crate) fn snapshot(&self, now: Instant) -> StatsSnapshot {
        let brokers = self
            .brokers
            .iter()
            .enumerate()
            .map(|(i, b)| BrokerSnapshot {
                name: self.broker_name(i),
                nodeid: if b.bootstrap { -1 } else { b.node_id },
                nodename: format!("{}:{}", b.address.host, b.address.port),
                state: b.state_name(),
                outbuf_cnt: b.outbuf,
                waitresp_cnt: b
                    .conn
                    .as_ref()
                    .map_or(0, |c| c.in_flight.iter().filter(|r| r.sent).count()),
                counters: b.counters,
                int_latency: b.windows.int_latency.stats(),
                outbuf_latency: b.windows.outbuf_latency.stats(),
                rtt: b.windows.rtt.stats(),
                throttle: b.windows.throttle.stats(),
            })
            .collect();
        let topics = self
            .topics
            .iter()
            .map(|t| TopicSnapshot {
                topic: t.name.to_string(),
                pending_cnt: t.pending_len(),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PartitionSnapshot {
                        partition: i as i32,
                        leader: p.leader_id,
                        msgq_cnt: p.q.msg_cnt,
                        msgq_bytes: p.q.msg_bytes,
                        inflight_batches: p.q.in_flight,
                        counters: p.counters,
                    })
                    .collect(),
                batchsize: t.windows.batchsize.stats(),
                batchcnt: t.windows.batchcnt.stats(),
            })
            .collect();
        StatsSnapshot {
            now,
            // librdkafka's counts include records whose reports were not served yet.
            msg_cnt: self.msg_cnt + self.unserved_cnt,
            msg_size: self.msg_bytes + self.unserved_bytes,
            msg_max: self.cfg.queue_buffering_max_messages,
            msg_size_max: self.cfg.queue_buffering_max_kbytes.saturating_mul(1024),
            counters: self.counters,
            brokers,
            topics,
            eos: self.idem.as_ref().map(|i| {
                let (txn_state, txn_may_enq) = self.txn_stats();
                EosSnapshot {
                    idemp_state: i.state_name(),
                    producer_id: i.pid,
                    producer_epoch: i.epoch,
                    epoch_cnt: i.bumps,
                    txn_state,
                    txn_may_enq,
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_reset_window_equals_a_new_one() {
        // Equality is over the samples' summary: a reset window keeps its (zeroed) buckets,
        // a new one has none yet.
        let mut w = WindowAccumulator::default();
        w.record(7);
        assert_ne!(w, WindowAccumulator::default());
        let mut v = WindowAccumulator::default();
        v.record(9);
        assert_ne!(w, v);
        w.reset();
        assert_eq!(w, WindowAccumulator::default());
        assert_eq!(WindowAccumulator::default(), w);
    }

    #[test]
    fn exact_moments() {
        let mut w = WindowAccumulator::default();
        for v in [2, 4, 4, 4, 5, 5, 7, 9] {
            w.record(v);
        }
        let s = w.stats();
        assert_eq!((s.min, s.max, s.sum, s.cnt, s.avg), (2, 9, 40, 8, 5));
        // Population standard deviation of these is exactly 2.
        assert_eq!(s.stddev, 2);
        assert_eq!(s.outofrange, 0);
        assert_eq!(s.hdrsize, WindowAccumulator::hdrsize());
        // Below 64 the buckets are exact; the ranks are rounded to the nearest (p90 of 8
        // samples is the 7th).
        assert_eq!((s.p50, s.p75, s.p90, s.p99, s.p99_99), (4, 5, 7, 9, 9));
    }

    #[test]
    fn empty_window_is_zero() {
        let s = WindowAccumulator::default().stats();
        assert_eq!(
            s,
            WindowStats {
                hdrsize: s.hdrsize,
                ..WindowStats::default()
            }
        );
    }

    #[test]
    fn percentiles_within_one_bucket() {
        let mut w = WindowAccumulator::default();
        for v in 1..=100_000u64 {
            w.record(v * 37);
        }
        let s = w.stats();
        for (q, got) in [
            (0.50, s.p50),
            (0.75, s.p75),
            (0.90, s.p90),
            (0.95, s.p95),
            (0.99, s.p99),
            (0.9999, s.p99_99),
        ] {
            let exact = (q * 100_000f64 + 0.5) as u64 * 37;
            // The estimate is the top of the exact value's bucket: never below it, and at
            // most one bucket (1/64) above.
            assert_eq!(bucket_of(got as u64), bucket_of(exact), "q={q}");
            assert!(
                got as u64 >= exact && (got as u64) <= exact + exact / 64,
                "q={q}"
            );
        }
        assert_eq!((s.min, s.max), (37, 3_700_000));
    }

    #[test]
    fn quantile_ranks_round_to_the_nearest_as_librdkafka() {
        // A 500 ms window of 5 ms round trips holds about 100 samples. librdkafka's p99 of
        // 93 samples is the 92nd (rank 0.99 * 93 + 0.5 = 92.57, truncated), not the largest
        // (values below 64 are exact, so the ranks show plainly).
        let mut w = WindowAccumulator::default();
        for _ in 0..91 {
            w.record(10);
        }
        w.record(40);
        w.record(7_000);
        let s = w.stats();
        assert_eq!((s.cnt, s.p99, s.max), (93, 40, 7_000));
        // 100 samples: rank 99.5 -> 99, still the second largest.
        for _ in 0..7 {
            w.record(10);
        }
        let s = w.stats();
        assert_eq!((s.cnt, s.p99, s.max), (100, 40, 7_000));
        // One sample is its own p99.
        let mut one = WindowAccumulator::default();
        one.record(3_000);
        assert_eq!(one.stats().p99, 3_000);
    }

    #[test]
    fn buckets_partition_the_range() {
        // Every bucket's top is followed by the next bucket's bottom.
        for i in 0..BUCKETS - 1 {
            let top = bucket_high(i);
            assert_eq!(bucket_of(top), i);
            assert_eq!(bucket_of(top + 1), i + 1);
        }
        assert_eq!(bucket_high(BUCKETS - 1), (1 << MAX_EXP) - 1);
    }

    #[test]
    fn out_of_range_and_reset() {
        let mut w = WindowAccumulator::default();
        w.record(u64::MAX);
        w.record(1 << MAX_EXP);
        w.record(3);
        let s = w.stats();
        assert_eq!(s.outofrange, 2);
        assert_eq!(s.max, i64::MAX);
        assert_eq!(s.p99, i64::MAX);
        assert_eq!(s.cnt, 3);
        w.reset();
        assert_eq!(
            w,
            WindowAccumulator::default(),
            "reset keeps its buckets, all zero"
        );
        assert_eq!(w.count(), 0);
        assert_eq!(w.stats().cnt, 0);
        w.record(10);
        let s = w.stats();
        assert_eq!((s.min, s.max, s.p50, s.stddev), (10, 10, 10, 0));
    }

    #[test]
    fn micros() {
        let mut w = WindowAccumulator::default();
        w.record_micros(core::time::Duration::from_millis(3));
        assert_eq!(w.stats().sum, 3_000);
    }
}
