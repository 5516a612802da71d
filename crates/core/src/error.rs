//! librdkafka's error codes (`rd_kafka_resp_err_t`) and how a producer reacts to each.
//!
//! [`ErrorCode`] has exactly rust-rdkafka's `RDKafkaErrorCode` variant names and values, so the
//! `purekafka` crate can re-export it under that name, and its `Display` prints what rdkafka
//! prints: `"{Debug} ({rd_kafka_err2str text})"`. [`classify_produce_error`] is the one place
//! that decides retry, metadata refresh and persistence status for a failed produce, following
//! librdkafka 2.12.1's `rd_kafka_handle_Produce_error` and `rd_kafka_err_action`.

use core::fmt;

/// A librdkafka error code: local errors are negative (-200..-100), broker errors are the
/// Kafka protocol's codes, `NoError` is 0.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ErrorCode {
    /// Range marker `RD_KAFKA_RESP_ERR__BEGIN` (not an error).
    #[doc(hidden)]
    Begin = -200,
    /// `RD_KAFKA_RESP_ERR__BAD_MSG`: "Local: Bad message format".
    BadMessage = -199,
    /// `RD_KAFKA_RESP_ERR__BAD_COMPRESSION`: "Local: Invalid compressed data".
    BadCompression = -198,
    /// `RD_KAFKA_RESP_ERR__DESTROY`: "Local: Broker handle destroyed for termination".
    BrokerDestroy = -197,
    /// `RD_KAFKA_RESP_ERR__FAIL`: "Local: Communication failure with broker".
    Fail = -196,
    /// `RD_KAFKA_RESP_ERR__TRANSPORT`: "Local: Broker transport failure".
    BrokerTransportFailure = -195,
    /// `RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE`: "Local: Critical system resource failure".
    CriticalSystemResource = -194,
    /// `RD_KAFKA_RESP_ERR__RESOLVE`: "Local: Host resolution failure".
    Resolve = -193,
    /// `RD_KAFKA_RESP_ERR__MSG_TIMED_OUT`: "Local: Message timed out".
    MessageTimedOut = -192,
    /// `RD_KAFKA_RESP_ERR__PARTITION_EOF`: "Broker: No more messages".
    PartitionEOF = -191,
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION`: "Local: Unknown partition".
    UnknownPartition = -190,
    /// `RD_KAFKA_RESP_ERR__FS`: "Local: File or filesystem error".
    FileSystem = -189,
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC`: "Local: Unknown topic".
    UnknownTopic = -188,
    /// `RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN`: "Local: All broker connections are down".
    AllBrokersDown = -187,
    /// `RD_KAFKA_RESP_ERR__INVALID_ARG`: "Local: Invalid argument or configuration".
    InvalidArgument = -186,
    /// `RD_KAFKA_RESP_ERR__TIMED_OUT`: "Local: Timed out".
    OperationTimedOut = -185,
    /// `RD_KAFKA_RESP_ERR__QUEUE_FULL`: "Local: Queue full".
    QueueFull = -184,
    /// `RD_KAFKA_RESP_ERR__ISR_INSUFF`: "Local: ISR count insufficient".
    ISRInsufficient = -183,
    /// `RD_KAFKA_RESP_ERR__NODE_UPDATE`: "Local: Broker node update".
    NodeUpdate = -182,
    /// `RD_KAFKA_RESP_ERR__SSL`: "Local: SSL error".
    SSL = -181,
    /// `RD_KAFKA_RESP_ERR__WAIT_COORD`: "Local: Waiting for coordinator".
    WaitingForCoordinator = -180,
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_GROUP`: "Local: Unknown group".
    UnknownGroup = -179,
    /// `RD_KAFKA_RESP_ERR__IN_PROGRESS`: "Local: Operation in progress".
    InProgress = -178,
    /// `RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS`: "Local: Previous operation in progress".
    PreviousInProgress = -177,
    /// `RD_KAFKA_RESP_ERR__EXISTING_SUBSCRIPTION`: "Local: Existing subscription".
    ExistingSubscription = -176,
    /// `RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS`: "Local: Assign partitions".
    AssignPartitions = -175,
    /// `RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS`: "Local: Revoke partitions".
    RevokePartitions = -174,
    /// `RD_KAFKA_RESP_ERR__CONFLICT`: "Local: Conflicting use".
    Conflict = -173,
    /// `RD_KAFKA_RESP_ERR__STATE`: "Local: Erroneous state".
    State = -172,
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL`: "Local: Unknown protocol".
    UnknownProtocol = -171,
    /// `RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED`: "Local: Not implemented".
    NotImplemented = -170,
    /// `RD_KAFKA_RESP_ERR__AUTHENTICATION`: "Local: Authentication failure".
    Authentication = -169,
    /// `RD_KAFKA_RESP_ERR__NO_OFFSET`: "Local: No offset stored".
    NoOffset = -168,
    /// `RD_KAFKA_RESP_ERR__OUTDATED`: "Local: Outdated".
    Outdated = -167,
    /// `RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE`: "Local: Timed out in queue".
    TimedOutQueue = -166,
    /// `RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE`: "Local: Required feature not supported by broker".
    UnsupportedFeature = -165,
    /// `RD_KAFKA_RESP_ERR__WAIT_CACHE`: "Local: Awaiting cache update".
    WaitCache = -164,
    /// `RD_KAFKA_RESP_ERR__INTR`: "Local: Operation interrupted".
    Interrupted = -163,
    /// `RD_KAFKA_RESP_ERR__KEY_SERIALIZATION`: "Local: Key serialization error".
    KeySerialization = -162,
    /// `RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION`: "Local: Value serialization error".
    ValueSerialization = -161,
    /// `RD_KAFKA_RESP_ERR__KEY_DESERIALIZATION`: "Local: Key deserialization error".
    KeyDeserialization = -160,
    /// `RD_KAFKA_RESP_ERR__VALUE_DESERIALIZATION`: "Local: Value deserialization error".
    ValueDeserialization = -159,
    /// `RD_KAFKA_RESP_ERR__PARTIAL`: "Local: Partial response".
    Partial = -158,
    /// `RD_KAFKA_RESP_ERR__READ_ONLY`: "Local: Read-only object".
    ReadOnly = -157,
    /// `RD_KAFKA_RESP_ERR__NOENT`: "Local: No such entry".
    NoEnt = -156,
    /// `RD_KAFKA_RESP_ERR__UNDERFLOW`: "Local: Read underflow".
    Underflow = -155,
    /// `RD_KAFKA_RESP_ERR__INVALID_TYPE`: "Local: Invalid type".
    InvalidType = -154,
    /// `RD_KAFKA_RESP_ERR__RETRY`: "Local: Retry operation".
    Retry = -153,
    /// `RD_KAFKA_RESP_ERR__PURGE_QUEUE`: "Local: Purged in queue".
    PurgeQueue = -152,
    /// `RD_KAFKA_RESP_ERR__PURGE_INFLIGHT`: "Local: Purged in flight".
    PurgeInflight = -151,
    /// `RD_KAFKA_RESP_ERR__FATAL`: "Local: Fatal error".
    Fatal = -150,
    /// `RD_KAFKA_RESP_ERR__INCONSISTENT`: "Local: Inconsistent state".
    Inconsistent = -149,
    /// `RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE`: "Local: Gap-less ordering would not be guaranteed if proceeding".
    GaplessGuarantee = -148,
    /// `RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED`: "Local: Maximum application poll interval (max.poll.interval.ms) exceeded".
    PollExceeded = -147,
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_BROKER`: "Local: Unknown broker".
    UnknownBroker = -146,
    /// `RD_KAFKA_RESP_ERR__NOT_CONFIGURED`: "Local: Functionality not configured".
    NotConfigured = -145,
    /// `RD_KAFKA_RESP_ERR__FENCED`: "Local: This instance has been fenced by a newer instance".
    Fenced = -144,
    /// `RD_KAFKA_RESP_ERR__APPLICATION`: "Local: Application generated error".
    Application = -143,
    /// `RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST`: "Local: Group partition assignment lost".
    AssignmentLost = -142,
    /// `RD_KAFKA_RESP_ERR__NOOP`: "Local: No operation performed".
    Noop = -141,
    /// `RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET`: "Local: No offset to automatically reset to".
    AutoOffsetReset = -140,
    /// `RD_KAFKA_RESP_ERR__LOG_TRUNCATION`: "Local: Partition log truncation detected".
    LogTruncation = -139,
    /// `RD_KAFKA_RESP_ERR__INVALID_DIFFERENT_RECORD`: "Local: an invalid record in the same batch caused the failure of this message too".
    InvalidDifferentRecord = -138,
    /// `RD_KAFKA_RESP_ERR__DESTROY_BROKER`: "Local: Broker handle destroyed without termination".
    DestroyBroker = -137,
    /// Range marker `RD_KAFKA_RESP_ERR__END` (not an error).
    #[doc(hidden)]
    End = -100,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN`: "Unknown broker error".
    Unknown = -1,
    /// `RD_KAFKA_RESP_ERR_NO_ERROR`: "Success".
    NoError = 0,
    /// `RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE`: "Broker: Offset out of range".
    OffsetOutOfRange = 1,
    /// `RD_KAFKA_RESP_ERR_INVALID_MSG`: "Broker: Invalid message".
    InvalidMessage = 2,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART`: "Broker: Unknown topic or partition".
    UnknownTopicOrPartition = 3,
    /// `RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE`: "Broker: Invalid message size".
    InvalidMessageSize = 4,
    /// `RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE`: "Broker: Leader not available".
    LeaderNotAvailable = 5,
    /// `RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION`: "Broker: Not leader for partition".
    NotLeaderForPartition = 6,
    /// `RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT`: "Broker: Request timed out".
    RequestTimedOut = 7,
    /// `RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE`: "Broker: Broker not available".
    BrokerNotAvailable = 8,
    /// `RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE`: "Broker: Replica not available".
    ReplicaNotAvailable = 9,
    /// `RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE`: "Broker: Message size too large".
    MessageSizeTooLarge = 10,
    /// `RD_KAFKA_RESP_ERR_STALE_CTRL_EPOCH`: "Broker: StaleControllerEpochCode".
    StaleControllerEpoch = 11,
    /// `RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE`: "Broker: Offset metadata string too large".
    OffsetMetadataTooLarge = 12,
    /// `RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION`: "Broker: Broker disconnected before response received".
    NetworkException = 13,
    /// `RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS`: "Broker: Coordinator load in progress".
    CoordinatorLoadInProgress = 14,
    /// `RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE`: "Broker: Coordinator not available".
    CoordinatorNotAvailable = 15,
    /// `RD_KAFKA_RESP_ERR_NOT_COORDINATOR`: "Broker: Not coordinator".
    NotCoordinator = 16,
    /// `RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION`: "Broker: Invalid topic".
    InvalidTopic = 17,
    /// `RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE`: "Broker: Message batch larger than configured server segment size".
    MessageBatchTooLarge = 18,
    /// `RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS`: "Broker: Not enough in-sync replicas".
    NotEnoughReplicas = 19,
    /// `RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND`: "Broker: Message(s) written to insufficient number of in-sync replicas".
    NotEnoughReplicasAfterAppend = 20,
    /// `RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS`: "Broker: Invalid required acks value".
    InvalidRequiredAcks = 21,
    /// `RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION`: "Broker: Specified group generation id is not valid".
    IllegalGeneration = 22,
    /// `RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL`: "Broker: Inconsistent group protocol".
    InconsistentGroupProtocol = 23,
    /// `RD_KAFKA_RESP_ERR_INVALID_GROUP_ID`: "Broker: Invalid group.id".
    InvalidGroupId = 24,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID`: "Broker: Unknown member".
    UnknownMemberId = 25,
    /// `RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT`: "Broker: Invalid session timeout".
    InvalidSessionTimeout = 26,
    /// `RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS`: "Broker: Group rebalance in progress".
    RebalanceInProgress = 27,
    /// `RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE`: "Broker: Commit offset data size is not valid".
    InvalidCommitOffsetSize = 28,
    /// `RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED`: "Broker: Topic authorization failed".
    TopicAuthorizationFailed = 29,
    /// `RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED`: "Broker: Group authorization failed".
    GroupAuthorizationFailed = 30,
    /// `RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED`: "Broker: Cluster authorization failed".
    ClusterAuthorizationFailed = 31,
    /// `RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP`: "Broker: Invalid timestamp".
    InvalidTimestamp = 32,
    /// `RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM`: "Broker: Unsupported SASL mechanism".
    UnsupportedSASLMechanism = 33,
    /// `RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE`: "Broker: Request not valid in current SASL state".
    IllegalSASLState = 34,
    /// `RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION`: "Broker: API version not supported".
    UnsupportedVersion = 35,
    /// `RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS`: "Broker: Topic already exists".
    TopicAlreadyExists = 36,
    /// `RD_KAFKA_RESP_ERR_INVALID_PARTITIONS`: "Broker: Invalid number of partitions".
    InvalidPartitions = 37,
    /// `RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR`: "Broker: Invalid replication factor".
    InvalidReplicationFactor = 38,
    /// `RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT`: "Broker: Invalid replica assignment".
    InvalidReplicaAssignment = 39,
    /// `RD_KAFKA_RESP_ERR_INVALID_CONFIG`: "Broker: Configuration is invalid".
    InvalidConfig = 40,
    /// `RD_KAFKA_RESP_ERR_NOT_CONTROLLER`: "Broker: Not controller for cluster".
    NotController = 41,
    /// `RD_KAFKA_RESP_ERR_INVALID_REQUEST`: "Broker: Invalid request".
    InvalidRequest = 42,
    /// `RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT`: "Broker: Message format on broker does not support request".
    UnsupportedForMessageFormat = 43,
    /// `RD_KAFKA_RESP_ERR_POLICY_VIOLATION`: "Broker: Policy violation".
    PolicyViolation = 44,
    /// `RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER`: "Broker: Broker received an out of order sequence number".
    OutOfOrderSequenceNumber = 45,
    /// `RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER`: "Broker: Broker received a duplicate sequence number".
    DuplicateSequenceNumber = 46,
    /// `RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH`: "Broker: Producer attempted an operation with an old epoch".
    InvalidProducerEpoch = 47,
    /// `RD_KAFKA_RESP_ERR_INVALID_TXN_STATE`: "Broker: Producer attempted a transactional operation in an invalid state".
    InvalidTransactionalState = 48,
    /// `RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING`: "Broker: Producer attempted to use a producer id which is not currently assigned to its transactional id".
    InvalidProducerIdMapping = 49,
    /// `RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT`: "Broker: Transaction timeout is larger than the maximum value allowed by the broker's max.transaction.timeout.ms".
    InvalidTransactionTimeout = 50,
    /// `RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS`: "Broker: Producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing".
    ConcurrentTransactions = 51,
    /// `RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED`: "Broker: Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer".
    TransactionCoordinatorFenced = 52,
    /// `RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED`: "Broker: Transactional Id authorization failed".
    TransactionalIdAuthorizationFailed = 53,
    /// `RD_KAFKA_RESP_ERR_SECURITY_DISABLED`: "Broker: Security features are disabled".
    SecurityDisabled = 54,
    /// `RD_KAFKA_RESP_ERR_OPERATION_NOT_ATTEMPTED`: "Broker: Operation not attempted".
    OperationNotAttempted = 55,
    /// `RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR`: "Broker: Disk error when trying to access log file on disk".
    KafkaStorageError = 56,
    /// `RD_KAFKA_RESP_ERR_LOG_DIR_NOT_FOUND`: "Broker: The user-specified log directory is not found in the broker config".
    LogDirNotFound = 57,
    /// `RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED`: "Broker: SASL Authentication failed".
    SaslAuthenticationFailed = 58,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID`: "Broker: Unknown Producer Id".
    UnknownProducerId = 59,
    /// `RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS`: "Broker: Partition reassignment is in progress".
    ReassignmentInProgress = 60,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTH_DISABLED`: "Broker: Delegation Token feature is not enabled".
    DelegationTokenAuthDisabled = 61,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_NOT_FOUND`: "Broker: Delegation Token is not found on server".
    DelegationTokenNotFound = 62,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_OWNER_MISMATCH`: "Broker: Specified Principal is not valid Owner/Renewer".
    DelegationTokenOwnerMismatch = 63,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED`: "Broker: Delegation Token requests are not allowed on this connection".
    DelegationTokenRequestNotAllowed = 64,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED`: "Broker: Delegation Token authorization failed".
    DelegationTokenAuthorizationFailed = 65,
    /// `RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_EXPIRED`: "Broker: Delegation Token is expired".
    DelegationTokenExpired = 66,
    /// `RD_KAFKA_RESP_ERR_INVALID_PRINCIPAL_TYPE`: "Broker: Supplied principalType is not supported".
    InvalidPrincipalType = 67,
    /// `RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP`: "Broker: The group is not empty".
    NonEmptyGroup = 68,
    /// `RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND`: "Broker: The group id does not exist".
    GroupIdNotFound = 69,
    /// `RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND`: "Broker: The fetch session ID was not found".
    FetchSessionIdNotFound = 70,
    /// `RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH`: "Broker: The fetch session epoch is invalid".
    InvalidFetchSessionEpoch = 71,
    /// `RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND`: "Broker: No matching listener".
    ListenerNotFound = 72,
    /// `RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED`: "Broker: Topic deletion is disabled".
    TopicDeletionDisabled = 73,
    /// `RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH`: "Broker: Leader epoch is older than broker epoch".
    FencedLeaderEpoch = 74,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH`: "Broker: Leader epoch is newer than broker epoch".
    UnknownLeaderEpoch = 75,
    /// `RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE`: "Broker: Unsupported compression type".
    UnsupportedCompressionType = 76,
    /// `RD_KAFKA_RESP_ERR_STALE_BROKER_EPOCH`: "Broker: Broker epoch has changed".
    StaleBrokerEpoch = 77,
    /// `RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE`: "Broker: Leader high watermark is not caught up".
    OffsetNotAvailable = 78,
    /// `RD_KAFKA_RESP_ERR_MEMBER_ID_REQUIRED`: "Broker: Group member needs a valid member ID".
    MemberIdRequired = 79,
    /// `RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE`: "Broker: Preferred leader was not available".
    PreferredLeaderNotAvailable = 80,
    /// `RD_KAFKA_RESP_ERR_GROUP_MAX_SIZE_REACHED`: "Broker: Consumer group has reached maximum size".
    GroupMaxSizeReached = 81,
    /// `RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID`: "Broker: Static consumer fenced by other consumer with same group.instance.id".
    FencedInstanceId = 82,
    /// `RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE`: "Broker: Eligible partition leaders are not available".
    EligibleLeadersNotAvailable = 83,
    /// `RD_KAFKA_RESP_ERR_ELECTION_NOT_NEEDED`: "Broker: Leader election not needed for topic partition".
    ElectionNotNeeded = 84,
    /// `RD_KAFKA_RESP_ERR_NO_REASSIGNMENT_IN_PROGRESS`: "Broker: No partition reassignment is in progress".
    NoReassignmentInProgress = 85,
    /// `RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC`: "Broker: Deleting offsets of a topic while the consumer group is subscribed to it".
    GroupSubscribedToTopic = 86,
    /// `RD_KAFKA_RESP_ERR_INVALID_RECORD`: "Broker: Broker failed to validate record".
    InvalidRecord = 87,
    /// `RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT`: "Broker: There are unstable offsets that need to be cleared".
    UnstableOffsetCommit = 88,
    /// `RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED`: "Broker: Throttling quota has been exceeded".
    ThrottlingQuotaExceeded = 89,
    /// `RD_KAFKA_RESP_ERR_PRODUCER_FENCED`: "Broker: There is a newer producer with the same transactionalId which fences the current one".
    ProducerFenced = 90,
    /// `RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND`: "Broker: Request illegally referred to resource that does not exist".
    ResourceNotFound = 91,
    /// `RD_KAFKA_RESP_ERR_DUPLICATE_RESOURCE`: "Broker: Request illegally referred to the same resource twice".
    DuplicateResource = 92,
    /// `RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL`: "Broker: Requested credential would not meet criteria for acceptability".
    UnacceptableCredential = 93,
    /// `RD_KAFKA_RESP_ERR_INCONSISTENT_VOTER_SET`: "Broker: Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters".
    InconsistentVoterSet = 94,
    /// `RD_KAFKA_RESP_ERR_INVALID_UPDATE_VERSION`: "Broker: Invalid update version".
    InvalidUpdateVersion = 95,
    /// `RD_KAFKA_RESP_ERR_FEATURE_UPDATE_FAILED`: "Broker: Unable to update finalized features due to server error".
    FeatureUpdateFailed = 96,
    /// `RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE`: "Broker: Request principal deserialization failed during forwarding".
    PrincipalDeserializationFailure = 97,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID`: "Broker: Unknown topic id".
    UnknownTopicId = 100,
    /// `RD_KAFKA_RESP_ERR_FENCED_MEMBER_EPOCH`: "Broker: The member epoch is fenced by the group coordinator".
    FencedMemberEpoch = 110,
    /// `RD_KAFKA_RESP_ERR_UNRELEASED_INSTANCE_ID`: "Broker: The instance ID is still used by another member in the consumer group".
    UnreleasedInstanceId = 111,
    /// `RD_KAFKA_RESP_ERR_UNSUPPORTED_ASSIGNOR`: "Broker: The assignor or its version range is not supported by the consumer group".
    UnsupportedAssignor = 112,
    /// `RD_KAFKA_RESP_ERR_STALE_MEMBER_EPOCH`: "Broker: The member epoch is stale".
    StaleMemberEpoch = 113,
    /// `RD_KAFKA_RESP_ERR_UNKNOWN_SUBSCRIPTION_ID`: "Broker: Client sent a push telemetry request with an invalid or outdated subscription ID".
    UnknownSubscriptionId = 117,
    /// `RD_KAFKA_RESP_ERR_TELEMETRY_TOO_LARGE`: "Broker: Client sent a push telemetry request larger than the maximum size the broker will accept".
    TelemetryTooLarge = 118,
    /// `RD_KAFKA_RESP_ERR_REBOOTSTRAP_REQUIRED`: "Broker: Client metadata is stale, client should rebootstrap to obtain new metadata".
    RebootstrapRequired = 129,
    /// Range marker `RD_KAFKA_RESP_ERR_END_ALL` (not an error).
    #[doc(hidden)]
    EndAll = 130,
}

