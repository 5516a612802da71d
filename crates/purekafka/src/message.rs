//! Kafka messages, headers and timestamps, shaped like rust-rdkafka's `rdkafka::message`.
//!
//! Headers are stored in Kafka's record-header wire encoding (for each header: zigzag varint
//! key length, key, zigzag varint value length or -1 for null, value), all headers of a
//! message in one buffer. Building [`OwnedHeaders`] therefore costs one growing allocation,
//! encoding a record copies the buffer as is, and a delivery report can lend the very same
//! bytes back as [`BorrowedHeaders`].

use std::fmt;
use std::str;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::error::KafkaError;
use crate::util::millis_to_epoch;

pub use purekafka_core::error::PersistenceStatus;

/// The timestamp of a Kafka message.
#[derive(Debug, PartialOrd, Ord, PartialEq, Eq, Clone, Copy)]
pub enum Timestamp {
    /// No timestamp is available.
    NotAvailable,
    /// The time the producer created the message, in milliseconds since the Unix epoch.
    CreateTime(i64),
    /// The time the broker appended the message to its log, in milliseconds since the epoch.
    LogAppendTime(i64),
}

impl Timestamp {
    /// Milliseconds since the Unix epoch, or `None` when unavailable (including the `-1`
    /// sentinel Kafka uses for "no timestamp").
    pub fn to_millis(self) -> Option<i64> {
        match self {
            Self::NotAvailable | Self::CreateTime(-1) | Self::LogAppendTime(-1) => None,
            Self::CreateTime(t) | Self::LogAppendTime(t) => Some(t),
        }
    }

    /// A [`Timestamp::CreateTime`] for the current wall-clock time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }
}

impl From<i64> for Timestamp {
    /// A [`Timestamp::CreateTime`] at `millis` since the epoch.
    fn from(millis: i64) -> Self {
        Self::CreateTime(millis)
    }
}

impl From<SystemTime> for Timestamp {
    /// A [`Timestamp::CreateTime`] at `time`, truncated to milliseconds.
    fn from(time: SystemTime) -> Self {
        Self::CreateTime(millis_to_epoch(time))
    }
}

/// Read access to a message's headers (key/value pairs sent along with the message).
pub trait Headers {
    /// The number of headers.
    fn count(&self) -> usize;

    /// The header at `idx` (0 is the first).
    ///
    /// # Panics
    ///
    /// When `idx` is out of bounds.
    fn get(&self, idx: usize) -> Header<'_, &[u8]> {
        match self.try_get(idx) {
            Some(h) => h,
            None => panic!(
                "headers index out of bounds: the count is {} but the index is {}",
                self.count(),
                idx
            ),
        }
    }

    /// Like [`Headers::get`], with the value converted to `V`.
    ///
    /// # Panics
    ///
    /// When `idx` is out of bounds.
    fn get_as<V>(&self, idx: usize) -> Result<Header<'_, &V>, V::Error>
    where
        V: FromBytes + ?Sized,
    {
        match self.try_get_as(idx) {
            Some(h) => h,
            None => panic!(
                "headers index out of bounds: the count is {} but the index is {}",
                self.count(),
                idx
            ),
        }
    }

    /// The header at `idx`, or `None` when out of bounds.
    fn try_get(&self, idx: usize) -> Option<Header<'_, &[u8]>>;

    /// Like [`Headers::try_get`], with the value converted to `V`.
    fn try_get_as<V>(&self, idx: usize) -> Option<Result<Header<'_, &V>, V::Error>>
    where
        V: FromBytes + ?Sized,
    {
        self.try_get(idx).map(|h| {
            Ok(Header {
                key: h.key,
                value: h.value.map(V::from_bytes).transpose()?,
            })
        })
    }

    /// All headers, in order.
    fn iter(&self) -> HeadersIter<'_, Self>
    where
        Self: Sized,
    {
        HeadersIter {
            headers: self,
            index: 0,
        }
    }
}

/// One message header. A `None` value (null) is distinct from an empty one.
#[derive(Debug, Clone, Eq, PartialEq, Ord, PartialOrd)]
pub struct Header<'a, V> {
    /// The header's key.
    pub key: &'a str,
    /// The header's value; `None` is Kafka's null value.
    pub value: Option<V>,
}

/// An iterator over the headers of any [`Headers`] implementation.
pub struct HeadersIter<'a, H> {
    headers: &'a H,
    index: usize,
}

