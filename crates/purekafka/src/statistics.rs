//! Client statistics, shaped exactly like rust-rdkafka's `rdkafka::statistics`.
//!
//! These structs mirror librdkafka's statistics JSON (see librdkafka's `STATISTICS.md`) with
//! rdkafka 0.39's field names, types and optionality, so that the JSON a purekafka client
//! emits to [`ClientContext::stats_raw`](crate::ClientContext::stats_raw) deserializes in
//! code written for rdkafka, and vice versa. As in rdkafka, most fields are required: JSON
//! missing one fails to parse. The optional ones are [`Statistics::cgrp`],
//! [`Statistics::eos`] and the broker fields `wakeups`, `connects`, `disconnects`,
//! `int_latency`, `outbuf_latency`, `rtt` and `throttle`. Unknown JSON fields are ignored.
//!
//! Durations are in microseconds unless a field says otherwise.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Client-wide statistics: the top level of the statistics JSON.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Statistics {
    /// The client instance's name, e.g. `rdkafka#producer-1`.
    pub name: String,
    /// The configured `client.id`.
    pub client_id: String,
    /// `producer` or `consumer` (JSON key `type`).
    #[serde(rename = "type")]
    pub client_type: String,
    /// The client's monotonic clock, in microseconds.
    pub ts: i64,
    /// Wall-clock time, in seconds since the Unix epoch.
    pub time: i64,
    /// Time since the client was created, in microseconds.
    pub age: i64,
    /// Operations (callbacks, events) waiting to be served by poll.
    pub replyq: i64,
    /// Messages currently in the producer queues.
    pub msg_cnt: u64,
    /// Bytes of messages currently in the producer queues.
    pub msg_size: u64,
    /// The producer queue's message limit (`queue.buffering.max.messages`).
    pub msg_max: u64,
    /// The producer queue's byte limit (`queue.buffering.max.kbytes` in bytes).
    pub msg_size_max: u64,
    /// Requests sent to brokers.
    pub tx: i64,
    /// Bytes sent to brokers.
    pub tx_bytes: i64,
    /// Responses received from brokers.
    pub rx: i64,
    /// Bytes received from brokers.
    pub rx_bytes: i64,
    /// Messages produced to brokers.
    pub txmsgs: i64,
    /// Message bytes produced to brokers.
    pub txmsg_bytes: i64,
    /// Messages consumed from brokers (0 for producers).
    pub rxmsgs: i64,
    /// Message bytes consumed from brokers (0 for producers).
    pub rxmsg_bytes: i64,
    /// Legacy/high-level consumer API tracking (0 for producers).
    pub simple_cnt: i64,
    /// Topics in the metadata cache.
    pub metadata_cache_cnt: i64,
    /// Per-broker statistics, keyed `host:port/nodeid`.
    pub brokers: HashMap<String, Broker>,
    /// Per-topic statistics, keyed by topic name.
    pub topics: HashMap<String, Topic>,
    /// Consumer group statistics (consumers only).
    pub cgrp: Option<ConsumerGroup>,
    /// Idempotent and transactional producer statistics.
    pub eos: Option<ExactlyOnceSemantics>,
}

