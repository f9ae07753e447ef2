//! A one-line progress bar on stderr, only when stderr is a terminal (a
//! log file or a pipe gets nothing): done so far, the current rate, errors.
//! Hand-written: a bar is a dozen lines, not a dependency.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::stats::{Limit, Live};

const TICK: Duration = Duration::from_millis(200);
const WIDTH: usize = 30;

/// The running bar; [`finish`](Progress::finish) erases it.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `live` if stderr is a terminal.
    pub fn start(live: Arc<Live>) -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || draw_until(&live, &flag))
            .ok()?;
        Some(Progress {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops and erases the bar.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn draw_until(live: &Live, stop: &AtomicBool) {
    let mut last = (Instant::now(), 0u64);
    let mut err = std::io::stderr();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        let Some(started) = live.started() else {
            continue;
        };
        let now = Instant::now();
        let done = live.finished.load(Ordering::Relaxed);
        let rate =
            (done - last.1.min(done)) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, done);
        let fraction = match live.limit() {
            Limit::Duration(d) => started.elapsed().as_secs_f64() / d.as_secs_f64().max(1e-9),
            Limit::Requests(n) => done as f64 / n.max(1) as f64,
        }
        .clamp(0.0, 1.0);
        let filled = (fraction * WIDTH as f64) as usize;
        let _ = write!(
            err,
            "\r[{}{}] {:>3.0}%  {done} req  {rate:.0} req/s  {} err\x1b[K",
            "=".repeat(filled),
            " ".repeat(WIDTH - filled),
            fraction * 100.0,
            live.failed.load(Ordering::Relaxed),
        );
        let _ = err.flush();
    }
    let _ = write!(err, "\r\x1b[K");
    let _ = err.flush();
}