impl<'a, H: Headers> Iterator for HeadersIter<'a, H> {
    type Item = Header<'a, &'a [u8]>;

    fn next(&mut self) -> Option<Header<'a, &'a [u8]>> {
        let item = self.headers.try_get(self.index)?;
        self.index += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.headers.count().saturating_sub(self.index);
        (left, Some(left))
    }
}

impl<H> fmt::Debug for HeadersIter<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadersIter")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Read access to a Kafka message.
pub trait Message {
    /// The type of this message's headers.
    type Headers: Headers;

    /// The key, or `None` for a null key.
    fn key(&self) -> Option<&[u8]>;

    /// The payload (value), or `None` for a null payload.
    fn payload(&self) -> Option<&[u8]>;

    /// The payload, mutably, or `None` when there is none or it cannot be changed.
    ///
    /// **Deviation from rdkafka:** rdkafka declares this `unsafe fn` because librdkafka owns
    /// the buffer. purekafka forbids `unsafe` and the method is safe; calls written as
    /// `unsafe { m.payload_mut() }` still compile (with an `unused_unsafe` warning).
    fn payload_mut(&mut self) -> Option<&mut [u8]>;

    /// The topic.
    fn topic(&self) -> &str;

    /// The partition.
    fn partition(&self) -> i32;

    /// The offset within the partition.
    fn offset(&self) -> i64;

    /// The timestamp.
    fn timestamp(&self) -> Timestamp;

    /// The payload viewed as `P` without copying (e.g. `str`), or `None` for a null payload.
    fn payload_view<P: ?Sized + FromBytes>(&self) -> Option<Result<&P, P::Error>> {
        self.payload().map(P::from_bytes)
    }

    /// The key viewed as `K` without copying (e.g. `str`), or `None` for a null key.
    fn key_view<K: ?Sized + FromBytes>(&self) -> Option<Result<&K, K::Error>> {
        self.key().map(K::from_bytes)
    }

    /// The headers, or `None` when the message has none.
    fn headers(&self) -> Option<&Self::Headers>;
}

// ---------------------------------------------------------------------------------------
// Header wire encoding
// ---------------------------------------------------------------------------------------

/// Appends `v` as a zigzag varint (Kafka's `varint`).
fn put_varint(buf: &mut Vec<u8>, v: i32) {
    // Zigzag maps signed to unsigned bit-for-bit; the `as` casts reinterpret, never truncate.
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        // Truncation to the low 7 bits is the encoding.
        buf.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

/// Reads a zigzag varint at `*pos`; `None` when truncated or longer than 5 bytes.
fn get_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let mut z: u32 = 0;
    for i in 0..5 {
        let b = *buf.get(*pos)?;
        *pos += 1;
        z |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i32) ^ -((z & 1) as i32));
        }
    }
    None
}

/// Reads `len` bytes at `*pos`, never past the end of `buf`.
fn get_slice<'b>(buf: &'b [u8], pos: &mut usize, len: usize) -> Option<&'b [u8]> {
    let end = pos.checked_add(len)?;
    let s = buf.get(*pos..end)?;
    *pos = end;
    Some(s)
}

/// Decodes the header at `*pos`, advancing past it; `None` for malformed input.
fn read_header<'b>(buf: &'b [u8], pos: &mut usize) -> Option<Header<'b, &'b [u8]>> {
    let key_len = usize::try_from(get_varint(buf, pos)?).ok()?;
    let key = str::from_utf8(get_slice(buf, pos, key_len)?).ok()?;
    let value = match get_varint(buf, pos)? {
        -1 => None,
        n => Some(get_slice(buf, pos, usize::try_from(n).ok()?)?),
    };
    Some(Header { key, value })
}

/// A header length as the `i32` the wire format allows.
fn wire_len(len: usize, what: &str) -> i32 {
    match i32::try_from(len) {
        Ok(n) => n,
        Err(_) => panic!("header {what} of {len} bytes exceeds Kafka's i32 length limit"),
    }
}

#[derive(Clone)]
enum HeaderBuf {
    /// Built by [`OwnedHeaders::insert`].
    Owned(Vec<u8>),
    /// Shared with a buffer the producer holds (e.g. a record batch), without copying.
    Shared(Bytes),
}

impl HeaderBuf {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Shared(b) => b,
        }
    }
}

