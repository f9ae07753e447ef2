//! On a threaded runtime, what applications spawn is `Send`: a client's
//! futures and a server's `serve`. The scenarios' own tasks are not `Send`
//! (they are generic over the mode), so this is checked here instead, at
//! compile time and for every [`Runtime`] at once.

use slow_driver::runtime::Runtime;
use slow_driver::{Client, Server};
use slow_interop::driver::InteropService;

/// Never called: that it compiles is the check.
#[allow(dead_code)]
fn threaded_futures_are_send<R: Runtime>(
    client: Client<R>,
    server: Server<R>,
    service: InteropService<R>,
) -> impl Send {
    async move {
        let mut notes = client.notifications();
        let _ = client.request("x").await;
        let _ = notes.recv().await;
        let _ = client.close().await;
        let _ = server
            .serve_with_shutdown(service, std::future::pending())
            .await;
    }
}
