//! Registering, approving, listing and removing third-party providers; what `requires` allows.

use super::*;

#[tokio::test]
async fn manifests_are_validated_strictly_and_registration_needs_the_right_token() {
    let m = market(options()).await;
    let p = ReferenceProvider::start(&unique("ref-"), "REFV");
    let mut bad = p.manifest(&[]);
    bad["api"]["config_vars_prefix"] = json!("refv");
    bad["api"]["config_vars"] = json!(["OTHER_URL"]);
    bad["api"]["production"]["base_url"] = json!("ftp://example.com/x");
    bad["api"]["production"]["sso_url"] = json!("http://example.com/sso");
    bad["api"]["requires"] = json!(["syslog_drain"]);
    bad["api"]["version"] = json!("1");
    bad["plans"] =
        json!([{ "id": "basic", "name": "A" }, { "id": "basic", "name": "B" }, { "id": "Bad Plan", "name": "" }]);
    bad["surprise"] = json!(1);
    let r = m.admin.post("/admin/providers", bad).await.expect(422);
    let message = r.message().to_string();
    for field in [
        "api.config_vars_prefix:",
        "api.production.base_url: scheme ftp",
        "api.production.sso_url: http is allowed for loopback hosts only",
        "api.requires[0]",
        "api.version",
        "plans[1].id: plan basic is defined twice",
        "plans[2].id",
        "plans[2].name",
        "surprise: is not a manifest field",
    ] {
        assert!(message.contains(field), "{field:?} not named in {message}");
    }
    let mut prefix_rule = p.manifest(&[]);
    prefix_rule["api"]["config_vars"] = json!(["OTHER_URL"]);
    let r = m.admin.post("/admin/providers", prefix_rule).await.expect(422);
    assert!(
        r.message().contains("api.config_vars[0]: \"OTHER_URL\" must be REFV_"),
        "{}",
        r.message()
    );
    let mut reserved = p.manifest(&[]);
    reserved["id"] = json!("postgresql");
    m.admin.post("/admin/providers", reserved).await.expect(409);
    // Nothing of the refused manifests was stored.
    assert_eq!(m.admin.get("/admin/providers").await.expect(200).body, json!([]));

    // Registration by a provider token; a platform token may not.
    m.platform
        .post("/provider/manifests", p.manifest(&[]))
        .await
        .expect(403);
    let provider = m.app.api("acme-onboarding", Scope::Provider);
    let r = provider.post("/provider/manifests", p.manifest(&[])).await.expect(201);
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["registered_by"], "acme-onboarding");
    assert_eq!(r.body["spec"]["api"]["password"], "[redacted]");
    assert!(!r.body.to_string().contains(&p.password));
    provider.post("/provider/manifests", p.manifest(&[])).await.expect(409);
    // Federating a broker is for admins only.
    let federate =
        json!({ "kind": "osb", "id": "sneaky", "name": "S", "url": m.app.url, "username": "u", "password": "p" });
    provider.post("/provider/manifests", federate).await.expect(403);
    provider
        .post("/provider/manifests", json!("not an object"))
        .await
        .expect(422);
    // A provider token is good for nothing else.
    provider.get("/apps").await.expect(403);
    provider.get("/admin/providers").await.expect(403);
}

#[tokio::test]
async fn pending_providers_are_invisible_until_approved_then_in_both_catalogs() {
    let m = market(options()).await;
    let p = ReferenceProvider::start(&unique("ref-"), "REFP");
    m.admin.post("/admin/providers", p.manifest(&[])).await.expect(201);
    let osb = m.app.osb();
    let in_osb = |catalog: Value, id: &str| catalog["services"].as_array().unwrap().iter().any(|s| s["name"] == id);
    assert!(!in_osb(osb.catalog().await, &p.id));
    assert!(!names(&m.platform.get("/addon-services").await.expect(200).body).contains(&p.id));
    let app = m.platform.create_app().await;
    m.platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(422);

    m.admin
        .post(&format!("/admin/providers/{}/actions/approve", p.id), json!({}))
        .await
        .expect(200);
    assert!(in_osb(osb.catalog().await, &p.id));
    assert!(names(&m.platform.get("/addon-services").await.expect(200).body).contains(&p.id));
    let plans = m
        .platform
        .get(&format!("/addon-services/{}/plans", p.id))
        .await
        .expect(200);
    assert!(names(&plans.body).contains(&format!("{}:basic", p.id)));

    m.admin
        .post(&format!("/admin/providers/{}/actions/disable", p.id), json!({}))
        .await
        .expect(200);
    assert!(!in_osb(osb.catalog().await, &p.id));
    assert!(!names(&m.platform.get("/addon-services").await.expect(200).body).contains(&p.id));
}