/// A read-only view of a message's headers, as delivery reports hand them out by reference.
///
/// Obtain one from [`Message::headers`] on a [`BorrowedMessage`] or from
/// [`OwnedHeaders::as_borrowed`]; [`detach`](BorrowedHeaders::detach) copies it into
/// [`OwnedHeaders`].
#[derive(Clone)]
pub struct BorrowedHeaders {
    buf: HeaderBuf,
    count: usize,
}

impl BorrowedHeaders {
    fn empty_with_capacity(bytes: usize) -> Self {
        Self {
            buf: HeaderBuf::Owned(Vec::with_capacity(bytes)),
            count: 0,
        }
    }

    /// A copy that owns its data and can outlive the message (allocates).
    pub fn detach(&self) -> OwnedHeaders {
        OwnedHeaders {
            headers: Self {
                buf: HeaderBuf::Owned(self.buf.as_slice().to_vec()),
                count: self.count,
            },
        }
    }

    /// Wraps `count` headers in record-header wire encoding without copying them; `None`
    /// unless `buf` holds exactly `count` well-formed headers with UTF-8 keys.
    pub(crate) fn from_wire(buf: Bytes, count: usize) -> Option<Self> {
        let mut pos = 0;
        // Each header takes at least 2 bytes, so a hostile count cannot make this loop
        // run longer than the input.
        for _ in 0..count {
            read_header(&buf, &mut pos)?;
        }
        (pos == buf.len()).then_some(Self {
            buf: HeaderBuf::Shared(buf),
            count,
        })
    }

    /// All headers in record-header wire encoding, without the leading count (the record
    /// encoder writes [`Headers::count`] itself, then copies these bytes).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "used by the producers, which come in a later issue"
        )
    )]
    pub(crate) fn wire_bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }
}

impl Headers for BorrowedHeaders {
    fn count(&self) -> usize {
        self.count
    }

    fn try_get(&self, idx: usize) -> Option<Header<'_, &[u8]>> {
        if idx >= self.count {
            return None;
        }
        // Headers are few per message; a linear walk beats keeping an index allocation.
        let buf = self.buf.as_slice();
        let mut pos = 0;
        for _ in 0..idx {
            read_header(buf, &mut pos)?;
        }
        read_header(buf, &mut pos)
    }
}

impl fmt::Debug for BorrowedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for BorrowedHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.iter().eq(other.iter())
    }
}

impl Eq for BorrowedHeaders {}

/// Message headers that own their data: build them with [`insert`](OwnedHeaders::insert)
/// and pass them to a record.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedHeaders {
    headers: BorrowedHeaders,
}

impl OwnedHeaders {
    /// Bytes reserved per header of requested capacity: room for a short key and value.
    const BYTES_PER_HEADER: usize = 32;

    /// Empty headers with room for about 5 headers.
    pub fn new() -> Self {
        Self::new_with_capacity(5)
    }

    /// Empty headers with room for about `initial_capacity` headers; they grow as needed.
    pub fn new_with_capacity(initial_capacity: usize) -> Self {
        Self {
            headers: BorrowedHeaders::empty_with_capacity(
                initial_capacity.saturating_mul(Self::BYTES_PER_HEADER),
            ),
        }
    }

    /// Appends a header (keys may repeat; order is kept).
    ///
    /// # Panics
    ///
    /// When the key or value is longer than `i32::MAX` bytes, which Kafka cannot carry.
    #[must_use]
    pub fn insert<V>(mut self, header: Header<'_, &V>) -> Self
    where
        V: ToBytes + ?Sized,
    {
        // Headers viewing a shared buffer are copied once, on their first insert.
        let mut buf = match std::mem::replace(&mut self.headers.buf, HeaderBuf::Owned(Vec::new())) {
            HeaderBuf::Owned(v) => v,
            HeaderBuf::Shared(b) => b.to_vec(),
        };
        put_varint(&mut buf, wire_len(header.key.len(), "key"));
        buf.extend_from_slice(header.key.as_bytes());
        match header.value {
            None => put_varint(&mut buf, -1),
            Some(v) => {
                let bytes = v.to_bytes();
                put_varint(&mut buf, wire_len(bytes.len(), "value"));
                buf.extend_from_slice(bytes);
            }
        }
        self.headers.buf = HeaderBuf::Owned(buf);
        self.headers.count += 1;
        self
    }

    /// A read-only view of these headers.
    pub fn as_borrowed(&self) -> &BorrowedHeaders {
        &self.headers
    }

    /// The headers as the borrowed type, by value (no copy).
    pub(crate) fn into_borrowed(self) -> BorrowedHeaders {
        self.headers
    }
}

impl Default for OwnedHeaders {
    fn default() -> Self {
        Self::new()
    }
}

impl Headers for OwnedHeaders {
    fn count(&self) -> usize {
        self.headers.count
    }

