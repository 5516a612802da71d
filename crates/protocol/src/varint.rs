//! Kafka's variable-length integers: zig-zag encoded, 7 bits per byte, least significant group
//! first (the protobuf encoding), as used inside RecordBatch v2 records.
//!
//! Encoders write through a small stack array and one `put_slice`, so appending a varint to a
//! `Vec<u8>` or `BytesMut` is a single bounds check and copy. Decoders are strict: an `i32`
//! varint is at most 5 bytes and may not carry bits beyond 32, an `i64` varlong at most 10 bytes
//! and 64 bits; anything else is [`VarintError::Overflow`], so hostile input cannot smuggle bits.

use bytes::BufMut;

/// Longest encoding of a 32-bit varint.
pub const MAX_VARINT_LEN: usize = 5;
/// Longest encoding of a 64-bit varlong.
pub const MAX_VARLONG_LEN: usize = 10;

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ended before the last byte (high bit clear) of the varint.
    #[error("varint truncated after {read} byte(s)")]
    Truncated {
        /// Bytes consumed before the input ran out.
        read: usize,
    },
    /// The encoding is longer than the type allows or sets bits beyond its width.
    #[error("varint does not fit in {bits} bits")]
    Overflow {
        /// Width of the target type (32 or 64).
        bits: u32,
    },
}

/// Zig-zag maps signed to unsigned so that small magnitudes get short encodings.
#[inline]
const fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// The zig-zag mapping of a 64-bit value: what [`put_varlong`] encodes with [`encode_uvarint`].
#[inline]
pub const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
const fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Number of bytes of the unsigned base-128 encoding of `v`.
#[inline]
pub const fn uvarint_len(v: u64) -> usize {
    // 64 - lz bits are significant (at least one, at most 64); 7 of them per byte. For
    // x <= 70, x / 7 == (x * 37) >> 8: a multiply and a shift, where `div_ceil(7)` on a
    // `usize` the compiler cannot bound took a wide multiply plus a remainder fix-up (the
    // batch writer sizes ~7 varints per record).
    let bits = 64 - (v | 1).leading_zeros() as usize;
    ((bits + 6) * 37) >> 8
}

/// Number of bytes [`put_varint`] or [`put_varlong`] writes for `v` (zig-zag encoding).
///
/// For an `i32` the zig-zag of the value widened to `i64` has the same length, so one function
/// serves both.
#[inline]
pub const fn varint_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

/// Writes the unsigned base-128 encoding of `v` at the start of `out` and returns its length
/// ([`uvarint_len`]); bytes past the end of `out` are not written, so a caller that sized
/// `out` with [`uvarint_len`] gets the whole encoding and no caller can make it panic.
#[inline]
pub fn encode_uvarint(mut v: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        if let Some(b) = out.get_mut(i) {
            *b = (v as u8) | 0x80;
        }
        v >>= 7;
        i += 1;
    }
    if let Some(b) = out.get_mut(i) {
        *b = v as u8;
    }
    i + 1
}

/// Appends the unsigned base-128 encoding of `v` (no zig-zag; used by flexible versions).
#[inline]
pub fn put_uvarint<B: BufMut + ?Sized>(buf: &mut B, v: u64) {
    // Most varints in a record are 1-2 bytes: byte pushes beat a memcpy call for those.
    if v < 0x80 {
        buf.put_u8(v as u8);
    } else if v < 0x4000 {
        buf.put_slice(&[(v as u8) | 0x80, (v >> 7) as u8]);
    } else {
        let mut tmp = [0u8; MAX_VARLONG_LEN];
        let n = encode_uvarint(v, &mut tmp);
        buf.put_slice(&tmp[..n]);
    }
}

/// Appends the zig-zag varint encoding of `v` (1 to 5 bytes).
#[inline]
pub fn put_varint<B: BufMut + ?Sized>(buf: &mut B, v: i32) {
    put_uvarint(buf, u64::from(zigzag32(v)));
}

/// Appends the zig-zag varlong encoding of `v` (1 to 10 bytes).
#[inline]
pub fn put_varlong<B: BufMut + ?Sized>(buf: &mut B, v: i64) {
    put_uvarint(buf, zigzag64(v));
}

