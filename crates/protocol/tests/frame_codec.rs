//! Request encoding, stream splitting and correlation ids, checked against bytes written out by
//! hand from the protocol guide.
#![allow(clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};
use purekafka_protocol::frame::{
    CodecErrorKind, FrameDecoder, FrameError, KafkaRequest, encode_request, response_correlation_id,
};
use purekafka_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, ProduceRequest,
};
use purekafka_protocol::kafka_protocol::protocol::StrBytes;

#[test]
fn api_versions_v3_uses_header_v2_and_compact_body() {
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("purekafka"))
        .with_client_software_version(StrBytes::from_static_str("0.1"));
    let mut buf = BytesMut::new();
    encode_request(&mut buf, 3, 7, Some("pk"), &body).unwrap();
    let mut expected: Vec<u8> = vec![
        0, 18, // api key
        0, 3, // api version
        0, 0, 0, 7, // correlation id
        0, 2, b'p', b'k', // client id: always a classic (non-compact) nullable string
        0,    // header tagged fields (header v2)
        10,   // compact string length + 1
    ];
    expected.extend_from_slice(b"purekafka");
    expected.push(4);
    expected.extend_from_slice(b"0.1");
    expected.push(0); // body tagged fields
    let mut framed = (expected.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&expected);
    assert_eq!(&buf[..], &framed[..]);
}

#[test]
fn produce_v3_uses_header_v1_and_appends_after_existing_bytes() {
    let body = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000);
    let mut buf = BytesMut::new();
    buf.put_slice(b"xyz");
    encode_request(&mut buf, 3, -5, None, &body).unwrap();
    assert_eq!(&buf[..3], b"xyz");
    let frame = &buf[3..];
    let expected: &[u8] = &[
        0, 0, // api key Produce
        0, 3, // version
        0xff, 0xff, 0xff, 0xfb, // correlation id -5
        0xff, 0xff, // null client id, no tagged fields in header v1
        0xff, 0xff, // null transactional id
        0xff, 0xff, // acks -1
        0, 0, 0x75, 0x30, // timeout 30000
        0, 0, 0, 0, // no topics
    ];
    assert_eq!(&frame[..4], &(expected.len() as i32).to_be_bytes());
    assert_eq!(&frame[4..], expected);
}

#[test]
fn unsupported_version_is_refused_and_leaves_the_buffer_alone() {
    let mut buf = BytesMut::from(&b"keep"[..]);
    let err = encode_request(&mut buf, 2, 1, None, &ProduceRequest::default()).unwrap_err();
    assert_eq!(err.api_key, ApiKey::Produce);
    assert_eq!(err.version, 2);
    assert_eq!(
        err.kind,
        CodecErrorKind::UnsupportedVersion { min: 3, max: 13 }
    );
    assert_eq!(&buf[..], b"keep");
}

#[test]
fn encoder_error_truncates_back() {
    // Metadata v3 cannot carry the v4+ allow_auto_topic_creation=false: kafka-protocol bails
    // mid-encode, after the header is written.
    let body = MetadataRequest::default().with_allow_auto_topic_creation(false);
    let mut buf = BytesMut::from(&b"keep"[..]);
    let err = encode_request(&mut buf, 3, 1, Some("c"), &body).unwrap_err();
    assert!(matches!(err.kind, CodecErrorKind::Protocol(_)), "{err}");
    assert_eq!(&buf[..], b"keep");
    assert_eq!(<MetadataRequest as KafkaRequest>::API_KEY, ApiKey::Metadata);
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

#[test]
fn decoder_returns_whole_frames_in_order_and_waits_for_the_rest() {
    let mut stream = framed(b"first");
    stream.extend(framed(b""));
    stream.extend(framed(b"third frame"));
    let mut dec = FrameDecoder::new(64);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    // Feed one byte at a time: every prefix of the stream must be handled.
    for b in stream {
        buf.put_u8(b);
        while let Some(frame) = dec.decode(&mut buf).unwrap() {
            got.push(frame);
        }
    }
    assert_eq!(
        got,
        vec![
            Bytes::from_static(b"first"),
            Bytes::new(),
            Bytes::from_static(b"third frame")
        ]
    );
    assert!(buf.is_empty());
}

#[test]
fn decoder_splits_without_copying() {
    let mut buf = BytesMut::from(&framed(b"payload-bytes")[..]);
    let base = buf.as_ptr();
    let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.as_ptr(), base.wrapping_add(4));
}