    fn try_get(&self, idx: usize) -> Option<Header<'_, &[u8]>> {
        self.headers.try_get(idx)
    }
}

impl fmt::Debug for OwnedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedHeaders").field(&self.headers).finish()
    }
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// A message whose data is borrowed, as a delivery report hands it out: key, payload, topic
/// and headers point into the producer's buffers, so no copy is made per report.
///
/// Besides rdkafka's API it offers safe accessors for what rdkafka users read through the raw
/// `ptr()`: [`status`](BorrowedMessage::status), [`latency`](BorrowedMessage::latency) and
/// [`broker_id`](BorrowedMessage::broker_id). rdkafka's `ptr()`/`topic_ptr()` do not exist.
#[derive(Debug, Clone)]
pub struct BorrowedMessage<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    partition: i32,
    offset: i64,
    timestamp: Timestamp,
    headers: Option<&'a BorrowedHeaders>,
    status: PersistenceStatus,
    latency: Option<Duration>,
    broker_id: Option<i32>,
}

impl<'a> BorrowedMessage<'a> {
    /// A message view with no key, payload or headers, status
    /// [`PersistenceStatus::NotPersisted`], and unknown latency and broker (purekafka
    /// extension, e.g. to unit-test a delivery callback; add data with the `with_*` methods).
    pub fn new(topic: &'a str, partition: i32, offset: i64, timestamp: Timestamp) -> Self {
        Self {
            topic,
            key: None,
            payload: None,
            partition,
            offset,
            timestamp,
            headers: None,
            status: PersistenceStatus::NotPersisted,
            latency: None,
            broker_id: None,
        }
    }

    /// Sets the key (purekafka extension).
    #[must_use]
    pub fn with_key(mut self, key: Option<&'a [u8]>) -> Self {
        self.key = key;
        self
    }

    /// Sets the payload (purekafka extension).
    #[must_use]
    pub fn with_payload(mut self, payload: Option<&'a [u8]>) -> Self {
        self.payload = payload;
        self
    }

    /// Sets the headers (purekafka extension).
    #[must_use]
    pub fn with_headers(mut self, headers: Option<&'a BorrowedHeaders>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the persistence status (purekafka extension).
    #[must_use]
    pub fn with_status(mut self, status: PersistenceStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the produce latency (purekafka extension).
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Sets the id of the broker that handled the message (purekafka extension).
    #[must_use]
    pub fn with_broker_id(mut self, broker_id: i32) -> Self {
        self.broker_id = Some(broker_id);
        self
    }

    /// The key's length in bytes (0 for a null key).
    pub fn key_len(&self) -> usize {
        self.key.map_or(0, <[u8]>::len)
    }

    /// The payload's length in bytes (0 for a null payload).
    pub fn payload_len(&self) -> usize {
        self.payload.map_or(0, <[u8]>::len)
    }

    /// Whether the message may be in the partition's log (librdkafka's
    /// `rd_kafka_message_status`, purekafka extension): `Persisted` when acknowledged,
    /// `PossiblyPersisted` when it was sent but the outcome is unknown (retrying may
    /// duplicate it), `NotPersisted` when it never left the client.
    pub fn status(&self) -> PersistenceStatus {
        self.status
    }

    /// Time from `send` to the delivery report (librdkafka's `rd_kafka_message_latency`,
    /// purekafka extension), when known.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// The broker that handled the message (librdkafka's `rd_kafka_message_broker_id`,
    /// purekafka extension), when known.
    pub fn broker_id(&self) -> Option<i32> {
        self.broker_id
    }

    /// A copy that owns its data and can outlive the report (allocates).
    pub fn detach(&self) -> OwnedMessage {
        OwnedMessage::new(
            self.payload.map(<[u8]>::to_vec),
            self.key.map(<[u8]>::to_vec),
            self.topic.to_owned(),
            self.timestamp,
            self.partition,
            self.offset,
            self.headers.map(BorrowedHeaders::detach),
        )
    }
}

impl Message for BorrowedMessage<'_> {
    type Headers = BorrowedHeaders;

    fn key(&self) -> Option<&[u8]> {
        self.key
    }

    fn payload(&self) -> Option<&[u8]> {
        self.payload
    }

    /// Always `None`: the payload is shared with the producer's buffers and never mutable
    /// (delivery reports are only handed out by shared reference anyway).
    fn payload_mut(&mut self) -> Option<&mut [u8]> {
        None
    }

    fn topic(&self) -> &str {
        self.topic
    }

    fn partition(&self) -> i32 {
        self.partition
    }

    fn offset(&self) -> i64 {
        self.offset
    }

    fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    fn headers(&self) -> Option<&BorrowedHeaders> {
        self.headers
    }
}

/// A message that owns its data (e.g. the failed message a `FutureProducer` hands back).
///
/// Its fields live behind one pointer: it is carried inside every
/// [`OwnedDeliveryResult`](crate::producer::future_producer::OwnedDeliveryResult), which each
/// delivery future moves a few times, and only failures ever build one; inline, its 152
/// bytes made that result 232 bytes, whose copies cost a FutureProducer 2-3 % more CPU per
/// record (sink, 100 B, lz4).
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedMessage(Box<OwnedFields>);

#[derive(Clone, PartialEq, Eq)]
struct OwnedFields {
    payload: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    topic: String,
    timestamp: Timestamp,
    partition: i32,
    offset: i64,
    headers: Option<OwnedHeaders>,
}

impl fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As rdkafka's derived one: the box is an implementation detail.
        let m = &*self.0;
        f.debug_struct("OwnedMessage")
            .field("payload", &m.payload)
            .field("key", &m.key)
            .field("topic", &m.topic)
            .field("timestamp", &m.timestamp)
            .field("partition", &m.partition)
            .field("offset", &m.offset)
            .field("headers", &m.headers)
            .finish()
    }
}