/// Statistics of one broker connection.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Broker {
    /// `host:port/nodeid`.
    pub name: String,
    /// The broker's node id (-1 for bootstrap brokers).
    pub nodeid: i32,
    /// `host:port`.
    pub nodename: String,
    /// How the broker became known: `learned`, `configured`, `internal` or `logical`.
    pub source: String,
    /// Connection state (`INIT`, `DOWN`, `CONNECT`, `AUTH`, `APIVERSION_QUERY`,
    /// `AUTH_HANDSHAKE`, `UP`, `UPDATE`).
    pub state: String,
    /// Time since the last state change, in microseconds.
    pub stateage: i64,
    /// Requests waiting to be sent.
    pub outbuf_cnt: i64,
    /// Messages in requests waiting to be sent.
    pub outbuf_msg_cnt: i64,
    /// Requests sent and awaiting a response.
    pub waitresp_cnt: i64,
    /// Messages in requests awaiting a response.
    pub waitresp_msg_cnt: i64,
    /// Requests sent.
    pub tx: u64,
    /// Bytes sent.
    pub txbytes: u64,
    /// Send errors.
    pub txerrs: u64,
    /// Request retries.
    pub txretries: u64,
    /// Microseconds since the last send, -1 if nothing was sent on this connection yet.
    pub txidle: i64,
    /// Requests that timed out.
    pub req_timeouts: u64,
    /// Responses received.
    pub rx: u64,
    /// Bytes received.
    pub rxbytes: u64,
    /// Receive errors.
    pub rxerrs: u64,
    /// Responses whose correlation id matched no request (usually timed-out ones).
    pub rxcorriderrs: u64,
    /// Partial message sets received (consumers).
    pub rxpartial: u64,
    /// Microseconds since the last receive, -1 if nothing was received yet.
    pub rxidle: i64,
    /// Requests sent, by request type name (e.g. `Produce`, `Metadata`).
    pub req: HashMap<String, i64>,
    /// Decompression buffer growths.
    pub zbuf_grow: u64,
    /// Buffer growths (deprecated, always 0).
    pub buf_grow: u64,
    /// Broker thread wakeups.
    pub wakeups: Option<u64>,
    /// Connection attempts, successful or not.
    pub connects: Option<i64>,
    /// Disconnections, for whatever reason.
    pub disconnects: Option<i64>,
    /// Time messages wait in the producer queue before batching, in microseconds.
    pub int_latency: Option<Window>,
    /// Time requests wait to be written to the socket, in microseconds.
    pub outbuf_latency: Option<Window>,
    /// Request round-trip time, in microseconds.
    pub rtt: Option<Window>,
    /// Broker throttle time, in milliseconds.
    pub throttle: Option<Window>,
    /// The partitions this broker leads for the client, keyed `topic-partition`.
    pub toppars: HashMap<String, TopicPartition>,
}

/// Rolling-window statistics of a sampled value (an HDR histogram's estimates).
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Window {
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// Mean.
    pub avg: i64,
    /// Sum of the values.
    pub sum: i64,
    /// Number of values.
    pub cnt: i64,
    /// Standard deviation.
    pub stddev: i64,
    /// Memory size of the histogram.
    pub hdrsize: i64,
    /// 50th percentile.
    pub p50: i64,
    /// 75th percentile.
    pub p75: i64,
    /// 90th percentile.
    pub p90: i64,
    /// 95th percentile.
    pub p95: i64,
    /// 99th percentile.
    pub p99: i64,
    /// 99.99th percentile.
    pub p99_99: i64,
    /// Values outside the histogram's range.
    pub outofrange: i64,
}

/// A topic and partition, as listed in [`Broker::toppars`].
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// Statistics of one topic.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Topic {
    /// The topic.
    pub topic: String,
    /// Age of the topic's metadata, in milliseconds.
    pub metadata_age: i64,
    /// Produced batch sizes, in bytes.
    pub batchsize: Window,
    /// Produced batch message counts.
    pub batchcnt: Window,
    /// Per-partition statistics, keyed by partition (-1 is the unassigned queue).
    pub partitions: HashMap<i32, Partition>,
}

