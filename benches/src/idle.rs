//! Peers that hold connections open without any heap of their own, so that
//! the heap growth measured while they connect is the other side's alone.
//!
//! Both speak just the handshake over blocking `std::net` sockets (a
//! `TcpStream` is a file descriptor, no heap), into vectors allocated before
//! the measurement starts.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::baseline::{HANDSHAKE, HEADER_LEN, HELLO, WELCOME, header};

/// Reads one frame header and its payload (at most 256 bytes) into `scratch`;
/// returns its type.
fn read_small_frame(stream: &mut TcpStream, scratch: &mut [u8; 256]) -> io::Result<u8> {
    let mut h = [0u8; HEADER_LEN];
    stream.read_exact(&mut h)?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > scratch.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handshake too long",
        ));
    }
    stream.read_exact(&mut scratch[..len])?;
    Ok(h[4])
}

fn write_handshake(stream: &mut TcpStream, ty: u8) -> io::Result<()> {
    let mut frame = [0u8; HEADER_LEN + 5];
    frame[..HEADER_LEN].copy_from_slice(&header(ty, 0, HANDSHAKE.len()));
    frame[HEADER_LEN..].copy_from_slice(HANDSHAKE);
    stream.write_all(&frame)
}

/// Opens connections to a SLOW server and completes each handshake.
pub struct RawClients {
    streams: Vec<TcpStream>,
}

impl RawClients {
    /// Room for `n` connections (allocate before measuring).
    pub fn with_capacity(n: usize) -> RawClients {
        RawClients {
            streams: Vec::with_capacity(n),
        }
    }

    /// Connects once more to `addr` and completes the handshake.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<()> {
        assert!(
            self.streams.len() < self.streams.capacity(),
            "would allocate"
        );
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        write_handshake(&mut stream, HELLO)?;
        let mut scratch = [0u8; 256];
        if read_small_frame(&mut stream, &mut scratch)? != WELCOME {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no WELCOME"));
        }
        self.streams.push(stream);
        Ok(())
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// A server that accepts up to `n` connections, answers each HELLO with
/// WELCOME and holds them until dropped.
pub struct RawServer {
    addr: SocketAddr,
    accepted: mpsc::Receiver<usize>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    /// Binds and starts accepting (everything it needs is allocated here).
    pub fn start(n: usize) -> io::Result<RawServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, accepted) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("raw-server".into())
            .spawn(move || {
                let mut streams = Vec::with_capacity(n);
                let mut scratch = [0u8; 256];
                while streams.len() < n {
                    let Ok((mut stream, _)) = listener.accept() else {
                        break;
                    };
                    let ok = stream.set_nodelay(true).is_ok()
                        && read_small_frame(&mut stream, &mut scratch).ok() == Some(HELLO)
                        && write_handshake(&mut stream, WELCOME).is_ok();
                    if !ok {
                        // Not a SLOW client: the owner is releasing us.
                        let _ = tx.send(streams.len());
                        return;
                    }
                    streams.push(stream);
                }
                let _ = tx.send(streams.len());
                // Hold the connections until the process side closes them:
                // wait for the listener's owner to connect once more.
                let _ = listener.accept();
            })?;
        Ok(RawServer {
            addr,
            accepted,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until all `n` connections were accepted; returns how many.
    pub fn wait_accepted(&self) -> usize {
        self.accepted.recv().unwrap_or(0)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        // The extra connection releases the thread, which drops its streams.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
