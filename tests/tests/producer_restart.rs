//! A private broker restarted in the middle of a stream: the producer reconnects, retries,
//! and every record is delivered and readable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod producer_common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use purekafka::ClientConfig;
use purekafka::error::{KafkaError, RDKafkaErrorCode};
use purekafka::producer::{BaseProducer, BaseRecord, Producer};
use purekafka_testkit::broker::{BrokerOptions, Kafka};

use producer_common::{Recorder, read_back};

fn run(kafka: &mut Kafka, idempotent: bool) {
    let topic = kafka
        .unique_topic(
            if idempotent {
                "restart-idem"
            } else {
                "restart"
            },
            2,
        )
        .unwrap();
    let p: BaseProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap())
        .set("message.timeout.ms", "120000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .create_with_context(Recorder::default())
        .unwrap();
    let total = 3000_usize;
    let send = |i: usize| {
        let v = format!("record-{i:05}");
        let k = format!("key-{}", i % 4);
        p.send(BaseRecord::with_opaque_to(&topic, i).key(&k).payload(&v))
            .map_err(|e| e.0)
            .unwrap();
        p.poll(Duration::ZERO);
    };
    for i in 0..1000 {
        send(i);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    for i in 1000..1500 {
        send(i);
    }
    // Stop mid-stream (some of these are queued or in flight), keep producing while it is
    // down, then bring it back.
    kafka.stop().unwrap();
    for i in 1500..2500 {
        send(i);
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    kafka.start_again().unwrap();
    for i in 2500..total {
        send(i);
    }
    let start = Instant::now();
    p.flush(Duration::from_secs(120)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(120));

    let reports = p.context().reports();
    assert_eq!(reports.len(), total);
    let failed: Vec<_> = reports.iter().filter(|r| r.error.is_some()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let errors = p.context().errors();
    assert!(
        errors.iter().any(|(e, _)| matches!(
            e,
            KafkaError::Global(
                RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown
            )
        )),
        "the outage was reported to ClientContext::error: {errors:?}"
    );

    let consumed = read_back(kafka, &topic, total);
    let values: BTreeSet<Vec<u8>> = consumed.iter().map(|c| c.value.clone().unwrap()).collect();
    let want: BTreeSet<Vec<u8>> = (0..total)
        .map(|i| format!("record-{i:05}").into_bytes())
        .collect();
    assert_eq!(values, want, "every record is in the log");
    if idempotent {
        assert_eq!(consumed.len(), total, "no duplicates with idempotence");
        // Per key (one partition each), values appear in send order.
        for k in 0..4 {
            let key = format!("key-{k}").into_bytes();
            let seq: Vec<&Vec<u8>> = consumed
                .iter()
                .filter(|c| c.key.as_ref() == Some(&key))
                .map(|c| c.value.as_ref().unwrap())
                .collect();
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "order kept for key-{k}"
            );
        }
    }
}

#[test]
fn broker_restart_mid_stream() {
    let mut kafka = Kafka::start(BrokerOptions::from_env()).unwrap();
    run(&mut kafka, false);
    run(&mut kafka, true);
}
