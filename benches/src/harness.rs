//! Drives a `purekafka_core::Engine` against the in-memory [`MemBroker`] on a virtual clock.
//!
//! One *cycle* = send `n` records at the same virtual instant, then complete them: drain
//! transmits (each answered at once by the broker), feed the responses back, drain delivery
//! reports (touching every record's offset, key and value, so nothing is optimised away), and
//! jump the virtual clock to the engine's next timer (the linger deadline) until every record
//! is reported. No sleeping, no wall clock inside the engine.

use core::time::Duration;
use std::sync::OnceLock;
use std::time::Instant as WallInstant;

use purekafka_core::config::BrokerAddress;
use purekafka_core::engine::RecordHeader;
use purekafka_core::{ConnCommand, Engine, Event, Instant, ProducerConfig, Record};
use purekafka_protocol::compression::Compression;

use crate::responder::{self, MemBroker, ResponderError};

/// Wall-clock milliseconds at virtual `Instant::ZERO` (record CreateTime base).
const WALL_ORIGIN_MS: i64 = 1_700_000_000_000;
/// Distinct keys/values cycled through, so compression sees realistic (not identical) data.
const POOL: usize = 1024;
/// Distinct keys: a prime, so a key doesn't always travel with the same value (keys pick the
/// partition; with equal pools every partition would see only its own few values repeated,
/// which lz4 would compress unrealistically well).
const KEY_POOL: usize = 4093;

/// The topic every workload produces to.
pub const TOPIC: &str = "bench";

/// What is produced and how the engine is configured. Everything not named here is the
/// librdkafka default (`ProducerConfig::default()`): batch.size 1 MB, batch.num.messages
/// 10 000, message.max.bytes 1 MB, sticky partitioning for keyless records, hashing (murmur2
/// random, librdkafka's `consistent_random`) for keyed ones.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Partitions of the topic.
    pub partitions: i32,
    /// Key length: 0 = keyless, else keys of this many bytes (distinct per record).
    pub key_len: usize,
    /// Headers per record (each about 20 bytes).
    pub headers: usize,
    /// Value length in bytes.
    pub value_len: usize,
    /// Batch compression.
    pub compression: Compression,
    /// `acks`.
    pub acks: i16,
    /// `linger.ms` (virtual time).
    pub linger: Duration,
}

impl Workload {
    /// 100-byte values, acks=1, linger 5 ms, no key, no headers, `partitions` partitions.
    pub const fn base(partitions: i32) -> Self {
        Self {
            partitions,
            key_len: 0,
            headers: 0,
            value_len: 100,
            compression: Compression::None,
            acks: 1,
            linger: Duration::from_millis(5),
        }
    }

    /// The same with `key_len`-byte keys.
    pub const fn keyed(mut self, key_len: usize) -> Self {
        self.key_len = key_len;
        self
    }

    /// The same with `n` headers.
    pub const fn with_headers(mut self, n: usize) -> Self {
        self.headers = n;
        self
    }

