//! Helpers of the dyno runtime tests (and the dyno benchmarks): build archives, wait for dynos,
//! talk to them.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{Api, Reply};
use crate::app::broker_bin;

/// The sample app binary (`sample-dyno`), built by cargo beside the broker under test.
pub fn sample_binary() -> std::path::PathBuf {
    let bin = broker_bin();
    bin.with_file_name("sample-dyno")
}

/// A `.tar.gz` holding `files` (path, contents, mode) exactly as given, unsafe paths included.
pub fn archive(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        // Written by hand so that hostile names ("../x", "/etc/x") reach the broker as is.
        let name = header.as_old_mut();
        name.name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A `.tar.gz` with a symlink `name` → `target` (and a Procfile).
pub fn archive_with_symlink(name: &str, target: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let procfile = b"web: true\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(procfile.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "Procfile", &procfile[..]).unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    tar.append_link(&mut link, name, target).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// An archive entry for [`archive_of`].
pub enum Entry<'a> {
    /// A regular file: path, contents, mode.
    File(&'a str, &'a [u8], u32),
    /// A symlink: path, target.
    Link(&'a str, &'a str),
}

/// A `.tar.gz` of these entries, in this order.
pub fn archive_of(entries: &[Entry]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for e in entries {
        let mut header = tar::Header::new_gnu();
        match e {
            Entry::File(path, data, mode) => {
                header.set_size(data.len() as u64);
                header.set_mode(*mode);
                tar.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Link(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                tar.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The sample app with this Procfile.
pub fn sample_app(procfile: &str) -> Vec<u8> {
    let binary = std::fs::read(sample_binary()).expect("sample-dyno is built with the tests");
    archive(&[
        ("Procfile", procfile.as_bytes(), 0o644),
        ("sample-dyno", &binary, 0o755),
    ])
}

/// The Procfile of most tests.
pub const PROCFILE: &str = "web: ./sample-dyno web\nworker: ./sample-dyno worker\n";

/// `POST /apps/{app}/builds` with `archive` as the body.
pub async fn post_build(api: &Api, app: &str, archive: Vec<u8>) -> Reply {
    api.send(
        api.request(reqwest::Method::POST, &format!("/apps/{app}/builds"))
            .header("content-type", "application/gzip")
            .body(archive),
    )
    .await
}

/// Pushes a build; returns the answer's body (status must be 201).
pub async fn push(api: &Api, app: &str, archive: Vec<u8>) -> Value {
    let r = post_build(api, app, archive).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

/// `PATCH /apps/{app}/formation` with these `updates` (status must be 200).
pub async fn scale(api: &Api, app: &str, updates: Value) {
    let r = api
        .patch(
            &format!("/apps/{app}/formation"),
            serde_json::json!({ "updates": updates }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Polls the app's dynos until `done` holds for them (30 s at most).
pub async fn wait_dynos(api: &Api, app: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.get(&format!("/apps/{app}/dynos")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let list = r.body.as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; dynos: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The formation dynos of `kind` (e.g. `web`) that are `up`.
pub fn up<'a>(list: &'a [Value], kind: &str) -> Vec<&'a Value> {
    list.iter()
        .filter(|d| d["type"] == kind && d["state"] == "up")
        .collect()
}

/// GETs `path` from a web dyno on its port; `None` when it does not answer.
pub async fn ask(port: u64, path: &str) -> Option<Value> {
    let r = crate::api::http_client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

/// The broker's log lines of the app (`GET /apps/{app}/logs`).
pub async fn logs(api: &Api, app: &str, query: &str) -> String {
    let r = api
        .request(reqwest::Method::GET, &format!("/apps/{app}/logs?lines=1500&{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}
