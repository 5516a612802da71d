//! ProduceRequest frames that carry record batches without copying them.
//!
//! A produce frame is mostly record batches that already sit, sealed, in their own buffers.
//! [`encode_request`](super::encode_request) would copy each one into the frame; here the
//! frame is a list of chunks instead: the framing bytes written by [`ProduceFrameBuilder`]
//! (size prefix, request header, fields, array and length prefixes) and, between them, the
//! caller's batch `Bytes` as they are. A writer sends the chunks with one vectored write.
//!
//! The encoding follows Kafka's ProduceRequest schema for versions 3..=12 (v13 addresses
//! topics by id); `tests` check it byte for byte against `kafka-protocol`'s encoder.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::{CodecError, CodecErrorKind, SIZE_PREFIX_LEN};
use crate::batch::{batch_crc, off};

/// The versions [`ProduceFrameBuilder`] encodes.
pub const PRODUCE_FRAME_VERSIONS: std::ops::RangeInclusive<i16> = 3..=12;

/// First flexible ProduceRequest version (compact lengths, tagged fields, header v2).
const FIRST_FLEXIBLE: i16 = 9;

/// A request frame as chunks to write back to back (size prefix included in the first).
///
/// Batches added with [`ProduceFrameBuilder::partition_crc_pending`] hold a zero CRC field
/// until the frame is written out: [`into_chunks`](Self::into_chunks) and
/// [`to_bytes`](Self::to_bytes) compute it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkedFrame {
    chunks: Vec<Bytes>,
    len: usize,
    /// Indices in `chunks` of the batches whose CRC is still to be computed.
    crc_pending: Vec<usize>,
}

