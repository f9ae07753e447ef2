//! SLOW over Unix domain sockets, for the tests that cross runtimes on
//! them (`tests/unix.rs`, `tests/unix_custom.rs`): a directory for socket
//! files, every async runtime's INTEROP server bound to `unix:PATH`, its
//! client connecting there, and what every cell checks.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use slow_compio::Compio;
use slow_driver::runtime::Reactor;
use slow_driver::{Addr, Client, Error, ErrorCode, Server};
use slow_interop::driver::InteropService;
use slow_local_example::PerCore;

/// How long a server may take to start listening.
const LISTENING: Duration = Duration::from_secs(60);

/// The async adapters and the two thread-per-core runtimes (whose tasks
/// are not `Send`): `slow-local-example`'s and compio's (io_uring). Use
/// [`runtimes`], which leaves compio out where io_uring is unavailable.
pub const RUNTIMES: [&str; 5] = ["tokio", "smol", "async-std", "local", "compio"];

/// [`RUNTIMES`] that can run here: all of them, or all but compio where
/// io_uring is unavailable (`what` then says so).
pub fn runtimes(what: &str) -> Vec<&'static str> {
    let compio = crate::util::io_uring(what);
    RUNTIMES
        .into_iter()
        .filter(|&r| compio || r != "compio")
        .collect()
}

/// A directory of this test's own for socket files, removed when dropped.
pub struct SocketDir(PathBuf);

impl SocketDir {
    /// A fresh directory named after the process and `name`.
    pub fn new(name: &str) -> SocketDir {
        let dir = std::env::temp_dir().join(format!("slow-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("socket dir");
        SocketDir(dir)
    }

    /// A path for a socket file in it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runtime `server`'s INTEROP server bound by address (`unix:PATH`: the
/// driver binds the socket), in a thread of its own; returns once it
/// listens, with the address it reports. It serves until the process ends.
pub fn serve_at(server: &str, path: &Path) -> Addr {
    let (ready, listening) = mpsc::channel();
    let addr = format!("unix:{}", path.display());
    let name = server.to_owned();
    thread::Builder::new()
        .name(format!("unix-{name}-server"))
        .spawn(move || match name.as_str() {
            "tokio" => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async {
                    let server = slow_tokio::Server::bind(&addr).await.expect("bind");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    let service = InteropService::<slow_tokio::Tokio>::current().expect("handle");
                    server.serve(service).await.expect("serve");
                })
            }
            "smol" => smol::block_on(async {
                let server = slow_smol::Server::bind(&addr).await.expect("bind");
                ready.send(server.local_addr().expect("addr")).unwrap();
                let service = InteropService::new(slow_smol::Smol::global());
                server.serve(service).await.expect("serve");
            }),
            "async-std" => async_std::task::block_on(async {
                let server = slow_async_std::Server::bind(&addr).await.expect("bind");
                ready.send(server.local_addr().expect("addr")).unwrap();
                let service = InteropService::new(slow_async_std::AsyncStd);
                server.serve(service).await.expect("serve");
            }),
            "local" => {
                let rt = PerCore::new();
                rt.block_on(async {
                    let server = Server::<PerCore>::bind(&addr).await.expect("bind");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    server
                        .serve(InteropService::new(rt.clone()))
                        .await
                        .expect("serve");
                })
            }
            "compio" => slow_compio::runtime()
                .expect("a compio runtime")
                .block_on(async {
                    let server = Server::<Compio>::bind(&addr).await.expect("bind");
                    ready.send(server.local_addr().expect("addr")).unwrap();
                    server
                        .serve(InteropService::new(Compio::new()))
                        .await
                        .expect("serve");
                }),
            other => panic!("no runtime {other}"),
        })
        .expect("server thread");
    listening.recv_timeout(LISTENING).expect("server listening")
}

/// Runs [`exercise`] with a client of runtime `client` connecting by
/// address (`unix:PATH`).
pub fn call_at(client: &str, path: &Path) -> Result<(), Error> {
    let addr = format!("unix:{}", path.display());
    match client {
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(async { exercise(slow_tokio::Client::connect(&addr).await?.into()).await }),
        "smol" => smol::block_on(async {
            exercise(slow_smol::Client::connect(&addr).await?.into()).await
        }),
        "async-std" => async_std::task::block_on(async {
            exercise(slow_async_std::Client::connect(&addr).await?.into()).await
        }),
        "local" => PerCore::new()
            .block_on(async { exercise(Client::<PerCore>::connect(&addr).await?).await }),
        "compio" => slow_compio::runtime()
            .expect("a compio runtime")
            .block_on(async { exercise(Client::<Compio>::connect(&addr).await?).await }),
        other => panic!("no runtime {other}"),
    }
}

/// What every cell checks, on a client of any runtime.
pub async fn exercise<R: Reactor>(client: Client<R>) -> Result<(), Error> {
    assert_eq!(client.request("hello over unix").await?, "hello over unix");

    let body = client.request("!bytes 100000").await?;
    assert_eq!(body.len(), 100_000);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i % 251)
    );

    let mut notes = client.notifications();
    assert_eq!(client.request("!notify ping").await?, "notified");
    assert_eq!(notes.recv().await.as_deref(), Some(&b"ping"[..]));

    match client.request("!error 300 no such thing").await {
        Err(Error::Server { code, message }) => {
            assert_eq!(code, ErrorCode(300));
            assert_eq!(message, "no such thing");
        }
        other => panic!("expected ERROR 300, got {other:?}"),
    }
    client.close().await?;
    assert!(client.is_closed());
    Ok(())
}
