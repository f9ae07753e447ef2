//! Replays of the cargo-fuzz targets in `slow-proto/fuzz`, on stable.
//!
//! The harness files of the fuzz crate are compiled in here as they are (see
//! `fuzz/src/lib.rs`), so each test runs an input through exactly the logic
//! the fuzzer ran it through, using only the public API. Inputs are written
//! as the `Debug` output of `cargo fuzz fmt TARGET ARTIFACT`, minimised with
//! `cargo fuzz tmin`.
//!
//! - smoke tests show the harnesses accept ordinary traffic;
//! - `harness_*` tests are crashes that were mistakes of the harness,
//!   kept so that the fix stays;
//! - `*_poll_timeout_*` tests are a core bug the fuzzer found (fixed in
//!   `handle_timeout`, which now repeats until no timer is due);
//! - a crash that is a core bug not fixed yet is added with
//!   `#[ignore = "core bug: ..."]`, and un-ignored with the fix
//!   (`cargo test -p slow-proto --test fuzz_regressions -- --ignored`).

// The harness files derive `Arbitrary` under the fuzz crate's own
// `arbitrary` feature, which this crate does not have.
#![allow(unexpected_cfgs)]

#[path = "../fuzz/src/frame_decoder.rs"]
mod frame_decoder;
#[path = "../fuzz/src/knobs.rs"]
mod knobs;
#[path = "../fuzz/src/pair.rs"]
mod pair;
#[path = "../fuzz/src/server_connection.rs"]
mod server_connection;

use bytes::BytesMut;
use slow_proto::frame::{Frame, Handshake, VERSION};
use slow_proto::{ErrorCode, RequestId, Settings};

use knobs::{ConfigKnobs, SettingsKnobs};

/// Settings and timeouts like a real deployment's, with small frames so
/// that bodies are split.
fn realistic() -> ConfigKnobs {
    ConfigKnobs {
        settings: SettingsKnobs {
            max_frame_size: 0, // 1,024
            max_message_size: 1 << 16,
            max_concurrent_requests: 2,
            idle_timeout_ms: 5_000,
        },
        handshake_timeout_ms: 10_000,
        keepalive_interval_ms: Some(3_000),
        keepalive_timeout_ms: 2_000,
        drain_timeout_ms: 5_000,
        send_high_water: 4_096,
        read_chunk: 512,
    }
}

fn wire(frames: &[Frame]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for frame in frames {
        frame.encode(&mut out);
    }
    out.to_vec()
}

// ---- frame_decoder --------------------------------------------------------

#[test]
fn frame_decoder_smoke() {
    use frame_decoder::{Input, run};
    use slow_proto::frame::Header;
    let mut data = wire(&[
        Frame::Hello(Handshake::new(VERSION, &Settings::default())),
        Frame::Request {
            id: RequestId::new(1),
            more: true,
            timeout_ms: Some(5),
            body: bytes::Bytes::from_static(b"abc"),
        },
        Frame::Ping { data: [7; 8] },
        Frame::GoAway {
            last_id: RequestId::new(3),
            code: ErrorCode::NO_ERROR,
            reason: "bye".into(),
        },
    ]);
    // A CANCEL with undefined flags, then half a frame.
    Header {
        length: 0,
        ty: slow_proto::frame::FrameType::CANCEL,
        flags: 0xF0,
        id: 9,
    }
    .encode(&mut data);
    data.extend_from_slice(&[0, 0, 0, 20, 7, 0, 0, 0, 0, 0, 1, 2]);
    for chunks in [vec![], vec![0], vec![1], vec![3, 0, 17], vec![1000]] {
        assert_eq!(
            run(&Input {
                max_frame_size: 0,
                chunks,
                data: data.clone()
            }),
            (5, false)
        );
    }
    // Oversized and malformed frames.
    let oversized = vec![0, 0, 4, 1, 0x7F, 0, 0, 0, 0, 0];
    assert_eq!(
        run(&Input {
            max_frame_size: 0,
            chunks: vec![4],
            data: oversized
        }),
        (0, true)
    );
    let short_ping = vec![0, 0, 0, 1, 8, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        run(&Input {
            max_frame_size: u32::MAX,
            chunks: vec![2],
            data: short_ping
        }),
        (0, true)
    );
}

// ---- server_connection ----------------------------------------------------

