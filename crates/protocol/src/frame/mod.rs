//! Request/response framing on top of the `kafka-protocol` crate.
//!
//! On the wire every request and response is `i32 size` + header + body. This module:
//!
//! - encodes a request (size prefix, request header v1 or v2, body) straight into the caller's
//!   [`BytesMut`]: the prefix is reserved, the message encoded after it and the size patched in
//!   place, so nothing is copied;
//! - splits a byte stream into whole frames ([`FrameDecoder`], zero-copy `split_to`), rejecting
//!   negative or over-limit sizes before anything is buffered for them;
//! - reads the correlation id of a response frame ([`response_correlation_id`]) so the caller can
//!   find the request it answers, then decodes the header and body for that request's api key
//!   and version ([`decode_response`]).
//!
//! # Hostile bytes
//!
//! `kafka-protocol` 0.18 decodes arrays with `Vec::with_capacity(declared_count)` (`Array`:
//! `i32` count, `CompactArray`: varint count up to `u32::MAX`) and some byte fields with
//! `vec![0; declared_len]` before checking that the input holds that much. A 20-byte frame
//! declaring 2^31 elements would ask for tens of GiB and abort the process. So before any body
//! reaches `kafka-protocol`, [`decode_response`] walks it with a bounds-only schema of that
//! response (module `guard`): every declared string, bytes and array length is checked against
//! the bytes remaining, and every element is walked, so the capacity `kafka-protocol` then
//! reserves equals the number of elements actually present (the schemas are checked against
//! `kafka-protocol`'s encoders at every supported version by `tests/frame_decode.rs`).
//! Responses without such a schema are refused ([`CodecErrorKind::NoBoundsSchema`]) rather
//! than decoded unchecked. The frame size itself is capped by
//! [`FrameDecoder::max_frame_size`]. Header tagged fields and unknown tagged fields are read
//! with `try_get_bytes` (checked) by `kafka-protocol` itself.
//!
//! Decoding never panics: truncated input, bad UTF-8, unknown versions and trailing bytes all
//! come back as [`CodecError`].

mod guard;
pub mod produce;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse, EndTxnRequest,
    EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message};

/// librdkafka's `receive.message.max.bytes` default: the largest response frame accepted.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100_000_000;

/// Size of the `i32` length prefix in front of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// A request message purekafka sends, tied to its api key and response type.
///
/// `kafka-protocol` only implements its own `Request` trait when both its `client` and
/// `broker` features are on; this trait gives the same link with `client` alone.
pub trait KafkaRequest: Encodable + Message + HeaderVersion {
    /// The api key this request is sent under.
    const API_KEY: ApiKey;
    /// The body type of the matching response.
    type Response: KafkaResponse;
}

/// A response message purekafka decodes, tied to its api key.
pub trait KafkaResponse: Decodable + Message {
    /// The api key of the request this answers.
    const API_KEY: ApiKey;
}

macro_rules! kafka_requests {
    ($($req:ident => $resp:ident, $key:ident;)*) => {$(
        impl KafkaRequest for $req {
            const API_KEY: ApiKey = ApiKey::$key;
            type Response = $resp;
        }
        impl KafkaResponse for $resp {
            const API_KEY: ApiKey = ApiKey::$key;
        }
    )*};
}

kafka_requests! {
    ProduceRequest => ProduceResponse, Produce;
    MetadataRequest => MetadataResponse, Metadata;
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    InitProducerIdRequest => InitProducerIdResponse, InitProducerId;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    AddPartitionsToTxnRequest => AddPartitionsToTxnResponse, AddPartitionsToTxn;
    AddOffsetsToTxnRequest => AddOffsetsToTxnResponse, AddOffsetsToTxn;
    EndTxnRequest => EndTxnResponse, EndTxn;
    TxnOffsetCommitRequest => TxnOffsetCommitResponse, TxnOffsetCommit;
    SaslHandshakeRequest => SaslHandshakeResponse, SaslHandshake;
    SaslAuthenticateRequest => SaslAuthenticateResponse, SaslAuthenticate;
}

/// Why a stream could not be split into frames, or a frame is too short to be a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("frame size prefix is negative ({0})")]
    NegativeSize(i32),
    /// The size prefix exceeds the configured maximum.
    #[error("frame of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Declared frame size.
        size: usize,
        /// Configured maximum ([`FrameDecoder::max_frame_size`]).
        max: usize,
    },
    /// A response frame shorter than its 4-byte correlation id.
    #[error("response frame of {0} bytes has no room for a correlation id")]
    TooShort(usize),
}

/// A request or response that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{api_key:?} v{version}: {kind}")]
pub struct CodecError {
    /// The api key of the message.
    pub api_key: ApiKey,
    /// The api version the message was encoded or decoded at.
    pub version: i16,
    /// What went wrong.
    #[source]
    pub kind: CodecErrorKind,
}

