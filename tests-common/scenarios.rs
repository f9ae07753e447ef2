// The adapters' own tests: one scenario source, compiled against every
// adapter, so that an adapter whose API drifts from the others fails to
// compile here.
//
// Each adapter's `tests/scenarios.rs` provides, then `include!`s this file:
//
//     use slow_xxx as rt;                       // the adapter crate
//     type RtRuntime = slow_xxx::Xxx;           // its runtime type
//     fn rt_block_on(f: impl Future<Output = ()>);                 // runs one test
//     fn rt_spawn(f: impl Future<Output = ()> + Send + 'static);   // detached task
//     fn rt_sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static; // or async fn
//
// Every scenario is bounded: the whole of it by `LIMIT`, every wait inside it
// by `WAIT`; there are no timing assertions beyond those generous bounds.
// Raw peers (a client that never cancels, a server that dies mid-request)
// speak hand-encoded frames over the adapter's own `slow_driver::runtime`
// sockets, independently of the protocol core.

macro_rules! scenario_tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                scenario::run(stringify!($name), scenario::$name());
            }
        )*
    };
}

scenario_tests! {
    // 1. echo
    echo,
    // 2. 1 MiB both ways
    one_mib_bodies_both_ways,
    // 3. 1,000 concurrent requests from 50 tasks on one cloned client
    thousand_concurrent_requests_from_fifty_tasks,
    // 4. deadlines
    deadline_client_side_times_out,
    deadline_server_side_deadline_exceeded,
    // 5. cancel by drop
    cancel_by_drop_stops_the_handler,
    // 6. notifications both ways
    notifications_both_ways,
    notifications_reach_the_handler_in_order,
    // 7. graceful shutdown with requests in flight
    graceful_shutdown_finishes_in_flight_requests,
    // 8. server killed mid-request
    server_killed_mid_request_is_connection_lost,
    server_killed_mid_response_is_connection_lost,
    // 9. max connections
    max_connections_refuses_the_second_client,
    accept_out_of_descriptors_does_not_stall_the_server,
    // timers of the adapters: handshake, keepalive, idle
    handshake_timeout_with_a_silent_server,
    keepalive_timeout_with_a_server_that_stops_answering,
    idle_timeout_closes_gracefully,
    // 10. typed errors
    errors_server_error_is_typed,
    errors_too_large_request_is_refused_locally,
    errors_requests_after_close_are_not_processed,
    errors_handler_panic_is_answered,
    // 11. the INTEROP service
    interop_sleep,
    interop_error,
    interop_notify,
    interop_notify_too_large_for_client_frame_size,
    interop_notification_echo,
    interop_bytes_split_into_small_frames,
    interop_bytes_beyond_client_message_size,
    interop_close_drains_then_closes,
    interop_unknown_and_bad_commands,
}

mod scenario {
    use std::future::{Future, poll_fn};
    use std::io::IoSlice;
    use std::net::SocketAddr;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::pin::{Pin, pin};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    use std::time::{Duration, Instant};

    use bytes::{BufMut, Bytes, BytesMut};
    use slow_driver::runtime::{Listener, Runtime, Stream};

    use super::{RtRuntime, rt, rt_block_on, rt_sleep, rt_spawn};
    use rt::{
        Client, Config, Error, ErrorCode, ErrorReply, Handler, InteropService, Notifications, Peer,
        Reply, Request, Server, Settings,
    };

    /// No scenario may take longer than this, whatever goes wrong.
    const LIMIT: Duration = Duration::from_secs(60);
    /// No single wait inside a scenario may take longer than this.
    const WAIT: Duration = Duration::from_secs(10);
    /// The application error code the service uses for bad commands.
    const COMMAND_ERROR: ErrorCode = ErrorCode(0x0100);

    pub(super) fn run(name: &str, scenario: impl Future<Output = ()>) {
        rt_block_on(async move {
            if within(LIMIT, scenario).await.is_none() {
                panic!("scenario {name} did not finish within {LIMIT:?}");
            }
        })
    }

    // ---- small runtime-neutral tools ------------------------------------

