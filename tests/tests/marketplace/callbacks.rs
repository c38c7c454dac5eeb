//! Partners at work: sync and async plans, signed callbacks, failures and deadlines, SSO.

use super::*;

#[tokio::test]
async fn the_sync_plan_sets_config_vars_and_the_async_plan_completes_by_callback_in_one_release() {
    // The platform waits 500 ms for a provision before answering 202; the reference provider
    // calls back after a second.
    let m = market(Options {
        create_wait_ms: 500,
        ..options()
    })
    .await;
    let p = approved(&m, &["many_per_app"]).await;
    let app = m.platform.create_app().await;

    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    let config = m.platform.config(&app).await;
    for (k, v) in p.config_for(&uuid) {
        assert_eq!(config[&k], v, "{k}");
    }
    {
        let seen = p.seen.lock().unwrap();
        assert!(seen.refused.is_empty(), "{:?}", seen.refused);
        let (_, path, body) = &seen.requests[0];
        assert_eq!(path, "/heroku/resources");
        assert_eq!(body["uuid"], uuid.as_str());
        assert_eq!(body["plan"], "basic");
        assert_eq!(body["region"], "us");
        assert_eq!(body["name"], r.body["name"]);
        assert!(body["callback_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/provider/addons/{uuid}")));
    }

    let before = m.platform.releases(&app).await.len();
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:async", p.id), "attachment": { "name": "SECOND" } }),
        )
        .await
        .expect(202);
    let second = r.body["id"].as_str().unwrap().to_string();
    wait_for("the async add-on's vars", Duration::from_secs(15), || async {
        m.platform.config(&app).await.contains_key("SECOND_URL")
    })
    .await;
    let config = m.platform.config(&app).await;
    assert_eq!(
        config["SECOND_URL"],
        p.config_for(&second)[&format!("{}_URL", p.prefix)]
    );
    let releases = m.platform.releases(&app).await;
    assert_eq!(
        releases.len(),
        before + 1,
        "one release for the async add-on: {releases:#?}"
    );
    let addon = m
        .platform
        .get(&format!("/apps/{app}/addons/{second}"))
        .await
        .expect(200);
    assert_eq!(addon.body["state"], "provisioned");
    let ops = m
        .admin
        .get(&format!("/admin/operations?instance={second}&kind=provision"))
        .await
        .expect(200);
    assert_eq!(ops.body[0]["state"], "succeeded");
    assert!(ops.body[0]["description"]
        .as_str()
        .unwrap()
        .contains("reported by the provider"));

    // A plan change is a signed PUT to the partner.
    m.platform
        .patch(
            &format!("/apps/{app}/addons/{uuid}"),
            json!({ "plan": format!("{}:never", p.id) }),
        )
        .await
        .expect(200);
    let put = p
        .seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .find(|r| r.0 == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put.1, format!("/heroku/resources/{uuid}"));
    assert_eq!(put.2["plan"], "never");

    // The async resource's deprovision answers 202; the partner's callback finishes it.
    m.platform
        .delete(&format!("/apps/{app}/addons/{second}"))
        .await
        .expect(200);
    assert!(p.seen.lock().unwrap().deleted.contains(&second));
    let ops = m
        .admin
        .get(&format!("/admin/operations?instance={second}&kind=deprovision"))
        .await
        .expect(200);
    assert_eq!(ops.body[0]["state"], "succeeded");
    assert!(ops.body[0]["description"]
        .as_str()
        .unwrap()
        .contains("reported by the provider"));
    assert!(!m.platform.config(&app).await.contains_key("SECOND_URL"));
}

