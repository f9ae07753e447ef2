#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod config;
pub mod connection;
pub mod error;
pub mod frame;
mod id;
pub mod limit;
pub mod settings;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stats;
pub mod teardown;
pub mod time;

pub use config::Config;
pub use connection::{AbandonReason, Connection, Event, Role};
pub use error::{ConnectionError, ErrorCode, FrameError, RequestError, SendError};
pub use id::RequestId;
pub use limit::ConnectionLimit;
pub use settings::Settings;
pub use stats::{CodeCounts, Stats};
pub use teardown::{SocketAction, Teardown};
pub use time::Instant;
