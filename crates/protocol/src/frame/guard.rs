//! Bounds-only walk of a response body before `kafka-protocol` decodes it.
//!
//! `kafka-protocol` reserves `Vec::with_capacity(declared_count)` for arrays before reading
//! their elements, so a tiny hostile frame can make it ask for gigabytes. This walk mirrors its
//! decoders field by field (the schemas below follow Kafka's JSON message definitions, as
//! generated into `kafka-protocol` 0.18) but allocates nothing: each declared length is checked
//! against the bytes left, and each array element is walked, so by the time `kafka-protocol`
//! runs every count it reads is backed by that many elements in the input.
//!
//! Structs are versioned like their message; from `flexible` on, strings, bytes and arrays use
//! compact (varint) lengths and every struct ends with a tagged-field section.

use kafka_protocol::messages::ApiKey;

use super::CodecErrorKind;

/// A field type as far as bounds go.
#[derive(Clone, Copy)]
enum Ty {
    /// A fixed-width scalar (int8..int64, bool, uuid) of this many bytes.
    Fixed(usize),
    /// STRING / NULLABLE_STRING (compact when flexible).
    Str,
    /// BYTES / NULLABLE_BYTES (compact when flexible).
    Bytes,
    /// An array of fixed-width scalars of this many bytes each.
    Scalars(usize),
    /// An array of structs.
    Structs(&'static Struct),
    /// A single struct (only used for tagged fields).
    One(&'static Struct),
}

/// A field present from version `min` to `max` inclusive.
#[derive(Clone, Copy)]
struct Field(Ty, i16, i16);

/// The fields of a struct and its known tagged fields.
struct Struct {
    fields: &'static [Field],
    tagged: &'static [(u32, Field)],
}

/// A response body schema: its top-level struct and the first flexible version.
struct Schema {
    body: &'static Struct,
    flexible: i16,
}

const I16: Ty = Ty::Fixed(2);
const I32: Ty = Ty::Fixed(4);
const I64: Ty = Ty::Fixed(8);
const BOOL: Ty = Ty::Fixed(1);
const UUID: Ty = Ty::Fixed(16);
const ALL: i16 = i16::MAX;

const fn f(ty: Ty, min: i16, max: i16) -> Field {
    Field(ty, min, max)
}

// ApiVersions (flexible from 3).
const API_VERSION: Struct = Struct {
    fields: &[f(I16, 0, ALL), f(I16, 0, ALL), f(I16, 0, ALL)],
    tagged: &[],
};
const FEATURE_KEY: Struct = Struct {
    fields: &[f(Ty::Str, 3, ALL), f(I16, 3, ALL), f(I16, 3, ALL)],
    tagged: &[],
};
const API_VERSIONS: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I16, 0, ALL),
            f(Ty::Structs(&API_VERSION), 0, ALL),
            f(I32, 1, ALL),
        ],
        tagged: &[
            (0, f(Ty::Structs(&FEATURE_KEY), 3, ALL)),
            (1, f(I64, 3, ALL)),
            (2, f(Ty::Structs(&FEATURE_KEY), 3, ALL)),
            (3, f(BOOL, 3, ALL)),
        ],
    },
    flexible: 3,
};

// Metadata (flexible from 9).
const METADATA_BROKER: Struct = Struct {
    fields: &[
        f(I32, 0, ALL),
        f(Ty::Str, 0, ALL),
        f(I32, 0, ALL),
        f(Ty::Str, 1, ALL),
    ],
    tagged: &[],
};
const METADATA_PARTITION: Struct = Struct {
    fields: &[
        f(I16, 0, ALL),
        f(I32, 0, ALL),
        f(I32, 0, ALL),
        f(I32, 7, ALL),
        f(Ty::Scalars(4), 0, ALL),
        f(Ty::Scalars(4), 0, ALL),
        f(Ty::Scalars(4), 5, ALL),
    ],
    tagged: &[],
};
const METADATA_TOPIC: Struct = Struct {
    fields: &[
        f(I16, 0, ALL),
        f(Ty::Str, 0, ALL),
        f(UUID, 10, ALL),
        f(BOOL, 1, ALL),
        f(Ty::Structs(&METADATA_PARTITION), 0, ALL),
        f(I32, 8, ALL),
    ],
    tagged: &[],
};
const METADATA: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I32, 3, ALL),
            f(Ty::Structs(&METADATA_BROKER), 0, ALL),
            f(Ty::Str, 2, ALL),
            f(I32, 1, ALL),
            f(Ty::Structs(&METADATA_TOPIC), 0, ALL),
            f(I32, 8, 10),
            f(I16, 13, ALL),
        ],
        tagged: &[],
    },
    flexible: 9,
};

