//! The adapters' own tests: one set of scenarios, generic over the runtime
//! (threaded or local, with readiness or completion streams), run by every
//! adapter's `tests/scenarios.rs`.
//!
//! Each adapter implements [`TestRuntime`] for a marker type and invokes
//! [`scenario_tests!`], which makes one `#[test]` of each scenario and
//! (given the adapter's crate, for an adapter on a threaded runtime)
//! checks, at compile time, that the adapter's `Client` and `Server` wrap
//! the driver's on its runtime and its `Config`, `Error`, ... are the
//! driver's types (so an adapter whose API drifts from the others fails to
//! compile):
//!
//! ```text
//! struct TokioTest;
//!
//! impl tests_common::TestRuntime for TokioTest {
//!     type Runtime = slow_tokio::Tokio;
//!     type Raw = tests_common::ReadinessIo; // CompletionIo for io_uring streams
//!     fn block_on(f: impl Future<Output = ()>) { /* a runtime per test */ }
//!     async fn sleep(d: Duration) { tokio::time::sleep(d).await }
//! }
//!
//! tests_common::scenario_tests!(TokioTest, slow_tokio);
//! ```
//!
//! The same scenarios run over mutual TLS with the macro's second form, in
//! a test file of their own (`tests/scenarios_tls.rs`):
//! `scenario_tests!(tls: TokioTest, slow_tokio)` (readiness streams only:
//! rustls runs on `Stream`s). What a scenario's connections run over is
//! its [`Wire`]: [`Plain`] or [`MutualTls`].
//!
//! Every scenario is bounded: the whole of it by [`LIMIT`], every wait
//! inside it by [`WAIT`]. Raw peers (a client that never cancels, a server
//! that dies mid-request) speak hand-encoded frames over the adapter's own
//! `slow_driver::runtime` sockets (TLS on them, over [`MutualTls`]),
//! independently of the protocol core.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod combinators;
mod fixtures;
mod handler;
pub mod pki;
mod raw;
mod runner;
pub mod scenarios;
mod send;
pub mod wire;

pub use handler::TestHandler;
pub use raw::{CompletionIo, RawIo, ReadinessIo};
pub use runner::{LIMIT, TestRuntime, WAIT, run};
pub use wire::{MutualTls, Plain, Served, Wire};

/// What [`scenario_tests!`]'s expansion names; not an API.
#[doc(hidden)]
pub mod __private {
    pub use slow_driver;
}

