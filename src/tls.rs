//! TLS with rustls and its ring provider, for both sides: the certificate and key paytree
//! (or `paytree provider`) serves HTTPS with, and the roots its clients (the payment system's,
//! the webhook's) verify servers against: Mozilla's (compiled in), the system's, and an
//! optional extra CA file. Every file is read and checked at start, so a bad one is an error
//! then, never a failure on the first connection.

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// Only HTTP/1.1 is served and spoken.
const ALPN_HTTP1: &[u8] = b"http/1.1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))
}

/// Every certificate in the PEM file at `path`; at least one.
fn certificates(flag: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag}: {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{flag}: {} holds no PEM certificate (BEGIN CERTIFICATE)",
            path.display()
        );
    }
    Ok(certs)
}

/// What paytree serves HTTPS with: the certificate chain and its private key.
#[derive(Clone)]
pub struct ServerTls(tokio_rustls::TlsAcceptor);

impl ServerTls {
    /// Reads and checks `cert` (a PEM chain, leaf first) and `key` (a PEM private key: PKCS#8,
    /// PKCS#1 or SEC1) and that the key belongs to the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let chain = certificates("--tls-cert", cert)?;
        let pem = read("--tls-key", key)?;
        let private = PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
            format!(
                "--tls-key: {} holds no PEM private key (BEGIN PRIVATE KEY)",
                key.display()
            )
        })?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .with_context(|| {
                format!(
                    "--tls-cert {} and --tls-key {} do not make a usable pair",
                    cert.display(),
                    key.display()
                )
            })?;
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Self(Arc::new(config).into()))
    }

    pub(crate) fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.0
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// What paytree's HTTP clients verify servers with. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientTls(Arc<ClientConfig>);

impl ClientTls {
    /// Mozilla's roots, the system's (those it can read) and, with `ca_file`, every
    /// certificate in that PEM file (at least one, each a valid CA certificate).
    pub fn new(ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        let system = rustls_native_certs::load_native_certs();
        let (added, ignored) = roots.add_parsable_certificates(system.certs);
        tracing::debug!(added, ignored, errors = ?system.errors, "system root certificates");
        if let Some(path) = ca_file {
            for cert in certificates("--ca-file", path)? {
                roots.add(cert).with_context(|| {
                    format!(
                        "--ca-file: {} holds an unusable certificate",
                        path.display()
                    )
                })?;
            }
        }
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Self(Arc::new(config)))
    }

    /// A reqwest client builder that speaks TLS with these roots (and plain HTTP too).
    pub fn http_client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().tls_backend_preconfigured(ClientConfig::clone(&self.0))
    }
}

/// What went wrong with a request, with its causes (such as "invalid peer certificate:
/// UnknownIssuer") but without the URL.
pub fn request_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
