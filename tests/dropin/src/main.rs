//! Produces to Kafka with code written only against rust-rdkafka 0.39's producer API (see
//! the library). Exits non-zero on any failure.
//!
//! `cargo run -p dropin-example [host:port]`: uses the argument or `KAFKA_BOOTSTRAP`, or else
//! starts a local broker with purekafka's testkit.

use dropin_example::{Failure, run};

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let bootstrap = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("KAFKA_BOOTSTRAP").ok())
        .filter(|b| !b.trim().is_empty());
    let kafka = match bootstrap {
        Some(b) => purekafka_testkit::broker::Kafka::external(b.trim())?,
        None => purekafka_testkit::broker::Kafka::start(Default::default())?,
    };
    let topic = kafka.unique_topic("dropin", 2)?;
    let bootstrap = kafka.bootstrap();
    run(&bootstrap, &topic).await?;
    println!("drop-in example: all checks passed");
    Ok(())
}
