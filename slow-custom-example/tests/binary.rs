//! The `slow-custom-example` binary: options, the `listening on` line,
//! graceful exit on SIGTERM and SIGINT, over TCP and a Unix socket.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{SOON, SocketDir};
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

/// Starts the binary with `args` and reads its `listening on` line.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = binary()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    (child, addr)
}

fn signal(child: &Child, name: &str) {
    let kill = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn serves_then_exits_cleanly_on_sigterm() {
    let (mut child, addr) = start(&[
        "--addr",
        "127.0.0.1:0",
        "--max-frame-size",
        "4096",
        "--drain-timeout-ms=2000",
    ]);

    let mut client = BlockingClient::connect(addr.as_str()).unwrap();
    assert_eq!(client.peer_settings().max_frame_size, 4096);
    assert_eq!(
        client.request("!bytes 10000", Some(SOON)).unwrap(),
        slow_interop::pattern(10_000)
    );

    signal(&child, "TERM");
    // The client hears GOAWAY SHUTTING_DOWN and closes cleanly.
    assert!(matches!(client.wait_closed(SOON), Some(Ok(()))));
    assert!(wait_bounded(&mut child).success());
}

#[test]
fn serves_on_a_unix_socket_and_removes_it_at_exit() {
    let dir = SocketDir::new("binary");
    for signal_name in ["TERM", "INT"] {
        let path = dir.path(&format!("{signal_name}.sock"));
        let wanted = format!("unix:{}", path.display());
        let (mut child, addr) = start(&["--addr", &wanted, "--max-frame-size", "4096"]);
        assert_eq!(addr, wanted, "the `listening on` line");
        assert!(path.exists());

        let mut client = BlockingClient::connect_unix(&path).unwrap();
        assert_eq!(client.peer_settings().max_frame_size, 4096);
        assert_eq!(
            client.request("!bytes 10000", Some(SOON)).unwrap(),
            slow_interop::pattern(10_000)
        );

        // A second server on the live socket says so, and leaves it alone.
        let second = binary().args(["--addr", &wanted]).output().unwrap();
        assert_eq!(second.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            stderr.contains(&wanted) && stderr.contains("already listening"),
            "{stderr}"
        );
        assert_eq!(client.request("still", Some(SOON)).unwrap(), "still");

        signal(&child, signal_name);
        assert!(matches!(client.wait_closed(SOON), Some(Ok(()))));
        assert!(wait_bounded(&mut child).success(), "SIG{signal_name}");
        assert!(
            !path.exists(),
            "SIG{signal_name}: the socket file is removed"
        );
    }
}

#[test]
fn a_unix_path_it_cannot_bind_is_named() {
    let dir = SocketDir::new("binary-bad");
    let missing = format!("unix:{}", dir.path("no/such/dir/s.sock").display());
    let out = binary().args(["--addr", &missing]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&missing) && stderr.contains("No such file"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "announced an address it does not have"
    );
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
