//! Certificates the demo makes for itself (rcgen, in memory, never
//! written): a CA, a server certificate for `localhost` and `127.0.0.1`
//! signed by it, and a client certificate it signed too, so the TLS round
//! is mutual TLS with nothing for the user to provide.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use slow_driver::tls::{ClientTls, ServerTls};

use crate::error::CliError;

/// The names the demo's server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A CA and the two certificates it signed, as the server and the clients
/// of the demo's TLS round use them.
#[derive(Debug, Clone)]
pub struct DemoPki {
    /// The server's chain and key, requiring client certificates of the CA.
    pub server: ServerTls,
    /// Trusting the CA, presenting the client certificate.
    pub client: ClientTls,
}

impl DemoPki {
    /// A new CA, server and client certificate (ECDSA P-256 keys).
    pub fn generate() -> Result<DemoPki, CliError> {
        let failed = |e: rcgen::Error| CliError::Setup(format!("cannot make certificates: {e}"));
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "slow demo CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(failed)?)
            .map_err(failed)?;
        let leaf = |names: &[&str], cn: &str| -> Result<(String, String), CliError> {
            let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
            let mut params = CertificateParams::new(names).map_err(failed)?;
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().map_err(failed)?;
            let cert = params.signed_by(&key, &ca).map_err(failed)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(&SERVER_NAMES, "localhost")?;
        let (client_cert, client_key) = leaf(&["client.slow.demo"], "client.slow.demo")?;
        let ca = ca.pem();
        let config = |e| CliError::Setup(format!("the demo's own certificates: {e}"));
        let server = ServerTls::from_pem(
            server_cert.as_bytes(),
            server_key.as_bytes(),
            Some(ca.as_bytes()),
        )
        .map_err(config)?;
        let client = ClientTls::from_ca_pem(ca.as_bytes())
            .and_then(|c| c.client_cert_pem(client_cert.as_bytes(), client_key.as_bytes()))
            .map_err(config)?;
        Ok(DemoPki { server, client })
    }
}
