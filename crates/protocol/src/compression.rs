//! Record batch compression codecs, each behind a cargo feature of the same name.
//!
//! Wire formats, as the Java client and librdkafka read them:
//! - gzip: an RFC 1952 member (several concatenated members are accepted when reading).
//! - snappy: the xerial framing of snappy-java (`\x82SNAPPY\0`, version 1, compatible version 1,
//!   then big-endian `i32` length + raw snappy block chunks), which is what the Java producer
//!   writes. When reading, input without the xerial magic is decoded as one raw snappy block,
//!   as both snappy-java's `SnappyInputStream` and librdkafka do (librdkafka produces raw blocks).
//! - lz4: a standard LZ4 frame (magic v2 batches do not have the old broken header checksum),
//!   written with independent 64 KiB blocks and no checksums, like Java's
//!   `KafkaLZ4BlockOutputStream`. Reading accepts any block size, linked blocks and checksum
//!   flags (checksums are skipped: the batch CRC already covers the compressed bytes).
//! - zstd: one or more zstd frames.
//!
//! Every decoder takes an output limit and fails with [`CompressionError::OutputLimit`] instead
//! of growing past it; buffers grow with the output actually produced, never with a length the
//! input declares.

use std::fmt;
use std::str::FromStr;

/// The codec in a RecordBatch's attributes (bits 0-2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2), in the xerial framing the Java client reads.
    Snappy,
    /// lz4 (3), Kafka's LZ4 frame format.
    Lz4,
    /// zstd (4).
    Zstd,
}

/// Mask of the codec bits in RecordBatch attributes.
pub const CODEC_MASK: u16 = 0x07;

/// Why compressing, decompressing or naming a codec failed.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// Attribute bits 0-2 hold a value Kafka does not define (5, 6 or 7).
    #[error("unknown compression codec id {id} in batch attributes")]
    UnknownCodec {
        /// The codec bits found.
        id: u16,
    },
    /// A `compression.codec` / `compression.type` value that is not a codec name.
    #[error("unknown compression codec name {name:?} (expected none, gzip, snappy, lz4 or zstd)")]
    UnknownName {
        /// The rejected name.
        name: String,
    },
    /// The codec's cargo feature is not enabled in this build.
    #[error("{codec} support is not compiled in (enable the `{codec}` feature)")]
    Disabled {
        /// The codec asked for.
        codec: Compression,
    },
    /// Decompressed output would exceed the caller's limit.
    #[error("{codec} output exceeds the limit of {limit} bytes")]
    OutputLimit {
        /// The codec in use.
        codec: Compression,
        /// The limit that was hit.
        limit: usize,
    },
    /// The compressed data is malformed.
    #[error("corrupt {codec} data: {detail}")]
    Corrupt {
        /// The codec in use.
        codec: Compression,
        /// What the codec reported.
        detail: String,
    },
    /// The codec itself failed while compressing.
    #[error("{codec} compression failed: {detail}")]
    CompressFailed {
        /// The codec in use.
        codec: Compression,
        /// What the codec reported.
        detail: String,
    },
}

