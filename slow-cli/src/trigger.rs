//! A one-shot signal that any thread can fire and any task on any runtime
//! can await: how `slow` tells a server to shut down (from a signal
//! thread), how Ctrl-C stops `slow bench`'s load, and how load-generator
//! tasks tell the caller they are done.
//!
//! The adapters share no channel type across tokio, smol and async-std, and
//! this needs so little (a flag and the wakers to call) that it is written
//! here rather than pulled in.

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Fired at most once; every waiter, past and future, sees it.
#[derive(Clone, Default)]
pub struct Trigger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trigger")
            .field("fired", &self.is_fired())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Trigger {
    /// A trigger that has not fired.
    pub fn new() -> Trigger {
        Trigger::default()
    }

    /// Fires: wakes every waiter. Firing again does nothing.
    pub fn fire(&self) {
        self.inner.fired.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.lock());
        for w in wakers {
            w.wake();
        }
    }

    /// Whether it has fired.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::Acquire)
    }

    /// Completes once the trigger has fired. One future may be kept and
    /// polled again and again (a load worker races each request against
    /// it): a poll by the task it already registered is one atomic load.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let this = self.clone();
        let mut registered: Option<Waker> = None;
        poll_fn(move |cx| {
            if this.is_fired() {
                return Poll::Ready(());
            }
            // Registered and not fired: the fire to come will wake it.
            if registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                return Poll::Pending;
            }
            let mut wakers = this.lock();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            drop(wakers);
            registered = Some(cx.waker().clone());
            // Re-check: a fire between the load and the push would be missed.
            if this.is_fired() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Fires its [`Trigger`] when `count` parties have each called
/// [`Countdown::done`]: "all workers finished" without a join handle type
/// common to every runtime.
#[derive(Clone)]
pub struct Countdown {
    left: Arc<AtomicUsize>,
    all_done: Trigger,
}

impl Countdown {
    /// Waits for `count` calls to [`done`](Countdown::done); fires at once
    /// for zero.
    pub fn new(count: usize) -> Countdown {
        let all_done = Trigger::new();
        if count == 0 {
            all_done.fire();
        }
        Countdown {
            left: Arc::new(AtomicUsize::new(count)),
            all_done,
        }
    }

    /// One party is finished.
    pub fn done(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_done.fire();
        }
    }

    /// Completes once every party is finished.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        self.all_done.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_a_waiter_on_another_thread() {
        let t = Trigger::new();
        let fire = t.clone();
        let thread = std::thread::spawn(move || fire.fire());
        smol::block_on(t.wait());
        thread.join().unwrap();
        assert!(t.is_fired());
    }

    /// A waker that counts its wakes.
    struct Counting(AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_kept_future_polled_again_is_woken_once() {
        let t = Trigger::new();
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut wait = std::pin::pin!(t.wait());
        for _ in 0..3 {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(t.lock().len(), 1, "registered once");
        t.fire();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn countdown_fires_after_the_last() {
        let c = Countdown::new(2);
        c.done();
        assert!(!c.all_done.is_fired());
        c.done();
        smol::block_on(c.wait());
        smol::block_on(Countdown::new(0).wait());
    }
}
