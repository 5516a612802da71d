//! The drop-in program (`tests/dropin`, written only against rdkafka's API with purekafka
//! renamed to `rdkafka`) against the test broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use purekafka_testkit::broker::Kafka;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_program_runs_unchanged() {
    let kafka = Kafka::shared().unwrap();
    let topic = kafka.unique_topic("dropin", 2).unwrap();
    if let Err(e) = dropin_example::run(&kafka.bootstrap(), &topic).await {
        panic!("drop-in program failed: {e}");
    }
}
