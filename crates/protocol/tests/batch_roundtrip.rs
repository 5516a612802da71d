//! Round trips of the RecordBatch v2 writer through our reader and through kafka-protocol's
//! decoder (an independent implementation used as an oracle).
#![allow(clippy::unwrap_used, missing_docs)]

use bytes::Bytes;
use proptest::prelude::*;
use purekafka_protocol::batch::{
    AppendedRecord, BatchError, DecodeLimits, DecodedBatch, HEADER_LEN, RecordBatchWriter,
    RecordHeader, SealOptions, decode_batches,
};
use purekafka_protocol::compression::{self, Compression};
use purekafka_protocol::varint;

#[derive(Debug, Clone)]
struct Rec {
    ts: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn append(w: &mut RecordBatchWriter, r: &Rec) -> AppendedRecord {
    let headers: Vec<RecordHeader<'_>> = r
        .headers
        .iter()
        .map(|(k, v)| RecordHeader {
            key: k,
            value: v.as_deref(),
        })
        .collect();
    let predicted = w.record_size(r.ts, r.key.as_deref(), r.value.as_deref(), &headers);
    let before = w.records_bytes().len();
    let at = w.append(r.ts, r.key.as_deref(), r.value.as_deref(), &headers);
    assert_eq!(
        w.records_bytes().len() - before,
        predicted,
        "record_size is exact"
    );
    assert_eq!(at.range, before..w.records_bytes().len());
    at
}

fn enabled_codecs() -> Vec<Compression> {
    Compression::ALL
        .into_iter()
        .filter(|c| c.is_enabled())
        .collect()
}

fn decode_one(bytes: &[u8]) -> DecodedBatch {
    let mut it = decode_batches(bytes, &DecodeLimits::default());
    let b = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    b
}

fn check_batch(b: &DecodedBatch, recs: &[Rec], opts: &SealOptions) {
    assert_eq!(b.magic, 2);
    assert_eq!(b.base_offset, 0);
    assert_eq!(b.partition_leader_epoch, -1);
    assert_eq!(b.producer_id, opts.producer_id);
    assert_eq!(b.producer_epoch, opts.producer_epoch);
    assert_eq!(b.base_sequence, opts.base_sequence);
    assert_eq!(b.transactional, opts.transactional);
    assert!(!b.control && !b.log_append_time);
    assert_eq!(b.last_offset_delta, recs.len() as i32 - 1);
    assert_eq!(b.base_timestamp, recs[0].ts);
    assert_eq!(b.max_timestamp, recs.iter().map(|r| r.ts).max().unwrap());
    assert_eq!(b.records.len(), recs.len());
    for (i, (d, r)) in b.records.iter().zip(recs).enumerate() {
        assert_eq!(d.offset_delta, i as i32);
        assert_eq!(b.timestamp_of(d), r.ts);
        assert_eq!(b.offset_of(d), i as i64);
        assert_eq!(d.key, r.key);
        assert_eq!(d.value, r.value);
        assert_eq!(d.headers, r.headers);
    }
}

fn arb_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Some),
    ]
}

fn arb_rec() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![any::<i64>(), 1_700_000_000_000i64..1_700_000_100_000],
        arb_bytes(),
        arb_bytes(),
        proptest::collection::vec(("[a-zé]{0,8}", arb_bytes()), 0..4),
    )
        .prop_map(|(ts, key, value, headers)| Rec {
            ts,
            key,
            value,
            headers,
        })
}

