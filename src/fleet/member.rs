//! One instance's membership in a flow's fleet group: the JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup conversation with the group's
//! coordinator on the target cluster (Kafka's classic group protocol, with
//! kmirror's own protocol type).

use std::rc::Rc;

use bytes::Bytes;
use kmirror_proto::control::group::{
    HeartbeatRequest, JoinGroupRequest, JoinedMember, LeaveGroupRequest, SyncGroupRequest,
};
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::fleet::{Assignment, MemberMetadata, PROTOCOL_TYPE, STRATEGY};

use crate::client::{admin, ClientError, ClusterClient, Conn};
use crate::config::fleet::FleetConfig;

/// A finished join: this member's generation, and when it leads, every
/// member (the leader deals the partitions).
#[derive(Debug)]
pub struct Joined {
    pub generation: i32,
    pub leader: bool,
    /// A static leader rejoined a stable group: the coordinator keeps the
    /// assignment it has, and the leader deals nothing.
    pub skip_assignment: bool,
    pub members: Vec<JoinedMember>,
}

/// What a heartbeat says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Still a member of the current generation.
    Fine,
    /// A rebalance began: give the partitions back (after committing
    /// their progress) and join again.
    Rebalance,
    /// The coordinator no longer counts this member in the generation (its
    /// session expired): the partitions may be someone else's already.
    Lost,
    /// Another instance joined with this member's `group.instance.id`.
    Fenced,
}

pub struct Member {
    cluster: Rc<ClusterClient>,
    config: FleetConfig,
    metadata: Bytes,
    member_id: String,
    generation: i32,
    coordinator: Option<Conn>,
}

