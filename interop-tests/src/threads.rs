//! This process's threads, as Linux lists them in `/proc/self/task`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;

/// A snapshot of the process's threads: their kernel names (`comm`, at
/// most 15 bytes) and how many carry each name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Threads {
    /// Name → count.
    pub by_name: BTreeMap<String, usize>,
}

impl Threads {
    /// Reads `/proc/self/task/*/comm` now.
    pub fn now() -> Threads {
        let mut by_name = BTreeMap::new();
        let tasks = fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux only)");
        for task in tasks.flatten() {
            // A thread may exit between listing and reading: skip it.
            if let Ok(comm) = fs::read_to_string(task.path().join("comm")) {
                *by_name.entry(comm.trim_end().to_string()).or_insert(0) += 1;
            }
        }
        Threads { by_name }
    }

    /// A snapshot once the thread list has stopped changing: the same two
    /// reads 50 ms apart (tried for at most 2 s). A thread that was just
    /// spawned carries its creator's name until it runs and names itself,
    /// so a single read can catch a runtime mid-start.
    pub fn settled() -> Threads {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut last = Threads::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let now = Threads::now();
            if now == last || std::time::Instant::now() >= end {
                return now;
            }
            last = now;
        }
    }

    /// How many threads.
    pub fn total(&self) -> usize {
        self.by_name.values().sum()
    }

    /// How many threads whose name starts with `prefix`.
    pub fn named(&self, prefix: &str) -> usize {
        self.by_name
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, c)| c)
            .sum()
    }

    /// How many threads are named `{prefix}{N}` with N a number (e.g.
    /// smol's global executor threads, `smol-0`, `smol-1`, ...).
    pub fn numbered(&self, prefix: &str) -> usize {
        self.by_name
            .iter()
            .filter(|(n, _)| {
                n.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                })
            })
            .map(|(_, c)| c)
            .sum()
    }

    /// The threads present here but not in `before` (name → extra count).
    pub fn minus(&self, before: &Threads) -> BTreeMap<String, isize> {
        let mut diff = BTreeMap::new();
        for name in self.by_name.keys().chain(before.by_name.keys()) {
            let d = *self.by_name.get(name).unwrap_or(&0) as isize
                - *before.by_name.get(name).unwrap_or(&0) as isize;
            if d != 0 {
                diff.insert(name.clone(), d);
            }
        }
        diff
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} threads [", self.total())?;
        for (i, (name, count)) in self.by_name.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{name:?}×{count}")?;
        }
        write!(f, "]")
    }
}