fn arb_opts() -> impl Strategy<Value = SealOptions> {
    (
        proptest::sample::select(enabled_codecs()),
        -1i32..10,
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                compression,
                compression_level,
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
            )| {
                SealOptions {
                    compression,
                    compression_level,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    transactional,
                    defer_crc: false,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn varint_round_trip(v in any::<i32>(), l in any::<i64>(), u in any::<u64>()) {
        let mut buf = Vec::new();
        varint::put_varint(&mut buf, v);
        prop_assert_eq!(buf.len(), varint::varint_len(i64::from(v)));
        varint::put_varlong(&mut buf, l);
        varint::put_uvarint(&mut buf, u);
        prop_assert_eq!(buf.len(), varint::varint_len(i64::from(v)) + varint::varint_len(l) + varint::uvarint_len(u));
        let mut s = &buf[..];
        prop_assert_eq!(varint::get_varint(&mut s).unwrap(), v);
        prop_assert_eq!(varint::get_varlong(&mut s).unwrap(), l);
        prop_assert_eq!(varint::get_uvarint(&mut s).unwrap(), u);
        prop_assert!(s.is_empty());
    }

    #[test]
    fn varint_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
        let mut s = &bytes[..];
        if let Ok(v) = varint::get_varint(&mut s) {
            // Non-canonical encodings (e.g. 0x80 0x00) are accepted, as by Kafka, but never
            // longer than 5 bytes, and the value survives a re-encode.
            prop_assert!(bytes.len() - s.len() <= varint::MAX_VARINT_LEN);
            let mut re = Vec::new();
            varint::put_varint(&mut re, v);
            prop_assert!(re.len() <= bytes.len() - s.len());
            prop_assert_eq!(varint::get_varint(&mut &re[..]).unwrap(), v);
        }
        let mut s = &bytes[..];
        let _ = varint::get_varlong(&mut s);
    }

    #[test]
    fn batches_round_trip(recs in proptest::collection::vec(arb_rec(), 1..20), opts in arb_opts()) {
        let mut w = RecordBatchWriter::new();
        let spots: Vec<AppendedRecord> = recs.iter().map(|r| append(&mut w, r)).collect();
        for (spot, r) in spots.iter().zip(&recs) {
            prop_assert_eq!(spot.key.clone().map(|k| w.records_bytes()[k].to_vec()), r.key.clone());
            prop_assert_eq!(spot.value.clone().map(|v| w.records_bytes()[v].to_vec()), r.value.clone());
        }
        prop_assert_eq!(w.size_in_bytes(), HEADER_LEN + w.records_bytes().len());
        let sealed = w.seal(&opts).unwrap();
        prop_assert_eq!(sealed.record_count(), recs.len() as i32);
        prop_assert_eq!(sealed.len(), sealed.bytes().len());
        let b = decode_one(sealed.bytes());
        prop_assert_eq!(b.compression, sealed.compression());
        prop_assert!(sealed.compression() == opts.compression || sealed.compression() == Compression::None);
        check_batch(&b, &recs, &opts);
        prop_assert_eq!(b.crc, sealed.crc());
    }

    #[test]
    fn restamp_equals_sealing_with_the_new_fields(
        recs in proptest::collection::vec(arb_rec(), 1..8),
        opts in arb_opts(),
        new in (any::<i64>(), any::<i16>(), any::<i32>(), any::<bool>()),
        keep_clone in any::<bool>(),
    ) {
        let mut w = RecordBatchWriter::new();
        for r in &recs { append(&mut w, r); }
        let mut sealed = w.seal(&opts).unwrap();
        let old = sealed.clone();
        if !keep_clone { drop(old.clone()); }
        sealed.restamp(new.0, new.1, new.2, new.3);
        let fresh = w.seal(&SealOptions {
            producer_id: new.0, producer_epoch: new.1, base_sequence: new.2, transactional: new.3, ..opts
        }).unwrap();
        // Codecs are deterministic, so a restamped batch is byte-identical to a fresh seal.
        prop_assert_eq!(sealed.bytes(), fresh.bytes());
        prop_assert_eq!(sealed.producer_id(), new.0);
        prop_assert_eq!(sealed.producer_epoch(), new.1);
        prop_assert_eq!(sealed.base_sequence(), new.2);
        prop_assert_eq!(sealed.is_transactional(), new.3);
        // The clone taken before the restamp still holds the old stamp.
        prop_assert_eq!(old.producer_id(), opts.producer_id);
        decode_one(sealed.bytes());
    }
}

fn sample_records(n: usize, keyed: bool) -> Vec<Rec> {
    (0..n)
        .map(|i| Rec {
            ts: 1_700_000_000_000 + (i as i64 % 7) * 3,
            key: keyed.then(|| format!("key-{i:012}").into_bytes()),
            value: Some(
                format!("{{\"id\":{i},\"payload\":\"{}\"}}", "x".repeat(i % 50)).into_bytes(),
            ),
            headers: if i % 3 == 0 {
                vec![("h1".into(), Some(b"v".to_vec())), ("h2".into(), None)]
            } else {
                vec![]
            },
        })
        .collect()
}

#[test]
fn kafka_protocol_decoder_agrees() {
    use kafka_protocol::records::{Compression as KpCompression, RecordBatchDecoder};
    for codec in enabled_codecs() {
        let recs = sample_records(300, true);
        let mut w = RecordBatchWriter::with_capacity(64 << 10);
        for r in &recs {
            append(&mut w, r);
        }
        let opts = SealOptions {
            compression: codec,
            producer_id: 4242,
            producer_epoch: 7,
            base_sequence: 100,
            transactional: true,
            ..SealOptions::default()
        };
        let sealed = w.seal(&opts).unwrap();
        assert_eq!(
            sealed.compression(),
            codec,
            "sample data compresses with {codec}"
        );
        let mut buf: Bytes = sealed.bytes().clone();
        let decompress = |b: &mut Bytes, c: KpCompression| {
            let ours = match c {
                KpCompression::None => Compression::None,
                KpCompression::Gzip => Compression::Gzip,
                KpCompression::Snappy => Compression::Snappy,
                KpCompression::Lz4 => Compression::Lz4,
                KpCompression::Zstd => Compression::Zstd,
            };
            Ok(Bytes::from(
                compression::decompress(ours, b, 1 << 24).unwrap(),
            ))
        };
        let set =
            RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(decompress)).unwrap();
        assert_eq!(set.version, 2);
        assert_eq!(set.records.len(), recs.len());
        for (i, (k, r)) in set.records.iter().zip(&recs).enumerate() {
            assert_eq!(k.offset, i as i64);
            assert_eq!(k.timestamp, r.ts);
            assert_eq!(k.producer_id, 4242);
            assert_eq!(k.producer_epoch, 7);
            assert_eq!(k.sequence, 100 + i as i32);
            assert!(k.transactional);
            assert_eq!(k.key.as_deref(), r.key.as_deref());
            assert_eq!(k.value.as_deref(), r.value.as_deref());
            let hs: Vec<(String, Option<Vec<u8>>)> = k
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                .collect();
            assert_eq!(hs, r.headers);
        }
    }
}

