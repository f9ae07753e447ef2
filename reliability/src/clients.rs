//! Running client code on each runtime: [`on_runtime!`](crate::on_runtime)
//! gives an async block the runtime value of the chosen kind (wrapped in a
//! task counter) and runs the block to completion on that runtime.

/// A tokio multi-thread runtime with 2 workers named `name`.
pub fn tokio_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `$body`, an async block that uses `$rt` (a
/// [`Counted`](crate::tasks::Counted) runtime of kind `$kind`), on that
/// runtime and returns its output. Client runtimes are tokio (a runtime of
/// its own, 2 workers), smol (the global executor) and async-std (the
/// global runtime); the custom loop has no async client, and compio's is
/// local (its futures are not `Send`), which the client code of these
/// tests (generic over `Runtime`) does not take.
///
/// ```ignore
/// let n = reliability::on_runtime!(Kind::Smol, |rt| async move {
///     let client = slow_driver::Client::connect_on(rt, addr, config).await?;
///     client.request("hi").await
/// });
/// ```
#[macro_export]
macro_rules! on_runtime {
    ($kind:expr, |$rt:ident| $body:expr) => {
        match $kind {
            $crate::servers::Kind::Tokio => {
                let runtime = $crate::clients::tokio_runtime("client-tokio");
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_tokio::Tokio(
                    runtime.handle().clone(),
                ));
                let out = runtime.block_on($body);
                runtime.shutdown_timeout(::std::time::Duration::from_secs(1));
                out
            }
            $crate::servers::Kind::Smol => {
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_smol::Smol::global());
                $crate::deps::smol::block_on($body)
            }
            $crate::servers::Kind::AsyncStd => {
                let $rt = $crate::tasks::Counted::new($crate::deps::slow_async_std::AsyncStd);
                $crate::deps::async_std::task::block_on($body)
            }
            $crate::servers::Kind::Custom => panic!("the custom example has no async client"),
            $crate::servers::Kind::Compio => {
                panic!("compio's client is local: these tests' clients run on `Send` runtimes")
            }
        }
    };
}
