//! The Kafka APIs kmirror uses, the versions it speaks of each, and version
//! negotiation against what a broker advertises in ApiVersions.

use std::collections::HashMap;

/// Kafka API keys kmirror sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum Api {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteRecords = 21,
    InitProducerId = 22,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    TxnOffsetCommit = 28,
    DescribeAcls = 29,
    CreateAcls = 30,
    DescribeConfigs = 32,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
    IncrementalAlterConfigs = 44,
}

impl Api {
    pub const ALL: [Api; 27] = [
        Api::Produce,
        Api::Fetch,
        Api::ListOffsets,
        Api::Metadata,
        Api::OffsetCommit,
        Api::OffsetFetch,
        Api::FindCoordinator,
        Api::JoinGroup,
        Api::Heartbeat,
        Api::LeaveGroup,
        Api::SyncGroup,
        Api::ListGroups,
        Api::SaslHandshake,
        Api::ApiVersions,
        Api::CreateTopics,
        Api::DeleteRecords,
        Api::InitProducerId,
        Api::AddPartitionsToTxn,
        Api::AddOffsetsToTxn,
        Api::EndTxn,
        Api::TxnOffsetCommit,
        Api::DescribeAcls,
        Api::CreateAcls,
        Api::DescribeConfigs,
        Api::SaslAuthenticate,
        Api::CreatePartitions,
        Api::IncrementalAlterConfigs,
    ];

    pub fn key(self) -> i16 {
        self as i16
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Produce => "Produce",
            Api::Fetch => "Fetch",
            Api::ListOffsets => "ListOffsets",
            Api::Metadata => "Metadata",
            Api::OffsetCommit => "OffsetCommit",
            Api::OffsetFetch => "OffsetFetch",
            Api::FindCoordinator => "FindCoordinator",
            Api::JoinGroup => "JoinGroup",
            Api::Heartbeat => "Heartbeat",
            Api::LeaveGroup => "LeaveGroup",
            Api::SyncGroup => "SyncGroup",
            Api::ListGroups => "ListGroups",
            Api::SaslHandshake => "SaslHandshake",
            Api::ApiVersions => "ApiVersions",
            Api::CreateTopics => "CreateTopics",
            Api::DeleteRecords => "DeleteRecords",
            Api::InitProducerId => "InitProducerId",
            Api::AddPartitionsToTxn => "AddPartitionsToTxn",
            Api::AddOffsetsToTxn => "AddOffsetsToTxn",
            Api::EndTxn => "EndTxn",
            Api::TxnOffsetCommit => "TxnOffsetCommit",
            Api::DescribeAcls => "DescribeAcls",
            Api::CreateAcls => "CreateAcls",
            Api::DescribeConfigs => "DescribeConfigs",
            Api::SaslAuthenticate => "SaslAuthenticate",
            Api::CreatePartitions => "CreatePartitions",
            Api::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        }
    }

    /// The API with key `key`, if kmirror speaks it.
    pub fn from_key(key: i16) -> Option<Api> {
        Api::ALL.iter().copied().find(|a| a.key() == key)
    }

    /// The first flexible version (compact lengths, tagged fields, request
    /// header v2 and response header v1).
    pub fn first_flexible(self) -> i16 {
        match self {
            Api::Produce => 9,
            Api::Fetch => 12,
            Api::ListOffsets => 6,
            Api::Metadata => 9,
            Api::OffsetCommit => 8,
            Api::OffsetFetch => 6,
            Api::FindCoordinator => 3,
            Api::JoinGroup => 6,
            Api::Heartbeat | Api::LeaveGroup | Api::SyncGroup => 4,
            Api::ListGroups => 3,
            // Never flexible.
            Api::SaslHandshake => i16::MAX,
            Api::ApiVersions => 3,
            Api::CreateTopics => 5,
            Api::DeleteRecords => 2,
            Api::InitProducerId => 2,
            Api::AddPartitionsToTxn => 3,
            Api::AddOffsetsToTxn => 3,
            Api::EndTxn => 3,
            Api::TxnOffsetCommit => 3,
            Api::DescribeAcls => 2,
            Api::CreateAcls => 2,
            Api::DescribeConfigs => 4,
            Api::SaslAuthenticate => 2,
            Api::CreatePartitions => 2,
            Api::IncrementalAlterConfigs => 1,
        }
    }

    pub fn is_flexible(self, version: i16) -> bool {
        version >= self.first_flexible()
    }

    /// The largest response frame accepted for a request of this kind.
    /// Fetch responses are bounded per request by the caller instead (the
    /// fetch's own byte limits plus room for one oversized batch); every
    /// other answer is small next to these, which leave room for clusters
    /// with a million partitions.
    pub fn max_response_bytes(self) -> usize {
        const MIB: usize = 1 << 20;
        match self {
            Api::Fetch => 64 * MIB,
            Api::Metadata | Api::OffsetFetch => 64 * MIB,
            Api::Produce | Api::ListOffsets | Api::CreateTopics | Api::OffsetCommit => 16 * MIB,
            Api::TxnOffsetCommit | Api::AddPartitionsToTxn | Api::DescribeConfigs => 16 * MIB,
            Api::ListGroups => 16 * MIB,
            // Every member's metadata, for the leader.
            Api::JoinGroup | Api::SyncGroup => 16 * MIB,
            Api::Heartbeat | Api::LeaveGroup => MIB,
            Api::DescribeAcls => 64 * MIB,
            Api::CreateAcls => 4 * MIB,
            Api::CreatePartitions | Api::DeleteRecords | Api::IncrementalAlterConfigs => 4 * MIB,
            Api::ApiVersions
            | Api::SaslHandshake
            | Api::SaslAuthenticate
            | Api::FindCoordinator
            | Api::InitProducerId
            | Api::AddOffsetsToTxn
            | Api::EndTxn => MIB,
        }
    }

    /// The versions kmirror speaks, inclusive.
    ///
    /// Produce starts at 7 so zstd batches can be forwarded and stops before
    /// 13, which names topics by id. Fetch is 12: flexible, rack-aware,
    /// and still addressed by topic name (v13+ uses ids that differ between
    /// clusters). The control-plane ranges stop at versions checked against
    /// Kafka 3.9 and 4.x.
    pub fn ours(self) -> (i16, i16) {
        match self {
            Api::Produce => (7, 12),
            Api::Fetch => (12, 12),
            Api::ListOffsets => (1, 8),
            Api::Metadata => (4, 12),
            Api::OffsetCommit => (2, 8),
            Api::OffsetFetch => (1, 7),
            Api::FindCoordinator => (1, 4),
            // Static membership (group.instance.id) from JoinGroup v5,
            // SyncGroup and Heartbeat v3, LeaveGroup v3 (Kafka 2.3 and later).
            Api::JoinGroup => (5, 9),
            Api::Heartbeat => (3, 4),
            Api::LeaveGroup => (3, 5),
            Api::SyncGroup => (3, 5),
            // v4 reports each group's state (Kafka 2.6 and later).
            Api::ListGroups => (4, 5),
            // v0 carried SASL tokens outside Kafka framing; Kafka 1.0+ has v1.
            Api::SaslHandshake => (1, 1),
            Api::ApiVersions => (0, 3),
            Api::CreateTopics => (2, 7),
            Api::DeleteRecords => (0, 2),
            Api::InitProducerId => (0, 4),
            // Transactions as Kafka 3.x clients run them: partitions added
            // explicitly, one epoch per producer session (no KIP-890 part 2).
            Api::AddPartitionsToTxn => (0, 3),
            Api::AddOffsetsToTxn => (0, 4),
            Api::EndTxn => (0, 4),
            Api::TxnOffsetCommit => (0, 4),
            Api::DescribeAcls => (1, 3),
            Api::CreateAcls => (1, 3),
            Api::DescribeConfigs => (1, 4),
            Api::SaslAuthenticate => (0, 2),
            Api::CreatePartitions => (0, 3),
            Api::IncrementalAlterConfigs => (0, 1),
        }
    }
}