#[test]
fn uncompressed_batch_matches_kafka_protocol_encoder_bytes() {
    use indexmap_free::encode_with_kafka_protocol;
    let recs = sample_records(5, true);
    let mut w = RecordBatchWriter::new();
    for r in &recs {
        append(&mut w, r);
    }
    let opts = SealOptions {
        producer_id: 9,
        producer_epoch: 1,
        base_sequence: 0,
        ..SealOptions::default()
    };
    let ours = w.seal(&opts).unwrap();
    let theirs = encode_with_kafka_protocol(&recs, &opts);
    assert_eq!(&ours.bytes()[..], &theirs[..]);
}

/// kafka-protocol's encoder as a byte-level oracle for uncompressed batches.
mod indexmap_free {
    use super::Rec;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression as KpCompression, Record, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    use purekafka_protocol::batch::SealOptions;

    pub(super) fn encode_with_kafka_protocol(recs: &[Rec], opts: &SealOptions) -> BytesMut {
        let records: Vec<Record> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                transactional: opts.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: opts.producer_id,
                producer_epoch: opts.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: opts.base_sequence + i as i32,
                timestamp: r.ts,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone().map(Bytes::from)))
                    .collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: KpCompression::None,
            },
        )
        .unwrap();
        buf
    }
}

#[test]
fn seal_of_empty_writer_is_an_error_and_clear_reuses() {
    let mut w = RecordBatchWriter::with_capacity(4096);
    assert!(matches!(
        w.seal(&SealOptions::default()),
        Err(BatchError::Empty)
    ));
    let recs = sample_records(10, false);
    for r in &recs {
        append(&mut w, r);
    }
    assert_eq!(w.record_count(), 10);
    assert!(!w.is_empty());
    let cap_ptr = w.records_bytes().as_ptr();
    w.clear();
    assert!(w.is_empty() && w.records_bytes().is_empty());
    assert_eq!(w.base_timestamp(), None);
    // After clear the next record is the new base (timestampDelta 0).
    let later = Rec {
        ts: 5,
        key: None,
        value: None,
        headers: vec![],
    };
    let at = append(&mut w, &later);
    assert_eq!(at.offset_delta, 0);
    assert_eq!(w.records_bytes().as_ptr(), cap_ptr, "allocation kept");
    let b = decode_one(w.seal(&SealOptions::default()).unwrap().bytes());
    check_batch(&b, &[later], &SealOptions::default());
}

