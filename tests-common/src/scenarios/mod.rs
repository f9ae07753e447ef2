//! The scenarios, by group, each `pub async fn name<T: TestRuntime, W:
//! Wire<T>>()` (on runtime `T`, over wire `W`);
//! [`scenario_tests!`](crate::scenario_tests) makes a `#[test]` of each.

pub mod connections;
pub mod errors;
pub mod interop;
pub mod notifications;
pub mod requests;
pub mod stats;
pub mod timers;
pub mod tls;