impl OwnedMessage {
    /// A message with the given content.
    pub fn new(
        payload: Option<Vec<u8>>,
        key: Option<Vec<u8>>,
        topic: String,
        timestamp: Timestamp,
        partition: i32,
        offset: i64,
        headers: Option<OwnedHeaders>,
    ) -> Self {
        Self(Box::new(OwnedFields {
            payload,
            key,
            topic,
            timestamp,
            partition,
            offset,
            headers,
        }))
    }

    /// Takes the headers out of the message.
    pub fn detach_headers(&mut self) -> Option<OwnedHeaders> {
        self.0.headers.take()
    }

    /// Replaces the headers.
    #[must_use]
    pub fn replace_headers(mut self, headers: Option<OwnedHeaders>) -> Self {
        self.0.headers = headers;
        self
    }

    /// Replaces the payload.
    #[must_use]
    pub fn set_payload(mut self, payload: Option<Vec<u8>>) -> Self {
        self.0.payload = payload;
        self
    }

    /// Replaces the key.
    #[must_use]
    pub fn set_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.0.key = key;
        self
    }

    /// Replaces the topic.
    #[must_use]
    pub fn set_topic(mut self, topic: String) -> Self {
        self.0.topic = topic;
        self
    }

    /// Replaces the timestamp.
    #[must_use]
    pub fn set_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.0.timestamp = timestamp;
        self
    }

    /// Replaces the partition.
    #[must_use]
    pub fn set_partition(mut self, partition: i32) -> Self {
        self.0.partition = partition;
        self
    }

    /// Replaces the offset.
    #[must_use]
    pub fn set_offset(mut self, offset: i64) -> Self {
        self.0.offset = offset;
        self
    }
}

impl Message for OwnedMessage {
    type Headers = OwnedHeaders;

    fn key(&self) -> Option<&[u8]> {
        self.0.key.as_deref()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.0.payload.as_deref()
    }

    fn payload_mut(&mut self) -> Option<&mut [u8]> {
        self.0.payload.as_deref_mut()
    }

    fn topic(&self) -> &str {
        &self.0.topic
    }

    fn partition(&self) -> i32 {
        self.0.partition
    }

    fn offset(&self) -> i64 {
        self.0.offset
    }

    fn timestamp(&self) -> Timestamp {
        self.0.timestamp
    }

    fn headers(&self) -> Option<&OwnedHeaders> {
        self.0.headers.as_ref()
    }
}

