//! Choosing and starting the I/O backend.

use std::future::Future;

/// The I/O backend a thread runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring via tokio-uring: one ring per thread.
    Uring,
    /// epoll via tokio's current-thread runtime.
    Epoll,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        }
    }

    /// io_uring when the kernel lets this process create a ring (it may be
    /// missing, disabled by `kernel.io_uring_disabled`, or blocked by
    /// seccomp in containers); epoll otherwise.
    pub fn detect() -> (Backend, Option<String>) {
        match io_uring::IoUring::new(4) {
            Ok(_) => (Backend::Uring, None),
            Err(e) => (Backend::Epoll, Some(e.to_string())),
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "uring" | "io_uring" | "io-uring" => Some(Backend::Uring),
            "epoll" => Some(Backend::Epoll),
            _ => None,
        }
    }
}

/// Runs `fut` to completion on a single-threaded runtime of `backend` on the
/// calling thread. `tokio::task::spawn_local` works inside on both backends.
pub fn run_on_this_thread<F: Future>(backend: Backend, fut: F) -> F::Output {
    match backend {
        Backend::Uring => tokio_uring::start(fut),
        Backend::Epoll => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread tokio runtime builds");
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, fut)
        }
    }
}
