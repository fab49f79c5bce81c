//! ListGroups: the consumer groups a broker coordinates, with their state
//! (v4 and later), so that groups can be chosen by name and a group with
//! active members left alone.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// Asks for every group (no state or type filter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsRequest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// `Empty`, `Stable`, `Dead`, ... (v4 and later; `None` before).
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResponse {
    pub error: ErrorCode,
    pub groups: Vec<ListedGroup>,
}

impl ListedGroup {
    /// Whether the group has no members (an `Empty` or `Dead` group); unknown
    /// before ListGroups v4.
    pub fn is_inactive(&self) -> Option<bool> {
        self.state
            .as_deref()
            .map(|s| s.eq_ignore_ascii_case("Empty") || s.eq_ignore_ascii_case("Dead"))
    }
}

impl ControlRequest for ListGroupsRequest {
    const API: Api = Api::ListGroups;
    type Response = ListGroupsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        if w.version() >= 4 {
            w.array("states filter", &[] as &[String], |w, s| {
                w.string("state", s)
            })?;
        }
        if w.version() >= 5 {
            w.array("types filter", &[] as &[String], |w, s| w.string("type", s))?;
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ListGroupsResponse, ProtoError> {
        let v = r.version();
        if v >= 1 {
            r.i32("throttle time")?;
        }
        let error = ErrorCode(r.i16("error code")?);
        // group id, protocol type, tags: at least three bytes each.
        let groups = r.array("groups", 3, |r| {
            let group_id = r.string("group id")?;
            let protocol_type = r.string("protocol type")?;
            let state = if v >= 4 {
                Some(r.string("group state")?)
            } else {
                None
            };
            if v >= 5 {
                r.skip_string("group type")?;
            }
            r.tagged_fields("group tags")?;
            Ok(ListedGroup {
                group_id,
                protocol_type,
                state,
            })
        })?;
        r.tagged_fields("list groups tags")?;
        Ok(ListGroupsResponse { error, groups })
    }
}
