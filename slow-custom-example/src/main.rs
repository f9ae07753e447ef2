//! `slow-custom-example`: the INTEROP server on the hand-written loop.
//!
//! `cargo run -p slow-custom-example -- --addr 127.0.0.1:0` prints
//! `listening on HOST:PORT` (`--addr unix:PATH`: `listening on unix:PATH`),
//! then serves until SIGINT or SIGTERM, on which it shuts down gracefully
//! (a Unix socket's file removed) and exits 0. `--help` lists the options.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use slow_custom_example::{OptionsError, ServeOptions, Server, ShutdownHandle, Transport, USAGE};

fn main() -> ExitCode {
    let opts = match ServeOptions::parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(OptionsError::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("slow-custom-example: {e}\nTry `slow-custom-example --help`.");
            return ExitCode::from(2);
        }
    };
    // TLS files are loaded before anything is bound: a bad one is a bad
    // option (exit 2), named.
    let tls = match tls_config(&opts) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("slow-custom-example: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(opts, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slow-custom-example: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server's TLS, if `--tls-cert` asked for it.
#[cfg(feature = "tls")]
type Tls = Option<std::sync::Arc<rustls::ServerConfig>>;
/// Without the `tls` feature there is never one.
#[cfg(not(feature = "tls"))]
type Tls = Option<std::convert::Infallible>;

#[cfg(feature = "tls")]
fn tls_config(opts: &ServeOptions) -> Result<Tls, String> {
    opts.tls_config().map_err(|e| e.to_string())
}

#[cfg(not(feature = "tls"))]
fn tls_config(opts: &ServeOptions) -> Result<Tls, String> {
    match opts.tls_cert {
        Some(_) => Err("`--tls-cert`: built without the `tls` feature".into()),
        None => Ok(None),
    }
}

fn serve(opts: ServeOptions, tls: Tls) -> io::Result<()> {
    match opts.unix_path() {
        Some(path) => run(Server::bind_unix(path, opts.config.clone())?, &opts, tls),
        None => run(
            Server::bind(resolve(&opts.addr)?, opts.config.clone())?,
            &opts,
            tls,
        ),
    }
}

/// Announces the address, then serves until a signal's graceful shutdown
/// has drained; a Unix socket's file is gone when this returns.
fn run<T: Transport>(mut server: Server<T>, opts: &ServeOptions, tls: Tls) -> io::Result<()> {
    if let Some(tls) = tls {
        #[cfg(feature = "tls")]
        {
            server = server.tls(tls);
        }
        #[cfg(not(feature = "tls"))]
        match tls {}
    }
    server.set_max_connections(opts.max_connections);
    // Registered before announcing the address, so that a supervisor that
    // signals as soon as it reads the line gets a graceful shutdown.
    watch_signals(server.shutdown_handle())?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {}", server.listen_addr())?;
    stdout.flush()?;
    drop(stdout);
    server.run()
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{addr}` resolves to no address"),
        )
    })
}

/// The first SIGINT or SIGTERM starts the graceful shutdown; a second one
/// exits at once (leaving a Unix socket's file for the next server to
/// replace as stale). A plain thread blocked on the signal pipe, talking to the
/// loop only through its public [`ShutdownHandle`], as any embedder would.
fn watch_signals(handle: ShutdownHandle) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut received = signals.forever();
            if received.next().is_some() {
                let _ = handle.shutdown();
            }
            if received.next().is_some() {
                std::process::exit(130);
            }
        })?;
    Ok(())
}
