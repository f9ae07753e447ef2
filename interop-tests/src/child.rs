//! Re-running one test of this test binary in a child process, with an
//! environment variable set before anything starts (async-std reads its
//! worker count from `ASYNC_STD_THREAD_COUNT` when its global runtime is
//! first used; setting it from inside a running test would be racy).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `key` is already `value` here (then run the test's body).
pub fn env_is(key: &str, value: &str) -> bool {
    std::env::var(key).is_ok_and(|v| v == value)
}

/// Runs test `name` of the current test binary in a child process with
/// `key=value`, for at most `limit` (killed after), echoing its output.
/// Panics unless the child ran exactly that test and it passed.
pub fn rerun_with_env(name: &str, key: &str, value: &str, limit: Duration) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(key, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child test process");
    // Drained on threads of their own so a chatty child cannot fill a pipe
    // and stall.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child test {name} did not finish within {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("---- child process ({key}={value}) ----\n{stdout}{stderr}---- end of child ----");
    assert!(status.success(), "child test {name} failed: {status}");
    assert!(stdout.contains("1 passed"), "child did not run test {name}");
}
