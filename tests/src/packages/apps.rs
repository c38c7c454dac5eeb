//! The buildpack tests' example apps, kept as files in `tests/apps/python-web` and
//! `tests/apps/node-web` and read at test time, with `@VERSION@` in their sources replaced by a
//! version string of the caller's (so that a test can tell one release's dynos from another's).
//!
//! - Python: `requirements.txt` (`six==1.16.0`, `idna==3.7`, `fastsum==1.0.0`,
//!   `hellopkg==1.0.0`), a Procfile with `web: python app.py`, `worker: python worker.py` and
//!   `release: python manage.py migrate`; `app.py` answers every GET on `$PORT` with
//!   `{"fastsum": 5, "six": "1.16.0", "idna": "3.7", "python": sys.executable, "version": ...}`,
//!   `worker.py` prints `tick N` every second, `manage.py migrate` prints `Migrations applied`.
//! - Node.js: `package.json` depending on `left-pad-lite ^1.0.0` and `greet-cli ^1.0.0`, with
//!   the scripts `start` (`node server.js`) and `build` (`node build.js`, which writes
//!   `build-output.txt`), a Procfile with `web: node server.js`; `server.js` answers on `$PORT`
//!   with `{"padded": "  7", "node": ..., "version": ...}`.

use std::path::Path;

use super::{npm_registry, read_tree};

/// An app's files: (path relative to the app's root, contents, mode).
pub type Files = Vec<(String, Vec<u8>, u32)>;

/// The Python example app, its version string `version`.
pub fn python_app(version: &str) -> Files {
    app("python-web", version)
}

/// The Node.js example app, its version string `version`, without a lock file (so a build
/// runs `npm install`).
pub fn node_app(version: &str) -> Files {
    app("node-web", version)
}

/// The Node.js example app with a `package-lock.json` resolved to the loopback registry (so a
/// build can run `npm ci`).
pub fn node_app_locked(version: &str) -> Files {
    let mut files = node_app(version);
    let lock = npm_registry().lockfile("node-web", &["greet-cli", "left-pad-lite"]);
    let text = serde_json::to_string_pretty(&lock).unwrap() + "\n";
    files.push(("package-lock.json".into(), text.into_bytes(), 0o644));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

fn app(name: &str, version: &str) -> Files {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps").join(name);
    read_tree(&dir)
        .into_iter()
        .map(|(path, data, mode)| {
            let data = match String::from_utf8(data) {
                Ok(text) => text.replace("@VERSION@", version).into_bytes(),
                Err(e) => e.into_bytes(),
            };
            (path, data, mode)
        })
        .collect()
}

/// A `.tar.gz` of an app's files, as a build takes it (paths at the archive's top).
pub fn pack(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    super::tar_gz("", files)
}

/// Writes an app's files under `dir` (creating directories, setting modes).
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>, u32)]) {
    use std::os::unix::fs::PermissionsExt;
    for (path, data, mode) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&target, data).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}