/// Every variant, in numeric order (the table the lookups and tests walk).
const ALL: [ErrorCode; 173] = [
    ErrorCode::Begin,
    ErrorCode::BadMessage,
    ErrorCode::BadCompression,
    ErrorCode::BrokerDestroy,
    ErrorCode::Fail,
    ErrorCode::BrokerTransportFailure,
    ErrorCode::CriticalSystemResource,
    ErrorCode::Resolve,
    ErrorCode::MessageTimedOut,
    ErrorCode::PartitionEOF,
    ErrorCode::UnknownPartition,
    ErrorCode::FileSystem,
    ErrorCode::UnknownTopic,
    ErrorCode::AllBrokersDown,
    ErrorCode::InvalidArgument,
    ErrorCode::OperationTimedOut,
    ErrorCode::QueueFull,
    ErrorCode::ISRInsufficient,
    ErrorCode::NodeUpdate,
    ErrorCode::SSL,
    ErrorCode::WaitingForCoordinator,
    ErrorCode::UnknownGroup,
    ErrorCode::InProgress,
    ErrorCode::PreviousInProgress,
    ErrorCode::ExistingSubscription,
    ErrorCode::AssignPartitions,
    ErrorCode::RevokePartitions,
    ErrorCode::Conflict,
    ErrorCode::State,
    ErrorCode::UnknownProtocol,
    ErrorCode::NotImplemented,
    ErrorCode::Authentication,
    ErrorCode::NoOffset,
    ErrorCode::Outdated,
    ErrorCode::TimedOutQueue,
    ErrorCode::UnsupportedFeature,
    ErrorCode::WaitCache,
    ErrorCode::Interrupted,
    ErrorCode::KeySerialization,
    ErrorCode::ValueSerialization,
    ErrorCode::KeyDeserialization,
    ErrorCode::ValueDeserialization,
    ErrorCode::Partial,
    ErrorCode::ReadOnly,
    ErrorCode::NoEnt,
    ErrorCode::Underflow,
    ErrorCode::InvalidType,
    ErrorCode::Retry,
    ErrorCode::PurgeQueue,
    ErrorCode::PurgeInflight,
    ErrorCode::Fatal,
    ErrorCode::Inconsistent,
    ErrorCode::GaplessGuarantee,
    ErrorCode::PollExceeded,
    ErrorCode::UnknownBroker,
    ErrorCode::NotConfigured,
    ErrorCode::Fenced,
    ErrorCode::Application,
    ErrorCode::AssignmentLost,
    ErrorCode::Noop,
    ErrorCode::AutoOffsetReset,
    ErrorCode::LogTruncation,
    ErrorCode::InvalidDifferentRecord,
    ErrorCode::DestroyBroker,
    ErrorCode::End,
    ErrorCode::Unknown,
    ErrorCode::NoError,
    ErrorCode::OffsetOutOfRange,
    ErrorCode::InvalidMessage,
    ErrorCode::UnknownTopicOrPartition,
    ErrorCode::InvalidMessageSize,
    ErrorCode::LeaderNotAvailable,
    ErrorCode::NotLeaderForPartition,
    ErrorCode::RequestTimedOut,
    ErrorCode::BrokerNotAvailable,
    ErrorCode::ReplicaNotAvailable,
    ErrorCode::MessageSizeTooLarge,
    ErrorCode::StaleControllerEpoch,
    ErrorCode::OffsetMetadataTooLarge,
    ErrorCode::NetworkException,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::CoordinatorNotAvailable,
    ErrorCode::NotCoordinator,
    ErrorCode::InvalidTopic,
    ErrorCode::MessageBatchTooLarge,
    ErrorCode::NotEnoughReplicas,
    ErrorCode::NotEnoughReplicasAfterAppend,
    ErrorCode::InvalidRequiredAcks,
    ErrorCode::IllegalGeneration,
    ErrorCode::InconsistentGroupProtocol,
    ErrorCode::InvalidGroupId,
    ErrorCode::UnknownMemberId,
    ErrorCode::InvalidSessionTimeout,
    ErrorCode::RebalanceInProgress,
    ErrorCode::InvalidCommitOffsetSize,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::GroupAuthorizationFailed,
    ErrorCode::ClusterAuthorizationFailed,
    ErrorCode::InvalidTimestamp,
    ErrorCode::UnsupportedSASLMechanism,
    ErrorCode::IllegalSASLState,
    ErrorCode::UnsupportedVersion,
    ErrorCode::TopicAlreadyExists,
    ErrorCode::InvalidPartitions,
    ErrorCode::InvalidReplicationFactor,
    ErrorCode::InvalidReplicaAssignment,
    ErrorCode::InvalidConfig,
    ErrorCode::NotController,
    ErrorCode::InvalidRequest,
    ErrorCode::UnsupportedForMessageFormat,
    ErrorCode::PolicyViolation,
    ErrorCode::OutOfOrderSequenceNumber,
    ErrorCode::DuplicateSequenceNumber,
    ErrorCode::InvalidProducerEpoch,
    ErrorCode::InvalidTransactionalState,
    ErrorCode::InvalidProducerIdMapping,
    ErrorCode::InvalidTransactionTimeout,
    ErrorCode::ConcurrentTransactions,
    ErrorCode::TransactionCoordinatorFenced,
    ErrorCode::TransactionalIdAuthorizationFailed,
    ErrorCode::SecurityDisabled,
    ErrorCode::OperationNotAttempted,
    ErrorCode::KafkaStorageError,
    ErrorCode::LogDirNotFound,
    ErrorCode::SaslAuthenticationFailed,
    ErrorCode::UnknownProducerId,
    ErrorCode::ReassignmentInProgress,
    ErrorCode::DelegationTokenAuthDisabled,
    ErrorCode::DelegationTokenNotFound,
    ErrorCode::DelegationTokenOwnerMismatch,
    ErrorCode::DelegationTokenRequestNotAllowed,
    ErrorCode::DelegationTokenAuthorizationFailed,
    ErrorCode::DelegationTokenExpired,
    ErrorCode::InvalidPrincipalType,
    ErrorCode::NonEmptyGroup,
    ErrorCode::GroupIdNotFound,
    ErrorCode::FetchSessionIdNotFound,
    ErrorCode::InvalidFetchSessionEpoch,
    ErrorCode::ListenerNotFound,
    ErrorCode::TopicDeletionDisabled,
    ErrorCode::FencedLeaderEpoch,
    ErrorCode::UnknownLeaderEpoch,
    ErrorCode::UnsupportedCompressionType,
    ErrorCode::StaleBrokerEpoch,
    ErrorCode::OffsetNotAvailable,
    ErrorCode::MemberIdRequired,
    ErrorCode::PreferredLeaderNotAvailable,
    ErrorCode::GroupMaxSizeReached,
    ErrorCode::FencedInstanceId,
    ErrorCode::EligibleLeadersNotAvailable,
    ErrorCode::ElectionNotNeeded,
    ErrorCode::NoReassignmentInProgress,
    ErrorCode::GroupSubscribedToTopic,
    ErrorCode::InvalidRecord,
    ErrorCode::UnstableOffsetCommit,
    ErrorCode::ThrottlingQuotaExceeded,
    ErrorCode::ProducerFenced,
    ErrorCode::ResourceNotFound,
    ErrorCode::DuplicateResource,
    ErrorCode::UnacceptableCredential,
    ErrorCode::InconsistentVoterSet,
    ErrorCode::InvalidUpdateVersion,
    ErrorCode::FeatureUpdateFailed,
    ErrorCode::PrincipalDeserializationFailure,
    ErrorCode::UnknownTopicId,
    ErrorCode::FencedMemberEpoch,
    ErrorCode::UnreleasedInstanceId,
    ErrorCode::UnsupportedAssignor,
    ErrorCode::StaleMemberEpoch,
    ErrorCode::UnknownSubscriptionId,
    ErrorCode::TelemetryTooLarge,
    ErrorCode::RebootstrapRequired,
    ErrorCode::EndAll,
];

