//! Certificates made for a test with rcgen: a CA, and a leaf for `localhost` and 127.0.0.1
//! signed by it, as PEM files in a temp dir; clients that trust the CA or do not.

use paytree::tls::{ClientTls, ServerTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use reqwest::Client;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

pub struct TestCerts {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The leaf's certificate and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The key of another leaf: no pair with `cert`.
    pub other_key: PathBuf,
    dir: TempDir,
}

pub fn test_certs() -> TestCerts {
    let dir = TempDir::new().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "paytree test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    TestCerts {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("cert.pem", leaf.pem()),
        key: write("key.pem", leaf_key.serialize_pem()),
        other_key: write(
            "other-key.pem",
            KeyPair::generate().unwrap().serialize_pem(),
        ),
        dir,
    }
}

/// A path as a flag's value.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

impl TestCerts {
    /// `--tls-cert CERT --tls-key KEY`.
    pub fn serve_flags(&self) -> [&str; 4] {
        ["--tls-cert", arg(&self.cert), "--tls-key", arg(&self.key)]
    }

    /// What a test server serves HTTPS with.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem_files(&self.cert, &self.key).unwrap()
    }

    /// A client that trusts the CA (and the usual roots).
    pub fn client(&self) -> Client {
        ClientTls::new(Some(&self.ca))
            .unwrap()
            .http_client()
            .build()
            .unwrap()
    }

    /// A client that trusts the CA and sends `key` as `Authorization: Bearer`.
    pub fn client_with_key(&self, key: &str) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!("Bearer {key}").parse().unwrap();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        ClientTls::new(Some(&self.ca))
            .unwrap()
            .http_client()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// A raw TLS connector that trusts the CA only, for tests below HTTP.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&self.ca).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config).into()
    }

    /// A file in the certificates' temp dir, for bad ones.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A client that trusts only the usual roots (Mozilla's and the system's), not the CA.
pub fn untrusting_client() -> Client {
    ClientTls::new(None).unwrap().http_client().build().unwrap()
}