impl Compression {
    /// All codecs, in attribute-id order.
    pub const ALL: [Self; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// Reads the codec from RecordBatch attributes (only bits 0-2 are looked at).
    pub fn from_attributes(attributes: u16) -> Result<Self, CompressionError> {
        match attributes & CODEC_MASK {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            id => Err(CompressionError::UnknownCodec { id }),
        }
    }

    /// The codec id for attribute bits 0-2.
    pub const fn to_attribute_bits(self) -> u16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The librdkafka / Kafka configuration name ("none", "gzip", "snappy", "lz4", "zstd").
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress with the codec.
    pub const fn is_enabled(self) -> bool {
        match self {
            Self::None => true,
            Self::Gzip => cfg!(feature = "gzip"),
            Self::Snappy => cfg!(feature = "snappy"),
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// The level actually used for a librdkafka `compression.level`, with librdkafka's rules:
    /// -1 picks the codec default (gzip 6, lz4 0, zstd 3) and values above the codec maximum
    /// (gzip 9, lz4 12, zstd 22) are clamped. Snappy and none have no level (returns -1).
    ///
    /// Other negative values: zstd keeps them (its fast levels), gzip and lz4 use the default.
    pub const fn effective_level(self, level: i32) -> i32 {
        match self {
            Self::None | Self::Snappy => -1,
            Self::Gzip => {
                if level < 0 {
                    6
                } else if level > 9 {
                    9
                } else {
                    level
                }
            }
            Self::Lz4 => {
                if level < 0 {
                    0
                } else if level > 12 {
                    12
                } else {
                    level
                }
            }
            Self::Zstd => {
                if level == -1 {
                    3
                } else if level > 22 {
                    22
                } else {
                    level
                }
            }
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CompressionError;

    /// Parses a librdkafka codec name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CompressionError::UnknownName { name: s.to_owned() })
    }
}

/// Compresses `input` with `codec` at librdkafka `level` (see [`Compression::effective_level`]),
/// appending the compressed bytes to `out`.
///
/// lz4 ignores the level: `lz4_flex` has a single (fast) mode, which is also librdkafka's
/// default level 0.
pub fn compress_into(
    codec: Compression,
    level: i32,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let level = codec.effective_level(level);
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::compress(level, input, out),
        Compression::Snappy => snappy::compress(input, out),
        Compression::Lz4 => lz4::compress(input, out),
        Compression::Zstd => zstd_codec::compress(level, input, out),
    }
}

/// Decompresses `input` produced by `codec`, failing once the output would exceed `max_output`
/// bytes.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Compression::None => {
            if input.len() > max_output {
                return Err(CompressionError::OutputLimit {
                    codec,
                    limit: max_output,
                });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => gzip::decompress(input, max_output),
        Compression::Snappy => snappy::decompress(input, max_output),
        Compression::Lz4 => lz4::decompress(input, max_output),
        Compression::Zstd => zstd_codec::decompress(input, max_output),
    }
}

/// Reads a `Read` to the end, allowing at most `max_output` bytes; the Vec grows only with data
/// the decoder actually produced.
#[cfg(any(feature = "gzip", feature = "zstd"))]
fn read_capped<R: std::io::Read>(
    codec: Compression,
    reader: R,
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let cap = (max_output as u64).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| CompressionError::Corrupt {
            codec,
            detail: e.to_string(),
        })?;
    if out.len() > max_output {
        return Err(CompressionError::OutputLimit {
            codec,
            limit: max_output,
        });
    }
    Ok(out)
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::{Compression, CompressionError, read_capped};
    use std::io::Write as _;

    pub(super) fn compress(
        level: i32,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        // effective_level keeps gzip within 0..=9.
        let level = flate2::Compression::new(level.clamp(0, 9) as u32);
        let mut enc = flate2::write::GzEncoder::new(out, level);
        let fail = |e: std::io::Error| CompressionError::CompressFailed {
            codec: Compression::Gzip,
            detail: e.to_string(),
        };
        enc.write_all(input).map_err(fail)?;
        enc.finish().map_err(fail)?;
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
        read_capped(
            Compression::Gzip,
            flate2::read::MultiGzDecoder::new(input),
            max_output,
        )
    }
}

#[cfg(not(feature = "gzip"))]
mod gzip {
    use super::{Compression, CompressionError};

    pub(super) fn compress(_: i32, _: &[u8], _: &mut Vec<u8>) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Gzip,
        })
    }

    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Gzip,
        })
    }
}

/// The xerial snappy-java stream header.
#[cfg(feature = "snappy")]
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";

#[cfg(feature = "snappy")]
mod snappy {
    use super::{Compression, CompressionError, XERIAL_MAGIC};

    /// snappy-java's default block size, used by the Java producer.
    const CHUNK: usize = 32 * 1024;
    /// Snappy's worst-case expansion: a 3-byte copy op yields at most 64 bytes, so the output is
    /// at most about 22 times the input; a declared length beyond that is a lie.
    const MAX_RATIO: usize = 22;