/// `rd_kafka_err2str` text and `rd_kafka_err2name` name of a variant; `None` for the range markers.
const fn texts(code: ErrorCode) -> Option<(&'static str, &'static str)> {
    use ErrorCode as E;
    Some(match code {
        E::BadMessage => ("Local: Bad message format", "_BAD_MSG"),
        E::BadCompression => ("Local: Invalid compressed data", "_BAD_COMPRESSION"),
        E::BrokerDestroy => ("Local: Broker handle destroyed for termination", "_DESTROY"),
        E::Fail => ("Local: Communication failure with broker", "_FAIL"),
        E::BrokerTransportFailure => ("Local: Broker transport failure", "_TRANSPORT"),
        E::CriticalSystemResource => (
            "Local: Critical system resource failure",
            "_CRIT_SYS_RESOURCE",
        ),
        E::Resolve => ("Local: Host resolution failure", "_RESOLVE"),
        E::MessageTimedOut => ("Local: Message timed out", "_MSG_TIMED_OUT"),
        E::PartitionEOF => ("Broker: No more messages", "_PARTITION_EOF"),
        E::UnknownPartition => ("Local: Unknown partition", "_UNKNOWN_PARTITION"),
        E::FileSystem => ("Local: File or filesystem error", "_FS"),
        E::UnknownTopic => ("Local: Unknown topic", "_UNKNOWN_TOPIC"),
        E::AllBrokersDown => (
            "Local: All broker connections are down",
            "_ALL_BROKERS_DOWN",
        ),
        E::InvalidArgument => ("Local: Invalid argument or configuration", "_INVALID_ARG"),
        E::OperationTimedOut => ("Local: Timed out", "_TIMED_OUT"),
        E::QueueFull => ("Local: Queue full", "_QUEUE_FULL"),
        E::ISRInsufficient => ("Local: ISR count insufficient", "_ISR_INSUFF"),
        E::NodeUpdate => ("Local: Broker node update", "_NODE_UPDATE"),
        E::SSL => ("Local: SSL error", "_SSL"),
        E::WaitingForCoordinator => ("Local: Waiting for coordinator", "_WAIT_COORD"),
        E::UnknownGroup => ("Local: Unknown group", "_UNKNOWN_GROUP"),
        E::InProgress => ("Local: Operation in progress", "_IN_PROGRESS"),
        E::PreviousInProgress => ("Local: Previous operation in progress", "_PREV_IN_PROGRESS"),
        E::ExistingSubscription => ("Local: Existing subscription", "_EXISTING_SUBSCRIPTION"),
        E::AssignPartitions => ("Local: Assign partitions", "_ASSIGN_PARTITIONS"),
        E::RevokePartitions => ("Local: Revoke partitions", "_REVOKE_PARTITIONS"),
        E::Conflict => ("Local: Conflicting use", "_CONFLICT"),
        E::State => ("Local: Erroneous state", "_STATE"),
        E::UnknownProtocol => ("Local: Unknown protocol", "_UNKNOWN_PROTOCOL"),
        E::NotImplemented => ("Local: Not implemented", "_NOT_IMPLEMENTED"),
        E::Authentication => ("Local: Authentication failure", "_AUTHENTICATION"),
        E::NoOffset => ("Local: No offset stored", "_NO_OFFSET"),
        E::Outdated => ("Local: Outdated", "_OUTDATED"),
        E::TimedOutQueue => ("Local: Timed out in queue", "_TIMED_OUT_QUEUE"),
        E::UnsupportedFeature => (
            "Local: Required feature not supported by broker",
            "_UNSUPPORTED_FEATURE",
        ),
        E::WaitCache => ("Local: Awaiting cache update", "_WAIT_CACHE"),
        E::Interrupted => ("Local: Operation interrupted", "_INTR"),
        E::KeySerialization => ("Local: Key serialization error", "_KEY_SERIALIZATION"),
        E::ValueSerialization => ("Local: Value serialization error", "_VALUE_SERIALIZATION"),
        E::KeyDeserialization => ("Local: Key deserialization error", "_KEY_DESERIALIZATION"),
        E::ValueDeserialization => (
            "Local: Value deserialization error",
            "_VALUE_DESERIALIZATION",
        ),
        E::Partial => ("Local: Partial response", "_PARTIAL"),
        E::ReadOnly => ("Local: Read-only object", "_READ_ONLY"),
        E::NoEnt => ("Local: No such entry", "_NOENT"),
        E::Underflow => ("Local: Read underflow", "_UNDERFLOW"),
        E::InvalidType => ("Local: Invalid type", "_INVALID_TYPE"),
        E::Retry => ("Local: Retry operation", "_RETRY"),
        E::PurgeQueue => ("Local: Purged in queue", "_PURGE_QUEUE"),
        E::PurgeInflight => ("Local: Purged in flight", "_PURGE_INFLIGHT"),
        E::Fatal => ("Local: Fatal error", "_FATAL"),
        E::Inconsistent => ("Local: Inconsistent state", "_INCONSISTENT"),
        E::GaplessGuarantee => (
            "Local: Gap-less ordering would not be guaranteed if proceeding",
            "_GAPLESS_GUARANTEE",
        ),
        E::PollExceeded => (
            "Local: Maximum application poll interval (max.poll.interval.ms) exceeded",
            "_MAX_POLL_EXCEEDED",
        ),
        E::UnknownBroker => ("Local: Unknown broker", "_UNKNOWN_BROKER"),
        E::NotConfigured => ("Local: Functionality not configured", "_NOT_CONFIGURED"),
        E::Fenced => (
            "Local: This instance has been fenced by a newer instance",
            "_FENCED",
        ),
        E::Application => ("Local: Application generated error", "_APPLICATION"),
        E::AssignmentLost => ("Local: Group partition assignment lost", "_ASSIGNMENT_LOST"),
        E::Noop => ("Local: No operation performed", "_NOOP"),
        E::AutoOffsetReset => (
            "Local: No offset to automatically reset to",
            "_AUTO_OFFSET_RESET",
        ),
        E::LogTruncation => (
            "Local: Partition log truncation detected",
            "_LOG_TRUNCATION",
        ),
        E::InvalidDifferentRecord => (
            "Local: an invalid record in the same batch caused the failure of this message too",
            "_INVALID_DIFFERENT_RECORD",
        ),
        E::DestroyBroker => (
            "Local: Broker handle destroyed without termination",
            "_DESTROY_BROKER",
        ),
        E::Unknown => ("Unknown broker error", "UNKNOWN"),
        E::NoError => ("Success", "NO_ERROR"),
        E::OffsetOutOfRange => ("Broker: Offset out of range", "OFFSET_OUT_OF_RANGE"),
        E::InvalidMessage => ("Broker: Invalid message", "INVALID_MSG"),
        E::UnknownTopicOrPartition => (
            "Broker: Unknown topic or partition",
            "UNKNOWN_TOPIC_OR_PART",
        ),
        E::InvalidMessageSize => ("Broker: Invalid message size", "INVALID_MSG_SIZE"),
        E::LeaderNotAvailable => ("Broker: Leader not available", "LEADER_NOT_AVAILABLE"),
        E::NotLeaderForPartition => (
            "Broker: Not leader for partition",
            "NOT_LEADER_FOR_PARTITION",
        ),
        E::RequestTimedOut => ("Broker: Request timed out", "REQUEST_TIMED_OUT"),
        E::BrokerNotAvailable => ("Broker: Broker not available", "BROKER_NOT_AVAILABLE"),
        E::ReplicaNotAvailable => ("Broker: Replica not available", "REPLICA_NOT_AVAILABLE"),
        E::MessageSizeTooLarge => ("Broker: Message size too large", "MSG_SIZE_TOO_LARGE"),
        E::StaleControllerEpoch => ("Broker: StaleControllerEpochCode", "STALE_CTRL_EPOCH"),
        E::OffsetMetadataTooLarge => (
            "Broker: Offset metadata string too large",
            "OFFSET_METADATA_TOO_LARGE",
        ),
        E::NetworkException => (
            "Broker: Broker disconnected before response received",
            "NETWORK_EXCEPTION",
        ),
        E::CoordinatorLoadInProgress => (
            "Broker: Coordinator load in progress",
            "COORDINATOR_LOAD_IN_PROGRESS",
        ),
        E::CoordinatorNotAvailable => (
            "Broker: Coordinator not available",
            "COORDINATOR_NOT_AVAILABLE",
        ),
        E::NotCoordinator => ("Broker: Not coordinator", "NOT_COORDINATOR"),
        E::InvalidTopic => ("Broker: Invalid topic", "TOPIC_EXCEPTION"),
        E::MessageBatchTooLarge => (
            "Broker: Message batch larger than configured server segment size",
            "RECORD_LIST_TOO_LARGE",
        ),
        E::NotEnoughReplicas => ("Broker: Not enough in-sync replicas", "NOT_ENOUGH_REPLICAS"),
        E::NotEnoughReplicasAfterAppend => (
            "Broker: Message(s) written to insufficient number of in-sync replicas",
            "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        ),
        E::InvalidRequiredAcks => (
            "Broker: Invalid required acks value",
            "INVALID_REQUIRED_ACKS",
        ),
        E::IllegalGeneration => (
            "Broker: Specified group generation id is not valid",
            "ILLEGAL_GENERATION",
        ),
        E::InconsistentGroupProtocol => (
            "Broker: Inconsistent group protocol",
            "INCONSISTENT_GROUP_PROTOCOL",
        ),
        E::InvalidGroupId => ("Broker: Invalid group.id", "INVALID_GROUP_ID"),
        E::UnknownMemberId => ("Broker: Unknown member", "UNKNOWN_MEMBER_ID"),
        E::InvalidSessionTimeout => ("Broker: Invalid session timeout", "INVALID_SESSION_TIMEOUT"),
        E::RebalanceInProgress => (
            "Broker: Group rebalance in progress",
            "REBALANCE_IN_PROGRESS",
        ),
        E::InvalidCommitOffsetSize => (
            "Broker: Commit offset data size is not valid",
            "INVALID_COMMIT_OFFSET_SIZE",
        ),
        E::TopicAuthorizationFailed => (
            "Broker: Topic authorization failed",
            "TOPIC_AUTHORIZATION_FAILED",
        ),
        E::GroupAuthorizationFailed => (
            "Broker: Group authorization failed",
            "GROUP_AUTHORIZATION_FAILED",
        ),
        E::ClusterAuthorizationFailed => (
            "Broker: Cluster authorization failed",
            "CLUSTER_AUTHORIZATION_FAILED",
        ),
        E::InvalidTimestamp => ("Broker: Invalid timestamp", "INVALID_TIMESTAMP"),
        E::UnsupportedSASLMechanism => (
            "Broker: Unsupported SASL mechanism",
            "UNSUPPORTED_SASL_MECHANISM",
        ),
        E::IllegalSASLState => (
            "Broker: Request not valid in current SASL state",
            "ILLEGAL_SASL_STATE",
        ),
        E::UnsupportedVersion => ("Broker: API version not supported", "UNSUPPORTED_VERSION"),
        E::TopicAlreadyExists => ("Broker: Topic already exists", "TOPIC_ALREADY_EXISTS"),
        E::InvalidPartitions => ("Broker: Invalid number of partitions", "INVALID_PARTITIONS"),
        E::InvalidReplicationFactor => (
            "Broker: Invalid replication factor",
            "INVALID_REPLICATION_FACTOR",
        ),
        E::InvalidReplicaAssignment => (
            "Broker: Invalid replica assignment",
            "INVALID_REPLICA_ASSIGNMENT",
        ),
        E::InvalidConfig => ("Broker: Configuration is invalid", "INVALID_CONFIG"),
        E::NotController => ("Broker: Not controller for cluster", "NOT_CONTROLLER"),
        E::InvalidRequest => ("Broker: Invalid request", "INVALID_REQUEST"),
        E::UnsupportedForMessageFormat => (
            "Broker: Message format on broker does not support request",
            "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        ),
        E::PolicyViolation => ("Broker: Policy violation", "POLICY_VIOLATION"),
        E::OutOfOrderSequenceNumber => (
            "Broker: Broker received an out of order sequence number",
            "OUT_OF_ORDER_SEQUENCE_NUMBER",
        ),
        E::DuplicateSequenceNumber => (
            "Broker: Broker received a duplicate sequence number",
            "DUPLICATE_SEQUENCE_NUMBER",
        ),
        E::InvalidProducerEpoch => (
            "Broker: Producer attempted an operation with an old epoch",
            "INVALID_PRODUCER_EPOCH",
        ),
        E::InvalidTransactionalState => (
            "Broker: Producer attempted a transactional operation in an invalid state",
            "INVALID_TXN_STATE",
        ),
        E::InvalidProducerIdMapping => (
            "Broker: Producer attempted to use a producer id which is not currently assigned to its transactional id",
            "INVALID_PRODUCER_ID_MAPPING",
        ),
        E::InvalidTransactionTimeout => (
            "Broker: Transaction timeout is larger than the maximum value allowed by the broker's max.transaction.timeout.ms",
            "INVALID_TRANSACTION_TIMEOUT",
        ),
        E::ConcurrentTransactions => (
            "Broker: Producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing",
            "CONCURRENT_TRANSACTIONS",
        ),
        E::TransactionCoordinatorFenced => (
            "Broker: Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer",
            "TRANSACTION_COORDINATOR_FENCED",
        ),
        E::TransactionalIdAuthorizationFailed => (
            "Broker: Transactional Id authorization failed",
            "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        ),
        E::SecurityDisabled => (
            "Broker: Security features are disabled",
            "SECURITY_DISABLED",
        ),
        E::OperationNotAttempted => ("Broker: Operation not attempted", "OPERATION_NOT_ATTEMPTED"),
        E::KafkaStorageError => (
            "Broker: Disk error when trying to access log file on disk",
            "KAFKA_STORAGE_ERROR",
        ),
        E::LogDirNotFound => (
            "Broker: The user-specified log directory is not found in the broker config",
            "LOG_DIR_NOT_FOUND",
        ),
        E::SaslAuthenticationFailed => (
            "Broker: SASL Authentication failed",
            "SASL_AUTHENTICATION_FAILED",
        ),
        E::UnknownProducerId => ("Broker: Unknown Producer Id", "UNKNOWN_PRODUCER_ID"),
        E::ReassignmentInProgress => (
            "Broker: Partition reassignment is in progress",
            "REASSIGNMENT_IN_PROGRESS",
        ),
        E::DelegationTokenAuthDisabled => (
            "Broker: Delegation Token feature is not enabled",
            "DELEGATION_TOKEN_AUTH_DISABLED",
        ),
        E::DelegationTokenNotFound => (
            "Broker: Delegation Token is not found on server",
            "DELEGATION_TOKEN_NOT_FOUND",
        ),
        E::DelegationTokenOwnerMismatch => (
            "Broker: Specified Principal is not valid Owner/Renewer",
            "DELEGATION_TOKEN_OWNER_MISMATCH",
        ),
        E::DelegationTokenRequestNotAllowed => (
            "Broker: Delegation Token requests are not allowed on this connection",
            "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
        ),
        E::DelegationTokenAuthorizationFailed => (
            "Broker: Delegation Token authorization failed",
            "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
        ),
        E::DelegationTokenExpired => (
            "Broker: Delegation Token is expired",
            "DELEGATION_TOKEN_EXPIRED",
        ),
        E::InvalidPrincipalType => (
            "Broker: Supplied principalType is not supported",
            "INVALID_PRINCIPAL_TYPE",
        ),
        E::NonEmptyGroup => ("Broker: The group is not empty", "NON_EMPTY_GROUP"),
        E::GroupIdNotFound => ("Broker: The group id does not exist", "GROUP_ID_NOT_FOUND"),
        E::FetchSessionIdNotFound => (
            "Broker: The fetch session ID was not found",
            "FETCH_SESSION_ID_NOT_FOUND",
        ),
        E::InvalidFetchSessionEpoch => (
            "Broker: The fetch session epoch is invalid",
            "INVALID_FETCH_SESSION_EPOCH",
        ),
        E::ListenerNotFound => ("Broker: No matching listener", "LISTENER_NOT_FOUND"),
        E::TopicDeletionDisabled => (
            "Broker: Topic deletion is disabled",
            "TOPIC_DELETION_DISABLED",
        ),
        E::FencedLeaderEpoch => (
            "Broker: Leader epoch is older than broker epoch",
            "FENCED_LEADER_EPOCH",
        ),
        E::UnknownLeaderEpoch => (
            "Broker: Leader epoch is newer than broker epoch",
            "UNKNOWN_LEADER_EPOCH",
        ),
        E::UnsupportedCompressionType => (
            "Broker: Unsupported compression type",
            "UNSUPPORTED_COMPRESSION_TYPE",
        ),
        E::StaleBrokerEpoch => ("Broker: Broker epoch has changed", "STALE_BROKER_EPOCH"),
        E::OffsetNotAvailable => (
            "Broker: Leader high watermark is not caught up",
            "OFFSET_NOT_AVAILABLE",
        ),
        E::MemberIdRequired => (
            "Broker: Group member needs a valid member ID",
            "MEMBER_ID_REQUIRED",
        ),
        E::PreferredLeaderNotAvailable => (
            "Broker: Preferred leader was not available",
            "PREFERRED_LEADER_NOT_AVAILABLE",
        ),
        E::GroupMaxSizeReached => (
            "Broker: Consumer group has reached maximum size",
            "GROUP_MAX_SIZE_REACHED",
        ),
        E::FencedInstanceId => (
            "Broker: Static consumer fenced by other consumer with same group.instance.id",
            "FENCED_INSTANCE_ID",
        ),
        E::EligibleLeadersNotAvailable => (
            "Broker: Eligible partition leaders are not available",
            "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        ),
        E::ElectionNotNeeded => (
            "Broker: Leader election not needed for topic partition",
            "ELECTION_NOT_NEEDED",
        ),
        E::NoReassignmentInProgress => (
            "Broker: No partition reassignment is in progress",
            "NO_REASSIGNMENT_IN_PROGRESS",
        ),
        E::GroupSubscribedToTopic => (
            "Broker: Deleting offsets of a topic while the consumer group is subscribed to it",
            "GROUP_SUBSCRIBED_TO_TOPIC",
        ),
        E::InvalidRecord => ("Broker: Broker failed to validate record", "INVALID_RECORD"),
        E::UnstableOffsetCommit => (
            "Broker: There are unstable offsets that need to be cleared",
            "UNSTABLE_OFFSET_COMMIT",
        ),
        E::ThrottlingQuotaExceeded => (
            "Broker: Throttling quota has been exceeded",
            "THROTTLING_QUOTA_EXCEEDED",
        ),
        E::ProducerFenced => (
            "Broker: There is a newer producer with the same transactionalId which fences the current one",
            "PRODUCER_FENCED",
        ),
        E::ResourceNotFound => (
            "Broker: Request illegally referred to resource that does not exist",
            "RESOURCE_NOT_FOUND",
        ),
        E::DuplicateResource => (
            "Broker: Request illegally referred to the same resource twice",
            "DUPLICATE_RESOURCE",
        ),
        E::UnacceptableCredential => (
            "Broker: Requested credential would not meet criteria for acceptability",
            "UNACCEPTABLE_CREDENTIAL",
        ),
        E::InconsistentVoterSet => (
            "Broker: Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters",
            "INCONSISTENT_VOTER_SET",
        ),
        E::InvalidUpdateVersion => ("Broker: Invalid update version", "INVALID_UPDATE_VERSION"),
        E::FeatureUpdateFailed => (
            "Broker: Unable to update finalized features due to server error",
            "FEATURE_UPDATE_FAILED",
        ),
        E::PrincipalDeserializationFailure => (
            "Broker: Request principal deserialization failed during forwarding",
            "PRINCIPAL_DESERIALIZATION_FAILURE",
        ),
        E::UnknownTopicId => ("Broker: Unknown topic id", "UNKNOWN_TOPIC_ID"),
        E::FencedMemberEpoch => (
            "Broker: The member epoch is fenced by the group coordinator",
            "FENCED_MEMBER_EPOCH",
        ),
        E::UnreleasedInstanceId => (
            "Broker: The instance ID is still used by another member in the consumer group",
            "UNRELEASED_INSTANCE_ID",
        ),
        E::UnsupportedAssignor => (
            "Broker: The assignor or its version range is not supported by the consumer group",
            "UNSUPPORTED_ASSIGNOR",
        ),
        E::StaleMemberEpoch => ("Broker: The member epoch is stale", "STALE_MEMBER_EPOCH"),
        E::UnknownSubscriptionId => (
            "Broker: Client sent a push telemetry request with an invalid or outdated subscription ID",
            "UNKNOWN_SUBSCRIPTION_ID",
        ),
        E::TelemetryTooLarge => (
            "Broker: Client sent a push telemetry request larger than the maximum size the broker will accept",
            "TELEMETRY_TOO_LARGE",
        ),
        E::RebootstrapRequired => (
            "Broker: Client metadata is stale, client should rebootstrap to obtain new metadata",
            "REBOOTSTRAP_REQUIRED",
        ),
        E::Begin | E::End | E::EndAll => return None,
    })
}

/// A numeric code that names no [`ErrorCode`] variant (librdkafka prints it as `Err-<n>?`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, thiserror::Error)]
#[error("Err-{0}?")]
pub struct UnknownErrorCode(pub i32);

impl ErrorCode {
    /// The code a broker sent in a response; codes this table doesn't know become
    /// [`ErrorCode::Unknown`] (keep the raw `i16` next to it when it matters, e.g. for logs).
    pub fn from_broker(code: i16) -> Self {
        Self::from_i32(i32::from(code))
    }

    /// The variant with value `code`, or [`ErrorCode::Unknown`] when there is none.
    pub fn from_i32(code: i32) -> Self {
        Self::try_from_i32(code).unwrap_or(Self::Unknown)
    }

    /// The variant with value `code`, or the unknown number back.
    pub fn try_from_i32(code: i32) -> Result<Self, UnknownErrorCode> {
        // ALL is sorted by value, which the `all_sorted_and_unique` test pins down.
        ALL.binary_search_by_key(&code, |c| c.as_i32())
            .map(|i| ALL[i])
            .map_err(|_| UnknownErrorCode(code))
    }

    /// The numeric value, as librdkafka and rdkafka (`code as i32`) use it.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// Every variant, range markers included, in numeric order.
    pub fn all() -> &'static [Self] {
        &ALL
    }

    /// librdkafka's `rd_kafka_err2str` text, e.g. `Local: Queue full`.
    pub fn description(self) -> &'static str {
        match texts(self) {
            Some((desc, _)) => desc,
            None => match self {
                Self::Begin => "Err--200?",
                Self::End => "Err--100?",
                _ => "Err-130?",
            },
        }
    }

    /// librdkafka's `rd_kafka_err2name`, e.g. `_QUEUE_FULL` or `MSG_SIZE_TOO_LARGE`.
    pub fn name(self) -> &'static str {
        match texts(self) {
            Some((_, name)) => name,
            None => match self {
                Self::Begin => "ERR_-200?",
                Self::End => "ERR_-100?",
                _ => "ERR_130?",
            },
        }
    }

    /// Whether this is a client-side (`RD_KAFKA_RESP_ERR__*`) code rather than a broker one.
    pub const fn is_local(self) -> bool {
        let v = self as i32;
        v <= -100 && v >= -200
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} ({})", self.description())
    }
}

