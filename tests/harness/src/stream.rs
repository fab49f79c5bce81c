//! A long-running producer fed one record at a time
//! (`tests/kafka/java/StreamProducer.java`: Kafka's own idempotent producer,
//! acks=all), for streams that keep flowing while a test kills brokers or
//! mirrors. It holds no per-record state, so a stream of millions runs in
//! constant memory, and it reports acknowledgements as they come.
//!
//! It never retries or reorders on its own account: whatever Kafka's
//! producer could not deliver is counted as failed, with the first error.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::java::{self, Jvm};
use crate::process;
use crate::tools::{self, BootstrapServers, TestRecord};

/// What a finished stream sent and what came of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamTotals {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// The first failed send, as the producer described it.
    pub first_error: Option<String>,
}

/// A running [`StreamProducer`](self) process. Dropping it kills the
/// process; [`StreamProducer::finish`] ends it cleanly.
pub struct StreamProducer {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    line: String,
    sent: u64,
    reported: Arc<Mutex<Reported>>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    what: String,
}

impl StreamProducer {
    /// Starts the producer on `topic`; `producer_props` override its
    /// defaults (acks=all, enable.idempotence=true) or add to them.
    pub fn start(
        cluster: &(impl BootstrapServers + ?Sized),
        topic: &str,
        producer_props: &[(&str, &str)],
    ) -> io::Result<StreamProducer> {
        let bootstrap = cluster.bootstrap_servers();
        let mut args = vec![bootstrap.clone(), topic.to_owned()];
        args.extend(producer_props.iter().map(|(k, v)| format!("{k}={v}")));
        let what = format!("StreamProducer to {topic} on {bootstrap}");
        let mut cmd = java::tool("StreamProducer", Jvm::Data, args)?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{what}: cannot start: {e}")))?;
        let reported = Arc::new(Mutex::new(Reported::default()));
        let stdout = child.stdout.take().map(|pipe| {
            let reported = reported.clone();
            thread::spawn(move || read_reports(pipe, &reported))
        });
        let stderr = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        });
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(1 << 16, s));
        Ok(StreamProducer {
            child,
            stdin,
            line: String::new(),
            sent: 0,
            reported,
            stdout,
            stderr,
            what,
        })
    }

    /// Hands one record to the producer (buffered: see [`flush`](Self::flush)).
    pub fn send(&mut self, record: &TestRecord) -> io::Result<()> {
        self.line.clear();
        tools::write_record(&mut self.line, record);
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(self.line.as_bytes()),
            None => return Err(self.gone("already finished")),
        };
        match written {
            Ok(()) => {
                self.sent += 1;
                Ok(())
            }
            Err(e) => Err(self.gone(&e.to_string())),
        }
    }

    /// Passes every record handed over so far on to the producer process.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        stdin.flush().map_err(|e| self.gone(&e.to_string()))
    }

    /// Records handed over so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Records acknowledged, as last reported (twice a second).
    pub fn acked(&self) -> u64 {
        lock(&self.reported).acked
    }

    /// Ends the input, waits up to `timeout` for every record to be
    /// acknowledged or to fail, and returns the totals.
    pub fn finish(mut self, timeout: Duration) -> io::Result<StreamTotals> {
        if let Some(mut stdin) = self.stdin.take() {
            stdin.flush().map_err(|e| self.gone(&e.to_string()))?;
        }
        let status = process::wait_timeout(&mut self.child, timeout)?;
        process::kill_group(self.child.id(), libc::SIGKILL);
        let status = match status {
            Some(status) => status,
            None => {
                let _ = self.child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{}: not done within {timeout:?}", self.what),
                ));
            }
        };
        if let Some(stdout) = self.stdout.take() {
            let _ = stdout.join();
        }
        let stderr = self.stderr_text();
        let reported = lock(&self.reported);
        match reported.done {
            Some((sent, acked, failed)) if status.success() => Ok(StreamTotals {
                sent,
                acked,
                failed,
                first_error: reported.first_error.clone(),
            }),
            _ => Err(io::Error::other(format!(
                "{}: {status} before reporting its totals; stderr:\n{}",
                self.what,
                process::tail(&stderr, 40)
            ))),
        }
    }

    fn gone(&mut self, why: &str) -> io::Error {
        // The process is gone or going: its stderr says why.
        self.stdin = None;
        let _ = process::wait_timeout(&mut self.child, Duration::from_secs(5));
        process::kill_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
        let stderr = self.stderr_text();
        io::Error::other(format!(
            "{}: cannot pass records on ({why}); stderr:\n{}",
            self.what,
            process::tail(&stderr, 40)
        ))
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for StreamProducer {
    fn drop(&mut self) {
        process::kill_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Reported {
    acked: u64,
    failed: u64,
    first_error: Option<String>,
    /// The DONE line: (sent, acked, failed).
    done: Option<(u64, u64, u64)>,
}

fn read_reports(pipe: impl Read, reported: &Mutex<Reported>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { return };
        let numbers = |rest: &str| -> Vec<u64> {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        };
        let mut r = lock(reported);
        if let Some(rest) = line.strip_prefix("ACKED ") {
            if let [acked, failed] = numbers(rest)[..] {
                r.acked = acked;
                r.failed = failed;
            }
        } else if let Some(rest) = line.strip_prefix("DONE ") {
            if let [sent, acked, failed] = numbers(rest)[..] {
                r.acked = acked;
                r.failed = failed;
                r.done = Some((sent, acked, failed));
            }
        } else if let Some(rest) = line.strip_prefix("ERROR ") {
            r.first_error.get_or_insert_with(|| rest.to_owned());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
