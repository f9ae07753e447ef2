//! Notifications: both ways, their size limits, and their order.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use slow_driver::{Error, ErrorCode, ErrorReply, Notifications, Peer, Reply, Request, Settings};

use crate::fixtures::Running;
use crate::handler::{Answer, Peers, TestHandler};
use crate::runner::{ModeOf, TestRuntime, TestRuntimeExt};
use crate::wire::Wire;

// ---- 6. notifications both ways --------------------------------------------

/// The client notifications a [`notifier`] got, in order.
type Got = Arc<Mutex<Vec<Bytes>>>;

/// Records client notifications in `got`; `push a b c` notifies a, b and c
/// back before answering. Keeps the peers it saw.
fn notifier<T: TestRuntime>(got: &Got) -> (TestHandler<T::Runtime>, Peers<ModeOf<T>>) {
    let got = got.clone();
    T::handler(|request| Answer::now(push(request)))
        .on_notification(move |body, peer| {
            assert_eq!(peer.settings(), Settings::default());
            got.lock().unwrap().push(body);
        })
        .keeping_peers()
}

/// `push a b c`: notifies a, b and c, then answers.
fn push<M: slow_driver::runtime::Mode>(request: &Request<M>) -> Reply {
    let body = std::str::from_utf8(&request.body).unwrap_or("");
    let Some(words) = body.strip_prefix("push ") else {
        return Err(ErrorReply::new(ErrorCode(0x0200), "not push"));
    };
    for word in words.split(' ') {
        request
            .peer
            .notify(word.to_owned())
            .map_err(|e| ErrorReply::new(ErrorCode(0x0201), e.to_string()))?;
    }
    Ok(Bytes::from_static(b"pushed"))
}

/// Notifications client to server and server to client, and their size limits.
pub async fn notifications_both_ways<T: TestRuntime, W: Wire<T>>() {
    let got = Got::default();
    let (handler, peers) = notifier::<T>(&got);
    let server = Running::<T, W>::start(handler).await;
    let client = server.client().await;

    // Client to server.
    client.notify("one").unwrap();
    client.notify("two").unwrap();
    T::wait_until("the server to get both", || got.lock().unwrap().len() == 2).await;
    let mut got_now = got.lock().unwrap().clone();
    got_now.sort();
    assert_eq!(got_now, ["one", "two"]);

    // Server to client, from a handler and from outside one.
    let mut notes: Notifications<ModeOf<T>> = client.notifications();
    assert_eq!(client.request("push a b c").await.unwrap(), "pushed");
    for want in ["a", "b", "c"] {
        assert_eq!(
            T::bounded("a notification", notes.recv()).await.unwrap(),
            want
        );
    }
    let peer: Peer<ModeOf<T>> = peers.lock().unwrap()[0].clone();
    peer.notify("later").unwrap();
    assert_eq!(
        T::bounded("a notification", notes.recv()).await.unwrap(),
        "later"
    );
    assert!(matches!(
        peer.notify(vec![0u8; 65_537]),
        Err(Error::TooLarge {
            size: 65_537,
            limit: 65_536
        })
    ));

    // Too large for the server's frames: refused, nothing sent.
    let refused = client.notify(vec![0u8; 65_537]);
    assert!(
        matches!(
            refused,
            Err(Error::TooLarge {
                size: 65_537,
                limit: 65_536
            })
        ),
        "{refused:?}"
    );

    // Once the connection is closed, recv ends.
    client.close().await.unwrap();
    assert_eq!(
        T::bounded("the end of notifications", notes.recv()).await,
        None
    );
    assert_eq!(got.lock().unwrap().len(), 2);
}

/// 100 notifications reach the server's handler in the order sent.
pub async fn notifications_reach_the_handler_in_order<T: TestRuntime, W: Wire<T>>() {
    // NOTIFY frames arrive in order on one stream; the client hands them
    // out in order, and so should the server.
    let got = Got::default();
    let (handler, _) = notifier::<T>(&got);
    let server = Running::<T, W>::start(handler).await;
    let client = server.client().await;
    let sent: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    for body in &sent {
        client.notify(body.clone()).unwrap();
    }
    T::wait_until("all 100 notifications", || got.lock().unwrap().len() == 100).await;
    assert_eq!(*got.lock().unwrap(), sent);
}
