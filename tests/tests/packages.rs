//! The buildpack tests' package fixtures, proven with the real clients: pip installs from the
//! loopback Python index (building `fastsum`'s C extension, running `hellopkg`'s console
//! script), npm installs from the loopback registry (`npm install`, `npm ci`, `.bin`), and the
//! example apps install and answer on their ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use addon_broker_tests::packages::{
    node_app_locked, npm_registry, pack, py_index, python_app, write_files, PyIndex, PYPI_FILES,
};
use serde_json::Value;

/// Runs `command`, asserts that it succeeded, and returns its standard output.
fn run(command: &mut Command) -> String {
    let out = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A plain HTTP/1.0 GET of `url` (`http://127.0.0.1:<port>/...`): status, headers (lowercased
/// names), body.
fn http_get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A venv made by the system Python in `dir/venv`, with pip pointed at the index alone and its
/// own cache (so that `fastsum` is built afresh, not taken from an earlier run's wheel cache).
fn venv(dir: &Path) -> std::path::PathBuf {
    let venv = dir.join("venv");
    run(Command::new("/usr/bin/python3").args(["-m", "venv"]).arg(&venv));
    venv
}

fn pip(index: &PyIndex, venv: &Path, dir: &Path) -> Command {
    let mut command = Command::new(venv.join("bin/pip"));
    index.isolate(&mut command).env("PIP_CACHE_DIR", dir.join("pip-cache"));
    command
}

fn npm(dir: &Path) -> Command {
    let mut command = Command::new("npm");
    npm_registry().isolate(&mut command, &dir.join("npm-cache"));
    command.current_dir(dir.join("app"));
    command
}

/// Spawns `command` with `PORT` set to a free port and waits until the port accepts
/// connections (or the process exits, failing the test).
fn serve(command: &mut Command) -> (Child, u16) {
    let port = broker::devservers::free_port().unwrap();
    let mut child = command
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{command:?} exited ({status}) before listening");
        }
        assert!(Instant::now() < deadline, "{command:?} did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

#[test]
fn the_python_index_serves_a_c_extension_that_pip_builds() {
    let index = py_index();
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(dir.path());
    run(pip(index, &venv, dir.path()).args(["install", "--index-url", &index.url(), "fastsum", "six"]));
    let out = run(Command::new(venv.join("bin/python")).args([
        "-c",
        "import fastsum, fastsum._fastsum as c, six; assert fastsum.add(2, 3) == 5; \
         print(fastsum.add(2, 3), c.__file__.endswith('.so'), six.__version__)",
    ]));
    assert_eq!(out.trim(), "5 True 1.16.0");
}

#[test]
fn the_python_index_serves_a_wheel_whose_console_script_runs() {
    let index = py_index();
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(dir.path());
    // Only binaries: it must come from the hand-made wheel, not be built from the sdist.
    run(pip(index, &venv, dir.path()).args(["install", "--only-binary=:all:", "hellopkg==1.0.0", "idna==3.7"]));
    assert_eq!(
        run(&mut Command::new(venv.join("bin/hello-cli"))),
        "hello from hellopkg\n"
    );
    let out = run(Command::new(venv.join("bin/python")).args(["-c", "import idna; print(idna.__version__)"]));
    assert_eq!(out.trim(), "3.7");
}

#[test]
fn the_python_index_builds_a_pure_python_sdist_with_setuptools_from_the_index() {
    let index = py_index();
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(dir.path());
    run(pip(index, &venv, dir.path()).args(["install", "--no-binary=hellopkg", "hellopkg", "six"]));
    assert_eq!(
        run(&mut Command::new(venv.join("bin/hello-cli"))),
        "hello from hellopkg\n"
    );
}

#[test]
fn the_python_index_pages_link_every_file_with_its_sha256() {
    let index = py_index();
    let (status, _, root) = http_get(&index.url());
    assert_eq!(status, 200);
    let root = String::from_utf8(root).unwrap();
    for project in [
        "six",
        "idna",
        "itsdangerous",
        "setuptools",
        "wheel",
        "fastsum",
        "hellopkg",
    ] {
        assert!(
            root.contains(&format!("<a href=\"{project}/\">{project}</a>")),
            "{root}"
        );
    }
    let (status, _, page) = http_get(&format!("{}six/", index.url()));
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    for (project, file) in PYPI_FILES.iter().filter(|(p, _)| *p == "six") {
        let href = format!("{}{project}/{file}", index.url());
        let (status, _, data) = http_get(&href);
        assert_eq!(status, 200, "{href}");
        let sha = sha256_hex(&data);
        assert!(page.contains(&format!("href=\"{file}#sha256={sha}\"")), "{page}");
    }
    assert_eq!(http_get(&format!("{}no-such-project/", index.url())).0, 404);
    assert_eq!(index.files()["fastsum"], vec!["fastsum-1.0.0.tar.gz".to_string()]);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn the_npm_registry_serves_packuments_as_json_with_tarballs_and_their_digests() {
    use base64::Engine;
    use sha1::Digest as _;
    let registry = npm_registry();
    let (status, headers, body) = http_get(&format!("{}left-pad-lite", registry.url()));
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap()
        .starts_with("application/json"));
    let packument: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(packument["name"], "left-pad-lite");
    assert_eq!(packument["dist-tags"]["latest"], "1.0.0");
    let dist = &packument["versions"]["1.0.0"]["dist"];
    assert_eq!(dist["tarball"], registry.tarball_url("left-pad-lite"));
    let (status, _, tarball) = http_get(dist["tarball"].as_str().unwrap());
    assert_eq!(status, 200);
    assert_eq!(dist["shasum"], hex::encode(sha1::Sha1::digest(&tarball)));
    let sha512 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball));
    assert_eq!(dist["integrity"], format!("sha512-{sha512}"));
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball.as_slice()));
    for entry in archive.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(names, ["package/index.js", "package/package.json"]);
    assert_eq!(http_get(&format!("{}no-such-package", registry.url())).0, 404);
    assert_eq!(
        http_get(&format!("{}left-pad-lite/-/left-pad-lite-9.9.9.tgz", registry.url())).0,
        404
    );
}

