//! One provider conformance suite, written once and run against every built-in adapter through
//! the OSB API of a real broker with real backing servers:
//! provisioning twice converges; credentials work with a real client and stay inside their
//! tenant; a second binding works alongside; unbind revokes only its binding; deprovision removes
//! everything, checked on the server itself; a broker killed between steps resumes without
//! leftovers; hostile names and parameters get a 4xx and create nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use addon_broker_tests::{connect_with_uri, kafka, redis_admin, servers, unique, Options, Osb, PgInspector, TestApp};
use async_trait::async_trait;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// What the suite needs to know of an adapter: how a real client uses its credentials, and how
/// to look at its server directly.
#[async_trait]
trait Adapter: Sync {
    /// Catalog service name.
    fn service(&self) -> &'static str;
    /// Whether unbinding revokes credentials on the server (false where the server has no
    /// per-binding principal).
    fn revocable(&self) -> bool {
        true
    }
    /// Makes what a client needs before it can use fresh credentials (a Kafka topic).
    async fn prepare(&self, _osb: &Osb, _instance_id: &str, _creds: &Value) {}
    /// Writes and reads back through the credentials; `Err` when the server refuses them.
    async fn use_credentials(&self, creds: &Value, marker: &str) -> Result<String, String>;
    /// Asserts that the credentials cannot reach beyond their own tenant.
    async fn assert_confined(&self, creds: &Value);
    /// Whether the server holds anything of the instance (and of these bindings).
    async fn leftovers(&self, instance_id: &str, binding_ids: &[String]) -> Vec<String>;
    /// Whether the binding's own resources exist on the server (`None`: a binding has none).
    async fn binding_exists(&self, instance_id: &str, binding_id: &str) -> Option<bool>;
}

struct Postgres;

#[async_trait]
impl Adapter for Postgres {
    fn service(&self) -> &'static str {
        "postgresql"
    }

    async fn use_credentials(&self, creds: &Value, marker: &str) -> Result<String, String> {
        let describe = |e: tokio_postgres::Error| format!("{e:?}");
        let client = connect_with_uri(creds["uri"].as_str().unwrap())
            .await
            .map_err(describe)?;
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS conformance (marker text)")
            .await
            .map_err(describe)?;
        client
            .execute("INSERT INTO conformance VALUES ($1)", &[&marker])
            .await
            .map_err(describe)?;
        let row = client
            .query_one("SELECT marker FROM conformance WHERE marker = $1", &[&marker])
            .await
            .map_err(describe)?;
        Ok(row.get(0))
    }

    async fn assert_confined(&self, creds: &Value) {
        let client = connect_with_uri(creds["uri"].as_str().unwrap()).await.unwrap();
        // Nor may a tenant lift its plan's connection limit or drop its database: the database
        // belongs to the broker's admin role.
        let database = creds["database"].as_str().unwrap();
        let lift = format!("ALTER DATABASE \"{database}\" CONNECTION LIMIT -1");
        let rename = format!("ALTER DATABASE \"{database}\" RENAME TO stolen");
        for sql in [
            "CREATE DATABASE escape",
            "CREATE ROLE escape",
            "ALTER ROLE CURRENT_USER SUPERUSER",
            &lift,
            &rename,
        ] {
            let err = client.batch_execute(sql).await.unwrap_err();
            assert_eq!(
                err.code(),
                Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
                "{sql}: {err:?}"
            );
        }
        // (Reaching another tenant's database is refused: see osb_api's binding test.)
    }

    async fn leftovers(&self, instance_id: &str, binding_ids: &[String]) -> Vec<String> {
        use providers::postgres::{binding_role, database_name, owner_role};
        let pg = PgInspector::connect().await;
        let mut found = Vec::new();
        if pg.database_exists(&database_name(instance_id)).await {
            found.push(database_name(instance_id));
        }
        let mut roles = vec![owner_role(instance_id)];
        roles.extend(binding_ids.iter().map(|b| binding_role(b)));
        for role in roles {
            if pg.role_exists(&role).await {
                found.push(role);
            }
        }
        found
    }

    async fn binding_exists(&self, _instance_id: &str, binding_id: &str) -> Option<bool> {
        let exists = PgInspector::connect()
            .await
            .role_exists(&providers::postgres::binding_role(binding_id))
            .await;
        Some(exists)
    }
}

struct Redis;

