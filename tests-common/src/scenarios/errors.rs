//! Typed errors: what each failure looks like to the caller.

use std::time::Duration;

use slow_driver::{Config, Error, ErrorCode, ErrorReply, Settings};
use slow_interop::driver::InteropService;

use crate::fixtures::Running;
use crate::handler::Answer;
use crate::runner::{TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

// ---- 10. typed errors -------------------------------------------------------

/// An ERROR from the server is `Error::Server` with its code and message.
pub async fn errors_server_error_is_typed<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    match client.request("!error 300 boom").await {
        Err(Error::Server { code, message }) => {
            assert_eq!(code, ErrorCode(300));
            assert_eq!(message, "boom");
        }
        other => panic!("{other:?}"),
    }
    // From a handler of our own.
    let server = Running::<T, W>::start(T::handler(|_req| {
        Answer::now(Err(ErrorReply::new(ErrorCode(0x0123), "mine")))
    }))
    .await;
    let client = server.client().await;
    let outcome = client.request("x").await;
    assert!(
        matches!(&outcome, Err(Error::Server { code: ErrorCode(0x0123), message }) if message == "mine"),
        "{outcome:?}"
    );
    assert!(!outcome.unwrap_err().is_retryable());
}

/// A request over the peer's message size is refused before anything is sent.
pub async fn errors_too_large_request_is_refused_locally<T: TestRuntime, W: Wire<T>>() {
    let config = Config {
        settings: Settings {
            max_message_size: 4096,
            max_frame_size: 1024,
            ..Settings::default()
        },
        ..Config::default()
    };
    let server = Running::<T, W>::start_with(
        InteropService::<T::Runtime>::current().unwrap(),
        config,
        None,
    )
    .await;
    let client = server.client().await;
    assert_eq!(client.peer_settings().max_message_size, 4096);
    let outcome = client.request(vec![1u8; 4097]).await;
    assert!(
        matches!(
            outcome,
            Err(Error::TooLarge {
                size: 4097,
                limit: 4096
            })
        ),
        "{outcome:?}"
    );
    // The limit itself is fine (split into 1024-byte frames), and the
    // connection is unharmed.
    assert_eq!(
        client.request(vec![1u8; 4096]).await.unwrap(),
        vec![1u8; 4096]
    );
}

/// Requests after `close` are `NotProcessed`, on every clone.
pub async fn errors_requests_after_close_are_not_processed<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let client = server.client().await;
    let other = client.clone();
    assert_eq!(client.request("before").await.unwrap(), "before");
    T::bounded("close", client.close()).await.unwrap();
    assert!(client.is_closed());
    for c in [&client, &other] {
        let outcome = c.request("after").await;
        assert!(matches!(outcome, Err(Error::NotProcessed)), "{outcome:?}");
        assert!(
            c.request_timeout("after", Duration::from_secs(1))
                .await
                .unwrap_err()
                .is_retryable()
        );
    }
    assert!(client.notify("after").is_err());
}

/// A panicking handler is answered INTERNAL_ERROR; the connection lives on.
pub async fn errors_handler_panic_is_answered<T: TestRuntime, W: Wire<T>>() {
    // A handler that panics must not leave its request outstanding for
    // ever (it would hold a concurrency slot and stall graceful shutdown).
    let server = Running::<T, W>::start(T::handler(|req| {
        if req.body == "panic" {
            panic!("handler panicked on purpose");
        }
        Answer::now(Ok(req.body.clone()))
    }))
    .await;
    let client = server.client().await;
    let outcome = T::bounded("an answer to a panicking handler", client.request("panic")).await;
    assert!(
        matches!(
            outcome,
            Err(Error::Server {
                code: ErrorCode::INTERNAL_ERROR,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(client.request("after").await.unwrap(), "after");
}