/// The outcome of producing one message, as a delivery callback receives it: the message
/// (with its partition and offset) on success, or the error and the message on failure.
///
/// The error is always [`KafkaError::MessageProduction`]. The message's data lives in the
/// producer's buffers until the callback returns.
pub type DeliveryResult<'a> = Result<BorrowedMessage<'a>, (KafkaError, BorrowedMessage<'a>)>;

/// A zero-copy view of bytes as another type (e.g. `str`), validating where needed.
pub trait FromBytes {
    /// The error when the bytes are not a valid `Self`.
    type Error;
    /// Views `bytes` as `Self`.
    fn from_bytes(bytes: &[u8]) -> Result<&Self, Self::Error>;
}

impl FromBytes for [u8] {
    type Error = ();
    fn from_bytes(bytes: &[u8]) -> Result<&Self, ()> {
        Ok(bytes)
    }
}

impl FromBytes for str {
    type Error = str::Utf8Error;
    fn from_bytes(bytes: &[u8]) -> Result<&Self, str::Utf8Error> {
        str::from_utf8(bytes)
    }
}

/// A zero-copy view of a value as bytes, for keys, payloads and header values.
pub trait ToBytes {
    /// The value's bytes.
    fn to_bytes(&self) -> &[u8];
}

impl ToBytes for [u8] {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

impl ToBytes for str {
    fn to_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl ToBytes for Vec<u8> {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

impl ToBytes for String {
    fn to_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<T: ToBytes> ToBytes for &T {
    fn to_bytes(&self) -> &[u8] {
        (*self).to_bytes()
    }
}

impl ToBytes for () {
    fn to_bytes(&self) -> &[u8] {
        &[]
    }
}

impl<const N: usize> ToBytes for [u8; N] {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::error::RDKafkaErrorCode;

    fn sample_headers() -> OwnedHeaders {
        OwnedHeaders::new()
            .insert(Header {
                key: "k1",
                value: Some("v1"),
            })
            .insert(Header::<&[u8]> {
                key: "null",
                value: None,
            })
            .insert(Header {
                key: "empty",
                value: Some(""),
            })
            .insert(Header {
                key: "k1",
                value: Some(&[0xff_u8, 0xfe][..]),
            })
    }

    #[test]
    fn timestamp_conversions() {
        assert_eq!(Timestamp::CreateTime(100).to_millis(), Some(100));
        assert_eq!(Timestamp::LogAppendTime(100).to_millis(), Some(100));
        assert_eq!(Timestamp::CreateTime(-1).to_millis(), None);
        assert_eq!(Timestamp::LogAppendTime(-1).to_millis(), None);
        assert_eq!(Timestamp::NotAvailable.to_millis(), None);
        assert_eq!(Timestamp::from(100), Timestamp::CreateTime(100));
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_999);
        assert_eq!(Timestamp::from(t), Timestamp::CreateTime(1_700_000_000_123));
        let Timestamp::CreateTime(now) = Timestamp::now() else {
            panic!("now() must be CreateTime");
        };
        assert!((now - crate::util::current_time_millis()).abs() < 60_000);
        // Derived order: NotAvailable < CreateTime(_) < LogAppendTime(_).
        assert!(Timestamp::NotAvailable < Timestamp::CreateTime(i64::MIN));
        assert!(Timestamp::CreateTime(i64::MAX) < Timestamp::LogAppendTime(0));
    }

    #[test]
    fn headers_null_vs_empty_and_order() {
        let h = sample_headers();
        assert_eq!(h.count(), 4);
        assert_eq!(
            h.get(0),
            Header {
                key: "k1",
                value: Some(&b"v1"[..])
            }
        );
        assert_eq!(h.get(1).value, None);
        assert_eq!(h.get(2).value, Some(&b""[..]));
        assert_eq!(h.get(3).value, Some(&[0xff_u8, 0xfe][..]));
        assert!(h.try_get(4).is_none());
        let keys: Vec<&str> = h.iter().map(|x| x.key).collect();
        assert_eq!(keys, ["k1", "null", "empty", "k1"]);
        assert_eq!(h.iter().size_hint(), (4, Some(4)));
    }

    #[test]
    fn headers_get_as() {
        let h = sample_headers();
        assert_eq!(
            h.get_as::<str>(0),
            Ok(Header {
                key: "k1",
                value: Some("v1")
            })
        );
        assert_eq!(
            h.get_as::<str>(1),
            Ok(Header {
                key: "null",
                value: None
            })
        );
        assert!(h.get_as::<str>(3).is_err());
        assert_eq!(
            h.get_as::<[u8]>(3).unwrap().value,
            Some(&[0xff_u8, 0xfe][..])
        );
        assert!(h.try_get_as::<str>(9).is_none());
        assert!(matches!(h.try_get_as::<str>(3), Some(Err(_))));
    }

    #[test]
    #[should_panic(expected = "headers index out of bounds: the count is 4 but the index is 4")]
    fn headers_get_out_of_bounds_panics() {
        let _ = sample_headers().get(4);
    }

    #[test]
    fn headers_wire_format_and_views() {
        let h = OwnedHeaders::new_with_capacity(0)
            .insert(Header {
                key: "a",
                value: Some("xyz"),
            })
            .insert(Header::<&str> {
                key: "n",
                value: None,
            });
        // Kafka record headers: zigzag varint lengths, -1 (0x01) for a null value.
        const WIRE: &[u8] = &[0x02, b'a', 0x06, b'x', b'y', b'z', 0x02, b'n', 0x01];
        assert_eq!(h.as_borrowed().wire_bytes(), WIRE);

        let shared = BorrowedHeaders::from_wire(Bytes::from_static(WIRE), 2).unwrap();
        assert_eq!(&shared, h.as_borrowed());
        assert_eq!(shared.detach(), h);
        // Wrong count, trailing bytes, truncation, bad lengths and non-UTF-8 keys are refused.
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(WIRE), 1).is_none());
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(WIRE), 3).is_none());
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(&WIRE[..8]), 2).is_none());
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(&[0x03, 0x01]), 1).is_none());
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(&[0x02, 0xff, 0x01]), 1).is_none());
        assert!(BorrowedHeaders::from_wire(Bytes::from_static(&[0x00, 0x03]), 1).is_none());
        assert!(
            BorrowedHeaders::from_wire(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x80]), 1)
                .is_none()
        );
        // A huge declared count fails on the first missing byte.
        assert!(BorrowedHeaders::from_wire(Bytes::new(), usize::MAX).is_none());
        assert_eq!(
            BorrowedHeaders::from_wire(Bytes::new(), 0).unwrap().count(),
            0
        );

        // Inserting into headers detached from a shared buffer copies, then appends.
        let grown = shared.detach().insert(Header {
            key: "b",
            value: Some(&b"1"[..]),
        });
        assert_eq!(grown.count(), 3);
        assert_eq!(grown.get_as::<str>(2).unwrap().value, Some("1"));
        assert_eq!(shared.count(), 2);
    }

    #[test]
    fn varint_round_trip() {
        for v in [0, 1, -1, 63, 64, -65, 300, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut pos = 0;
            assert_eq!(get_varint(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
        let mut big = Vec::new();
        put_varint(&mut big, 300);
        assert_eq!(big, [0xd8, 0x04]);
    }

    #[test]
    fn owned_message_accessors_and_setters() {
        let mut m = OwnedMessage::new(
            Some(b"payload".to_vec()),
            None,
            "t".to_owned(),
            Timestamp::CreateTime(5),
            2,
            42,
            Some(sample_headers()),
        );
        assert_eq!(m.payload_view::<str>(), Some(Ok("payload")));
        assert_eq!(m.key_view::<str>(), None);
        assert_eq!((m.topic(), m.partition(), m.offset()), ("t", 2, 42));
        assert_eq!(m.timestamp(), Timestamp::CreateTime(5));
        assert_eq!(m.headers().map(Headers::count), Some(4));
        m.payload_mut().unwrap()[0] = b'P';
        assert_eq!(m.payload(), Some(&b"Payload"[..]));
        let h = m.detach_headers();
        assert!(h.is_some() && m.headers().is_none());
        let m = m
            .set_key(Some(b"k".to_vec()))
            .set_payload(None)
            .set_topic("u".into())
            .set_timestamp(Timestamp::LogAppendTime(9))
            .set_partition(1)
            .set_offset(7)
            .replace_headers(h);
        assert_eq!(m.key(), Some(&b"k"[..]));
        assert_eq!(m.payload(), None);
        assert_eq!((m.topic(), m.partition(), m.offset()), ("u", 1, 7));
        assert_eq!(m.timestamp(), Timestamp::LogAppendTime(9));
        assert_eq!(m.headers(), Some(&sample_headers()));
        assert_eq!(m.clone().replace_headers(None).headers(), None);
    }

    #[test]
    fn owned_message_debug_is_the_derived_one() {
        let m = OwnedMessage::new(
            Some(b"v".to_vec()),
            None,
            "t".to_owned(),
            Timestamp::CreateTime(5),
            2,
            42,
            None,
        );
        // What rdkafka's `#[derive(Debug)]` prints: the box behind it does not show.
        assert_eq!(
            format!("{m:?}"),
            "OwnedMessage { payload: Some([118]), key: None, topic: \"t\", \
             timestamp: CreateTime(5), partition: 2, offset: 42, headers: None }"
        );
    }

    #[test]
    fn a_delivery_result_stays_small() {
        // Every delivery future moves its result a few times; the failed message's fields
        // live behind a pointer so that the common (successful) result stays this size.
        use crate::producer::future_producer::OwnedDeliveryResult;
        assert_eq!(size_of::<OwnedMessage>(), 8);
        assert!(size_of::<OwnedDeliveryResult>() <= 96);
    }

    #[test]
    fn borrowed_message_views_and_detach() {
        let headers = sample_headers();
        let key = b"key".to_vec();
        let payload = b"value".to_vec();
        let mut m = BorrowedMessage::new("topic", 3, 100, Timestamp::LogAppendTime(77))
            .with_key(Some(&key))
            .with_payload(Some(&payload))
            .with_headers(Some(headers.as_borrowed()))
            .with_status(PersistenceStatus::Persisted)
            .with_latency(Duration::from_micros(1500))
            .with_broker_id(1);
        assert_eq!(m.key_len(), 3);
        assert_eq!(m.payload_len(), 5);
        assert_eq!(m.status(), PersistenceStatus::Persisted);
        assert_eq!(m.latency(), Some(Duration::from_micros(1500)));
        assert_eq!(m.broker_id(), Some(1));
        // The views point at the caller's buffers: no copy was made.
        assert!(std::ptr::eq(
            m.payload().unwrap().as_ptr(),
            payload.as_ptr()
        ));
        assert!(m.payload_mut().is_none());
        assert_eq!(
            m.headers().unwrap().get_as::<str>(0).unwrap().value,
            Some("v1")
        );

        let owned = m.detach();
        assert_eq!(
            owned,
            OwnedMessage::new(
                Some(payload.clone()),
                Some(key.clone()),
                "topic".into(),
                Timestamp::LogAppendTime(77),
                3,
                100,
                Some(headers.clone()),
            )
        );

        let bare = BorrowedMessage::new("t", -1, -1001, Timestamp::NotAvailable);
        assert_eq!((bare.key_len(), bare.payload_len()), (0, 0));
        assert_eq!(bare.status(), PersistenceStatus::NotPersisted);
        assert!(bare.latency().is_none() && bare.broker_id().is_none());
        assert!(bare.headers().is_none());

        // What a delivery callback typically does with the result it is lent.
        fn describe(r: &DeliveryResult<'_>) -> String {
            match r {
                Ok(m) => format!("ok {}[{}]@{}", m.topic(), m.partition(), m.offset()),
                Err((e, m)) => format!("failed {}: {e}", m.topic()),
            }
        }
        let delivered = BorrowedMessage::new("t", 1, 9, Timestamp::CreateTime(1));
        assert_eq!(describe(&Ok(delivered)), "ok t[1]@9");
        let failed = Err((
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            bare,
        ));
        assert_eq!(
            describe(&failed),
            "failed t: Message production error: MessageTimedOut (Local: Message timed out)"
        );
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn thread_safety() {
        assert_send_sync::<BorrowedMessage<'static>>();
        assert_send_sync::<OwnedMessage>();
        assert_send_sync::<OwnedHeaders>();
        assert_send_sync::<BorrowedHeaders>();
    }

    #[test]
    fn to_and_from_bytes() {
        fn bytes<T: ToBytes + ?Sized>(v: &T) -> Vec<u8> {
            v.to_bytes().to_vec()
        }
        assert_eq!(bytes("ab"), b"ab");
        assert_eq!(bytes(&b"ab"[..]), b"ab");
        assert_eq!(bytes(&vec![1_u8, 2]), [1, 2]);
        assert_eq!(bytes(&String::from("s")), b"s");
        assert_eq!(bytes(&&String::from("r")), b"r");
        assert_eq!(bytes(&()), b"");
        assert_eq!(bytes(&[7_u8; 3]), [7, 7, 7]);
        assert_eq!(<str as FromBytes>::from_bytes(b"ok"), Ok("ok"));
        assert!(<str as FromBytes>::from_bytes(&[0xc3]).is_err());
        assert_eq!(<[u8] as FromBytes>::from_bytes(&[1]), Ok(&[1_u8][..]));
    }
}
