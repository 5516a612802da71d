//! ApiVersions negotiation: per API, the highest version both purekafka and the broker speak.
//!
//! purekafka's own ranges ([`SUPPORTED`]) are what it implements intersected with what the
//! `kafka-protocol` crate can encode (request) and decode (response). Notable limits:
//! - Produce 3..=12: v0-2 predate RecordBatch v2 (Kafka 4 still advertises Produce min 0 but
//!   rejects v0-2), and v13 addresses topics by id only.
//! - Metadata 4..=13: v13 only adds a top-level `error_code` (e.g. REBOOTSTRAP_REQUIRED).
//! - AddPartitionsToTxn ..=3: v4+ is the broker-to-broker batched form.
//! - FindCoordinator 1..: v0 cannot ask for a transaction coordinator.

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest,
    ApiVersionsResponse, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::{Message, VersionRange};

use crate::frame::{CodecError, KafkaRequest, decode_response};

/// The error code of an ApiVersions response sent in v0 form because the request's version
/// was too new (KIP-511).
pub const UNSUPPORTED_VERSION: i16 = 35;

/// The name of the finalized feature that selects the transaction protocol (KIP-890).
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// One API purekafka speaks and the versions it speaks it at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiSupport {
    /// The api key.
    pub api_key: ApiKey,
    /// The versions purekafka implements and `kafka-protocol` can encode and decode.
    pub versions: VersionRange,
}

const fn support<R: KafkaRequest>(min: i16, max: i16) -> ApiSupport {
    let mut lo = min;
    let mut hi = max;
    let bounds = [R::VERSIONS, <R::Response as Message>::VERSIONS];
    let mut i = 0;
    while i < bounds.len() {
        if bounds[i].min > lo {
            lo = bounds[i].min;
        }
        if bounds[i].max < hi {
            hi = bounds[i].max;
        }
        i += 1;
    }
    ApiSupport {
        api_key: R::API_KEY,
        versions: VersionRange { min: lo, max: hi },
    }
}

/// Every API purekafka sends, with its version range.
pub const SUPPORTED: [ApiSupport; 12] = [
    support::<ProduceRequest>(3, 12),
    support::<MetadataRequest>(4, 13),
    support::<ApiVersionsRequest>(0, 4),
    support::<InitProducerIdRequest>(0, 5),
    support::<ListOffsetsRequest>(1, 10),
    support::<FindCoordinatorRequest>(1, 6),
    support::<AddPartitionsToTxnRequest>(0, 3),
    support::<AddOffsetsToTxnRequest>(0, 4),
    support::<EndTxnRequest>(0, 5),
    support::<TxnOffsetCommitRequest>(0, 5),
    support::<SaslHandshakeRequest>(0, 1),
    support::<SaslAuthenticateRequest>(0, 2),
];

/// The versions purekafka speaks for `api_key`, or `None` if it never sends it.
pub fn client_range(api_key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|s| s.api_key == api_key)
        .map(|s| s.versions)
}

/// The ApiVersions version to open a connection with: the highest purekafka speaks.
pub fn api_versions_request_version() -> i16 {
    client_range(ApiKey::ApiVersions).map_or(0, |r| r.max)
}

/// Why no version of an API can be used with a broker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VersionError {
    /// purekafka has no support for this API at all.
    #[error("purekafka does not implement {0:?}")]
    NotImplemented(ApiKey),
    /// The broker did not list this API in its ApiVersions response.
    #[error("the broker does not support {0:?}")]
    NotAdvertised(ApiKey),
    /// Both sides speak the API, but at disjoint versions.
    #[error("no common version for {api_key:?}: broker {broker}, purekafka {client}")]
    NoOverlap {
        /// The API.
        api_key: ApiKey,
        /// What the broker advertised.
        broker: VersionRange,
        /// What purekafka speaks.
        client: VersionRange,
    },
}

/// A finalized cluster feature level from an ApiVersions response (KIP-584).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeature {
    /// Feature name, e.g. `transaction.version`.
    pub name: String,
    /// Lowest finalized level.
    pub min_level: i16,
    /// Highest finalized level: the level in force.
    pub max_level: i16,
}

/// The result of ApiVersions negotiation with one broker.
#[derive(Debug, Clone, PartialEq)]
pub struct NegotiatedVersions {
    /// Per entry of [`SUPPORTED`]: the broker's advertised range, if any.
    broker: [Option<VersionRange>; SUPPORTED.len()],
    finalized: Vec<FinalizedFeature>,
    finalized_epoch: i64,
}

