//! DescribeAcls and CreateAcls: reading the source's topic ACLs and
//! writing their mirrored form on the target (MirrorMaker 2's
//! `sync.topic.acls`). v1+ only: v0 had no pattern types, and Kafka 4
//! dropped it.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// Kafka's resource types, pattern types, operations and permissions, as
/// the byte codes the protocol carries.
pub mod code {
    pub const RESOURCE_ANY: i8 = 1;
    pub const RESOURCE_TOPIC: i8 = 2;
    pub const RESOURCE_GROUP: i8 = 3;
    pub const RESOURCE_CLUSTER: i8 = 4;
    pub const RESOURCE_TRANSACTIONAL_ID: i8 = 5;
    pub const PATTERN_ANY: i8 = 1;
    pub const PATTERN_LITERAL: i8 = 3;
    pub const PATTERN_PREFIXED: i8 = 4;
    pub const OP_ANY: i8 = 1;
    pub const OP_ALL: i8 = 2;
    pub const OP_READ: i8 = 3;
    pub const OP_WRITE: i8 = 4;
    pub const PERMISSION_ANY: i8 = 1;
    pub const PERMISSION_DENY: i8 = 2;
    pub const PERMISSION_ALLOW: i8 = 3;

    /// An operation's name as `kafka-acls` prints it.
    pub fn operation_name(op: i8) -> &'static str {
        match op {
            1 => "Any",
            2 => "All",
            3 => "Read",
            4 => "Write",
            5 => "Create",
            6 => "Delete",
            7 => "Alter",
            8 => "Describe",
            9 => "ClusterAction",
            10 => "DescribeConfigs",
            11 => "AlterConfigs",
            12 => "IdempotentWrite",
            13 => "CreateTokens",
            14 => "DescribeTokens",
            _ => "Unknown",
        }
    }
}

/// One ACL: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

/// A filter over ACLs (`None`: any value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAclsRequest {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl DescribeAclsRequest {
    /// Every ACL on every topic, as MirrorMaker 2 lists them.
    pub fn any_topic() -> DescribeAclsRequest {
        DescribeAclsRequest {
            resource_type: code::RESOURCE_TOPIC,
            resource_name: None,
            pattern_type: code::PATTERN_ANY,
            principal: None,
            host: None,
            operation: code::OP_ANY,
            permission: code::PERMISSION_ANY,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAclsResponse {
    pub error: ErrorCode,
    pub error_message: Option<String>,
    pub acls: Vec<AclBinding>,
}

impl ControlRequest for DescribeAclsRequest {
    const API: Api = Api::DescribeAcls;
    type Response = DescribeAclsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.i8(self.resource_type);
        w.nullable_string("resource name filter", self.resource_name.as_deref())?;
        w.i8(self.pattern_type);
        w.nullable_string("principal filter", self.principal.as_deref())?;
        w.nullable_string("host filter", self.host.as_deref())?;
        w.i8(self.operation);
        w.i8(self.permission);
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<DescribeAclsResponse, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        let error_message = r.nullable_string("error message")?;
        let mut acls = Vec::new();
        // resource type, name, pattern type, array length, tags: 5+ bytes.
        r.skip_array("resources", 5, |r| {
            let resource_type = r.i8("resource type")?;
            let resource_name = r.string("resource name")?;
            let pattern_type = r.i8("pattern type")?;
            let entries = r.array("acls", 5, |r| {
                let principal = r.string("principal")?;
                let host = r.string("host")?;
                let operation = r.i8("operation")?;
                let permission = r.i8("permission type")?;
                r.tagged_fields("acl tags")?;
                Ok((principal, host, operation, permission))
            })?;
            r.tagged_fields("resource tags")?;
            for (principal, host, operation, permission) in entries {
                acls.push(AclBinding {
                    resource_type,
                    resource_name: resource_name.clone(),
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                });
            }
            Ok(())
        })?;
        r.tagged_fields("describe acls tags")?;
        Ok(DescribeAclsResponse {
            error,
            error_message,
            acls,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAclsRequest {
    pub creations: Vec<AclBinding>,
}

/// One result per creation, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAclsResponse {
    pub results: Vec<(ErrorCode, Option<String>)>,
}

impl ControlRequest for CreateAclsRequest {
    const API: Api = Api::CreateAcls;
    type Response = CreateAclsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("creations", &self.creations, |w, a| {
            w.i8(a.resource_type);
            w.string("resource name", &a.resource_name)?;
            w.i8(a.pattern_type);
            w.string("principal", &a.principal)?;
            w.string("host", &a.host)?;
            w.i8(a.operation);
            w.i8(a.permission);
            w.tagged_fields();
            Ok(())
        })?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<CreateAclsResponse, ProtoError> {
        r.i32("throttle time")?;
        let results = r.array("results", 3, |r| {
            let code = ErrorCode(r.i16("error code")?);
            let message = r.nullable_string("error message")?;
            r.tagged_fields("result tags")?;
            Ok((code, message))
        })?;
        r.tagged_fields("create acls tags")?;
        Ok(CreateAclsResponse { results })
    }
}
