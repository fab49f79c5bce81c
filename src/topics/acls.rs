//! MirrorMaker 2's topic ACL sync (`sync.topic.acls.enabled`, on by
//! default): the literal ACLs of every mirrored source topic are created on
//! its target topic, so consumers allowed to read a topic may read its
//! mirror. Write grants are never copied (a mirror is written by the mirror
//! only), and an `Allow All` becomes `Allow Read`. Prefixed and wildcard
//! ACLs are left alone, as MirrorMaker 2 leaves them.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use kmirror_proto::control::acls::{code, AclBinding};
use kmirror_proto::error_code::ErrorCode;

use crate::client::{admin, ClientError, ClusterClient};
use crate::plan::FlowPlan;
use crate::topics::sync::SourceTopic;

/// Kafka's answer when a cluster runs no authorizer.
const SECURITY_DISABLED: ErrorCode = ErrorCode(54);

/// One flow's ACL sync: when it is next due, and what it has said (each
/// problem is logged once, not every round).
pub struct AclSync {
    next: Cell<Instant>,
    off: Cell<bool>,
    said: RefCell<HashSet<String>>,
}

impl AclSync {
    pub fn new() -> AclSync {
        AclSync {
            next: Cell::new(Instant::now()),
            off: Cell::new(false),
            said: RefCell::new(HashSet::new()),
        }
    }

    /// Copies the mirrored topics' ACLs when due. Failures are logged
    /// (once each) and retried at the next interval; they never stop the
    /// flow, as in MirrorMaker 2.
    pub async fn run_if_due(
        &self,
        plan: &FlowPlan,
        source: &ClusterClient,
        target: &ClusterClient,
        topics: &[SourceTopic],
    ) {
        let Some(every) = plan.sync_topic_acls else {
            return;
        };
        if self.off.get() || Instant::now() < self.next.get() || topics.is_empty() {
            return;
        }
        self.next.set(Instant::now() + every);
        let acls = match admin::describe_topic_acls(source).await {
            Ok(acls) => acls,
            Err(e) if no_authorizer(&e) => {
                tracing::info!(flow = %plan.name(), "the source cluster has no ACL authorizer; no topic ACLs to copy (sync.topic.acls.enabled = false says so too)");
                self.off.set(true);
                return;
            }
            Err(e) => {
                self.say(
                    plan,
                    format!(
                        "cannot list the source's topic ACLs to copy them{}: {e}",
                        hint(&e, "Describe on the source cluster (resource Cluster)")
                    ),
                );
                return;
            }
        };
        let mirrored: HashMap<String, String> = topics
            .iter()
            .map(|t| (t.name.clone(), t.target.clone()))
            .collect();
        let wanted = target_acls(&acls, &mirrored);
        let n = wanted.len();
        match admin::create_acls(target, wanted).await {
            Ok(()) => {
                if n > 0 {
                    tracing::debug!(flow = %plan.name(), acls = n, "topic ACLs copied to the target");
                }
            }
            Err(e) if no_authorizer(&e) => self.say(
                plan,
                "the target cluster has no ACL authorizer, so the source's topic ACLs cannot be copied".into(),
            ),
            Err(e) => self.say(plan, format!("cannot copy topic ACLs to the target{}: {e}", hint(&e, "Alter on the target cluster (resource Cluster)"))),
        }
    }

    fn say(&self, plan: &FlowPlan, text: String) {
        if self.said.borrow_mut().insert(text.clone()) {
            tracing::warn!(flow = %plan.name(), "{text}");
        }
    }
}

impl Default for AclSync {
    fn default() -> Self {
        AclSync::new()
    }
}

fn no_authorizer(e: &ClientError) -> bool {
    match e {
        ClientError::Kafka { code, .. } => *code == SECURITY_DISABLED,
        // A cluster that does not offer the ACL APIs has no ACLs either.
        ClientError::UnsupportedVersion { .. } => true,
        _ => false,
    }
}

fn hint(e: &ClientError, acl: &str) -> String {
    match e {
        ClientError::Kafka { code, .. } if code.is_authorization_error() => {
            format!(" (kmirror's principal needs the ACL {acl}; or set sync.topic.acls.enabled = false)")
        }
        _ => String::new(),
    }
}

/// The target ACLs for `source` ACLs, given the mirrored topics (source
/// name -> target name).
pub fn target_acls(source: &[AclBinding], mirrored: &HashMap<String, String>) -> Vec<AclBinding> {
    let mut out: Vec<AclBinding> = source
        .iter()
        .filter(|a| a.resource_type == code::RESOURCE_TOPIC)
        .filter(|a| a.pattern_type == code::PATTERN_LITERAL)
        .filter(|a| !(a.permission == code::PERMISSION_ALLOW && a.operation == code::OP_WRITE))
        .filter_map(|a| {
            let target = mirrored.get(&a.resource_name)?;
            let operation = if a.permission == code::PERMISSION_ALLOW && a.operation == code::OP_ALL
            {
                code::OP_READ
            } else {
                a.operation
            };
            Some(AclBinding {
                resource_type: code::RESOURCE_TOPIC,
                resource_name: target.clone(),
                pattern_type: code::PATTERN_LITERAL,
                principal: a.principal.clone(),
                host: a.host.clone(),
                operation,
                permission: a.permission,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (
            &a.resource_name,
            &a.principal,
            &a.host,
            a.operation,
            a.permission,
        )
            .cmp(&(
                &b.resource_name,
                &b.principal,
                &b.host,
                b.operation,
                b.permission,
            ))
    });
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(name: &str, pattern: i8, op: i8, permission: i8) -> AclBinding {
        AclBinding {
            resource_type: code::RESOURCE_TOPIC,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    #[test]
    fn like_mirrormaker_2() {
        let mirrored = HashMap::from([("orders".to_string(), "A.orders".to_string())]);
        let source = [
            acl(
                "orders",
                code::PATTERN_LITERAL,
                code::OP_READ,
                code::PERMISSION_ALLOW,
            ),
            acl(
                "orders",
                code::PATTERN_LITERAL,
                code::OP_WRITE,
                code::PERMISSION_ALLOW,
            ),
            acl(
                "orders",
                code::PATTERN_LITERAL,
                code::OP_ALL,
                code::PERMISSION_ALLOW,
            ),
            acl(
                "orders",
                code::PATTERN_LITERAL,
                code::OP_WRITE,
                code::PERMISSION_DENY,
            ),
            acl(
                "orders",
                code::PATTERN_PREFIXED,
                code::OP_READ,
                code::PERMISSION_ALLOW,
            ),
            acl(
                "payments",
                code::PATTERN_LITERAL,
                code::OP_READ,
                code::PERMISSION_ALLOW,
            ),
        ];
        let got = target_acls(&source, &mirrored);
        assert_eq!(
            got,
            vec![
                acl(
                    "A.orders",
                    code::PATTERN_LITERAL,
                    code::OP_READ,
                    code::PERMISSION_ALLOW
                ),
                acl(
                    "A.orders",
                    code::PATTERN_LITERAL,
                    code::OP_WRITE,
                    code::PERMISSION_DENY
                ),
            ]
        );
    }
}