#[test]
fn npm_installs_from_the_registry_and_then_ci_installs_from_the_lock_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let manifest = r#"{"name":"t","version":"1.0.0","private":true,
        "dependencies":{"left-pad-lite":"^1.0.0","greet-cli":"^1.0.0"}}"#;
    std::fs::write(app.join("package.json"), manifest).unwrap();
    let registry = npm_registry().url();
    run(npm(dir.path()).args(["install", "--registry", &registry, "--no-audit", "--no-fund"]));
    let check = "const { pad } = require('left-pad-lite'); console.log(JSON.stringify(pad('ab', 5)))";
    assert_eq!(
        run(Command::new("node").args(["-e", check]).current_dir(&app)),
        "\"   ab\"\n"
    );
    assert_eq!(
        run(&mut Command::new(app.join("node_modules/.bin/greet-cli"))),
        "hello from greet-cli\n"
    );
    // From the lock alone: a fresh lock, then `npm ci` into an emptied node_modules.
    std::fs::remove_dir_all(app.join("node_modules")).unwrap();
    std::fs::remove_file(app.join("package-lock.json")).unwrap();
    run(npm(dir.path()).args(["install", "--package-lock-only", "--registry", &registry]));
    assert!(!app.join("node_modules").exists());
    run(npm(dir.path()).args(["ci", "--registry", &registry]));
    assert_eq!(
        run(Command::new("node").args(["-e", check]).current_dir(&app)),
        "\"   ab\"\n"
    );
}

#[test]
fn the_python_app_installs_from_the_index_migrates_and_answers_on_its_port() {
    let index = py_index();
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_files(&app, &python_app("v-py-1"));
    let venv = venv(dir.path());
    run(pip(index, &venv, dir.path())
        .args(["install", "-r"])
        .arg(app.join("requirements.txt")));
    let python = venv.join("bin/python");
    let migrate = run(Command::new(&python).args(["manage.py", "migrate"]).current_dir(&app));
    assert_eq!(migrate, "Migrations applied\n");
    assert_eq!(
        run(&mut Command::new(venv.join("bin/hello-cli"))),
        "hello from hellopkg\n"
    );
    let (mut web, port) = serve(
        Command::new(&python)
            .arg("app.py")
            .current_dir(&app)
            .stdout(Stdio::null()),
    );
    let (status, headers, body) = http_get(&format!("http://127.0.0.1:{port}/"));
    let _ = web.kill();
    let _ = web.wait();
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["fastsum"], 5);
    assert_eq!(body["six"], "1.16.0");
    assert_eq!(body["idna"], "3.7");
    assert_eq!(body["version"], "v-py-1");
    assert_eq!(Path::new(body["python"].as_str().unwrap()), python);
}

#[test]
fn the_node_app_installs_from_its_lock_builds_and_answers_on_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_files(&app, &node_app_locked("v-node-1"));
    run(npm(dir.path()).arg("ci"));
    run(npm(dir.path()).args(["run", "build"]));
    let built = std::fs::read_to_string(app.join("build-output.txt")).unwrap();
    assert_eq!(built, "built   v-node-1\n");
    let (mut web, port) = serve(
        Command::new("node")
            .arg("server.js")
            .current_dir(&app)
            .stdout(Stdio::null()),
    );
    let (status, _, body) = http_get(&format!("http://127.0.0.1:{port}/"));
    let _ = web.kill();
    let _ = web.wait();
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["padded"], "  7");
    assert_eq!(body["version"], "v-node-1");
}

#[test]
fn a_packed_app_holds_its_files_and_modes_at_the_top_of_the_archive() {
    let files = python_app("v-packed");
    let archive = pack(&files);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()));
    let mut seen = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        seen.push((path, data, mode));
    }
    assert_eq!(seen, files);
    let names: Vec<_> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["Procfile", "app.py", "manage.py", "requirements.txt", "worker.py"]
    );
    let app = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(app.contains("VERSION = \"v-packed\""), "{app}");
}