#[async_trait]
impl Adapter for Redis {
    fn service(&self) -> &'static str {
        "redis"
    }

    async fn use_credentials(&self, creds: &Value, marker: &str) -> Result<String, String> {
        let client = redis::Client::open(creds["uri"].as_str().unwrap()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let key = format!("{}{marker}", creds["prefix"].as_str().unwrap());
        redis::cmd("SET")
            .arg(&key)
            .arg(marker)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("GET")
            .arg(&key)
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    async fn assert_confined(&self, creds: &Value) {
        let prefix = creds["prefix"].as_str().unwrap();
        let client = redis::Client::open(creds["uri"].as_str().unwrap()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for cmd in [
            redis::cmd("SET").arg("outside:key").arg("x").clone(),
            redis::cmd("GET").arg("ab:someone_else_00000000:k").clone(),
            redis::cmd("KEYS").arg("*").clone(),
            redis::cmd("SCAN").arg(0).clone(),
            redis::cmd("FLUSHALL").clone(),
            redis::cmd("CONFIG").arg("GET").arg("*").clone(),
            redis::cmd("SELECT").arg(1).clone(),
            redis::cmd("ACL").arg("LIST").clone(),
            redis::cmd("PUBLISH").arg("outside").arg("x").clone(),
            redis::cmd("DBSIZE").clone(),
            redis::cmd("PUBSUB").arg("CHANNELS").clone(),
            redis::cmd("CLIENT").arg("TRACKING").arg("ON").arg("BCAST").clone(),
            redis::cmd("COPY")
                .arg(format!("{prefix}k"))
                .arg(format!("{prefix}k2"))
                .arg("DB")
                .arg(1)
                .clone(),
            redis::cmd("FUNCTION").arg("LIST").clone(),
            redis::cmd("SCRIPT").arg("FLUSH").clone(),
        ] {
            let err = cmd.query_async::<redis::Value>(&mut conn).await.unwrap_err();
            assert!(err.to_string().contains("NOPERM"), "{err}");
        }
    }

    async fn leftovers(&self, instance_id: &str, _binding_ids: &[String]) -> Vec<String> {
        let mut admin = redis_admin().await;
        let prefix = providers::redis::key_prefix(instance_id);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut admin)
            .await
            .unwrap();
        let users: Vec<String> = redis::cmd("ACL").arg("USERS").query_async(&mut admin).await.unwrap();
        let user_prefix = providers::redis::user_prefix(instance_id);
        let user_prefix = user_prefix.as_str();
        let mut found = keys;
        found.extend(users.into_iter().filter(|u| u.starts_with(user_prefix)));
        // The ACL file on disk must agree with the server.
        let file = std::fs::read_to_string(servers().redis.acl_file()).unwrap();
        found.extend(
            file.lines()
                .filter(|l| l.contains(user_prefix))
                .map(|l| format!("acl file: {l:.60}")),
        );
        found
    }

    async fn binding_exists(&self, instance_id: &str, binding_id: &str) -> Option<bool> {
        let mut admin = redis_admin().await;
        let users: Vec<String> = redis::cmd("ACL").arg("USERS").query_async(&mut admin).await.unwrap();
        let user = providers::redis::binding_user(instance_id, binding_id);
        let in_file = std::fs::read_to_string(servers().redis.acl_file())
            .unwrap()
            .contains(&user);
        assert_eq!(users.contains(&user), in_file, "ACL file persisted");
        Some(users.contains(&user))
    }
}

struct Kafka;

fn conformance_topic(creds: &Value) -> String {
    format!("{}conformance", creds["prefix"].as_str().unwrap())
}

#[async_trait]
impl Adapter for Kafka {
    fn service(&self) -> &'static str {
        "kafka"
    }

    fn revocable(&self) -> bool {
        false
    }

    async fn prepare(&self, osb: &Osb, instance_id: &str, creds: &Value) {
        let topic = conformance_topic(creds);
        let r = osb
            .send(
                osb.request(
                    reqwest::Method::PUT,
                    &format!("/v2/service_instances/{instance_id}/topics/{topic}"),
                )
                .json(&json!({"partitions": 1})),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.body);
    }

    async fn use_credentials(&self, creds: &Value, marker: &str) -> Result<String, String> {
        let bootstrap = creds["bootstrap_servers"].as_str().unwrap();
        assert!(creds["uri"].as_str().unwrap().starts_with("kafka://"));
        let topic = conformance_topic(creds);
        kafka::produce(bootstrap, &topic, marker).await?;
        kafka::consume_until(bootstrap, &topic, marker).await
    }

    async fn assert_confined(&self, creds: &Value) {
        // Without authentication on the cluster, confinement is the broker's: it creates topics
        // only under the instance's prefix (see the kafka_topics tests), and the cluster creates
        // none on its own: producing to an unknown topic fails.
        let bootstrap = creds["bootstrap_servers"].as_str().unwrap();
        assert!(
            kafka::produce(bootstrap, &format!("outside-{}", uuid::Uuid::new_v4()), "x")
                .await
                .is_err()
        );
    }

    async fn leftovers(&self, instance_id: &str, _binding_ids: &[String]) -> Vec<String> {
        let prefix = providers::kafka::topic_prefix(instance_id);
        kafka::topic_names(&servers().kafka.bootstrap())
            .await
            .into_iter()
            .filter(|t| t.starts_with(&prefix))
            .collect()
    }

    async fn binding_exists(&self, _instance_id: &str, _binding_id: &str) -> Option<bool> {
        None
    }
}

