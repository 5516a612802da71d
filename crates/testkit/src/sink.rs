//! A sink broker: a tiny Kafka-speaking TCP server that acks every Produce at once, to measure
//! what a producer costs on its own (no broker work, no log, no replication).
//!
//! It answers ApiVersions (Kafka 4.1-like ranges for the APIs a producer uses), Metadata
//! (itself as the only broker, node 1, leader of every partition of any requested topic, with
//! a configurable partition count), InitProducerId (fresh ids from 1000) and Produce. A Produce
//! request is acked after checking each batch's CRC-32C over bytes 21.. of the batch (the
//! records are neither decompressed nor parsed), with offsets assigned per partition;
//! acks=0 requests get no response, nor does any Produce with `hold_produce`. Other requests
//! close the connection (counted).
//!
//! One OS thread per connection, responses to all the frames a read brought in written with
//! one `write`. Bound to 127.0.0.1. Run it in its own process (the `purekafka-sink` binary of
//! `purekafka-perf`) when measuring a client's CPU, so that the sink's work is not counted.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, ProducerId, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use purekafka_protocol::frame::{FrameDecoder, SIZE_PREFIX_LEN};

/// Node id of the sink broker.
pub const NODE_ID: i32 = 1;

/// Largest request frame accepted (librdkafka's default `message.max.bytes` is 1 MB per batch,
/// a request may carry several).
const MAX_FRAME: usize = 256 << 20;

