//! Add-ons as people name them: by name, id, attachment name or unambiguous service name; a
//! bare service name takes the default plan; unknown services and plans list the valid ones.

use super::*;

/// The add-ons of an app, as `(name, id)` pairs of the given service.
async fn addons_of(api: &Api, app: &str, service: &str) -> Vec<(String, String)> {
    let list = api.get(&format!("/apps/{app}/addons")).await.expect(200).body;
    list.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["service"] == service)
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn addons_answer_to_their_name_id_attachment_name_and_unambiguous_service_name() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let web = api.create_app().await;
    let r = api
        .post(&format!("/apps/{web}/addons"), json!({ "plan": "postgresql" }))
        .await
        .expect(201);
    assert_eq!(
        r.body["plan"], "postgresql:shared",
        "a bare service name takes its default plan"
    );
    let (pg_name, pg_id) = (r.body["name"].as_str().unwrap(), r.body["id"].as_str().unwrap());
    for wanted in [pg_name, pg_id, "DATABASE", "postgresql"] {
        let got = api.get(&format!("/apps/{web}/addons/{wanted}")).await.expect(200);
        assert_eq!(got.body["id"], pg_id, "{wanted}");
    }
    // Attachment names are upper-case, as Heroku writes them: `database` names nothing.
    let r = api.get(&format!("/apps/{web}/addons/database")).await.expect(404);
    assert!(r.message().contains("database"), "{}", r.message());
    let r = api
        .patch(
            &format!("/apps/{web}/addons/DATABASE"),
            json!({ "plan": "postgresql:shared-large" }),
        )
        .await
        .expect(200);
    assert_eq!(r.body["plan"], "postgresql:shared-large");

    // Two redis add-ons: `redis` is ambiguous, each attachment name is not.
    let first = api
        .post(&format!("/apps/{web}/addons"), json!({ "plan": "redis" }))
        .await
        .expect(201)
        .body;
    api.post(
        &format!("/apps/{web}/addons"),
        json!({ "plan": "redis:shared", "attachment": { "name": "CACHE" } }),
    )
    .await
    .expect(201);
    let redis = addons_of(&api, &web, "redis").await;
    assert_eq!(redis.len(), 2);
    for path in [
        format!("/apps/{web}/addons/redis"),
        format!("/apps/{web}/addons/redis/sso"),
    ] {
        let r = api.get(&path).await.expect(422);
        for (name, _) in &redis {
            assert!(r.message().contains(name.as_str()), "{path}: {}", r.message());
        }
    }
    let r = api.delete(&format!("/apps/{web}/addons/redis")).await.expect(422);
    assert!(r.message().contains("ambiguous"), "{}", r.message());
    assert_eq!(addons_of(&api, &web, "redis").await.len(), 2, "nothing was destroyed");
    let got = api.get(&format!("/apps/{web}/addons/REDIS")).await.expect(200);
    assert_eq!(got.body["id"], first["id"]);
    let got = api.get(&format!("/apps/{web}/addons/CACHE")).await.expect(200);
    assert_ne!(got.body["id"], first["id"]);

    // Another app: its own names, and attachments named from its side.
    let worker = api.create_app().await;
    api.get(&format!("/apps/{worker}/addons/DATABASE")).await.expect(404);
    let r = api.get(&format!("/apps/{worker}/addons/{pg_name}")).await.expect(404);
    assert!(r.message().contains("not attached"), "{}", r.message());
    let r = api
        .post(
            "/addon-attachments",
            json!({ "addon": "redis", "app": web, "name": "THIRD" }),
        )
        .await
        .expect(422);
    assert!(r.message().contains("ambiguous"), "{}", r.message());
    api.post("/addon-attachments", json!({ "addon": pg_name, "app": worker }))
        .await
        .expect(201);
    for wanted in ["DATABASE", "postgresql", pg_id] {
        let got = api.get(&format!("/apps/{worker}/addons/{wanted}")).await.expect(200);
        assert_eq!(got.body["id"], pg_id, "{wanted} on the attached app");
    }
    // An attachment name on the target app names the add-on to attach again.
    let r = api
        .post(
            "/addon-attachments",
            json!({ "addon": "DATABASE", "app": worker, "name": "REPORTING" }),
        )
        .await
        .expect(201);
    assert_eq!(r.body["addon"]["id"], pg_id);
    let config = api.config(&worker).await;
    assert!(config.contains_key("REPORTING_URL") && config.contains_key("DATABASE_URL"));
    api.delete(&format!("/apps/{web}/addons/postgresql")).await.expect(200);
    assert!(addons_of(&api, &web, "postgresql").await.is_empty());
}

#[tokio::test]
async fn unknown_services_and_plans_are_answered_with_the_valid_ones() {
    let app = TestApp::spawn().await;
    let api = app.platform();
    let web = api.create_app().await;
    let path = format!("/apps/{web}/addons");
    let r = api.post(&path, json!({ "plan": "redsi" })).await.expect(422);
    assert_eq!(r.message(), "no service \"redsi\"; services: kafka, postgresql, redis");
    let r = api.post(&path, json!({ "plan": "redsi:shared" })).await.expect(422);
    assert_eq!(r.message(), "no service \"redsi\"; services: kafka, postgresql, redis");
    let r = api.post(&path, json!({ "plan": "redis:huge" })).await.expect(422);
    assert_eq!(
        r.message(),
        "service redis has no plan \"huge\"; plans: redis:shared, redis:shared-large"
    );
    let r = api.get("/addon-services/redsi/plans").await.expect(404);
    assert_eq!(r.message(), "no service \"redsi\"; services: kafka, postgresql, redis");
    assert_eq!(api.get(&path).await.expect(200).body, json!([]), "nothing was made");
    for service in ["postgresql", "redis", "kafka"] {
        let plans = api
            .get(&format!("/addon-services/{service}/plans"))
            .await
            .expect(200)
            .body;
        let defaults: Vec<&Value> = plans
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["default"] == true)
            .collect();
        assert_eq!(defaults.len(), 1, "{service}: {plans}");
        assert_eq!(defaults[0]["name"], format!("{service}:shared"));
    }
}