impl NegotiatedVersions {
    /// Negotiates from a broker's ApiVersions response.
    ///
    /// The response's `error_code` is not checked here: an UNSUPPORTED_VERSION response still
    /// carries the broker's ranges (see [`decode_api_versions_response`]); other errors leave
    /// `api_keys` empty, so every API then reads as not advertised.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let mut broker = [None; SUPPORTED.len()];
        for api in &response.api_keys {
            if let Some(i) = SUPPORTED
                .iter()
                .position(|s| s.api_key as i16 == api.api_key)
            {
                broker[i] = Some(VersionRange {
                    min: api.min_version,
                    max: api.max_version,
                });
            }
        }
        let finalized = response
            .finalized_features
            .iter()
            .map(|f| FinalizedFeature {
                name: f.name.to_string(),
                min_level: f.min_version_level,
                max_level: f.max_version_level,
            })
            .collect();
        Self {
            broker,
            finalized,
            finalized_epoch: response.finalized_features_epoch,
        }
    }

    /// The highest version of `api_key` both sides speak, if any.
    pub fn version(&self, api_key: ApiKey) -> Option<i16> {
        self.require(api_key).ok()
    }

    /// The highest version of `api_key` both sides speak, or why there is none.
    pub fn require(&self, api_key: ApiKey) -> Result<i16, VersionError> {
        let i = SUPPORTED
            .iter()
            .position(|s| s.api_key == api_key)
            .ok_or(VersionError::NotImplemented(api_key))?;
        let client = SUPPORTED[i].versions;
        let broker = self.broker[i].ok_or(VersionError::NotAdvertised(api_key))?;
        let common = client.intersect(&broker);
        if common.is_empty() {
            return Err(VersionError::NoOverlap {
                api_key,
                broker,
                client,
            });
        }
        Ok(common.max)
    }

    /// The range the broker advertised for `api_key` (only for APIs in [`SUPPORTED`]).
    pub fn broker_range(&self, api_key: ApiKey) -> Option<VersionRange> {
        let i = SUPPORTED.iter().position(|s| s.api_key == api_key)?;
        self.broker[i]
    }

    /// The finalized features the broker reported.
    pub fn finalized_features(&self) -> &[FinalizedFeature] {
        &self.finalized
    }

    /// The finalized level of feature `name`, if the broker reported it.
    pub fn finalized_feature(&self, name: &str) -> Option<&FinalizedFeature> {
        self.finalized.iter().find(|f| f.name == name)
    }

    /// The epoch of the finalized features, or `None` if the broker reported none (-1).
    pub fn finalized_features_epoch(&self) -> Option<i64> {
        (self.finalized_epoch >= 0).then_some(self.finalized_epoch)
    }

    /// The finalized `transaction.version` (0 when absent: the pre-KIP-890 protocol; 2 means
    /// partitions are added to a transaction implicitly by Produce).
    pub fn transaction_version(&self) -> i16 {
        self.finalized_feature(TRANSACTION_VERSION_FEATURE)
            .map_or(0, |f| f.max_level)
    }
}