/// One `#[test]` per scenario on the [`TestRuntime`] `$rt`, named as the
/// scenario, plus (given an adapter crate `$adapter`) a compile-time check
/// that the adapter exports the driver's types under the names the
/// scenarios use, with its `Client` and `Server` wrapping the driver's on
/// `$rt`'s runtime. A runtime of your own with no adapter crate (see
/// `docs/RUNTIMES.md`) passes only `$rt`: `scenario_tests!(MyTest);`.
///
/// With `tls:` first (`scenario_tests!(tls: MyTest, my_adapter)`), the
/// scenarios run over mutual TLS ([`MutualTls`]), plus the TLS-only ones,
/// and the check covers the adapter's `tls` module too (the adapter's
/// `tls` feature on). Each form in a test binary of its own: the test
/// names are the scenarios' in both.
///
/// Invoke it at the root of the test crate: the scenario
/// `accept_out_of_descriptors_does_not_stall_the_server` reruns its own
/// test binary with `--exact` and that name.
#[macro_export]
macro_rules! scenario_tests {
    (@tests $rt:ty, $wire:ty; $($(#[$attr:meta])* $group:ident::$name:ident),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                $crate::run::<$rt>(
                    stringify!($name),
                    $crate::scenarios::$group::$name::<$rt, $wire>(),
                );
            }
        )*
    };
    (@api $rt:ty, $adapter:ident) => {
        const _: () = {
            use $crate::__private::slow_driver as driver;
            type R = <$rt as $crate::TestRuntime>::Runtime;

            #[allow(dead_code, clippy::type_complexity)]
            fn adapter_names_are_the_driver_types(
                api: (
                    $adapter::Notifications,
                    $adapter::Config,
                    $adapter::Settings,
                    $adapter::Error,
                    $adapter::ErrorCode,
                    $adapter::ErrorReply,
                    $adapter::Peer,
                    $adapter::Request,
                    $adapter::Reply,
                    $adapter::Stats,
                    $adapter::CodeCounts,
                    $adapter::ServerStats,
                ),
            ) -> (
                driver::Notifications,
                driver::Config,
                driver::Settings,
                driver::Error,
                driver::ErrorCode,
                driver::ErrorReply,
                driver::Peer,
                driver::Request,
                driver::Reply,
                driver::Stats,
                driver::CodeCounts,
                driver::ServerStats,
            ) {
                api
            }

            #[allow(dead_code)]
            fn adapter_client_and_server_wrap_the_driver_types(
                client: $adapter::Client,
                server: $adapter::Server,
            ) -> (driver::Client<R>, driver::Server<R>) {
                let client: &driver::Client<R> = client.as_ref();
                let server = driver::Server::<R>::from(server);
                (
                    $adapter::Client::from(client.clone()).into_inner(),
                    $adapter::Server::from(server).into_inner(),
                )
            }

            #[allow(dead_code)]
            fn adapter_handler_is_the_driver_handler(
                handler: impl $adapter::Handler,
            ) -> impl driver::Handler {
                handler
            }

            /// Connecting and binding can be spawned (their futures are
            /// `Send`; `connect`'s once held its peer name as a `&dyn
            /// Display` across an await, which is not).
            #[allow(dead_code)]
            fn connecting_and_binding_are_send() -> impl Send {
                async {
                    let _ = $adapter::Client::connect("127.0.0.1:7000").await;
                    let _ = $adapter::Server::bind("127.0.0.1:0").await;
                }
            }
        };
    };
    (@api_tls $rt:ty, $adapter:ident) => {
        const _: () = {
            use $crate::__private::slow_driver as driver;
            type R = <$rt as $crate::TestRuntime>::Runtime;

            #[allow(dead_code)]
            fn adapter_tls_is_the_driver_tls(
                api: (
                    $adapter::tls::ServerTls,
                    $adapter::tls::ClientTls,
                    $adapter::tls::TlsIdentity,
                ),
            ) -> (driver::tls::ServerTls, driver::tls::ClientTls, driver::tls::TlsIdentity) {
                api
            }

            /// The adapter's TLS server wraps the driver's, over the
            /// driver's TLS listener.
            #[allow(dead_code)]
            fn adapter_tls_server_wraps_the_driver_server(
                server: $adapter::Server,
                tls: driver::tls::ServerTls,
            ) -> driver::Server<R, driver::tls::TlsListener<driver::net::NetListener<R>>> {
                server.tls(tls).into()
            }

            /// Connecting over TLS and serving over TLS can be spawned.
            #[allow(dead_code)]
            fn connecting_and_serving_over_tls_are_send(
                client: driver::tls::ClientTls,
                server: driver::tls::ServerTls,
            ) -> impl Send {
                async move {
                    if let Ok(c) = $adapter::Client::connect_tls("127.0.0.1:7000", &client).await {
                        let _: Option<driver::tls::TlsIdentity> = c.tls_identity();
                    }
                    if let Ok(s) = $adapter::Server::bind("127.0.0.1:0").await {
                        let echo = |req: $adapter::Request| async move { Ok(req.body) };
                        let _ = s.tls(server).serve(echo).await;
                    }
                }
            }
        };
    };
    // Every scenario that runs over either wire, then `$extra`.
    (@each $rt:ty, $wire:ty; $($extra:tt)*) => {
        $crate::scenario_tests! {
            @tests $rt, $wire;
            // 1. echo
            requests::echo,
            // 2. 1 MiB both ways
            requests::one_mib_bodies_both_ways,
            // 3. 1,000 concurrent requests from 50 tasks on one cloned client
            requests::thousand_concurrent_requests_from_fifty_tasks,
            // 4. deadlines
            requests::deadline_client_side_times_out,
            requests::deadline_server_side_deadline_exceeded,
            // 5. cancel by drop
            requests::cancel_by_drop_stops_the_handler,
            // 6. notifications both ways
            notifications::notifications_both_ways,
            notifications::notifications_reach_the_handler_in_order,
            // 7. graceful shutdown with requests in flight
            connections::graceful_shutdown_finishes_in_flight_requests,
            // 8. server killed mid-request
            connections::server_killed_mid_request_is_connection_lost,
            connections::server_killed_mid_response_is_connection_lost,
            connections::server_reset_is_connection_lost_with_its_cause,
            // 9. max connections
            connections::max_connections_refuses_the_second_client,
            connections::accept_out_of_descriptors_does_not_stall_the_server,
            // timers of the adapters: handshake, keepalive, idle
            timers::handshake_timeout_with_a_silent_server,
            timers::keepalive_timeout_with_a_server_that_stops_answering,
            timers::idle_timeout_closes_gracefully,
            // 10. typed errors
            errors::errors_server_error_is_typed,
            errors::errors_too_large_request_is_refused_locally,
            errors::errors_requests_after_close_are_not_processed,
            errors::errors_handler_panic_is_answered,
            // the core's counters, on both sides
            stats::stats_count_on_both_sides,
            // 11. the INTEROP service
            interop::interop_sleep,
            interop::interop_error,
            interop::interop_notify,
            interop::interop_notify_too_large_for_client_frame_size,
            interop::interop_notification_echo,
            interop::interop_bytes_split_into_small_frames,
            interop::interop_bytes_beyond_client_message_size,
            interop::interop_close_drains_then_closes,
            interop::interop_unknown_and_bad_commands,
            $($extra)*
        }
    };
    (tls: $rt:ty, $adapter:ident) => {
        $crate::scenario_tests!(@api $rt, $adapter);
        $crate::scenario_tests!(@api_tls $rt, $adapter);
        $crate::scenario_tests!(tls: $rt);
    };
    (tls: $rt:ty) => {
        $crate::scenario_tests!(@each $rt, $crate::MutualTls;
            // Not over TLS: `connections::streams_half_close_with_a_fin` is
            // about the runtime's own TCP and Unix streams (the FIN their
            // shutdown sends, seen by a std socket); its TLS counterpart,
            // on TLS over both, is `tls_streams_half_close_with_close_notify`.
            // What only TLS has:
            tls::mutual_tls_identities_both_ways,
            tls::tls_streams_half_close_with_close_notify,
        );
    };
    ($rt:ty, $adapter:ident) => {
        $crate::scenario_tests!(@api $rt, $adapter);
        $crate::scenario_tests!($rt);
    };
    ($rt:ty) => {
        $crate::scenario_tests!(@each $rt, $crate::Plain;
            // the runtime's streams: a half-close is a FIN
            connections::streams_half_close_with_a_fin,
        );
    };
}