/// Statistics of one partition. Consumer-only fields are present (and 0 or -1001) for
/// producers, as librdkafka emits them.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Partition {
    /// The partition (-1 for messages not yet assigned a partition).
    pub partition: i32,
    /// The broker the client talks to for this partition.
    pub broker: i32,
    /// The leader's broker id.
    pub leader: i32,
    /// Whether the application asked for this partition explicitly.
    pub desired: bool,
    /// Whether the partition is missing from the broker's metadata.
    pub unknown: bool,
    /// Messages waiting in the first-level queue.
    pub msgq_cnt: i64,
    /// Bytes waiting in the first-level queue.
    pub msgq_bytes: u64,
    /// Messages ready in the transmit queue.
    pub xmit_msgq_cnt: i64,
    /// Bytes ready in the transmit queue.
    pub xmit_msgq_bytes: u64,
    /// Prefetched messages (consumers).
    pub fetchq_cnt: i64,
    /// Prefetched bytes (consumers).
    pub fetchq_size: u64,
    /// Fetch state (consumers): none, stopping, stopped, offset-query, offset-wait, active.
    pub fetch_state: String,
    /// Current or last offset query (consumers).
    pub query_offset: i64,
    /// Next offset to fetch (consumers).
    pub next_offset: i64,
    /// Offset of the last message given to the application, plus one (consumers).
    pub app_offset: i64,
    /// Offset to be committed (consumers).
    pub stored_offset: i64,
    /// Last committed offset (consumers).
    pub committed_offset: i64,
    /// Last offset that raised partition EOF (consumers).
    pub eof_offset: i64,
    /// Low watermark on the broker.
    pub lo_offset: i64,
    /// High watermark on the broker.
    pub hi_offset: i64,
    /// Last stable offset on the broker.
    pub ls_offset: i64,
    /// `hi_offset - committed_offset` (consumers).
    pub consumer_lag: i64,
    /// `hi_offset - stored_offset` (consumers).
    pub consumer_lag_stored: i64,
    /// Messages produced.
    pub txmsgs: u64,
    /// Bytes produced.
    pub txbytes: u64,
    /// Messages consumed (consumers).
    pub rxmsgs: u64,
    /// Bytes consumed (consumers).
    pub rxbytes: u64,
    /// Messages produced (producers) or received (consumers) in total.
    pub msgs: u64,
    /// Outdated messages dropped (consumers).
    pub rx_ver_drops: u64,
    /// Messages in flight to or from the broker.
    pub msgs_inflight: i64,
    /// Next sequence expected to be acknowledged (idempotent producer).
    pub next_ack_seq: i64,
    /// Next sequence expected to fail (idempotent producer).
    pub next_err_seq: i64,
    /// Last acknowledged internal message id (idempotent producer).
    pub acked_msgid: u64,
}

/// Consumer group statistics (consumers only; a producer never reports them).
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct ConsumerGroup {
    /// The group handler's state.
    pub state: String,
    /// Time since the last state change, in milliseconds.
    pub stateage: i64,
    /// The join state.
    pub join_state: String,
    /// Time since the last rebalance, in milliseconds.
    pub rebalance_age: i64,
    /// Number of rebalances.
    pub rebalance_cnt: i64,
    /// Why the last rebalance happened (empty if none did).
    pub rebalance_reason: String,
    /// Partitions in the current assignment.
    pub assignment_size: i32,
}

