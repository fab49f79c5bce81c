//! A cluster as one thread sees it: bootstrap addresses, the brokers and
//! partition leaders learnt from Metadata, and one connection per broker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kmirror_proto::control::metadata::MetadataRequest;
use kmirror_proto::error_code::ErrorCode;

use crate::client::conn::Conn;
use crate::client::error::ClientError;
use crate::net::{Backend, SocketTuning};
use crate::security::Security;

/// How to reach and talk to one cluster.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub cluster: String,
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub rack: String,
    pub tuning: SocketTuning,
    pub request_timeout: Duration,
    pub backend: Backend,
    /// TLS and SASL for this cluster and client role.
    pub security: Arc<Security>,
}

/// Partition metadata: leader broker id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLeader {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub error: ErrorCode,
}

/// A topic as Metadata describes it.
#[derive(Debug, Clone)]
pub struct TopicMetadata {
    pub name: String,
    pub error: ErrorCode,
    pub is_internal: bool,
    pub partitions: Vec<PartitionLeader>,
}

/// A connection's address and stream number.
type ConnKey = (String, usize);

pub struct ClusterClient {
    settings: ClientSettings,
    brokers: RefCell<HashMap<i32, String>>,
    /// Open connections by address, then stream number: stream 0 is the
    /// one every caller shares; fetch and produce loops of `--streams N`
    /// use 0..N. Keyed so a look-up by `&str` allocates nothing.
    conns: RefCell<HashMap<String, Vec<Option<Conn>>>>,
    connecting: RefCell<HashMap<ConnKey, Rc<tokio::sync::Mutex<()>>>>,
}

impl ClusterClient {
    pub fn new(settings: ClientSettings) -> Rc<ClusterClient> {
        Rc::new(ClusterClient {
            settings,
            brokers: RefCell::new(HashMap::new()),
            conns: RefCell::new(HashMap::new()),
            connecting: RefCell::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.cluster
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The ids of the brokers the last metadata answer named.
    pub fn broker_ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.brokers.borrow().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn broker_addr(&self, id: i32) -> Option<String> {
        self.brokers.borrow().get(&id).cloned()
    }

    /// The connection to `addr`, opened when there is none (one attempt).
    pub async fn conn_to(&self, addr: &str) -> Result<Conn, ClientError> {
        self.stream_to(addr, 0).await
    }

    /// Connection number `stream` to `addr`, opened when there is none.
    async fn stream_to(&self, addr: &str, stream: usize) -> Result<Conn, ClientError> {
        if let Some(c) = self.open_conn(addr, stream) {
            return Ok(c);
        }
        let key = (addr.to_string(), stream);
        let lock = self
            .connecting
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| Rc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _g = lock.lock().await;
        if let Some(c) = self.open_conn(addr, stream) {
            return Ok(c);
        }
        let s = &self.settings;
        let conn = Conn::connect(
            &s.cluster,
            addr,
            s.backend,
            &s.tuning,
            &s.security,
            &s.client_id,
            s.request_timeout,
        )
        .await?;
        tracing::debug!(cluster = %s.cluster, broker = addr, stream, "connected");
        let mut conns = self.conns.borrow_mut();
        let streams = conns.entry(key.0).or_default();
        if streams.len() <= stream {
            streams.resize(stream + 1, None);
        }
        streams[stream] = Some(conn.clone());
        Ok(conn)
    }

    /// The open connection number `stream` to `addr`, if there is one.
    fn open_conn(&self, addr: &str, stream: usize) -> Option<Conn> {
        let conns = self.conns.borrow();
        let c = conns.get(addr)?.get(stream)?.as_ref()?;
        (!c.is_closed()).then(|| c.clone())
    }

    /// The connection to broker `id` (known from metadata).
    pub async fn broker(&self, id: i32) -> Result<Conn, ClientError> {
        self.broker_stream(id, 0).await
    }

    /// Connection number `stream` to broker `id`: with `--streams N` a
    /// worker spreads its partitions over N connections per broker.
    pub async fn broker_stream(&self, id: i32, stream: usize) -> Result<Conn, ClientError> {
        // The usual case, an open connection, without copying the address.
        let open = match self.brokers.borrow().get(&id) {
            Some(addr) => self.open_conn(addr, stream),
            None => None,
        };
        if let Some(c) = open {
            return Ok(c);
        }
        let addr = self.broker_addr(id).ok_or_else(|| ClientError::Other {
            cluster: self.settings.cluster.clone(),
            reason: format!("broker {id} is not in the cluster metadata"),
        })?;
        self.stream_to(&addr, stream).await
    }

    /// Any live connection: a known broker first, then the bootstrap list.
    pub async fn any(&self) -> Result<Conn, ClientError> {
        let live: Option<Conn> = self
            .conns
            .borrow()
            .values()
            .flatten()
            .flatten()
            .find(|c| !c.is_closed())
            .cloned();
        if let Some(c) = live {
            return Ok(c);
        }
        let mut candidates: Vec<String> = self.brokers.borrow().values().cloned().collect();
        candidates.extend(self.settings.bootstrap.iter().cloned());
        let mut last = None;
        for addr in candidates {
            match self.conn_to(&addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Other {
            cluster: self.settings.cluster.clone(),
            reason: "no bootstrap servers configured".into(),
        }))
    }

    /// Metadata for `topics` (all topics when `None`); learns brokers.
    pub async fn metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<Vec<TopicMetadata>, ClientError> {
        let conn = self.any().await?;
        let req = match topics {
            None => MetadataRequest::all_topics(),
            Some(names) => MetadataRequest::topics(names),
        };
        let resp = conn.call(&req).await?;
        {
            let mut brokers = self.brokers.borrow_mut();
            for b in &resp.brokers {
                brokers.insert(b.node_id, format!("{}:{}", b.host, b.port));
            }
        }
        Ok(resp
            .topics
            .into_iter()
            .map(|t| TopicMetadata {
                name: t.name,
                error: t.error,
                is_internal: t.is_internal,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionLeader {
                        partition: p.partition,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        error: p.error,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Metadata with retries and backoff, one log line per failed attempt,
    /// until it succeeds or `give_up` says stop.
    pub async fn metadata_with_retry(
        &self,
        topics: Option<&[String]>,
        mut give_up: impl FnMut() -> bool,
    ) -> Result<Vec<TopicMetadata>, ClientError> {
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 1u32;
        loop {
            match self.metadata(topics).await {
                Ok(m) => return Ok(m),
                Err(e) if give_up() || e.is_permanent() => return Err(e),
                Err(e) => {
                    tracing::warn!(
                        cluster = %self.settings.cluster,
                        attempt,
                        retry_in_ms = backoff.as_millis() as u64,
                        "cluster unreachable: {e}"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    attempt += 1;
                }
            }
        }
    }
}
