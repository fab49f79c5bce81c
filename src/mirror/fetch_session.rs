//! One fetch loop's fetch session with its broker (KIP-227): which
//! partitions the broker holds for us and at which position, so that a
//! request names only partitions that join, move or leave the session
//! instead of every partition every time. Pure bookkeeping: no I/O.
//!
//! The rules kept here: the first request of a session carries session id 0
//! and epoch 0 and names every partition (a full fetch); the broker answers
//! with the new session's id (0 when it keeps no session, and then every
//! request stays full). Later requests carry that id and epochs 1, 2, …;
//! partitions the broker already holds at the same position are left out,
//! partitions no longer wanted are listed as forgotten. The broker answers
//! an incremental request only for partitions with something to say. A
//! session error, a failed request or a lost connection ends the session and
//! the next request is full again.

use std::collections::HashMap;
use std::rc::Rc;

use kmirror_proto::error_code::ErrorCode;

/// Session id of "no session".
const NO_SESSION: i32 = 0;
/// Epoch that asks the broker to open a session with a full request.
const INITIAL_EPOCH: i32 = 0;

/// A partition the loop wants fetched now.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The partition's index on its worker.
    pub idx: usize,
    pub topic: Rc<str>,
    pub partition: i32,
    pub offset: i64,
}

/// A partition whose state changed since the loop's last request: to be
/// fetched from `offset` now, or no longer.
#[derive(Debug, Clone)]
pub enum Change {
    Fetch(Wanted),
    Stop { topic: Rc<str>, partition: i32 },
}

/// What the broker holds for one partition in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub idx: usize,
    pub offset: i64,
}

/// The partitions one request must carry.
#[derive(Debug, Default)]
pub struct SessionRequest {
    pub session_id: i32,
    pub epoch: i32,
    /// Every wanted partition on a full request; on an incremental one only
    /// those that are new to the session or whose position moved.
    pub send: Vec<Wanted>,
    pub forget: Vec<(Rc<str>, Vec<i32>)>,
}

impl SessionRequest {
    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH || self.session_id == NO_SESSION
    }
}

#[derive(Debug, Default)]
pub struct FetchSession {
    id: i32,
    /// The epoch of the next request.
    epoch: i32,
    /// Per topic and partition: what the broker holds, and the whole pass
    /// that last wanted it.
    held: HashMap<Rc<str>, HashMap<i32, (Held, u32)>>,
    /// Whole passes planned so far (wrapping).
    pass: u32,
    /// The request awaiting its response was a full one.
    pending_full: bool,
}

impl FetchSession {
    pub fn new() -> FetchSession {
        FetchSession::default()
    }

    /// The session's id, 0 while there is none.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Plans the next request so that, once the broker has it, the session
    /// holds exactly `wanted` at their positions. The held map is updated in
    /// place (entries not wanted this time are swept out), so a pass over a
    /// large session allocates only for what joins.
    pub fn next_request(&mut self, wanted: &[Wanted]) -> SessionRequest {
        let (full, mut req) = self.begin_request();
        if full {
            self.held.clear();
        }
        self.pass = self.pass.wrapping_add(1);
        let pass = self.pass;
        for w in wanted {
            if self.hold(w) || full {
                req.send.push(w.clone());
            }
        }
        for (topic, parts) in &mut self.held {
            let gone: Vec<i32> = parts
                .iter()
                .filter(|(_, (_, seen))| *seen != pass)
                .map(|(&p, _)| p)
                .collect();
            if gone.is_empty() {
                continue;
            }
            for p in &gone {
                parts.remove(p);
            }
            if !full {
                req.forget.push((topic.clone(), gone));
            }
        }
        self.held.retain(|_, parts| !parts.is_empty());
        self.pending_full = full;
        req
    }