/// Reads an unsigned base-128 integer of at most `max_len` bytes whose value fits in `bits`,
/// advancing `input` past it only on success.
#[inline]
fn get_bounded(input: &mut &[u8], max_len: usize, bits: u32) -> Result<u64, VarintError> {
    let bytes = *input;
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i == max_len {
            return Err(VarintError::Overflow { bits });
        }
        let shift = 7 * i as u32;
        let group = u64::from(b & 0x7f);
        // The last permitted byte may only carry the bits that remain of the type.
        if shift + 7 > bits && (group >> (bits - shift)) != 0 {
            return Err(VarintError::Overflow { bits });
        }
        value |= group << shift;
        if b & 0x80 == 0 {
            *input = &bytes[i + 1..];
            return Ok(value);
        }
    }
    if bytes.len() >= max_len {
        return Err(VarintError::Overflow { bits });
    }
    Err(VarintError::Truncated { read: bytes.len() })
}

/// Reads an unsigned base-128 `u64` (at most 10 bytes), advancing `input` on success.
#[inline]
pub fn get_uvarint(input: &mut &[u8]) -> Result<u64, VarintError> {
    get_bounded(input, MAX_VARLONG_LEN, 64)
}

/// Reads a zig-zag varint `i32` (at most 5 bytes), advancing `input` on success.
#[inline]
pub fn get_varint(input: &mut &[u8]) -> Result<i32, VarintError> {
    let raw = get_bounded(input, MAX_VARINT_LEN, 32)?;
    // raw < 2^32 was checked, so the zig-zag decode of the u64 fits in i32.
    Ok(unzigzag64(raw) as i32)
}

/// Reads a zig-zag varlong `i64` (at most 10 bytes), advancing `input` on success.
#[inline]
pub fn get_varlong(input: &mut &[u8]) -> Result<i64, VarintError> {
    Ok(unzigzag64(get_bounded(input, MAX_VARLONG_LEN, 64)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_encoding_at_every_bit_length() {
        for bits in 0..=64_u32 {
            for v in [
                1_u64.checked_shl(bits).map_or(u64::MAX, |p| p - 1),
                1_u64.checked_shl(bits.saturating_sub(1)).unwrap_or(0),
            ] {
                let mut slot = [0u8; 16];
                let n = encode_uvarint(v, &mut slot);
                assert_eq!(uvarint_len(v), n, "{v:#x}");
                assert_eq!(n, (64 - (v | 1).leading_zeros() as usize).div_ceil(7));
            }
        }
    }

    #[test]
    fn known_encodings() {
        // Values from the protobuf zig-zag table and Kafka's ByteUtils tests.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX as i64, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN as i64, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, enc) in cases {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            assert_eq!(buf, enc, "varlong {v}");
            assert_eq!(varint_len(v), enc.len());
            let mut slot = [0u8; MAX_VARLONG_LEN];
            assert_eq!(encode_uvarint(zigzag64(v), &mut slot), enc.len());
            assert_eq!(&slot[..enc.len()], enc, "encode_uvarint {v}");
            // Too small a slice gets what fits and the full length back, no panic.
            let mut short = [0u8; 1];
            assert_eq!(encode_uvarint(zigzag64(v), &mut short), enc.len());
            assert_eq!(short[0], enc[0]);
            if let Ok(v32) = i32::try_from(v) {
                let mut b32 = Vec::new();
                put_varint(&mut b32, v32);
                assert_eq!(b32, enc, "varint {v}");
                let mut s = enc;
                assert_eq!(get_varint(&mut s), Ok(v32));
                assert!(s.is_empty());
            }
        }
    }

    #[test]
    fn rejects_overflow_and_truncation() {
        // Sixth byte for an i32.
        let mut s: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(get_varint(&mut s), Err(VarintError::Overflow { bits: 32 }));
        // Fifth byte carries a 33rd bit.
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x1f];
        assert_eq!(get_varint(&mut s), Err(VarintError::Overflow { bits: 32 }));
        // Tenth byte of a varlong may only hold one bit.
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(get_varlong(&mut s), Err(VarintError::Overflow { bits: 64 }));
        let before: &[u8] = &[0x80, 0x80];
        let mut s = before;
        assert_eq!(get_varint(&mut s), Err(VarintError::Truncated { read: 2 }));
        assert_eq!(s, before, "input is not advanced on error");
        let mut s: &[u8] = &[];
        assert_eq!(get_varint(&mut s), Err(VarintError::Truncated { read: 0 }));
    }
}
