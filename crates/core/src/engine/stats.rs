//! Counters for a librdkafka-compatible statistics JSON.
//!
//! The engine bumps plain integers on its hot paths (per request, per batch, never a map
//! lookup); [`Engine::stats`](super::Engine::stats) walks brokers and partitions once to build
//! a [`StatsSnapshot`] whose field names follow librdkafka's STATISTICS.md, so the `purekafka`
//! crate can serialise it to the JSON rdkafka's `Statistics` expects.

use crate::time::Instant;

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
            })
            .collect();
        StatsSnapshot {
            now,
            msg_cnt: self.msg_cnt,
            msg_size: self.msg_bytes,
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
