//! A fault-injecting TCP proxy for tests: loopback only, in-process, seeded.
//!
//! It sits between any client and any server. Every connection it accepts
//! gets a [`Plan`], drawn from the proxy's seed and the connection's index
//! (its accept order): how to *shape* the bytes (split every write into
//! random pieces, down to 1 byte; add small delays) and at most one
//! [`Fault`] in one direction, after a given number of bytes:
//!
//! - [`FaultKind::Stall`]: stop forwarding (and reading) that direction;
//!   the other keeps flowing.
//! - [`FaultKind::Reset`]: `SO_LINGER` 0 then close, both sides: each peer
//!   sees a reset. The cut is moved to be *inside* a frame (a SLOW frame
//!   tracker follows the stream), so the receiver is left mid-frame.
//! - [`FaultKind::HalfClose`]: forward the end of stream (FIN) at the cut,
//!   mid-frame as well, and stop reading that direction; the other goes on.
//!
//! The proxy runs on a tokio runtime of its own (one worker thread), so it
//! is independent of the runtime under test, tokio included: a separate
//! runtime instance shares nothing with the one being tested.
//!
//! Reproducible: the plans, the cut points (in bytes of each direction) and
//! the sequence of piece sizes and delays are functions of the seed. Piece
//! boundaries are the drawn ones plus wherever a read from the sender
//! happened to end, which the kernel decides.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slow_proto::frame::HEADER_LEN;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::rng::Rng;

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Stop forwarding one direction.
    Stall,
    /// Reset the whole connection (`SO_LINGER` 0, close), mid-frame.
    Reset,
    /// Forward end of stream in one direction, mid-frame.
    HalfClose,
}

/// One fault: in `direction`, once `after` bytes of it were forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The kind.
    pub kind: FaultKind,
    /// The direction it hits (for a reset, the one whose byte count
    /// triggers it; both sides are reset).
    pub direction: Direction,
    /// Bytes of that direction forwarded first (moved forward to fall
    /// inside a frame for resets and half-closes).
    pub after: u64,
}

/// How bytes are cut and delayed on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shaping {
    /// Largest piece written at once.
    pub max_piece: usize,
    /// Chance (per mille) that a piece is a single byte.
    pub tiny_per_mille: u32,
    /// Chance (per mille) of a delay after a piece.
    pub delay_per_mille: u32,
    /// Longest such delay.
    pub max_delay: Duration,
}

impl Shaping {
    /// Forward as read, at once.
    pub const NONE: Shaping = Shaping {
        max_piece: usize::MAX,
        tiny_per_mille: 0,
        delay_per_mille: 0,
        max_delay: Duration::ZERO,
    };

    /// Random pieces of 1 byte to 4 KiB (5% single bytes), a delay of up to
    /// 3 ms after 5% of them.
    pub const CHAOTIC: Shaping = Shaping {
        max_piece: 4096,
        tiny_per_mille: 50,
        delay_per_mille: 50,
        max_delay: Duration::from_millis(3),
    };

    fn piece(&self, rng: &mut Rng) -> usize {
        if self.max_piece == usize::MAX {
            return usize::MAX;
        }
        if rng.chance(self.tiny_per_mille) {
            1
        } else {
            rng.range(1, self.max_piece as u64) as usize
        }
    }

    fn delay(&self, rng: &mut Rng) -> Option<Duration> {
        if self.delay_per_mille == 0 || !rng.chance(self.delay_per_mille) {
            return None;
        }
        let us = rng.range(0, self.max_delay.as_micros() as u64);
        Some(Duration::from_micros(us))
    }
}

/// What happens to one proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Splitting and delays, both directions.
    pub shaping: Shaping,
    /// At most one fault.
    pub fault: Option<Fault>,
}

impl Plan {
    /// Shaping only, no fault.
    pub fn clean(shaping: Shaping) -> Plan {
        Plan {
            shaping,
            fault: None,
        }
    }
}

