//! Hostile and damaged input for the RecordBatch reader: typed errors, never panics.
#![allow(clippy::unwrap_used, missing_docs)]

use proptest::prelude::*;
use purekafka_protocol::batch::{
    BatchError, DecodeLimits, HEADER_LEN, RecordBatchWriter, RecordHeader, SealOptions,
    decode_batches,
};
use purekafka_protocol::compression::{Compression, CompressionError};
use purekafka_protocol::varint::VarintError;

fn small_batch(codec: Compression) -> Vec<u8> {
    let mut w = RecordBatchWriter::new();
    let h = [
        RecordHeader {
            key: "trace",
            value: Some(b"abc"),
        },
        RecordHeader {
            key: "n",
            value: None,
        },
    ];
    w.append(1_000, Some(b"k1"), Some(b"value value value value"), &h);
    w.append(1_005, None, Some(b""), &[]);
    w.append(999, Some(b""), None, &h[..1]);
    let s = w
        .seal(&SealOptions {
            compression: codec,
            ..SealOptions::default()
        })
        .unwrap();
    s.bytes().to_vec()
}

/// An uncompressed batch with the records section replaced and header fields patched, CRC fixed.
fn with_records(records: &[u8], record_count: i32, last_offset_delta: i32) -> Vec<u8> {
    let mut b = small_batch(Compression::None);
    b.truncate(HEADER_LEN);
    b.extend_from_slice(records);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
    b[57..61].copy_from_slice(&record_count.to_be_bytes());
    fix_crc(&mut b);
    b
}

fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn first(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<purekafka_protocol::batch::DecodedBatch, BatchError> {
    decode_batches(bytes, limits).next().unwrap()
}

fn codecs() -> Vec<Compression> {
    Compression::ALL
        .into_iter()
        .filter(|c| c.is_enabled())
        .collect()
}

#[test]
fn every_single_byte_flip_is_detected_or_harmless() {
    for codec in codecs() {
        let good = small_batch(codec);
        let reference = first(&good, &DecodeLimits::default()).unwrap();
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                // With the CRC checked, only the unprotected prefix can change the outcome
                // without an error.
                match first(&bad, &DecodeLimits::default()) {
                    Err(_) => {}
                    Ok(b) => {
                        assert!(
                            i < 21,
                            "{codec}: flip at {i} not covered by the CRC went unnoticed"
                        );
                        assert_eq!(b.records, reference.records);
                    }
                }
                // Without the CRC the decoder sees the damage itself and still must not panic.
                let mut no_crc = DecodeLimits {
                    verify_crc: false,
                    ..DecodeLimits::default()
                };
                let _ = first(&bad, &no_crc);
                no_crc.strict_offset_deltas = false;
                no_crc.allow_truncated_tail = true;
                let _ = decode_batches(&bad, &no_crc).count();
                // And with a CRC that matches the damaged bytes.
                let mut refixed = bad.clone();
                if refixed.len() > 21 {
                    fix_crc(&mut refixed);
                }
                let _ = first(&refixed, &DecodeLimits::default());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400), codec_bits in 0u16..8) {
        // A valid-looking header (magic 2, right length, right CRC) followed by garbage, so the
        // fuzzing reaches the record and codec parsers.
        let mut b = with_records(&tail, 3, 2);
        b[21..23].copy_from_slice(&(codec_bits as i16).to_be_bytes());
        fix_crc(&mut b);
        let _ = decode_batches(&b, &DecodeLimits::default()).count();
        let _ = decode_batches(&b, &DecodeLimits { strict_offset_deltas: false, ..DecodeLimits::default() }).count();
        let _ = decode_batches(&tail, &DecodeLimits::default()).count();
    }

    #[test]
    fn decompressors_never_panic_and_respect_the_limit(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        prefix in 0usize..4,
        limit in 0usize..5000,
    ) {
        // Prefixes that get random bytes past each codec's magic check.
        let heads: [&[u8]; 4] = [
            b"",
            b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01",
            &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82],
            &[0x28, 0xB5, 0x2F, 0xFD],
        ];
        let mut input = heads[prefix].to_vec();
        input.extend_from_slice(&body);
        for codec in codecs() {
            if let Ok(out) = purekafka_protocol::compression::decompress(codec, &input, limit) {
                prop_assert!(out.len() <= limit, "{codec}: {} > {limit}", out.len());
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error(cut in 1usize..200) {
        let good = small_batch(Compression::None);
        let cut = cut.min(good.len() - 1);
        let r = first(&good[..cut], &DecodeLimits::default());
        let is_truncated = matches!(r, Err(BatchError::Truncated { at: 0, .. }));
        prop_assert!(is_truncated);
        // Tolerated as a trailing partial batch when asked for.
        let tolerant = DecodeLimits { allow_truncated_tail: true, ..DecodeLimits::default() };
        let mut two = good.clone();
        two.extend_from_slice(&good[..cut]);
        let mut it = decode_batches(&two, &tolerant);
        prop_assert!(it.next().unwrap().is_ok());
        prop_assert!(it.next().is_none());
        prop_assert_eq!(it.remaining(), &good[..cut]);
    }
}

#[test]
fn wrong_crc() {
    let mut b = small_batch(Compression::None);
    b[17] ^= 0x55;
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::CrcMismatch { at: 0, .. })
    ));
    let ok = first(
        &b,
        &DecodeLimits {
            verify_crc: false,
            ..DecodeLimits::default()
        },
    );
    assert_eq!(ok.unwrap().records.len(), 3);
}

