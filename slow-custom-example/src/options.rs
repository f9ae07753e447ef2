//! The server's command-line options: INTEROP.md's `slow serve` options,
//! parsed by hand to keep the dependency tree small.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use slow_proto::Config;
use slow_proto::config::ConfigError;

use crate::server::DEFAULT_MAX_CONNECTIONS;

/// What makes `--addr` a Unix socket path.
const UNIX_PREFIX: &str = "unix:";

/// The `--help` text.
pub const USAGE: &str = "\
Serves the SLOW interop service (shared/INTEROP.md) on a hand-written mio event loop.

Usage: slow-custom-example [--addr HOST:PORT | --addr unix:PATH] [OPTIONS]

Prints `listening on HOST:PORT` (or `listening on unix:PATH`) first, then
serves until SIGINT or SIGTERM, on which it shuts down gracefully (a second
signal exits at once). A Unix socket's file is removed at exit; a stale one
left by a dead server is replaced, a live server's is an error.

Options (N is a decimal number; `--opt=N` works too):
  --addr HOST:PORT            where to listen (default 127.0.0.1:0, a free port)
  --addr unix:PATH            listen on the Unix domain socket PATH instead
  --max-frame-size N          advertised MAX_FRAME_SIZE (1024..=16777215)
  --max-message-size N        advertised MAX_MESSAGE_SIZE (>= 1024)
  --max-concurrent N          advertised MAX_CONCURRENT_REQUESTS (>= 1)
  --idle-timeout-ms N         advertised IDLE_TIMEOUT_MS (0: none)
  --handshake-timeout-ms N    local handshake timeout
  --keepalive-interval-ms N   PING after this long without input (0: no keepalive)
  --keepalive-timeout-ms N    give up this long after an unanswered keepalive PING
  --drain-timeout-ms N        force a graceful close still running after this long
  --max-connections N         refuse connections beyond N with GOAWAY CONNECTION_LIMIT
                              (default 10000)
  --tls-cert FILE             serve over TLS with this PEM certificate chain (leaf first)
  --tls-key FILE              ... and this PEM private key (both or neither)
  --tls-client-ca FILE        require client certificates signed by a CA in this PEM file
                              (mutual TLS; needs --tls-cert)
  -h, --help                  print this text
";

/// What the server binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Where to listen, as given: `HOST:PORT` (resolved by the caller) or
    /// `unix:PATH` (see [`ServeOptions::unix_path`]).
    pub addr: String,
    /// Advertised settings and local timeouts for every connection.
    pub config: Config,
    /// The connection limit.
    pub max_connections: usize,
    /// `--tls-cert`: serve over TLS with this PEM certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`: its PEM private key (given with `tls_cert`).
    pub tls_key: Option<PathBuf>,
    /// `--tls-client-ca`: require client certificates signed by a CA in
    /// this PEM file (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: "127.0.0.1:0".into(),
            config: Config::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
        }
    }
}

/// Command-line options that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// `--help` or `-h`: print [`USAGE`] and stop.
    #[error("help requested")]
    Help,
    /// An option this program does not know.
    #[error("unknown option `{0}`")]
    Unknown(String),
    /// An option without its value.
    #[error("option `{0}` needs a value")]
    MissingValue(String),
    /// A value that is not a decimal number of the right size.
    #[error("option `{flag}`: `{value}` is not a valid number")]
    BadNumber {
        /// The option.
        flag: String,
        /// What was given.
        value: String,
    },
    /// The numbers parse but make no valid configuration (e.g. a
    /// MAX_FRAME_SIZE below 1024).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// `--tls-cert` without `--tls-key` or the other way round, or
    /// `--tls-client-ca` without them.
    #[error("`--tls-cert` and `--tls-key` go together (and `--tls-client-ca` needs them)")]
    TlsIncomplete,
}

