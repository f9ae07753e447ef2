//! The server options of INTEROP.md ("How it is started"), shared by
//! `slow serve` and the in-process servers of `bench`, `demo` and the tests.

use std::time::Duration;

use slow_proto::{Config, Settings};

/// Advertised settings and local timeouts of a served INTEROP service.
/// Out-of-range values are refused by the argument parser (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ServeOptions {
    /// MAX_FRAME_SIZE advertised in WELCOME.
    #[arg(long, value_name = "N", default_value_t = Settings::DEFAULT_MAX_FRAME_SIZE,
          value_parser = clap::value_parser!(u32).range(1024..=16_777_215))]
    pub max_frame_size: u32,
    /// MAX_MESSAGE_SIZE advertised in WELCOME.
    #[arg(long, value_name = "N", default_value_t = 16_777_216,
          value_parser = clap::value_parser!(u32).range(1024..))]
    pub max_message_size: u32,
    /// MAX_CONCURRENT_REQUESTS advertised in WELCOME.
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: u32,
    /// IDLE_TIMEOUT_MS advertised in WELCOME (0: none).
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u32,
    /// Give up on a connection whose handshake takes longer.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Send a keepalive PING after this long without input (0: never).
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    pub keepalive_interval_ms: u64,
    /// Close with KEEPALIVE_TIMEOUT when a keepalive PING gets no answer.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub keepalive_timeout_ms: u64,
    /// Force a graceful close that takes longer than this.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub drain_timeout_ms: u64,
    /// Connections beyond this get GOAWAY CONNECTION_LIMIT at once.
    #[arg(long, value_name = "N", default_value_t = slow_driver::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let config = Config::default();
        ServeOptions {
            max_frame_size: config.settings.max_frame_size,
            max_message_size: config.settings.max_message_size,
            max_concurrent: config.settings.max_concurrent_requests,
            idle_timeout_ms: config.settings.idle_timeout_ms,
            handshake_timeout_ms: millis(config.handshake_timeout),
            keepalive_interval_ms: config.keepalive_interval.map_or(0, millis),
            keepalive_timeout_ms: millis(config.keepalive_timeout),
            drain_timeout_ms: millis(config.drain_timeout),
            max_connections: slow_driver::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServeOptions {
    /// The connection configuration these options describe.
    pub fn config(&self) -> Config {
        Config {
            settings: Settings {
                max_frame_size: self.max_frame_size,
                max_message_size: self.max_message_size,
                max_concurrent_requests: self.max_concurrent,
                idle_timeout_ms: self.idle_timeout_ms,
            },
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            keepalive_interval: (self.keepalive_interval_ms > 0)
                .then(|| Duration::from_millis(self.keepalive_interval_ms)),
            keepalive_timeout: Duration::from_millis(self.keepalive_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            ..Config::default()
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_protocol_defaults() {
        assert_eq!(ServeOptions::default().config(), Config::default());
    }
}