    /// The same with `codec`.
    pub const fn compressed(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// A short label such as `p16_key16_h2_lz4`.
    pub fn label(&self) -> String {
        let mut s = format!("p{}", self.partitions);
        if self.key_len == 0 {
            s.push_str("_keyless");
        } else {
            s.push_str(&format!("_key{}", self.key_len));
        }
        if self.headers > 0 {
            s.push_str(&format!("_h{}", self.headers));
        }
        if self.value_len != 100 {
            s.push_str(&format!("_v{}", self.value_len));
        }
        s.push('_');
        s.push_str(self.compression.name());
        s
    }
}

/// Pre-generated record contents (so generating them is not measured).
#[derive(Debug)]
struct Data {
    values: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    header_values: Vec<[u8; 16]>,
}

impl Data {
    fn new(w: &Workload) -> Self {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let values = (0..POOL)
            .map(|i| {
                let r = next();
                // JSON-like text: lz4 gets roughly its real-world 2x, not a degenerate ratio.
                let mut v = format!(
                    "{{\"id\":{i},\"user\":\"u{:08x}\",\"amount\":{}.{:02},\"status\":\"ok\",\"tag\":\"",
                    r as u32,
                    (r >> 32) % 10_000,
                    (r >> 48) % 100
                )
                .into_bytes();
                // Filler: random words from a small vocabulary plus random digits, so lz4
                // finds short matches but no long runs (about 2x on whole batches).
                const WORDS: [&[u8]; 16] = [
                    b"alpha ", b"bravo ", b"charlie ", b"delta ", b"echo ", b"fox ", b"golf ",
                    b"hotel ", b"india ", b"juliet ", b"kilo ", b"lima ", b"mike ", b"nov ",
                    b"oscar ", b"papa ",
                ];
                let mut f = next();
                while v.len() < w.value_len.saturating_sub(2) {
                    if f < 1 << 8 {
                        f = next();
                    }
                    v.extend_from_slice(WORDS[(f & 15) as usize]);
                    v.push(b'0' + ((f >> 4) % 10) as u8);
                    f >>= 8;
                }
                v.extend_from_slice(b"\"}");
                v.truncate(w.value_len);
                v
            })
            .collect();
        let keys = (0..KEY_POOL)
            .map(|i| {
                let mut k =
                    format!("key-{:012}", next() % 1_000_000_000_000 + i as u64).into_bytes();
                k.resize(w.key_len, b'k');
                k
            })
            .collect();
        let header_values = (0..POOL).map(|_| next().to_le_bytes()).map(|b| {
            let mut h = [0u8; 16];
            h[..8].copy_from_slice(&b);
            h[8..].copy_from_slice(&b);
            h
        });
        Self {
            values,
            keys,
            header_values: header_values.collect(),
        }
    }
}

/// Monotonic wall time since the first call: the default [`Harness::clock`].
pub fn wall_clock() -> Duration {
    static START: OnceLock<WallInstant> = OnceLock::new();
    START.get_or_init(WallInstant::now).elapsed()
}

/// Time (per [`Harness::clock`]) spent in each phase of the cycles run with timing on.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhaseTimes {
    /// In `Engine::send` (includes sealing and encoding a request when a batch fills up during
    /// the burst: the engine builds requests eagerly inside commands).
    pub send: Duration,
    /// In the responder (decoding requests, encoding responses).
    pub responder: Duration,
    /// Draining delivery reports, touching every record, and dropping the reports (which
    /// frees their record buffers).
    pub delivery: Duration,
    /// Everything else in the completion loop: `handle_timeout` (linger expiry: seal +
    /// request encode), `poll_transmit`, `handle_response` (response decode, settling).
    pub engine_other: Duration,
}

/// Allocator counters read by an allocation probe (see [`Harness::alloc_probe`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocCounters {
    /// `alloc` calls.
    pub allocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// Bytes requested by `alloc` plus net growth by `realloc`.
    pub bytes: u64,
}

impl core::ops::Sub for AllocCounters {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            allocs: self.allocs - o.allocs,
            reallocs: self.reallocs - o.reallocs,
            bytes: self.bytes.wrapping_sub(o.bytes),
        }
    }
}

impl core::ops::AddAssign for AllocCounters {
    fn add_assign(&mut self, o: Self) {
        self.allocs += o.allocs;
        self.reallocs += o.reallocs;
        self.bytes = self.bytes.wrapping_add(o.bytes);
    }
}

/// An engine connected to a [`MemBroker`], warmed up (metadata known, leader connected).
pub struct Harness {
    /// The engine under test; the opaque is the record's sequence number.
    pub engine: Engine<u64>,
    /// The broker answering it.
    pub broker: MemBroker,
    /// Virtual now.
    pub now: Instant,
    workload: Workload,
    data: Data,
    next_id: u64,
    /// Records delivered so far.
    pub delivered: u64,
    /// Delivery reports (batches) seen so far.
    pub reports: u64,
    /// A value folded from every delivered record, so the reads can't be optimised away.
    pub checksum: u64,
    /// When `Some`, cycles accumulate per-phase wall time here.
    pub timing: Option<PhaseTimes>,
    /// The clock phases are timed with: [`wall_clock`] unless a bench installs a CPU clock.
    pub clock: fn() -> Duration,
    /// When set (by a bench with a counting global allocator), the allocations made inside
    /// the responder are accumulated in [`responder_allocs`](Self::responder_allocs), so they
    /// can be subtracted from the engine's.
    pub alloc_probe: Option<fn() -> AllocCounters>,
    /// Allocations made by the responder while `alloc_probe` was set.
    pub responder_allocs: AllocCounters,
}

impl core::fmt::Debug for Harness {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Harness")
            .field("workload", &self.workload)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

/// A benchmark run that went wrong (an engine error or a responder failure): measuring it
/// would be meaningless, so callers stop.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl core::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<ResponderError> for HarnessError {
    fn from(e: ResponderError) -> Self {
        Self(format!("responder: {e}"))
    }
}

