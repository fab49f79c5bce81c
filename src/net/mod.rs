//! The OS seam: which I/O backend runs (io_uring through tokio-uring, or
//! epoll through tokio), TCP connections with their socket tuning, TLS over
//! either backend, the runtime each thread runs on, and the process's
//! resource limits. Nothing above this module knows which backend is in
//! use; nothing inside it knows about Kafka.

pub mod affinity;
pub mod backend;
pub mod buffers;
pub mod limits;
pub mod resolve;
pub mod socket;
pub mod splice;
pub mod stream;
pub mod tls;

pub use backend::{run_on_this_thread, Backend};
pub use socket::SocketTuning;
pub use stream::{Stream, Tcp};