// Produce (flexible from 9).
const BATCH_INDEX_AND_ERROR: Struct = Struct {
    fields: &[f(I32, 8, ALL), f(Ty::Str, 8, ALL)],
    tagged: &[],
};
const LEADER_ID_AND_EPOCH: Struct = Struct {
    fields: &[f(I32, 10, ALL), f(I32, 10, ALL)],
    tagged: &[],
};
const NODE_ENDPOINT: Struct = Struct {
    fields: &[
        f(I32, 10, ALL),
        f(Ty::Str, 10, ALL),
        f(I32, 10, ALL),
        f(Ty::Str, 10, ALL),
    ],
    tagged: &[],
};
const PARTITION_PRODUCE: Struct = Struct {
    fields: &[
        f(I32, 0, ALL),
        f(I16, 0, ALL),
        f(I64, 0, ALL),
        f(I64, 2, ALL),
        f(I64, 5, ALL),
        f(Ty::Structs(&BATCH_INDEX_AND_ERROR), 8, ALL),
        f(Ty::Str, 8, ALL),
    ],
    tagged: &[(0, f(Ty::One(&LEADER_ID_AND_EPOCH), 10, ALL))],
};
const TOPIC_PRODUCE: Struct = Struct {
    fields: &[
        f(Ty::Str, 0, 12),
        f(UUID, 13, ALL),
        f(Ty::Structs(&PARTITION_PRODUCE), 0, ALL),
    ],
    tagged: &[],
};
const PRODUCE: Schema = Schema {
    body: &Struct {
        fields: &[f(Ty::Structs(&TOPIC_PRODUCE), 0, ALL), f(I32, 1, ALL)],
        tagged: &[(0, f(Ty::Structs(&NODE_ENDPOINT), 10, ALL))],
    },
    flexible: 9,
};

// ListOffsets v1+ (flexible from 6), for `Client::fetch_watermarks`.
const LIST_OFFSETS_PARTITION: Struct = Struct {
    fields: &[
        f(I32, 0, ALL),
        f(I16, 0, ALL),
        f(I64, 1, ALL),
        f(I64, 1, ALL),
        f(I32, 4, ALL),
    ],
    tagged: &[],
};
const LIST_OFFSETS_TOPIC: Struct = Struct {
    fields: &[
        f(Ty::Str, 0, ALL),
        f(Ty::Structs(&LIST_OFFSETS_PARTITION), 0, ALL),
    ],
    tagged: &[],
};
const LIST_OFFSETS: Schema = Schema {
    body: &Struct {
        fields: &[f(I32, 2, ALL), f(Ty::Structs(&LIST_OFFSETS_TOPIC), 0, ALL)],
        tagged: &[],
    },
    flexible: 6,
};

// InitProducerId (flexible from 2).
const INIT_PRODUCER_ID: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I32, 0, ALL),
            f(I16, 0, ALL),
            f(I64, 0, ALL),
            f(I16, 0, ALL),
            f(I64, 6, ALL),
            f(I16, 6, ALL),
        ],
        tagged: &[],
    },
    flexible: 2,
};

// FindCoordinator (flexible from 3).
const COORDINATOR: Struct = Struct {
    fields: &[
        f(Ty::Str, 4, ALL),
        f(I32, 4, ALL),
        f(Ty::Str, 4, ALL),
        f(I32, 4, ALL),
        f(I16, 4, ALL),
        f(Ty::Str, 4, ALL),
    ],
    tagged: &[],
};
const FIND_COORDINATOR: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I32, 1, ALL),
            f(I16, 0, 3),
            f(Ty::Str, 1, 3),
            f(I32, 0, 3),
            f(Ty::Str, 0, 3),
            f(I32, 0, 3),
            f(Ty::Structs(&COORDINATOR), 4, ALL),
        ],
        tagged: &[],
    },
    flexible: 3,
};

