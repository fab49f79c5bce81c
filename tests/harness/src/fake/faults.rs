//! The fake broker's fault script: which request gets which bad answer.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BufMut;
use kmirror_proto::api::Api;

use super::{answer, answer_frame, frame_response, write, Connection, RequestHead, Shared};

/// A bad answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A correct response header followed by these bytes as the body.
    Body(Vec<u8>),
    /// These bytes, size prefix and all, instead of an answer.
    Raw(Vec<u8>),
    /// `n` pseudo-random bytes as the body.
    RandomBody(usize),
    /// The answer with this Kafka error code in its main error field (the
    /// top level where the response has one, else every topic or
    /// partition).
    Error(i16),
    /// The right answer, after a pause.
    Delay(Duration),
    /// The first `n` bytes of the right answer, then silence with the
    /// connection left open.
    PartialThenStall(usize),
    /// The first `n` bytes of the right answer, then the connection closes.
    PartialThenClose(usize),
    /// A size prefix announcing `size` bytes, then silence.
    SizeThenSilence(i32),
    /// A size prefix announcing `size` bytes, then one byte per `every`.
    Trickle { size: i32, every: Duration },
    /// The right answer under another correlation id.
    WrongCorrelation,
    /// The connection closes without an answer.
    Disconnect,
}

/// When a fault applies: requests of `api` (any API when `None`), counted
/// over all connections from 1, from the `from`-th on, `times` times (for
/// ever when `None`).
#[derive(Debug, Clone)]
pub struct Rule {
    api: Option<Api>,
    from: u64,
    times: Option<u64>,
    used: u64,
    fault: Fault,
}

impl Rule {
    /// Every request of `api`, from the next one on.
    pub fn on(api: Api, fault: Fault) -> Rule {
        Rule {
            api: Some(api),
            from: 1,
            times: None,
            used: 0,
            fault,
        }
    }

    /// Every request, whatever its API.
    pub fn any(fault: Fault) -> Rule {
        Rule {
            api: None,
            from: 1,
            times: None,
            used: 0,
            fault,
        }
    }

    /// Only from the `n`-th request of the API on (1 = the first).
    pub fn from_nth(mut self, n: u64) -> Rule {
        self.from = n;
        self
    }

    /// At most `n` times.
    pub fn times(mut self, n: u64) -> Rule {
        self.times = Some(n);
        self
    }
}

/// The fault for the `nth` request of `api_key`, if a rule has one left.
pub(super) fn pick(rules: &mut [Rule], api_key: i16, nth: u64) -> Option<Fault> {
    let rule = rules.iter_mut().find(|r| {
        r.api.is_none_or(|a| a.key() == api_key)
            && nth >= r.from
            && r.times.is_none_or(|t| r.used < t)
    })?;
    rule.used += 1;
    Some(rule.fault.clone())
}

/// Plays `fault` for `head`. `Ok(false)`: the connection is finished.
pub(super) fn act(
    shared: &Shared,
    c: &mut Connection,
    head: RequestHead,
    fault: Fault,
) -> Result<bool, String> {
    match fault {
        Fault::Body(body) => write(c, &frame_response(head, |b| b.put_slice(&body)))?,
        Fault::Raw(bytes) => write(c, &bytes)?,
        Fault::RandomBody(n) => {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ head.correlation_id as u64;
            let body: Vec<u8> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            write(c, &frame_response(head, |b| b.put_slice(&body)))?
        }
        Fault::Error(code) => answer(shared, c, head, Some(code))?,
        Fault::Delay(d) => {
            if !sleep_unless_stopped(shared, d) {
                return Ok(false);
            }
            answer(shared, c, head, None)?
        }
        Fault::PartialThenStall(n) | Fault::PartialThenClose(n) => {
            let whole = answer_frame(shared, c, head, None)?.unwrap_or_default();
            write(c, &whole[..n.min(whole.len())])?;
            if matches!(fault, Fault::PartialThenStall(_)) {
                stall(shared, c);
            }
            return Ok(false);
        }
        Fault::SizeThenSilence(size) => {
            write(c, &size.to_be_bytes())?;
            stall(shared, c);
            return Ok(false);
        }
        Fault::Trickle { size, every } => {
            write(c, &size.to_be_bytes())?;
            for _ in 0..size.max(0) {
                if !sleep_unless_stopped(shared, every) || c.stream.write_all(&[0]).is_err() {
                    return Ok(false);
                }
            }
        }
        Fault::WrongCorrelation => {
            if let Some(mut out) = answer_frame(shared, c, head, None)? {
                let wrong = head.correlation_id.wrapping_add(1000);
                out[4..8].copy_from_slice(&wrong.to_be_bytes());
                write(c, &out)?;
            }
        }
        Fault::Disconnect => return Ok(false),
    }
    Ok(true)
}

/// Sleeps `d` in short steps; false when the broker is stopping.
fn sleep_unless_stopped(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    true
}

/// Keeps the connection open and silent until the client closes it (what
/// it sends meanwhile is read and ignored) or the broker stops.
fn stall(shared: &Shared, c: &mut Connection) {
    let _ = c.stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        match c.stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}