#[tokio::test]
async fn admin_lists_filter_and_page_forced_cleanup_and_removal_work() {
    let m = market(options()).await;
    let p = approved(&m, &["many_per_app"]).await;
    let (a1, a2) = (m.platform.create_app().await, m.platform.create_app().await);
    let mut ids = Vec::new();
    for app in [&a1, &a1, &a2] {
        let r = m
            .platform
            .post(
                &format!("/apps/{app}/addons"),
                json!({ "plan": format!("{}:basic", p.id) }),
            )
            .await
            .expect(201);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let all = m
        .admin
        .get(&format!("/admin/instances?provider={}", p.id))
        .await
        .expect(200);
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    assert!(all
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["provider"] == p.id.as_str()));
    let of_a1 = m.admin.get(&format!("/admin/instances?app={a1}")).await.expect(200);
    assert_eq!(of_a1.body.as_array().unwrap().len(), 2);
    assert_eq!(of_a1.body[0]["app"], a1.as_str());
    // Pages of two.
    let first = m
        .admin
        .send(
            m.admin
                .request(Method::GET, &format!("/admin/instances?provider={}", p.id))
                .header("range", "id ..; max=2"),
        )
        .await
        .expect(206);
    let next = first.headers["next-range"].to_str().unwrap().to_string();
    let rest = m
        .admin
        .send(
            m.admin
                .request(Method::GET, &format!("/admin/instances?provider={}", p.id))
                .header("range", next),
        )
        .await
        .expect(200);
    let mut paged: Vec<String> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body.as_array().unwrap())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    paged.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(paged, want);
    m.admin.get("/admin/instances?colour=blue").await.expect(400);
    m.platform.get("/admin/instances").await.expect(403);
    let ops = m
        .admin
        .get(&format!("/admin/operations?app={a2}&state=succeeded"))
        .await
        .expect(200);
    let kinds: Vec<&str> = ops
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"provision") && kinds.contains(&"bind"), "{kinds:?}");

    // Forced cleanup of one add-on: detached, deprovisioned at the provider.
    let r = m
        .admin
        .post(&format!("/admin/instances/{}/actions/deprovision", ids[2]), json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["state"], "deprovisioned");
    assert!(p.seen.lock().unwrap().deleted.contains(&ids[2]));
    assert!(m.platform.config(&a2).await.is_empty());

    // Removal: refused with live instances, forced deprovisions them.
    let r = m.admin.delete(&format!("/admin/providers/{}", p.id)).await.expect(409);
    assert!(r.message().contains("2 live instance(s)"), "{}", r.message());
    m.admin
        .delete(&format!("/admin/providers/{}?force=true", p.id))
        .await
        .expect(200);
    m.admin.get(&format!("/admin/providers/{}", p.id)).await.expect(404);
    assert!(m.platform.config(&a1).await.is_empty());
    for id in &ids[..2] {
        assert!(p.seen.lock().unwrap().deleted.contains(id));
    }
    // The audit log tells who did it, with request ids.
    let audit = m.admin.get("/admin/audit?action=admin.provider").await.expect(200);
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "admin.provider.register",
        "admin.provider.approve",
        "admin.provider.disable",
        "admin.provider.remove",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == "operator" && e["request_id"].is_string()));
}

#[tokio::test]
async fn requires_limits_many_per_app_and_attaching_elsewhere() {
    let m = market(options()).await;
    let p = approved(&m, &[]).await;
    let (a1, a2) = (m.platform.create_app().await, m.platform.create_app().await);
    let r = m
        .platform
        .post(
            &format!("/apps/{a1}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap();
    let second = m
        .platform
        .post(
            &format!("/apps/{a1}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(422);
    assert!(second.message().contains("many_per_app"));
    let other = m
        .platform
        .post("/addon-attachments", json!({ "addon": uuid, "app": a2 }))
        .await
        .expect(422);
    assert!(other.message().contains("attachable"));
    assert_eq!(m.platform.config(&a1).await.len(), 2);
}