// AddPartitionsToTxn (flexible from 3).
const TXN_PARTITION_RESULT: Struct = Struct {
    fields: &[f(I32, 0, ALL), f(I16, 0, ALL)],
    tagged: &[],
};
const TXN_TOPIC_RESULT: Struct = Struct {
    fields: &[
        f(Ty::Str, 0, ALL),
        f(Ty::Structs(&TXN_PARTITION_RESULT), 0, ALL),
    ],
    tagged: &[],
};
const TXN_RESULT: Struct = Struct {
    fields: &[
        f(Ty::Str, 4, ALL),
        f(Ty::Structs(&TXN_TOPIC_RESULT), 4, ALL),
    ],
    tagged: &[],
};
const ADD_PARTITIONS_TO_TXN: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I32, 0, ALL),
            f(I16, 4, ALL),
            f(Ty::Structs(&TXN_RESULT), 4, ALL),
            f(Ty::Structs(&TXN_TOPIC_RESULT), 0, 3),
        ],
        tagged: &[],
    },
    flexible: 3,
};

// AddOffsetsToTxn (flexible from 3).
const ADD_OFFSETS_TO_TXN: Schema = Schema {
    body: &Struct {
        fields: &[f(I32, 0, ALL), f(I16, 0, ALL)],
        tagged: &[],
    },
    flexible: 3,
};

// EndTxn (flexible from 3).
const END_TXN: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I32, 0, ALL),
            f(I16, 0, ALL),
            f(I64, 5, ALL),
            f(I16, 5, ALL),
        ],
        tagged: &[],
    },
    flexible: 3,
};

// TxnOffsetCommit (flexible from 3); its topic/partition results have the same shape as
// AddPartitionsToTxn's.
const TXN_OFFSET_COMMIT: Schema = Schema {
    body: &Struct {
        fields: &[f(I32, 0, ALL), f(Ty::Structs(&TXN_TOPIC_RESULT), 0, ALL)],
        tagged: &[],
    },
    flexible: 3,
};

// SaslHandshake (never flexible).
const SASL_HANDSHAKE: Schema = Schema {
    body: &Struct {
        fields: &[f(I16, 0, ALL), f(Ty::Structs(&STRING_ITEM), 0, ALL)],
        tagged: &[],
    },
    flexible: ALL,
};
/// An array of strings walks like an array of one-string structs when not flexible.
const STRING_ITEM: Struct = Struct {
    fields: &[f(Ty::Str, 0, ALL)],
    tagged: &[],
};

// SaslAuthenticate (flexible from 2).
const SASL_AUTHENTICATE: Schema = Schema {
    body: &Struct {
        fields: &[
            f(I16, 0, ALL),
            f(Ty::Str, 0, ALL),
            f(Ty::Bytes, 0, ALL),
            f(I64, 1, ALL),
        ],
        tagged: &[],
    },
    flexible: 2,
};

fn schema(api_key: ApiKey) -> Option<&'static Schema> {
    Some(match api_key {
        ApiKey::ApiVersions => &API_VERSIONS,
        ApiKey::Metadata => &METADATA,
        ApiKey::Produce => &PRODUCE,
        ApiKey::InitProducerId => &INIT_PRODUCER_ID,
        ApiKey::ListOffsets => &LIST_OFFSETS,
        ApiKey::FindCoordinator => &FIND_COORDINATOR,
        ApiKey::AddPartitionsToTxn => &ADD_PARTITIONS_TO_TXN,
        ApiKey::AddOffsetsToTxn => &ADD_OFFSETS_TO_TXN,
        ApiKey::EndTxn => &END_TXN,
        ApiKey::TxnOffsetCommit => &TXN_OFFSET_COMMIT,
        ApiKey::SaslHandshake => &SASL_HANDSHAKE,
        ApiKey::SaslAuthenticate => &SASL_AUTHENTICATE,
        _ => return None,
    })
}

/// Checks that every length declared in `body` (a response body to `api_key` at `version`,
/// header removed) fits the bytes present.
pub(super) fn check(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), CodecErrorKind> {
    let schema = schema(api_key).ok_or(CodecErrorKind::NoBoundsSchema)?;
    let mut walk = Walk {
        buf: body,
        pos: 0,
        version,
        flexible: version >= schema.flexible,
    };
    walk.structure(schema.body)
}

struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    flexible: bool,
}

impl Walk<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], CodecErrorKind> {
        let start = self.pos;
        if n > self.remaining() {
            return Err(CodecErrorKind::Truncated { offset: start });
        }
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    /// Takes `n` bytes after a length field read at `offset`.
    fn take_declared(&mut self, offset: usize, n: u64) -> Result<(), CodecErrorKind> {
        let remaining = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= remaining => {
                self.pos += n;
                Ok(())
            }
            _ => Err(CodecErrorKind::LengthExceedsInput {
                offset,
                declared: n,
                remaining,
            }),
        }
    }

    fn int16(&mut self) -> Result<i16, CodecErrorKind> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn int32(&mut self) -> Result<i32, CodecErrorKind> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint of at most 5 bytes, as `kafka-protocol` reads it.
    fn uvarint(&mut self) -> Result<u32, CodecErrorKind> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = u32::from(self.take(1)?[0]);
            value |= (b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(CodecErrorKind::Truncated { offset: self.pos })
    }

    /// Reads a length prefix; `None` for null. Compact lengths are stored plus one.
    fn length(&mut self, wide: bool) -> Result<Option<u64>, CodecErrorKind> {
        let offset = self.pos;
        if self.flexible {
            return Ok(self.uvarint()?.checked_sub(1).map(u64::from));
        }
        let n = if wide {
            self.int32()?
        } else {
            i32::from(self.int16()?)
        };
        match n {
            -1 => Ok(None),
            n => u64::try_from(n)
                .map(Some)
                .map_err(|_| CodecErrorKind::LengthExceedsInput {
                    offset,
                    declared: 0,
                    remaining: self.remaining(),
                }),
        }
    }

    fn field(&mut self, ty: Ty) -> Result<(), CodecErrorKind> {
        match ty {
            Ty::Fixed(n) => self.take(n).map(drop),
            Ty::Str | Ty::Bytes => {
                let offset = self.pos;
                match self.length(matches!(ty, Ty::Bytes))? {
                    Some(n) => self.take_declared(offset, n),
                    None => Ok(()),
                }
            }
            Ty::Scalars(width) => {
                let offset = self.pos;
                if let Some(n) = self.length(true)? {
                    self.take_declared(offset, n.saturating_mul(width as u64))?;
                }
                Ok(())
            }
            Ty::Structs(s) => {
                let offset = self.pos;
                if let Some(n) = self.length(true)? {
                    // Every element takes at least one byte, so a count above the bytes left
                    // is a lie; checking it first also bounds the loop below.
                    let remaining = self.remaining();
                    if n > remaining as u64 {
                        return Err(CodecErrorKind::LengthExceedsInput {
                            offset,
                            declared: n,
                            remaining,
                        });
                    }
                    for _ in 0..n {
                        self.structure(s)?;
                    }
                }
                Ok(())
            }
            Ty::One(s) => self.structure(s),
        }
    }

    fn structure(&mut self, s: &Struct) -> Result<(), CodecErrorKind> {
        for &Field(ty, min, max) in s.fields {
            if (min..=max).contains(&self.version) {
                self.field(ty)?;
            }
        }
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let offset = self.pos;
            let size = u64::from(self.uvarint()?);
            let known = s
                .tagged
                .iter()
                .find(|(t, Field(_, min, max))| *t == tag && (*min..=*max).contains(&self.version));
            match known {
                Some(&(_, Field(ty, _, _))) => {
                    let start = self.pos;
                    if size > self.remaining() as u64 {
                        return Err(CodecErrorKind::LengthExceedsInput {
                            offset,
                            declared: size,
                            remaining: self.remaining(),
                        });
                    }
                    // kafka-protocol decodes known tagged fields from the stream, ignoring
                    // `size`; a field that disagrees with its size is malformed.
                    self.field(ty)?;
                    if (self.pos - start) as u64 != size {
                        return Err(CodecErrorKind::Protocol(format!(
                            "tagged field {tag} declares {size} bytes but holds {}",
                            self.pos - start
                        )));
                    }
                }
                None => self.take_declared(offset, size)?,
            }
        }
        Ok(())
    }
}
