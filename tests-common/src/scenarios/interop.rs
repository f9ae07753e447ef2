//! The INTEROP service (`shared/INTEROP.md`): each command, and the
//! refusals.

use std::time::Duration;

use slow_driver::runtime::Reactor;
use slow_driver::{Client, Config, Error, ErrorCode, Settings};

use crate::combinators::{join_all, join2};
use crate::fixtures::{Running, assert_pattern};
use crate::runner::{TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

/// The application error code the service uses for bad commands.
const COMMAND_ERROR: ErrorCode = ErrorCode(0x0100);

fn small_client_config(max_frame_size: u32, max_message_size: u32) -> Config {
    Config {
        settings: Settings {
            max_frame_size,
            max_message_size,
            ..Settings::default()
        },
        ..Config::default()
    }
}

// ---- 11. the INTEROP service ----------------------------------------------------

/// Asserts that `body` is answered ERROR `code` with `message`.
async fn expect_error<R: Reactor>(client: &Client<R>, body: &str, code: ErrorCode, message: &str) {
    match client.request(body.to_owned()).await {
        Err(Error::Server {
            code: c,
            message: m,
        }) => {
            assert_eq!((c, m.as_str()), (code, message), "for {body:?}");
        }
        other => panic!("for {body:?}: {other:?}"),
    }
}

/// `!sleep`: answered after the sleep, sleeps run concurrently.
pub async fn interop_sleep<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    assert_eq!(client.request("!sleep 0").await.unwrap(), "slept 0");
    assert_eq!(client.request("!sleep 30").await.unwrap(), "slept 30");
    let outcome = client
        .request_timeout("!sleep 60000", Duration::from_millis(100))
        .await;
    assert!(matches!(outcome, Err(Error::TimedOut)), "{outcome:?}");
    // Sleeps run concurrently.
    let sleeps = (0..20).map(|_| client.request("!sleep 200"));
    for got in join_all(sleeps).await {
        assert_eq!(got.unwrap(), "slept 200");
    }
}

/// `!error`: the code and message asked for.
pub async fn interop_error<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    expect_error(&client, "!error 300 boom", ErrorCode(300), "boom").await;
    expect_error(&client, "!error 300", ErrorCode(300), "").await;
    expect_error(&client, "!error 65535 a b  c", ErrorCode(65535), "a b  c").await;
    expect_error(
        &client,
        "!error 8 busy",
        ErrorCode::TOO_MANY_REQUESTS,
        "busy",
    )
    .await;
    expect_error(&client, "!error 65536 x", COMMAND_ERROR, "bad command").await;
}

/// `!notify`: the notification, then the answer.
pub async fn interop_notify<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let mut notes = client.notifications();
    assert_eq!(
        client.request("!notify hello there").await.unwrap(),
        "notified"
    );
    assert_eq!(
        T::bounded("the notification", notes.recv()).await.unwrap(),
        "hello there"
    );
    assert_eq!(client.request("!notify ").await.unwrap(), "notified");
    assert_eq!(
        T::bounded("the empty notification", notes.recv())
            .await
            .unwrap(),
        ""
    );
}

/// `!notify` too large for the client's frames: refused, nothing sent.
pub async fn interop_notify_too_large_for_client_frame_size<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client_with(small_client_config(1024, 1 << 20)).await;
    let mut notes = client.notifications();
    let too_large = format!("!notify {}", "x".repeat(1025));
    expect_error(
        &client,
        &too_large,
        ErrorCode::MESSAGE_TOO_LARGE,
        "notification larger than your MAX_FRAME_SIZE",
    )
    .await;
    let fits = format!("!notify {}", "y".repeat(1024));
    assert_eq!(client.request(fits).await.unwrap(), "notified");
    // The first notification to arrive is the one that fit: nothing was
    // sent for the other.
    assert_eq!(
        T::bounded("the notification", notes.recv()).await.unwrap(),
        "y".repeat(1024)
    );
    assert!(!client.is_closed());
}

/// A notification to the service comes back.
pub async fn interop_notification_echo<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let mut notes = client.notifications();
    for body in ["ping", "", "pong"] {
        client.notify(body).unwrap();
    }
    // Each comes back; in which order is the subject of
    // `notifications_reach_the_handler_in_order`.
    let mut echoed = Vec::new();
    for _ in 0..3 {
        echoed.push(T::bounded("the echo", notes.recv()).await.unwrap());
    }
    echoed.sort();
    assert_eq!(echoed, ["", "ping", "pong"]);
}

/// `!bytes` split into the client's small frames.
pub async fn interop_bytes_split_into_small_frames<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client_with(small_client_config(1024, 1 << 20)).await;
    for n in [0, 1, 251, 1024, 1025, 100_000, 1 << 20] {
        let got = client.request(format!("!bytes {n}")).await.unwrap();
        assert_pattern(&got, n);
    }
}

/// `!bytes` beyond the client's message size: refused, not a connection error.
pub async fn interop_bytes_beyond_client_message_size<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client_with(small_client_config(1024, 4096)).await;
    assert_pattern(&client.request("!bytes 4096").await.unwrap(), 4096);
    expect_error(
        &client,
        "!bytes 4097",
        ErrorCode::MESSAGE_TOO_LARGE,
        "response too large",
    )
    .await;
    expect_error(
        &client,
        "!bytes 10000000000",
        ErrorCode::MESSAGE_TOO_LARGE,
        "response too large",
    )
    .await;
    expect_error(
        &client,
        "!bytes 99999999999999999999999",
        COMMAND_ERROR,
        "bad command",
    )
    .await;
    // A refusal, not a connection error.
    assert!(!client.is_closed());
    assert_eq!(client.request("after").await.unwrap(), "after");
}

/// `!close` drains the requests in flight, then closes gracefully.
pub async fn interop_close_drains_then_closes<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    // `!sleep` is sent first (a request is on its way at its first poll),
    // so `!close` drains it rather than refusing it.
    let sleeper = client.request("!sleep 300");
    let closer = async {
        assert_eq!(client.request("!close").await.unwrap(), "closing");
        T::wait_until("the client to see the GOAWAY", || client.is_closed()).await;
        let refused = client.request("after").await;
        assert!(matches!(refused, Err(Error::NotProcessed)), "{refused:?}");
    };
    let (slept, ()) = join2(sleeper, closer).await;
    assert_eq!(slept.unwrap(), "slept 300");
    // The server closed gracefully: close() reports no error.
    T::bounded("close", client.close()).await.unwrap();
    // The server still serves new connections.
    let again = server.client().await;
    assert_eq!(again.request("again").await.unwrap(), "again");
}

/// Unknown and malformed commands are refused; non-commands are echoed.
pub async fn interop_unknown_and_bad_commands<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    for unknown in ["!dance", "!", "!SLEEP 1", "!nope 1 2"] {
        expect_error(&client, unknown, COMMAND_ERROR, "unknown command").await;
    }
    for bad in [
        "!sleep",
        "!sleep abc",
        "!sleep -1",
        "!sleep 1 2",
        "!bytes",
        "!bytes -1",
        "!error",
        "!error x",
        "!error 65536",
        "!notify",
        "!close now",
    ] {
        expect_error(&client, bad, COMMAND_ERROR, "bad command").await;
    }
    // Not a command at all: echoed.
    assert_eq!(client.request(" !sleep 1").await.unwrap(), " !sleep 1");
    assert!(!client.is_closed());
}
