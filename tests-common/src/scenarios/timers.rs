//! The adapters' timers: handshake, keepalive and idle timeouts.

use std::time::Duration;

use slow_driver::{Config, Error, ErrorCode, Settings};
use slow_interop::driver::InteropService;

use crate::fixtures::Running;
use crate::raw::{Raw, raw_server};
use crate::runner::{TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

// ---- the adapters' timers ------------------------------------------------

/// A server that never says WELCOME: the connect fails with HANDSHAKE_TIMEOUT.
pub async fn handshake_timeout_with_a_silent_server<T: TestRuntime, W: Wire<T>>() {
    let (addr, server) = raw_server(|mut raw: Raw<T, W>| async move {
        // Reads the HELLO, never answers; waits for the client to give up.
        while raw.read().await.is_some() {}
    })
    .await;
    let config = Config {
        handshake_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let outcome = T::bounded("connect", W::connect(addr, config)).await;
    match outcome {
        Err(Error::Closed {
            code: ErrorCode::HANDSHAKE_TIMEOUT,
            ..
        }) => {}
        Err(other) => panic!("wrong error: {other:?}"),
        Ok(_) => panic!("connected to a server that never said WELCOME"),
    }
    T::bounded("the raw server to see the end", server.join()).await;
}

/// A server that stops answering PINGs: KEEPALIVE_TIMEOUT.
pub async fn keepalive_timeout_with_a_server_that_stops_answering<T: TestRuntime, W: Wire<T>>() {
    let (addr, server) = raw_server(|mut raw: Raw<T, W>| async move {
        raw.welcome().await;
        // From now on: reads everything (PINGs included), answers nothing.
        while raw.read().await.is_some() {}
    })
    .await;
    let config = Config {
        keepalive_interval: Some(Duration::from_millis(100)),
        keepalive_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let client = T::bounded("connect", W::connect(addr, config))
        .await
        .unwrap();
    let outcome = T::bounded("the request", client.request("never answered")).await;
    assert!(
        matches!(
            outcome,
            Err(Error::Closed {
                code: ErrorCode::KEEPALIVE_TIMEOUT,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(client.is_closed());
    T::bounded("the raw server to see the end", server.join()).await;
}

/// Activity keeps a connection open past the idle timeout; idleness closes it gracefully.
pub async fn idle_timeout_closes_gracefully<T: TestRuntime, W: Wire<T>>() {
    let config = Config {
        settings: Settings {
            idle_timeout_ms: 1000,
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
    assert_eq!(client.peer_settings().idle_timeout_ms, 1000);
    // Activity keeps it open longer than the idle timeout (an outstanding
    // request is activity; the gaps between them are short, though an
    // overloaded machine could stretch one, hence the wide margin)...
    for _ in 0..4 {
        assert_eq!(client.request("!sleep 300").await.unwrap(), "slept 300");
    }
    // ... idleness closes it, gracefully.
    T::wait_until("the idle timeout", || client.is_closed()).await;
    T::bounded("close", client.close()).await.unwrap();
    let after = client.request("after").await;
    assert!(matches!(after, Err(Error::NotProcessed)), "{after:?}");
}