/// Idempotent and transactional producer statistics.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct ExactlyOnceSemantics {
    /// The idempotent producer's state.
    pub idemp_state: String,
    /// Time since its last state change, in milliseconds.
    pub idemp_stateage: i64,
    /// The transactional producer's state.
    pub txn_state: String,
    /// Time since its last state change, in milliseconds.
    pub txn_stateage: i64,
    /// Whether the transactional state allows producing.
    pub txn_may_enq: bool,
    /// The producer id, or -1.
    pub producer_id: i64,
    /// The producer epoch, or -1.
    pub producer_epoch: i64,
    /// Number of producer id assignments.
    pub epoch_cnt: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;

    /// A librdkafka producer's statistics (librdkafka wiki "Statistics" page, as used by
    /// rust-rdkafka's own statistics test), pretty-printed.
    const PRODUCER_SAMPLE: &str = include_str!("testdata/librdkafka-stats-producer.json");

    /// The example in librdkafka 2.12.1's `STATISTICS.md`, from an older librdkafka that did not
    /// emit `age`, `txidle`, `req`, `ls_offset`, ...
    const STATISTICS_MD_SAMPLE: &str =
        include_str!("testdata/librdkafka-statistics-md-example.json");

    #[test]
    fn parses_librdkafka_producer_statistics() {
        let stats: Statistics = serde_json::from_str(PRODUCER_SAMPLE).unwrap();
        assert_eq!(stats.name, "rdkafka#producer-1");
        assert_eq!(stats.client_id, "rdkafka");
        assert_eq!(stats.client_type, "producer");
        assert_eq!(stats.ts, 1_163_982_743_268);
        assert_eq!(stats.time, 1_589_652_530);
        assert_eq!(stats.age, 5);
        assert_eq!((stats.msg_cnt, stats.msg_size), (320, 9920));
        assert_eq!(
            (stats.msg_max, stats.msg_size_max),
            (500_000, 1_073_741_824)
        );
        assert_eq!((stats.txmsgs, stats.txmsg_bytes), (11_853_650, 367_463_150));
        assert!(stats.cgrp.is_none() && stats.eos.is_none());

        let broker = &stats.brokers["localhost:9092/0"];
        assert_eq!((broker.nodeid, broker.state.as_str()), (0, "UP"));
        assert_eq!(broker.req["Produce"], 31_307);
        assert_eq!(broker.req.len(), 12);
        assert_eq!(broker.wakeups, Some(131_568));
        assert_eq!(broker.connects, Some(1));
        let rtt = broker.rtt.as_ref().unwrap();
        assert_eq!(
            (rtt.min, rtt.max, rtt.p99_99, rtt.cnt),
            (94, 3279, 3279, 4739)
        );
        assert_eq!(broker.toppars["test-2"].partition, 2);

        let topic = &stats.topics["test"];
        assert_eq!(topic.metadata_age, 7014);
        assert_eq!(topic.batchcnt.max, 6161);
        assert_eq!(topic.partitions.len(), 4);
        let ua = &topic.partitions[&-1];
        assert_eq!((ua.leader, ua.msgs), (-1, 500_000));
        let p0 = &topic.partitions[&0];
        assert_eq!(
            (p0.msgq_cnt, p0.msgs_inflight, p0.txmsgs),
            (845, 1067, 3_950_967)
        );
        assert_eq!(p0.committed_offset, -1001);
    }

    #[test]
    fn round_trips_through_json() {
        let stats: Statistics = serde_json::from_str(PRODUCER_SAMPLE).unwrap();
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["type"], "producer");
        assert!(json.get("client_type").is_none());
        let again: Statistics = serde_json::from_value(json).unwrap();
        assert_eq!(again.topics["test"].partitions[&2].msgq_bytes, 56_296);
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&stats).unwrap()
        );
    }

    #[test]
    fn optional_fields_and_eos() {
        // A minimal producer document: every required field, none of the optional ones.
        let json = serde_json::json!({
            "name": "p", "client_id": "c", "type": "producer", "ts": 1, "time": 2, "age": 3,
            "replyq": 0, "msg_cnt": 0, "msg_size": 0, "msg_max": 10, "msg_size_max": 20,
            "tx": 0, "tx_bytes": 0, "rx": 0, "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0,
            "rxmsgs": 0, "rxmsg_bytes": 0, "simple_cnt": 0, "metadata_cache_cnt": 0,
            "brokers": {}, "topics": {},
            "eos": {
                "idemp_state": "Assigned", "idemp_stateage": 5, "txn_state": "Ready",
                "txn_stateage": 6, "txn_may_enq": true, "producer_id": 4000,
                "producer_epoch": 1, "epoch_cnt": 1
            }
        });
        let stats: Statistics = serde_json::from_value(json).unwrap();
        let eos = stats.eos.unwrap();
        assert_eq!((eos.producer_id, eos.producer_epoch), (4000, 1));
        assert!(eos.txn_may_enq);
        assert!(stats.cgrp.is_none());
    }

    #[test]
    fn required_fields_are_required_like_rdkafka() {
        // Its broker objects lack `txidle`, which rdkafka's struct requires.
        let err = serde_json::from_str::<Statistics>(STATISTICS_MD_SAMPLE).unwrap_err();
        assert!(err.to_string().contains("missing field `txidle`"), "{err}");

        let mut doc: serde_json::Value = serde_json::from_str(PRODUCER_SAMPLE).unwrap();
        doc["brokers"]["localhost:9092/0"]
            .as_object_mut()
            .unwrap()
            .remove("req");
        let err = serde_json::from_value::<Statistics>(doc).unwrap_err();
        assert!(err.to_string().contains("missing field `req`"), "{err}");
    }
}