    /// Plans the next request from the partitions whose state changed
    /// since the last one; every other partition stays in the session as it
    /// is. Costs what the changes cost, not what the session holds (the
    /// loop calls [`FetchSession::next_request`] with every wanted partition
    /// now and then, which also finds changes nobody reported). Without an
    /// open session the request is full: every partition held after the
    /// changes.
    pub fn next_request_changes(&mut self, changes: &[Change]) -> SessionRequest {
        let (full, mut req) = self.begin_request();
        for change in changes {
            match change {
                Change::Fetch(w) => {
                    if self.hold(w) && !full {
                        req.send.push(w.clone());
                    }
                }
                Change::Stop { topic, partition } => {
                    let Some(parts) = self.held.get_mut(&**topic) else {
                        continue;
                    };
                    if parts.remove(partition).is_none() {
                        continue;
                    }
                    if parts.is_empty() {
                        self.held.remove(&**topic);
                    }
                    if !full {
                        match req.forget.iter_mut().find(|(t, _)| t == topic) {
                            Some((_, ps)) => ps.push(*partition),
                            None => req.forget.push((topic.clone(), vec![*partition])),
                        }
                    }
                }
            }
        }
        if full {
            for (topic, parts) in &self.held {
                for (&partition, (h, _)) in parts {
                    req.send.push(Wanted {
                        idx: h.idx,
                        topic: topic.clone(),
                        partition,
                        offset: h.offset,
                    });
                }
            }
        }
        self.pending_full = full;
        req
    }

    /// Whether the next request is a full one, and that request with its
    /// session id and epoch set and nothing in it yet.
    fn begin_request(&self) -> (bool, SessionRequest) {
        let full = self.id == NO_SESSION;
        let req = SessionRequest {
            session_id: self.id,
            epoch: if full { INITIAL_EPOCH } else { self.epoch },
            ..SessionRequest::default()
        };
        (full, req)
    }

    /// Holds `w` at its position, stamped with the current whole pass;
    /// true when the session did not hold it there before (it joins or moved).
    fn hold(&mut self, w: &Wanted) -> bool {
        let now = Held {
            idx: w.idx,
            offset: w.offset,
        };
        let before = self
            .held
            .entry(w.topic.clone())
            .or_default()
            .insert(w.partition, (now, self.pass));
        before.map(|(h, _)| h.offset) != Some(w.offset)
    }

    /// Partitions in the session.
    pub fn held_count(&self) -> usize {
        self.held.values().map(HashMap::len).sum()
    }

    /// The partition the broker answered for, as the session holds it.
    pub fn lookup(&self, topic: &str, partition: i32) -> Option<Held> {
        self.held.get(topic)?.get(&partition).map(|&(h, _)| h)
    }

