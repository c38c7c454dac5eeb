//! The `X-Addon-Signature` scheme that signs every request between the broker and a
//! third-party provider, both ways:
//!
//! `X-Addon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! The timestamp is inside the signed text, so a receiver that rejects timestamps outside
//! [`REPLAY_WINDOW_SECS`] and remembers the signatures it accepted within the window refuses
//! every replay.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "X-Addon-Signature";

/// How far a signature's timestamp may be from the receiver's clock, either way (5 minutes).
pub const REPLAY_WINDOW_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused; each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header at all.
    #[error("the request has no X-Addon-Signature header")]
    Missing,
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("X-Addon-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// The timestamp is outside the replay window.
    #[error("the X-Addon-Signature timestamp is more than 300 s away from the broker's clock")]
    Stale,
    /// The HMAC does not match the body.
    #[error("the X-Addon-Signature does not match the request body")]
    Mismatch,
}

/// A checked signature: its timestamp and the MAC, which a receiver keeps to refuse replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp.
    pub timestamp: i64,
    /// The hex MAC (unique per timestamp and body).
    pub mac: String,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    // HMAC takes keys of every length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a header value against `body` at `now` (unix seconds); the comparison of MACs is
/// constant-time.
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8], now: i64) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut given = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => given = Some(v.to_string()),
            // Unknown schemes (a future v2) are ignored, as Stripe-style schemes do.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let (timestamp, given) = timestamp.zip(given).ok_or(SignatureError::Malformed)?;
    let raw = hex::decode(&given).map_err(|_| SignatureError::Malformed)?;
    if now.abs_diff(timestamp) > REPLAY_WINDOW_SECS as u64 {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp, body)
        .verify_slice(&raw)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(Verified {
        timestamp,
        mac: given.to_ascii_lowercase(),
    })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let h = sign(b"secret", 1_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1000,v1="));
        let ok = verify(b"secret", Some(&h), b"{\"a\":1}", 1_010).unwrap();
        assert_eq!(ok.timestamp, 1_000);
        assert_eq!(
            verify(b"secret", Some(&h), b"{\"a\":2}", 1_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", Some(&h), b"{\"a\":1}", 1_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"secret", Some(&h), b"{\"a\":1}", 1_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"secret", Some(&h), b"{\"a\":1}", 699),
            Err(SignatureError::Stale)
        );
        let moved = h.replace("t=1000", "t=1001");
        assert_eq!(
            verify(b"secret", Some(&moved), b"{\"a\":1}", 1_010),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(verify(b"k", Some(bad), b"", 1), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(verify(b"k", None, b"", 1), Err(SignatureError::Missing));
    }

    #[test]
    fn the_mac_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-independent check: recompute with the hmac crate directly.
        let mut m = <HmacSha256 as Mac>::new_from_slice(b"key").unwrap();
        m.update(b"42.hello");
        let want = hex::encode(m.finalize().into_bytes());
        assert_eq!(sign(b"key", 42, b"hello"), format!("t=42,v1={want}"));
    }
}
