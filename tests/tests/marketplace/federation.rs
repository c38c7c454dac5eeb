//! A second broker of ours federated over OSB.

use super::*;

#[tokio::test]
async fn a_federated_broker_serves_its_postgresql_through_ours_end_to_end() {
    let upstream = TestApp::spawn_with(options()).await;
    let m = market(options()).await;
    let r = m
        .admin
        .post(
            "/admin/providers",
            json!({ "kind": "osb", "id": "upstream", "name": "Upstream broker", "url": upstream.url,
                    "username": upstream.user, "password": upstream.password, "service_prefix": "up" }),
        )
        .await
        .expect(201);
    assert!(r.body["services"].as_array().unwrap().contains(&json!("up-postgresql")));
    assert!(!r.body.to_string().contains(&upstream.password));
    let wrong = m
        .admin
        .post(
            "/admin/providers",
            json!({ "kind": "osb", "id": "wrong", "name": "Wrong", "url": upstream.url, "username": "broker", "password": "nope" }),
        )
        .await
        .expect(422);
    assert!(wrong.message().contains("401"), "{}", wrong.message());
    m.admin
        .post("/admin/providers/upstream/actions/approve", json!({}))
        .await
        .expect(200);

    let app = m.platform.create_app().await;
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": "up-postgresql:shared" }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    let url = m.platform.config(&app).await["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_string();
    let client = connect_with_uri(&url).await.expect("the federated credentials work");
    client
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    // The upstream broker holds the instance, under the same id.
    let up = upstream.osb();
    let inst = up.get(&format!("/v2/service_instances/{uuid}")).await.expect(200);
    assert_eq!(
        inst.body["plan_id"],
        up.plan("postgresql", "shared").await.plan_id.as_str()
    );

    // Destroying the add-on unbinds (the credentials stop working) and deprovisions upstream.
    drop(client);
    m.platform
        .delete(&format!("/apps/{app}/addons/{uuid}"))
        .await
        .expect(200);
    assert!(connect_with_uri(&url).await.is_err(), "revoked credentials still work");
    up.get(&format!("/v2/service_instances/{uuid}")).await.expect(404);

    // An instance already gone upstream (410 there) is deprovisioned here without error.
    let r = m
        .platform
        .post(
            &format!("/apps/{app}/addons"),
            json!({ "plan": "up-postgresql:shared", "name": "gone-upstream" }),
        )
        .await
        .expect(201);
    let uuid = r.body["id"].as_str().unwrap().to_string();
    let att = m
        .platform
        .get(&format!("/apps/{app}/addon-attachments"))
        .await
        .expect(200);
    let binding = att.body[0]["id"].as_str().unwrap().to_string();
    let plan = up.plan("postgresql", "shared").await;
    up.unbind(&uuid, &binding, &plan, false).await.expect(200);
    up.deprovision(&uuid, &plan, false).await.expect(200);
    m.platform
        .delete(&format!("/apps/{app}/addons/{uuid}"))
        .await
        .expect(200);
    let failed = m
        .admin
        .get(&format!("/admin/operations?instance={uuid}&state=failed"))
        .await
        .expect(200);
    assert_eq!(failed.body, json!([]), "nothing failed");
}
