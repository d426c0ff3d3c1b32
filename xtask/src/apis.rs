//! The single allow-list of what the code generator emits.
//!
//! To support a new API: add a row to [`APIS`] (its request and response
//! schemas must exist as `message/<Name>Request.json` and
//! `message/<Name>Response.json`), rerun `cargo run -p xtask -- codegen`, and
//! set `advertise` once the broker implements it.

/// One API we generate a codec for.
pub struct Api {
    /// The API key.
    pub key: i16,
    /// Schema name without the `Request`/`Response` suffix.
    pub name: &'static str,
    /// Version range listed in the ApiVersions response.
    pub advertised_min: i16,
    pub advertised_max: i16,
    /// Version range the generated `decode` accepts.
    pub decode_min: i16,
    pub decode_max: i16,
    /// Whether the broker lists this API in its ApiVersions response.
    pub advertise: bool,
}

const fn api(
    key: i16,
    name: &'static str,
    advertised: (i16, i16),
    decode: (i16, i16),
    advertise: bool,
) -> Api {
    Api {
        key,
        name,
        advertised_min: advertised.0,
        advertised_max: advertised.1,
        decode_min: decode.0,
        decode_max: decode.1,
        advertise,
    }
}

/// `(api_key, name, advertised min–max, decode min–max, advertise)`.
#[rustfmt::skip]
pub const APIS: &[Api] = &[
    api(0,  "Produce",                 (3, 11), (3, 11), true),
    api(1,  "Fetch",                   (4, 16), (4, 16), true),
    api(2,  "ListOffsets",             (1, 8),  (1, 8),  true),
    api(3,  "Metadata",                (0, 12), (0, 12), true),
    api(8,  "OffsetCommit",            (2, 9),  (2, 9),  true),
    api(9,  "OffsetFetch",             (1, 9),  (1, 9),  true),
    api(10, "FindCoordinator",         (0, 6),  (0, 6),  true),
    api(11, "JoinGroup",               (0, 9),  (0, 9),  true),
    api(12, "Heartbeat",               (0, 4),  (0, 4),  true),
    api(13, "LeaveGroup",              (0, 5),  (0, 5),  true),
    api(14, "SyncGroup",               (0, 5),  (0, 5),  true),
    api(15, "DescribeGroups",          (0, 5),  (0, 5),  true),
    api(16, "ListGroups",              (0, 5),  (0, 5),  true),
    api(18, "ApiVersions",             (0, 4),  (0, 4),  true),
    api(19, "CreateTopics",            (2, 7),  (2, 7),  true),
    api(20, "DeleteTopics",            (1, 6),  (1, 6),  true),
    api(21, "DeleteRecords",           (0, 2),  (0, 2),  true),
    api(22, "InitProducerId",          (0, 5),  (0, 5),  true),
    api(32, "DescribeConfigs",         (1, 4),  (1, 4),  true),
    api(33, "AlterConfigs",            (0, 2),  (0, 2),  true),
    api(37, "CreatePartitions",        (0, 3),  (0, 3),  true),
    api(42, "DeleteGroups",            (0, 2),  (0, 2),  true),
    api(43, "ElectLeaders",            (0, 2),  (0, 2),  true),
    api(44, "IncrementalAlterConfigs", (0, 1),  (0, 1),  true),
    api(45, "AlterPartitionReassignments", (0, 1), (0, 1), true),
    api(46, "ListPartitionReassignments", (0, 0), (0, 0), true),
    api(47, "OffsetDelete",            (0, 0),  (0, 0),  true),
    api(55, "DescribeQuorum",          (0, 2),  (0, 2),  true),
    api(60, "DescribeCluster",         (0, 1),  (0, 1),  true),
    api(75, "DescribeTopicPartitions", (0, 0),  (0, 0),  true),
];

/// KRaft control records (schema `name` in `message/*.json`, `"type": "data"`): the values of
/// the control batches the Raft layer writes in `__cluster_metadata-0` (leader changes, kraft
/// version, voters) and in snapshots (header and footer), with all their valid versions.
pub const RAFT_CONTROL_RECORDS: &[&str] = &[
    "LeaderChangeMessage",
    "SnapshotHeaderRecord",
    "SnapshotFooterRecord",
    "KRaftVersionRecord",
    "VotersRecord",
];

/// KRaft metadata record types (schema `name` in `metadata/*.json`) to
/// generate, with all their valid versions.
pub const METADATA_RECORDS: &[&str] = &[
    "FeatureLevelRecord",
    "TopicRecord",
    "PartitionRecord",
    "PartitionChangeRecord",
    "RemoveTopicRecord",
    "ConfigRecord",
    "RegisterBrokerRecord",
    "BrokerRegistrationChangeRecord",
    "FenceBrokerRecord",
    "UnfenceBrokerRecord",
    "UnregisterBrokerRecord",
    "ProducerIdsRecord",
    "BeginTransactionRecord",
    "EndTransactionRecord",
    "ZkMigrationStateRecord",
    "NoOpRecord",
];
