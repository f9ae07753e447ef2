//! Shared by the scenario tests: a server on a background thread, bounded
//! waits, a directory for Unix socket files, and a raw socket (TCP or Unix)
//! that speaks frames by hand.

#![allow(dead_code)] // each test file uses a different part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use slow_custom_example::{ClientLoop, Completion, Server, ServerThread, Unix};
use slow_proto::frame::{self, Frame, Handshake, VERSION};
use slow_proto::{Config, Settings};

/// Generous bound for anything that should happen "soon".
pub const SOON: Duration = Duration::from_secs(10);

/// Defaults, with the timeouts that bound a test's shutdown made short.
pub fn config() -> Config {
    Config {
        handshake_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

pub fn server(config: Config) -> ServerThread {
    server_with_limit(config, slow_custom_example::DEFAULT_MAX_CONNECTIONS)
}

pub fn server_with_limit(config: Config, max_connections: usize) -> ServerThread {
    let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config).unwrap();
    server.set_max_connections(max_connections);
    server.spawn().unwrap()
}

/// A server on the Unix socket at `path`, on a background thread.
pub fn unix_server(path: &Path, config: Config) -> ServerThread<Unix> {
    Server::bind_unix(path, config).unwrap().spawn().unwrap()
}

/// A directory of one test's own for socket files (short, so that its
/// paths fit `sockaddr_un`), removed when dropped.
pub struct SocketDir(PathBuf);

impl SocketDir {
    pub fn new(name: &str) -> SocketDir {
        let dir = std::env::temp_dir().join(format!("slow-custom-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("socket dir");
        SocketDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The next completion, failing the test if none comes in time.
pub fn next(lp: &mut ClientLoop) -> Completion {
    match lp.next_completion(Some(SOON)) {
        Ok(Some(completion)) => completion,
        other => panic!("no completion in time: {other:?}"),
    }
}

/// The next completion that is not `Connected`.
pub fn next_after_connect(lp: &mut ClientLoop) -> Completion {
    loop {
        match next(lp) {
            Completion::Connected { .. } => continue,
            other => return other,
        }
    }
}

/// A connection (TCP by default, or Unix) that writes and reads frames by
/// hand.
pub struct Raw<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
}

impl Raw {
    pub fn connect(addr: std::net::SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(SOON)).unwrap();
        Raw::new(stream)
    }

    /// Connects and completes the handshake with default settings.
    pub fn handshake(addr: std::net::SocketAddr) -> Raw {
        Raw::connect(addr).hello()
    }
}

impl Raw<UnixStream> {
    pub fn connect_unix(path: &Path) -> Raw<UnixStream> {
        let stream = UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(SOON)).unwrap();
        Raw::new(stream)
    }

    /// Connects and completes the handshake with default settings.
    pub fn handshake_unix(path: &Path) -> Raw<UnixStream> {
        Raw::connect_unix(path).hello()
    }
}

impl<S: Read + Write> Raw<S> {
    fn new(stream: S) -> Raw<S> {
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    fn hello(mut self) -> Raw<S> {
        self.send(&Frame::Hello(Handshake::new(VERSION, &Settings::default())));
        match self.recv() {
            Some(Frame::Welcome(_)) => self,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub fn send(&mut self, frame: &Frame) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        self.send_bytes(&out);
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next frame, or `None` at end of stream. Fails the test on a read
    /// timeout or a frame that does not decode.
    pub fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = frame::decode(&mut self.buf, 16_777_215).unwrap() {
                return Some(frame);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("read timed out or failed");
            if n == 0 {
                assert!(self.buf.is_empty(), "stream ended inside a frame");
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
