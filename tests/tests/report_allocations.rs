//! Serving delivery reports allocates per batch, never per record: a callback's message
//! lends its key, value and headers out of the batch's own bytes. Counted with
//! `stats_alloc` (its `unsafe` lives in the dependency) against the in-process sink broker,
//! which acknowledges at once; the broker's own allocations are counted too, and are per
//! request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use purekafka::message::{Header, Headers, Message, OwnedHeaders};
use purekafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use purekafka::{ClientConfig, ClientContext};
use purekafka_testkit::sink::{SinkBroker, SinkOptions};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RECORDS: usize = 20_000;

/// Checks every report's headers and counts them.
#[derive(Default)]
struct Checker {
    delivered: AtomicUsize,
    header_bytes: AtomicUsize,
}

impl ClientContext for Checker {}

impl ProducerContext for Checker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, i: usize) {
        let m = result.as_ref().expect("the sink acknowledges every record");
        let h = m.headers().expect("every record was sent with headers");
        assert_eq!(h.count(), 3);
        let first = h.get(0);
        assert_eq!(first.key, "trace-id");
        // Formatted on the stack: the callback itself must not allocate.
        let mut want = [0u8; 8];
        write!(&mut want[..], "{i:08}").unwrap();
        assert_eq!(first.value, Some(&want[..]));
        assert_eq!(h.get(1).value, None::<&[u8]>);
        assert_eq!(h.get(2).key, "");
        assert_eq!(m.payload(), Some(&b"value"[..]));
        let bytes: usize = h
            .iter()
            .map(|x| x.key.len() + x.value.map_or(0, <[u8]>::len))
            .sum();
        self.header_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn serving_reports_with_headers_allocates_per_batch_not_per_record() {
    let sink = SinkBroker::start(SinkOptions::default()).unwrap();
    let p: BaseProducer<Checker> = ClientConfig::new()
        .set("bootstrap.servers", sink.bootstrap())
        .set("linger.ms", "5")
        .create_with_context(Checker::default())
        .unwrap();
    for i in 0..RECORDS {
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: "trace-id",
                value: Some(format!("{i:08}").as_bytes()),
            })
            .insert(Header {
                key: "null-value",
                value: None::<&[u8]>,
            })
            .insert(Header {
                key: "",
                value: Some(&b"x"[..]),
            });
        let rec = BaseRecord::<[u8], [u8], usize>::with_opaque_to("t", i)
            .payload(&b"value"[..])
            .headers(headers);
        if let Err((e, _)) = p.send(rec) {
            panic!("send {i} failed: {e}");
        }
    }
    // Every report is served inside this flush, on this thread.
    let region = Region::new(GLOBAL);
    p.flush(Duration::from_secs(30)).unwrap();
    let change = region.change();
    let ctx = p.context();
    assert_eq!(ctx.delivered.load(Ordering::Relaxed), RECORDS);
    assert_eq!(
        ctx.header_bytes.load(Ordering::Relaxed),
        RECORDS * (8 + 8 + 10 + 1)
    );
    // Before reports lent their headers, each record's callback cost an allocation of its
    // own (20 000 here); what is left is per request and per batch.
    assert!(
        change.allocations < RECORDS / 20,
        "{} allocations while serving {RECORDS} reports",
        change.allocations
    );
}