#[test]
fn error_offsets_point_at_the_failing_batch() {
    let good = small_batch(Compression::None);
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let at = good.len();
    two[at + 30] ^= 1;
    let results: Vec<_> = decode_batches(&two, &DecodeLimits::default()).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(BatchError::CrcMismatch { at: a, .. }) if a == at));
}

#[test]
fn negative_and_oversized_lengths() {
    let good = small_batch(Compression::None);
    for len in [-1i32, 0, 48, i32::MIN] {
        let mut b = good.clone();
        b[8..12].copy_from_slice(&len.to_be_bytes());
        assert!(
            matches!(
                first(&b, &DecodeLimits::default()),
                Err(BatchError::InvalidLength {
                    field: "batchLength",
                    ..
                })
            ),
            "batchLength {len}"
        );
    }
    let mut b = good.clone();
    b[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::Truncated { field: "batch", .. })
    ));

    // Negative recordCount.
    let b = with_records(&good[HEADER_LEN..], -5, 2);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::InvalidLength {
            field: "recordCount",
            ..
        })
    ));
    // A huge recordCount with few bytes must fail without reserving for the declared count.
    let b = with_records(&good[HEADER_LEN..], i32::MAX, i32::MAX - 1);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordCount {
            declared: i32::MAX,
            found: 3,
            ..
        })
    ));
    // A record whose length runs past the section.
    let mut rec = Vec::new();
    purekafka_protocol::varint::put_varint(&mut rec, 1000);
    rec.extend_from_slice(&[0; 10]);
    let b = with_records(&rec, 1, 0);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordField {
            field: "length",
            ..
        })
    ));
    // A negative key length other than -1.
    let rec = [12u8, 0, 0, 0, 0x03, 0, 0, 0];
    let b = with_records(&rec[..7], 1, 0);
    assert!(first(&b, &DecodeLimits::default()).is_err());
    // Declared key length larger than the record.
    let rec = [0x0C, 0, 0, 0, 0x7E, 0, 0];
    let b = with_records(&rec, 1, 0);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordField { field: "key", .. }
            | BatchError::RecordField {
                field: "length",
                ..
            })
    ));
    // Negative header count.
    let rec = [0x0C, 0, 0, 0, 0x01, 0x01, 0x01];
    let b = with_records(&rec, 1, 0);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordField {
            field: "headerCount",
            ..
        })
    ));
}

