//! The settings block of HELLO and WELCOME (PROTOCOL.md §2).

use bytes::{Buf, BufMut};

use crate::error::FrameError;

/// The limits one side accepts, advertised in its HELLO or WELCOME.
///
/// Each side advertises what **it** accepts; the other side must respect it.
/// [`Settings::default`] gives the protocol's defaults, which is also what an
/// absent key means. A side's own settings go in its `Config`; the peer's
/// come back from the handshake (a client's `peer_settings()`, a peer's
/// `settings()` in a handler).
///
/// The SLOW adapters re-export this type, so the examples here leave their
/// `use` lines out (hidden): they read the same with any adapter's
/// `Settings`.
///
/// ```
/// # use slow_proto::{Config, Settings};
/// // Accept at most 16 requests at a time, of up to 1 MiB each.
/// let settings = Settings {
///     max_concurrent_requests: 16,
///     max_message_size: 1 << 20,
///     ..Settings::default()
/// };
/// assert!(settings.validate().is_ok());
/// let config = Config { settings, ..Config::default() };
/// # assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Settings {
    /// The largest frame payload accepted (key 1, 1,024–16,777,215).
    pub max_frame_size: u32,
    /// The largest reassembled message body accepted (key 2, ≥ 1,024).
    pub max_message_size: u32,
    /// The most requests outstanding at once (key 3, ≥ 1).
    pub max_concurrent_requests: u32,
    /// Idle timeout in milliseconds, 0 for none (key 4).
    pub idle_timeout_ms: u32,
}

impl Settings {
    /// Key of MAX_FRAME_SIZE.
    pub const KEY_MAX_FRAME_SIZE: u16 = 1;
    /// Key of MAX_MESSAGE_SIZE.
    pub const KEY_MAX_MESSAGE_SIZE: u16 = 2;
    /// Key of MAX_CONCURRENT_REQUESTS.
    pub const KEY_MAX_CONCURRENT_REQUESTS: u16 = 3;
    /// Key of IDLE_TIMEOUT_MS.
    pub const KEY_IDLE_TIMEOUT_MS: u16 = 4;

    /// The default MAX_FRAME_SIZE, also the limit before the handshake ends.
    pub const DEFAULT_MAX_FRAME_SIZE: u32 = 65_536;
    /// Smallest valid MAX_FRAME_SIZE.
    pub const MIN_MAX_FRAME_SIZE: u32 = 1_024;
    /// Largest valid MAX_FRAME_SIZE (the 24-bit limit).
    pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
    /// Smallest valid MAX_MESSAGE_SIZE.
    pub const MIN_MAX_MESSAGE_SIZE: u32 = 1_024;

    /// The protocol's defaults (§2), also what [`Settings::default`] gives.
    pub const DEFAULT: Settings = Settings {
        max_frame_size: Self::DEFAULT_MAX_FRAME_SIZE,
        max_message_size: 16_777_216,
        max_concurrent_requests: 128,
        idle_timeout_ms: 60_000,
    };

    /// Decodes a settings block, applying defaults for absent keys and
    /// rejecting duplicates and out-of-range values (PROTOCOL_ERROR).
    ///
    /// ```
    /// # use slow_proto::Settings;
    /// // MAX_CONCURRENT_REQUESTS (key 3) = 16; every other key is absent.
    /// let block = [0x00, 0x03, 0x00, 0x00, 0x00, 0x10];
    /// let s = Settings::decode(&block).unwrap();
    /// assert_eq!(s, Settings { max_concurrent_requests: 16, ..Settings::default() });
    /// assert!(Settings::decode(&[0x00, 0x03, 0, 0, 0, 0]).is_err()); // 0 is out of range
    /// ```
    pub fn decode(mut block: &[u8]) -> Result<Settings, FrameError> {
        if block.len() % 6 != 0 {
            return Err(FrameError::protocol(
                "settings block is not a multiple of 6 bytes",
            ));
        }
        let mut s = Settings::default();
        let mut seen = [false; 5];
        while block.has_remaining() {
            let key = block.get_u16();
            let value = block.get_u32();
            let Some(slot) = seen.get_mut(usize::from(key)).filter(|_| key != 0) else {
                continue; // unknown keys are ignored, even when repeated
            };
            if core::mem::replace(slot, true) {
                return Err(FrameError::protocol("settings key appears twice"));
            }
            match key {
                Self::KEY_MAX_FRAME_SIZE => {
                    if !(Self::MIN_MAX_FRAME_SIZE..=Self::MAX_MAX_FRAME_SIZE).contains(&value) {
                        return Err(FrameError::protocol("MAX_FRAME_SIZE out of range"));
                    }
                    s.max_frame_size = value;
                }
                Self::KEY_MAX_MESSAGE_SIZE => {
                    if value < Self::MIN_MAX_MESSAGE_SIZE {
                        return Err(FrameError::protocol("MAX_MESSAGE_SIZE out of range"));
                    }
                    s.max_message_size = value;
                }
                Self::KEY_MAX_CONCURRENT_REQUESTS => {
                    if value == 0 {
                        return Err(FrameError::protocol("MAX_CONCURRENT_REQUESTS out of range"));
                    }
                    s.max_concurrent_requests = value;
                }
                _ => s.idle_timeout_ms = value,
            }
        }
        Ok(s)
    }

