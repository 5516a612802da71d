//! RecordBatch v2 writer and reader costs: append + seal of 1000 records with 100-byte values,
//! keyed (16-byte keys) and keyless, per codec; and decoding the same batches.
//!
//! Throughput is in elements (records), so criterion reports time per batch of 1000 records and
//! records/s; divide the batch time by 1000 for ns/record.
// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use purekafka_protocol::batch::{DecodeLimits, RecordBatchWriter, SealOptions, decode_batches};
use purekafka_protocol::compression::Compression;

const RECORDS: usize = 1000;
const VALUE_LEN: usize = 100;

/// JSON-like 100-byte values that differ per record, so codecs see realistic (about 2x)
/// redundancy rather than identical records.
fn values() -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..RECORDS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut v = format!(
                "{{\"id\":{i},\"user\":\"u{:08x}\",\"amount\":{}.{:02},\"status\":\"ok\",\"tag\":\"",
                x as u32,
                (x >> 32) % 10_000,
                (x >> 48) % 100
            )
            .into_bytes();
            while v.len() < VALUE_LEN - 2 {
                v.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[(x as usize + v.len()) % 36]);
            }
            v.extend_from_slice(b"\"}");
            v.truncate(VALUE_LEN);
            v
        })
        .collect()
}

fn keys() -> Vec<[u8; 16]> {
    (0..RECORDS)
        .map(|i| {
            let mut k = [b'0'; 16];
            k[..4].copy_from_slice(b"key-");
            let digits = format!("{i:012}");
            k[4..].copy_from_slice(digits.as_bytes());
            k
        })
        .collect()
}

fn fill(w: &mut RecordBatchWriter, values: &[Vec<u8>], keys: Option<&[[u8; 16]]>) {
    w.clear();
    for (i, v) in values.iter().enumerate() {
        let key = keys.map(|k| &k[i][..]);
        black_box(w.append(1_700_000_000_000 + i as i64, key, Some(v), &[]));
    }
}

const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Lz4,
    Compression::Snappy,
    Compression::Zstd,
];

fn append_seal(c: &mut Criterion) {
    let values = values();
    let keys = keys();
    let mut g = c.benchmark_group("append_seal_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for keyed in [false, true] {
        let k = keyed.then_some(&keys[..]);
        let label = if keyed { "key16" } else { "keyless" };
        // Append alone (no seal) to separate encoding from compression + CRC.
        g.bench_function(BenchmarkId::new("append_only", label), |b| {
            let mut w = RecordBatchWriter::with_capacity(128 << 10);
            b.iter(|| {
                fill(&mut w, &values, k);
                black_box(w.records_bytes().len())
            });
        });
        for codec in CODECS {
            let opts = SealOptions {
                compression: codec,
                ..SealOptions::default()
            };
            g.bench_function(BenchmarkId::new(codec.name(), label), |b| {
                let mut w = RecordBatchWriter::with_capacity(128 << 10);
                b.iter(|| {
                    fill(&mut w, &values, k);
                    black_box(w.seal(&opts).map(|s| s.len()).unwrap_or(0))
                });
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("restamp_1000x100B");
    let mut w = RecordBatchWriter::new();
    fill(&mut w, &values, Some(&keys));
    if let Ok(mut sealed) = w.seal(&SealOptions {
        compression: Compression::Lz4,
        ..SealOptions::default()
    }) {
        let mut epoch = 0i16;
        g.bench_function("lz4", |b| {
            b.iter(|| {
                epoch = epoch.wrapping_add(1);
                sealed.restamp(42, epoch, 0, false);
                black_box(sealed.crc())
            });
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let values = values();
    let keys = keys();
    let mut g = c.benchmark_group("decode_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    let limits = DecodeLimits::default();
    for codec in CODECS {
        let mut w = RecordBatchWriter::new();
        fill(&mut w, &values, Some(&keys));
        let Ok(sealed) = w.seal(&SealOptions {
            compression: codec,
            ..SealOptions::default()
        }) else {
            continue;
        };
        let bytes = sealed.bytes().clone();
        g.bench_function(BenchmarkId::new(codec.name(), "key16"), |b| {
            b.iter(|| {
                let n: usize = decode_batches(&bytes, &limits)
                    .map(|r| r.map(|b| b.records.len()).unwrap_or(0))
                    .sum();
                black_box(n)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, append_seal, decode);
criterion_main!(benches);