    /// `Ok` with `a`'s output if it finishes first, else `Err` with `b`'s.
    async fn race<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
        let (mut a, mut b) = (pin!(a), pin!(b));
        poll_fn(|cx| {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            b.as_mut().poll(cx).map(Err)
        })
        .await
    }

    /// `f`'s output, or `None` if `d` passes first (`f` is then dropped).
    async fn within<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        race(f, rt_sleep(d)).await.ok()
    }

    /// `f`'s output; panics (naming `what`) if it takes longer than `WAIT`.
    async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
        match within(WAIT, f).await {
            Some(v) => v,
            None => panic!("{what}: nothing within {WAIT:?}"),
        }
    }

    /// Polls `cond` until it holds; panics (naming `what`) after `WAIT`.
    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            rt_sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs every future concurrently in this task; outputs in order.
    async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
        let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
        poll_fn(|cx| {
            let mut pending = false;
            for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
                if out.is_none() {
                    match f.as_mut().poll(cx) {
                        Poll::Ready(v) => *out = Some(v),
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        outputs
            .into_iter()
            .map(|o| o.expect("every future finished"))
            .collect()
    }

    /// Runs `a` and `b` concurrently in this task, `a` polled first.
    async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
        let (mut a, mut b) = (pin!(a), pin!(b));
        let (mut out_a, mut out_b) = (None, None);
        poll_fn(|cx| {
            if out_a.is_none() {
                if let Poll::Ready(v) = a.as_mut().poll(cx) {
                    out_a = Some(v);
                }
            }
            if out_b.is_none() {
                if let Poll::Ready(v) = b.as_mut().poll(cx) {
                    out_b = Some(v);
                }
            }
            if out_a.is_some() && out_b.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        (out_a.unwrap(), out_b.unwrap())
    }

    /// A one-way signal any number of tasks can wait for.
    #[derive(Clone, Default)]
    struct Trigger(Arc<Mutex<(bool, Vec<Waker>)>>);

    impl Trigger {
        fn fire(&self) {
            let wakers = {
                let mut s = self.0.lock().unwrap();
                s.0 = true;
                std::mem::take(&mut s.1)
            };
            wakers.into_iter().for_each(Waker::wake);
        }

        async fn wait(self) {
            poll_fn(|cx| {
                let mut s = self.0.lock().unwrap();
                if s.0 {
                    return Poll::Ready(());
                }
                if !s.1.iter().any(|w| w.will_wake(cx.waker())) {
                    s.1.push(cx.waker().clone());
                }
                Poll::Pending
            })
            .await
        }
    }

    type Slot<T> = Arc<Mutex<(Option<std::thread::Result<T>>, Option<Waker>)>>;

    /// A spawned task's output (dropping it detaches the task).
    struct Join<T>(Slot<T>);

    /// Spawns `f` with `rt_spawn`; a panic in it resurfaces in `join`.
    fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Join<T> {
        let slot: Slot<T> = Arc::new(Mutex::new((None, None)));
        let theirs = slot.clone();
        rt_spawn(async move {
            let mut f = pin!(f);
            let out = poll_fn(
                |cx| match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                    Err(panic) => Poll::Ready(Err(panic)),
                },
            )
            .await;
            let waker = {
                let mut s = theirs.lock().unwrap();
                s.0 = Some(out);
                s.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        Join(slot)
    }

    impl<T> Join<T> {
        async fn join(self) -> T {
            let out = poll_fn(|cx| {
                let mut s = self.0.lock().unwrap();
                match s.0.take() {
                    Some(out) => Poll::Ready(out),
                    None => {
                        s.1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await;
            out.unwrap_or_else(|panic| resume_unwind(panic))
        }
    }

    /// Counts handlers started, and handlers stopped (their future dropped,
    /// whether they finished or were aborted).
    #[derive(Clone, Default)]
    struct Probe {
        started: Arc<AtomicUsize>,
        stopped: Arc<AtomicUsize>,
        saw_deadline: Arc<AtomicBool>,
    }

    struct Stopped(Arc<AtomicUsize>);

    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    impl Probe {
        fn enter(&self, request: &Request) -> Stopped {
            if request.deadline.is_some() {
                self.saw_deadline.store(true, SeqCst);
            }
            self.started.fetch_add(1, SeqCst);
            Stopped(self.stopped.clone())
        }

        fn started(&self) -> usize {
            self.started.load(SeqCst)
        }

        fn stopped(&self) -> usize {
            self.stopped.load(SeqCst)
        }
    }

    /// A handler that never answers `hang` (until stopped from outside) and
    /// echoes anything else.
    fn hanging(probe: &Probe) -> impl Handler + use<> {
        let probe = probe.clone();
        move |req: Request| {
            let probe = probe.clone();
            async move {
                if req.body == "hang" {
                    let _stopped = probe.enter(&req);
                    std::future::pending::<()>().await;
                }
                Ok(req.body)
            }
        }
    }

    /// The `!bytes N` pattern: byte i is i mod 251.
    fn pattern(n: usize) -> Bytes {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    fn assert_pattern(body: &[u8], n: usize) {
        assert_eq!(body.len(), n);
        if let Some(i) = (0..n).find(|&i| body[i] != (i % 251) as u8) {
            panic!("byte {i} is {}, not {}", body[i], i % 251);
        }
    }

    fn small_client_config(max_frame_size: u32, max_message_size: u32) -> Config {
        Config {
            settings: Settings {
                max_frame_size,
                max_message_size,
                ..Settings::default()
            },
            ..Config::default()
        }
    }

    // ---- a served server, shut down when dropped ------------------------

    struct Running {
        addr: SocketAddr,
        stop: Trigger,
        done: Option<Join<Result<(), Error>>>,
    }

    impl Running {
        async fn start(handler: impl Handler) -> Running {
            Running::start_with(handler, Config::default(), None).await
        }

        async fn start_with(
            handler: impl Handler,
            config: Config,
            max_connections: Option<usize>,
        ) -> Running {
            let mut server: Server = Server::bind_with("127.0.0.1:0", config)
                .await
                .expect("bind");
            if let Some(n) = max_connections {
                server = server.max_connections(n);
            }
            let addr = server.local_addr().expect("local_addr");
            let stop = Trigger::default();
            let signal = stop.clone().wait();
            let done = spawn(server.serve_with_shutdown(handler, signal));
            Running {
                addr,
                stop,
                done: Some(done),
            }
        }

        async fn interop() -> Running {
            Running::start(InteropService::current().expect("runtime")).await
        }

        async fn client(&self) -> Client {
            bounded("connect", Client::connect(self.addr))
                .await
                .expect("connect")
        }

        async fn client_with(&self, config: Config) -> Client {
            bounded("connect", Client::connect_with(self.addr, config))
                .await
                .expect("connect")
        }

        /// Fires the shutdown signal and waits for `serve` to return.
        async fn shutdown(mut self) -> Result<(), Error> {
            self.stop.fire();
            bounded("serve to return", self.done.take().expect("running").join()).await
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            // Shuts down in the background (the runtime may outlive the test).
            self.stop.fire();
        }
    }

    // ---- raw frames, for peers that misbehave on purpose -----------------

    const HELLO: u8 = 0x01;
    const WELCOME: u8 = 0x02;
    const REQUEST: u8 = 0x03;
    const RESPONSE: u8 = 0x04;
    const ERROR: u8 = 0x05;
    const DEADLINE: u8 = 0x02;

    struct RawFrame {
        ty: u8,
        id: u32,
        payload: Bytes,
    }

    fn frame(ty: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + payload.len());
        out.put_u32(payload.len() as u32);
        out.put_u8(ty);
        out.put_u8(flags);
        out.put_u32(id);
        out.put_slice(payload);
        out
    }

    /// A peer over the adapter's own socket type, writing and reading
    /// hand-encoded frames.
    struct Raw {
        stream: <RtRuntime as Runtime>::Stream,
        buf: BytesMut,
    }

    impl Raw {
        async fn connect(addr: SocketAddr) -> Raw {
            let runtime = RtRuntime::current().expect("runtime");
            let stream = bounded("raw connect", runtime.connect(addr))
                .await
                .expect("raw connect");
            Raw {
                stream,
                buf: BytesMut::new(),
            }
        }

        async fn write(&mut self, bytes: &[u8]) {
            let mut at = 0;
            while at < bytes.len() {
                let n = poll_fn(|cx| {
                    self.stream
                        .poll_write_vectored(cx, &[IoSlice::new(&bytes[at..])])
                })
                .await
                .expect("raw write");
                assert!(n > 0, "raw write wrote nothing");
                at += n;
            }
        }

        /// The next frame; `None` at end of stream.
        async fn read(&mut self) -> Option<RawFrame> {
            loop {
                if self.buf.len() >= 10 {
                    let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                    if self.buf.len() >= 10 + len {
                        let head = self.buf.split_to(10);
                        let payload = self.buf.split_to(len).freeze();
                        let id = u32::from_be_bytes(head[6..10].try_into().unwrap());
                        return Some(RawFrame {
                            ty: head[4],
                            id,
                            payload,
                        });
                    }
                }
                self.buf.reserve(64 * 1024);
                let n = bounded(
                    "raw read",
                    poll_fn(|cx| self.stream.poll_read_buf(cx, &mut self.buf)),
                )
                .await
                .ok()?;
                if n == 0 {
                    return None;
                }
            }
        }

        /// The next frame of type `ty`, skipping others (PING, NOTIFY, ...).
        async fn read_type(&mut self, ty: u8) -> RawFrame {
            loop {
                let f = self
                    .read()
                    .await
                    .expect("stream ended before the expected frame");
                if f.ty == ty {
                    return f;
                }
            }
        }

        /// Client side of the handshake.
        async fn hello(&mut self) {
            self.write(&frame(HELLO, 0, 0, b"SLOW\x01")).await;
            self.read_type(WELCOME).await;
        }

        /// Server side of the handshake.
        async fn welcome(&mut self) {
            let hello = self.read().await.expect("HELLO");
            assert_eq!(hello.ty, HELLO);
            self.write(&frame(WELCOME, 0, 0, b"SLOW\x01")).await;
        }
    }

    /// A listener that is no SLOW server: `serve` gets each accepted socket.
    async fn raw_server<F, Fut>(serve: F) -> (SocketAddr, Join<()>)
    where
        F: FnOnce(Raw) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let runtime = RtRuntime::current().expect("runtime");
        let mut listener = runtime
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .expect("raw bind");
        let addr = listener.local_addr().expect("raw local_addr");
        let task = spawn(async move {
            let (stream, _) = poll_fn(|cx| listener.poll_accept(cx))
                .await
                .expect("raw accept");
            serve(Raw {
                stream,
                buf: BytesMut::new(),
            })
            .await;
            // The listener and the socket are dropped here: the server "dies".
        });
        (addr, task)
    }

    // ---- 1. echo ----------------------------------------------------------

    pub(super) async fn echo() {
        let server = Running::interop().await;
        let client = server.client().await;
        assert_eq!(client.request("hello").await.unwrap(), "hello");
        assert_eq!(client.request(Bytes::new()).await.unwrap(), "");
        let binary: Vec<u8> = (0..=255).collect();
        assert_eq!(client.request(binary.clone()).await.unwrap(), binary);
        assert_eq!(client.peer_settings(), Settings::default());
        assert!(!client.is_closed());

        // A handler of our own sees who asks.
        let server = Running::start(|req: Request| async move {
            let peer: Peer = req.peer.clone();
            Ok(Bytes::from(format!(
                "{} from {}",
                String::from_utf8_lossy(&req.body),
                peer.addr().ip()
            )))
        })
        .await;
        let client = server.client().await;
        assert_eq!(client.request("hi").await.unwrap(), "hi from 127.0.0.1");
        client.close().await.unwrap();
    }

    // ---- 2. 1 MiB both ways -----------------------------------------------

    pub(super) async fn one_mib_bodies_both_ways() {
        const MIB: usize = 1 << 20;
        let server = Running::interop().await;
        let client = server.client().await;
        let body = pattern(MIB);
        let back = client.request(body.clone()).await.unwrap();
        assert_pattern(&back, MIB);
        let got = client.request(format!("!bytes {MIB}")).await.unwrap();
        assert_pattern(&got, MIB);
        // Both at once, on one connection.
        let command = Bytes::from(format!("!bytes {MIB}"));
        for got in join_all([client.request(body), client.request(command)]).await {
            assert_pattern(&got.unwrap(), MIB);
        }
    }

    // ---- 3. 1,000 concurrent requests from 50 tasks -------------------------

    pub(super) async fn thousand_concurrent_requests_from_fifty_tasks() {
        let server = Running::interop().await;
        let client = server.client().await;
        let tasks: Vec<Join<usize>> = (0..50)
            .map(|t| {
                let client = client.clone();
                spawn(async move {
                    let requests = (0..20).map(|i| {
                        let client = &client;
                        async move {
                            let body = format!("task {t} request {i}");
                            let got = client.request(body.clone()).await.expect("request");
                            assert_eq!(got, body);
                        }
                    });
                    join_all(requests).await.len()
                })
            })
            .collect();
        let mut answered = 0;
        for task in tasks {
            answered += bounded("a task's requests", task.join()).await;
        }
        assert_eq!(answered, 1000);
        assert_eq!(client.request("still fine").await.unwrap(), "still fine");
    }

    // ---- 4. deadlines -------------------------------------------------------

    pub(super) async fn deadline_client_side_times_out() {
        let probe = Probe::default();
        let server = Running::start(hanging(&probe)).await;
        let client = server.client().await;
        let started = Instant::now();
        let outcome = client
            .request_timeout("hang", Duration::from_millis(200))
            .await;
        assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
        assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());
        // The server was told too (CANCEL or its own DEADLINE): the handler stopped.
        wait_until("the handler to be stopped", || probe.stopped() == 1).await;
        assert!(
            probe.saw_deadline.load(SeqCst),
            "the handler saw no deadline"
        );

        // Through the interop service's own timer as well.
        let server = Running::interop().await;
        let client = server.client().await;
        let outcome = client
            .request_timeout("!sleep 100000", Duration::from_millis(100))
            .await;
        assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
        // A deadline long enough is no deadline at all.
        let ok = client
            .request_timeout("!sleep 10", Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(ok, "slept 10");
    }

    pub(super) async fn deadline_server_side_deadline_exceeded() {
        // A raw client sends a DEADLINE and never cancels: what comes back is
        // the server's own ERROR DEADLINE_EXCEEDED.
        let probe = Probe::default();
        let server = Running::start(hanging(&probe)).await;
        let mut raw = Raw::connect(server.addr).await;
        raw.hello().await;
        let mut payload = 200u32.to_be_bytes().to_vec();
        payload.extend_from_slice(b"hang");
        raw.write(&frame(REQUEST, DEADLINE, 1, &payload)).await;
        let error = raw.read_type(ERROR).await;
        assert_eq!(error.id, 1);
        let code = u16::from_be_bytes([error.payload[0], error.payload[1]]);
        assert_eq!(ErrorCode(code), ErrorCode::DEADLINE_EXCEEDED);
        wait_until("the handler to be stopped", || probe.stopped() == 1).await;
        assert!(
            probe.saw_deadline.load(SeqCst),
            "the handler saw no deadline"
        );

        // timeout_ms 0: already expired.
        let mut payload = 0u32.to_be_bytes().to_vec();
        payload.extend_from_slice(b"hang");
        raw.write(&frame(REQUEST, DEADLINE, 2, &payload)).await;
        let error = raw.read_type(ERROR).await;
        assert_eq!(error.id, 2);
        assert_eq!(
            ErrorCode(u16::from_be_bytes([error.payload[0], error.payload[1]])),
            ErrorCode::DEADLINE_EXCEEDED
        );

        // The connection is still up.
        raw.write(&frame(REQUEST, 0, 3, b"still here")).await;
        let response = raw.read_type(RESPONSE).await;
        assert_eq!(
            (response.id, &response.payload[..]),
            (3, &b"still here"[..])
        );
        wait_until("every hanging handler to be stopped", || {
            probe.stopped() == probe.started()
        })
        .await;
    }

    // ---- 5. cancel by drop ----------------------------------------------------

    pub(super) async fn cancel_by_drop_stops_the_handler() {
        let probe = Probe::default();
        let server = Running::start(hanging(&probe)).await;
        let client = server.client().await;
        for round in 1..=3 {
            // Poll the request until its handler runs, then drop it.
            let request = client.request("hang");
            let started = async {
                wait_until("the handler to start", || probe.started() == round).await;
            };
            assert!(
                race(request, started).await.is_err(),
                "a hanging request was answered"
            );
            wait_until("the handler to be stopped", || probe.stopped() == round).await;
        }
        // The connection is unharmed.
        assert_eq!(client.request("after").await.unwrap(), "after");

        // Many at once, from other tasks, all dropped once all run.
        let tasks: Vec<Join<()>> = (0..10)
            .map(|_| {
                let (client, probe) = (client.clone(), probe.clone());
                spawn(async move {
                    let all_started = wait_until("13 handlers to start", || probe.started() == 13);
                    assert!(race(client.request("hang"), all_started).await.is_err());
                })
            })
            .collect();
        for task in tasks {
            bounded("a dropping task", task.join()).await;
        }
        wait_until("all 13 handlers to be stopped", || probe.stopped() == 13).await;
        assert_eq!(probe.started(), 13);
        assert_eq!(client.request("after").await.unwrap(), "after");
    }

    // ---- 6. notifications both ways --------------------------------------------

    /// Records client notifications; `push a b c` notifies a, b and c back
    /// before answering. Keeps the peers it saw.
    #[derive(Clone, Default)]
    struct Notifier {
        got: Arc<Mutex<Vec<Bytes>>>,
        peers: Arc<Mutex<Vec<Peer>>>,
    }

    impl Handler for Notifier {
        async fn request(&self, request: Request) -> Reply {
            self.peers.lock().unwrap().push(request.peer.clone());
            let body = std::str::from_utf8(&request.body).unwrap_or("");
            let Some(words) = body.strip_prefix("push ") else {
                return Err(ErrorReply::new(ErrorCode(0x0200), "not push"));
            };
            for word in words.split(' ') {
                request
                    .peer
                    .notify(word.to_owned())
                    .map_err(|e| ErrorReply::new(ErrorCode(0x0201), e.to_string()))?;
            }
            Ok(Bytes::from_static(b"pushed"))
        }

        async fn notification(&self, body: Bytes, peer: Peer) {
            assert_eq!(peer.settings(), Settings::default());
            self.got.lock().unwrap().push(body);
        }
    }

    pub(super) async fn notifications_both_ways() {
        let handler = Notifier::default();
        let server = Running::start(handler.clone()).await;
        let client = server.client().await;

        // Client to server.
        client.notify("one").unwrap();
        client.notify("two").unwrap();
        wait_until("the server to get both", || {
            handler.got.lock().unwrap().len() == 2
        })
        .await;
        let mut got = handler.got.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, ["one", "two"]);

        // Server to client, from a handler and from outside one.
        let mut notes: Notifications = client.notifications();
        assert_eq!(client.request("push a b c").await.unwrap(), "pushed");
        for want in ["a", "b", "c"] {
            assert_eq!(bounded("a notification", notes.recv()).await.unwrap(), want);
        }
        let peer = handler.peers.lock().unwrap()[0].clone();
        peer.notify("later").unwrap();
        assert_eq!(
            bounded("a notification", notes.recv()).await.unwrap(),
            "later"
        );
        assert!(matches!(
            peer.notify(vec![0u8; 65_537]),
            Err(Error::TooLarge {
                size: 65_537,
                limit: 65_536
            })
        ));

        // Too large for the server's frames: refused, nothing sent.
        let refused = client.notify(vec![0u8; 65_537]);
        assert!(
            matches!(
                refused,
                Err(Error::TooLarge {
                    size: 65_537,
                    limit: 65_536
                })
            ),
            "{refused:?}"
        );

        // Once the connection is closed, recv ends.
        client.close().await.unwrap();
        assert_eq!(
            bounded("the end of notifications", notes.recv()).await,
            None
        );
        assert_eq!(handler.got.lock().unwrap().len(), 2);
    }

    pub(super) async fn notifications_reach_the_handler_in_order() {
        // NOTIFY frames arrive in order on one stream; the client hands them
        // out in order, and so should the server.
        let handler = Notifier::default();
        let server = Running::start(handler.clone()).await;
        let client = server.client().await;
        let sent: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        for body in &sent {
            client.notify(body.clone()).unwrap();
        }
        wait_until("all 100 notifications", || {
            handler.got.lock().unwrap().len() == 100
        })
        .await;
        assert_eq!(*handler.got.lock().unwrap(), sent);
    }

    // ---- 7. graceful shutdown with requests in flight ---------------------------

    pub(super) async fn graceful_shutdown_finishes_in_flight_requests() {
        let probe = Probe::default();
        let handler = {
            let probe = probe.clone();
            move |req: Request| {
                let probe = probe.clone();
                async move {
                    let _stopped = probe.enter(&req);
                    rt_sleep(Duration::from_millis(500)).await;
                    Ok(req.body)
                }
            }
        };
        let server = Running::start(handler).await;
        let addr = server.addr;
        let client = server.client().await;
        let in_flight: Vec<Join<Result<Bytes, Error>>> = (0..10)
            .map(|i| {
                let client = client.clone();
                spawn(async move { client.request(format!("in flight {i}")).await })
            })
            .collect();
        wait_until("10 handlers to run", || probe.started() == 10).await;

        let done = spawn(server.shutdown());
        // The GOAWAY arrives: the client drains, new requests are refused.
        wait_until("the client to see the GOAWAY", || client.is_closed()).await;
        let late = client.request("late").await;
        assert!(matches!(late, Err(Error::NotProcessed)), "{late:?}");
        assert!(late.unwrap_err().is_retryable());

        for (i, request) in in_flight.into_iter().enumerate() {
            let got = bounded("an in-flight request", request.join()).await;
            assert_eq!(got.unwrap(), format!("in flight {i}"));
        }
        done.join().await.expect("serve returned an error");
        assert_eq!(probe.stopped(), 10);
        let after = client.request("after").await;
        assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
        let refused = bounded("connect after shutdown", Client::connect(addr)).await;
        assert!(refused.is_err(), "a server that returned still accepts");
    }

    // ---- 8. server killed mid-request ----------------------------------------------

    pub(super) async fn server_killed_mid_request_is_connection_lost() {
        let (addr, server) = raw_server(|mut raw| async move {
            raw.welcome().await;
            let mut requests = 0;
            while requests < 3 {
                let f = raw.read().await.expect("a request");
                requests += usize::from(f.ty == REQUEST);
            }
        })
        .await;
        let client = bounded("connect", Client::connect(addr))
            .await
            .expect("connect");
        let calls: Vec<Join<Result<Bytes, Error>>> = (0..3)
            .map(|i| {
                let client = client.clone();
                spawn(async move { client.request(format!("never answered {i}")).await })
            })
            .collect();
        bounded("the raw server to die", server.join()).await;
        for call in calls {
            let outcome = bounded("a caller", call.join()).await;
            assert!(matches!(outcome, Err(Error::ConnectionLost)), "{outcome:?}");
        }
        wait_until("the client to notice", || client.is_closed()).await;
        let after = client.request("after").await;
        assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
    }

    pub(super) async fn server_killed_mid_response_is_connection_lost() {
        let (addr, server) = raw_server(|mut raw| async move {
            raw.welcome().await;
            let request = raw.read_type(REQUEST).await;
            // Half a RESPONSE, then gone.
            let response = frame(RESPONSE, 0, request.id, &[7; 100]);
            raw.write(&response[..30]).await;
        })
        .await;
        let client = bounded("connect", Client::connect(addr))
            .await
            .expect("connect");
        let outcome = bounded(
            "the request",
            client.request_timeout("x", Duration::from_secs(30)),
        )
        .await;
        assert!(matches!(outcome, Err(Error::ConnectionLost)), "{outcome:?}");
        bounded("the raw server", server.join()).await;
    }

    // ---- 9. max connections -----------------------------------------------------

    pub(super) async fn max_connections_refuses_the_second_client() {
        let server = Running::start_with(
            InteropService::current().unwrap(),
            Config::default(),
            Some(1),
        )
        .await;
        let first = server.client().await;
        assert_eq!(first.request("first").await.unwrap(), "first");
        for _ in 0..3 {
            let second = bounded("the second connect", Client::connect(server.addr)).await;
            match second {
                Err(Error::Closed {
                    code: ErrorCode::CONNECTION_LIMIT,
                    ..
                }) => {}
                Err(other) => panic!("wrong error: {other:?}"),
                Ok(_) => panic!("a second connection was accepted"),
            }
            assert_eq!(first.request("still first").await.unwrap(), "still first");
        }
        // Once the first has gone, there is room again.
        first.close().await.unwrap();
        let start = Instant::now();
        let third = loop {
            match bounded("the third connect", Client::connect(server.addr)).await {
                Ok(c) => break c,
                Err(Error::Closed {
                    code: ErrorCode::CONNECTION_LIMIT,
                    ..
                }) if start.elapsed() < WAIT => rt_sleep(Duration::from_millis(20)).await,
                Err(other) => panic!("third connect: {other:?}"),
            }
        };
        assert_eq!(third.request("third").await.unwrap(), "third");
    }

    /// CPU time this process has used, in clock ticks, from an open
    /// `/proc/self/stat` (Linux).
    fn cpu_ticks(file: &mut std::fs::File) -> u64 {
        use std::io::{Read, Seek};
        let mut stat = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut stat).expect("/proc/self/stat");
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub(super) async fn accept_out_of_descriptors_does_not_stall_the_server() {
        const CHILD: &str = "SLOW_SCENARIO_OUT_OF_DESCRIPTORS";
        if std::env::var_os(CHILD).is_none() {
            // Runs itself again in a child process with few descriptors.
            let exe = std::env::current_exe().unwrap();
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
                .arg(exe)
                .args([
                    "--exact",
                    "accept_out_of_descriptors_does_not_stall_the_server",
                    "--include-ignored",
                ])
                .args(["--test-threads", "1", "--nocapture"])
                .env(CHILD, "1")
                .spawn()
                .expect("sh");
            let start = Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if start.elapsed() > LIMIT - WAIT {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    panic!("the child process hung");
                }
                rt_sleep(Duration::from_millis(50)).await;
            };
            assert!(status.success(), "the child failed: {status}");
            return;
        }
        let server = Running::interop().await;
        let client = server.client().await;
        let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
        // Use up every descriptor but one; a raw connection takes that one,
        // so accepting it fails with EMFILE.
        let mut files = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            files.push(f);
        }
        files.pop();
        let _raw = Raw::connect(server.addr).await;
        rt_sleep(Duration::from_millis(100)).await;
        // The connection the server already has is still served...
        let answer = within(Duration::from_secs(5), client.request("still served")).await;
        assert_eq!(
            answer.expect("no answer while accept fails").unwrap(),
            "still served"
        );
        // ... without a core spinning on the failing accept...
        let (ticks, start) = (cpu_ticks(&mut stat), Instant::now());
        rt_sleep(Duration::from_secs(1)).await;
        let used = (cpu_ticks(&mut stat) - ticks) as f64 / 100.0 / start.elapsed().as_secs_f64();
        assert!(used < 0.2, "{:.0}% of a core used while idle", used * 100.0);
        // ... and a shutdown still ends `serve`.
        drop(client);
        let ended = within(Duration::from_secs(5), server.shutdown()).await;
        assert!(
            ended.is_some(),
            "serve did not return after the shutdown signal"
        );
        drop(files);
    }

    // ---- the adapters' timers ------------------------------------------------

    pub(super) async fn handshake_timeout_with_a_silent_server() {
        let (addr, server) = raw_server(|mut raw| async move {
            // Reads the HELLO, never answers; waits for the client to give up.
            while raw.read().await.is_some() {}
        })
        .await;
        let config = Config {
            handshake_timeout: Duration::from_millis(200),
            ..Config::default()
        };
        let outcome = bounded("connect", Client::connect_with(addr, config)).await;
        match outcome {
            Err(Error::Closed {
                code: ErrorCode::HANDSHAKE_TIMEOUT,
                ..
            }) => {}
            Err(other) => panic!("wrong error: {other:?}"),
            Ok(_) => panic!("connected to a server that never said WELCOME"),
        }
        bounded("the raw server to see the end", server.join()).await;
    }

    pub(super) async fn keepalive_timeout_with_a_server_that_stops_answering() {
        let (addr, server) = raw_server(|mut raw| async move {
            raw.welcome().await;
            // From now on: reads everything (PINGs included), answers nothing.
            while raw.read().await.is_some() {}
        })
        .await;
        let config = Config {
            keepalive_interval: Some(Duration::from_millis(100)),
            keepalive_timeout: Duration::from_millis(200),
            ..Config::default()
        };
        let client = bounded("connect", Client::connect_with(addr, config))
            .await
            .unwrap();
        let outcome = bounded("the request", client.request("never answered")).await;
        assert!(
            matches!(
                outcome,
                Err(Error::Closed {
                    code: ErrorCode::KEEPALIVE_TIMEOUT,
                    ..
                })
            ),
            "{outcome:?}"
        );
        assert!(client.is_closed());
        bounded("the raw server to see the end", server.join()).await;
    }

    pub(super) async fn idle_timeout_closes_gracefully() {
        let config = Config {
            settings: Settings {
                idle_timeout_ms: 1000,
                ..Settings::default()
            },
            ..Config::default()
        };
        let server = Running::start_with(InteropService::current().unwrap(), config, None).await;
        let client = server.client().await;
        assert_eq!(client.peer_settings().idle_timeout_ms, 1000);
        // Activity keeps it open longer than the idle timeout (an outstanding
        // request is activity; the gaps between them are short, though an
        // overloaded machine could stretch one, hence the wide margin)...
        for _ in 0..4 {
            assert_eq!(client.request("!sleep 300").await.unwrap(), "slept 300");
        }
        // ... idleness closes it, gracefully.
        wait_until("the idle timeout", || client.is_closed()).await;
        bounded("close", client.close()).await.unwrap();
        let after = client.request("after").await;
        assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
    }

    // ---- 10. typed errors -------------------------------------------------------

    pub(super) async fn errors_server_error_is_typed() {
        let server = Running::interop().await;
        let client = server.client().await;
        match client.request("!error 300 boom").await {
            Err(Error::Server { code, message }) => {
                assert_eq!(code, ErrorCode(300));
                assert_eq!(message, "boom");
            }
            other => panic!("{other:?}"),
        }
        // From a handler of our own.
        let server = Running::start(|_req: Request| async {
            Err(ErrorReply::new(ErrorCode(0x0123), "mine"))
        })
        .await;
        let client = server.client().await;
        let outcome = client.request("x").await;
        assert!(
            matches!(&outcome, Err(Error::Server { code: ErrorCode(0x0123), message }) if message == "mine"),
            "{outcome:?}"
        );
        assert!(!outcome.unwrap_err().is_retryable());
    }

    pub(super) async fn errors_too_large_request_is_refused_locally() {
        let config = Config {
            settings: Settings {
                max_message_size: 4096,
                max_frame_size: 1024,
                ..Settings::default()
            },
            ..Config::default()
        };
        let server = Running::start_with(InteropService::current().unwrap(), config, None).await;
        let client = server.client().await;
        assert_eq!(client.peer_settings().max_message_size, 4096);
        let outcome = client.request(vec![1u8; 4097]).await;
        assert!(
            matches!(
                outcome,
                Err(Error::TooLarge {
                    size: 4097,
                    limit: 4096
                })
            ),
            "{outcome:?}"
        );
        // The limit itself is fine (split into 1024-byte frames), and the
        // connection is unharmed.
        assert_eq!(
            client.request(vec![1u8; 4096]).await.unwrap(),
            vec![1u8; 4096]
        );
    }

    pub(super) async fn errors_requests_after_close_are_not_processed() {
        let server = Running::interop().await;
        let client = server.client().await;
        let other = client.clone();
        assert_eq!(client.request("before").await.unwrap(), "before");
        bounded("close", client.close()).await.unwrap();
        assert!(client.is_closed());
        for c in [&client, &other] {
            let outcome = c.request("after").await;
            assert!(matches!(outcome, Err(Error::NotProcessed)), "{outcome:?}");
            assert!(
                c.request_timeout("after", Duration::from_secs(1))
                    .await
                    .unwrap_err()
                    .is_retryable()
            );
        }
        assert!(client.notify("after").is_err());
    }

    pub(super) async fn errors_handler_panic_is_answered() {
        // A handler that panics must not leave its request outstanding for
        // ever (it would hold a concurrency slot and stall graceful shutdown).
        let server = Running::start(|req: Request| async move {
            if req.body == "panic" {
                panic!("handler panicked on purpose");
            }
            Ok(req.body)
        })
        .await;
        let client = server.client().await;
        let outcome = bounded("an answer to a panicking handler", client.request("panic")).await;
        assert!(
            matches!(
                outcome,
                Err(Error::Server {
                    code: ErrorCode::INTERNAL_ERROR,
                    ..
                })
            ),
            "{outcome:?}"
        );
        assert_eq!(client.request("after").await.unwrap(), "after");
    }

    // ---- 11. the INTEROP service ----------------------------------------------------

    async fn expect_error(client: &Client, body: &str, code: ErrorCode, message: &str) {
        match client.request(body.to_owned()).await {
            Err(Error::Server {
                code: c,
                message: m,
            }) => {
                assert_eq!((c, m.as_str()), (code, message), "for {body:?}");
            }
            other => panic!("for {body:?}: {other:?}"),
        }
    }

    pub(super) async fn interop_sleep() {
        let server = Running::interop().await;
        let client = server.client().await;
        assert_eq!(client.request("!sleep 0").await.unwrap(), "slept 0");
        assert_eq!(client.request("!sleep 30").await.unwrap(), "slept 30");
        let outcome = client
            .request_timeout("!sleep 60000", Duration::from_millis(100))
            .await;
        assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
        // Sleeps run concurrently.
        let sleeps = (0..20).map(|_| client.request("!sleep 200"));
        for got in join_all(sleeps).await {
            assert_eq!(got.unwrap(), "slept 200");
        }
    }

    pub(super) async fn interop_error() {
        let server = Running::interop().await;
        let client = server.client().await;
        expect_error(&client, "!error 300 boom", ErrorCode(300), "boom").await;
        expect_error(&client, "!error 300", ErrorCode(300), "").await;
        expect_error(&client, "!error 65535 a b  c", ErrorCode(65535), "a b  c").await;
        expect_error(
            &client,
            "!error 8 busy",
            ErrorCode::TOO_MANY_REQUESTS,
            "busy",
        )
        .await;
        expect_error(&client, "!error 65536 x", COMMAND_ERROR, "bad command").await;
    }

    pub(super) async fn interop_notify() {
        let server = Running::interop().await;
        let client = server.client().await;
        let mut notes = client.notifications();
        assert_eq!(
            client.request("!notify hello there").await.unwrap(),
            "notified"
        );
        assert_eq!(
            bounded("the notification", notes.recv()).await.unwrap(),
            "hello there"
        );
        assert_eq!(client.request("!notify ").await.unwrap(), "notified");
        assert_eq!(
            bounded("the empty notification", notes.recv())
                .await
                .unwrap(),
            ""
        );
    }

    pub(super) async fn interop_notify_too_large_for_client_frame_size() {
        let server = Running::interop().await;
        let client = server.client_with(small_client_config(1024, 1 << 20)).await;
        let mut notes = client.notifications();
        let too_large = format!("!notify {}", "x".repeat(1025));
        expect_error(
            &client,
            &too_large,
            ErrorCode::MESSAGE_TOO_LARGE,
            "notification too large",
        )
        .await;
        let fits = format!("!notify {}", "y".repeat(1024));
        assert_eq!(client.request(fits).await.unwrap(), "notified");
        // The first notification to arrive is the one that fit: nothing was
        // sent for the other.
        assert_eq!(
            bounded("the notification", notes.recv()).await.unwrap(),
            "y".repeat(1024)
        );
        assert!(!client.is_closed());
    }

    pub(super) async fn interop_notification_echo() {
        let server = Running::interop().await;
        let client = server.client().await;
        let mut notes = client.notifications();
        for body in ["ping", "", "pong"] {
            client.notify(body).unwrap();
        }
        // Each comes back; in which order is the subject of
        // `notifications_reach_the_handler_in_order`.
        let mut echoed = Vec::new();
        for _ in 0..3 {
            echoed.push(bounded("the echo", notes.recv()).await.unwrap());
        }
        echoed.sort();
        assert_eq!(echoed, ["", "ping", "pong"]);
    }

    pub(super) async fn interop_bytes_split_into_small_frames() {
        let server = Running::interop().await;
        let client = server.client_with(small_client_config(1024, 1 << 20)).await;
        for n in [0, 1, 251, 1024, 1025, 100_000, 1 << 20] {
            let got = client.request(format!("!bytes {n}")).await.unwrap();
            assert_pattern(&got, n);
        }
    }

    pub(super) async fn interop_bytes_beyond_client_message_size() {
        let server = Running::interop().await;
        let client = server.client_with(small_client_config(1024, 4096)).await;
        assert_pattern(&client.request("!bytes 4096").await.unwrap(), 4096);
        expect_error(
            &client,
            "!bytes 4097",
            ErrorCode::MESSAGE_TOO_LARGE,
            "response too large",
        )
        .await;
        expect_error(
            &client,
            "!bytes 10000000000",
            ErrorCode::MESSAGE_TOO_LARGE,
            "response too large",
        )
        .await;
        expect_error(
            &client,
            "!bytes 99999999999999999999999",
            COMMAND_ERROR,
            "bad command",
        )
        .await;
        // A refusal, not a connection error.
        assert!(!client.is_closed());
        assert_eq!(client.request("after").await.unwrap(), "after");
    }

    pub(super) async fn interop_close_drains_then_closes() {
        let server = Running::interop().await;
        let client = server.client().await;
        // `!sleep` is sent first (a request is on its way at its first poll),
        // so `!close` drains it rather than refusing it.
        let sleeper = client.request("!sleep 300");
        let closer = async {
            assert_eq!(client.request("!close").await.unwrap(), "closing");
            wait_until("the client to see the GOAWAY", || client.is_closed()).await;
            let refused = client.request("after").await;
            assert!(matches!(refused, Err(Error::NotProcessed)), "{refused:?}");
        };
        let (slept, ()) = join2(sleeper, closer).await;
        assert_eq!(slept.unwrap(), "slept 300");
        // The server closed gracefully: close() reports no error.
        bounded("close", client.close()).await.unwrap();
        // The server still serves new connections.
        let again = server.client().await;
        assert_eq!(again.request("again").await.unwrap(), "again");
    }

    pub(super) async fn interop_unknown_and_bad_commands() {
        let server = Running::interop().await;
        let client = server.client().await;
        for unknown in ["!dance", "!", "!SLEEP 1", "!nope 1 2"] {
            expect_error(&client, unknown, COMMAND_ERROR, "unknown command").await;
        }
        for bad in [
            "!sleep",
            "!sleep abc",
            "!sleep -1",
            "!sleep 1 2",
            "!bytes",
            "!bytes -1",
            "!error",
            "!error x",
            "!error 65536",
            "!notify",
            "!close now",
        ] {
            expect_error(&client, bad, COMMAND_ERROR, "bad command").await;
        }
        // Not a command at all: echoed.
        assert_eq!(client.request(" !sleep 1").await.unwrap(), " !sleep 1");
        assert!(!client.is_closed());
    }
}
