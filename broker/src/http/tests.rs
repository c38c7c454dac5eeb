//! The HTTP layer in-process, on a throwaway SQLite store and no providers: the order of the
//! checks each extractor makes and the error formats clients see.

use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{test, web, App};
use base64::Engine;
use serde_json::Value;

use super::middleware::{framework_errors, request_ids};
use super::state::{OsbState, PlatformState};
use crate::access::Access;
use crate::auth::{Scope, TokenKeys};
use crate::catalog::{Catalog, CatalogHandle};
use crate::config::Settings;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::dynos::Dynos;
use crate::jobs::Jobs;
use crate::marketplace::Marketplace;
use crate::platform::{AppHosts, Platform};
use crate::provisioning::Provisioning;
use crate::startup::{routes, MAX_BODY};

/// A scratch directory, removed when dropped, and the access domain over its store.
struct Scratch(std::path::PathBuf, Access);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn states() -> (web::Data<OsbState>, web::Data<PlatformState>, Scratch) {
    let dir = std::env::temp_dir().join(format!("broker-http-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.join("broker.sqlite").display()), 2).unwrap();
    db.migrate().await.unwrap();
    let sealer = Sealer::from_key_file(&dir.join("key")).unwrap();
    let catalog = CatalogHandle::new(Catalog::new(Vec::new()).unwrap());
    let settings = Settings::default();
    let jobs = Jobs::new(
        db.clone(),
        catalog.clone(),
        sealer.clone(),
        settings.jobs.clone(),
        &crate::node::Node::ephemeral(),
    );
    let wait = Duration::from_millis(100);
    let provisioning = Provisioning::new(db.clone(), catalog.clone(), jobs, sealer.clone(), wait);
    let dynos = Dynos::new(
        db.clone(),
        sealer.clone(),
        None,
        settings.runtime.clone(),
        settings.builds.clone(),
        crate::dynos::Home {
            data_dir: dir.to_path_buf(),
            supervisor: crate::node::Node::ephemeral().owner(),
            url: String::new(),
        },
        crate::router::pool::Pool::default(),
    );
    let hosts = AppHosts::new(&settings.router.domain, None);
    let platform = Platform::new(db.clone(), provisioning.clone(), sealer.clone(), wait, hosts);
    let marketplace = Marketplace::new(
        db.clone(),
        sealer,
        catalog,
        Vec::new(),
        settings.marketplace.clone(),
        "http://127.0.0.1:9".into(),
        platform.clone(),
    )
    .unwrap();
    let osb = OsbState {
        provisioning,
        username: "broker".into(),
        password: "secret".into(),
        retry_after_secs: 1,
    };
    let access = Access::new(db, keys());
    let state = PlatformState {
        platform,
        access: access.clone(),
        dynos,
        marketplace,
    };
    (web::Data::new(osb), web::Data::new(state), Scratch(dir, access))
}

fn keys() -> TokenKeys {
    TokenKeys::from_secret(&[7u8; 32]).unwrap()
}

/// An `Authorization` header with a recorded token of `scope` for alice.
async fn bearer(scratch: &Scratch, scope: Scope) -> (&'static str, String) {
    let issued = scratch.1.issue("alice", scope, 60, String::new(), None).await.unwrap();
    ("authorization", format!("Bearer {}", issued.token))
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("authorization", format!("Basic {encoded}"))
}

/// The broker's app, with its middleware and routes, on fresh state.
macro_rules! service {
    () => {{
        let (osb, platform, scratch) = states().await;
        let app = test::init_service(
            App::new()
                .wrap(from_fn(framework_errors))
                .wrap(from_fn(request_ids))
                .app_data(osb)
                .app_data(platform)
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .configure(|cfg| routes(cfg, MAX_BODY)),
        )
        .await;
        (app, scratch)
    }};
}

/// Status, request id header and JSON body of a call.
macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service(&$app, $req.to_request()).await;
        let status = res.status().as_u16();
        let rid = res.headers().get("request-id").map(|v| v.to_str().unwrap().to_string());
        let bytes = test::read_body(res).await;
        (
            status,
            rid,
            serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        )
    }};
}