impl Harness {
    /// Builds the engine for `workload`, bootstraps it and sends one record to every
    /// partition so metadata is known and the leader connection is ready.
    pub fn new(workload: Workload) -> Result<Self, HarnessError> {
        let config = ProducerConfig {
            bootstrap_servers: vec![BrokerAddress {
                host: responder::HOST.to_owned(),
                port: responder::PORT,
            }],
            acks: workload.acks,
            linger: workload.linger,
            compression: workload.compression,
            ..ProducerConfig::default()
        };
        let now = Instant::ZERO;
        let mut h = Self {
            engine: Engine::new(config, 42, now),
            broker: MemBroker::new(&[(TOPIC, workload.partitions)]),
            now,
            data: Data::new(&workload),
            workload,
            next_id: 0,
            delivered: 0,
            reports: 0,
            checksum: 0,
            timing: None,
            clock: wall_clock,
            alloc_probe: None,
            responder_allocs: AllocCounters::default(),
        };
        h.pump()?;
        for p in 0..workload.partitions {
            let id = h.next_id;
            h.next_id += 1;
            let value = &h.data.values[0];
            h.engine
                .send(
                    now,
                    Record {
                        topic: TOPIC,
                        partition: Some(p),
                        key: None,
                        value: Some(value),
                        headers: &[],
                        timestamp_ms: WALL_ORIGIN_MS,
                    },
                    id,
                )
                .map_err(|e| HarnessError(format!("warm-up send: {:?}", e.code)))?;
        }
        h.complete()?;
        Ok(h)
    }

    /// The workload this harness runs.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Sends `n` records at the current virtual instant (no pumping in between).
    pub fn send_n(&mut self, n: usize) -> Result<(), HarnessError> {
        let started = self.timing.map(|_| (self.clock)());
        let now = self.now;
        let ts = WALL_ORIGIN_MS + (now.as_nanos() / 1_000_000) as i64;
        let w = self.workload;
        let mut headers = [RecordHeader {
            key: "",
            value: None,
        }; 4];
        for _ in 0..n {
            let id = self.next_id;
            self.next_id += 1;
            let i = id as usize % POOL;
            let hv = &self.data.header_values[i];
            let names = ["trace-id", "source", "h2", "h3"];
            let nh = w.headers.min(headers.len());
            for (j, h) in headers.iter_mut().take(nh).enumerate() {
                *h = RecordHeader {
                    key: names[j],
                    value: Some(if j == 0 { &hv[..] } else { b"bench" }),
                };
            }
            let record = Record {
                topic: TOPIC,
                partition: None,
                key: (w.key_len > 0).then(|| &self.data.keys[id as usize % KEY_POOL][..]),
                value: Some(&self.data.values[i]),
                headers: &headers[..nh],
                timestamp_ms: ts,
            };
            if let Err(e) = self.engine.send(now, record, id) {
                return Err(HarnessError(format!("send #{id}: {:?}", e.code)));
            }
        }
        if let (Some(t), Some(s)) = (self.timing.as_mut(), started) {
            t.send += (self.clock)().saturating_sub(s);
        }
        Ok(())
    }

    /// Runs the completion loop until every record sent so far is reported, advancing the
    /// virtual clock to each due timer (linger).
    pub fn complete(&mut self) -> Result<(), HarnessError> {
        let started = self.timing.map(|_| (self.clock)());
        let before = self.timing.unwrap_or_default();
        let mut guard = 0u32;
        loop {
            self.pump()?;
            if self.engine.in_flight_count() == 0 {
                break;
            }
            let Some(t) = self.engine.poll_timeout() else {
                return Err(HarnessError(format!(
                    "{} records in flight but no timer armed",
                    self.engine.in_flight_count()
                )));
            };
            if t > self.now {
                self.now = t;
            }
            self.engine.handle_timeout(self.now);
            guard += 1;
            if guard > 10_000 {
                return Err(HarnessError(
                    "completion loop does not converge (timer at or before now keeps firing)"
                        .into(),
                ));
            }
        }
        if let (Some(t), Some(s)) = (self.timing.as_mut(), started) {
            let inner = (t.responder - before.responder) + (t.delivery - before.delivery);
            t.engine_other += (self.clock)().saturating_sub(s).saturating_sub(inner);
        }
        Ok(())
    }

    /// One cycle: [`send_n`](Self::send_n) then [`complete`](Self::complete).
    pub fn cycle(&mut self, n: usize) -> Result<(), HarnessError> {
        self.send_n(n)?;
        self.complete()
    }

