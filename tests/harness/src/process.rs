//! Child processes of the harness (brokers and Java tools) that can never
//! outlive the test process.
//!
//! Clusters live in `static`s shared by every test of a binary, so their
//! `Drop` never runs. `PR_SET_PDEATHSIG` does not help either: it fires when
//! the spawning *thread* exits, and test threads come and go. Instead every
//! child is started through a tiny `sh` wrapper that forks a watchdog polling
//! the test process once a second and then `exec`s the real program, which
//! therefore keeps the pid `Child::id()` reports. Each child leads its own
//! process group, so one signal reaches the program and its watchdog.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Output of a finished child, whatever its exit status.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A command that runs `program args` in a new process group, killed within
/// about a second once the current process is gone.
pub(crate) fn guarded<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Command {
    use std::os::unix::process::CommandExt;

    // $1 is the pid to watch. In the subshell `$$` is still the outer shell's
    // pid, which `exec` hands to the program. The watchdog lets go of the
    // caller's pipes so readers see EOF when the program exits.
    const SCRIPT: &str = r#"watched=$1; shift
( while kill -0 "$watched" 2>/dev/null; do sleep 1; done; kill -KILL $$ 2>/dev/null ) </dev/null >/dev/null 2>&1 &
exec "$@""#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg("kmirror-harness")
        .arg(std::process::id().to_string())
        .arg(program)
        .args(args)
        .process_group(0);
    cmd
}

/// Runs a guarded command to completion, feeding it `stdin`, and kills it
/// after `timeout`. A non-zero exit status is returned, not an error; `what`
/// names the command in errors.
pub(crate) fn run_unchecked(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    what: &str,
) -> io::Result<Finished> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: cannot start: {e}")))?;

    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => Some(thread::spawn(move || {
            // A child that exits early closes the pipe; its status says why.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let timed_out = status.is_none();
    // Also takes the watchdog down, which otherwise lingers until we exit.
    kill_group(child.id(), libc::SIGKILL);
    if timed_out {
        // In case `cmd` was not `guarded` and leads no group.
        kill_process(child.id(), libc::SIGKILL);
    }
    let status = match status {
        Some(status) => status,
        None => child.wait()?,
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();

    let finished = Finished {
        status,
        stdout,
        stderr,
    };
    if timed_out {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{what}: killed after {timeout:?}; stderr:\n{}",
                tail(&finished.stderr_text(), 40)
            ),
        ));
    }
    Ok(finished)
}

/// Like [`run_unchecked`], but a non-zero exit status is an error carrying
/// the command's stderr (and stdout, where tools print their complaints).
pub(crate) fn run(
    cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    what: &str,
) -> io::Result<Finished> {
    let finished = run_unchecked(cmd, stdin, timeout, what)?;
    if finished.status.success() {
        return Ok(finished);
    }
    Err(io::Error::other(format!(
        "{what}: {}; stderr:\n{}\nstdout:\n{}",
        finished.status,
        tail(&finished.stderr_text(), 40),
        tail(&finished.stdout_text(), 20)
    )))
}

/// Sends `signal` to the process group led by `pgid`. A group that is already
/// gone is not an error: the caller wanted it dead.
pub(crate) fn kill_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes no pointers and touches no memory of ours; the
    // worst a stale id can produce is ESRCH, which we ignore on purpose.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Sends `signal` to one process.
pub(crate) fn kill_process(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: as in `kill_group`.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of `text`, for error messages.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}
