//! The engine's statistics snapshots as librdkafka's statistics JSON (the shape rdkafka's
//! [`Statistics`] parses), for `ClientContext::stats_raw`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use purekafka_core::engine::{StatsSnapshot, WindowStats};

use crate::statistics::{Broker, Partition, Statistics, Topic, TopicPartition, Window};
use crate::util::current_time_millis;

/// librdkafka's "no offset" value, used for the consumer-only offset fields.
const OFFSET_INVALID: i64 = -1001;

/// A window's summary in rdkafka's shape.
fn window(w: &WindowStats) -> Window {
    Window {
        min: w.min,
        max: w.max,
        avg: w.avg,
        sum: w.sum,
        cnt: w.cnt,
        stddev: w.stddev,
        hdrsize: w.hdrsize,
        p50: w.p50,
        p75: w.p75,
        p90: w.p90,
        p95: w.p95,
        p99: w.p99,
        p99_99: w.p99_99,
        outofrange: w.outofrange,
    }
}

/// Identifies one producer in its statistics.
#[derive(Clone, Debug)]
pub(crate) struct StatsMeta {
    name: String,
    client_id: String,
}

impl StatsMeta {
    /// A name like librdkafka's `rdkafka#producer-1` (`<client.id>#producer-<n>`).
    pub(crate) fn new(client_id: &str) -> Self {
        static INSTANCES: AtomicUsize = AtomicUsize::new(1);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        Self {
            name: format!("{client_id}#producer-{n}"),
            client_id: client_id.to_owned(),
        }
    }

