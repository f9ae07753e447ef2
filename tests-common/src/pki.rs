//! Certificates for TLS tests, made at run time with rcgen (no private key
//! is committed): a CA, a server certificate for `localhost`, `127.0.0.1`
//! and `::1`, a client certificate, and the bad ones the hostile cases need
//! (expired, another CA's, the wrong name).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
    /// The certificate, DER (what a peer's
    /// [`TlsIdentity`](slow_driver::tls::TlsIdentity) holds).
    pub cert_der: Vec<u8>,
}

/// One test PKI: a CA and what it signed.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA's certificate (what clients and mutual-TLS servers trust).
    pub ca: String,
    /// The CA's certificate, DER.
    pub ca_der: Vec<u8>,
    /// For `localhost`, `127.0.0.1` and `::1`, signed by the CA.
    pub server: Pem,
    /// A client certificate (CN and DNS name `client.slow.test`), signed
    /// by the CA.
    pub client: Pem,
    /// Like `server`, but it expired yesterday.
    pub expired_server: Pem,
    /// For `other.slow.test` only, signed by the CA.
    pub wrong_name_server: Pem,
}

/// The server names every test server certificate is valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// The client certificate's name.
pub const CLIENT_NAME: &str = "client.slow.test";

impl Pki {
    /// A new CA and its certificates.
    pub fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "SLOW test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let leaf = |names: &[&str], cn: &str, expired: bool| {
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .expect("params");
            params.distinguished_name.push(DnType::CommonName, cn);
            if expired {
                let now = rcgen::date_time_ymd(2020, 1, 1);
                params.not_before = now;
                params.not_after = rcgen::date_time_ymd(2020, 1, 2);
            }
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &ca).expect("sign");
            Pem {
                cert: cert.pem(),
                key: key.serialize_pem(),
                cert_der: cert.der().to_vec(),
            }
        };
        Pki {
            ca: ca.pem(),
            ca_der: ca.der().to_vec(),
            server: leaf(&SERVER_NAMES, "localhost", false),
            client: leaf(&[CLIENT_NAME], CLIENT_NAME, false),
            expired_server: leaf(&SERVER_NAMES, "localhost", true),
            wrong_name_server: leaf(&["other.slow.test"], "other.slow.test", false),
        }
    }

    /// Writes every PEM into `dir` (created), returning the paths:
    /// `ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`,
    /// `expired.pem`/`expired.key`, `wrong-name.pem`/`wrong-name.key`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<PkiFiles> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        Ok(PkiFiles {
            ca: write("ca.pem", &self.ca)?,
            server_cert: write("server.pem", &self.server.cert)?,
            server_key: write("server.key", &self.server.key)?,
            client_cert: write("client.pem", &self.client.cert)?,
            client_key: write("client.key", &self.client.key)?,
            expired_cert: write("expired.pem", &self.expired_server.cert)?,
            expired_key: write("expired.key", &self.expired_server.key)?,
            wrong_name_cert: write("wrong-name.pem", &self.wrong_name_server.cert)?,
            wrong_name_key: write("wrong-name.key", &self.wrong_name_server.key)?,
        })
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// Where [`Pki::write_to`] put each PEM.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    pub wrong_name_cert: PathBuf,
    pub wrong_name_key: PathBuf,
}
