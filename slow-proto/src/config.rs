//! Configuration shared by every adapter: what this side advertises and the
//! local timeouts and buffer limits.

use core::time::Duration;

use crate::settings::Settings;

/// Everything a [`Connection`](crate::Connection) needs to know up front.
///
/// The defaults are those of PROTOCOL.md: default settings, a 10 s handshake
/// timeout, keepalive every 15 s with a 10 s timeout, a 30 s drain timeout,
/// 2 s of lingering after the final FIN.
///
/// The SLOW adapters re-export this type, so the examples here leave their
/// `use` lines out (hidden): they read the same with any adapter's
/// `Config` and `Settings`.
///
/// ```
/// # use slow_proto::{Config, Settings};
/// use std::time::Duration;
///
/// let config = Config {
///     settings: Settings { max_concurrent_requests: 16, ..Settings::default() },
///     keepalive_interval: None,
///     ..Config::default()
/// };
/// assert!(config.validate().is_ok());
/// assert_eq!(config.handshake_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The limits this side accepts, sent in HELLO or WELCOME.
    pub settings: Settings,
    /// Give up when the handshake is not complete this long after the
    /// connection was established.
    pub handshake_timeout: Duration,
    /// Send a PING when nothing has been received for this long; `None`
    /// disables keepalive.
    pub keepalive_interval: Option<Duration>,
    /// Close with KEEPALIVE_TIMEOUT when nothing arrives this long after a
    /// keepalive PING.
    pub keepalive_timeout: Duration,
    /// Force a graceful close that has not finished after this long; also
    /// how long the final output may take to write once the connection
    /// closed ([`Teardown`](crate::Teardown)).
    pub drain_timeout: Duration,
    /// After our FIN, how long at most to go on reading (and discarding)
    /// while waiting for the peer's, so that closing does not reset what
    /// the peer has not read yet ([`Teardown`](crate::Teardown)).
    pub linger: Duration,
    /// Back-pressure: above this many unsent bytes owed to the peer the
    /// connection asks the adapter to stop reading
    /// ([`wants_read`](crate::Connection::wants_read)), so a peer that never
    /// reads cannot grow our memory without bound.
    pub send_high_water: usize,
    /// The room the receive buffer keeps for an adapter's reads: it is
    /// renewed, `read_chunk` bytes at a time, when less than half of that
    /// is left.
    pub read_chunk: usize,
}

impl Config {
    /// Checks that the advertised settings are in range and the local values
    /// make sense. Connecting and binding check it too, before opening a
    /// socket.
    ///
    /// ```
    /// # use slow_proto::{Config, Settings};
    /// let too_small = Settings { max_frame_size: 512, ..Settings::default() };
    /// let config = Config { settings: too_small, ..Config::default() };
    /// assert!(config.validate().is_err());
    /// assert!(Config::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.settings
            .validate()
            .map_err(|e| ConfigError::Settings(e.reason))?;
        if self.read_chunk == 0 {
            return Err(ConfigError::ReadChunk);
        }
        if self.send_high_water == 0 {
            return Err(ConfigError::HighWater);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: Settings::default(),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            send_high_water: 256 * 1024,
            read_chunk: 8 * 1024,
        }
    }
}

/// A [`Config`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An advertised setting is outside its valid range.
    #[error("invalid settings: {0}")]
    Settings(&'static str),
    /// `read_chunk` is zero.
    #[error("read_chunk must be at least 1")]
    ReadChunk,
    /// `send_high_water` is zero.
    #[error("send_high_water must be at least 1")]
    HighWater,
}