/// A fault that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// When.
    pub at: Instant,
    /// Bytes of the fault's direction forwarded before it.
    pub after: u64,
    /// Whether the cut fell inside a SLOW frame.
    pub mid_frame: bool,
}

/// What the proxy knows about one connection.
#[derive(Debug, Clone)]
pub struct ConnRecord {
    /// Its plan.
    pub plan: Plan,
    /// The fault, once it fired.
    pub fired: Option<Fired>,
    /// The relay is over (both sockets closed by the proxy).
    pub ended: bool,
}

/// Counters over every connection.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes forwarded client to server.
    pub bytes_up: AtomicU64,
    /// Bytes forwarded server to client.
    pub bytes_down: AtomicU64,
    /// Writes made.
    pub pieces: AtomicU64,
    /// Writes of a single byte.
    pub single_bytes: AtomicU64,
    /// Delays slept.
    pub delays: AtomicU64,
    /// Relays running.
    pub active: AtomicUsize,
}

type Planner = dyn Fn(usize, &mut Rng) -> Plan + Send + Sync;

struct Shared {
    target: SocketAddr,
    seed: u64,
    planner: Box<Planner>,
    conns: Mutex<Vec<ConnRecord>>,
    stats: Stats,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<ConnRecord>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running proxy. Dropping it stops it and closes every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to
    /// `target`, planned by `planner(index, rng)` with `rng` derived from
    /// `seed` and the connection's index.
    pub fn start(
        target: SocketAddr,
        seed: u64,
        planner: impl Fn(usize, &mut Rng) -> Plan + Send + Sync + 'static,
    ) -> io::Result<Proxy> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("reliability-proxy")
            .enable_all()
            .build()?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            seed,
            planner: Box::new(planner),
            conns: Mutex::new(Vec::new()),
            stats: Stats::default(),
        });
        rt.spawn(accept_loop(listener, shared.clone()));
        Ok(Proxy {
            addr,
            shared,
            rt: Some(rt),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far, in accept order.
    pub fn connections(&self) -> Vec<ConnRecord> {
        self.shared.conns().clone()
    }

    /// Connection `index`'s record, if it was accepted.
    pub fn connection(&self, index: usize) -> Option<ConnRecord> {
        self.shared.conns().get(index).cloned()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Waits until no relay runs (every proxied connection closed by its
    /// ends or by a fault), for at most `limit`; true if none runs.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while self.shared.stats.active.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.stats.active.load(Ordering::SeqCst) == 0
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let root = Rng::new(shared.seed);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // EMFILE and the like: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let index = {
            let mut conns = shared.conns();
            let index = conns.len();
            let mut rng = root.fork(index as u64);
            let plan = (shared.planner)(index, &mut rng);
            conns.push(ConnRecord {
                plan,
                fired: None,
                ended: false,
            });
            index
        };
        shared.stats.active.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        tokio::spawn(async move {
            relay(index, client, &shared).await;
            shared.conns()[index].ended = true;
            shared.stats.active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// How one direction's pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The sender closed; the FIN was forwarded.
    Eof,
    /// A read or write failed (a peer reset or vanished).
    Broken,
    /// A stall fault: this direction forwards nothing more, no FIN.
    Stalled,
    /// A half-close fault: FIN forwarded mid-frame.
    HalfClosed,
    /// A reset fault.
    Reset,
}

async fn relay(index: usize, client: TcpStream, shared: &Shared) {
    let Ok(server) = TcpStream::connect(shared.target).await else {
        return; // the client sees its connection closed
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let plan = shared.conns()[index].plan;
    let rng = Rng::new(shared.seed).fork(index as u64);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let fault_in = |d| plan.fault.filter(|f: &Fault| f.direction == d);
    let reset = {
        let mut up = std::pin::pin!(pump(
            index,
            Direction::Up,
            &mut cr,
            &mut sw,
            plan.shaping,
            fault_in(Direction::Up),
            rng.fork(1),
            shared,
        ));
        let mut down = std::pin::pin!(pump(
            index,
            Direction::Down,
            &mut sr,
            &mut cw,
            plan.shaping,
            fault_in(Direction::Down),
            rng.fork(2),
            shared,
        ));
        let (mut up_end, mut down_end) = (None, None);
        loop {
            tokio::select! {
                e = &mut up, if up_end.is_none() => up_end = Some(e),
                e = &mut down, if down_end.is_none() => down_end = Some(e),
            }
            if let Some(reset) = relay_over(up_end, down_end) {
                break reset;
            }
        }
    };
    if reset {
        // SO_LINGER 0, then close: each peer gets a RST (a broken side is
        // passed on the same way, as a middlebox would). Reunited first: a
        // dropped write half would send a FIN ahead of the RST.
        for (r, w) in [(cr, cw), (sr, sw)] {
            if let Ok(stream) = r.reunite(w) {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
        }
    }
    // Otherwise dropping the halves closes both sockets normally.
}

/// Whether the relay is over, given how each direction ended so far, and if
/// so whether it ends with a reset.
fn relay_over(up: Option<End>, down: Option<End>) -> Option<bool> {
    let ends = [up, down];
    if ends
        .iter()
        .any(|e| matches!(e, Some(End::Reset | End::Broken)))
    {
        return Some(true);
    }
    // Over once neither direction can carry anything more (a stalled one
    // never will); one that ended leaves the other flowing (half-close).
    (up.is_some() && down.is_some()).then_some(false)
}

/// One direction: read from `from`, write to `to` in shaped pieces, until
/// the sender ends, a socket fails or the fault fires.
#[allow(clippy::too_many_arguments)]
async fn pump(
    index: usize,
    dir: Direction,
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shaping: Shaping,
    fault: Option<Fault>,
    mut rng: Rng,
    shared: &Shared,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    let mut cut = Cut {
        fault,
        at: fault.map(|f| f.after),
        forwarded: 0,
        frames: FrameTracker::default(),
    };
    // Piece sizes carry over reads, so the drawn boundaries do not depend
    // on how the kernel chunked the stream.
    let mut piece_left = 0usize;
    let counter = match dir {
        Direction::Up => &shared.stats.bytes_up,
        Direction::Down => &shared.stats.bytes_down,
    };
    loop {
        if let Some(end) = cut.check(index, to, shared).await {
            return end;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Broken,
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            // Bytes past a fault are never forwarded: a reset or
            // half-close loses them, a stall holds them.
            if let Some(end) = cut.check(index, to, shared).await {
                return end;
            }
            if piece_left == 0 {
                piece_left = shaping.piece(&mut rng);
            }
            let len = piece_left.min(data.len()).min(cut.room());
            if to.write_all(&data[..len]).await.is_err() {
                return End::Broken;
            }
            cut.frames.advance(&data[..len]);
            cut.forwarded += len as u64;
            piece_left -= len;
            data = &data[len..];
            counter.fetch_add(len as u64, Ordering::Relaxed);
            shared.stats.pieces.fetch_add(1, Ordering::Relaxed);
            if len == 1 {
                shared.stats.single_bytes.fetch_add(1, Ordering::Relaxed);
            }
            if piece_left == 0 {
                if let Some(d) = shaping.delay(&mut rng) {
                    shared.stats.delays.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

/// Where one direction's fault cuts the stream.
struct Cut {
    fault: Option<Fault>,
    /// Fire once this many bytes are forwarded.
    at: Option<u64>,
    forwarded: u64,
    frames: FrameTracker,
}

impl Cut {
    /// Bytes that may still go before the cut.
    fn room(&self) -> usize {
        self.at.map_or(usize::MAX, |at| {
            usize::try_from(at.saturating_sub(self.forwarded)).unwrap_or(usize::MAX)
        })
    }

    /// At the cut: fires the fault, or first moves the cut one byte on when
    /// a reset or half-close would fall on a frame boundary.
    async fn check(
        &mut self,
        index: usize,
        to: &mut OwnedWriteHalf,
        shared: &Shared,
    ) -> Option<End> {
        let (f, at) = (self.fault?, self.at?);
        if self.forwarded < at {
            return None;
        }
        if f.kind != FaultKind::Stall && self.frames.at_boundary() {
            self.at = Some(self.forwarded + 1);
            return None;
        }
        shared.conns()[index].fired = Some(Fired {
            at: Instant::now(),
            after: self.forwarded,
            mid_frame: !self.frames.at_boundary(),
        });
        Some(match f.kind {
            FaultKind::Stall => End::Stalled,
            FaultKind::Reset => End::Reset,
            FaultKind::HalfClose => {
                let _ = to.shutdown().await;
                End::HalfClosed
            }
        })
    }
}

/// Follows SLOW framing over a byte stream, to know whether a position is
/// a frame boundary.
#[derive(Debug, Default)]
struct FrameTracker {
    /// Header bytes seen of the current frame (0 at a boundary).
    header: usize,
    /// The length field being read.
    length: u64,
    /// Payload bytes still to come.
    left: u64,
}

impl FrameTracker {
    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let k = self.left.min(bytes.len() as u64);
                self.left -= k;
                bytes = &bytes[k as usize..];
                continue;
            }
            if self.header < 4 {
                self.length = self.length << 8 | u64::from(bytes[0]);
            }
            self.header += 1;
            bytes = &bytes[1..];
            if self.header == HEADER_LEN {
                self.left = self.length;
                self.header = 0;
                self.length = 0;
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.header == 0 && self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener as StdListener;

    /// A std echo server: echoes until end of stream; reports every byte
    /// it received and how its read side ended.
    /// Every byte one connection received, and how its read side ended.
    type Received = std::sync::mpsc::Receiver<(Vec<u8>, io::Result<()>)>;

    fn echo_server() -> (SocketAddr, Received) {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let tx = tx.clone();
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut got = Vec::new();
                    let mut buf = [0u8; 8192];
                    let end = loop {
                        match s.read(&mut buf) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                got.extend_from_slice(&buf[..n]);
                                if let Err(e) = s.write_all(&buf[..n]) {
                                    break Err(e);
                                }
                            }
                            Err(e) => break Err(e),
                        }
                    };
                    let _ = tx.send((got, end));
                });
            }
        });
        (addr, rx)
    }

    fn frames(n: usize, body: usize) -> Vec<u8> {
        let mut rng = Rng::new(3);
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(crate::raw::raw_frame(
                0x03,
                0,
                i as u32 + 1,
                &rng.bytes(body),
            ));
        }
        out
    }

    fn read_until_end(s: &mut std::net::TcpStream, limit: Duration) -> (Vec<u8>, io::Result<()>) {
        s.set_read_timeout(Some(limit)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
    }

    #[test]
    fn shaped_bytes_arrive_whole_and_in_order() {
        let (addr, _) = echo_server();
        let proxy = Proxy::start(addr, 1, |_, _| Plan::clean(Shaping::CHAOTIC)).unwrap();
        let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
        let data = Rng::new(9).bytes(200_000);
        let writer = {
            let mut s = s.try_clone().unwrap();
            let data = data.clone();
            std::thread::spawn(move || {
                s.write_all(&data).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let (got, end) = read_until_end(&mut s, Duration::from_secs(20));
        writer.join().unwrap();
        end.unwrap();
        assert_eq!(got, data);
        let st = proxy.stats();
        assert!(st.pieces.load(Ordering::Relaxed) > 100, "{st:?}");
        assert!(st.single_bytes.load(Ordering::Relaxed) > 5, "{st:?}");
        assert!(st.delays.load(Ordering::Relaxed) > 0, "{st:?}");
        assert!(proxy.wait_idle(Duration::from_secs(5)));
    }

    #[test]
    fn reset_cuts_mid_frame_and_resets_both_sides() {
        let (addr, server_end) = echo_server();
        let fault = Fault {
            kind: FaultKind::Reset,
            direction: Direction::Up,
            after: 3 * (HEADER_LEN as u64 + 100), // a frame boundary: moved in
        };
        let proxy = Proxy::start(addr, 2, move |_, _| Plan {
            shaping: Shaping::NONE,
            fault: Some(fault),
        })
        .unwrap();
        let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
        let _ = s.write_all(&frames(10, 100));
        let (_, end) = read_until_end(&mut s, Duration::from_secs(10));
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let (got, end) = server_end.recv_timeout(Duration::from_secs(10)).unwrap();
        // Reset while reading, or while writing the echo back.
        let kind = end.unwrap_err().kind();
        assert!(
            matches!(
                kind,
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{kind:?}"
        );
        assert_eq!(got.len(), 331, "cut one byte into the fourth frame");
        let fired = proxy.connection(0).unwrap().fired.unwrap();
        assert!(fired.mid_frame);
        assert_eq!(fired.after, 331);
    }

    #[test]
    fn half_close_delivers_a_prefix_then_end_of_stream() {
        let (addr, server_end) = echo_server();
        let proxy = Proxy::start(addr, 3, |_, _| Plan {
            shaping: Shaping::CHAOTIC,
            fault: Some(Fault {
                kind: FaultKind::HalfClose,
                direction: Direction::Up,
                after: 555,
            }),
        })
        .unwrap();
        let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
        let data = frames(20, 100);
        s.write_all(&data).unwrap();
        let (got, end) = server_end.recv_timeout(Duration::from_secs(10)).unwrap();
        end.unwrap();
        assert_eq!(got, data[..555]);
        // The echo of the prefix still comes back down, then the server's FIN.
        let (back, end) = read_until_end(&mut s, Duration::from_secs(10));
        end.unwrap();
        assert_eq!(back, data[..555]);
        assert!(proxy.connection(0).unwrap().fired.unwrap().mid_frame);
    }

    #[test]
    fn stall_holds_one_direction_only() {
        let (addr, server_end) = echo_server();
        let proxy = Proxy::start(addr, 4, |_, _| Plan {
            shaping: Shaping::NONE,
            fault: Some(Fault {
                kind: FaultKind::Stall,
                direction: Direction::Down,
                after: 7,
            }),
        })
        .unwrap();
        let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
        s.write_all(&[5u8; 100]).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [5u8; 7], "only the bytes before the stall come down");
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let (up, end) = server_end.recv_timeout(Duration::from_secs(10)).unwrap();
        end.unwrap();
        assert_eq!(up.len(), 100, "the other direction kept flowing");
        assert!(proxy.wait_idle(Duration::from_secs(5)));
    }

    #[test]
    fn plans_and_cuts_replay_from_the_seed() {
        let planner = |i: usize, rng: &mut Rng| Plan {
            shaping: Shaping::CHAOTIC,
            fault: Some(Fault {
                kind: *rng.pick(&[FaultKind::Reset, FaultKind::HalfClose]),
                direction: Direction::Up,
                after: rng.range(20, 3000) + i as u64,
            }),
        };
        let run = || {
            let (addr, server_end) = echo_server();
            let proxy = Proxy::start(addr, 77, planner).unwrap();
            let mut cuts = Vec::new();
            for _ in 0..3 {
                let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
                let _ = s.write_all(&frames(40, 90));
                let (got, _) = server_end.recv_timeout(Duration::from_secs(10)).unwrap();
                cuts.push(got.len());
            }
            let plans: Vec<Plan> = proxy.connections().iter().map(|c| c.plan).collect();
            (plans, cuts)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn frame_tracker_finds_boundaries() {
        let mut t = FrameTracker::default();
        let f = crate::raw::raw_frame(0x07, 0, 0, b"abc");
        assert!(t.at_boundary());
        t.advance(&f[..5]);
        assert!(!t.at_boundary());
        t.advance(&f[5..12]);
        assert!(!t.at_boundary());
        t.advance(&f[12..]);
        assert!(t.at_boundary());
    }
}
