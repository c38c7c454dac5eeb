//! The loopback npm registry: an actix-web server on a thread of the test process, started once,
//! serving the packages of `tests/fixtures/packages/npm/` (each directory one package version:
//! its `package.json` and files, packed under `package/` as npm does). It answers
//! `GET /<name>` with the packument (`application/json`) and
//! `GET /<name>/-/<name>-<version>.tgz` with the tarball.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use serde_json::{json, Value};
use sha1::Digest as _;

use super::{fixtures_dir, read_tree, tar_gz};

/// One package version the registry serves.
#[derive(Debug, Clone)]
pub struct NpmPackage {
    /// Its name (`left-pad-lite`).
    pub name: String,
    /// Its version (`1.0.0`).
    pub version: String,
    /// Its `package.json`.
    pub manifest: Value,
    /// The tarball (`package/package.json`, `package/index.js`, ...).
    pub tarball: Vec<u8>,
    /// The tarball's SHA-1, hex (`dist.shasum`).
    pub shasum: String,
    /// The tarball's Subresource Integrity, `sha512-<base64>` (`dist.integrity`).
    pub integrity: String,
}

/// The running registry.
pub struct NpmRegistry {
    url: String,
    packages: Arc<BTreeMap<String, NpmPackage>>,
}

/// The registry of this test process, started on first use.
pub fn npm_registry() -> &'static NpmRegistry {
    static REGISTRY: OnceLock<NpmRegistry> = OnceLock::new();
    REGISTRY.get_or_init(NpmRegistry::start)
}

impl NpmRegistry {
    /// Its base URL, `http://127.0.0.1:<port>/` (what `--registry` or `npm_config_registry`
    /// takes).
    pub fn url(&self) -> String {
        format!("{}/", self.url)
    }

    /// Points `command`'s npm at this registry, with its cache in `cache` and no user
    /// configuration (`~/.npmrc`), no audit, no funding messages, no update check.
    pub fn isolate<'c>(&self, command: &'c mut Command, cache: &Path) -> &'c mut Command {
        command
            .env("npm_config_registry", self.url())
            .env("npm_config_cache", cache)
            .env("npm_config_userconfig", "/dev/null")
            .env("npm_config_audit", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_update_notifier", "false")
    }

    /// The packages it serves, by name.
    pub fn packages(&self) -> &BTreeMap<String, NpmPackage> {
        &self.packages
    }

    /// The tarball URL of package `name` (its only version).
    pub fn tarball_url(&self, name: &str) -> String {
        let package = &self.packages[name];
        format!("{}/{name}/-/{name}-{}.tgz", self.url, package.version)
    }

    /// The packument of package `name`: what `GET /<name>` answers.
    pub fn packument(&self, name: &str) -> Value {
        packument(&self.url, &self.packages[name])
    }

    /// A `package-lock.json` (lockfile version 3) for an app named `app` that depends on these
    /// registry packages, resolved to this registry: what `npm ci` needs.
    pub fn lockfile(&self, app: &str, dependencies: &[&str]) -> Value {
        let mut deps = serde_json::Map::new();
        let mut packages = serde_json::Map::new();
        for name in dependencies {
            let package = &self.packages[*name];
            deps.insert(name.to_string(), json!(format!("^{}", package.version)));
            let mut entry = json!({
                "version": package.version,
                "resolved": self.tarball_url(name),
                "integrity": package.integrity,
            });
            if let Some(license) = package.manifest.get("license") {
                entry["license"] = license.clone();
            }
            if let Some(bin) = package.manifest.get("bin") {
                entry["bin"] = bin.clone();
            }
            packages.insert(format!("node_modules/{name}"), entry);
        }
        let root = json!({ "name": app, "version": "1.0.0", "dependencies": deps });
        let mut all = serde_json::Map::new();
        all.insert(String::new(), root);
        all.extend(packages);
        json!({ "name": app, "version": "1.0.0", "lockfileVersion": 3, "requires": true, "packages": all })
    }

    fn start() -> NpmRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let packages = Arc::new(load_packages());
        let shared = web::Data::new(Shared {
            url: url.clone(),
            packages: packages.clone(),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(serve)))
                        .workers(2)
                        .disable_signals()
                        .listen(listener)
                        .unwrap()
                        .run();
                tx.send(()).unwrap();
                let _ = server.await;
            });
        });
        rx.recv().unwrap();
        NpmRegistry { url, packages }
    }
}

/// What the server's handler sees.
struct Shared {
    url: String,
    packages: Arc<BTreeMap<String, NpmPackage>>,
}

/// Every package directory of the fixtures, packed.
fn load_packages() -> BTreeMap<String, NpmPackage> {
    let root = fixtures_dir().join("npm");
    let mut packages = BTreeMap::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let files = read_tree(&dir);
        let manifest_bytes = &files.iter().find(|(p, _, _)| p == "package.json").unwrap().1;
        let manifest: Value = serde_json::from_slice(manifest_bytes).unwrap();
        let name = manifest["name"].as_str().unwrap().to_string();
        let version = manifest["version"].as_str().unwrap().to_string();
        let tarball = tar_gz("package/", &files);
        let shasum = hex::encode(sha1::Sha1::digest(&tarball));
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
        );
        packages.insert(
            name.clone(),
            NpmPackage {
                name,
                version,
                manifest,
                tarball,
                shasum,
                integrity,
            },
        );
    }
    packages
}

/// The packument of one package (one version, which is `latest`).
fn packument(base: &str, package: &NpmPackage) -> Value {
    let name = &package.name;
    let version = &package.version;
    let mut manifest = package.manifest.clone();
    manifest["_id"] = json!(format!("{name}@{version}"));
    manifest["dist"] = json!({
        "tarball": format!("{base}/{name}/-/{name}-{version}.tgz"),
        "shasum": package.shasum,
        "integrity": package.integrity,
    });
    json!({
        "_id": name,
        "name": name,
        "dist-tags": { "latest": version },
        "versions": { version.clone(): manifest },
        "time": { "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                  version.clone(): "2024-01-01T00:00:00.000Z" },
    })
}

/// `GET /<name>` (the packument) and `GET /<name>/-/<file>.tgz` (the tarball); 404 otherwise.
async fn serve(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let not_found = || {
        HttpResponse::NotFound()
            .content_type("application/json")
            .body(r#"{"error":"Not found"}"#)
    };
    if req.method() != actix_web::http::Method::GET && req.method() != actix_web::http::Method::HEAD {
        return HttpResponse::MethodNotAllowed().finish();
    }
    match path.split_once("/-/") {
        None => match shared.packages.get(path) {
            Some(package) => HttpResponse::Ok()
                .content_type("application/json")
                .body(packument(&shared.url, package).to_string()),
            None => not_found(),
        },
        Some((name, file)) => match shared.packages.get(name) {
            Some(package) if file == format!("{name}-{}.tgz", package.version) => HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(package.tarball.clone()),
            _ => not_found(),
        },
    }
}
