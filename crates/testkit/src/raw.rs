//! A minimal blocking Kafka client over `std::net` for tests and examples: ApiVersions,
//! InitProducerId, Metadata and Produce with purekafka's own framing, plus the raw response
//! frames for fixtures. One request in flight at a time; not a producer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, InitProducerIdRequest, MetadataRequest, MetadataResponse,
    ProduceRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use purekafka_protocol::frame::{
    CodecError, FrameDecoder, FrameError, KafkaRequest, decode_response, encode_request,
    response_correlation_id,
};
use purekafka_protocol::versions::{
    NegotiatedVersions, UNSUPPORTED_VERSION, VersionError, api_versions_request_version,
    decode_api_versions_response,
};

/// How long a single request may wait for its response.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
/// CONCURRENT_TRANSACTIONS: what a just-started broker answers InitProducerId with.
const RETRIABLE_COORDINATOR_ERRORS: [i16; 4] = [14, 15, 16, 51];

/// LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER: a partition whose leadership is settling.
const LEADER_NOT_READY_ERRORS: [i16; 2] = [5, 6];

/// Why a raw request failed.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// Socket error talking to the broker.
    #[error("i/o with {addr}: {source}")]
    Io {
        /// The broker address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The broker closed the connection.
    #[error("{0} closed the connection")]
    Closed(SocketAddr),
    /// A frame could not be split off the stream.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A request could not be encoded or a response decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// No usable version of an API.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A response answered another request.
    #[error("response correlation id {got}, expected {expected}")]
    Correlation {
        /// Id in the response.
        got: i32,
        /// Id of the request sent.
        expected: i32,
    },
    /// The broker answered with a Kafka error code.
    #[error("{api:?} failed with Kafka error code {code}")]
    Kafka {
        /// The api that failed.
        api: ApiKey,
        /// The error code.
        code: i16,
    },
}

/// A blocking connection to one broker, versions negotiated.
pub struct RawClient {
    addr: SocketAddr,
    stream: TcpStream,
    next_correlation_id: i32,
    rx: BytesMut,
    frames: FrameDecoder,
    versions: NegotiatedVersions,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("addr", &self.addr)
            .finish()
    }
}

/// The client id raw requests carry.
pub const CLIENT_ID: &str = "purekafka-raw";