#[test]
fn unknown_codec_bits() {
    let mut b = small_batch(Compression::None);
    for bits in 5i16..8 {
        b[21..23].copy_from_slice(&bits.to_be_bytes());
        fix_crc(&mut b);
        assert!(matches!(
            first(&b, &DecodeLimits::default()),
            Err(BatchError::Compression {
                codec: None,
                source: CompressionError::UnknownCodec { .. },
                ..
            })
        ));
    }
}

#[test]
fn unsupported_magic() {
    let mut b = small_batch(Compression::None);
    b[16] = 1;
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::UnsupportedMagic { magic: 1, .. })
    ));
}

#[test]
fn varint_overflow_in_a_record() {
    // Record length itself overflows (six continuation bytes).
    let rec = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0];
    let b = with_records(&rec, 1, 0);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::Varint {
            field: "length",
            source: VarintError::Overflow { bits: 32 },
            ..
        })
    ));
    // offsetDelta overflows inside a record of plausible length.
    let rec = [0x12, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0];
    let b = with_records(&rec, 1, 0);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::Varint {
            field: "offsetDelta",
            source: VarintError::Overflow { .. },
            ..
        })
    ));
}

#[test]
fn last_offset_delta_must_agree_with_the_record_count() {
    let good = small_batch(Compression::None);
    let b = with_records(&good[HEADER_LEN..], 3, 5);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::OffsetDelta {
            last_offset_delta: 5,
            record_count: 3,
            ..
        })
    ));
    // Compacted segments may have gaps: accepted when not strict.
    let lenient = DecodeLimits {
        strict_offset_deltas: false,
        ..DecodeLimits::default()
    };
    assert_eq!(first(&b, &lenient).unwrap().records.len(), 3);
    // Even lenient, records may not claim offsets beyond lastOffsetDelta.
    let b = with_records(&good[HEADER_LEN..], 3, 1);
    assert!(matches!(
        first(&b, &lenient),
        Err(BatchError::OffsetDelta {
            record: 2,
            offset_delta: 2,
            ..
        })
    ));
    // Fewer records than declared.
    let b = with_records(&good[HEADER_LEN..], 4, 3);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordCount {
            declared: 4,
            found: 3,
            ..
        })
    ));
    // More bytes than the declared records.
    let b = with_records(&good[HEADER_LEN..], 2, 1);
    assert!(matches!(
        first(&b, &DecodeLimits::default()),
        Err(BatchError::RecordCount {
            declared: 2,
            found: 2,
            ..
        })
    ));
}

#[test]
fn decompression_is_capped() {
    let mut w = RecordBatchWriter::new();
    let zeros = vec![0u8; 200_000];
    w.append(0, None, Some(&zeros), &[]);
    for codec in codecs().into_iter().filter(|c| *c != Compression::None) {
        let s = w
            .seal(&SealOptions {
                compression: codec,
                ..SealOptions::default()
            })
            .unwrap();
        assert!(s.len() < 20_000, "{codec} compresses zeros");
        let tight = DecodeLimits {
            max_decompressed_bytes: 100_000,
            ..DecodeLimits::default()
        };
        assert!(
            matches!(
                first(s.bytes(), &tight),
                Err(BatchError::Compression {
                    source: CompressionError::OutputLimit { limit: 100_000, .. },
                    ..
                })
            ),
            "{codec}"
        );
        assert!(first(s.bytes(), &DecodeLimits::default()).is_ok());
    }
}

#[test]
fn corrupt_compressed_section_is_a_typed_error() {
    for codec in codecs().into_iter().filter(|c| *c != Compression::None) {
        let mut b = small_batch(codec);
        for byte in &mut b[HEADER_LEN..] {
            *byte = byte.wrapping_mul(31).wrapping_add(7);
        }
        fix_crc(&mut b);
        let r = first(&b, &DecodeLimits::default());
        assert!(r.is_err(), "{codec}: scrambled section decoded");
    }
}
