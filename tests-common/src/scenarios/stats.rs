//! The core's counters through the driver, over real sockets: a client's
//! [`Client::stats`](slow_driver::Client::stats) and the server's [`ServerStats`] totals agree, request
//! for request and byte for byte, and the totals outlive the serving.

use std::time::Duration;

use slow_driver::{Error, ErrorCode, ServerStats, Stats};

use crate::fixtures::Running;
use crate::runner::{ModeOf, TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

/// Requests answered, failed and timed out, notifications both ways:
/// each counted once on each side, the bytes and frames one side sent
/// those the other received, and the server's totals kept after it shut
/// down.
pub async fn stats_count_on_both_sides<T: TestRuntime, W: Wire<T>>() {
    let server = Running::<T, W>::interop().await;
    let served: ServerStats<ModeOf<T>> = server.stats.clone();
    assert_eq!(served.totals(), Stats::default());
    let client = server.client().await;

    for body in ["one", "two", "three"] {
        assert_eq!(client.request(body).await.unwrap(), body);
    }
    let failed = client.request("!error 300 boom").await;
    assert!(matches!(failed, Err(Error::Server { .. })), "{failed:?}");
    let slow = client
        .request_timeout("!sleep 100000", Duration::from_millis(100))
        .await;
    assert!(matches!(slow, Err(Error::TimedOut)), "{slow:?}");
    let mut notes = client.notifications();
    assert_eq!(client.request("!notify hi").await.unwrap(), "notified");
    client.notify("yo").unwrap(); // echoed back by the service
    for _ in 0..2 {
        T::bounded("a notification", notes.recv()).await.unwrap();
    }

    let mine = client.stats();
    assert_eq!(
        (mine.requests, mine.responses, mine.failed, mine.expired),
        (6, 4, 1, 1)
    );
    assert_eq!((mine.cancelled, mine.interrupted), (0, 0));
    assert_eq!(mine.errors_received.application(), 1);
    assert_eq!(
        (mine.notifications_sent, mine.notifications_received),
        (1, 2)
    );
    // The client's CANCEL for the timed-out request, and whatever else is
    // on its way, arrive: then each side received what the other sent.
    T::wait_until("the two sides to agree", || {
        let (mine, theirs) = (client.stats(), served.totals());
        theirs.bytes_received == mine.bytes_sent && mine.bytes_received == theirs.bytes_sent
    })
    .await;
    let (mine, theirs) = (client.stats(), served.totals());
    assert_eq!(mine.frames_sent, theirs.frames_received);
    assert_eq!(theirs.frames_sent, mine.frames_received);
    assert_eq!(
        (theirs.requests, theirs.responses, theirs.failed),
        (6, 4, 1)
    );
    // Its own deadline or the client's CANCEL, whichever came first.
    assert_eq!(theirs.expired + theirs.cancelled, 1, "{theirs:?}");
    assert_eq!(theirs.errors_sent.application(), 1);
    assert_eq!((served.connections(), served.open()), (1, 1));

    client.close().await.unwrap();
    // The server's side ends on the client's GOAWAY (a shutdown now could
    // close it before that GOAWAY is read).
    T::wait_until("the server's connection to finish", || served.open() == 0).await;
    server.shutdown().await.expect("served");
    assert_eq!((served.connections(), served.open()), (1, 0));
    let last = served.totals();
    assert_eq!(last.requests, 6);
    assert_eq!(last.goaways_received.get(ErrorCode::NO_ERROR), 1);
    assert_eq!(last.bytes_received, client.stats().bytes_sent);
    assert!(last.bytes_sent >= theirs.bytes_sent);
}
