//! The handshake (PROTOCOL.md §3): HELLO, WELCOME, version negotiation.

use super::{Connection, Event, Role, Transition};
use crate::error::{ConnectionError, ErrorCode};
use crate::frame::{Frame, Handshake, VERSION};

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
                self.events.push_back(Event::GoAway {
                    code,
                    last_id,
                    reason: reason.clone(),
                });
                self.close_with(Some(ConnectionError::Remote { code, reason }));
            }
            (Role::Server, _) => self.fail(ErrorCode::PROTOCOL_ERROR, "first frame is not HELLO"),
            (Role::Client, _) => self.fail(ErrorCode::PROTOCOL_ERROR, "first frame is not WELCOME"),
        }
    }

    fn established(&mut self) {
        self.transition(Transition::Established);
        self.last_activity = self.now;
        self.events
            .push_back(Event::Connected { peer: *self.peer() });
    }
}
