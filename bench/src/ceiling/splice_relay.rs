//! The yardstick: a kernel-only TCP relay. A sender writes the same batches
//! as fast as it can into the relay's listening socket; the relay moves them
//! socket -> pipe -> socket with `splice(2)`, never touching the bytes in
//! user space; a sink reads and discards them. What the relay moves per
//! second of its own thread's CPU is the most any forwarder on this kernel
//! can hope for per core.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::procstat;

/// Bytes asked of each splice call (the pipe is grown to match).
const CHUNK: usize = 1 << 20;

/// One measured window of the relay.
#[derive(Debug, Clone, Copy)]
pub struct RelayOutcome {
    pub bytes: u64,
    pub wall: Duration,
    /// CPU time of the relay thread alone.
    pub relay_cpu: Duration,
    /// Time the relay thread was runnable but had no CPU.
    pub relay_waited: Duration,
    /// CPU time of the sender and the sink (for the record; not the relay's).
    pub ends_cpu: Duration,
}

/// Runs sender, relay and sink; measures `window` after `warmup`. The relay
/// thread is pinned to `relay_cpus`, sender and sink to `ends_cpus`.
pub fn measure(
    data: Vec<u8>,
    warmup: Duration,
    window: Duration,
    relay_cpus: Vec<usize>,
    ends_cpus: Vec<usize>,
) -> Result<RelayOutcome, String> {
    let e = |x: std::io::Error| x.to_string();
    let sink_listener = TcpListener::bind("127.0.0.1:0").map_err(e)?;
    let sink_addr = sink_listener.local_addr().map_err(e)?;
    let relay_listener = TcpListener::bind("127.0.0.1:0").map_err(e)?;
    let relay_addr = relay_listener.local_addr().map_err(e)?;
    let stop = Arc::new(AtomicBool::new(false));
    let moved = Arc::new(AtomicU64::new(0));
    let (tids_tx, tids_rx) = mpsc::channel::<(&'static str, i32)>();

    let sink = {
        let (tids, cpus) = (tids_tx.clone(), ends_cpus.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            super::pin_current_thread(&cpus);
            let _ = tids.send(("ends", procstat::current_tid()));
            let (mut s, _) = sink_listener.accept()?;
            let mut buf = vec![0u8; CHUNK];
            while s.read(&mut buf)? > 0 {}
            Ok(())
        })
    };
    let relay = {
        let (tids, moved) = (tids_tx.clone(), moved.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            super::pin_current_thread(&relay_cpus);
            let _ = tids.send(("relay", procstat::current_tid()));
            let (from, _) = relay_listener.accept()?;
            let to = TcpStream::connect(sink_addr)?;
            relay_loop(&from, &to, &moved)?;
            to.shutdown(Shutdown::Write)
        })
    };
    let sender = {
        let (tids, stop) = (tids_tx, stop.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            super::pin_current_thread(&ends_cpus);
            let _ = tids.send(("ends", procstat::current_tid()));
            let mut s = TcpStream::connect(relay_addr)?;
            while !stop.load(Ordering::Relaxed) {
                s.write_all(&data)?;
            }
            s.shutdown(Shutdown::Write)
        })
    };

    let mut relay_tid = 0;
    let mut ends_tids = Vec::new();
    for _ in 0..3 {
        match tids_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(("relay", t)) => relay_tid = t,
            Ok((_, t)) => ends_tids.push(t),
            Err(_) => return Err("relay threads did not start".into()),
        }
    }
    let started = Instant::now();
    while moved.load(Ordering::Relaxed) == 0 {
        if started.elapsed() > Duration::from_secs(10) {
            stop.store(true, Ordering::Relaxed);
            return Err("the splice relay moved nothing in 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(warmup);
    let cpu = |tids: &[i32]| -> Duration {
        tids.iter()
            .filter_map(|t| procstat::thread_cpu_time(*t))
            .sum()
    };
    let waited = || procstat::thread_run_queue_wait(relay_tid).unwrap_or_default();
    let (t0, b0, r0, e0, w0) = (
        Instant::now(),
        moved.load(Ordering::Relaxed),
        cpu(&[relay_tid]),
        cpu(&ends_tids),
        waited(),
    );
    std::thread::sleep(window);
    let (t1, b1, r1, e1, w1) = (
        Instant::now(),
        moved.load(Ordering::Relaxed),
        cpu(&[relay_tid]),
        cpu(&ends_tids),
        waited(),
    );
    stop.store(true, Ordering::Relaxed);
    for (name, h) in [("sender", sender), ("relay", relay), ("sink", sink)] {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("splice relay {name}: {e}")),
            Err(_) => return Err(format!("splice relay {name} panicked")),
        }
    }
    Ok(RelayOutcome {
        bytes: b1 - b0,
        wall: t1 - t0,
        relay_cpu: r1.saturating_sub(r0),
        relay_waited: w1.saturating_sub(w0),
        ends_cpu: e1.saturating_sub(e0),
    })
}

/// socket -> pipe -> socket until the sender closes.
fn relay_loop(from: &TcpStream, to: &TcpStream, moved: &AtomicU64) -> std::io::Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (pipe_r, pipe_w) = (fds[0], fds[1]);
    // SAFETY: fcntl on a pipe we just created; failure leaves the default size.
    unsafe { libc::fcntl(pipe_w, libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
    // No SPLICE_F_MORE: on a socket it corks the tail of each chunk.
    let flags = libc::SPLICE_F_MOVE;
    let result = (|| loop {
        // SAFETY: splice between descriptors that stay open for the call;
        // null offsets are required for sockets and pipes.
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                pipe_w,
                std::ptr::null_mut(),
                CHUNK,
                flags,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Ok(());
        }
        let mut left = n as usize;
        while left > 0 {
            // SAFETY: as above.
            let m = unsafe {
                libc::splice(
                    pipe_r,
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    flags,
                )
            };
            if m < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if m == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            left -= m as usize;
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
    })();
    // SAFETY: closing the pipe's two descriptors, used by no one else.
    unsafe {
        libc::close(pipe_r);
        libc::close(pipe_w);
    }
    result
}