async fn provision_twice_converges_and_bindings_are_real(adapter: &dyn Adapter) {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan(adapter.service(), "shared").await;
    let id = unique("conf");
    let (b1, b2) = (unique("b1"), unique("b2"));

    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    osb.provision(&id, &plan, json!({}), false).await.expect(200);
    osb.provision(&id, &plan, json!({}), true).await.expect(200);

    let c1 = osb.bind(&id, &b1, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    adapter.prepare(&osb, &id, &c1).await;
    assert_eq!(adapter.use_credentials(&c1, "one").await.unwrap(), "one");
    adapter.assert_confined(&c1).await;
    let c2 = osb.bind(&id, &b2, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    if adapter.revocable() {
        assert_ne!(c1, c2, "each binding is its own principal");
    }
    assert_eq!(adapter.use_credentials(&c2, "two").await.unwrap(), "two");
    assert_eq!(adapter.use_credentials(&c1, "one-again").await.unwrap(), "one-again");
    assert_ne!(adapter.binding_exists(&id, &b1).await, Some(false));

    osb.unbind(&id, &b1, &plan, false).await.expect(200);
    if adapter.revocable() {
        assert!(
            adapter.use_credentials(&c1, "revoked").await.is_err(),
            "unbound credentials are revoked"
        );
    }
    assert_ne!(adapter.binding_exists(&id, &b1).await, Some(true));
    assert_eq!(
        adapter.use_credentials(&c2, "still").await.unwrap(),
        "still",
        "the other binding works"
    );

    osb.deprovision(&id, &plan, false).await.expect(200);
    assert!(adapter.use_credentials(&c2, "gone").await.is_err());
    let left = adapter.leftovers(&id, &[b1, b2]).await;
    assert!(left.is_empty(), "deprovision left {left:?}");
}

async fn a_broker_killed_between_steps_resumes_without_leftovers(adapter: &dyn Adapter) {
    let mut app = TestApp::spawn_with(Options {
        lease_ms: 1_000,
        ..Options::default()
    })
    .await;
    let plan = app.osb().plan(adapter.service(), "shared").await;
    let id = unique("conf-crash");
    let bid = unique("b");

    // Each step is accepted, then the broker dies at once, wherever the step got to.
    let op = app
        .osb()
        .provision(&id, &plan, json!({}), true)
        .await
        .expect(202)
        .operation();
    app.kill();
    app.start();
    assert_eq!(app.osb().wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");

    let op = app
        .osb()
        .bind(&id, &bid, &plan, json!({}), true)
        .await
        .expect(202)
        .operation();
    app.kill();
    app.start();
    assert_eq!(
        app.osb().wait_binding(&id, &bid, &op, WAIT).await.body["state"],
        "succeeded"
    );
    let creds = app
        .osb()
        .get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(200);
    let creds = creds.body["credentials"].clone();
    adapter.prepare(&app.osb(), &id, &creds).await;
    assert_eq!(adapter.use_credentials(&creds, "resumed").await.unwrap(), "resumed");

    let op = app.osb().deprovision(&id, &plan, true).await.expect(202).operation();
    app.kill();
    app.start();
    assert_eq!(app.osb().wait_instance(&id, &op, WAIT).await.body["state"], "succeeded");
    let left = adapter.leftovers(&id, &[bid]).await;
    assert!(left.is_empty(), "left {left:?}");
}

async fn hostile_names_and_parameters_get_4xx_and_create_nothing(adapter: &dyn Adapter) {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan(adapter.service(), "shared").await;
    for id in ["a'b", "x;FLUSHALL", "*", "\u{1F600}", &"k".repeat(10_000)] {
        assert_eq!(osb.provision(id, &plan, json!({}), false).await.status, 400, "{id:.20}");
        assert!(adapter.leftovers(id, &[]).await.is_empty());
    }
    let id = unique("conf-host");
    let r = osb
        .provision(&id, &plan, json!({"unknown": "x; FLUSHALL"}), false)
        .await
        .expect(400);
    assert!(r.description().contains("unknown"), "{}", r.body);
    assert!(adapter.leftovers(&id, &[]).await.is_empty());
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    for bid in ["b*", "b\"", " "] {
        assert_eq!(osb.bind(&id, bid, &plan, json!({}), false).await.status, 400);
    }
    let r = osb
        .bind(&id, &unique("b"), &plan, json!({"acl": "+@all"}), false)
        .await
        .expect(400);
    assert!(r.description().contains("acl"));
    osb.deprovision(&id, &plan, false).await.expect(200);
    assert!(adapter.leftovers(&id, &[]).await.is_empty());
}

macro_rules! conformance {
    ($module:ident, $adapter:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn provision_twice_converges_and_bindings_are_real() {
                super::provision_twice_converges_and_bindings_are_real(&$adapter).await;
            }

            #[tokio::test]
            async fn a_broker_killed_between_steps_resumes_without_leftovers() {
                super::a_broker_killed_between_steps_resumes_without_leftovers(&$adapter).await;
            }

            #[tokio::test]
            async fn hostile_names_and_parameters_get_4xx_and_create_nothing() {
                super::hostile_names_and_parameters_get_4xx_and_create_nothing(&$adapter).await;
            }
        }
    };
}

conformance!(postgresql, Postgres);
conformance!(redis_shared, Redis);
conformance!(kafka_shared, Kafka);