    fn corrupt(detail: impl Into<String>) -> CompressionError {
        CompressionError::Corrupt {
            codec: Compression::Snappy,
            detail: detail.into(),
        }
    }

    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        out.reserve(16 + snap::raw::max_compress_len(input.len().min(CHUNK)));
        out.extend_from_slice(XERIAL_MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        let mut enc = snap::raw::Encoder::new();
        for chunk in input.chunks(CHUNK) {
            let len_at = out.len();
            let bound = snap::raw::max_compress_len(chunk.len());
            out.resize(len_at + 4 + bound, 0);
            let n = enc.compress(chunk, &mut out[len_at + 4..]).map_err(|e| {
                CompressionError::CompressFailed {
                    codec: Compression::Snappy,
                    detail: e.to_string(),
                }
            })?;
            out.truncate(len_at + 4 + n);
            // n <= max_compress_len(32 KiB), far below i32::MAX.
            out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        }
        Ok(())
    }

    /// Appends one raw snappy block to `out`, checking its declared length against the limit and
    /// against what its compressed size can possibly expand to before allocating.
    fn raw_block(
        block: &[u8],
        out: &mut Vec<u8>,
        max_output: usize,
    ) -> Result<(), CompressionError> {
        let len = snap::raw::decompress_len(block).map_err(|e| corrupt(e.to_string()))?;
        if len > block.len().saturating_mul(MAX_RATIO).saturating_add(16) {
            return Err(corrupt(format!(
                "block of {} bytes declares {len} uncompressed bytes",
                block.len()
            )));
        }
        if len > max_output.saturating_sub(out.len()) {
            return Err(CompressionError::OutputLimit {
                codec: Compression::Snappy,
                limit: max_output,
            });
        }
        let start = out.len();
        out.resize(start + len, 0);
        let n = snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        out.truncate(start + n);
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
        let mut out = Vec::new();
        let Some(mut rest) = input.strip_prefix(XERIAL_MAGIC.as_slice()) else {
            raw_block(input, &mut out, max_output)?;
            return Ok(out);
        };
        // Version and compatible version: snappy-java only checks that the header is present.
        if rest.len() < 8 {
            return Err(corrupt("xerial header truncated"));
        }
        rest = &rest[8..];
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("xerial chunk length truncated"));
            };
            let len = i32::from_be_bytes(*len);
            let len = usize::try_from(len)
                .map_err(|_| corrupt(format!("negative xerial chunk length {len}")))?;
            if len > tail.len() {
                return Err(corrupt(format!(
                    "xerial chunk of {len} bytes but only {} remain",
                    tail.len()
                )));
            }
            raw_block(&tail[..len], &mut out, max_output)?;
            rest = &tail[len..];
        }
        Ok(out)
    }
}