impl core::error::Error for ErrorCode {}

impl TryFrom<i32> for ErrorCode {
    type Error = UnknownErrorCode;

    fn try_from(code: i32) -> Result<Self, UnknownErrorCode> {
        Self::try_from_i32(code)
    }
}

impl From<ErrorCode> for i32 {
    fn from(code: ErrorCode) -> Self {
        code.as_i32()
    }
}

/// librdkafka's `rd_kafka_msg_status_t`: whether a message may be in the log.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord, Default)]
#[repr(i32)]
pub enum PersistenceStatus {
    /// The message was never written: retrying risks reordering at most.
    #[default]
    NotPersisted = 0,
    /// The message may have been written (sent, no ack): retrying risks a duplicate.
    PossiblyPersisted = 1,
    /// The broker acknowledged the message (trust it only with `acks=all`).
    Persisted = 2,
}

impl PersistenceStatus {
    /// librdkafka's numbering (0, 1, 2).
    pub const fn as_i32(self) -> i32 {
        self as i32
    }
}

/// Errors the idempotent producer resolves with its sequence/epoch state instead of the generic
/// retry path (librdkafka's `rd_kafka_handle_idempotent_Produce_error`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum IdempotenceError {
    /// OUT_OF_ORDER_SEQUENCE_NUMBER: fatal if the batch is the head of line and nothing
    /// earlier failed, otherwise drain, bump the epoch and retry without counting a retry.
    OutOfOrderSequence,
    /// DUPLICATE_SEQUENCE_NUMBER: the batch was already written; report success with status
    /// [`PersistenceStatus::Persisted`] but no offset or timestamp.
    DuplicateSequence,
    /// UNKNOWN_PRODUCER_ID (KIP-360): bump the epoch and retry if this is the first
    /// unacknowledged batch and it was never retried; otherwise fatal (abortable when
    /// transactional).
    UnknownProducerId,
    /// INVALID_PRODUCER_EPOCH: fenced (fatal `__FENCED`) when transactional; otherwise a
    /// permanent failure followed by an epoch bump.
    InvalidProducerEpoch,
}