#[test]
fn server_connection_smoke() {
    use server_connection::{Answer, Command, Input, Step, Via, run};
    let request = |id, flags, payload: &[u8]| Step::Frame {
        ty: 3,
        flags,
        id,
        payload: payload.to_vec(),
    };
    let steps = vec![
        request(1, 0, b"one"),
        request(2, 1, &[1; 600]),
        Step::WriteBudget(Some(7)),
        Step::Bytes {
            data: vec![0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            via: Via::Buffer,
        },
        request(2, 0, &[2; 10]),
        Step::Advance {
            micros: 1_000_000,
            timely: true,
        },
        request(3, 2, &[0, 0, 0, 50, b'x']),
        Step::WriteBudget(None),
        Step::Command(Command::Answer {
            k: 0,
            answer: Answer::Respond(3_000),
        }),
        Step::Bytes {
            data: vec![0, 0, 0, 0, 6, 0, 0, 0, 0, 3],
            via: Via::Space { abandon: true },
        },
        Step::Advance {
            micros: 20_000_000,
            timely: true,
        },
        Step::Advance {
            micros: 20_000_000,
            timely: false,
        },
        Step::Eof,
    ];
    let answers = vec![
        Answer::Echo,
        Answer::Defer,
        Answer::Error {
            code: 0x100,
            message_len: 600,
        },
    ];
    let server = run(&Input {
        client: false,
        config: realistic(),
        handshake: Some(SettingsKnobs::default()),
        answers,
        steps: steps.clone(),
    });
    assert_eq!(server.requests, 3, "{server:?}");
    assert!(server.closed && server.frames_out > 5, "{server:?}");
    // A client given a server's input fails at the first frame.
    let client = run(&Input {
        client: true,
        config: realistic(),
        handshake: None,
        answers: vec![],
        steps,
    });
    assert!(client.closed && client.frames_out == 2, "{client:?}");
}

#[test]
fn server_connection_client_smoke() {
    use server_connection::{Command, Input, Step, run};
    let steps = vec![
        Step::Command(Command::Request {
            len: 1_000,
            timeout_ms: Some(500),
        }),
        Step::Command(Command::Request {
            len: 3_000,
            timeout_ms: None,
        }), // over 1,024: refused
        Step::Command(Command::Request {
            len: 10,
            timeout_ms: None,
        }),
        Step::Command(Command::Request {
            len: 10,
            timeout_ms: None,
        }),
        Step::Frame {
            ty: 4,
            flags: 1,
            id: 1,
            payload: vec![1; 100],
        },
        Step::Frame {
            ty: 5,
            flags: 0,
            id: 2,
            payload: vec![1, 0, b'n', b'o'],
        },
        Step::Command(Command::Cancel(2)),
        Step::Command(Command::Notify(100)),
        Step::Command(Command::Ping),
        Step::Command(Command::Close {
            code: 0,
            reason_len: 3,
        }),
        Step::Frame {
            ty: 4,
            flags: 0,
            id: 1,
            payload: vec![2; 100],
        },
        Step::Advance {
            micros: 600_000,
            timely: true,
        },
    ];
    let summary = run(&Input {
        client: true,
        config: realistic(),
        handshake: Some(SettingsKnobs {
            max_concurrent_requests: 2,
            ..SettingsKnobs::default()
        }),
        answers: vec![],
        steps,
    });
    assert_eq!(summary.requests, 3, "{summary:?}");
}

/// A 65,458-character close reason is the application's own output (cut to
/// the peer's MAX_FRAME_SIZE), not amplification; the harness first did
/// not count it.
#[test]
fn harness_counts_a_long_close_reason_as_application_output() {
    use server_connection::{Command, Input, Step, run};
    run(&Input {
        client: false,
        config: realistic(),
        handshake: None,
        answers: vec![],
        steps: vec![Step::Command(Command::Close {
            code: 45_647,
            reason_len: 65_458,
        })],
    });
}

/// Client mode: a request expires at `now` when the idle timeout (from the
/// WELCOME) ran out long before; `handle_timeout(now)` used to leave the
/// idle timer in the past. Same (fixed) core bug as
/// `pair_poll_timeout_not_in_the_past_after_a_request_expires`.
#[test]
fn server_connection_client_poll_timeout_after_request_expiry() {
    use server_connection::{Command, Input, Step, run};
    run(&Input {
        client: true,
        config: ConfigKnobs {
            handshake_timeout_ms: 10_000,
            ..ConfigKnobs::default()
        },
        handshake: Some(SettingsKnobs {
            idle_timeout_ms: 1_024,
            ..SettingsKnobs::default()
        }),
        answers: vec![],
        steps: vec![
            Step::Command(Command::Request {
                len: 9,
                timeout_ms: Some(65_535),
            }),
            Step::Advance {
                micros: 4_278_213_978,
                timely: false,
            },
        ],
    });
}

// ---- client_server_pair ---------------------------------------------------

#[test]
fn pair_smoke() {
    use pair::{Answer, Input, Op, run};
    let deliver = |to_server| Op::Deliver {
        to_server,
        len: 0,
        fragment: 0,
    };
    let ops = vec![
        Op::Request {
            len: 5,
            timeout_ms: None,
        },
        Op::Request {
            len: 3_000,
            timeout_ms: Some(2_000),
        },
        Op::Request {
            len: 7,
            timeout_ms: None,
        },
        Op::Deliver {
            to_server: true,
            len: 0,
            fragment: 13,
        },
        deliver(false),
        deliver(true),
        Op::Answer {
            k: 1,
            answer: Answer::Respond(2_500),
        },
        Op::Answer {
            k: 0,
            answer: Answer::Error(0x0123),
        },
        Op::Notify {
            from_client: false,
            len: 100,
        },
        Op::Ping { from_client: true },
        Op::Deliver {
            to_server: false,
            len: 1_500,
            fragment: 200,
        },
        deliver(false),
        deliver(true),
        Op::Cancel(2),
        deliver(true),
        Op::Advance { micros: 1_000_000 },
        deliver(true),
        deliver(false),
    ];
    for finish in [Answer::Respond(10), Answer::Error(0x200), Answer::Drop] {
        let summary = run(&Input {
            client: realistic(),
            server: realistic(),
            finish,
            ops: ops.clone(),
        });
        assert_eq!((summary.sent, summary.delivered), (3, 3), "{summary:?}");
        assert!(summary.responses >= 1, "{summary:?}");
    }
}

#[test]
fn pair_graceful_close_and_abort() {
    use pair::{Answer, Input, Op, run};
    let deliver = |to_server| Op::Deliver {
        to_server,
        len: 0,
        fragment: 0,
    };
    let ops = vec![
        Op::Request {
            len: 5,
            timeout_ms: None,
        },
        deliver(true),
        deliver(false),
        Op::Request {
            len: 5,
            timeout_ms: None,
        },
        Op::Close { client: false },
        deliver(true),
        deliver(false),
        Op::Abort {
            client: true,
            code: 0x0100,
        },
        deliver(true),
    ];
    let summary = run(&Input {
        client: realistic(),
        server: realistic(),
        finish: Answer::Respond(1),
        ops,
    });
    assert_eq!(summary.sent, 2, "{summary:?}");
}

/// The server closes gracefully before the HELLO arrived: the client's
/// connection ends with the server's NO_ERROR as a remote error. The
/// harness first took that for an accusation.
#[test]
fn harness_accepts_goaway_before_welcome() {
    use pair::{Answer, Input, Op, run};
    let quick = ConfigKnobs {
        handshake_timeout_ms: 38,
        ..realistic()
    };
    run(&Input {
        client: quick,
        server: ConfigKnobs {
            handshake_timeout_ms: 0,
            ..realistic()
        },
        finish: Answer::Drop,
        ops: vec![Op::Close { client: false }],
    });
}

/// The client application aborts with PROTOCOL_ERROR itself: its requests
/// fail with that code, which the harness first took for an accusation.
#[test]
fn harness_accepts_an_application_abort_with_any_code() {
    use pair::{Answer, Input, Op, run};
    let ops = vec![
        Op::Request {
            len: 1_799,
            timeout_ms: Some(1_799),
        },
        Op::Deliver {
            to_server: true,
            len: 0,
            fragment: 0,
        },
        Op::Abort {
            client: true,
            code: ErrorCode::PROTOCOL_ERROR.as_u16(),
        },
    ];
    let summary = run(&Input {
        client: realistic(),
        server: realistic(),
        finish: Answer::Drop,
        ops,
    });
    assert_eq!((summary.sent, summary.failed), (1, 1), "{summary:?}");
}

/// A client request with a timeout expires after the (shorter) idle
/// timeout has run out. `handle_timeout(now)` used to find the idle timer
/// off (a request was outstanding), then expire the request, and return
/// with the idle deadline (last activity + 73 ms) long past, so that
/// `poll_timeout()` answered an instant before `now`. Fixed in the core.
#[test]
fn pair_poll_timeout_not_in_the_past_after_a_request_expires() {
    use pair::{Answer, Input, Op, run};
    let client = ConfigKnobs {
        settings: SettingsKnobs {
            idle_timeout_ms: 73,
            ..realistic().settings
        },
        keepalive_interval_ms: None,
        ..realistic()
    };
    run(&Input {
        client,
        server: ConfigKnobs {
            keepalive_interval_ms: None,
            ..realistic()
        },
        finish: Answer::Drop,
        ops: vec![Op::Request {
            len: 1,
            timeout_ms: Some(2_815),
        }],
    });
}
