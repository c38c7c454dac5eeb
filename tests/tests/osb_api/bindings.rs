//! Service bindings: working credentials, revocation, async binds.

use super::*;

#[tokio::test]
async fn bind_returns_working_credentials_and_unbind_revokes_only_that_binding() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("bind");
    let (b1, b2) = (unique("b1"), unique("b2"));
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let c1 = osb.bind(&id, &b1, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    let c2 = osb.bind(&id, &b2, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    for key in ["uri", "host", "port", "database", "username", "password"] {
        assert!(!c1[key].is_null(), "credentials carry {key}");
    }
    assert_eq!(c1["database"], database_name(&id));
    assert_ne!(c1["username"], c2["username"]);
    let uri1 = c1["uri"].as_str().unwrap();
    let uri2 = c2["uri"].as_str().unwrap();

    // Identical rebind: 200 with the same credentials; different attributes: 409.
    let again = osb.bind(&id, &b1, &plan, json!({}), false).await.expect(200);
    assert_eq!(again.body["credentials"], c1);
    let r = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{b1}"))
        .await
        .expect(200);
    assert_eq!(r.body["credentials"], c1);
    let other = unique("other");
    osb.provision(&other, &plan, json!({}), false).await.expect(201);
    osb.bind(&other, &b1, &plan, json!({}), false).await.expect(409);

    // Both bindings share the data: what one creates the other can use.
    let one = connect_with_uri(uri1).await.unwrap();
    one.batch_execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello')")
        .await
        .unwrap();
    let two = connect_with_uri(uri2).await.unwrap();
    let row = two.query_one("SELECT body FROM notes", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "hello");
    two.execute("INSERT INTO notes VALUES ('from two')", &[]).await.unwrap();
    // Neither can reach another instance's database.
    let foreign = uri1.replace(&database_name(&id), &database_name(&other));
    assert!(connect_with_uri(&foreign).await.is_err());

    // Unbind b1: its open session is cut, its password stops working, b2 keeps working.
    osb.unbind(&id, &b1, &plan, false).await.expect(200);
    assert!(one.query_one("SELECT 1", &[]).await.is_err(), "session terminated");
    let Err(err) = connect_with_uri(uri1).await else {
        panic!("revoked credentials still connect")
    };
    assert!(
        err.to_string().contains("password authentication failed") || err.as_db_error().is_some(),
        "{err}"
    );
    let two_again = connect_with_uri(uri2).await.unwrap();
    let n: i64 = two_again
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "the data outlives the binding that wrote it");
    osb.unbind(&id, &b1, &plan, false).await.expect(410);
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/{b1}"))
        .await
        .expect(404);
    assert!(!PgInspector::connect().await.role_exists(&binding_role(&b1)).await);
}

#[tokio::test]
async fn unbind_takes_over_objects_a_binding_owns_itself() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("own");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let creds = osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    let client = connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
    // Leave the shared owner role and create a table as the binding's own role.
    client
        .batch_execute("RESET ROLE; CREATE TABLE mine (x int); INSERT INTO mine VALUES (7)")
        .await
        .unwrap();
    drop(client);
    osb.unbind(&id, &bid, &plan, false).await.expect(200);
    assert!(!PgInspector::connect().await.role_exists(&binding_role(&bid)).await);
    let b2 = osb
        .bind(&id, &unique("b"), &plan, json!({}), false)
        .await
        .expect(201)
        .body["credentials"]
        .clone();
    let c2 = connect_with_uri(b2["uri"].as_str().unwrap()).await.unwrap();
    let x: i32 = c2.query_one("SELECT x FROM mine", &[]).await.unwrap().get(0);
    assert_eq!(x, 7);
}

#[tokio::test]
async fn async_bind_and_unbind_are_polled_through_the_binding_last_operation() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("abind");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let lock = PgInspector::hold_instance_lock(&id).await;
    let op = osb
        .bind(&id, &bid, &plan, json!({}), true)
        .await
        .expect(202)
        .operation();
    assert_eq!(
        op,
        osb.bind(&id, &bid, &plan, json!({}), true)
            .await
            .expect(202)
            .operation()
    );
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(404);
    let r = osb.unbind(&id, &bid, &plan, true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    let r = osb.deprovision(&id, &plan, true).await.expect(422);
    assert_eq!(r.error_code(), Some("ConcurrencyError"));
    drop(lock);
    assert_eq!(osb.wait_binding(&id, &bid, &op, WAIT).await.body["state"], "succeeded");
    let creds = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(200)
        .body;
    let uri = creds["credentials"]["uri"].as_str().unwrap().to_string();
    connect_with_uri(&uri).await.unwrap();

    let op = osb.unbind(&id, &bid, &plan, true).await.expect(202).operation();
    assert_eq!(osb.wait_binding(&id, &bid, &op, WAIT).await.body["state"], "succeeded");
    assert!(connect_with_uri(&uri).await.is_err());
}

#[tokio::test]
async fn bindings_need_a_provisioned_instance_of_the_same_plan() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let large = osb.plan("postgresql", "shared-large").await;
    let id = unique("needs");
    osb.bind(&id, &unique("b"), &plan, json!({}), false).await.expect(404);
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    osb.bind(&id, &unique("b"), &large, json!({}), false).await.expect(400);
    osb.unbind(&id, &unique("b"), &plan, false).await.expect(410);
    osb.get(&format!("/v2/service_instances/{id}/service_bindings/none"))
        .await
        .expect(404);
}
