//! Request bodies streamed to disk (build archives): never held whole in memory, bounded in
//! size, cut off when they stall or take too long, and removed whatever happens: a temporary
//! file deleted on drop, and a directory emptied when the broker starts (after a crash).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// The bounds of one upload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes.
    pub max_bytes: u64,
    /// Longest pause between two chunks.
    pub idle: Duration,
    /// Longest whole upload.
    pub total: Duration,
}

/// A received body: a temporary file (deleted on drop), its size and its SHA-256.
#[derive(Debug)]
pub struct Upload {
    file: tempfile::TempPath,
    /// Bytes received.
    pub size: u64,
    /// `SHA256:<hex>` of the body.
    pub checksum: String,
}

impl Upload {
    /// Where the body is.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

/// Where uploads are spooled under the data directory.
pub fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

/// Removes what a previous run left in the spool (a crash mid-upload).
pub fn clear_spool(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Streams `body` into a new file in `dir` within `limits`. `declared` is the request's
/// `Content-Length`, refused at once when over the limit.
pub async fn receive<S, E>(body: S, declared: Option<u64>, dir: &Path, limits: Limits) -> Result<Upload>
where
    S: Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let too_large = || Error::PayloadTooLarge(format!("the archive is over {} bytes", limits.max_bytes));
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large());
    }
    let path = spool_file(dir).await?;
    let std_file = path
        .as_file()
        .try_clone()
        .map_err(|e| Error::internal("opening the upload file", e))?;
    let path = path.into_temp_path();
    let mut file = tokio::io::BufWriter::with_capacity(256 << 10, tokio::fs::File::from_std(std_file));
    let (mut hash, mut size) = (Sha256::new(), 0u64);
    let deadline = tokio::time::Instant::now() + limits.total;
    let mut body = body;
    loop {
        let wait = limits
            .idle
            .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let chunk = match tokio::time::timeout(wait, body.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(Some(Err(e))) => return Err(Error::BadRequest(format!("the upload broke off: {e}"))),
            Ok(None) => break,
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::RequestTimeout(format!(
                    "the upload took longer than {} s; send the archive faster or make it smaller",
                    limits.total.as_secs()
                )))
            }
            Err(_) => {
                return Err(Error::RequestTimeout(format!(
                    "the upload stalled: no data for {} s",
                    limits.idle.as_secs_f64()
                )))
            }
        };
        size += chunk.len() as u64;
        if size > limits.max_bytes {
            return Err(too_large());
        }
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::internal("writing the upload", e))?;
    }
    file.flush()
        .await
        .map_err(|e| Error::internal("writing the upload", e))?;
    Ok(Upload {
        file: path,
        size,
        checksum: format!("SHA256:{}", hex::encode(hash.finalize())),
    })
}

/// A new private file in `dir` (made private too).
async fn spool_file(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
        tempfile::Builder::new()
            .prefix("archive-")
            .tempfile_in(&dir)
            .map_err(|e| Error::internal("creating the upload file", e))
    })
    .await
    .map_err(|e| Error::internal("creating the upload file", e))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_bytes: 10,
            idle: Duration::from_secs(5),
            total: Duration::from_secs(5),
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = std::result::Result<bytes::Bytes, String>> + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(bytes::Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn a_body_lands_in_a_file_with_its_checksum_and_the_file_goes_with_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        let up = receive(chunks(&[b"hello ", b"you"]), None, dir.path(), limits())
            .await
            .unwrap();
        assert_eq!(std::fs::read(up.path()).unwrap(), b"hello you");
        assert_eq!(up.size, 9);
        assert_eq!(
            up.checksum,
            format!("SHA256:{}", hex::encode(Sha256::digest(b"hello you")))
        );
        let path = up.path().to_path_buf();
        drop(up);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = receive(chunks(&[b"0123456789", b"x"]), None, dir.path(), limits())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::PayloadTooLarge(_)), "{e}");
        let e = receive(chunks(&[]), Some(11), dir.path(), limits()).await.unwrap_err();
        assert!(matches!(e, Error::PayloadTooLarge(_)), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_stalled_body_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            idle: Duration::from_millis(100),
            ..limits()
        };
        let stalled = futures::stream::iter([Ok::<_, String>(bytes::Bytes::from_static(b"ab"))])
            .chain(futures::stream::pending());
        let e = receive(Box::pin(stalled), None, dir.path(), limits).await.unwrap_err();
        assert!(matches!(&e, Error::RequestTimeout(m) if m.contains("stalled")), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