#[tokio::test]
async fn a_config_callback_updates_every_attached_app_with_one_release_each() {
    let m = market(options()).await;
    let p = approved(&m, &["attachable"]).await;
    let (a1, a2) = (m.platform.create_app().await, m.platform.create_app().await);
    let r = m
        .platform
        .post(
            &format!("/apps/{a1}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    m.platform
        .post(
            "/addon-attachments",
            json!({ "addon": uuid, "app": a2, "name": "SHARED" }),
        )
        .await
        .expect(201);
    let (r1, r2) = (
        m.platform.releases(&a1).await.len(),
        m.platform.releases(&a2).await.len(),
    );

    let url = format!("{}/provider/addons/{uuid}/config", m.app.url);
    let var = format!("{}_URL", p.prefix);
    let (status, body) = p
        .callback(
            Method::PATCH,
            &url,
            &json!({ "config": [{ "name": var, "value": "https://moved.example/1" }] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(m.platform.config(&a1).await[&var], "https://moved.example/1");
    assert_eq!(m.platform.config(&a2).await["SHARED_URL"], "https://moved.example/1");
    assert_eq!(m.platform.releases(&a1).await.len(), r1 + 1);
    assert_eq!(m.platform.releases(&a2).await.len(), r2 + 1);
    // The OSB view of the attachment's binding carries the new config too.
    let att = m
        .platform
        .get(&format!("/apps/{a2}/addon-attachments"))
        .await
        .expect(200);
    let binding = att.body[0]["id"].as_str().unwrap();
    let osb = m.app.osb();
    let b = osb
        .get(&format!("/v2/service_instances/{uuid}/service_bindings/{binding}"))
        .await
        .expect(200);
    assert_eq!(b.body["credentials"][&var], "https://moved.example/1");

    // A var outside the prefix is refused and changes nothing.
    let (status, body) = p
        .callback(
            Method::PATCH,
            &url,
            &json!({ "config": { "DATABASE_URL": "postgres://evil" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(!m.platform.config(&a1).await.contains_key("DATABASE_URL"));
    // So is a var with the prefix that the manifest did not declare (what the operator approved).
    let undeclared = format!("{}_OPTIONS", p.prefix);
    let (status, body) = p
        .callback(
            Method::PATCH,
            &url,
            &json!({ "uuid": uuid, "config": { undeclared.clone(): "x" } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not declared"), "{body}");
    assert!(!m.platform.config(&a1).await.contains_key(&undeclared));
    assert_eq!(m.platform.releases(&a1).await.len(), r1 + 1);
}

#[tokio::test]
async fn forged_stale_and_replayed_signatures_and_foreign_add_ons_are_refused_and_change_nothing() {
    let m = market(options()).await;
    let p = approved(&m, &[]).await;
    let other = approved(&m, &[]).await;
    let app = m.platform.create_app().await;
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    let url = format!("{}/provider/addons/{uuid}/config", m.app.url);
    let var = format!("{}_URL", p.prefix);
    let body = serde_json::to_vec(&json!({ "config": { var.clone(): "https://forged.example" } })).unwrap();
    let releases = m.platform.releases(&app).await.len();
    let original = m.platform.config(&app).await[&var].clone();

    let cases = [
        ("forged", Some(signature("not-the-password", now(), &body))),
        ("stale", Some(signature(&p.password, now() - 600, &body))),
        ("future", Some(signature(&p.password, now() + 600, &body))),
        ("missing", None),
        ("malformed", Some("v1=abc".to_string())),
        ("other body", Some(signature(&p.password, now(), b"{}"))),
    ];
    for (what, sig) in cases {
        let (status, answer) = p.raw_callback(Method::PATCH, &url, body.clone(), sig).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("X-Addon-Signature"),
            "{what}: {answer}"
        );
    }
    // Wrong basic auth with a valid signature.
    let client = addon_broker_tests::api::http_client();
    let r = client
        .patch(&url)
        .basic_auth(&p.id, Some("wrong-password"))
        .header("x-addon-signature", signature(&p.password, now(), &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(m.platform.config(&app).await[&var], original);
    assert_eq!(m.platform.releases(&app).await.len(), releases);

    // A valid request works once; its exact replay is refused.
    let sig = signature(&p.password, now(), &body);
    let (status, _) = p
        .raw_callback(Method::PATCH, &url, body.clone(), Some(sig.clone()))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = p.raw_callback(Method::PATCH, &url, body.clone(), Some(sig)).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("already used"));
    assert_eq!(m.platform.releases(&app).await.len(), releases + 1);

    // Another provider, correctly signed, may not touch this add-on.
    let foreign = json!({ "config": { format!("{}_URL", other.prefix): "x" } });
    let (status, answer) = other.callback(Method::PATCH, &url, &foreign).await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = other
        .callback(
            Method::POST,
            &format!("{}/provider/addons/{uuid}/actions/deprovision", m.app.url),
            &json!({ "uuid": uuid }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = other
        .callback(
            Method::PATCH,
            &format!("{}/provider/addons/no-such-addon/config", m.app.url),
            &json!({ "uuid": "no-such-addon", "config": {} }),
        )
        .await;
    assert_eq!(status, 404);
    // Hostile add-on ids and bodies, correctly signed: 4xx, nothing changed.
    let long = "a".repeat(10_000);
    for (id, body) in [
        ("..", json!({ "n": 1 })),
        ("x;drop table instances", json!({ "n": 2 })),
        (long.as_str(), json!({ "n": 3 })),
    ] {
        let (status, answer) = p
            .callback(
                Method::PATCH,
                &format!(
                    "{}/provider/addons/{}/config",
                    m.app.url,
                    addon_broker_tests::encode(id)
                ),
                &body,
            )
            .await;
        assert!(matches!(status, 400 | 404), "{id:.20}: {status} {answer}");
    }
    let (status, answer) = p
        .raw_callback(
            Method::PATCH,
            &url,
            b"{not json".to_vec(),
            Some(signature(&p.password, now(), b"{not json")),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = p
        .callback(Method::PATCH, &url, &json!({ "config": [{ "name": var, "value": 7 }] }))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(m.platform.releases(&app).await.len(), releases + 1);
}

#[tokio::test]
async fn a_provider_that_fails_or_times_out_leaves_a_failed_operation_and_nothing_attached() {
    let m = market(Options {
        max_attempts: 2,
        partner_timeout_ms: 500,
        ..options()
    })
    .await;
    let p = approved(&m, &["many_per_app"]).await;
    let app = m.platform.create_app().await;
    let releases = m.platform.releases(&app).await.len();
    for plan in ["broken", "slow", "bad-config"] {
        let r = m
            .platform
            .post(
                &format!("/apps/{app}/addons"),
                json!({ "plan": format!("{}:{plan}", p.id) }),
            )
            .await;
        assert_eq!(r.status.as_u16(), 502, "{plan}: {}", r.body);
        let failed = m
            .admin
            .get(&format!(
                "/admin/operations?provider={}&state=failed&kind=provision",
                p.id
            ))
            .await
            .expect(200);
        let why: Vec<String> = failed
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["description"].as_str().unwrap_or_default().to_string())
            .collect();
        let expected = match plan {
            "broken" => "answered 500",
            "slow" => "did not answer within 500 ms",
            _ => "does not start with the prefix",
        };
        assert!(why.iter().any(|d| d.contains(expected)), "{plan}: {why:?}");
    }
    assert!(
        m.platform
            .get(&format!("/apps/{app}/addon-attachments"))
            .await
            .expect(200)
            .body
            == json!([])
    );
    assert_eq!(m.platform.releases(&app).await.len(), releases);
    assert!(m.platform.config(&app).await.is_empty());
    let failed = m
        .admin
        .get(&format!("/admin/instances?provider={}&state=failed", p.id))
        .await
        .expect(200);
    assert_eq!(failed.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_async_provision_never_completed_fails_after_the_deadline_and_is_deprovisioned() {
    let m = market(Options {
        callback_deadline_ms: 1_500,
        create_wait_ms: 300,
        ..options()
    })
    .await;
    let p = approved(&m, &[]).await;
    let app = m.platform.create_app().await;
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:never", p.id) }),
        )
        .await
        .expect(202);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    wait_for("the add-on to fail", Duration::from_secs(15), || async {
        m.platform.get(&format!("/apps/{app}/addons/{uuid}")).await.body["state"] == "failed"
    })
    .await;
    assert!(p.seen.lock().unwrap().deleted.contains(&uuid), "a deprovision was sent");
    let ops = m
        .admin
        .get(&format!("/admin/operations?instance={uuid}"))
        .await
        .expect(200);
    let d = ops.body[0]["description"].as_str().unwrap();
    assert!(
        d.contains("did not complete the provision within 1500 ms") && d.contains("deprovision sent"),
        "{d}"
    );
    assert!(m.platform.config(&app).await.is_empty());
    // A late callback changes nothing.
    let (status, _) = p
        .callback(
            Method::POST,
            &format!("{}/provider/addons/{uuid}/actions/provision", m.app.url),
            &json!({ "config": { format!("{}_URL", p.prefix): "late" } }),
        )
        .await;
    assert_eq!(status, 409);
    assert!(m.platform.config(&app).await.is_empty());
}

#[tokio::test]
async fn sso_gives_the_owner_a_login_the_provider_accepts() {
    let m = market(options()).await;
    let p = approved(&m, &[]).await;
    let app = m.platform.create_app().await;
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": format!("{}:basic", p.id) }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap();
    let sso = m
        .platform
        .get(&format!("/apps/{app}/addons/{uuid}/sso"))
        .await
        .expect(200);
    assert_eq!(sso.body["method"], "POST");
    assert_eq!(sso.body["params"]["id"], uuid);
    assert_eq!(sso.body["params"]["app"], app.as_str());
    let page = reqwest::get(sso.body["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), format!("welcome to {uuid}"));
    // A token with another timestamp does not pass the provider.
    let forged = sso.body["url"].as_str().unwrap().replace("timestamp=", "timestamp=1");
    assert_eq!(reqwest::get(forged).await.unwrap().status(), 403);
    // Only people with access to the app get one (to others it does not exist); built-in
    // add-ons have none.
    m.app
        .api("mallory", Scope::Platform)
        .get(&format!("/apps/{app}/addons/{uuid}/sso"))
        .await
        .expect(404);
    let pg = m
        .platform
        .post(&format!("/apps/{app}/addons"), json!({ "plan": "postgresql:shared" }))
        .await
        .expect(201);
    m.platform
        .get(&format!("/apps/{app}/addons/{}/sso", pg.body["id"].as_str().unwrap()))
        .await
        .expect(422);
}