#[actix_web::test]
async fn the_platform_reads_the_body_then_authenticates_then_parses() {
    let (app, scratch) = service!();
    let big = vec![b'x'; MAX_BODY + 1];
    let (status, _, body) = call!(app, test::TestRequest::post().uri("/apps").set_payload(big));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["id"], "payload_too_large");

    let req = test::TestRequest::post()
        .uri("/apps")
        .insert_header(("request-id", "abc-1"))
        .set_payload("{");
    let (status, rid, body) = call!(app, req);
    assert_eq!(status, 401);
    assert_eq!(rid.as_deref(), Some("abc-1"));
    assert_eq!(
        body,
        serde_json::json!({"id": "unauthorized", "message": "missing Authorization: Bearer <token>"})
    );

    let req = test::TestRequest::post()
        .uri("/apps")
        .insert_header(bearer(&scratch, Scope::Platform).await)
        .set_payload("{");
    let (status, rid, body) = call!(app, req);
    assert_eq!(status, 400, "{body}");
    assert!(rid.is_some());
    assert_eq!(body["id"], "bad_request");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("request body is not valid"));

    let req = test::TestRequest::post()
        .uri("/apps")
        .insert_header(bearer(&scratch, Scope::Platform).await);
    let (status, _, body) = call!(app, req);
    assert_eq!(status, 201, "{body}");
    let req = test::TestRequest::get()
        .uri("/apps")
        .insert_header(bearer(&scratch, Scope::Admin).await);
    let (status, _, body) = call!(app, req);
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(1)), "{body}");
}

#[actix_web::test]
async fn admin_routes_need_the_admin_scope_and_check_their_queries() {
    let (app, scratch) = service!();
    let req = test::TestRequest::get()
        .uri("/admin/audit")
        .insert_header(bearer(&scratch, Scope::Platform).await);
    let (status, _, body) = call!(app, req);
    assert_eq!((status, body["id"].as_str()), (403, Some("forbidden")), "{body}");
    let req = test::TestRequest::get()
        .uri("/admin/instances?colour=red")
        .insert_header(bearer(&scratch, Scope::Admin).await);
    let (status, _, body) = call!(app, req);
    assert_eq!(status, 400);
    assert_eq!(body["message"], "unknown filter colour; use state, provider, app");
    let req = test::TestRequest::delete()
        .uri("/admin/providers/p?force=maybe")
        .insert_header(bearer(&scratch, Scope::Admin).await);
    let (_, _, body) = call!(app, req);
    assert_eq!(body["message"], "force must be true or false, not maybe");
    let req = test::TestRequest::put()
        .uri("/apps")
        .insert_header(bearer(&scratch, Scope::Admin).await);
    let (status, _, body) = call!(app, req);
    assert_eq!(
        (status, body["id"].as_str()),
        (405, Some("method_not_allowed")),
        "{body}"
    );
}

#[actix_web::test]
async fn osb_checks_basic_auth_then_the_version_then_the_request() {
    let (app, _scratch) = service!();
    let res = test::call_service(&app, test::TestRequest::get().uri("/v2/catalog").to_request()).await;
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    assert!(res.headers().contains_key("request-id"));

    let req = test::TestRequest::get()
        .uri("/v2/catalog")
        .insert_header(basic("broker", "wrong"));
    let (status, _, body) = call!(app, req);
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({"description": "missing or wrong basic auth credentials"})
    );

    let req = test::TestRequest::get()
        .uri("/v2/catalog")
        .insert_header(basic("broker", "secret"));
    let (status, _, body) = call!(app, req);
    assert_eq!(status, 412);
    assert_eq!(
        body["description"],
        "X-Broker-API-Version must be 2.13 or a later 2.x; got none"
    );

    let req = test::TestRequest::get()
        .uri("/v2/catalog")
        .insert_header(basic("broker", "secret"))
        .insert_header(("x-broker-api-version", "2.17"));
    let (status, _, body) = call!(app, req);
    assert_eq!(status, 200, "{body}");

    let req = test::TestRequest::put()
        .uri("/v2/service_instances/i-1?accepts_incomplete=maybe")
        .insert_header(basic("broker", "secret"))
        .insert_header(("x-broker-api-version", "2.17"))
        .insert_header(("x-broker-api-request-identity", "ident-7"))
        .set_payload("{}");
    let res = test::call_service(&app, req.to_request()).await;
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(res.headers().get("x-broker-api-request-identity").unwrap(), "ident-7");
    let body: Value = test::read_body_json(res).await;
    assert_eq!(
        body["description"],
        "accepts_incomplete must be true or false, got maybe"
    );

    let (status, _, body) = call!(app, test::TestRequest::get().uri("/nowhere"));
    assert_eq!(status, 404);
    assert_eq!(
        body,
        serde_json::json!({"description": "no such endpoint: GET /nowhere"})
    );
}
