//! The loopback Python package index: a PEP 503 "simple" repository laid out in a temporary
//! directory (`simple/index.html`, and per project `simple/<normalized-name>/index.html` with
//! the project's files beside it, linked with `#sha256=` fragments), served by
//! `/usr/bin/python3 -m http.server` on a free loopback port, once per test process. A reaper
//! stops the server and removes the directory when the test process exits.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use broker::devservers::{free_port, spawn_reaper, Reaper};
use sha2::Digest;

use super::{fixtures_dir, read_tree, tar_gz, wait_for_port, wheel};

/// The PyPI files the index serves, as (project, file name): fetched into [`pypi_cache`] by
/// `scripts/install-deps`, never by the tests. `setuptools` and `wheel` are there for pip's
/// build isolation, which installs the build backend of an sdist from the index.
pub const PYPI_FILES: &[(&str, &str)] = &[
    ("six", "six-1.16.0-py2.py3-none-any.whl"),
    ("six", "six-1.16.0.tar.gz"),
    ("idna", "idna-3.7-py3-none-any.whl"),
    ("itsdangerous", "itsdangerous-2.2.0-py3-none-any.whl"),
    ("setuptools", "setuptools-75.8.0-py3-none-any.whl"),
    ("wheel", "wheel-0.44.0-py3-none-any.whl"),
];

/// The console script of `hellopkg`, as its wheel's `entry_points.txt` declares it.
const HELLOPKG_ENTRY_POINTS: &str = "[console_scripts]\nhello-cli = hellopkg:main\n";

/// Where `scripts/install-deps` puts [`PYPI_FILES`]: `$BROKER_TEST_PYPI_CACHE`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/addon-broker/pypi`.
pub fn pypi_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("BROKER_TEST_PYPI_CACHE") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    cache.join("addon-broker/pypi")
}

/// The running index.
pub struct PyIndex {
    dir: PathBuf,
    port: u16,
    files: BTreeMap<String, Vec<String>>,
    _child: Child,
    _reaper: Reaper,
}

/// The index of this test process, laid out and started on first use.
pub fn py_index() -> &'static PyIndex {
    static INDEX: OnceLock<PyIndex> = OnceLock::new();
    INDEX.get_or_init(|| PyIndex::start().unwrap_or_else(|e| panic!("starting the loopback package index: {e}")))
}

impl PyIndex {
    /// The index's `simple/` URL (ends with `/`): what `PIP_INDEX_URL` or `--index-url` takes.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory it serves (holding `simple/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The projects it serves (normalized names) and each one's file names.
    pub fn files(&self) -> &BTreeMap<String, Vec<String>> {
        &self.files
    }

    /// The environment that points pip at this index, quietly: `PIP_INDEX_URL`, no version
    /// check, no prompts.
    pub fn pip_env(&self) -> Vec<(String, String)> {
        vec![
            ("PIP_INDEX_URL".into(), self.url()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
            ("PIP_NO_INPUT".into(), "1".into()),
        ]
    }

    /// Points `command`'s pip at this index alone: [`PyIndex::pip_env`], no configuration
    /// files, and none of the caller's `PIP_FIND_LINKS`, `PIP_EXTRA_INDEX_URL` or
    /// `PIP_NO_INDEX` (a machine's own wheel directory would hide what the index serves).
    pub fn isolate<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        for var in [
            "PIP_FIND_LINKS",
            "PIP_EXTRA_INDEX_URL",
            "PIP_NO_INDEX",
            "PIP_REQUIRE_VIRTUALENV",
        ] {
            command.env_remove(var);
        }
        command.env("PIP_CONFIG_FILE", "/dev/null").envs(self.pip_env())
    }

