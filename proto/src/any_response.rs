//! One entry point to every response decoder, picked at run time by API
//! and version. The mirror never reads a response through it (it calls the
//! typed decoder of the request it sent and keeps the value); it is here for
//! the fuzz targets in `proto/fuzz` and for tests that sweep all decoders
//! with the same bytes. The decoded value is dropped: only whether the bytes
//! were accepted comes back.

use bytes::Bytes;

use crate::api::Api;
use crate::control::{self, *};
use crate::error::ProtoError;

/// Decodes `body` (a response frame after its header) as the answer to a
/// request of `api` at `version`, with the same decoder the mirror uses.
/// Any version may be asked for: outside [`Api::ours`] the decoders answer
/// as they would for bytes kmirror never asked for.
pub fn decode(api: Api, version: i16, body: Bytes) -> Result<(), ProtoError> {
    match api {
        Api::Produce => crate::produce::ProduceResponse::decode(body, version).map(drop),
        Api::Fetch => crate::fetch::FetchResponse::decode(body, version).map(drop),
        Api::ApiVersions => {
            control::decode_response::<api_versions::ApiVersionsRequest>(body, version).map(drop)
        }
        Api::Metadata => {
            control::decode_response::<metadata::MetadataRequest>(body, version).map(drop)
        }
        Api::ListOffsets => {
            control::decode_response::<list_offsets::ListOffsetsRequest>(body, version).map(drop)
        }
        Api::OffsetCommit => {
            control::decode_response::<offset_commit::OffsetCommitRequest>(body, version).map(drop)
        }
        Api::OffsetFetch => {
            control::decode_response::<offset_fetch::OffsetFetchRequest>(body, version).map(drop)
        }
        Api::FindCoordinator => {
            control::decode_response::<find_coordinator::FindCoordinatorRequest>(body, version)
                .map(drop)
        }
        Api::JoinGroup => {
            control::decode_response::<group::JoinGroupRequest>(body, version).map(drop)
        }
        Api::SyncGroup => {
            control::decode_response::<group::SyncGroupRequest>(body, version).map(drop)
        }
        Api::Heartbeat => {
            control::decode_response::<group::HeartbeatRequest>(body, version).map(drop)
        }
        Api::LeaveGroup => {
            control::decode_response::<group::LeaveGroupRequest>(body, version).map(drop)
        }
        Api::ListGroups => {
            control::decode_response::<control::list_groups::ListGroupsRequest>(body, version)
                .map(drop)
        }
        Api::CreateTopics => {
            control::decode_response::<create_topics::CreateTopicsRequest>(body, version).map(drop)
        }
        Api::InitProducerId => {
            control::decode_response::<producer_id::InitProducerIdRequest>(body, version).map(drop)
        }
        Api::AddPartitionsToTxn => {
            control::decode_response::<txn::AddPartitionsToTxnRequest>(body, version).map(drop)
        }
        Api::AddOffsetsToTxn => {
            control::decode_response::<txn::AddOffsetsToTxnRequest>(body, version).map(drop)
        }
        Api::EndTxn => control::decode_response::<txn::EndTxnRequest>(body, version).map(drop),
        Api::TxnOffsetCommit => {
            control::decode_response::<txn::TxnOffsetCommitRequest>(body, version).map(drop)
        }
        Api::DescribeConfigs => {
            control::decode_response::<describe_configs::DescribeConfigsRequest>(body, version)
                .map(drop)
        }
        Api::DescribeAcls => {
            control::decode_response::<acls::DescribeAclsRequest>(body, version).map(drop)
        }
        Api::CreateAcls => {
            control::decode_response::<acls::CreateAclsRequest>(body, version).map(drop)
        }
        Api::SaslHandshake => {
            control::decode_response::<sasl::SaslHandshakeRequest>(body, version).map(drop)
        }
        Api::SaslAuthenticate => {
            control::decode_response::<sasl::SaslAuthenticateRequest>(body, version).map(drop)
        }
        Api::CreatePartitions => {
            control::decode_response::<create_partitions::CreatePartitionsRequest>(body, version)
                .map(drop)
        }
        Api::DeleteRecords => {
            control::decode_response::<delete_records::DeleteRecordsRequest>(body, version)
                .map(drop)
        }
        Api::IncrementalAlterConfigs => control::decode_response::<
            incremental_alter_configs::IncrementalAlterConfigsRequest,
        >(body, version)
        .map(drop),
    }
}

/// Every `(api, version)` pair kmirror speaks, in [`Api::ALL`] order and
/// rising versions: the sweep a fuzz target or test indexes into.
pub fn versions_spoken() -> Vec<(Api, i16)> {
    Api::ALL
        .iter()
        .flat_map(|&api| {
            let (lo, hi) = api.ours();
            (lo..=hi).map(move |v| (api, v))
        })
        .collect()
}