    /// The statistics of `snap`.
    pub(crate) fn statistics(&self, snap: &StatsSnapshot) -> Statistics {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let us = as_i64(snap.now.as_nanos() / 1000);
        let mut brokers = HashMap::new();
        for b in &snap.brokers {
            let c = &b.counters;
            let toppars = snap
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .filter(|p| b.nodeid >= 0 && p.leader == b.nodeid)
                        .map(|p| {
                            (
                                format!("{}-{}", t.topic, p.partition),
                                TopicPartition {
                                    topic: t.topic.clone(),
                                    partition: p.partition,
                                },
                            )
                        })
                })
                .collect();
            let broker = Broker {
                name: b.name.clone(),
                nodeid: b.nodeid,
                nodename: b.nodename.clone(),
                source: if b.nodeid < 0 {
                    "configured"
                } else {
                    "learned"
                }
                .to_owned(),
                state: b.state.to_owned(),
                outbuf_cnt: b.outbuf_cnt as i64,
                waitresp_cnt: b.waitresp_cnt as i64,
                tx: c.tx,
                txbytes: c.tx_bytes,
                txerrs: c.txerrs,
                txretries: c.txretries,
                req_timeouts: c.req_timeouts,
                rx: c.rx,
                rxbytes: c.rx_bytes,
                rxerrs: c.rxerrs,
                req: HashMap::from([("Produce".to_owned(), as_i64(c.produce_requests))]),
                connects: Some(as_i64(c.connects)),
                disconnects: Some(as_i64(c.disconnects)),
                int_latency: Some(window(&b.int_latency)),
                outbuf_latency: Some(window(&b.outbuf_latency)),
                rtt: Some(window(&b.rtt)),
                throttle: Some(window(&b.throttle)),
                toppars,
                ..Broker::default()
            };
            brokers.insert(b.name.clone(), broker);
        }
        let mut topics = HashMap::new();
        for t in &snap.topics {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let part = Partition {
                        partition: p.partition,
                        broker: p.leader,
                        leader: p.leader,
                        msgq_cnt: p.msgq_cnt as i64,
                        msgq_bytes: p.msgq_bytes as u64,
                        fetch_state: "none".to_owned(),
                        query_offset: OFFSET_INVALID,
                        next_offset: 0,
                        app_offset: OFFSET_INVALID,
                        stored_offset: OFFSET_INVALID,
                        committed_offset: OFFSET_INVALID,
                        eof_offset: OFFSET_INVALID,
                        lo_offset: -1,
                        hi_offset: -1,
                        ls_offset: -1,
                        consumer_lag: -1,
                        consumer_lag_stored: -1,
                        txmsgs: p.counters.txmsgs,
                        txbytes: p.counters.txbytes,
                        msgs: p.counters.msgs,
                        msgs_inflight: i64::from(p.inflight_batches),
                        ..Partition::default()
                    };
                    (p.partition, part)
                })
                .collect();
            topics.insert(
                t.topic.clone(),
                Topic {
                    topic: t.topic.clone(),
                    batchsize: window(&t.batchsize),
                    batchcnt: window(&t.batchcnt),
                    partitions,
                    ..Topic::default()
                },
            );
        }
        Statistics {
            name: self.name.clone(),
            client_id: self.client_id.clone(),
            client_type: "producer".to_owned(),
            ts: us,
            time: current_time_millis() / 1000,
            age: us,
            msg_cnt: snap.msg_cnt as u64,
            msg_size: snap.msg_size as u64,
            msg_max: snap.msg_max as u64,
            msg_size_max: snap.msg_size_max as u64,
            tx: as_i64(snap.counters.tx),
            tx_bytes: as_i64(snap.counters.tx_bytes),
            rx: as_i64(snap.counters.rx),
            rx_bytes: as_i64(snap.counters.rx_bytes),
            txmsgs: as_i64(snap.counters.txmsgs),
            txmsg_bytes: as_i64(snap.counters.txmsg_bytes),
            metadata_cache_cnt: snap.topics.len() as i64,
            brokers,
            topics,
            ..Statistics::default()
        }
    }

    /// The statistics of `snap` as JSON.
    pub(crate) fn json(&self, snap: &StatsSnapshot) -> Vec<u8> {
        // Serializing plain structs of numbers, strings and maps with string keys cannot fail.
        serde_json::to_vec(&self.statistics(snap)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use purekafka_core::Instant;
    use purekafka_core::engine::{
        BrokerCounters, BrokerSnapshot, ClientCounters, TopicSnapshot, WindowAccumulator,
    };

    use super::*;

    fn summary(samples: &[u64]) -> WindowStats {
        let mut w = WindowAccumulator::default();
        for &v in samples {
            w.record(v);
        }
        w.stats()
    }

    #[test]
    fn windows_reach_the_json() {
        let snap = StatsSnapshot {
            now: Instant::from_millis(5_000),
            msg_cnt: 0,
            msg_size: 0,
            msg_max: 100_000,
            msg_size_max: 1 << 30,
            counters: ClientCounters::default(),
            brokers: vec![BrokerSnapshot {
                name: "b1:9092/1".to_owned(),
                nodeid: 1,
                nodename: "b1:9092".to_owned(),
                state: "UP",
                outbuf_cnt: 0,
                waitresp_cnt: 0,
                counters: BrokerCounters::default(),
                int_latency: summary(&[5_000, 7_000]),
                outbuf_latency: summary(&[3]),
                rtt: summary(&[800, 1_200, 1_000]),
                throttle: summary(&[0, 7]),
            }],
            topics: vec![TopicSnapshot {
                topic: "t".to_owned(),
                pending_cnt: 0,
                partitions: Vec::new(),
                batchsize: summary(&[120, 80]),
                batchcnt: summary(&[5, 3]),
            }],
            eos: None,
        };
        let json = StatsMeta::new("c").json(&snap);
        let parsed: Statistics = serde_json::from_slice(&json).unwrap();
        let b = &parsed.brokers["b1:9092/1"];
        let rtt = b.rtt.as_ref().unwrap();
        assert_eq!(
            (rtt.cnt, rtt.min, rtt.max, rtt.avg, rtt.sum),
            (3, 800, 1_200, 1_000, 3_000)
        );
        assert_eq!(b.int_latency.as_ref().unwrap().sum, 12_000);
        assert_eq!(b.outbuf_latency.as_ref().unwrap().p99, 3);
        assert_eq!(b.throttle.as_ref().unwrap().max, 7);
        let t = &parsed.topics["t"];
        assert_eq!((t.batchcnt.cnt, t.batchcnt.sum), (2, 8));
        assert_eq!((t.batchsize.min, t.batchsize.max), (80, 120));
        assert!(t.batchsize.hdrsize > 0);
    }
}