impl RawClient {
    /// Connects to `addr` (e.g. `"127.0.0.1:9092"`) and negotiates versions with ApiVersions.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self, RawError> {
        let (stream, addr) = dial(addr)?;
        let mut client = Self {
            addr,
            stream,
            next_correlation_id: 1,
            rx: BytesMut::with_capacity(64 * 1024),
            frames: FrameDecoder::default(),
            versions: NegotiatedVersions::from_response(&Default::default()),
        };
        let version = api_versions_request_version();
        let (frame, _) = client.api_versions_raw(version)?;
        let (_, mut response, _) = decode_api_versions_response(frame, version)?;
        if response.error_code == UNSUPPORTED_VERSION {
            // KIP-511: the v0 reply lists the broker's ApiVersions range; retry within it.
            let version =
                NegotiatedVersions::from_response(&response).require(ApiKey::ApiVersions)?;
            let (frame, _) = client.api_versions_raw(version)?;
            response = decode_api_versions_response(frame, version)?.1;
        }
        if response.error_code != 0 {
            return Err(RawError::Kafka {
                api: ApiKey::ApiVersions,
                code: response.error_code,
            });
        }
        client.versions = NegotiatedVersions::from_response(&response);
        Ok(client)
    }

    /// The broker address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The negotiated versions.
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    /// Sends an ApiVersions request at `version`; returns the raw response frame and the
    /// correlation id used.
    pub fn api_versions_raw(&mut self, version: i16) -> Result<(Bytes, i32), RawError> {
        let body = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("purekafka-testkit"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let id = self.send(version, &body)?;
        Ok((self.receive(id)?, id))
    }

    /// Sends `body` at `version` and returns the raw response frame (size prefix removed).
    pub fn round_trip_raw<R: KafkaRequest>(
        &mut self,
        version: i16,
        body: &R,
    ) -> Result<Bytes, RawError> {
        let id = self.send(version, body)?;
        self.receive(id)
    }

    /// Sends an already framed request (size prefix included) that carries `correlation_id`
    /// (take one from [`RawClient::next_correlation_id`]); returns the raw response frame.
    /// For requests purekafka cannot encode, e.g. an unknown version.
    pub fn round_trip_encoded(
        &mut self,
        request: &[u8],
        correlation_id: i32,
    ) -> Result<Bytes, RawError> {
        self.stream
            .write_all(request)
            .map_err(|source| RawError::Io {
                addr: self.addr,
                source,
            })?;
        self.receive(correlation_id)
    }

    /// Reserves the next correlation id.
    pub fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        id
    }

    /// Sends `body` at `version` and decodes the response.
    pub fn call<R: KafkaRequest>(
        &mut self,
        version: i16,
        body: &R,
    ) -> Result<R::Response, RawError> {
        let frame = self.round_trip_raw(version, body)?;
        Ok(decode_response::<R::Response>(frame, version)?.1)
    }

    /// Sends `body` at the highest negotiated version and decodes the response.
    pub fn call_negotiated<R: KafkaRequest>(&mut self, body: &R) -> Result<R::Response, RawError> {
        let version = self.versions.require(R::API_KEY)?;
        self.call(version, body)
    }

    /// Gets an idempotent producer id and epoch (InitProducerId without a transactional id).
    ///
    /// Retries for up to ~10 s while the broker answers with a retriable coordinator error,
    /// as a freshly started broker does.
    pub fn init_producer_id(&mut self) -> Result<(i64, i16), RawError> {
        let mut attempts = 0;
        loop {
            let response = self.call_negotiated(&init_producer_id_request())?;
            match response.error_code {
                0 => return Ok((response.producer_id.0, response.producer_epoch)),
                code if RETRIABLE_COORDINATOR_ERRORS.contains(&code) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                code => {
                    return Err(RawError::Kafka {
                        api: ApiKey::InitProducerId,
                        code,
                    });
                }
            }
        }
    }

    /// Metadata for `topics` (all topics when empty).
    pub fn metadata(&mut self, topics: &[&str]) -> Result<MetadataResponse, RawError> {
        self.call_negotiated(&metadata_request(topics))
    }

    /// Produces one record batch (as sealed by purekafka's writer) to `topic`/`partition`
    /// with acks=-1 at the negotiated Produce version; returns the partition's response.
    ///
    /// Retries for up to ~10 s on LEADER_NOT_AVAILABLE and NOT_LEADER_OR_FOLLOWER: right
    /// after a topic is created, Metadata can name a leader that does not yet accept writes
    /// (the batch was not written, so resending it is safe). Other error codes are returned
    /// in the response, unchecked.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<PartitionProduceResponse, RawError> {
        let mut attempts = 0;
        loop {
            let request = produce_request(topic, partition, batch.clone(), -1);
            let response = self.call_negotiated(&request)?;
            let p = response
                .responses
                .into_iter()
                .flat_map(|t| t.partition_responses)
                .find(|p| p.index == partition)
                .ok_or(RawError::Kafka {
                    api: ApiKey::Produce,
                    code: -1,
                })?;
            if !LEADER_NOT_READY_ERRORS.contains(&p.error_code) || attempts >= 50 {
                return Ok(p);
            }
            attempts += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn send<R: KafkaRequest>(&mut self, version: i16, body: &R) -> Result<i32, RawError> {
        let id = self.next_correlation_id();
        let mut buf = BytesMut::new();
        encode_request(&mut buf, version, id, Some(CLIENT_ID), body)?;
        self.stream.write_all(&buf).map_err(|source| RawError::Io {
            addr: self.addr,
            source,
        })?;
        Ok(id)
    }

    fn receive(&mut self, expected: i32) -> Result<Bytes, RawError> {
        loop {
            if let Some(frame) = self.frames.decode(&mut self.rx)? {
                let got = response_correlation_id(&frame)?;
                if got != expected {
                    return Err(RawError::Correlation { got, expected });
                }
                return Ok(frame);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|source| RawError::Io {
                    addr: self.addr,
                    source,
                })?;
            if n == 0 {
                return Err(RawError::Closed(self.addr));
            }
            self.rx.extend_from_slice(&chunk[..n]);
        }
    }
}

fn dial(addr: impl ToSocketAddrs) -> Result<(TcpStream, SocketAddr), RawError> {
    let mut last = None;
    let addrs = addr.to_socket_addrs().map_err(|source| RawError::Io {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    for a in addrs {
        match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => {
                let io = |source| RawError::Io { addr: a, source };
                s.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
                s.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
                s.set_nodelay(true).map_err(io)?;
                return Ok((s, a));
            }
            Err(source) => last = Some(RawError::Io { addr: a, source }),
        }
    }
    Err(last.unwrap_or_else(|| RawError::Io {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to"),
    }))
}

/// A Produce request carrying one batch for one partition.
pub fn produce_request(topic: &str, partition: i32, batch: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ])
}

/// An idempotent InitProducerId request (no transactional id).
pub fn init_producer_id_request() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(-1)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// A Metadata request for `topics` (all topics when empty), never auto-creating.
pub fn metadata_request(topics: &[&str]) -> MetadataRequest {
    let topics = (!topics.is_empty()).then(|| {
        topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string((*t).to_owned()))))
            })
            .collect()
    });
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false)
}
