//! Code written the way rdkafka users write it, spelled through `rdkafka::` paths, to pin
//! down that the value types are source-compatible (these tests fail to compile otherwise).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use crate as rdkafka;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rdkafka::client::{ClientContext, DefaultClientContext, OAuthToken};
use rdkafka::config::{
    ClientConfig, FromClientConfig, FromClientConfigAndContext, RDKafkaLogLevel,
};
use rdkafka::error::{IsError, KafkaError, KafkaResult, RDKafkaError, RDKafkaErrorCode};
use rdkafka::message::{
    BorrowedHeaders, BorrowedMessage, DeliveryResult, FromBytes, Header, Headers, HeadersIter,
    Message, OwnedHeaders, OwnedMessage, Timestamp, ToBytes,
};
use rdkafka::statistics::{Broker, Partition, Topic, Window};
#[cfg(feature = "tokio")]
use rdkafka::util::DefaultRuntime;
use rdkafka::util::{AsyncRuntime, Timeout, current_time_millis};
use rdkafka::{IntoOpaque, Statistics};

/// A context like the ones in rdkafka's examples: counts stats callbacks, keeps errors.
#[derive(Default)]
struct StatsContext {
    stats_seen: AtomicUsize,
    last_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        let produced: i64 = statistics
            .topics
            .values()
            .map(|t: &Topic| t.batchcnt.sum)
            .sum();
        assert!(produced >= 0);
        self.stats_seen.fetch_add(1, Ordering::SeqCst);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        *self.last_error.lock().unwrap() = Some(format!("{error}: {reason}"));
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let _ = (level, fac, log_message);
    }
}

/// A user runtime as in rdkafka's `runtime_smol` example, on std threads.
struct ThreadRuntime;

struct Ready;

impl Future for Ready {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

impl AsyncRuntime for ThreadRuntime {
    type Delay = Ready;

    fn spawn<T>(task: T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        drop(task);
    }

    fn delay_for(_duration: Duration) -> Self::Delay {
        Ready
    }
}

/// A client type the way the producers implement the creation traits.
struct Client<C: ClientContext> {
    context: Arc<C>,
    servers: String,
}

impl FromClientConfig for Client<DefaultClientContext> {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        Self::from_config_and_context(config, DefaultClientContext)
    }
}

impl<C: ClientContext> FromClientConfigAndContext<C> for Client<C> {
    fn from_config_and_context(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        Ok(Self {
            context: Arc::new(context),
            servers: config
                .get("bootstrap.servers")
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

fn wait<T: Into<Timeout>>(t: T) -> Timeout {
    t.into()
}

fn opaque<D: IntoOpaque>(d: D) -> D {
    d
}

fn runtime_name<R: AsyncRuntime>() -> &'static str {
    std::any::type_name::<R>()
}

/// A delivery callback body as users write it.
fn on_delivery(result: &DeliveryResult<'_>, sink: &mut Vec<String>) {
    match result {
        Ok(m) => {
            let key: &str = m.key_view::<str>().unwrap().unwrap();
            let headers: Option<&BorrowedHeaders> = m.headers();
            let trace = headers
                .and_then(|h| h.iter().find(|h| h.key == "trace"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned());
            sink.push(format!(
                "{}:{}:{}:{} {:?}",
                m.topic(),
                m.partition(),
                m.offset(),
                key,
                trace
            ));
        }
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
            sink.push("retry later".into());
        }
        Err((e, m)) => sink.push(format!("{} failed: {e}", m.detach().topic())),
    }
}

#[test]
fn contexts_configs_and_clients() {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", "localhost:9092")
        .set("statistics.interval.ms", "1000")
        .set_log_level(RDKafkaLogLevel::Debug);
    let client: Client<DefaultClientContext> = config.create().unwrap();
    assert_eq!(client.servers, "localhost:9092");
    let client: Client<StatsContext> = config.create_with_context(StatsContext::default()).unwrap();
    client
        .context
        .stats_raw(include_bytes!("testdata/librdkafka-stats-producer.json"));
    assert_eq!(client.context.stats_seen.load(Ordering::SeqCst), 1);
    client.context.error(
        KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
        "disconnected",
    );
    assert_eq!(
        client.context.last_error.lock().unwrap().as_deref(),
        Some(
            "Global error: BrokerTransportFailure (Local: Broker transport failure): \
             disconnected"
        )
    );
    assert!(
        DefaultClientContext
            .generate_oauth_token(None)
            .map(|t: OAuthToken| t.lifetime_ms)
            .is_err()
    );
}

#[test]
fn messages_headers_and_reports() {
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "trace",
            value: Some("t-1"),
        })
        .insert(Header {
            key: "bin",
            value: Some(&[1_u8, 2, 3]),
        })
        .insert(Header::<&Vec<u8>> {
            key: "none",
            value: None,
        });
    let iter: HeadersIter<'_, OwnedHeaders> = headers.iter();
    assert_eq!(iter.count(), 3);

    let mut sink = Vec::new();
    let ok = BorrowedMessage::new("orders", 2, 17, Timestamp::CreateTime(5))
        .with_key(Some(b"k1"))
        .with_headers(Some(headers.as_borrowed()));
    on_delivery(&Ok(ok), &mut sink);
    let full = BorrowedMessage::new("orders", -1, -1, Timestamp::NotAvailable);
    on_delivery(
        &Err((
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
            full.clone(),
        )),
        &mut sink,
    );
    on_delivery(
        &Err((
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            full,
        )),
        &mut sink,
    );
    assert_eq!(
        sink,
        [
            "orders:2:17:k1 Some(\"t-1\")",
            "retry later",
            "orders failed: Message production error: MessageTimedOut (Local: Message timed out)",
        ]
    );

    let owned: OwnedMessage = OwnedMessage::new(
        Some("v".to_bytes().to_vec()),
        Some(
            <str as FromBytes>::from_bytes(b"k")
                .unwrap()
                .to_bytes()
                .to_vec(),
        ),
        "t".into(),
        Timestamp::from(current_time_millis()),
        0,
        0,
        None,
    );
    match owned.timestamp() {
        Timestamp::CreateTime(ms) => assert!(ms > 0),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn errors_timeouts_opaques_runtimes() {
    let e = KafkaError::Transaction(RDKafkaError::new(RDKafkaErrorCode::Fenced, ""));
    if let KafkaError::Transaction(inner) = &e {
        assert!(inner.is_error() && !inner.is_retriable());
    }
    assert_eq!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Fenced));

    assert_eq!(
        wait(Duration::from_millis(5)),
        Timeout::After(Duration::from_millis(5))
    );
    assert_eq!(wait(None), Timeout::Never);
    assert_eq!(wait(Timeout::Never), Timeout::Never);

    assert_eq!(opaque(7_usize), 7);
    assert_eq!(*opaque(Box::new(3_u8)), 3);
    assert_eq!(*opaque(Arc::new("shared")), "shared");
    opaque(());

    assert!(runtime_name::<ThreadRuntime>().ends_with("ThreadRuntime"));
    #[cfg(feature = "tokio")]
    assert!(runtime_name::<DefaultRuntime>().ends_with("TokioRuntime"));

    let stats = Statistics {
        brokers: [(
            "b:9092/1".to_owned(),
            Broker {
                rtt: Some(Window {
                    p99: 12,
                    ..Window::default()
                }),
                ..Broker::default()
            },
        )]
        .into(),
        ..Statistics::default()
    };
    let p: Partition = Partition::default();
    assert_eq!(p.partition, 0);
    assert_eq!(
        stats.brokers["b:9092/1"].rtt.as_ref().map(|w| w.p99),
        Some(12)
    );
}