/// Decodes an ApiVersions response frame to a request sent at `version`, falling back to v0.
///
/// A broker that does not know `version` answers in v0 form with [`UNSUPPORTED_VERSION`]
/// and its own ApiVersions range (KIP-511); the caller should then retry at the highest
/// version both sides speak. Returns the header, the body and the version it was decoded at.
pub fn decode_api_versions_response(
    frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, ApiVersionsResponse, i16), CodecError> {
    match decode_response::<ApiVersionsResponse>(frame.clone(), version) {
        Ok((header, body)) => Ok((header, body, version)),
        Err(first) if version > 0 => match decode_response::<ApiVersionsResponse>(frame, 0) {
            Ok((header, body)) if body.error_code == UNSUPPORTED_VERSION => Ok((header, body, 0)),
            _ => Err(first),
        },
        Err(first) => Err(first),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey};
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn api(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        let mut a = ApiVersion::default();
        a.api_key = key as i16;
        a.min_version = min;
        a.max_version = max;
        a
    }

    #[test]
    fn supported_ranges_are_clamped_to_what_kafka_protocol_handles() {
        assert_eq!(
            client_range(ApiKey::Produce),
            Some(VersionRange { min: 3, max: 12 })
        );
        assert_eq!(
            client_range(ApiKey::ApiVersions),
            Some(VersionRange { min: 0, max: 4 })
        );
        // InitProducerId: response goes to 6, request only to 5, we ask for 5.
        assert_eq!(
            client_range(ApiKey::InitProducerId),
            Some(VersionRange { min: 0, max: 5 })
        );
        assert_eq!(client_range(ApiKey::Fetch), None);
        assert_eq!(api_versions_request_version(), 4);
        for s in SUPPORTED {
            assert!(!s.versions.is_empty(), "{:?}", s.api_key);
        }
    }

    #[test]
    fn negotiates_the_highest_common_version() {
        let mut r = ApiVersionsResponse::default();
        r.api_keys = vec![
            api(ApiKey::Produce, 0, 13), // Kafka 4.1: we stop at 12
            api(ApiKey::Metadata, 0, 9), // old broker: its max wins
            api(ApiKey::EndTxn, 6, 9),   // disjoint
            api(ApiKey::Fetch, 4, 17),   // not ours: ignored
        ];
        let mut unknown = ApiVersion::default();
        unknown.api_key = 31_000; // not an ApiKey at all
        r.api_keys.push(unknown);
        let mut ff = FinalizedFeatureKey::default();
        ff.name = StrBytes::from_static_str("transaction.version");
        ff.min_version_level = 1;
        ff.max_version_level = 2;
        r.finalized_features = vec![ff];
        r.finalized_features_epoch = 42;

        let n = NegotiatedVersions::from_response(&r);
        assert_eq!(n.version(ApiKey::Produce), Some(12));
        assert_eq!(n.require(ApiKey::Metadata), Ok(9));
        assert_eq!(
            n.require(ApiKey::EndTxn),
            Err(VersionError::NoOverlap {
                api_key: ApiKey::EndTxn,
                broker: VersionRange { min: 6, max: 9 },
                client: VersionRange { min: 0, max: 5 },
            })
        );
        assert_eq!(
            n.require(ApiKey::InitProducerId),
            Err(VersionError::NotAdvertised(ApiKey::InitProducerId))
        );
        assert_eq!(
            n.require(ApiKey::Fetch),
            Err(VersionError::NotImplemented(ApiKey::Fetch))
        );
        assert_eq!(
            n.broker_range(ApiKey::Produce),
            Some(VersionRange { min: 0, max: 13 })
        );
        assert_eq!(n.transaction_version(), 2);
        assert_eq!(n.finalized_features_epoch(), Some(42));
        assert_eq!(n.finalized_feature("nope"), None);
    }

    #[test]
    fn produce_below_3_is_never_chosen() {
        let mut r = ApiVersionsResponse::default();
        r.api_keys = vec![api(ApiKey::Produce, 0, 2)];
        let n = NegotiatedVersions::from_response(&r);
        assert!(matches!(
            n.require(ApiKey::Produce),
            Err(VersionError::NoOverlap { .. })
        ));
        assert_eq!(n.transaction_version(), 0);
        assert_eq!(n.finalized_features_epoch(), None);
    }

    #[test]
    fn unsupported_version_reply_in_v0_form_is_decoded() {
        // KIP-511: error 35 and the broker's own ApiVersions range, body in v0 form, header v0.
        let frame = Bytes::from_static(&[
            0, 0, 0, 9, // correlation id
            0, 35, // UNSUPPORTED_VERSION
            0, 0, 0, 1, // one api
            0, 18, 0, 0, 0, 3, // ApiVersions 0..=3
        ]);
        let (header, body, decoded_at) = decode_api_versions_response(frame, 4).unwrap();
        assert_eq!(header.correlation_id, 9);
        assert_eq!(decoded_at, 0);
        assert_eq!(body.error_code, UNSUPPORTED_VERSION);
        let n = NegotiatedVersions::from_response(&body);
        assert_eq!(n.version(ApiKey::ApiVersions), Some(3));
    }

    #[test]
    fn garbage_is_not_mistaken_for_a_v0_fallback() {
        let frame = Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0]);
        let err = decode_api_versions_response(frame, 3).unwrap_err();
        assert_eq!(
            err.version, 3,
            "the error of the requested version is reported"
        );
    }
}
