//! HTTPS at the router (rustls): a default certificate, and certificates for particular names
//! chosen by the client's SNI (exact names first, then `*.parent` wildcards).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;
use crate::error::{Error, Result};

/// Certificates by the names they serve.
#[derive(Debug)]
struct Certificates {
    default: Option<Arc<CertifiedKey>>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let exact = name.as_deref().and_then(|n| self.by_name.get(n));
        let wildcard = || {
            let parent = name.as_deref()?.split_once('.')?.1;
            self.by_name.get(&format!("*.{parent}"))
        };
        exact.or_else(wildcard).or(self.default.as_ref()).cloned()
    }
}

/// The TLS acceptor of these settings; a missing or unreadable file is an error that names it.
pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let load = |cert: &Path, key: &Path| certified(&provider, cert, key);
    let default = if settings.cert_file.as_os_str().is_empty() {
        None
    } else {
        Some(load(&settings.cert_file, &settings.key_file)?)
    };
    let mut by_name = HashMap::new();
    for c in &settings.certificates {
        let key = load(&c.cert_file, &c.key_file)?;
        for d in &c.domains {
            by_name.insert(d.to_ascii_lowercase(), key.clone());
        }
    }
    if default.is_none() && by_name.is_empty() {
        return Err(Error::Internal(
            "router.tls.listen is set but no certificate is (router.tls.cert_file or router.tls.certificates)".into(),
        ));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("router TLS", e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Certificates { default, by_name }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A certificate chain and its key, read from PEM files.
fn certified(provider: &CryptoProvider, cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let named = |path: &Path| format!("router TLS: reading {}", path.display());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| Error::internal(named(cert), e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::internal(named(cert), e))?;
    if chain.is_empty() {
        return Err(Error::Internal(format!("{}: no certificate in it", named(cert))));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| Error::internal(named(key), e))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| Error::internal("router TLS: the private key", e))?;
    let certified = CertifiedKey::new(chain, signing);
    // A key that is not the certificate's would only show as failed handshakes: say so now.
    certified
        .keys_match()
        .map_err(|e| Error::internal(format!("router TLS: {} and {}", cert.display(), key.display()), e))?;
    Ok(Arc::new(certified))
}