/// What a broker said it supports: api key -> (min, max).
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions {
    ranges: HashMap<i16, (i16, i16)>,
}

impl BrokerVersions {
    pub fn new(ranges: HashMap<i16, (i16, i16)>) -> Self {
        BrokerVersions { ranges }
    }

    /// The highest version both sides speak, or `None` when the ranges do
    /// not meet. A broker's advertised minimum is not trusted for Produce
    /// (Kafka 4 advertises 0 but rejects below 3); our own floor covers it.
    pub fn pick(&self, api: Api) -> Option<i16> {
        let (our_min, our_max) = api.ours();
        let (their_min, their_max) = *self.ranges.get(&api.key())?;
        let lo = our_min.max(their_min);
        let hi = our_max.min(their_max);
        (lo <= hi).then_some(hi)
    }

    pub fn advertised(&self, api: Api) -> Option<(i16, i16)> {
        self.ranges.get(&api.key()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common_version() {
        let mut m = HashMap::new();
        m.insert(0, (0, 11));
        m.insert(1, (4, 17));
        m.insert(3, (0, 5));
        let v = BrokerVersions::new(m);
        assert_eq!(v.pick(Api::Produce), Some(11));
        assert_eq!(v.pick(Api::Fetch), Some(12));
        assert_eq!(v.pick(Api::Metadata), Some(5));
        assert_eq!(v.pick(Api::ListOffsets), None);
    }

    #[test]
    fn disjoint_ranges_give_none() {
        let mut m = HashMap::new();
        m.insert(1, (0, 9));
        assert_eq!(BrokerVersions::new(m).pick(Api::Fetch), None);
    }
}