#[cfg(not(feature = "snappy"))]
mod snappy {
    use super::{Compression, CompressionError};

    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Snappy,
        })
    }

    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Snappy,
        })
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    //! The LZ4 frame format is small enough to write directly around `lz4_flex`'s block codec,
    //! which compresses straight into the output (no staging copy as in its `FrameEncoder`) and
    //! lets the decoder size buffers by the data present instead of the declared block size.
    use super::{Compression, CompressionError};

    const MAGIC: u32 = 0x184D_2204;
    /// FLG: version 01, independent blocks, no block checksum, no content size, no content
    /// checksum, no dictionary id.
    const FLG: u8 = 0b0110_0000;
    /// BD: maximum block size 64 KiB (id 4).
    const BD: u8 = 0x40;
    /// Header checksum: second byte of xxh32(FLG, BD) with seed 0; checked in tests against
    /// `lz4_flex`'s own frame decoder.
    const HC: u8 = 0x82;
    const BLOCK: usize = 64 * 1024;
    const UNCOMPRESSED_BIT: u32 = 0x8000_0000;
    /// LZ4's worst-case expansion is 255 output bytes per input byte (run-length of a match).
    const MAX_RATIO: usize = 255;

    fn corrupt(detail: impl Into<String>) -> CompressionError {
        CompressionError::Corrupt {
            codec: Compression::Lz4,
            detail: detail.into(),
        }
    }

    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[FLG, BD, HC]);
        for chunk in input.chunks(BLOCK) {
            let len_at = out.len();
            let bound = lz4_flex::block::get_maximum_output_size(chunk.len());
            out.resize(len_at + 4 + bound, 0);
            let n = lz4_flex::block::compress_into(chunk, &mut out[len_at + 4..]).map_err(|e| {
                CompressionError::CompressFailed {
                    codec: Compression::Lz4,
                    detail: e.to_string(),
                }
            })?;
            if n >= chunk.len() {
                // Incompressible: store the block raw, as the frame format allows.
                out.truncate(len_at + 4);
                out.extend_from_slice(chunk);
                // chunk.len() <= 64 KiB.
                out[len_at..len_at + 4]
                    .copy_from_slice(&(chunk.len() as u32 | UNCOMPRESSED_BIT).to_le_bytes());
            } else {
                out.truncate(len_at + 4 + n);
                out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_le_bytes());
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        Ok(())
    }

    fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], CompressionError> {
        if rest.len() < n {
            return Err(corrupt(format!(
                "{what} truncated: need {n} bytes, {} remain",
                rest.len()
            )));
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head)
    }

    fn u32_le(rest: &mut &[u8], what: &str) -> Result<u32, CompressionError> {
        let b = take(rest, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
        let mut out: Vec<u8> = Vec::new();
        let mut rest = input;
        // Several frames may follow each other; skippable frames are skipped.
        while !rest.is_empty() {
            let magic = u32_le(&mut rest, "frame magic")?;
            if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                let len = u32_le(&mut rest, "skippable frame length")? as usize;
                take(&mut rest, len, "skippable frame")?;
                continue;
            }
            if magic != MAGIC {
                return Err(corrupt(format!("bad frame magic {magic:#010x}")));
            }
            let desc = take(&mut rest, 2, "frame descriptor")?;
            let (flg, bd) = (desc[0], desc[1]);
            if flg >> 6 != 0b01 {
                return Err(corrupt(format!(
                    "unsupported frame version in FLG {flg:#04x}"
                )));
            }
            let independent = flg & 0x20 != 0;
            let block_checksum = flg & 0x10 != 0;
            let content_size = flg & 0x08 != 0;
            let content_checksum = flg & 0x04 != 0;
            let dict_id = flg & 0x01 != 0;
            let max_block = match (bd >> 4) & 0x07 {
                4 => 64 * 1024,
                5 => 256 * 1024,
                6 => 1024 * 1024,
                7 => 4 * 1024 * 1024,
                id => return Err(corrupt(format!("invalid block size id {id}"))),
            };
            if dict_id {
                return Err(corrupt("dictionary ids are not supported"));
            }
            // Content size and header checksum are skipped; the batch CRC protects the bytes.
            take(
                &mut rest,
                usize::from(content_size) * 8 + 1,
                "frame descriptor",
            )?;
            let frame_start = out.len();
            loop {
                let word = u32_le(&mut rest, "block size")?;
                if word == 0 {
                    break;
                }
                let len = (word & !UNCOMPRESSED_BIT) as usize;
                if len > max_block {
                    return Err(corrupt(format!(
                        "block of {len} bytes exceeds the frame maximum {max_block}"
                    )));
                }
                let data = take(&mut rest, len, "block")?;
                if block_checksum {
                    take(&mut rest, 4, "block checksum")?;
                }
                if word & UNCOMPRESSED_BIT != 0 {
                    if len > max_output.saturating_sub(out.len()) {
                        return Err(CompressionError::OutputLimit {
                            codec: Compression::Lz4,
                            limit: max_output,
                        });
                    }
                    out.extend_from_slice(data);
                    continue;
                }
                let room = max_output.saturating_sub(out.len());
                let cap = max_block.min(len.saturating_mul(MAX_RATIO)).min(room);
                let start = out.len();
                out.resize(start + cap, 0);
                let result = if independent || start == frame_start {
                    lz4_flex::block::decompress_into(data, &mut out[start..])
                } else {
                    // Linked blocks may refer up to 64 KiB back into this frame's output.
                    let dict_from = start.saturating_sub(64 * 1024).max(frame_start);
                    let (before, after) = out.split_at_mut(start);
                    lz4_flex::block::decompress_into_with_dict(data, after, &before[dict_from..])
                };
                match result {
                    Ok(n) => out.truncate(start + n),
                    Err(e) => {
                        // Running out of room within the limit means the limit was hit.
                        if cap == room && cap < max_block.min(len.saturating_mul(MAX_RATIO)) {
                            return Err(CompressionError::OutputLimit {
                                codec: Compression::Lz4,
                                limit: max_output,
                            });
                        }
                        return Err(corrupt(e.to_string()));
                    }
                }
            }
            if content_checksum {
                take(&mut rest, 4, "content checksum")?;
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use std::io::Read as _;

        #[test]
        fn header_matches_lz4_flex_for_the_same_frame_info() {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            use std::io::Write as _;
            let info = FrameInfo::new()
                .block_mode(BlockMode::Independent)
                .block_size(BlockSize::Max64KB);
            let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(b"x").unwrap();
            let theirs = enc.finish().unwrap();
            let mut ours = Vec::new();
            super::compress(b"x", &mut ours).unwrap();
            assert_eq!(&ours[..7], &theirs[..7]);
            assert_eq!(ours[6], super::HC);
        }

        #[test]
        fn frames_read_by_lz4_flex() {
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
            let mut framed = Vec::new();
            super::compress(&data, &mut framed).unwrap();
            let mut back = Vec::new();
            lz4_flex::frame::FrameDecoder::new(&framed[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
        }

        #[test]
        fn reads_lz4_flex_linked_frames() {
            use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
            use std::io::Write as _;
            let data: Vec<u8> = (0..300_000u32)
                .map(|i| (i % 1013) as u8 ^ (i >> 12) as u8)
                .collect();
            for (mode, size, checks) in [
                (BlockMode::Linked, BlockSize::Max64KB, true),
                (BlockMode::Independent, BlockSize::Max256KB, false),
                (BlockMode::Linked, BlockSize::Max4MB, true),
            ] {
                let info = FrameInfo::new()
                    .block_mode(mode)
                    .block_size(size)
                    .block_checksums(checks)
                    .content_checksum(checks)
                    .content_size(Some(data.len() as u64));
                let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
                enc.write_all(&data).unwrap();
                let framed = enc.finish().unwrap();
                assert_eq!(super::decompress(&framed, data.len()).unwrap(), data);
            }
        }
    }
}

#[cfg(not(feature = "lz4"))]
mod lz4 {
    use super::{Compression, CompressionError};

    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Lz4,
        })
    }

    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Lz4,
        })
    }
}

