//! Hostile ids and malformed bodies: 400 in the OSB error format, nothing left behind.

use super::*;

#[tokio::test]
async fn hostile_ids_get_400_and_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let pg = PgInspector::connect().await;
    let hostile = [
        "'; DROP DATABASE postgres; --".to_string(),
        "\"quoted\"".to_string(),
        "a;b".to_string(),
        "x".repeat(10_000),
        "ünïcødé".to_string(),
        "tab\there".to_string(),
        "../etc".to_string(),
        " ".to_string(),
    ];
    for id in &hostile {
        let r = osb.provision(id, &plan, json!({}), false).await;
        assert_eq!(r.status, 400, "{id:.40}: {}", r.body);
        assert!(r.description().contains("instance_id"), "{}", r.body);
        assert!(!pg.database_exists(&database_name(id)).await);
        assert!(!pg.role_exists(&owner_role(id)).await);
        assert!(osb.last_operation(id, None).await.status.is_client_error());
        assert_eq!(osb.deprovision(id, &plan, false).await.status, 400);
    }
    // An empty id matches no endpoint: still a 4xx in the OSB format.
    let r = osb.provision("", &plan, json!({}), false).await.expect(404);
    assert!(r.description().contains("no such endpoint"), "{}", r.body);
    let id = unique("host");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let r = osb.bind(&id, "", &plan, json!({}), false).await.expect(404);
    assert!(r.description().contains("no such endpoint"), "{}", r.body);
    for bid in &hostile {
        let r = osb.bind(&id, bid, &plan, json!({}), false).await;
        assert_eq!(r.status, 400, "{bid:.40}: {}", r.body);
        assert!(!pg.role_exists(&binding_role(bid)).await);
    }
    assert_eq!(
        pg.client()
            .query_one("SELECT count(*) FROM pg_database WHERE datname = 'postgres'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
}

#[tokio::test]
async fn malformed_bodies_and_empty_fields_get_400_in_the_osb_error_format() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("bad");
    let path = format!("/v2/service_instances/{id}");
    for body in ["", "{", "[]", "null", "\"x\"", "{\"service_id\": 5}"] {
        let r = osb
            .send(
                osb.request(Method::PUT, &path)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(r.status, 400, "body {body:?}");
        assert!(!r.description().is_empty());
    }
    for (field, value) in [
        ("service_id", ""),
        ("plan_id", ""),
        ("organization_guid", ""),
        ("space_guid", ""),
    ] {
        let mut body = json!({"service_id": plan.service_id, "plan_id": plan.plan_id,
                              "organization_guid": "o", "space_guid": "s"});
        body[field] = json!(value);
        let r = osb.provision_raw(&id, body.clone(), false).await.expect(400);
        assert_eq!(r.description(), format!("{field} is required"));
        body.as_object_mut().unwrap().remove(field);
        osb.provision_raw(&id, body, false).await.expect(400);
    }
    let r = osb
        .provision_raw(
            &id,
            json!({"service_id": "nope", "plan_id": plan.plan_id, "organization_guid": "o", "space_guid": "s"}),
            false,
        )
        .await
        .expect(400);
    assert!(r.description().contains("service_id"));
    let r = osb
        .provision_raw(
            &id,
            json!({"service_id": plan.service_id, "plan_id": "nope", "organization_guid": "o", "space_guid": "s"}),
            false,
        )
        .await
        .expect(400);
    assert!(r.description().contains("plan_id"));
    let r = osb
        .send(
            osb.request(Method::PUT, &format!("{path}?accepts_incomplete=maybe"))
                .json(&json!({})),
        )
        .await
        .expect(400);
    assert!(r.description().contains("accepts_incomplete"));
    let r = osb.send(osb.request(Method::DELETE, &path)).await.expect(400);
    assert!(r.description().contains("service_id"));
    assert!(!PgInspector::connect().await.database_exists(&database_name(&id)).await);
}
