//! The adapter really does its IO through io_uring: a child process (this
//! test binary, run under `strace -f -c`) makes 2,000 round trips with
//! 16 KiB bodies, and the socket data goes through `io_uring_enter`, never
//! through the readiness-style socket calls.

use std::process::Command;

use slow_compio::{Client, LocalRequest, Server};

const ROUND_TRIPS: usize = 2_000;

/// The round trips themselves: run by the test below, under strace, in a
/// child process of its own (ignored otherwise).
#[test]
#[ignore = "the child of socket_io_goes_through_io_uring"]
fn round_trips_child() {
    slow_compio::runtime().expect("io_uring").block_on(async {
        let server = Server::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        compio::runtime::spawn(server.serve(|req: LocalRequest| async move { Ok(req.body) }))
            .detach();
        let client = Client::connect(addr).await.expect("connect");
        let body = vec![3u8; 16 * 1024];
        for _ in 0..ROUND_TRIPS {
            assert_eq!(client.request(body.clone()).await.expect("request"), body);
        }
        client.close().await.expect("close");
    });
}

/// `calls` of `syscall` in an `strace -c` summary (0 if absent).
fn calls(summary: &str, syscall: &str) -> u64 {
    summary
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.last() == Some(&syscall)).then(|| cols[3].parse().unwrap_or(0))
        })
        .next()
        .unwrap_or(0)
}

#[test]
fn socket_io_goes_through_io_uring() {
    if let Err(why) = slow_compio::available() {
        eprintln!("skipped: {why}");
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipped: strace is not installed");
        return;
    }
    let summary = std::env::temp_dir().join(format!("slow-compio-strace-{}", std::process::id()));
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&summary)
        .arg(std::env::current_exe().expect("test binary"))
        .args([
            "round_trips_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .output()
        .expect("strace runs");
    let text = std::fs::read_to_string(&summary).expect("strace summary");
    let _ = std::fs::remove_file(&summary);
    assert!(
        status.status.success(),
        "the child failed: {}\n{text}",
        String::from_utf8_lossy(&status.stdout)
    );
    let enters = calls(&text, "io_uring_enter");
    // Every round trip's reads and writes complete through the ring (a
    // batch per call at most: at least one call per round trip).
    assert!(
        enters >= ROUND_TRIPS as u64,
        "{enters} io_uring_enter for {ROUND_TRIPS} round trips\n{text}"
    );
    for readiness in [
        "recvfrom",
        "sendto",
        "recvmsg",
        "sendmsg",
        "readv",
        "writev",
        "epoll_wait",
    ] {
        assert_eq!(
            calls(&text, readiness),
            0,
            "{readiness} was called:\n{text}"
        );
    }
    eprintln!(
        "{enters} io_uring_enter for {ROUND_TRIPS} round trips of 16 KiB ({:.1} per round trip, both sides)",
        enters as f64 / ROUND_TRIPS as f64
    );
}
