//! The handshake (PROTOCOL.md §3): HELLO, WELCOME, version negotiation.

use super::{Connection, Event, Role, Transition};
use crate::error::{ConnectionError, ErrorCode};
use crate::frame::{Frame, FrameType, HEADER_LEN, Handshake, MAGIC, VERSION};

impl Connection {
    pub(super) fn send_hello(&mut self) {
        self.tx.push(&Frame::Hello(Handshake::new(
            VERSION,
            &self.config.settings,
        )));
    }

    /// The first frame must be HELLO (server) or WELCOME (client), whatever
    /// its type; a client also accepts GOAWAY.
    pub(super) fn on_handshake_frame(&mut self, frame: Frame) {
        match (self.role, frame) {
            (Role::Server, Frame::Hello(hello)) => {
                if hello.version() == 0 {
                    return self.fail(ErrorCode::VERSION_MISMATCH, "version 0");
                }
                let version = hello.version().min(VERSION);
                self.peer = *hello.settings();
                self.tx.push(&Frame::Welcome(Handshake::new(
                    version,
                    &self.config.settings,
                )));
                self.established();
            }
            (Role::Client, Frame::Welcome(welcome)) => {
                if welcome.version() != VERSION {
                    return self.fail(ErrorCode::VERSION_MISMATCH, "server chose another version");
                }
                self.peer = *welcome.settings();
                self.established();
                self.send_queued();
            }
            // The server refused us before WELCOME: the connection ends with
            // its code, graceful or not, and we send nothing more.
            (
                Role::Client,
                Frame::GoAway {
                    last_id,
                    code,
                    reason,
                },
            ) => {
                self.stats.goaways_received.record(code);
                self.events.push_back(Event::GoAway {
                    code,
                    last_id,
                    reason: reason.clone(),
                });
                self.close_with(Some(ConnectionError::Remote { code, reason }));
            }
            (role, _) => {
                let reason = match role {
                    Role::Server => "first frame is not HELLO",
                    Role::Client => "first frame is not WELCOME",
                };
                if self.first_bytes.looks_like_slow() {
                    self.fail(ErrorCode::PROTOCOL_ERROR, reason)
                } else {
                    self.fail_not_slow(ErrorCode::PROTOCOL_ERROR, reason)
                }
            }
        }
    }

    /// Keeps the first bytes the peer sent (up to [`FirstBytes::LEN`]), to
    /// tell a SLOW peer that broke a rule from a peer that is not SLOW at all.
    pub(super) fn note_first_bytes(&mut self) {
        let have = usize::from(self.first_bytes.len);
        let take = self.rx.len().min(FirstBytes::LEN);
        if take > have {
            self.first_bytes.bytes[have..take].copy_from_slice(&self.rx[have..take]);
            self.first_bytes.len = take as u8;
        }
    }

    fn established(&mut self) {
        self.transition(Transition::Established);
        self.last_activity = self.now;
        self.events
            .push_back(Event::Connected { peer: *self.peer() });
    }
}

/// The first bytes of the stream, kept during the handshake (no heap).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FirstBytes {
    bytes: [u8; FirstBytes::LEN],
    len: u8,
}

impl FirstBytes {
    /// How many are kept: a header and the handshake's magic and version,
    /// and enough of anything else to recognise it (`HTTP/1.1 400 Bad`).
    pub(super) const LEN: usize = 16;

    pub(super) fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub(super) fn to_vec(self) -> alloc::vec::Vec<u8> {
        self.bytes[..usize::from(self.len)].to_vec()
    }

    /// Whether the stream starts like SLOW/1: a frame type the protocol
    /// defines and, for HELLO and WELCOME, the magic where it belongs.
    /// Too few bytes to tell count as SLOW (no accusation without cause).
    /// A TLS record's first two bytes are enough: its "length" would be
    /// far over any MAX_FRAME_SIZE.
    pub(super) fn looks_like_slow(&self) -> bool {
        let b = &self.bytes[..usize::from(self.len)];
        if crate::error::is_tls_record(b) {
            return false;
        }
        let Some(&ty) = b.get(4) else {
            return true;
        };
        let defined = (FrameType::HELLO.0..=FrameType::GOAWAY.0).contains(&ty);
        let handshake = ty == FrameType::HELLO.0 || ty == FrameType::WELCOME.0;
        let magic = b.get(HEADER_LEN..HEADER_LEN + MAGIC.len());
        defined && !(handshake && magic.is_some_and(|m| m != MAGIC))
    }
}
