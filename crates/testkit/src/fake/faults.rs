//! Scripted faults: what the next K matching requests suffer (librdkafka mock's
//! `push_request_errors`, franz-go kfake's `ControlKey`).

use core::time::Duration;

use kafka_protocol::messages::ApiKey;

/// What happens to a request a [`Fault`] matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this Kafka error code instead of processing (Produce: for the matched
    /// partition, or every partition when the fault names none; nothing is appended;
    /// AddPartitionsToTxn, TxnOffsetCommit: every partition; FindCoordinator: every key).
    Error(i16),
    /// Like [`FaultAction::Error`], and the response is also late by the duration
    /// (librdkafka's `push_request_error_rtts`).
    ErrorDelayed(i16, Duration),
    /// Process normally, answer late by the duration (later responses on the connection queue
    /// behind it, as a broker answers each connection in order).
    Delay(Duration),
    /// Process normally and answer at once, with `throttle_time_ms` set (KIP-219: the client
    /// must not send to this broker before it has passed). Produce and Metadata v3+ only.
    Throttle(Duration),
    /// Process normally, answer with the response cut to about half its length (correct
    /// correlation id, truncated body): a broken broker or proxy.
    Truncate,
    /// Process normally, answer with the right correlation id followed by junk (huge
    /// declared lengths and counts): a hostile broker. The client must not panic or allocate
    /// what the junk declares.
    Garbage,
    /// Process normally, never answer; the connection then stays silent (a stalled broker).
    Hang,
    /// Close the connection when the request arrives, without processing it.
    DisconnectBefore,
    /// Process the request (append the records), then close the connection instead of
    /// answering: the client cannot know whether the write happened.
    DisconnectAfter,
}

/// One scripted fault: applies to the next `count` requests that match its filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The API the request must be (None = any).
    pub api_key: Option<ApiKey>,
    /// The broker the request must reach (None = any).
    pub broker: Option<i32>,
    /// For Produce, AddPartitionsToTxn and TxnOffsetCommit: a partition the request must
    /// carry (None = any).
    pub partition: Option<(String, i32)>,
    /// A transactional id or group id the request must name (InitProducerId, the
    /// transaction APIs, FindCoordinator keys, a transactional Produce); None = any.
    pub key: Option<String>,
    /// How many more requests this fault applies to.
    pub count: u32,
    /// What those requests suffer.
    pub action: FaultAction,
}

impl Fault {
    /// A fault on the next request of `api_key`, anywhere.
    pub fn new(api_key: ApiKey, action: FaultAction) -> Self {
        Self {
            api_key: Some(api_key),
            broker: None,
            partition: None,
            key: None,
            count: 1,
            action,
        }
    }

    /// A fault on the next request of any API.
    pub fn any_api(action: FaultAction) -> Self {
        Self {
            api_key: None,
            broker: None,
            partition: None,
            key: None,
            count: 1,
            action,
        }
    }

    /// Applies to the next `count` matching requests instead of one.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Only requests to broker `node`.
    pub fn on_broker(mut self, node: i32) -> Self {
        self.broker = Some(node);
        self
    }

    /// Only Produce requests carrying `topic`/`partition` (an error then hits that partition
    /// only).
    pub fn on_partition(mut self, topic: &str, partition: i32) -> Self {
        self.partition = Some((topic.to_owned(), partition));
        self
    }

    /// Only requests naming `key` (a transactional id, a group id, a FindCoordinator key).
    pub fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    pub(crate) fn matches(
        &self,
        api_key: ApiKey,
        broker: i32,
        partitions: &[(String, i32)],
        keys: &[String],
    ) -> bool {
        self.count > 0
            && self.key.as_ref().is_none_or(|k| keys.contains(k))
            && self.api_key.is_none_or(|k| k == api_key)
            && self.broker.is_none_or(|b| b == broker)
            && self
                .partition
                .as_ref()
                .is_none_or(|p| partitions.iter().any(|q| q == p))
    }
}

/// The fault a request matched, as recorded for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFault {
    /// The partition filter of the fault, if any.
    pub partition: Option<(String, i32)>,
    /// What was done.
    pub action: FaultAction,
}
