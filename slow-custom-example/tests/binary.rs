//! The `slow-custom-example` binary: options, the `listening on` line,
//! graceful exit on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::SOON;
use slow_custom_example::BlockingClient;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slow-custom-example"))
}

/// Waits at most `SOON` for the process to exit; kills it otherwise.
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit in time");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_then_exits_cleanly_on_sigterm() {
    let mut child = binary()
        .args([
            "--addr",
            "127.0.0.1:0",
            "--max-frame-size",
            "4096",
            "--drain-timeout-ms=2000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(SOON) else {
        let _ = child.kill();
        panic!("no `listening on` line");
    };
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line")
        .to_owned();

    let mut client = BlockingClient::connect(addr.as_str()).unwrap();
    assert_eq!(client.peer_settings().max_frame_size, 4096);
    assert_eq!(
        client.request("!bytes 10000", Some(SOON)).unwrap(),
        slow_interop::pattern(10_000)
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // The client hears GOAWAY SHUTTING_DOWN and closes cleanly.
    assert!(matches!(client.wait_closed(SOON), Some(Ok(()))));
    assert!(wait_bounded(&mut child).success());
}

#[test]
fn help_and_bad_options() {
    let help = binary().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-connections N"));

    for bad in [
        &["--bogus"][..],
        &["--max-frame-size", "12"],
        &["--max-concurrent", "x"],
        &["--addr"],
    ] {
        let out = binary().args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("slow-custom-example:"), "{bad:?}: {stderr}");
    }
}