/// Offset of the CRC-32C field in a RecordBatch v2, and the first byte it covers.
const CRC_OFFSET: usize = 17;
const CRC_START: usize = 21;
/// Offset of `recordCount`, and the size of the fixed batch header.
const RECORD_COUNT_OFFSET: usize = 57;
const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batchLength`'s coverage starts (baseOffset + batchLength).
const LOG_OVERHEAD: usize = 12;

/// (api key, min, max) advertised in ApiVersions: Apache Kafka 4.1's ranges for the APIs a
/// producer or a client library's feature detection looks at.
const ADVERTISED: [(i16, i16, i16); 19] = [
    (0, 3, 13), // Produce
    (1, 4, 17), // Fetch
    (2, 1, 10), // ListOffsets
    (3, 0, 13), // Metadata
    (8, 2, 9),  // OffsetCommit
    (9, 1, 9),  // OffsetFetch
    (10, 0, 6), // FindCoordinator
    (11, 0, 9), // JoinGroup
    (12, 0, 4), // Heartbeat
    (13, 0, 5), // LeaveGroup
    (14, 0, 5), // SyncGroup
    (17, 0, 1), // SaslHandshake
    (18, 0, 4), // ApiVersions
    (19, 2, 7), // CreateTopics
    (22, 0, 5), // InitProducerId
    (24, 0, 5), // AddPartitionsToTxn
    (25, 0, 4), // AddOffsetsToTxn
    (26, 0, 5), // EndTxn
    (36, 0, 2), // SaslAuthenticate
];

/// Kafka error codes used in responses.
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Binding or configuring the listener failed.
    #[error("sink broker: cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// Requested port (0 = any).
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the sink behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkOptions {
    /// Port on 127.0.0.1 (0 = an ephemeral one).
    pub port: u16,
    /// Partition count of every topic a client asks about.
    pub partitions: i32,
    /// Check each batch's CRC-32C (a mismatch is answered with CORRUPT_MESSAGE).
    pub verify_crc: bool,
    /// Take Produce requests (checked and counted) but never answer them, so that a
    /// client's records stay in flight: its memory with a full queue.
    pub hold_produce: bool,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            port: 0,
            partitions: 1,
            verify_crc: true,
            hold_produce: false,
        }
    }
}

/// What the sink has seen so far (a snapshot of its counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounters {
    /// Connections accepted.
    pub connections: u64,
    /// Requests of any kind answered (or, for acks=0 Produce, taken).
    pub requests: u64,
    /// Produce requests.
    pub produce_requests: u64,
    /// Record batches in those Produce requests.
    pub batches: u64,
    /// Records in those batches (from each batch header).
    pub records: u64,
    /// Bytes of those batches, as sent (compressed when compression is on).
    pub batch_bytes: u64,
    /// Batches whose CRC-32C did not match, or that were malformed.
    pub crc_failures: u64,
    /// Requests with an API the sink does not answer (their connection was closed).
    pub unsupported: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    produce_requests: AtomicU64,
    batches: AtomicU64,
    records: AtomicU64,
    batch_bytes: AtomicU64,
    crc_failures: AtomicU64,
    unsupported: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> SinkCounters {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SinkCounters {
            connections: l(&self.connections),
            requests: l(&self.requests),
            produce_requests: l(&self.produce_requests),
            batches: l(&self.batches),
            records: l(&self.records),
            batch_bytes: l(&self.batch_bytes),
            crc_failures: l(&self.crc_failures),
            unsupported: l(&self.unsupported),
        }
    }

    fn reset(&self) {
        for c in [
            &self.requests,
            &self.produce_requests,
            &self.batches,
            &self.records,
            &self.batch_bytes,
            &self.crc_failures,
            &self.unsupported,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// State shared by all connections.
#[derive(Debug)]
struct Shared {
    opts: SinkOptions,
    addr: SocketAddr,
    counters: Counters,
    /// Next offset of each partition, per topic name.
    topics: Mutex<HashMap<String, Vec<i64>>>,
    /// Topic ids handed out in Metadata (Produce v13 addresses topics by id).
    ids: Mutex<HashMap<uuid::Uuid, String>>,
    next_producer_id: AtomicU64,
    shutdown: AtomicBool,
}

/// A running sink broker; stops (and joins its threads) when dropped.
#[derive(Debug)]
pub struct SinkBroker {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl SinkBroker {
    /// Binds 127.0.0.1:`opts.port` and starts serving.
    pub fn start(opts: SinkOptions) -> Result<Self, SinkError> {
        let bind = |source| SinkError::Bind {
            port: opts.port,
            source,
        };
        let listener = TcpListener::bind(("127.0.0.1", opts.port)).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let shared = Arc::new(Shared {
            opts,
            addr,
            counters: Counters::default(),
            topics: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
            next_producer_id: AtomicU64::new(1000),
            shutdown: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("sink-accept".into())
            .spawn(move || accept_loop(&listener, &s))
            .map_err(bind)?;
        Ok(Self {
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.shared.addr.to_string()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> SinkCounters {
        self.shared.counters.snapshot()
    }

    /// Zeroes every counter but `connections` (between runs of a benchmark).
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Next offset of `topic`/`partition` (records acked so far), if a client asked about it.
    pub fn log_end_offset(&self, topic: &str, partition: usize) -> Option<i64> {
        lock(&self.shared.topics)
            .get(topic)
            .and_then(|p| p.get(partition).copied())
    }
}

impl Drop for SinkBroker {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so that the acceptor sees the flag.
        let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking connection thread leaves consistent maps behind (single inserts/updates).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut conns = Vec::new();
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let s = Arc::clone(shared);
        if let Ok(h) = std::thread::Builder::new()
            .name("sink-conn".into())
            .spawn(move || serve(stream, &s))
        {
            conns.push(h);
        }
        conns.retain(|h| !h.is_finished());
    }
    for h in conns {
        let _ = h.join();
    }
}

/// Serves one connection until EOF, an error, an unsupported request or shutdown.
fn serve(mut stream: TcpStream, shared: &Shared) {
    // The read timeout only bounds how long shutdown waits for an idle connection.
    if stream.set_nodelay(true).is_err()
        || stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .is_err()
    {
        return;
    }
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut rx = BytesMut::with_capacity(256 * 1024);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        rx.extend_from_slice(&chunk[..n]);
        loop {
            match decoder.decode(&mut rx) {
                Ok(Some(frame)) => {
                    if handle(frame, shared, &mut out).is_err() {
                        let _ = stream.write_all(&out);
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// The request could not be answered; the connection is closed.
struct Unanswerable;

/// Appends the response to `frame` (if any) to `out`.
fn handle(mut frame: Bytes, shared: &Shared, out: &mut BytesMut) -> Result<(), Unanswerable> {
    let c = &shared.counters;
    if frame.len() < 4 {
        return Err(Unanswerable);
    }
    let Ok(api_key) = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])) else {
        c.unsupported.fetch_add(1, Ordering::Relaxed);
        return Err(Unanswerable);
    };
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|_| Unanswerable)?;
    let corr = header.correlation_id;
    let resp_header_version = api_key.response_header_version(version);
    c.requests.fetch_add(1, Ordering::Relaxed);
    match api_key {
        ApiKey::ApiVersions => {
            // Kafka 4.1's ranges. Only Produce, Metadata, ApiVersions and InitProducerId are
            // answered; the others are advertised because clients derive features from them
            // (librdkafka writes MessageSet v2 only if Fetch v4+ is there too). A version
            // the sink can't decode gets UNSUPPORTED_VERSION with the ranges, which clients
            // retry at v0 (KIP-511).
            let error = if (0..=4).contains(&version) { 0 } else { 35 };
            let api_keys = ADVERTISED
                .iter()
                .copied()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect();
            let body = ApiVersionsResponse::default()
                .with_error_code(error)
                .with_api_keys(api_keys);
            // ApiVersions responses always use header v0; an unsupported version is
            // answered at v0, the one every client can read.
            respond(out, corr, 0, if error == 0 { version } else { 0 }, &body)
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::decode(&mut frame, version).map_err(|_| Unanswerable)?;
            let body = metadata(shared, &req);
            respond(out, corr, resp_header_version, version, &body)
        }
        ApiKey::InitProducerId => {
            let id = shared.next_producer_id.fetch_add(1, Ordering::Relaxed);
            let body = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(i64::try_from(id).unwrap_or(i64::MAX)))
                .with_producer_epoch(0);
            respond(out, corr, resp_header_version, version, &body)
        }
        ApiKey::Produce => {
            c.produce_requests.fetch_add(1, Ordering::Relaxed);
            let req = ProduceRequest::decode(&mut frame, version).map_err(|_| Unanswerable)?;
            let body = produce(shared, &req, version);
            if req.acks == 0 || shared.opts.hold_produce {
                return Ok(());
            }
            respond(out, corr, resp_header_version, version, &body)
        }
        _ => {
            c.unsupported.fetch_add(1, Ordering::Relaxed);
            Err(Unanswerable)
        }
    }
}

fn respond<B: Encodable>(
    out: &mut BytesMut,
    corr: i32,
    header_version: i16,
    version: i16,
    body: &B,
) -> Result<(), Unanswerable> {
    let start = out.len();
    out.extend_from_slice(&[0; SIZE_PREFIX_LEN]);
    let ok = ResponseHeader::default()
        .with_correlation_id(corr)
        .encode(out, header_version)
        .is_ok()
        && body.encode(out, version).is_ok();
    let size = i32::try_from(out.len() - start - SIZE_PREFIX_LEN);
    match (ok, size) {
        (true, Ok(size)) => {
            out[start..start + SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
            Ok(())
        }
        _ => {
            out.truncate(start);
            Err(Unanswerable)
        }
    }
}

/// A stable topic id derived from the name (clients only compare ids).
fn topic_id(name: &str) -> uuid::Uuid {
    let a = crc32c::crc32c(name.as_bytes());
    let b = crc32c::crc32c_append(a, b"purekafka-sink");
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&a.to_be_bytes());
    bytes[4..8].copy_from_slice(&b.to_be_bytes());
    bytes[8..12].copy_from_slice(&(name.len() as u32).to_be_bytes());
    bytes[12..].copy_from_slice(&0x5eed_u32.to_be_bytes());
    uuid::Uuid::from_bytes(bytes)
}

fn metadata(shared: &Shared, req: &MetadataRequest) -> MetadataResponse {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(NODE_ID))
        .with_host(StrBytes::from_string(shared.addr.ip().to_string()))
        .with_port(i32::from(shared.addr.port()));
    let parts = shared.opts.partitions.max(1);
    let mut topics = lock(&shared.topics);
    let wanted: Vec<String> = match &req.topics {
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
        None => topics.keys().cloned().collect(),
    };
    let topics_out = wanted
        .into_iter()
        .map(|name| {
            let id = topic_id(&name);
            lock(&shared.ids).entry(id).or_insert_with(|| name.clone());
            let n = topics
                .entry(name.clone())
                .or_insert_with(|| vec![0; parts as usize])
                .len();
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name))))
                .with_topic_id(id)
                .with_partitions(
                    (0..n as i32)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(NODE_ID))
                                .with_leader_epoch(0)
                                .with_replica_nodes(vec![BrokerId(NODE_ID)])
                                .with_isr_nodes(vec![BrokerId(NODE_ID)])
                        })
                        .collect(),
                )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_static_str("purekafka-sink")))
        .with_controller_id(BrokerId(NODE_ID))
        .with_topics(topics_out)
}

/// Walks the batches of one partition's records: (batches, records) if every batch is whole
/// and its CRC matches (when checked), `None` otherwise.
fn check_batches(mut records: &[u8], verify_crc: bool) -> Option<(u64, u64)> {
    let (mut batches, mut count) = (0u64, 0u64);
    while !records.is_empty() {
        let len_field = records.get(8..12)?;
        let batch_len =
            i32::from_be_bytes([len_field[0], len_field[1], len_field[2], len_field[3]]);
        let total = LOG_OVERHEAD.checked_add(usize::try_from(batch_len).ok()?)?;
        if total < BATCH_HEADER_LEN || total > records.len() {
            return None;
        }
        let (batch, rest) = records.split_at(total);
        if verify_crc {
            let c = &batch[CRC_OFFSET..CRC_START];
            let stored = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            if crc32c::crc32c(&batch[CRC_START..]) != stored {
                return None;
            }
        }
        let n = &batch[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4];
        let n = i32::from_be_bytes([n[0], n[1], n[2], n[3]]);
        count += u64::try_from(n).ok()?;
        batches += 1;
        records = rest;
    }
    Some((batches, count))
}

fn produce(shared: &Shared, req: &ProduceRequest, version: i16) -> ProduceResponse {
    let c = &shared.counters;
    let mut responses = Vec::with_capacity(req.topic_data.len().min(1024));
    for td in &req.topic_data {
        let name = if version >= 13 {
            lock(&shared.ids).get(&td.topic_id).cloned()
        } else {
            Some(td.name.0.to_string())
        };
        let mut partition_responses = Vec::with_capacity(td.partition_data.len().min(1024));
        for pd in &td.partition_data {
            let records = pd.records.as_deref().unwrap_or_default();
            let mut resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(0);
            match check_batches(records, shared.opts.verify_crc) {
                None => {
                    c.crc_failures.fetch_add(1, Ordering::Relaxed);
                    resp.error_code = CORRUPT_MESSAGE;
                }
                Some((batches, count)) => {
                    let mut topics = lock(&shared.topics);
                    let next = name
                        .as_ref()
                        .and_then(|n| topics.get_mut(n))
                        .and_then(|p| usize::try_from(pd.index).ok().and_then(|i| p.get_mut(i)));
                    match next {
                        Some(next) => {
                            resp.base_offset = *next;
                            *next += i64::try_from(count).unwrap_or(0);
                            c.batches.fetch_add(batches, Ordering::Relaxed);
                            c.records.fetch_add(count, Ordering::Relaxed);
                            c.batch_bytes
                                .fetch_add(records.len() as u64, Ordering::Relaxed);
                        }
                        None => resp.error_code = UNKNOWN_TOPIC_OR_PARTITION,
                    }
                }
            }
            partition_responses.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(td.name.clone())
                .with_topic_id(td.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_accepts_good_and_rejects_flipped_batches() {
        let mut batch = vec![0u8; BATCH_HEADER_LEN + 10];
        let len = (batch.len() - LOG_OVERHEAD) as i32;
        batch[8..12].copy_from_slice(&len.to_be_bytes());
        batch[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&3i32.to_be_bytes());
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[CRC_OFFSET..CRC_START].copy_from_slice(&crc.to_be_bytes());
        let two: Vec<u8> = batch.iter().chain(batch.iter()).copied().collect();
        assert_eq!(check_batches(&two, true), Some((2, 6)));
        let mut bad = batch.clone();
        bad[70] ^= 1;
        assert_eq!(check_batches(&bad, true), None);
        assert_eq!(check_batches(&bad, false), Some((1, 3)));
        assert_eq!(check_batches(&batch[..40], true), None);
    }
}
