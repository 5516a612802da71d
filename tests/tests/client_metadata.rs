//! rdkafka's `Client` queries a producer offers besides `send`: watermarks and the cluster id,
//! against the real broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::time::Duration;

use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::producer::{BaseProducer, BaseRecord, Producer};
use purekafka_testkit::broker::Kafka;

use producer_common::config;

#[test]
fn watermarks_follow_what_was_produced() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("client-watermarks", 2).unwrap();
    let p: BaseProducer = config(&kafka).set("acks", "all").create().unwrap();
    let client = p.client();
    assert_eq!(
        client
            .fetch_watermarks(&topic, 0, Duration::from_secs(10))
            .unwrap(),
        (0, 0)
    );
    for i in 0..7 {
        let partition = if i < 5 { 0 } else { 1 };
        p.send(
            BaseRecord::<(), str>::to(&topic)
                .payload("v")
                .partition(partition),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let t = Duration::from_secs(10);
    assert_eq!(client.fetch_watermarks(&topic, 0, t).unwrap(), (0, 5));
    assert_eq!(client.fetch_watermarks(&topic, 1, t).unwrap(), (0, 2));
    assert_eq!(
        client.fetch_watermarks(&topic, 9, t),
        Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownPartition
        ))
    );
    assert!(matches!(
        client.fetch_watermarks("no-such-topic-watermarks", 0, t),
        Err(KafkaError::MetadataFetch(_))
    ));
}

#[test]
fn cluster_id_is_the_one_the_broker_was_formatted_with() {
    let kafka = Kafka::shared().unwrap();
    let p: BaseProducer = config(&kafka).create().unwrap();
    let id = p
        .client()
        .fetch_cluster_id(Duration::from_secs(10))
        .expect("cluster id");
    // The broker's own record of it, when the testkit started the broker.
    if let Some(dir) = kafka.log_dir() {
        let props = std::fs::read_to_string(dir.join("meta.properties")).unwrap();
        let expected = props
            .lines()
            .find_map(|l| l.strip_prefix("cluster.id="))
            .expect("cluster.id in meta.properties");
        assert_eq!(id, expected.trim());
    } else {
        assert!(!id.is_empty());
    }
    let nobody: BaseProducer = purekafka::ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:1")
        .create()
        .unwrap();
    assert_eq!(
        nobody.client().fetch_cluster_id(Duration::from_millis(500)),
        None
    );
}