impl ChunkedFrame {
    /// A frame that is one contiguous buffer.
    pub fn single(bytes: Bytes) -> Self {
        Self {
            len: bytes.len(),
            chunks: vec![bytes],
            crc_pending: Vec::new(),
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order, as built: a batch whose CRC is pending still has a zero CRC
    /// field here (write [`into_chunks`](Self::into_chunks) instead).
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// Whether some batch's CRC is computed only when the frame is written out.
    pub fn has_pending_crc(&self) -> bool {
        !self.crc_pending.is_empty()
    }

    /// The chunks to write, in order, by value, every CRC computed: a batch whose CRC was
    /// pending becomes three chunks (up to its CRC field, the CRC, the rest), none of its
    /// bytes copied.
    pub fn into_chunks(self) -> Vec<Bytes> {
        if self.crc_pending.is_empty() {
            return self.chunks;
        }
        let mut crcs = BytesMut::with_capacity(self.crc_pending.len() * 4);
        for &i in &self.crc_pending {
            crcs.put_u32(self.chunks.get(i).map_or(0, |b| batch_crc(b)));
        }
        let crcs = crcs.freeze();
        let mut out = Vec::with_capacity(self.chunks.len() + 2 * self.crc_pending.len());
        let mut pending = self.crc_pending.iter().enumerate().peekable();
        for (i, chunk) in self.chunks.into_iter().enumerate() {
            match pending.next_if(|(_, at)| **at == i) {
                // `partition_crc_pending` marks only batches that extend past their CRC.
                Some((k, _)) if chunk.len() > CRC_END => {
                    out.push(chunk.slice(..CRC_AT));
                    out.push(crcs.slice(k * 4..k * 4 + 4));
                    out.push(chunk.slice(CRC_END..));
                }
                _ => out.push(chunk),
            }
        }
        out
    }

    /// The frame as one buffer, every CRC computed: free for a single chunk, one copy
    /// otherwise (tests and simulations that want to decode it).
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.as_slice() {
            [one] => one.clone(),
            chunks => {
                let mut buf = BytesMut::with_capacity(self.len);
                for (i, c) in chunks.iter().enumerate() {
                    let at = buf.len();
                    buf.put_slice(c);
                    if self.crc_pending.contains(&i) && c.len() > CRC_END {
                        let crc = batch_crc(c);
                        buf[at + CRC_AT..at + CRC_END].copy_from_slice(&crc.to_be_bytes());
                    }
                }
                buf.freeze()
            }
        }
    }
}

/// Where a batch's CRC field is: bytes `CRC_AT..CRC_END`.
const CRC_AT: usize = off::CRC;
const CRC_END: usize = off::ATTRIBUTES;

/// Builds one ProduceRequest frame: [`topic`](Self::topic) then its
/// [`partition`](Self::partition)s, for as many topics as announced, then
/// [`finish`](Self::finish). Counts are declared up front because Kafka arrays are prefixed
/// by their length; a mismatch is an error at the next call or at `finish`.
#[derive(Debug)]
pub struct ProduceFrameBuilder {
    version: i16,
    flexible: bool,
    /// Every framing byte; batches are spliced in at the recorded offsets.
    framing: BytesMut,
    /// (framing offset, batch, CRC pending): the batch goes right after `framing[..offset]`.
    batches: Vec<(usize, Bytes, bool)>,
    batch_bytes: usize,
    topics_left: usize,
    /// Partitions still expected for the current topic (None before the first topic).
    partitions_left: Option<usize>,
}

fn err(version: i16, kind: CodecErrorKind) -> CodecError {
    CodecError::new(ApiKey::Produce, version, kind)
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

impl ProduceFrameBuilder {
    /// Starts a frame: header, `transactional_id`, `acks`, `timeout_ms` and the topic count.
    pub fn new(
        version: i16,
        correlation_id: i32,
        client_id: Option<&str>,
        transactional_id: Option<&str>,
        acks: i16,
        timeout_ms: i32,
        topic_count: usize,
    ) -> Result<Self, CodecError> {
        if !PRODUCE_FRAME_VERSIONS.contains(&version) {
            return Err(err(
                version,
                CodecErrorKind::UnsupportedVersion {
                    min: *PRODUCE_FRAME_VERSIONS.start(),
                    max: *PRODUCE_FRAME_VERSIONS.end(),
                },
            ));
        }
        let flexible = version >= FIRST_FLEXIBLE;
        let mut b = Self {
            version,
            flexible,
            framing: BytesMut::with_capacity(128),
            batches: Vec::new(),
            batch_bytes: 0,
            topics_left: topic_count,
            partitions_left: None,
        };
        b.framing.put_i32(0); // size prefix, patched by `finish`
        b.framing.put_i16(ApiKey::Produce as i16);
        b.framing.put_i16(version);
        b.framing.put_i32(correlation_id);
        // Header v1 and v2 carry the client id as a classic nullable string, even in v2.
        b.put_classic_nullable_str(client_id)?;
        if flexible {
            b.framing.put_u8(0); // header tagged fields
        }
        b.put_nullable_str(transactional_id)?;
        b.framing.put_i16(acks);
        b.framing.put_i32(timeout_ms);
        b.put_array_len(topic_count)?;
        Ok(b)
    }

    fn put_classic_nullable_str(&mut self, s: Option<&str>) -> Result<(), CodecError> {
        match s {
            None => self.framing.put_i16(-1),
            Some(s) => {
                let n = i16::try_from(s.len()).map_err(|_| {
                    err(
                        self.version,
                        CodecErrorKind::Protocol("string longer than 32767 bytes".into()),
                    )
                })?;
                self.framing.put_i16(n);
                self.framing.put_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    fn put_nullable_str(&mut self, s: Option<&str>) -> Result<(), CodecError> {
        if !self.flexible {
            return self.put_classic_nullable_str(s);
        }
        match s {
            None => self.framing.put_u8(0),
            Some(s) => {
                put_uvarint(&mut self.framing, s.len() as u64 + 1);
                self.framing.put_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    fn put_array_len(&mut self, n: usize) -> Result<(), CodecError> {
        if self.flexible {
            put_uvarint(&mut self.framing, n as u64 + 1);
        } else {
            let n = i32::try_from(n).map_err(|_| {
                err(
                    self.version,
                    CodecErrorKind::Protocol("array too long".into()),
                )
            })?;
            self.framing.put_i32(n);
        }
        Ok(())
    }

    fn count_mismatch(&self, what: &str) -> CodecError {
        err(
            self.version,
            CodecErrorKind::Protocol(format!("produce frame: {what}")),
        )
    }

    /// Ends the current topic's struct (its tagged fields when flexible).
    fn close_topic(&mut self) -> Result<(), CodecError> {
        match self.partitions_left {
            None => Ok(()),
            Some(0) => {
                if self.flexible {
                    self.framing.put_u8(0);
                }
                self.partitions_left = None;
                Ok(())
            }
            Some(_) => Err(self.count_mismatch("fewer partitions than announced")),
        }
    }

    /// Starts the next topic, which will have `partition_count` partitions.
    pub fn topic(&mut self, name: &str, partition_count: usize) -> Result<(), CodecError> {
        self.close_topic()?;
        if self.topics_left == 0 {
            return Err(self.count_mismatch("more topics than announced"));
        }
        self.topics_left -= 1;
        if self.flexible {
            put_uvarint(&mut self.framing, name.len() as u64 + 1);
            self.framing.put_slice(name.as_bytes());
        } else {
            self.put_classic_nullable_str(Some(name))?;
        }
        self.put_array_len(partition_count)?;
        self.partitions_left = Some(partition_count);
        Ok(())
    }

    /// Adds one partition of the current topic with its record batch (not copied).
    pub fn partition(&mut self, index: i32, batch: Bytes) -> Result<(), CodecError> {
        self.add_partition(index, batch, false)
    }

    /// [`partition`](Self::partition) with a batch sealed without its CRC
    /// ([`SealOptions::defer_crc`](crate::batch::SealOptions::defer_crc)): the frame computes
    /// it when it is written out ([`ChunkedFrame::into_chunks`]).
    pub fn partition_crc_pending(&mut self, index: i32, batch: Bytes) -> Result<(), CodecError> {
        self.add_partition(index, batch, true)
    }

    fn add_partition(
        &mut self,
        index: i32,
        batch: Bytes,
        crc_pending: bool,
    ) -> Result<(), CodecError> {
        match self.partitions_left {
            Some(n) if n > 0 => self.partitions_left = Some(n - 1),
            _ => return Err(self.count_mismatch("more partitions than announced")),
        }
        self.framing.put_i32(index);
        if self.flexible {
            put_uvarint(&mut self.framing, batch.len() as u64 + 1);
        } else {
            let n = i32::try_from(batch.len())
                .map_err(|_| err(self.version, CodecErrorKind::RequestTooLarge(batch.len())))?;
            self.framing.put_i32(n);
        }
        self.batch_bytes += batch.len();
        if !batch.is_empty() {
            let crc_pending = crc_pending && batch.len() > CRC_END;
            self.batches.push((self.framing.len(), batch, crc_pending));
        }
        if self.flexible {
            self.framing.put_u8(0); // partition tagged fields
        }
        Ok(())
    }

    /// Completes the frame: patches the size prefix and splits the framing around the
    /// batches (no byte of a batch is copied).
    pub fn finish(mut self) -> Result<ChunkedFrame, CodecError> {
        self.close_topic()?;
        if self.topics_left != 0 {
            return Err(self.count_mismatch("fewer topics than announced"));
        }
        if self.flexible {
            self.framing.put_u8(0); // request tagged fields
        }
        let len = self.framing.len() + self.batch_bytes;
        let size = i32::try_from(len - SIZE_PREFIX_LEN)
            .map_err(|_| err(self.version, CodecErrorKind::RequestTooLarge(len)))?;
        self.framing[..SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
        let framing = self.framing.freeze();
        let mut chunks = Vec::with_capacity(self.batches.len() * 2 + 1);
        let mut crc_pending = Vec::new();
        let mut from = 0;
        for (at, batch, pending) in self.batches {
            chunks.push(framing.slice(from..at));
            if pending {
                crc_pending.push(chunks.len());
            }
            chunks.push(batch);
            from = at;
        }
        chunks.push(framing.slice(from..));
        Ok(ChunkedFrame {
            chunks,
            len,
            crc_pending,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName, TransactionalId};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::frame::encode_request;

    /// Topics, each with its (partition, batch) list.
    type Shape<'a> = [(&'a str, Vec<(i32, Bytes)>)];
    type OwnedShape = Vec<(&'static str, Vec<(i32, Bytes)>)>;

    fn batch(n: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; n])
    }

    /// The same request through kafka-protocol's encoder, for comparison.
    fn reference(
        version: i16,
        client_id: Option<&str>,
        txn: Option<&str>,
        topics: &Shape<'_>,
    ) -> Bytes {
        let req = ProduceRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(
                topics
                    .iter()
                    .map(|(name, parts)| {
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string((*name).into())))
                            .with_partition_data(
                                parts
                                    .iter()
                                    .map(|(i, b)| {
                                        PartitionProduceData::default()
                                            .with_index(*i)
                                            .with_records(Some(b.clone()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let mut buf = BytesMut::new();
        encode_request(&mut buf, version, 77, client_id, &req).unwrap();
        buf.freeze()
    }

    fn ours(
        version: i16,
        client_id: Option<&str>,
        txn: Option<&str>,
        topics: &Shape<'_>,
    ) -> ChunkedFrame {
        let mut b = ProduceFrameBuilder::new(version, 77, client_id, txn, -1, 30_000, topics.len())
            .unwrap();
        for (name, parts) in topics {
            b.topic(name, parts.len()).unwrap();
            for (i, batch) in parts {
                b.partition(*i, batch.clone()).unwrap();
            }
        }
        b.finish().unwrap()
    }

    #[test]
    fn matches_kafka_protocol_byte_for_byte_in_every_version() {
        let shapes: [OwnedShape; 4] = [
            vec![("t", vec![(0, batch(100, 1))])],
            vec![
                ("alpha", vec![(0, batch(70, 2)), (3, batch(200, 3))]),
                ("b", vec![(1, batch(1, 4))]),
                ("c", vec![]),
            ],
            // Long enough for multi-byte varint lengths.
            vec![("long", vec![(5, batch(20_000, 5))])],
            vec![],
        ];
        for version in PRODUCE_FRAME_VERSIONS {
            for shape in &shapes {
                for (client, txn) in [(Some("client-1"), None), (None, Some("txn-7"))] {
                    let expected = reference(version, client, txn, shape);
                    let got = ours(version, client, txn, shape);
                    assert_eq!(got.len(), expected.len(), "v{version}");
                    assert_eq!(got.to_bytes(), expected, "v{version} {shape:?}");
                }
            }
        }
    }

    #[test]
    fn batches_are_shared_not_copied() {
        let b = batch(1000, 9);
        let frame = ours(12, Some("c"), None, &[("t", vec![(0, b.clone())])]);
        let chunk = frame
            .chunks()
            .iter()
            .find(|c| c.len() == 1000)
            .expect("the batch is its own chunk");
        assert_eq!(chunk.as_ptr(), b.as_ptr());
        assert_eq!(frame.chunks().len(), 3);
        let total: usize = frame.chunks().iter().map(Bytes::len).sum();
        assert_eq!(total, frame.len());
        assert_eq!(
            ChunkedFrame::single(b.clone()).to_bytes().as_ptr(),
            b.as_ptr()
        );
    }

    /// A real batch of `n` records, sealed with or without its CRC.
    fn sealed(n: i64, defer_crc: bool) -> Bytes {
        use crate::batch::{RecordBatchWriter, SealOptions};
        let mut w = RecordBatchWriter::new();
        for i in 0..n {
            w.append(1_000 + i, None, Some(format!("v{i}").as_bytes()), &[]);
        }
        let opts = SealOptions {
            defer_crc,
            ..SealOptions::default()
        };
        w.seal_in_place(&opts).unwrap().into_bytes()
    }

    #[test]
    fn a_pending_crc_is_computed_when_the_frame_is_written_out() {
        let (a, b) = (sealed(3, true), sealed(40, true));
        assert_eq!(&a[CRC_AT..CRC_END], &[0; 4], "sealed without its CRC");
        let frame = |pending: bool, a: &Bytes, b: &Bytes| {
            let mut f = ProduceFrameBuilder::new(9, 5, Some("c"), None, 1, 1, 2).unwrap();
            f.topic("t", 2).unwrap();
            let add = |f: &mut ProduceFrameBuilder, i, x: &Bytes| match pending {
                true => f.partition_crc_pending(i, x.clone()),
                false => f.partition(i, x.clone()),
            };
            add(&mut f, 0, a).unwrap();
            add(&mut f, 1, b).unwrap();
            f.topic("u", 1).unwrap();
            // Shorter than a batch header: passed through as it is.
            add(&mut f, 0, &Bytes::from_static(b"short")).unwrap();
            f.finish().unwrap()
        };
        let pending = frame(true, &a, &b);
        let whole = frame(false, &sealed(3, false), &sealed(40, false));
        assert!(pending.has_pending_crc() && !whole.has_pending_crc());
        assert_eq!(pending.len(), whole.len());
        assert_eq!(pending.to_bytes(), whole.to_bytes());
        let chunks = pending.clone().into_chunks();
        assert_eq!(chunks.concat(), whole.to_bytes());
        // Each pending batch became three chunks; none of its bytes were copied.
        assert_eq!(chunks.len(), whole.chunks().len() + 4);
        assert!(
            chunks
                .iter()
                .any(|c| c.as_ptr() == a.as_ptr() && c.len() == CRC_AT)
        );
        assert!(chunks.iter().any(|c| c.as_ptr() == b[CRC_END..].as_ptr()));
        // The batches themselves still hold a zero CRC (the frame's chunks carry it).
        assert_eq!(&b[CRC_AT..CRC_END], &[0; 4]);
        // The batch as written passes the reader's CRC check.
        let written = pending.to_bytes();
        let at = written
            .windows(a.len())
            .position(|w| w[CRC_END..] == a[CRC_END..])
            .unwrap();
        let limits = crate::batch::DecodeLimits::default();
        let decoded: Vec<_> = crate::batch::decode_batches(&written[at..at + a.len()], &limits)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decoded.len(), 1);
    }

    #[test]
    fn count_mismatches_and_bad_versions_are_errors() {
        assert!(ProduceFrameBuilder::new(2, 1, None, None, 1, 1, 0).is_err());
        assert!(ProduceFrameBuilder::new(13, 1, None, None, 1, 1, 0).is_err());
        let mut b = ProduceFrameBuilder::new(9, 1, None, None, 1, 1, 1).unwrap();
        assert!(b.partition(0, batch(1, 0)).is_err());
        b.topic("t", 1).unwrap();
        b.partition(0, batch(1, 0)).unwrap();
        assert!(b.partition(1, batch(1, 0)).is_err());
        assert!(b.topic("u", 0).is_err());
        let mut b = ProduceFrameBuilder::new(9, 1, None, None, 1, 1, 2).unwrap();
        b.topic("t", 0).unwrap();
        assert!(b.finish().is_err());
        let mut b = ProduceFrameBuilder::new(3, 1, None, None, 1, 1, 1).unwrap();
        b.topic("t", 2).unwrap();
        b.partition(0, batch(1, 0)).unwrap();
        assert!(b.finish().is_err());
    }
}
