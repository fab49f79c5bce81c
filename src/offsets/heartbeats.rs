//! Heartbeats as MirrorMaker 2 writes them: every
//! `emit.heartbeats.interval.seconds`, a record keyed (source alias, target
//! alias) with the time, in the `heartbeats` topic of the target. The source's
//! `heartbeats` topic is mirrored onward like any other (whatever `topics`
//! says, unless `heartbeats.replication.enabled = false`), so each cluster
//! ends up with `A.heartbeats`, `B.A.heartbeats`, ... and Kafka's
//! `RemoteClusterUtils.replicationHops` and `upstreamClusters` can follow
//! the path. Like MirrorMaker 2, which beats for every pair of clusters
//! whether mirrored or not, kmirror also writes the reverse pair's heartbeat
//! (target, source) to the source when no flow of the file goes that way:
//! that is what gives the target its `A.heartbeats`.

use std::cell::{Cell, RefCell};

use kmirror_proto::mm2::Heartbeat;

use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};

/// One side's heartbeats: created once, given up after an error retrying
/// cannot fix (logged once).
#[derive(Default)]
pub struct HeartbeatSide {
    created: Cell<bool>,
    given_up: RefCell<Option<String>>,
}

impl HeartbeatSide {
    /// Writes one heartbeat of (`from`, `to`) into `cluster`'s `topic`.
    pub async fn beat(
        &self,
        cluster: &ClusterClient,
        topic: &str,
        replication_factor: i16,
        from: &str,
        to: &str,
    ) -> Result<(), ClientError> {
        if self.given_up.borrow().is_some() {
            return Ok(());
        }
        let res = self
            .write(cluster, topic, replication_factor, from, to)
            .await;
        if let Err(e) = &res {
            if small_topic::retry_cannot_fix(e) {
                let reason = format!(
                    "heartbeats {from}->{to} are not written to {topic} on cluster {}: {e}; check heartbeats.topic.replication.factor and kmirror's ACLs (Create and Write on that topic), or set emit.heartbeats.enabled = false",
                    cluster.name()
                );
                tracing::error!("{reason}");
                *self.given_up.borrow_mut() = Some(reason);
            }
        }
        res
    }

    async fn write(
        &self,
        cluster: &ClusterClient,
        topic: &str,
        replication_factor: i16,
        from: &str,
        to: &str,
    ) -> Result<(), ClientError> {
        if !self.created.get() {
            small_topic::create_compacted(cluster, topic, replication_factor).await?;
            self.created.set(true);
        }
        let now = small_topic::now_ms();
        let beat = Heartbeat {
            source_alias: from.to_string(),
            target_alias: to.to_string(),
            timestamp_ms: now,
        };
        let key = beat.key().map_err(|e| ClientError::Other {
            cluster: cluster.name().to_string(),
            reason: format!("heartbeat: {e}"),
        })?;
        small_topic::append(cluster, topic, 0, &[(key, beat.value())], now).await?;
        Ok(())
    }
}