impl IdempotenceError {
    /// The idempotence-specific case for `code`, if it is one.
    pub const fn from_code(code: ErrorCode) -> Option<Self> {
        match code {
            ErrorCode::OutOfOrderSequenceNumber => Some(Self::OutOfOrderSequence),
            ErrorCode::DuplicateSequenceNumber => Some(Self::DuplicateSequence),
            ErrorCode::UnknownProducerId => Some(Self::UnknownProducerId),
            ErrorCode::InvalidProducerEpoch => Some(Self::InvalidProducerEpoch),
            _ => None,
        }
    }
}

/// The broad decision for a failed produce.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ProduceErrorClass {
    /// Put the messages back at their msgid position and send them again after backoff
    /// (while `message.send.max.retries` and `message.timeout.ms` allow).
    Retry,
    /// Fail the messages now with the error in their delivery report. With an idempotent
    /// producer this also opens a sequence gap: the engine must drain and bump the epoch (or
    /// raise `__GAPLESS_GUARANTEE`/abortable errors, as librdkafka does).
    Permanent,
    /// Idempotent producer only: an error its sequence/epoch state machine resolves.
    Idempotence(IdempotenceError),
}

/// What to do with a failed produce batch, and what its messages' status is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct ProduceErrorAction {
    /// Retry, fail, or hand to the idempotence state machine.
    pub class: ProduceErrorClass,
    /// Mark the partition's leader unknown and refresh metadata before retrying.
    pub refresh_metadata: bool,
    /// Whether the retry consumes one of the message's `message.send.max.retries`. librdkafka
    /// counts only retries that may duplicate (a request that was sent and may have landed).
    pub counts_as_retry: bool,
    /// Persistence status of the batch's messages after this error.
    pub status: PersistenceStatus,
    /// The code for the delivery report if the messages fail now (request-level timeouts
    /// become `MessageTimedOut`, as librdkafka translates them).
    pub report_code: ErrorCode,
}