#[test]
fn decoder_rejects_negative_and_oversized_prefixes_before_the_body_arrives() {
    let mut dec = FrameDecoder::new(1000);
    let mut buf = BytesMut::from(&(-2i32).to_be_bytes()[..]);
    assert_eq!(dec.decode(&mut buf), Err(FrameError::NegativeSize(-2)));
    let mut buf = BytesMut::from(&1001i32.to_be_bytes()[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(FrameError::TooLarge {
            size: 1001,
            max: 1000
        })
    );
    let mut buf = BytesMut::from(&1000i32.to_be_bytes()[..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 4, "an incomplete frame is left in place");
}

#[test]
fn correlation_id_is_the_first_four_bytes() {
    assert_eq!(response_correlation_id(&[0, 0, 1, 2, 9]), Ok(258));
    assert_eq!(response_correlation_id(&[0xff; 4]), Ok(-1));
    assert_eq!(
        response_correlation_id(&[0, 0, 1]),
        Err(FrameError::TooShort(3))
    );
}

/// The hand-written request header must equal kafka-protocol's `RequestHeader` encoding.
fn same_as_kafka_protocol<R: KafkaRequest + Default>(client_id: Option<&str>) {
    use purekafka_protocol::kafka_protocol::messages::RequestHeader;
    use purekafka_protocol::kafka_protocol::protocol::Encodable;
    let mut compared = 0;
    for version in R::VERSIONS.min..=R::VERSIONS.max {
        let body = R::default();
        let mut ours = BytesMut::new();
        if encode_request(&mut ours, version, 99, client_id, &body).is_err() {
            // The default body is not encodable at every version (e.g. a non-nullable array).
            continue;
        }
        let mut theirs = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::API_KEY as i16)
            .with_request_api_version(version)
            .with_correlation_id(99)
            .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_owned())))
            .encode(&mut theirs, R::API_KEY.request_header_version(version))
            .unwrap();
        body.encode(&mut theirs, version).unwrap();
        assert_eq!(&ours[4..], &theirs[..], "{:?} v{version}", R::API_KEY);
        assert_eq!(&ours[..4], &(theirs.len() as i32).to_be_bytes());
        compared += 1;
    }
    assert!(compared > 0, "{:?}: no version compared", R::API_KEY);
}

#[test]
fn request_headers_match_kafka_protocol_for_every_version() {
    use purekafka_protocol::kafka_protocol::messages::{
        AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest,
        InitProducerIdRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
        TxnOffsetCommitRequest,
    };
    for id in [None, Some(""), Some("rdkafka-compatible client id")] {
        same_as_kafka_protocol::<ProduceRequest>(id);
        same_as_kafka_protocol::<MetadataRequest>(id);
        same_as_kafka_protocol::<ApiVersionsRequest>(id);
        same_as_kafka_protocol::<InitProducerIdRequest>(id);
        same_as_kafka_protocol::<FindCoordinatorRequest>(id);
        same_as_kafka_protocol::<AddPartitionsToTxnRequest>(id);
        same_as_kafka_protocol::<AddOffsetsToTxnRequest>(id);
        same_as_kafka_protocol::<EndTxnRequest>(id);
        same_as_kafka_protocol::<TxnOffsetCommitRequest>(id);
        same_as_kafka_protocol::<SaslHandshakeRequest>(id);
        same_as_kafka_protocol::<SaslAuthenticateRequest>(id);
    }
}

#[test]
fn oversized_client_id_is_an_error() {
    let long = "x".repeat(40_000);
    let mut buf = BytesMut::new();
    let err = encode_request(&mut buf, 9, 1, Some(&long), &ProduceRequest::default()).unwrap_err();
    assert!(matches!(err.kind, CodecErrorKind::Protocol(_)));
    assert!(buf.is_empty());
}

proptest::proptest! {
    /// However the stream is cut into reads, the same frames come out, in order.
    #[test]
    fn decoder_is_independent_of_read_boundaries(
        frames in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..12),
        cuts in proptest::collection::vec(1usize..64, 1..200),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(|f| framed(f)).collect();
        let mut dec = FrameDecoder::new(300);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - pos);
            buf.extend_from_slice(&stream[pos..pos + n]);
            pos += n;
            i += 1;
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f.to_vec());
            }
        }
        proptest::prop_assert_eq!(got, frames);
        proptest::prop_assert!(buf.is_empty());
    }
}