impl ServeOptions {
    /// Parses the arguments (without the program name).
    ///
    /// ```
    /// use slow_custom_example::ServeOptions;
    ///
    /// let args = ["--addr", "127.0.0.1:7000", "--max-frame-size=4096", "--max-connections", "5"];
    /// let opts = ServeOptions::parse(args.map(String::from)).unwrap();
    /// assert_eq!(opts.config.settings.max_frame_size, 4096);
    /// assert_eq!(opts.max_connections, 5);
    /// ```
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServeOptions, OptionsError> {
        let mut opts = ServeOptions::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(OptionsError::Help);
            }
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None if is_known(&flag) => return Err(OptionsError::MissingValue(flag)),
                None => return Err(OptionsError::Unknown(flag)),
            };
            opts.set(&flag, value)?;
        }
        opts.config.validate()?;
        let (cert, key) = (opts.tls_cert.is_some(), opts.tls_key.is_some());
        if cert != key || (opts.tls_client_ca.is_some() && !cert) {
            return Err(OptionsError::TlsIncomplete);
        }
        Ok(opts)
    }

    /// The server's TLS config from the `--tls-*` files (`tls` feature);
    /// `None` when serving without TLS. A file that cannot be read or holds
    /// no usable PEM is an error naming it.
    ///
    /// ```
    /// use slow_custom_example::ServeOptions;
    ///
    /// assert!(ServeOptions::default().tls_config().unwrap().is_none());
    /// let args = ["--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"];
    /// let opts = ServeOptions::parse(args.map(String::from)).unwrap();
    /// let e = opts.tls_config().unwrap_err();
    /// assert!(e.to_string().starts_with("cannot read /no/cert.pem"), "{e}");
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_config(
        &self,
    ) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, crate::tls::TlsConfigError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        crate::tls::server_config(cert, key, self.tls_client_ca.as_deref()).map(Some)
    }

    /// The socket path when [`addr`](ServeOptions::addr) is `unix:PATH`;
    /// `None` for `HOST:PORT`.
    ///
    /// ```
    /// use slow_custom_example::ServeOptions;
    /// use std::path::Path;
    ///
    /// let opts = ServeOptions::parse(["--addr=unix:/run/slow.sock".to_string()]).unwrap();
    /// assert_eq!(opts.unix_path(), Some(Path::new("/run/slow.sock")));
    /// assert_eq!(ServeOptions::default().unix_path(), None);
    /// ```
    pub fn unix_path(&self) -> Option<&Path> {
        self.addr.strip_prefix(UNIX_PREFIX).map(Path::new)
    }

    fn set(&mut self, flag: &str, value: String) -> Result<(), OptionsError> {
        let settings = &mut self.config.settings;
        match flag {
            "--addr" => self.addr = value,
            "--max-frame-size" => settings.max_frame_size = number(flag, &value)?,
            "--max-message-size" => settings.max_message_size = number(flag, &value)?,
            "--max-concurrent" => settings.max_concurrent_requests = number(flag, &value)?,
            "--idle-timeout-ms" => settings.idle_timeout_ms = number(flag, &value)?,
            "--handshake-timeout-ms" => self.config.handshake_timeout = millis(flag, &value)?,
            "--keepalive-interval-ms" => {
                let interval = millis(flag, &value)?;
                self.config.keepalive_interval = (!interval.is_zero()).then_some(interval);
            }
            "--keepalive-timeout-ms" => self.config.keepalive_timeout = millis(flag, &value)?,
            "--drain-timeout-ms" => self.config.drain_timeout = millis(flag, &value)?,
            "--max-connections" => self.max_connections = number(flag, &value)?,
            "--tls-cert" => self.tls_cert = Some(value.into()),
            "--tls-key" => self.tls_key = Some(value.into()),
            "--tls-client-ca" => self.tls_client_ca = Some(value.into()),
            _ => return Err(OptionsError::Unknown(flag.to_owned())),
        }
        Ok(())
    }
}

fn is_known(flag: &str) -> bool {
    USAGE
        .lines()
        .any(|line| line.trim_start().split(' ').next() == Some(flag))
}

/// A decimal number: digits only (no sign, no spaces), in range for `T`.
fn number<T: FromStr>(flag: &str, value: &str) -> Result<T, OptionsError> {
    let bad = || OptionsError::BadNumber {
        flag: flag.to_owned(),
        value: value.to_owned(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value.parse().map_err(|_| bad())
}

fn millis(flag: &str, value: &str) -> Result<Duration, OptionsError> {
    number(flag, value).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeOptions, OptionsError> {
        ServeOptions::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_without_arguments() {
        assert_eq!(parse(&[]), Ok(ServeOptions::default()));
    }

    #[test]
    fn every_option_sets_its_field() {
        let opts = parse(&[
            "--addr=0.0.0.0:9",
            "--max-frame-size",
            "2048",
            "--max-message-size",
            "4096",
            "--max-concurrent",
            "3",
            "--idle-timeout-ms",
            "0",
            "--handshake-timeout-ms",
            "5",
            "--keepalive-interval-ms",
            "0",
            "--keepalive-timeout-ms",
            "6",
            "--drain-timeout-ms",
            "7",
            "--max-connections",
            "8",
        ])
        .unwrap();
        let c = &opts.config;
        assert_eq!(opts.addr, "0.0.0.0:9");
        assert_eq!(
            (c.settings.max_frame_size, c.settings.max_message_size),
            (2048, 4096)
        );
        assert_eq!(
            (
                c.settings.max_concurrent_requests,
                c.settings.idle_timeout_ms
            ),
            (3, 0)
        );
        assert_eq!(c.handshake_timeout, Duration::from_millis(5));
        assert_eq!(c.keepalive_interval, None);
        assert_eq!(c.keepalive_timeout, Duration::from_millis(6));
        assert_eq!(c.drain_timeout, Duration::from_millis(7));
        assert_eq!(opts.max_connections, 8);
    }

    #[test]
    fn bad_options_are_named() {
        assert_eq!(parse(&["--help"]), Err(OptionsError::Help));
        assert_eq!(
            parse(&["--nope"]),
            Err(OptionsError::Unknown("--nope".into()))
        );
        assert_eq!(
            parse(&["--nope", "1"]),
            Err(OptionsError::Unknown("--nope".into()))
        );
        assert_eq!(
            parse(&["--max-concurrent"]),
            Err(OptionsError::MissingValue("--max-concurrent".into()))
        );
        for value in ["-1", "+1", "x", "", "99999999999"] {
            let err = parse(&["--max-frame-size", value]);
            assert!(
                matches!(err, Err(OptionsError::BadNumber { .. })),
                "{value}: {err:?}"
            );
        }
        assert!(matches!(
            parse(&["--max-frame-size", "10"]),
            Err(OptionsError::Config(_))
        ));
        for args in [
            &["--tls-cert", "c.pem"][..],
            &["--tls-key", "k.pem"],
            &["--tls-client-ca", "ca.pem"],
        ] {
            assert_eq!(parse(args), Err(OptionsError::TlsIncomplete), "{args:?}");
        }
        assert_eq!(
            parse(&["--tls-cert"]),
            Err(OptionsError::MissingValue("--tls-cert".into()))
        );
    }

    #[test]
    fn tls_files_are_kept() {
        let opts = parse(&[
            "--tls-cert=c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-ca",
            "ca.pem",
        ])
        .unwrap();
        assert_eq!(opts.tls_cert.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(opts.tls_key.as_deref(), Some(Path::new("k.pem")));
        assert_eq!(opts.tls_client_ca.as_deref(), Some(Path::new("ca.pem")));
    }
}