#[cfg(feature = "zstd")]
mod zstd_codec {
    use super::{Compression, CompressionError, read_capped};

    /// Largest window accepted when decoding (2^27 = 128 MiB, libzstd's own default limit, which
    /// the highest levels of streaming compressors such as zstd-jni can use).
    const WINDOW_LOG_MAX: u32 = 27;

    fn fail(e: std::io::Error) -> CompressionError {
        CompressionError::CompressFailed {
            codec: Compression::Zstd,
            detail: e.to_string(),
        }
    }

    std::thread_local! {
        /// The thread's compression context and its level. Creating a context per batch cost
        /// more than compressing a small batch (libzstd allocates and clears its work space),
        /// which made small batches, e.g. with `linger.ms=0`, several times dearer.
        static CCTX: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }

    pub(super) fn compress(
        level: i32,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        CCTX.with(|cell| {
            // Re-entered only if compression recursed into itself, which it does not; fall
            // back to a fresh context rather than fail.
            let Ok(mut slot) = cell.try_borrow_mut() else {
                let mut fresh = zstd::bulk::Compressor::new(level).map_err(fail)?;
                return compress_with(&mut fresh, input, out);
            };
            if slot.as_ref().is_none_or(|(l, _)| *l != level) {
                *slot = Some((level, zstd::bulk::Compressor::new(level).map_err(fail)?));
            }
            match slot.as_mut() {
                Some((_, cctx)) => compress_with(cctx, input, out),
                None => Err(fail(std::io::Error::other("no zstd context"))),
            }
        })
    }

    fn compress_with(
        cctx: &mut zstd::bulk::Compressor<'static>,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        // Into the spare capacity after `out`'s bytes: zero-filling the whole bound first
        // touched (made resident) a page per 4 KiB of it for output a fraction of that size.
        let start = out.len();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        let mut cursor = std::io::Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        cctx.compress_to_buffer(input, &mut cursor).map_err(fail)?;
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
        let corrupt = |e: std::io::Error| CompressionError::Corrupt {
            codec: Compression::Zstd,
            detail: e.to_string(),
        };
        let mut dec = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
        dec.window_log_max(WINDOW_LOG_MAX).map_err(corrupt)?;
        read_capped(Compression::Zstd, dec, max_output)
    }
}

