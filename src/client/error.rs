//! Client errors, worded for an operator: which cluster, which broker.

use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::ProtoError;

#[derive(Debug, thiserror::Error, Clone)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cluster {cluster}: cannot connect to {addr}: {reason}")]
    Connect {
        cluster: String,
        addr: String,
        reason: String,
    },
    /// The cluster refused kmirror's credentials or certificate, or kmirror
    /// refused the cluster's: the same on every retry.
    #[error("cluster {cluster}: authentication with {addr} failed: {reason}")]
    Auth {
        cluster: String,
        addr: String,
        reason: String,
    },
    #[error("cluster {cluster}: connection to {addr} lost: {reason}")]
    Disconnected {
        cluster: String,
        addr: String,
        reason: String,
    },
    #[error("cluster {cluster}: broker {addr} sent a malformed {api} response: {reason}")]
    Protocol {
        cluster: String,
        addr: String,
        api: &'static str,
        reason: String,
    },
    #[error("cluster {cluster}: broker {addr} does not support {api} at a version kmirror speaks ({ours}); it offers {theirs}")]
    UnsupportedVersion {
        cluster: String,
        addr: String,
        api: &'static str,
        ours: String,
        theirs: String,
    },
    #[error("cluster {cluster}: {api} request to {addr} timed out after {ms} ms")]
    Timeout {
        cluster: String,
        addr: String,
        api: &'static str,
        ms: u64,
    },
    #[error("cluster {cluster}: {what}: {code}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        cluster: String,
        what: String,
        code: ErrorCode,
        message: Option<String>,
    },
    #[error("cluster {cluster}: {reason}")]
    Other { cluster: String, reason: String },
}

impl ClientError {
    pub fn protocol(cluster: &str, addr: &str, api: &'static str, e: ProtoError) -> Self {
        ClientError::Protocol {
            cluster: cluster.to_string(),
            addr: addr.to_string(),
            api,
            reason: e.to_string(),
        }
    }

    /// Whether trying again later (after a metadata refresh) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Disconnected { .. }
            | ClientError::Timeout { .. } => true,
            ClientError::Kafka { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// A condition a cluster goes through while it starts or moves a
    /// coordinator (the coordinator not yet available, still loading, or
    /// moved): expected, and retried.
    pub fn is_starting_up(&self) -> bool {
        matches!(
            self,
            ClientError::Kafka { code, .. } if matches!(
                *code,
                ErrorCode::COORDINATOR_NOT_AVAILABLE
                    | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                    | ErrorCode::NOT_COORDINATOR
            )
        )
    }

    /// Whether this error will repeat until an operator changes something:
    /// credentials, certificates, or ACLs.
    pub fn is_permanent(&self) -> bool {
        match self {
            ClientError::Auth { .. } => true,
            ClientError::Kafka { code, .. } => code.is_authorization_error(),
            _ => false,
        }
    }
}
