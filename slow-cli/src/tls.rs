//! The `--tls-*` flags: what `serve` listens with and what `call`, `bench`
//! and `conformance` connect with, loaded once at start-up so that a bad
//! PEM file is exit status 2 naming the flag and the file, before anything
//! listens or connects.

use std::path::{Path, PathBuf};

use slow_driver::tls::{ClientTls, ServerTls, TlsConfigError};

use crate::error::CliError;

/// `slow serve`'s TLS: a certificate chain and key, and optionally the CA
/// client certificates must come from (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ServerTlsArgs {
    /// Serve over TLS with this certificate chain (PEM, leaf first; needs
    /// --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by the CA in this PEM file
    /// (mutual TLS; needs --tls-cert and --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// Whether any TLS flag was given.
    pub fn given(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The server's TLS, `None` without the flags; a file that cannot be
    /// used is [`CliError::TlsConfig`] naming it.
    pub fn load(&self) -> Result<Option<ServerTls>, CliError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let files = [
            ("--tls-cert", Some(cert.as_path())),
            ("--tls-key", Some(key.as_path())),
            ("--tls-client-ca", self.tls_client_ca.as_deref()),
        ];
        ServerTls::from_pem_files_with_client_ca(cert, key, self.tls_client_ca.as_deref())
            .map(Some)
            .map_err(|e| blame(e, &files))
    }
}

/// A client's TLS (`call`, `bench`, `conformance`): the CA to trust,
/// optionally a client certificate, and the name to expect.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ClientTlsArgs {
    /// Connect over TLS, trusting the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Present this client certificate chain (PEM) for mutual TLS (needs
    /// --tls-key and --tls-ca).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_ca"])]
    pub tls_key: Option<PathBuf>,
    /// The name the server's certificate must be valid for (a DNS name or
    /// an IP address); default: the address's host (localhost for
    /// unix:PATH). Needs --tls-ca.
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    pub tls_name: Option<String>,
}

impl ClientTlsArgs {
    /// Whether any TLS flag was given.
    pub fn given(&self) -> bool {
        self.tls_ca.is_some()
    }

    /// The client's TLS, `None` without the flags. Built whole here (the
    /// rustls configuration too), so a client key that does not match its
    /// certificate is found at start-up, not at the first connection.
    pub fn load(&self) -> Result<Option<ClientTls>, CliError> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let files = [
            ("--tls-ca", Some(ca.as_path())),
            ("--tls-cert", self.tls_cert.as_deref()),
            ("--tls-key", self.tls_key.as_deref()),
        ];
        let blame = |e| blame(e, &files);
        let mut tls = ClientTls::from_ca_pem_file(ca).map_err(blame)?;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls = tls.client_cert_pem_files(cert, key).map_err(blame)?;
        }
        if let Some(name) = &self.tls_name {
            tls = tls
                .server_name(name)
                .map_err(|source| CliError::TlsConfig {
                    flags: format!("--tls-name {name}"),
                    source,
                })?;
        }
        tls.config().map_err(blame)?;
        Ok(Some(tls))
    }
}

/// The error with the flag it is about: the one whose file it names, or
/// (a certificate and key that do not go together) both of theirs.
fn blame(source: TlsConfigError, files: &[(&str, Option<&Path>)]) -> CliError {
    let named = match &source {
        TlsConfigError::Read { path, .. } | TlsConfigError::Pem { path, .. } => Some(path.clone()),
        _ => None,
    };
    let given = files
        .iter()
        .filter_map(|(flag, path)| path.map(|p| (*flag, p)));
    let flags: Vec<String> = match named {
        Some(named) => given
            .filter(|(_, p)| *p == named)
            .take(1)
            .map(|(flag, p)| format!("{flag} {}", p.display()))
            .collect(),
        // rustls's complaint is about the certificate and key together.
        None => given
            .filter(|(flag, _)| matches!(*flag, "--tls-cert" | "--tls-key"))
            .map(|(flag, p)| format!("{flag} {}", p.display()))
            .collect(),
    };
    CliError::TlsConfig {
        flags: flags.join(", "),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_blamed_on_its_flag() {
        let args = ServerTlsArgs {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
            tls_client_ca: None,
        };
        let e = args.load().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let line = e.to_string();
        assert!(
            line.starts_with(
                "--tls-cert /nonexistent/cert.pem: cannot read /nonexistent/cert.pem:"
            ),
            "{line}"
        );
    }
}