#[cfg(not(feature = "zstd"))]
mod zstd_codec {
    use super::{Compression, CompressionError};

    pub(super) fn compress(_: i32, _: &[u8], _: &mut Vec<u8>) -> Result<(), CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Zstd,
        })
    }

    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, CompressionError> {
        Err(CompressionError::Disabled {
            codec: Compression::Zstd,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bits_round_trip() {
        for c in Compression::ALL {
            assert_eq!(
                Compression::from_attributes(c.to_attribute_bits()).unwrap(),
                c
            );
            // Higher attribute bits (timestamp type, transactional, control) are ignored.
            assert_eq!(
                Compression::from_attributes(c.to_attribute_bits() | 0x38).unwrap(),
                c
            );
            assert_eq!(c.name().parse::<Compression>().unwrap(), c);
            assert_eq!(c.name().to_uppercase().parse::<Compression>().unwrap(), c);
        }
        for id in 5..8 {
            assert!(matches!(
                Compression::from_attributes(id),
                Err(CompressionError::UnknownCodec { id: got }) if got == id
            ));
        }
        assert!(matches!(
            "brotli".parse::<Compression>(),
            Err(CompressionError::UnknownName { name }) if name == "brotli"
        ));
    }

    #[test]
    fn librdkafka_levels() {
        assert_eq!(Compression::Gzip.effective_level(-1), 6);
        assert_eq!(Compression::Gzip.effective_level(12), 9);
        assert_eq!(Compression::Lz4.effective_level(-1), 0);
        assert_eq!(Compression::Lz4.effective_level(40), 12);
        assert_eq!(Compression::Zstd.effective_level(-1), 3);
        assert_eq!(Compression::Zstd.effective_level(-5), -5);
        assert_eq!(Compression::Zstd.effective_level(30), 22);
        assert_eq!(Compression::Snappy.effective_level(5), -1);
    }

    #[test]
    fn every_enabled_codec_round_trips_and_respects_the_limit() {
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 3000) as u8)
            .collect();
        for c in Compression::ALL.into_iter().filter(|c| c.is_enabled()) {
            for level in [-1, 1, 9] {
                let mut out = vec![0xAA; 3];
                compress_into(c, level, &data, &mut out).unwrap();
                assert_eq!(&out[..3], &[0xAA; 3], "{c}: appends after existing bytes");
                assert_eq!(
                    decompress(c, &out[3..], data.len()).unwrap(),
                    data,
                    "{c} level {level}"
                );
                assert!(
                    matches!(
                        decompress(c, &out[3..], data.len() - 1),
                        Err(CompressionError::OutputLimit { limit, .. }) if limit == data.len() - 1
                    ),
                    "{c}: limit one below the size must fail"
                );
            }
        }
        assert!(decompress(Compression::None, &data, data.len()).is_ok());
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_is_xerial_framed_and_raw_is_accepted() {
        let data = b"hello hello hello hello snappy".repeat(100);
        let mut out = Vec::new();
        compress_into(Compression::Snappy, -1, &data, &mut out).unwrap();
        assert_eq!(&out[..8], XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, data.len()).unwrap(),
            data
        );
        // A raw block declaring far more than it can expand to is rejected before allocating.
        let mut liar = Vec::new();
        crate::varint::put_uvarint(&mut liar, 1 << 40);
        liar.push(0);
        assert!(matches!(
            decompress(Compression::Snappy, &liar, usize::MAX),
            Err(CompressionError::Corrupt { .. })
        ));
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_bomb_is_capped() {
        let zeros = vec![0u8; 4 << 20];
        let mut out = Vec::new();
        compress_into(Compression::Gzip, 9, &zeros, &mut out).unwrap();
        assert!(out.len() < 10_000);
        assert!(matches!(
            decompress(Compression::Gzip, &out, 1 << 20),
            Err(CompressionError::OutputLimit { .. })
        ));
    }
}