#[test]
fn incompressible_records_fall_back_to_uncompressed() {
    // Pseudo-random bytes do not compress; like librdkafka, the batch is sent uncompressed.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let value: Vec<u8> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut w = RecordBatchWriter::new();
    w.append(0, None, Some(&value), &[]);
    for codec in enabled_codecs() {
        let s = w
            .seal(&SealOptions {
                compression: codec,
                ..SealOptions::default()
            })
            .unwrap();
        assert_eq!(s.compression(), Compression::None, "{codec}");
        assert_eq!(s.len(), w.size_in_bytes());
        assert_eq!(
            decode_one(s.bytes()).records[0].value.as_deref(),
            Some(&value[..])
        );
    }
}

#[test]
fn several_batches_in_one_buffer_decode_in_order() {
    let mut all = Vec::new();
    for (i, codec) in enabled_codecs().into_iter().enumerate() {
        let mut w = RecordBatchWriter::new();
        for r in sample_records(20 + i, i % 2 == 0) {
            append(&mut w, &r);
        }
        all.extend_from_slice(
            w.seal(&SealOptions {
                compression: codec,
                ..SealOptions::default()
            })
            .unwrap()
            .bytes(),
        );
    }
    let batches: Vec<DecodedBatch> = decode_batches(&all, &DecodeLimits::default())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), enabled_codecs().len());
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.records.len(), 20 + i);
        assert_eq!(b.compression, enabled_codecs()[i]);
    }
}

fn kp_codec(c: Compression) -> kafka_protocol::records::Compression {
    use kafka_protocol::records::Compression as Kp;
    match c {
        Compression::None => Kp::None,
        Compression::Gzip => Kp::Gzip,
        Compression::Snappy => Kp::Snappy,
        Compression::Lz4 => Kp::Lz4,
        Compression::Zstd => Kp::Zstd,
    }
}

#[test]
fn kafka_protocol_codecs_read_ours_and_we_read_theirs() {
    use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
    // Enough data for several lz4 blocks (64 KiB) and snappy chunks (32 KiB).
    let recs = sample_records(3000, true);
    for codec in enabled_codecs() {
        // Ours, decoded by kafka-protocol's own decompressors (C liblz4 frame decoder, snap
        // with xerial framing, flate2, libzstd).
        let mut w = RecordBatchWriter::new();
        for r in &recs {
            append(&mut w, r);
        }
        let opts = SealOptions {
            compression: codec,
            ..SealOptions::default()
        };
        let sealed = w.seal(&opts).unwrap();
        assert_eq!(sealed.compression(), codec);
        let mut buf: Bytes = sealed.bytes().clone();
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert_eq!(set.compression, kp_codec(codec), "{codec}");
        assert_eq!(set.records.len(), recs.len());
        for (k, r) in set.records.iter().zip(&recs) {
            assert_eq!(k.timestamp, r.ts);
            assert_eq!(k.value.as_deref(), r.value.as_deref());
        }

        // Theirs (C lz4 encoder at level 4, snappy-java style xerial, ...), decoded by us.
        let mut theirs = bytes::BytesMut::new();
        let mut kp_records = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            kp_records.push(kafka_protocol::records::Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: kafka_protocol::records::TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: r.ts,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            kafka_protocol::protocol::StrBytes::from_string(k.clone()),
                            v.clone().map(Bytes::from),
                        )
                    })
                    .collect(),
            });
        }
        RecordBatchEncoder::encode(
            &mut theirs,
            &kp_records,
            &RecordEncodeOptions {
                version: 2,
                compression: kp_codec(codec),
            },
        )
        .unwrap();
        // kafka-protocol may split the records into several batches; check them in sequence.
        let batches: Vec<DecodedBatch> = decode_batches(&theirs, &DecodeLimits::default())
            .map(Result::unwrap)
            .collect();
        let mut seen = 0;
        for b in &batches {
            assert_eq!(b.compression, codec);
            for d in &b.records {
                let r = &recs[seen];
                assert_eq!(b.offset_of(d), seen as i64);
                assert_eq!(b.timestamp_of(d), r.ts);
                assert_eq!(
                    (&d.key, &d.value, &d.headers),
                    (&r.key, &r.value, &r.headers)
                );
                seen += 1;
            }
        }
        assert_eq!(seen, recs.len(), "{codec}: {} batches", batches.len());
    }
}