    /// Every partition in the session (what the last request covered).
    pub fn held(&self) -> impl Iterator<Item = Held> + '_ {
        self.held
            .values()
            .flat_map(|ps| ps.values().map(|&(h, _)| h))
    }

    /// Takes in the response's session id and top-level error.
    pub fn on_response(&mut self, session_id: i32, error: ErrorCode) {
        if !error.is_ok() {
            if error == ErrorCode::FETCH_SESSION_ID_NOT_FOUND
                || error == ErrorCode::INVALID_FETCH_SESSION_EPOCH
            {
                tracing::debug!(session = self.id, "fetch session lost: {error}");
            }
            self.reset();
            return;
        }
        if self.pending_full {
            self.id = session_id;
            self.epoch = 1;
        } else {
            self.epoch = if self.epoch == i32::MAX {
                1
            } else {
                self.epoch + 1
            };
        }
    }

    /// Forgets the session: the next request is a full one.
    pub fn reset(&mut self) {
        self.id = NO_SESSION;
        self.epoch = INITIAL_EPOCH;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(idx: usize, topic: &str, partition: i32, offset: i64) -> Wanted {
        Wanted {
            idx,
            topic: Rc::from(topic),
            partition,
            offset,
        }
    }

    fn names(req: &SessionRequest) -> Vec<(String, i32, i64)> {
        let mut v: Vec<_> = req
            .send
            .iter()
            .map(|w| (w.topic.to_string(), w.partition, w.offset))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn first_request_is_full_and_opens_a_session() {
        let mut s = FetchSession::new();
        let req = s.next_request(&[w(0, "a", 0, 5), w(1, "a", 1, 7)]);
        assert_eq!((req.session_id, req.epoch), (0, 0));
        assert!(req.is_full());
        assert_eq!(req.send.len(), 2);
        s.on_response(42, ErrorCode::NONE);
        assert_eq!(s.id(), 42);
        let req = s.next_request(&[w(0, "a", 0, 5), w(1, "a", 1, 7)]);
        assert_eq!((req.session_id, req.epoch), (42, 1));
        assert!(req.send.is_empty() && req.forget.is_empty());
    }

    #[test]
    fn incremental_request_names_moved_new_and_forgotten_partitions() {
        let mut s = FetchSession::new();
        s.next_request(&[w(0, "a", 0, 5), w(1, "a", 1, 7), w(2, "b", 0, 1)]);
        s.on_response(9, ErrorCode::NONE);
        // a-0 moved, a-1 unchanged, b-0 left, c-3 joined.
        let req = s.next_request(&[w(0, "a", 0, 8), w(1, "a", 1, 7), w(3, "c", 3, 0)]);
        assert_eq!(req.epoch, 1);
        assert_eq!(names(&req), vec![("a".into(), 0, 8), ("c".into(), 3, 0)]);
        assert_eq!(req.forget.len(), 1);
        assert_eq!((&*req.forget[0].0, req.forget[0].1.clone()), ("b", vec![0]));
        assert_eq!(s.lookup("a", 1), Some(Held { idx: 1, offset: 7 }));
        assert_eq!(s.lookup("b", 0), None);
        s.on_response(9, ErrorCode::NONE);
        assert_eq!(s.next_request(&[]).epoch, 2);
    }

    #[test]
    fn session_errors_and_refusals_fall_back_to_full_requests() {
        let mut s = FetchSession::new();
        s.next_request(&[w(0, "a", 0, 5)]);
        s.on_response(0, ErrorCode::NONE); // the broker keeps no session
        let req = s.next_request(&[w(0, "a", 0, 5)]);
        assert!(req.is_full());
        assert_eq!(req.send.len(), 1);
        s.on_response(3, ErrorCode::NONE);
        s.next_request(&[w(0, "a", 0, 6)]);
        s.on_response(3, ErrorCode::INVALID_FETCH_SESSION_EPOCH);
        let req = s.next_request(&[w(0, "a", 0, 6)]);
        assert_eq!((req.session_id, req.epoch, req.send.len()), (0, 0, 1));
    }

    #[test]
    fn changes_plan_the_same_requests_as_the_whole_wanted_list() {
        let mut s = FetchSession::new();
        // Without a session, changes still make a full request of all held.
        let req = s.next_request_changes(&[
            Change::Fetch(w(0, "a", 0, 5)),
            Change::Fetch(w(1, "a", 1, 7)),
            Change::Fetch(w(2, "b", 0, 1)),
        ]);
        assert!(req.is_full());
        assert_eq!(
            names(&req),
            vec![("a".into(), 0, 5), ("a".into(), 1, 7), ("b".into(), 0, 1)]
        );
        s.on_response(9, ErrorCode::NONE);
        // a-0 moved, b-0 stopped, c-3 joined; a-1 is not mentioned and stays.
        let req = s.next_request_changes(&[
            Change::Fetch(w(0, "a", 0, 8)),
            Change::Stop {
                topic: Rc::from("b"),
                partition: 0,
            },
            Change::Fetch(w(3, "c", 3, 0)),
            // Unchanged position: held, not named again.
            Change::Fetch(w(1, "a", 1, 7)),
            // Not held: nothing to forget.
            Change::Stop {
                topic: Rc::from("z"),
                partition: 4,
            },
        ]);
        assert_eq!((req.session_id, req.epoch), (9, 1));
        assert_eq!(names(&req), vec![("a".into(), 0, 8), ("c".into(), 3, 0)]);
        assert_eq!(req.forget.len(), 1);
        assert_eq!((&*req.forget[0].0, req.forget[0].1.clone()), ("b", vec![0]));
        assert_eq!(s.held_count(), 3);
        assert_eq!(s.lookup("a", 1), Some(Held { idx: 1, offset: 7 }));
        assert_eq!(s.lookup("b", 0), None);
        s.on_response(9, ErrorCode::NONE);
        // Nothing changed: an empty incremental request (a long poll).
        let req = s.next_request_changes(&[]);
        assert_eq!(req.epoch, 2);
        assert!(req.send.is_empty() && req.forget.is_empty());
        // A full pass over the same wanted set finds nothing to change.
        s.on_response(9, ErrorCode::NONE);
        let req = s.next_request(&[w(0, "a", 0, 8), w(1, "a", 1, 7), w(3, "c", 3, 0)]);
        assert!(req.send.is_empty() && req.forget.is_empty());
    }

    #[test]
    fn epochs_wrap_to_one() {
        let mut s = FetchSession::new();
        s.next_request(&[]);
        s.on_response(1, ErrorCode::NONE);
        s.epoch = i32::MAX;
        s.next_request(&[]);
        s.on_response(1, ErrorCode::NONE);
        assert_eq!(s.epoch, 1);
    }
}
