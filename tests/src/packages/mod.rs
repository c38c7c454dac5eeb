//! Package fixtures of the buildpack tests, served on loopback so that no build reaches the
//! internet:
//!
//! - [`py_index`]: a PEP 503 "simple" Python package index ([`PyIndex`]), run as
//!   `python3 -m http.server` over a directory this module lays out. It serves real PyPI files
//!   that `scripts/install-deps` fetched into a cache ([`PYPI_FILES`]), plus two projects built
//!   here from `tests/fixtures/packages/python/`: `fastsum 1.0.0`, an sdist with a C extension,
//!   and `hellopkg 1.0.0`, a wheel and an sdist with the console script `hello-cli`.
//! - [`npm_registry`]: an npm registry ([`NpmRegistry`]), an actix-web server in this process,
//!   serving packuments and tarballs of the packages in `tests/fixtures/packages/npm/`:
//!   `left-pad-lite 1.0.0` and `greet-cli 1.0.0` (a `bin`).
//! - [`python_app`], [`node_app`]: the example apps of `tests/apps/python-web` and
//!   `tests/apps/node-web` as file lists ([`Files`]), [`pack`] to archive one for a build and
//!   [`write_files`] to lay one out in a directory.

use std::path::{Path, PathBuf};

mod apps;
mod npm;
mod pypi;
mod wheel;

pub use apps::{node_app, node_app_locked, pack, python_app, write_files, Files};
pub use npm::{npm_registry, NpmPackage, NpmRegistry};
pub use pypi::{py_index, pypi_cache, PyIndex, PYPI_FILES};

/// The directory of the package fixtures' sources (`tests/fixtures/packages`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/packages")
}

/// Every regular file under `dir`, as (path relative to `dir` with `/` separators, contents,
/// mode), sorted by path; `__pycache__` directories and `node_modules` are left out.
pub fn read_tree(dir: &Path) -> Files {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).unwrap_or_else(|e| panic!("reading {}: {e}", current.display()));
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                if name != "__pycache__" && name != "node_modules" {
                    pending.push(path);
                }
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                out.push((relative, std::fs::read(&path).unwrap(), mode));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A deterministic `.tar.gz` (zero mtimes, files in the order given) of `files`, each under
/// `prefix` (empty for none, else a directory such as `package/`).
pub fn tar_gz(prefix: &str, files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{prefix}{path}"), data.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Waits until something accepts connections on `127.0.0.1:port`, or `child` exits (then the
/// error says how, with the end of `log`), or 30 s pass.
fn wait_for_port(child: &mut std::process::Child, port: u16, log: &Path, what: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{what} exited ({status}): {log}"));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not listen on port {port} within 30 s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