/// What went wrong in a [`CodecError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecErrorKind {
    /// The version is outside what `kafka-protocol` can encode or decode for this message.
    #[error("version outside the supported range {min}..={max}")]
    UnsupportedVersion {
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
    },
    /// The encoded request would not fit an `i32` size prefix.
    #[error("encoded request of {0} bytes does not fit an i32 size prefix")]
    RequestTooLarge(usize),
    /// A declared string, bytes or array length exceeds the bytes left in the frame.
    #[error("declared length {declared} at byte {offset} exceeds the {remaining} bytes left")]
    LengthExceedsInput {
        /// Offset of the length field within the body.
        offset: usize,
        /// Declared length (bytes, or elements for arrays).
        declared: u64,
        /// Bytes left after the length field.
        remaining: usize,
    },
    /// The frame ended in the middle of a field.
    #[error("truncated at byte {offset} of the body")]
    Truncated {
        /// Offset within the body where more bytes were needed.
        offset: usize,
    },
    /// Bytes were left over after the body.
    #[error("{0} trailing bytes after the body")]
    TrailingBytes(usize),
    /// The frame is too short for a response header.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// purekafka has no bounds schema for this response, so it refuses to decode it
    /// (see the module docs).
    #[error("no bounds schema for this response; add one in frame/guard.rs")]
    NoBoundsSchema,
    /// The `kafka-protocol` crate rejected the bytes or the message; its message.
    #[error("{0}")]
    Protocol(String),
}

impl CodecError {
    fn new(api_key: ApiKey, version: i16, kind: CodecErrorKind) -> Self {
        Self {
            api_key,
            version,
            kind,
        }
    }
}

/// Encodes `body` as a complete request frame (size prefix, header, body) appended to `buf`.
///
/// The request header version (v1, or v2 for flexible versions) follows `version`. No
/// intermediate buffer: the size prefix is patched in place. On error `buf` is left as it was.
pub fn encode_request<R: KafkaRequest>(
    buf: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &R,
) -> Result<(), CodecError> {
    let err = |kind| CodecError::new(R::API_KEY, version, kind);
    if version < R::VERSIONS.min || version > R::VERSIONS.max {
        return Err(err(CodecErrorKind::UnsupportedVersion {
            min: R::VERSIONS.min,
            max: R::VERSIONS.max,
        }));
    }
    let client_id_len = match client_id.map(|c| i16::try_from(c.len())) {
        None => -1,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Err(err(CodecErrorKind::Protocol(
                "client id longer than 32767 bytes".into(),
            )));
        }
    };
    let start = buf.len();
    // The request header is written by hand: it is four fixed fields, and this avoids building
    // a `RequestHeader` (an owned client id and a map) per request.
    buf.reserve(SIZE_PREFIX_LEN + 10 + client_id.map_or(0, str::len) + 1);
    buf.put_i32(0);
    buf.put_i16(R::API_KEY as i16);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    // Header v1 and v2 carry the client id as a classic nullable string, even in v2.
    buf.put_i16(client_id_len);
    buf.put_slice(client_id.unwrap_or_default().as_bytes());
    if R::header_version(version) >= 2 {
        buf.put_u8(0); // no tagged fields
    }
    if let Err(e) = body.encode(buf, version) {
        buf.truncate(start);
        return Err(err(CodecErrorKind::Protocol(e.to_string())));
    }
    let size = buf.len() - start - SIZE_PREFIX_LEN;
    let Ok(size_i32) = i32::try_from(size) else {
        buf.truncate(start);
        return Err(err(CodecErrorKind::RequestTooLarge(size)));
    };
    buf[start..start + SIZE_PREFIX_LEN].copy_from_slice(&size_i32.to_be_bytes());
    Ok(())
}

/// Splits a byte stream into whole frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    /// Largest frame accepted, prefix excluded.
    pub max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame_size` bytes (prefix excluded).
    pub const fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// Takes the next whole frame (without its size prefix) off the front of `buf`.
    ///
    /// Returns `Ok(None)` while the frame is incomplete; `buf` is then untouched, and it is the
    /// caller's job to make room for more input. The size prefix is validated as soon as its
    /// four bytes are present, before anything more is read for it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = buf.first_chunk::<SIZE_PREFIX_LEN>() else {
            return Ok(None);
        };
        let declared = i32::from_be_bytes(*prefix);
        let size = usize::try_from(declared).map_err(|_| FrameError::NegativeSize(declared))?;
        if size > self.max_frame_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        if buf.len() - SIZE_PREFIX_LEN < size {
            return Ok(None);
        }
        buf.advance(SIZE_PREFIX_LEN);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

/// The correlation id at the start of a response frame (prefix already removed).
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, FrameError> {
    frame
        .first_chunk::<4>()
        .map(|b| i32::from_be_bytes(*b))
        .ok_or(FrameError::TooShort(frame.len()))
}

/// Decodes a response frame (prefix already removed) to a request sent at `version`.
///
/// The response header version follows the api key and version (ApiVersions responses always
/// use header v0). The body is bounds-checked first (see the module docs) and must use up the
/// frame exactly.
pub fn decode_response<R: KafkaResponse>(
    mut frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, R), CodecError> {
    let api_key = R::API_KEY;
    let err = |kind| CodecError::new(api_key, version, kind);
    if version < R::VERSIONS.min || version > R::VERSIONS.max {
        return Err(err(CodecErrorKind::UnsupportedVersion {
            min: R::VERSIONS.min,
            max: R::VERSIONS.max,
        }));
    }
    response_correlation_id(&frame).map_err(|e| err(e.into()))?;
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
        .map_err(|e| err(CodecErrorKind::Protocol(e.to_string())))?;
    guard::check(api_key, version, &frame).map_err(err)?;
    let body =
        R::decode(&mut frame, version).map_err(|e| err(CodecErrorKind::Protocol(e.to_string())))?;
    if frame.has_remaining() {
        return Err(err(CodecErrorKind::TrailingBytes(frame.remaining())));
    }
    Ok((header, body))
}
