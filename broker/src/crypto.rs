//! Encryption at rest for binding credentials: XChaCha20-Poly1305 (AEAD) with a random 192-bit
//! nonce per message, so nonces never need coordinating between brokers that share a key.
//!
//! Sealed layout: `version (1 byte) ‖ nonce (24 bytes) ‖ ciphertext+tag`. The associated data
//! names the row the secret belongs to, so a sealed value copied to another row fails to open.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Seals and opens secrets with the broker's key. `Debug` never shows the key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// The keyed MAC behind [`Sealer::derive`], under a key derived from the cipher's so the
    /// cipher key is never used for two purposes.
    deriver: Hmac<Sha256>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

impl Sealer {
    /// A sealer from a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Sealer> {
        let bytes = B64
            .decode(key.trim())
            .map_err(|e| Error::internal("encryption key is not base64", e))?;
        if bytes.len() != 32 {
            return Err(Error::Internal(format!(
                "encryption key must be 32 bytes, got {}",
                bytes.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|e| Error::internal("encryption key", e))?;
        let mac =
            |key: &[u8]| <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|e| Error::internal("derivation key", e));
        let mut first = mac(&bytes)?;
        first.update(b"addon-broker/derive/v1");
        let deriver = mac(&first.finalize().into_bytes())?;
        Ok(Sealer { cipher, deriver })
    }

    /// Loads the key file at `path`, creating it (mode 0600) with a fresh key when absent.
    pub fn from_key_file(path: &Path) -> Result<Sealer> {
        if !path.exists() {
            let key = XChaCha20Poly1305::generate_key(&mut OsRng);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::internal(format!("creating {}", parent.display()), e))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|e| Error::internal(format!("creating key file {}", path.display()), e))?;
            file.write_all(B64.encode(key).as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::internal(format!("writing key file {}", path.display()), e))?;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::internal(format!("reading key file {}", path.display()), e))?;
        Sealer::from_base64(&text)
    }

    /// Encrypts `plaintext`, bound to `context` (the owning row's identity).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// A secret fixed by `context` and the key: 40 hex characters (160 bits). Every broker that
    /// shares the key derives the same value, so a step retried or raced after a lapsed lease
    /// sets the same password as the attempt before it.
    pub fn derive(&self, context: &str) -> String {
        let mut mac = self.deriver.clone();
        mac.update(context.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..20])
    }

    /// Decrypts what [`Sealer::seal`] produced for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(Error::Internal("sealed secret has an unknown format".into()));
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("a sealed secret failed to open (wrong key or tampered)".into()))
    }
}

/// Reads a private file, creating it (mode 0600) with `make()` when absent.
pub fn private_file(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_string());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::internal(format!("creating {}", parent.display()), e))?;
    }
    let value = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| Error::internal(format!("writing {}", path.display()), e))?;
    Ok(value)
}

/// Seals a provider-set config for the store.
pub fn seal_instance_config(sealer: &Sealer, instance_id: &str, config: &providers::Credentials) -> Result<Vec<u8>> {
    let plain = serde_json::to_vec(config).map_err(|e| Error::internal("encoding an instance config", e))?;
    sealer.seal(&plain, &format!("instance-config/{instance_id}"))
}

/// Opens a stored provider-set config.
pub fn open_instance_config(
    sealer: &Sealer,
    row: &crate::db::models::InstanceConfig,
) -> Result<providers::Credentials> {
    let plain = sealer.open(&row.config, &format!("instance-config/{}", row.instance_id))?;
    serde_json::from_slice(&plain).map_err(|e| Error::internal("stored config", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_base64(&B64.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn derived_secrets_depend_on_the_key_and_the_context_only() {
        let s = sealer();
        let other = Sealer::from_base64(&B64.encode([8u8; 32])).unwrap();
        let a = s.derive("bind/op-1");
        assert_eq!(a.len(), 40);
        assert_eq!(a, sealer().derive("bind/op-1"));
        assert_ne!(a, s.derive("bind/op-2"));
        assert_ne!(a, other.derive("bind/op-1"));
    }

    #[test]
    fn sealed_secrets_open_only_in_their_own_context() {
        let s = sealer();
        let sealed = s.seal(b"hunter2", "binding/a").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(s.open(&sealed, "binding/a").unwrap(), b"hunter2");
        assert!(s.open(&sealed, "binding/b").is_err());
    }

    #[test]
    fn tampered_secrets_fail_to_open() {
        let s = sealer();
        let mut sealed = s.seal(b"x", "c").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(s.open(&sealed, "c").is_err());
    }

    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = Sealer::from_key_file(&path).unwrap();
        let sealed = a.seal(b"v", "c").unwrap();
        let b = Sealer::from_key_file(&path).unwrap();
        assert_eq!(b.open(&sealed, "c").unwrap(), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert!(Sealer::from_base64(&B64.encode([1u8; 16])).is_err());
        assert!(Sealer::from_base64("not base64!").is_err());
    }
}