    /// Drains every engine output until nothing moves: connection commands (every connect
    /// succeeds at once), transmits (answered at once), delivery reports.
    pub fn pump(&mut self) -> Result<(), HarnessError> {
        let now = self.now;
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.engine.poll_conn_command() {
                progressed = true;
                if let ConnCommand::Connect { conn, address } = cmd {
                    if address.host != responder::HOST || address.port != responder::PORT {
                        return Err(HarnessError(format!("connect to unknown {address:?}")));
                    }
                    self.engine.handle_connected(now, conn);
                }
            }
            while let Some(t) = self.engine.poll_transmit(now) {
                progressed = true;
                let started = self.timing.map(|_| (self.clock)());
                let allocs = self.alloc_probe.map(|p| p());
                // The responder decodes whole frames: joining the chunks counts as its time.
                let resp = self.broker.handle(t.frame.to_bytes().slice(4..))?;
                if let (Some(p), Some(a)) = (self.alloc_probe, allocs) {
                    self.responder_allocs += p() - a;
                }
                if let (Some(tm), Some(s)) = (self.timing.as_mut(), started) {
                    tm.responder += (self.clock)().saturating_sub(s);
                }
                if let Some(frame) = resp {
                    self.engine.handle_response(now, t.conn, frame);
                }
            }
            if let Some(first) = self.engine.poll_event() {
                progressed = true;
                let started = self.timing.map(|_| (self.clock)());
                self.consume(first)?;
                while let Some(ev) = self.engine.poll_event() {
                    self.consume(ev)?;
                }
                if let (Some(tm), Some(s)) = (self.timing.as_mut(), started) {
                    tm.delivery += (self.clock)().saturating_sub(s);
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn consume(&mut self, ev: Event<u64>) -> Result<(), HarnessError> {
        match ev {
            Event::Delivery(mut report) => {
                if let Some(code) = report.error() {
                    return Err(HarnessError(format!(
                        "delivery failed: {code:?} for {} records of partition {}",
                        report.len(),
                        report.partition()
                    )));
                }
                self.reports += 1;
                let mut acc = self.checksum;
                let mut n = 0u64;
                for (rec, opaque) in report.drain() {
                    let v = rec.value().unwrap_or_default();
                    let k = rec.key().map_or(0, <[u8]>::len) as u64;
                    acc = acc
                        .rotate_left(5)
                        .wrapping_add(rec.offset() as u64 ^ opaque)
                        .wrapping_add(v.len() as u64 + u64::from(v.last().copied().unwrap_or(0)))
                        .wrapping_add(k);
                    n += 1;
                }
                self.checksum = acc;
                self.delivered += n;
                Ok(())
            }
            Event::Error { code, reason } => {
                Err(HarnessError(format!("engine error {code:?}: {reason}")))
            }
            Event::Stats(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(w: Workload, n: usize) -> Harness {
        let mut h = Harness::new(w).unwrap_or_else(|e| panic!("{e}"));
        let warm = h.delivered;
        for _ in 0..3 {
            h.cycle(n).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(h.delivered - warm, 3 * n as u64);
        assert_eq!(h.engine.in_flight_count(), 0);
        h
    }

    #[test]
    fn every_record_is_acked_once_with_broker_offsets() {
        let w = Workload::base(1);
        let h = run(w, 20_000);
        // One warm-up record per partition, then the three cycles; the broker's log end is
        // what the reports' offsets must have covered.
        assert_eq!(h.broker.log_end_offset(TOPIC, 0), Some(1 + 60_000));
        assert_eq!(h.broker.counts.records, 60_001);
        assert!(
            h.broker.counts.batches >= 3,
            "batches close at linger or 1 MB"
        );
    }

    #[test]
    fn keyed_records_spread_over_sixteen_partitions_and_lz4_shrinks_them() {
        let w = Workload::base(16)
            .keyed(16)
            .with_headers(2)
            .compressed(Compression::Lz4);
        let h = run(w, 5_000);
        let per_partition: Vec<i64> = (0..16)
            .map(|p| h.broker.log_end_offset(TOPIC, p).unwrap_or(0))
            .collect();
        assert_eq!(per_partition.iter().sum::<i64>(), 16 + 15_000);
        assert!(per_partition.iter().all(|&n| n > 1), "{per_partition:?}");
        let c = h.broker.counts;
        // 100-byte JSON-ish values + 16-byte keys + headers: well over 120 bytes each plain.
        assert!(c.batch_bytes < c.records * 100, "{c:?}");
    }
}