impl ProduceErrorAction {
    /// Whether the messages go back to the queue rather than failing.
    pub const fn is_retry(&self) -> bool {
        matches!(self.class, ProduceErrorClass::Retry)
    }
}

/// The circumstances of a failed produce that change librdkafka's decision.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub struct ProduceErrorContext {
    /// `enable.idempotence` (or a transactional producer) is on. Without it the
    /// idempotence-specific codes are plain permanent errors passed to the application.
    pub idempotent: bool,
    /// The request reached the socket. A request that was never sent cannot have landed, so
    /// its retry is free and its messages are [`PersistenceStatus::NotPersisted`].
    pub request_sent: bool,
}

/// librdkafka's error-action flags for a code, before Produce-specific handling.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Default)]
pub struct ErrorActions {
    /// `RD_KAFKA_ERR_ACTION_PERMANENT`: give up.
    pub permanent: bool,
    /// `RD_KAFKA_ERR_ACTION_REFRESH`: metadata is stale, refresh it.
    pub refresh: bool,
    /// `RD_KAFKA_ERR_ACTION_RETRY`: try the request again.
    pub retry: bool,
    /// The `MSG_*` status flag: how persisted the request's messages may be.
    pub status: PersistenceStatus,
}

const fn act(
    permanent: bool,
    refresh: bool,
    retry: bool,
    status: PersistenceStatus,
) -> ErrorActions {
    ErrorActions {
        permanent,
        refresh,
        retry,
        status,
    }
}

/// librdkafka's default mapping (`rd_kafka_err_action` without overrides), used for
/// non-Produce requests (Metadata, InitProducerId, ...) too; `NoError` maps to no action.
pub const fn default_error_actions(code: ErrorCode) -> ErrorActions {
    use ErrorCode as E;
    use PersistenceStatus::{NotPersisted as Not, PossiblyPersisted as Possibly};
    match code {
        E::NoError => act(false, false, false, Not),
        E::LeaderNotAvailable
        | E::NotLeaderForPartition
        | E::BrokerNotAvailable
        | E::ReplicaNotAvailable
        | E::CoordinatorNotAvailable
        | E::NotCoordinator
        | E::WaitingForCoordinator
        | E::DestroyBroker => act(false, true, false, Not),
        E::KafkaStorageError => act(false, true, true, Not),
        E::BrokerTransportFailure
        | E::SSL
        | E::OperationTimedOut
        | E::RequestTimedOut
        | E::NotEnoughReplicasAfterAppend => act(false, false, true, Possibly),
        E::NotEnoughReplicas | E::InvalidMessage | E::TimedOutQueue => act(false, false, true, Not),
        E::PurgeInflight | E::BadMessage => act(true, false, false, Possibly),
        // No MSG_* flag: the status stays at its initial NotPersisted.
        E::CoordinatorLoadInProgress => act(false, false, true, Not),
        _ => act(true, false, false, Not),
    }
}

/// The Produce-specific overrides librdkafka passes to `rd_kafka_err_action`; `None` means the
/// default mapping applies.
const fn produce_override(code: ErrorCode) -> Option<ErrorActions> {
    use ErrorCode as E;
    use PersistenceStatus::{NotPersisted as Not, PossiblyPersisted as Possibly};
    Some(match code {
        E::BrokerTransportFailure => act(false, true, false, Possibly),
        // 2.12.1 refreshes and retries this one although the docs call it permanent.
        E::UnknownTopicOrPartition => act(false, true, false, Not),
        E::TopicAuthorizationFailed => act(true, false, false, Not),
        E::KafkaStorageError => act(false, true, true, Not),
        E::NotEnoughReplicas => act(false, false, true, Not),
        E::NotEnoughReplicasAfterAppend => act(false, false, true, Possibly),
        E::TimedOutQueue => act(false, false, true, Not),
        E::OperationTimedOut => act(false, false, true, Possibly),
        E::MessageTimedOut => act(true, false, false, Possibly),
        E::OutOfOrderSequenceNumber | E::DuplicateSequenceNumber => {
            act(true, false, false, Possibly)
        }
        E::UnknownProducerId | E::InvalidProducerEpoch => act(true, false, false, Not),
        // Purged from the output queue because the producer id changed.
        E::Retry => act(false, false, true, Not),
        // KIP-890 TV2 (not in librdkafka's table): a Produce v12 that arrives while the
        // coordinator is still writing the previous transaction's markers is refused before
        // anything is written; the Java client retries it.
        E::ConcurrentTransactions => act(false, false, true, Not),
        _ => return None,
    })
}

