//! How a runtime runs tasks, as types: [`Threaded`] (tasks are `Send`,
//! state is shared with `Arc` and `Mutex`) or [`Local`] (tasks stay on
//! their thread, state is shared with `Rc` and `RefCell`: no lock, no
//! atomic). A runtime names its mode in
//! [`Reactor::Mode`](crate::runtime::Reactor::Mode); the driver picks its
//! pointers from it, so a local runtime pays for no synchronisation it does
//! not need.

use std::cell::{RefCell, RefMut};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Threaded {}
    impl Sealed for super::Local {}
}

/// [`Threaded`] or [`Local`]; sealed. Its items are the driver's own.
pub trait Mode: sealed::Sealed + Sized + 'static {
    /// A shared pointer: `Arc` or `Rc`.
    #[doc(hidden)]
    type Ptr<T: 'static>: Clone + Deref<Target = T> + Unpin + 'static;
    /// A lock around shared state: `Mutex` or `RefCell`.
    #[doc(hidden)]
    type Lock<T: 'static>: Lock<T> + 'static;
    /// A flag read without a lock: `AtomicBool` or `Cell<bool>`.
    #[doc(hidden)]
    type Flag: Flag + 'static;
    /// A boxed task: `Send` or not.
    #[doc(hidden)]
    type Task: Future<Output = ()> + Unpin + 'static;
    /// Shares `value`.
    #[doc(hidden)]
    fn ptr<T: 'static>(value: T) -> Self::Ptr<T>;
}

/// The mode of a [`Runtime`](crate::runtime::Runtime): tasks may move
/// between threads.
#[derive(Debug)]
pub enum Threaded {}

/// The mode of a [`LocalRuntime`](crate::runtime::LocalRuntime): tasks
/// stay on the thread that spawned them.
#[derive(Debug)]
pub enum Local {}

impl Mode for Threaded {
    type Ptr<T: 'static> = Arc<T>;
    type Lock<T: 'static> = Mutex<T>;
    type Flag = AtomicBool;
    type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn ptr<T: 'static>(value: T) -> Arc<T> {
        Arc::new(value)
    }
}

impl Mode for Local {
    type Ptr<T: 'static> = Rc<T>;
    type Lock<T: 'static> = RefCell<T>;
    type Flag = std::cell::Cell<bool>;
    type Task = Pin<Box<dyn Future<Output = ()>>>;

    fn ptr<T: 'static>(value: T) -> Rc<T> {
        Rc::new(value)
    }
}

/// Exclusive access to shared state: a `Mutex` (held only for a few
/// operations on the core, never across an await) or a `RefCell` (the same
/// discipline makes a second borrow impossible).
#[doc(hidden)]
pub trait Lock<T> {
    /// The access, released when dropped.
    type Guard<'a>: DerefMut<Target = T>
    where
        Self: 'a;
    /// Wraps `value`.
    fn new(value: T) -> Self;
    /// Takes the access.
    fn lock(&self) -> Self::Guard<'_>;
}

impl<T> Lock<T> for Mutex<T> {
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;

    fn new(value: T) -> Self {
        Mutex::new(value)
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        // A panic while holding the lock leaves the core in whatever state
        // it reached; the core never panics on input, so go on with it.
        Mutex::lock(self).unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Lock<T> for RefCell<T> {
    type Guard<'a>
        = RefMut<'a, T>
    where
        T: 'a;

    fn new(value: T) -> Self {
        RefCell::new(value)
    }

    fn lock(&self) -> RefMut<'_, T> {
        self.borrow_mut()
    }
}

/// A flag that one task sets and another reads without taking a lock (a
/// hint that saves taking one; what it guards is still under its lock).
#[doc(hidden)]
pub trait Flag {
    /// A flag set to `value`.
    fn new(value: bool) -> Self;
    /// Sets it (what was written before is seen by whoever reads it set).
    fn set(&self, value: bool);
    /// Reads it.
    fn get(&self) -> bool;
}

impl Flag for AtomicBool {
    fn new(value: bool) -> Self {
        AtomicBool::new(value)
    }

    #[inline]
    fn set(&self, value: bool) {
        self.store(value, Ordering::Release);
    }

    #[inline]
    fn get(&self) -> bool {
        self.load(Ordering::Acquire)
    }
}

impl Flag for std::cell::Cell<bool> {
    fn new(value: bool) -> Self {
        std::cell::Cell::new(value)
    }

    #[inline]
    fn set(&self, value: bool) {
        std::cell::Cell::set(self, value);
    }

    #[inline]
    fn get(&self) -> bool {
        std::cell::Cell::get(self)
    }
}

/// State shared by a mode's tasks: `Arc<Mutex<T>>` or `Rc<RefCell<T>>`.
pub(crate) struct Cell<M: Mode, T: 'static>(M::Ptr<M::Lock<T>>);

impl<M: Mode, T: 'static> Cell<M, T> {
    pub(crate) fn new(value: T) -> Self {
        Cell(M::ptr(M::Lock::new(value)))
    }

    pub(crate) fn lock(&self) -> <M::Lock<T> as Lock<T>>::Guard<'_> {
        self.0.lock()
    }
}

impl<M: Mode, T: 'static> Clone for Cell<M, T> {
    fn clone(&self) -> Self {
        Cell(self.0.clone())
    }
}
