//! The fake broker's connections: plain TCP, or TLS (rustls server side)
//! when the broker was started with a server configuration, so TLS costs
//! can be measured and TLS error paths tested against a broker that
//! answers in microseconds.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One accepted connection.
pub enum BrokerStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl BrokerStream {
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t)
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            BrokerStream::Plain(s) => s,
            BrokerStream::Tls(s) => &s.sock,
        }
    }
}

impl Read for BrokerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BrokerStream::Plain(s) => s.read(buf),
            BrokerStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for BrokerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BrokerStream::Plain(s) => s.write(buf),
            BrokerStream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            BrokerStream::Plain(s) => s.write_vectored(bufs),
            BrokerStream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BrokerStream::Plain(s) => s.flush(),
            BrokerStream::Tls(s) => s.flush(),
        }
    }
}
