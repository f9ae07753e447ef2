//! Arbitrary but valid configurations, shared by the connection targets.

use core::time::Duration;

use slow_proto::{Config, Settings};

/// Raw values mapped into valid settings. Frame and message sizes are folded
/// into 1,024..=132,095 so that bodies of a few KiB hit the limits.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SettingsKnobs {
    /// MAX_FRAME_SIZE, folded.
    pub max_frame_size: u32,
    /// MAX_MESSAGE_SIZE, folded.
    pub max_message_size: u32,
    /// MAX_CONCURRENT_REQUESTS (0 is taken as 1).
    pub max_concurrent_requests: u8,
    /// IDLE_TIMEOUT_MS (0: none).
    pub idle_timeout_ms: u16,
}

impl SettingsKnobs {
    /// Valid settings from the raw values.
    pub fn settings(&self) -> Settings {
        let fold = |v: u32| Settings::MIN_MAX_FRAME_SIZE + v % (1 << 17);
        Settings {
            max_frame_size: fold(self.max_frame_size),
            max_message_size: fold(self.max_message_size),
            max_concurrent_requests: u32::from(self.max_concurrent_requests.max(1)),
            idle_timeout_ms: u32::from(self.idle_timeout_ms),
        }
    }
}

/// Raw values mapped into a valid [`Config`]. Durations are in
/// milliseconds and may be zero.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConfigKnobs {
    /// What this side advertises.
    pub settings: SettingsKnobs,
    /// `handshake_timeout`.
    pub handshake_timeout_ms: u16,
    /// `keepalive_interval` (`None` disables keepalive).
    pub keepalive_interval_ms: Option<u16>,
    /// `keepalive_timeout`.
    pub keepalive_timeout_ms: u16,
    /// `drain_timeout`.
    pub drain_timeout_ms: u16,
    /// `send_high_water` (0 is taken as 1).
    pub send_high_water: u16,
    /// `read_chunk` (0 is taken as 1).
    pub read_chunk: u16,
}

impl ConfigKnobs {
    /// A config that passes [`Config::validate`].
    pub fn config(&self) -> Config {
        let ms = |v: u16| Duration::from_millis(u64::from(v));
        Config {
            settings: self.settings.settings(),
            handshake_timeout: ms(self.handshake_timeout_ms),
            keepalive_interval: self.keepalive_interval_ms.map(ms),
            keepalive_timeout: ms(self.keepalive_timeout_ms),
            drain_timeout: ms(self.drain_timeout_ms),
            // Only `Teardown` reads it, and no target drives one: not a knob,
            // so the input layout (and the corpus) stays as it was.
            linger: Config::default().linger,
            send_high_water: usize::from(self.send_high_water.max(1)),
            read_chunk: usize::from(self.read_chunk.max(1)),
        }
    }
}

/// `len` bytes that depend on `seed`, so that different bodies differ.
pub fn body(seed: u32, len: usize) -> bytes::Bytes {
    let seed = seed.to_le_bytes();
    (0..len)
        .map(|i| seed[i % 4].wrapping_add(i as u8))
        .collect::<Vec<u8>>()
        .into()
}
