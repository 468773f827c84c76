//! Optional TLS between nodes, mutual: every node presents a certificate signed by the
//! cluster's CA and accepts only peers that do, so a node needs the CA-signed key as well
//! as the cookie to join. A dialing node checks that the peer's certificate names the
//! peer (its subjectAltName holds the node name as a DNS name).
//!
//! Both of rustls' crypto back ends are linked into the workspace (aws-lc-rs through
//! ractor_cluster, ring through the HTTP client), so rustls cannot pick a process default:
//! the configs here name aws-lc-rs explicitly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where a node's TLS material is (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate chain; its subjectAltName names the node.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA certificates peers' certificates must chain to.
    pub ca: PathBuf,
}

/// Ready-made TLS for the listener and for dialing.
#[derive(Clone)]
pub(crate) struct NodeTls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

impl NodeTls {
    /// Loads the files; every problem names its file.
    pub(crate) fn load(files: &TlsFiles) -> Result<Self, String> {
        let chain = certs(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
            format!(
                "cannot read a private key from {}: {e}",
                files.key.display()
            )
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs(&files.ca)? {
            roots
                .add(ca)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", files.ca.display()))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("{}: {e}", files.ca.display()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("{} with {}: {e}", files.cert.display(), files.key.display()))?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("{} with {}: {e}", files.cert.display(), files.key.display()))?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// The name a peer's certificate must carry.
pub(crate) fn server_name(node: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(node.to_string())
        .map_err(|e| format!("node name `{node}` cannot be checked against a certificate: {e}"))
}
