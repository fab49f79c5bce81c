//! The kmirror process of a chaos run: started, killed (SIGKILL) and
//! restarted on schedule, restarted after exiting on its own, and stopped
//! with SIGTERM at the end. Every run's output goes to a log file of its
//! own, kept for a post-mortem, and every run's end is recorded.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How one kmirror process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Killed by the schedule (SIGKILL).
    Killed,
    /// Exited with this status on its own, before anyone asked.
    Exited(Option<i32>),
    /// Stopped by SIGTERM at the end of the run, with this status.
    Stopped(Option<i32>),
    /// Still running this long after SIGTERM: killed.
    StopTimedOut(Duration),
}

/// One kmirror process.
#[derive(Clone, Debug)]
pub struct Run {
    pub log: PathBuf,
    pub ended: Option<(Duration, RunEnd)>,
}

pub struct Supervisor {
    binary: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    extra_args: Vec<String>,
    epoch: Instant,
    child: Option<Child>,
    pub runs: Vec<Run>,
}

impl Supervisor {
    /// kmirror `binary` on `config`, logs in `dir`; times are reported from
    /// `epoch`.
    pub fn new(
        binary: &Path,
        config: &Path,
        dir: &Path,
        extra_args: &[String],
        epoch: Instant,
    ) -> Self {
        Supervisor {
            binary: binary.to_owned(),
            config: config.to_owned(),
            dir: dir.to_owned(),
            extra_args: extra_args.to_vec(),
            epoch,
            child: None,
            runs: Vec::new(),
        }
    }

    pub fn start(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = self
            .dir
            .join(format!("kmirror-{:02}.log", self.runs.len() + 1));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.binary)
            .arg(&self.config)
            .args(&self.extra_args)
            .env(
                "KMIRROR_LOG",
                std::env::var("KMIRROR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.runs.push(Run { log, ended: None });
        Ok(())
    }

    /// SIGKILL; false when no kmirror was running.
    pub fn kill(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        self.end(RunEnd::Killed);
        true
    }

    /// Notices a kmirror that exited on its own and records how; true when
    /// one did.
    pub fn reap(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                self.end(RunEnd::Exited(status.code()));
                true
            }
            _ => false,
        }
    }

    /// SIGTERM, then waits up to `grace` for the exit (and kills after it).
    pub fn stop(&mut self, grace: Duration) -> Option<RunEnd> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on our own child's pid, which we have not reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let end = match wait_timeout(&mut child, grace) {
            Some(status) => RunEnd::Stopped(status.code()),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                RunEnd::StopTimedOut(grace)
            }
        };
        self.end(end);
        Some(end)
    }

    fn end(&mut self, how: RunEnd) {
        let at = self.epoch.elapsed();
        if let Some(run) = self.runs.last_mut() {
            run.ended = Some((at, how));
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
