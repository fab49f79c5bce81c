//! Group membership (the classic protocol): JoinGroup, SyncGroup,
//! Heartbeat and LeaveGroup, for kmirror instances that share a flow's
//! partitions through a group of their own protocol type on the target
//! cluster. Member metadata and assignments are opaque bytes here.

use bytes::Bytes;

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    pub group_id: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Empty on the first join (the coordinator answers with one to use).
    pub member_id: String,
    /// Static membership (KIP-345): a restart under the same id keeps the
    /// member's place without a rebalance.
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    /// (protocol name, member metadata).
    pub protocols: Vec<(String, Bytes)>,
    /// Why the member (re)joins (v8+).
    pub reason: Option<String>,
}

/// One member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: String,
    /// v9+ (KIP-814): a static leader rejoined a stable group; it must not
    /// assign again (the coordinator keeps the current assignment).
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member, for the leader only (empty for the others).
    pub members: Vec<JoinedMember>,
}

impl ControlRequest for JoinGroupRequest {
    const API: Api = Api::JoinGroup;
    type Response = JoinGroupResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("group id", &self.group_id)?;
        w.i32(self.session_timeout_ms);
        w.i32(self.rebalance_timeout_ms);
        w.string("member id", &self.member_id)?;
        w.nullable_string("group instance id", self.group_instance_id.as_deref())?;
        w.string("protocol type", &self.protocol_type)?;
        w.array("protocols", &self.protocols, |w, (name, metadata)| {
            w.string("protocol name", name)?;
            w.bytes("protocol metadata", metadata)?;
            w.tagged_fields();
            Ok(())
        })?;
        if w.version() >= 8 {
            w.nullable_string("reason", self.reason.as_deref())?;
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<JoinGroupResponse, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        let generation_id = r.i32("generation id")?;
        if r.version() >= 7 {
            r.nullable_string("protocol type")?;
        }
        let protocol_name = r.nullable_string("protocol name")?;
        let leader = r.string("leader")?;
        let skip_assignment = if r.version() >= 9 {
            r.bool("skip assignment")?
        } else {
            false
        };
        let member_id = r.string("member id")?;
        // A member is at least a member id, an instance id and metadata.
        let members = r.array("members", 3, |r| {
            let member_id = r.string("member id")?;
            let group_instance_id = r.nullable_string("group instance id")?;
            let metadata = r
                .nullable_bytes("member metadata")?
                .ok_or_else(|| ProtoError::malformed("member metadata", "null"))?;
            r.tagged_fields("member tags")?;
            Ok(JoinedMember {
                member_id,
                group_instance_id,
                metadata,
            })
        })?;
        r.tagged_fields("join group tags")?;
        Ok(JoinGroupResponse {
            error,
            generation_id,
            protocol_name,
            leader,
            skip_assignment,
            member_id,
            members,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// Checked by the coordinator from v5 on.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment of every member: (member id, assignment).
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    pub error: ErrorCode,
    /// This member's assignment.
    pub assignment: Bytes,
}

impl ControlRequest for SyncGroupRequest {
    const API: Api = Api::SyncGroup;
    type Response = SyncGroupResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("group id", &self.group_id)?;
        w.i32(self.generation_id);
        w.string("member id", &self.member_id)?;
        w.nullable_string("group instance id", self.group_instance_id.as_deref())?;
        if w.version() >= 5 {
            w.nullable_string("protocol type", self.protocol_type.as_deref())?;
            w.nullable_string("protocol name", self.protocol_name.as_deref())?;
        }
        w.array(
            "assignments",
            &self.assignments,
            |w, (member, assignment)| {
                w.string("member id", member)?;
                w.bytes("assignment", assignment)?;
                w.tagged_fields();
                Ok(())
            },
        )?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<SyncGroupResponse, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        if r.version() >= 5 {
            r.nullable_string("protocol type")?;
            r.nullable_string("protocol name")?;
        }
        let assignment = r
            .nullable_bytes("assignment")?
            .ok_or_else(|| ProtoError::malformed("assignment", "null"))?;
        r.tagged_fields("sync group tags")?;
        Ok(SyncGroupResponse { error, assignment })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ControlRequest for HeartbeatRequest {
    const API: Api = Api::Heartbeat;
    /// REBALANCE_IN_PROGRESS asks the member to join again.
    type Response = ErrorCode;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("group id", &self.group_id)?;
        w.i32(self.generation_id);
        w.string("member id", &self.member_id)?;
        w.nullable_string("group instance id", self.group_instance_id.as_deref())?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ErrorCode, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        r.tagged_fields("heartbeat tags")?;
        Ok(error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    /// (member id, group instance id).
    pub members: Vec<(String, Option<String>)>,
    /// Why they leave (v5+).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    pub error: ErrorCode,
    /// (member id, error) of each member named.
    pub members: Vec<(String, ErrorCode)>,
}

impl ControlRequest for LeaveGroupRequest {
    const API: Api = Api::LeaveGroup;
    type Response = LeaveGroupResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("group id", &self.group_id)?;
        let reason = self.reason.as_deref();
        w.array("members", &self.members, |w, (member, instance)| {
            w.string("member id", member)?;
            w.nullable_string("group instance id", instance.as_deref())?;
            if w.version() >= 5 {
                w.nullable_string("reason", reason)?;
            }
            w.tagged_fields();
            Ok(())
        })?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<LeaveGroupResponse, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        // A member is at least a member id, an instance id and an error.
        let members = r.array("members", 4, |r| {
            let member_id = r.string("member id")?;
            r.nullable_string("group instance id")?;
            let error = ErrorCode(r.i16("member error code")?);
            r.tagged_fields("member tags")?;
            Ok((member_id, error))
        })?;
        r.tagged_fields("leave group tags")?;
        Ok(LeaveGroupResponse { error, members })
    }
}
