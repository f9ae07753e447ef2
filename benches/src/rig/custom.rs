//! `slow-custom-example`: a hand-written mio loop, no async runtime. Its
//! server (the INTEROP service, which echoes bodies that are not
//! commands) runs on its own thread; its completion-queue client runs
//! on the bench thread, only while a benchmark runs it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use slow_custom_example::{ClientLoop, Completion, ConnId, Server, ServerThread};

use super::{Bench, Scenario, config, share};

/// The custom loop's server on its own thread; stops (gracefully) when
/// dropped.
pub fn server() -> (SocketAddr, ServerThread) {
    let server = Server::bind("127.0.0.1:0".parse().expect("addr"), config())
        .expect("bind")
        .spawn()
        .expect("server thread");
    (server.local_addr(), server)
}

/// Connects once more and runs the loop until the handshake is done.
pub fn connect(client: &mut ClientLoop, addr: SocketAddr) -> ConnId {
    let conn = client.connect(addr, config()).expect("connect");
    loop {
        match client.next_completion(Some(Duration::from_secs(10))) {
            Ok(Some(Completion::Connected { conn: c, .. })) if c == conn => return conn,
            Ok(Some(Completion::Closed { error, .. })) => panic!("closed: {error:?}"),
            Ok(Some(_)) => {}
            other => panic!("no handshake: {other:?}"),
        }
    }
}

struct Rig {
    // Dropped first: the sockets close, so the server has nothing to drain.
    client: ClientLoop,
    conns: Vec<ConnId>,
    scenario: Scenario,
    _server: ServerThread,
}

/// Sets up the custom loop for `scenario`.
pub fn start(scenario: Scenario) -> Box<dyn Bench> {
    let (addr, server) = server();
    let mut client = ClientLoop::new().expect("client loop");
    let conns = (0..scenario.conns)
        .map(|_| connect(&mut client, addr))
        .collect();
    Box::new(Rig {
        client,
        conns,
        scenario,
        _server: server,
    })
}

impl Rig {
    fn next_response(&mut self) -> (ConnId, usize) {
        match self.client.next_completion(None).expect("loop") {
            Some(Completion::Response { conn, body, .. }) => (conn, body.len()),
            Some(other) => panic!("unexpected completion {other:?}"),
            None => panic!("loop ended"),
        }
    }
}

impl Bench for Rig {
    fn run(&mut self, iters: u64, latencies: &mut Vec<u64>) -> Duration {
        let body = crate::body(self.scenario.body);
        let len = body.len();
        let workers = self.scenario.in_flight();
        let start = Instant::now();
        if workers == 1 {
            latencies.reserve(iters as usize);
            for _ in 0..iters {
                let t = Instant::now();
                self.client
                    .request(self.conns[0], body.clone(), None)
                    .expect("request");
                assert_eq!(self.next_response().1, len);
                latencies.push(t.elapsed().as_nanos() as u64);
            }
            return start.elapsed();
        }
        // Each "worker" is a slot on a connection that sends its next
        // request when its response arrives, like the async workers.
        let mut sent = 0;
        for w in 0..workers {
            if share(iters, workers, w) > 0 {
                let conn = self.conns[w % self.conns.len()];
                self.client
                    .request(conn, body.clone(), None)
                    .expect("request");
                sent += 1;
            }
        }
        let mut done = 0;
        while done < sent {
            let (conn, n) = self.next_response();
            assert_eq!(n, len);
            done += 1;
            if sent < iters {
                self.client
                    .request(conn, body.clone(), None)
                    .expect("request");
                sent += 1;
            }
        }
        start.elapsed()
    }
}