    /// Appends the block for these settings: every key whose value differs
    /// from the default, in key order.
    ///
    /// ```
    /// # use slow_proto::Settings;
    /// let s = Settings { max_frame_size: 16 * 1024, ..Settings::default() };
    /// let mut block = Vec::new();
    /// s.encode(&mut block);
    /// assert_eq!(block.len(), 6); // the key (2 bytes) and its value (4)
    /// assert_eq!(Settings::decode(&block).unwrap(), s);
    /// ```
    pub fn encode(&self, out: &mut impl BufMut) {
        let d = Settings::default();
        let entries = [
            (
                Self::KEY_MAX_FRAME_SIZE,
                self.max_frame_size,
                d.max_frame_size,
            ),
            (
                Self::KEY_MAX_MESSAGE_SIZE,
                self.max_message_size,
                d.max_message_size,
            ),
            (
                Self::KEY_MAX_CONCURRENT_REQUESTS,
                self.max_concurrent_requests,
                d.max_concurrent_requests,
            ),
            (
                Self::KEY_IDLE_TIMEOUT_MS,
                self.idle_timeout_ms,
                d.idle_timeout_ms,
            ),
        ];
        for (key, value, default) in entries {
            if value != default {
                out.put_u16(key);
                out.put_u32(value);
            }
        }
    }

    /// Checks that every value is in its valid range, so that what this side
    /// advertises is something a peer will accept.
    ///
    /// ```
    /// # use slow_proto::Settings;
    /// assert!(Settings::default().validate().is_ok());
    /// let none = Settings { max_concurrent_requests: 0, ..Settings::default() };
    /// assert!(none.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), FrameError> {
        let mut block = [0u8; 24];
        let mut w = &mut block[..];
        for (key, value) in [
            (Self::KEY_MAX_FRAME_SIZE, self.max_frame_size),
            (Self::KEY_MAX_MESSAGE_SIZE, self.max_message_size),
            (
                Self::KEY_MAX_CONCURRENT_REQUESTS,
                self.max_concurrent_requests,
            ),
            (Self::KEY_IDLE_TIMEOUT_MS, self.idle_timeout_ms),
        ] {
            w.put_u16(key);
            w.put_u32(value);
        }
        Settings::decode(&block).map(|_| ())
    }

    /// The negotiated idle timeout: the smaller of the two nonzero values,
    /// `None` when both are zero (§5).
    ///
    /// ```
    /// # use slow_proto::Settings;
    /// assert_eq!(Settings::effective_idle_timeout_ms(30_000, 60_000), Some(30_000));
    /// // 0 is no timeout of one's own: the other side's applies.
    /// assert_eq!(Settings::effective_idle_timeout_ms(0, 60_000), Some(60_000));
    /// assert_eq!(Settings::effective_idle_timeout_ms(0, 0), None);
    /// ```
    pub fn effective_idle_timeout_ms(local: u32, peer: u32) -> Option<u32> {
        match (local, peer) {
            (0, 0) => None,
            (0, v) | (v, 0) => Some(v),
            (a, b) => Some(a.min(b)),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use alloc::vec::Vec;

    fn entry(key: u16, value: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u16(key);
        v.put_u32(value);
        v
    }

    #[test]
    fn absent_keys_take_defaults() {
        assert_eq!(Settings::decode(&[]).unwrap(), Settings::default());
    }

    #[test]
    fn unknown_keys_are_ignored_even_repeated() {
        let mut block = entry(0x00FF, 1);
        block.extend(entry(0x00FF, 2));
        block.extend(entry(0, 3));
        assert_eq!(Settings::decode(&block).unwrap(), Settings::default());
    }

    #[test]
    fn ranges_are_enforced() {
        for (key, value) in [(1, 1023), (1, 16_777_216), (2, 1023), (3, 0)] {
            let err = Settings::decode(&entry(key, value)).unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::PROTOCOL_ERROR,
                "key {key} value {value}"
            );
        }
        for (key, value) in [(1, 1024), (1, 16_777_215), (2, u32::MAX), (3, 1), (4, 0)] {
            assert!(
                Settings::decode(&entry(key, value)).is_ok(),
                "key {key} value {value}"
            );
        }
    }

    #[test]
    fn duplicate_known_key_is_an_error() {
        let mut block = entry(4, 1);
        block.extend(entry(4, 1));
        assert!(Settings::decode(&block).is_err());
    }

    #[test]
    fn ragged_block_is_an_error() {
        assert!(Settings::decode(&[0, 1, 0, 0, 4]).is_err());
    }

    #[test]
    fn idle_timeout_negotiation() {
        assert_eq!(Settings::effective_idle_timeout_ms(0, 0), None);
        assert_eq!(Settings::effective_idle_timeout_ms(0, 5), Some(5));
        assert_eq!(Settings::effective_idle_timeout_ms(7, 5), Some(5));
    }
}