impl Member {
    pub fn new(cluster: Rc<ClusterClient>, config: FleetConfig, workers: usize) -> Member {
        let workers = i32::try_from(workers).unwrap_or(i32::MAX).max(1);
        Member {
            cluster,
            config,
            metadata: MemberMetadata { workers }.encode(),
            member_id: String::new(),
            generation: -1,
            coordinator: None,
        }
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn group(&self) -> &str {
        &self.config.group
    }

    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    async fn coordinator(&mut self) -> Result<Conn, ClientError> {
        if let Some(c) = &self.coordinator {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = admin::group_coordinator(&self.cluster, &self.config.group).await?;
        self.coordinator = Some(c.clone());
        Ok(c)
    }

    fn error(&mut self, what: &str, code: ErrorCode) -> ClientError {
        if matches!(
            code,
            ErrorCode::NOT_COORDINATOR
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        ) {
            self.coordinator = None;
        }
        let message = match code {
            ErrorCode::GROUP_AUTHORIZATION_FAILED => Some(format!(
                "kmirror's principal lacks the ACL Read on Group '{}' on cluster {} (or run the flow without a fleet: {} = false)",
                self.config.group,
                self.cluster.name(),
                crate::config::fleet::ENABLED
            )),
            ErrorCode::INCONSISTENT_GROUP_PROTOCOL => Some(format!(
                "the group '{}' is used by clients that are not kmirror (a consumer group of that name?); set {} to another name",
                self.config.group,
                crate::config::fleet::GROUP
            )),
            ErrorCode::INVALID_SESSION_TIMEOUT => Some(format!(
                "the broker's group.min.session.timeout.ms and group.max.session.timeout.ms do not allow {} = {} ms",
                crate::config::fleet::SESSION_TIMEOUT_MS,
                self.config.session_timeout.as_millis()
            )),
            _ => None,
        };
        ClientError::Kafka {
            cluster: self.cluster.name().to_string(),
            what: format!("{what} of fleet group '{}'", self.config.group),
            code,
            message,
        }
    }

    /// One request to the coordinator; a failed call forgets it (the next
    /// looks it up again).
    async fn call<R: kmirror_proto::control::ControlRequest>(
        &mut self,
        coordinator: &Conn,
        req: &R,
    ) -> Result<R::Response, ClientError> {
        let res = coordinator.call(req).await;
        if res.is_err() {
            self.coordinator = None;
        }
        res
    }

    fn ms(d: std::time::Duration) -> i32 {
        i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
    }

    /// Joins (or rejoins) the group; returns when the coordinator has
    /// formed the next generation.
    pub async fn join(&mut self, reason: &str) -> Result<Joined, ClientError> {
        // A first join is answered with MEMBER_ID_REQUIRED and the id to use.
        for _ in 0..3 {
            let coordinator = self.coordinator().await?;
            let req = JoinGroupRequest {
                group_id: self.config.group.clone(),
                session_timeout_ms: Self::ms(self.config.session_timeout),
                rebalance_timeout_ms: Self::ms(self.config.rebalance_timeout),
                member_id: self.member_id.clone(),
                group_instance_id: self.config.instance_id.clone(),
                protocol_type: PROTOCOL_TYPE.to_string(),
                protocols: vec![(STRATEGY.to_string(), self.metadata.clone())],
                reason: Some(reason.to_string()),
            };
            let resp = self.call(&coordinator, &req).await?;
            match resp.error {
                ErrorCode::NONE => {
                    self.member_id = resp.member_id;
                    self.generation = resp.generation_id;
                    return Ok(Joined {
                        generation: resp.generation_id,
                        leader: resp.leader == self.member_id,
                        skip_assignment: resp.skip_assignment,
                        members: resp.members,
                    });
                }
                ErrorCode::MEMBER_ID_REQUIRED => self.member_id = resp.member_id,
                ErrorCode::UNKNOWN_MEMBER_ID => self.member_id.clear(),
                code => return Err(self.error("JoinGroup", code)),
            }
        }
        Err(ClientError::Other {
            cluster: self.cluster.name().to_string(),
            reason: format!(
                "the coordinator of fleet group '{}' kept refusing the member id it handed out",
                self.config.group
            ),
        })
    }

    /// Sends the leader's assignments (empty for the others) and returns
    /// this member's share; `None` when the generation moved on meanwhile
    /// (join again).
    pub async fn sync(
        &mut self,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Option<Assignment>, ClientError> {
        let coordinator = self.coordinator().await?;
        let req = SyncGroupRequest {
            group_id: self.config.group.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.to_string()),
            protocol_name: Some(STRATEGY.to_string()),
            assignments,
        };
        let resp = self.call(&coordinator, &req).await?;
        match resp.error {
            ErrorCode::NONE => {}
            ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => return Ok(None),
            ErrorCode::UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                return Ok(None);
            }
            code => return Err(self.error("SyncGroup", code)),
        }
        Assignment::decode(resp.assignment)
            .map(Some)
            .map_err(|e| ClientError::Other {
                cluster: self.cluster.name().to_string(),
                reason: format!(
                    "the assignment of fleet group '{}' cannot be read (is another program in the group?): {e}",
                    self.config.group
                ),
            })
    }

    pub async fn heartbeat(&mut self) -> Result<Beat, ClientError> {
        let coordinator = self.coordinator().await?;
        let req = HeartbeatRequest {
            group_id: self.config.group.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.instance_id.clone(),
        };
        let code = self.call(&coordinator, &req).await?;
        match code {
            ErrorCode::NONE => Ok(Beat::Fine),
            ErrorCode::REBALANCE_IN_PROGRESS => Ok(Beat::Rebalance),
            ErrorCode::ILLEGAL_GENERATION => Ok(Beat::Lost),
            ErrorCode::UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                Ok(Beat::Lost)
            }
            ErrorCode::FENCED_INSTANCE_ID => Ok(Beat::Fenced),
            code => Err(self.error("Heartbeat", code)),
        }
    }

    /// Leaves the group (see [`leave`]).
    pub async fn leave(&mut self) {
        let member_id = std::mem::take(&mut self.member_id);
        leave(&self.cluster, &self.config, &member_id).await;
    }
}

/// Leaves the group so the others take the partitions at once. A static
/// member stays (its place waits for it until its session expires, so a
/// restart is not a rebalance), as Kafka's consumer does.
pub async fn leave(cluster: &ClusterClient, config: &FleetConfig, member_id: &str) {
    if member_id.is_empty() || config.instance_id.is_some() {
        return;
    }
    let Ok(coordinator) = admin::group_coordinator(cluster, &config.group).await else {
        return;
    };
    let req = LeaveGroupRequest {
        group_id: config.group.clone(),
        members: vec![(member_id.to_string(), None)],
        reason: Some("the instance is stopping".into()),
    };
    if let Err(e) = coordinator.call(&req).await {
        tracing::debug!(group = %config.group, "LeaveGroup: {e}");
    }
}