/// How librdkafka 2.12.1 handles a ProduceRequest that failed with `code` (a partition-level
/// error from the response, or a local one: `BrokerTransportFailure` for a lost connection,
/// `OperationTimedOut` for a request that timed out in flight, `TimedOutQueue` for one that
/// timed out before it was sent).
///
/// Notable consequences of librdkafka's table: a REFRESH code (leader or topic unknown)
/// retries without consuming a retry (except transport failures and storage errors);
/// `InvalidMessage` (CORRUPT_MESSAGE) is retried; codes librdkafka doesn't list (e.g.
/// `NetworkException`, `FencedLeaderEpoch`, `UnknownLeaderEpoch`, `ThrottlingQuotaExceeded`,
/// `MessageSizeTooLarge`, `MessageBatchTooLarge`, `InvalidRecord`) are permanent.
pub fn classify_produce_error(code: ErrorCode, ctx: ProduceErrorContext) -> ProduceErrorAction {
    let actions = match produce_override(code) {
        Some(a) => a,
        None => default_error_actions(code),
    };
    let report_code = match code {
        ErrorCode::OperationTimedOut | ErrorCode::TimedOutQueue => ErrorCode::MessageTimedOut,
        other => other,
    };
    if ctx.idempotent {
        if let Some(kind) = IdempotenceError::from_code(code) {
            let status = match kind {
                IdempotenceError::DuplicateSequence => PersistenceStatus::Persisted,
                _ => actions.status,
            };
            return ProduceErrorAction {
                class: ProduceErrorClass::Idempotence(kind),
                refresh_metadata: false,
                counts_as_retry: false,
                status,
                report_code,
            };
        }
    }
    // Refresh implies retry for Produce; permanent wins over both.
    let retry = !actions.permanent && (actions.retry || actions.refresh);
    if !retry {
        return ProduceErrorAction {
            class: ProduceErrorClass::Permanent,
            refresh_metadata: actions.refresh,
            counts_as_retry: false,
            status: actions.status,
            report_code,
        };
    }
    // A stale-metadata rejection can't have been written, so it doesn't count; transport
    // failures and storage errors may have been, so they do.
    let stale_metadata = actions.refresh
        && !matches!(
            code,
            ErrorCode::BrokerTransportFailure | ErrorCode::KafkaStorageError
        );
    // TimedOutQueue and __RETRY are re-queues of messages that never left the client.
    let never_sent =
        !ctx.request_sent || matches!(code, ErrorCode::TimedOutQueue | ErrorCode::Retry);
    let counts = !stale_metadata && !never_sent;
    let status = if counts {
        actions.status
    } else {
        PersistenceStatus::NotPersisted
    };
    ProduceErrorAction {
        class: ProduceErrorClass::Retry,
        refresh_metadata: actions.refresh,
        counts_as_retry: counts,
        status,
        report_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PersistenceStatus::{NotPersisted as Not, Persisted, PossiblyPersisted as Possibly};

    #[test]
    fn all_sorted_and_unique() {
        assert!(ALL.windows(2).all(|w| w[0].as_i32() < w[1].as_i32()));
        // rdkafka-sys 4.9.0+2.12.1 has 173 variants, range markers included.
        assert_eq!(ALL.len(), 173);
    }

    #[test]
    fn round_trips_every_value() {
        for &c in ErrorCode::all() {
            assert_eq!(ErrorCode::from_i32(c.as_i32()), c);
            assert_eq!(ErrorCode::try_from_i32(c.as_i32()), Ok(c));
        }
        assert_eq!(ErrorCode::try_from_i32(98), Err(UnknownErrorCode(98)));
        assert_eq!(ErrorCode::try_from(-184), Ok(ErrorCode::QueueFull));
        assert_eq!(i32::from(ErrorCode::QueueFull), -184);
        assert_eq!(UnknownErrorCode(98).to_string(), "Err-98?");
        assert_eq!(ErrorCode::from_broker(98), ErrorCode::Unknown);
        assert_eq!(ErrorCode::from_broker(-2), ErrorCode::Unknown);
        assert_eq!(ErrorCode::from_broker(i16::MAX), ErrorCode::Unknown);
        assert_eq!(ErrorCode::from_broker(0), ErrorCode::NoError);
        assert_eq!(ErrorCode::from_broker(6), ErrorCode::NotLeaderForPartition);
        assert_eq!(ErrorCode::from_broker(129), ErrorCode::RebootstrapRequired);
    }

    #[test]
    fn values_and_display_match_rdkafka() {
        // (variant, value, Display as rdkafka prints it, err2name)
        let table: &[(ErrorCode, i32, &str, &str)] = &[
            (ErrorCode::Begin, -200, "Begin (Err--200?)", "ERR_-200?"),
            (
                ErrorCode::BadMessage,
                -199,
                "BadMessage (Local: Bad message format)",
                "_BAD_MSG",
            ),
            (
                ErrorCode::BrokerTransportFailure,
                -195,
                "BrokerTransportFailure (Local: Broker transport failure)",
                "_TRANSPORT",
            ),
            (
                ErrorCode::MessageTimedOut,
                -192,
                "MessageTimedOut (Local: Message timed out)",
                "_MSG_TIMED_OUT",
            ),
            (
                ErrorCode::PartitionEOF,
                -191,
                "PartitionEOF (Broker: No more messages)",
                "_PARTITION_EOF",
            ),
            (
                ErrorCode::UnknownPartition,
                -190,
                "UnknownPartition (Local: Unknown partition)",
                "_UNKNOWN_PARTITION",
            ),
            (
                ErrorCode::UnknownTopic,
                -188,
                "UnknownTopic (Local: Unknown topic)",
                "_UNKNOWN_TOPIC",
            ),
            (
                ErrorCode::InvalidArgument,
                -186,
                "InvalidArgument (Local: Invalid argument or configuration)",
                "_INVALID_ARG",
            ),
            (
                ErrorCode::OperationTimedOut,
                -185,
                "OperationTimedOut (Local: Timed out)",
                "_TIMED_OUT",
            ),
            (
                ErrorCode::QueueFull,
                -184,
                "QueueFull (Local: Queue full)",
                "_QUEUE_FULL",
            ),
            (
                ErrorCode::State,
                -172,
                "State (Local: Erroneous state)",
                "_STATE",
            ),
            (
                ErrorCode::TimedOutQueue,
                -166,
                "TimedOutQueue (Local: Timed out in queue)",
                "_TIMED_OUT_QUEUE",
            ),
            (
                ErrorCode::PurgeQueue,
                -152,
                "PurgeQueue (Local: Purged in queue)",
                "_PURGE_QUEUE",
            ),
            (
                ErrorCode::PurgeInflight,
                -151,
                "PurgeInflight (Local: Purged in flight)",
                "_PURGE_INFLIGHT",
            ),
            (
                ErrorCode::Fatal,
                -150,
                "Fatal (Local: Fatal error)",
                "_FATAL",
            ),
            (
                ErrorCode::Fenced,
                -144,
                "Fenced (Local: This instance has been fenced by a newer instance)",
                "_FENCED",
            ),
            (
                ErrorCode::DestroyBroker,
                -137,
                "DestroyBroker (Local: Broker handle destroyed without termination)",
                "_DESTROY_BROKER",
            ),
            (ErrorCode::End, -100, "End (Err--100?)", "ERR_-100?"),
            (
                ErrorCode::Unknown,
                -1,
                "Unknown (Unknown broker error)",
                "UNKNOWN",
            ),
            (ErrorCode::NoError, 0, "NoError (Success)", "NO_ERROR"),
            (
                ErrorCode::InvalidMessage,
                2,
                "InvalidMessage (Broker: Invalid message)",
                "INVALID_MSG",
            ),
            (
                ErrorCode::UnknownTopicOrPartition,
                3,
                "UnknownTopicOrPartition (Broker: Unknown topic or partition)",
                "UNKNOWN_TOPIC_OR_PART",
            ),
            (
                ErrorCode::NotLeaderForPartition,
                6,
                "NotLeaderForPartition (Broker: Not leader for partition)",
                "NOT_LEADER_FOR_PARTITION",
            ),
            (
                ErrorCode::MessageSizeTooLarge,
                10,
                "MessageSizeTooLarge (Broker: Message size too large)",
                "MSG_SIZE_TOO_LARGE",
            ),
            (
                ErrorCode::MessageBatchTooLarge,
                18,
                "MessageBatchTooLarge (Broker: Message batch larger than configured server segment size)",
                "RECORD_LIST_TOO_LARGE",
            ),
            (
                ErrorCode::TransactionalIdAuthorizationFailed,
                53,
                "TransactionalIdAuthorizationFailed (Broker: Transactional Id authorization failed)",
                "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            ),
            (
                ErrorCode::KafkaStorageError,
                56,
                "KafkaStorageError (Broker: Disk error when trying to access log file on disk)",
                "KAFKA_STORAGE_ERROR",
            ),
            (
                ErrorCode::UnknownProducerId,
                59,
                "UnknownProducerId (Broker: Unknown Producer Id)",
                "UNKNOWN_PRODUCER_ID",
            ),
            (
                ErrorCode::ProducerFenced,
                90,
                "ProducerFenced (Broker: There is a newer producer with the same transactionalId which fences the current one)",
                "PRODUCER_FENCED",
            ),
            (
                ErrorCode::UnknownTopicId,
                100,
                "UnknownTopicId (Broker: Unknown topic id)",
                "UNKNOWN_TOPIC_ID",
            ),
            (
                ErrorCode::RebootstrapRequired,
                129,
                "RebootstrapRequired (Broker: Client metadata is stale, client should rebootstrap to obtain new metadata)",
                "REBOOTSTRAP_REQUIRED",
            ),
            (ErrorCode::EndAll, 130, "EndAll (Err-130?)", "ERR_130?"),
        ];
        for &(code, value, display, name) in table {
            assert_eq!(code.as_i32(), value, "{code:?}");
            assert_eq!(code as i32, value, "{code:?}");
            assert_eq!(code.to_string(), display);
            assert_eq!(code.name(), name);
        }
    }

    #[test]
    fn local_vs_broker() {
        assert!(ErrorCode::QueueFull.is_local());
        assert!(ErrorCode::End.is_local());
        assert!(!ErrorCode::Unknown.is_local());
        assert!(!ErrorCode::MessageSizeTooLarge.is_local());
        for &c in ErrorCode::all() {
            assert_eq!(c.is_local(), c.as_i32() < 0 && c != ErrorCode::Unknown);
            assert!(!c.description().is_empty());
        }
    }

    #[test]
    fn persistence_numbering() {
        assert_eq!(
            [Not.as_i32(), Possibly.as_i32(), Persisted.as_i32()],
            [0, 1, 2]
        );
    }

    const SENT: ProduceErrorContext = ProduceErrorContext {
        idempotent: false,
        request_sent: true,
    };

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum C {
        Retry,
        Perm,
    }

    #[test]
    fn produce_classification_table_plain_producer_sent() {
        use ErrorCode as E;
        // (code, class, refresh, counts_as_retry, status, report code)
        let table: &[(E, C, bool, bool, PersistenceStatus, E)] = &[
            (
                E::BrokerTransportFailure,
                C::Retry,
                true,
                true,
                Possibly,
                E::BrokerTransportFailure,
            ),
            (
                E::OperationTimedOut,
                C::Retry,
                false,
                true,
                Possibly,
                E::MessageTimedOut,
            ),
            (
                E::TimedOutQueue,
                C::Retry,
                false,
                false,
                Not,
                E::MessageTimedOut,
            ),
            (E::SSL, C::Retry, false, true, Possibly, E::SSL),
            (
                E::RequestTimedOut,
                C::Retry,
                false,
                true,
                Possibly,
                E::RequestTimedOut,
            ),
            (
                E::NotEnoughReplicas,
                C::Retry,
                false,
                true,
                Not,
                E::NotEnoughReplicas,
            ),
            (
                E::NotEnoughReplicasAfterAppend,
                C::Retry,
                false,
                true,
                Possibly,
                E::NotEnoughReplicasAfterAppend,
            ),
            (
                E::KafkaStorageError,
                C::Retry,
                true,
                true,
                Not,
                E::KafkaStorageError,
            ),
            (
                E::InvalidMessage,
                C::Retry,
                false,
                true,
                Not,
                E::InvalidMessage,
            ),
            (
                E::LeaderNotAvailable,
                C::Retry,
                true,
                false,
                Not,
                E::LeaderNotAvailable,
            ),
            (
                E::NotLeaderForPartition,
                C::Retry,
                true,
                false,
                Not,
                E::NotLeaderForPartition,
            ),
            (
                E::BrokerNotAvailable,
                C::Retry,
                true,
                false,
                Not,
                E::BrokerNotAvailable,
            ),
            (
                E::ReplicaNotAvailable,
                C::Retry,
                true,
                false,
                Not,
                E::ReplicaNotAvailable,
            ),
            (
                E::UnknownTopicOrPartition,
                C::Retry,
                true,
                false,
                Not,
                E::UnknownTopicOrPartition,
            ),
            (
                E::CoordinatorNotAvailable,
                C::Retry,
                true,
                false,
                Not,
                E::CoordinatorNotAvailable,
            ),
            (
                E::NotCoordinator,
                C::Retry,
                true,
                false,
                Not,
                E::NotCoordinator,
            ),
            (
                E::CoordinatorLoadInProgress,
                C::Retry,
                false,
                true,
                Not,
                E::CoordinatorLoadInProgress,
            ),
            (E::Retry, C::Retry, false, false, Not, E::Retry),
            (
                E::DestroyBroker,
                C::Retry,
                true,
                false,
                Not,
                E::DestroyBroker,
            ),
            (
                E::MessageTimedOut,
                C::Perm,
                false,
                false,
                Possibly,
                E::MessageTimedOut,
            ),
            (
                E::PurgeInflight,
                C::Perm,
                false,
                false,
                Possibly,
                E::PurgeInflight,
            ),
            (E::PurgeQueue, C::Perm, false, false, Not, E::PurgeQueue),
            (
                E::BadMessage,
                C::Perm,
                false,
                false,
                Possibly,
                E::BadMessage,
            ),
            (
                E::MessageSizeTooLarge,
                C::Perm,
                false,
                false,
                Not,
                E::MessageSizeTooLarge,
            ),
            (
                E::MessageBatchTooLarge,
                C::Perm,
                false,
                false,
                Not,
                E::MessageBatchTooLarge,
            ),
            (
                E::InvalidRequiredAcks,
                C::Perm,
                false,
                false,
                Not,
                E::InvalidRequiredAcks,
            ),
            (
                E::TopicAuthorizationFailed,
                C::Perm,
                false,
                false,
                Not,
                E::TopicAuthorizationFailed,
            ),
            (
                E::ClusterAuthorizationFailed,
                C::Perm,
                false,
                false,
                Not,
                E::ClusterAuthorizationFailed,
            ),
            (
                E::UnsupportedForMessageFormat,
                C::Perm,
                false,
                false,
                Not,
                E::UnsupportedForMessageFormat,
            ),
            (
                E::InvalidRecord,
                C::Perm,
                false,
                false,
                Not,
                E::InvalidRecord,
            ),
            (
                E::InvalidTimestamp,
                C::Perm,
                false,
                false,
                Not,
                E::InvalidTimestamp,
            ),
            (
                E::NetworkException,
                C::Perm,
                false,
                false,
                Not,
                E::NetworkException,
            ),
            (
                E::FencedLeaderEpoch,
                C::Perm,
                false,
                false,
                Not,
                E::FencedLeaderEpoch,
            ),
            (
                E::UnknownLeaderEpoch,
                C::Perm,
                false,
                false,
                Not,
                E::UnknownLeaderEpoch,
            ),
            (
                E::ThrottlingQuotaExceeded,
                C::Perm,
                false,
                false,
                Not,
                E::ThrottlingQuotaExceeded,
            ),
            (
                E::ProducerFenced,
                C::Perm,
                false,
                false,
                Not,
                E::ProducerFenced,
            ),
            (E::Unknown, C::Perm, false, false, Not, E::Unknown),
            // Without idempotence these pass straight to the application.
            (
                E::OutOfOrderSequenceNumber,
                C::Perm,
                false,
                false,
                Possibly,
                E::OutOfOrderSequenceNumber,
            ),
            (
                E::DuplicateSequenceNumber,
                C::Perm,
                false,
                false,
                Possibly,
                E::DuplicateSequenceNumber,
            ),
            (
                E::UnknownProducerId,
                C::Perm,
                false,
                false,
                Not,
                E::UnknownProducerId,
            ),
            (
                E::InvalidProducerEpoch,
                C::Perm,
                false,
                false,
                Not,
                E::InvalidProducerEpoch,
            ),
        ];
        for &(code, class, refresh, counts, status, report) in table {
            let a = classify_produce_error(code, SENT);
            let got = match a.class {
                ProduceErrorClass::Retry => C::Retry,
                ProduceErrorClass::Permanent => C::Perm,
                ProduceErrorClass::Idempotence(_) => {
                    panic!("{code:?}: idempotence class on plain producer")
                }
            };
            assert_eq!(
                (
                    got,
                    a.refresh_metadata,
                    a.counts_as_retry,
                    a.status,
                    a.report_code
                ),
                (class, refresh, counts, status, report),
                "{code:?}"
            );
            assert_eq!(a.is_retry(), class == C::Retry);
        }
    }

    #[test]
    fn unsent_requests_retry_for_free_and_not_persisted() {
        let ctx = ProduceErrorContext {
            idempotent: false,
            request_sent: false,
        };
        for code in [
            ErrorCode::BrokerTransportFailure,
            ErrorCode::RequestTimedOut,
            ErrorCode::OperationTimedOut,
            ErrorCode::KafkaStorageError,
        ] {
            let a = classify_produce_error(code, ctx);
            assert!(a.is_retry(), "{code:?}");
            assert!(!a.counts_as_retry, "{code:?}");
            assert_eq!(a.status, Not, "{code:?}");
        }
        // Permanent errors keep their status whether sent or not.
        assert_eq!(
            classify_produce_error(ErrorCode::PurgeInflight, ctx).status,
            Possibly
        );
    }

    #[test]
    fn idempotence_errors_form_their_own_class() {
        let ctx = ProduceErrorContext {
            idempotent: true,
            request_sent: true,
        };
        let table = [
            (
                ErrorCode::OutOfOrderSequenceNumber,
                IdempotenceError::OutOfOrderSequence,
                Possibly,
            ),
            (
                ErrorCode::DuplicateSequenceNumber,
                IdempotenceError::DuplicateSequence,
                Persisted,
            ),
            (
                ErrorCode::UnknownProducerId,
                IdempotenceError::UnknownProducerId,
                Not,
            ),
            (
                ErrorCode::InvalidProducerEpoch,
                IdempotenceError::InvalidProducerEpoch,
                Not,
            ),
        ];
        for (code, kind, status) in table {
            let a = classify_produce_error(code, ctx);
            assert_eq!(a.class, ProduceErrorClass::Idempotence(kind), "{code:?}");
            assert_eq!(a.status, status, "{code:?}");
            assert_eq!(IdempotenceError::from_code(code), Some(kind));
        }
        // Other codes classify the same with or without idempotence.
        for &code in ErrorCode::all() {
            if IdempotenceError::from_code(code).is_none() {
                assert_eq!(
                    classify_produce_error(code, ctx),
                    classify_produce_error(code, SENT),
                    "{code:?}"
                );
            }
        }
    }

    #[test]
    fn default_actions_for_other_requests() {
        let a = default_error_actions(ErrorCode::CoordinatorNotAvailable);
        assert!(a.refresh && !a.retry && !a.permanent);
        let a = default_error_actions(ErrorCode::CoordinatorLoadInProgress);
        assert!(a.retry && !a.permanent);
        let a = default_error_actions(ErrorCode::UnsupportedFeature);
        assert!(a.permanent && !a.retry);
        assert_eq!(
            default_error_actions(ErrorCode::NoError),
            ErrorActions::default()
        );
        // The Produce overrides differ from the defaults where librdkafka says so.
        assert!(default_error_actions(ErrorCode::UnknownTopicOrPartition).permanent);
        assert!(classify_produce_error(ErrorCode::UnknownTopicOrPartition, SENT).is_retry());
        assert!(!default_error_actions(ErrorCode::BrokerTransportFailure).refresh);
        assert!(classify_produce_error(ErrorCode::BrokerTransportFailure, SENT).refresh_metadata);
    }
}