    fn start() -> Result<PyIndex, String> {
        let dir = tempfile::Builder::new()
            .prefix("addon-broker-pyindex-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?
            .keep();
        let files = lay_out(&dir.join("simple")).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        let log = dir.join("http.server.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| e.to_string())?;
            let logfile = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
            let mut child = Command::new("/usr/bin/python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .arg("--directory")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(logfile)
                .process_group(0)
                .spawn()
                .map_err(|e| format!("running /usr/bin/python3 -m http.server: {e}"))?;
            let reaper = spawn_reaper(child.id(), "TERM", &dir).map_err(|e| e.to_string())?;
            match wait_for_port(&mut child, port, &log, "python3 -m http.server") {
                Ok(()) => {
                    return Ok(PyIndex {
                        dir,
                        port,
                        files,
                        _child: child,
                        _reaper: reaper,
                    })
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    reaper.dismiss();
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// PEP 503's normalized project name: runs of `-`, `_` and `.` become one `-`, lowercased.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// Writes every served file under `simple/<project>/` and the index pages; returns the files
/// by project.
fn lay_out(simple: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut served: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let cache = pypi_cache();
    for (project, file) in PYPI_FILES {
        let path = cache.join(file);
        let data = std::fs::read(&path).map_err(|e| {
            format!(
                "{} is missing ({e}): run scripts/install-deps, which fetches the test index's PyPI \
                 files into {} (or set BROKER_TEST_PYPI_CACHE to where they are)",
                path.display(),
                cache.display()
            )
        })?;
        served
            .entry(normalize(project))
            .or_default()
            .push((file.to_string(), data));
    }
    let python = fixtures_dir().join("python");
    for (project, version) in [("fastsum", "1.0.0"), ("hellopkg", "1.0.0")] {
        let top = format!("{project}-{version}");
        let sources = read_tree(&python.join(&top));
        let sdist = tar_gz(&format!("{top}/"), &sources);
        served
            .entry(project.to_string())
            .or_default()
            .push((format!("{top}.tar.gz"), sdist));
    }
    served
        .entry("hellopkg".to_string())
        .or_default()
        .push(("hellopkg-1.0.0-py3-none-any.whl".to_string(), hellopkg_wheel()));
    let mut root = String::from("<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n");
    let mut listing = BTreeMap::new();
    for (project, files) in &served {
        let dir = simple.join(project);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut page = format!(
            "<!DOCTYPE html>\n<html><head><title>Links for {project}</title></head><body>\n<h1>Links for {project}</h1>\n"
        );
        for (file, data) in files {
            std::fs::write(dir.join(file), data).map_err(|e| format!("{file}: {e}"))?;
            let sha = hex::encode(sha2::Sha256::digest(data));
            page.push_str(&format!("<a href=\"{file}#sha256={sha}\">{file}</a><br/>\n"));
        }
        page.push_str("</body></html>\n");
        std::fs::write(dir.join("index.html"), page).map_err(|e| format!("{project}: {e}"))?;
        root.push_str(&format!("<a href=\"{project}/\">{project}</a><br/>\n"));
        listing.insert(project.clone(), files.iter().map(|(f, _)| f.clone()).collect());
    }
    root.push_str("</body></html>\n");
    std::fs::write(simple.join("index.html"), root).map_err(|e| format!("simple/index.html: {e}"))?;
    Ok(listing)
}

/// The wheel of `hellopkg 1.0.0`, made from the same sources as its sdist.
fn hellopkg_wheel() -> Vec<u8> {
    let sources = read_tree(&fixtures_dir().join("python/hellopkg-1.0.0"));
    let package: Vec<_> = sources
        .iter()
        .filter(|(path, _, _)| path.starts_with("hellopkg/"))
        .cloned()
        .collect();
    let metadata = &sources.iter().find(|(path, _, _)| path == "PKG-INFO").unwrap().1;
    wheel::pure_python_wheel("hellopkg", "1.0.0", &package, metadata, Some(HELLOPKG_ENTRY_POINTS))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn project_names_are_normalized_as_pep_503_says() {
        assert_eq!(normalize("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalize("FRIENDLY._-bard"), "friendly-bard");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("six"), "six");
    }
}
