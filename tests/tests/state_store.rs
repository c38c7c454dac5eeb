//! The state store: both migration sets agree and run up, down, up on real servers; binding
//! credentials are encrypted at rest and never logged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use addon_broker_tests::{pg_connect, servers, unique, StateBackend, TestApp};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_migrations::MigrationHarness;
use serde_json::json;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    nullable: String,
}

/// table → [(column, nullable)], sorted.
type Shape = BTreeMap<String, Vec<(String, bool)>>;

fn shape(columns: Vec<Column>) -> Shape {
    let mut out: Shape = BTreeMap::new();
    for c in columns {
        out.entry(c.table_name)
            .or_default()
            .push((c.column_name, c.nullable == "YES" || c.nullable == "0"));
    }
    for cols in out.values_mut() {
        cols.sort();
    }
    out
}

fn sqlite_shape(conn: &mut SqliteConnection) -> Shape {
    shape(
        diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, CAST(p.\"notnull\" AS TEXT) AS nullable \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
        )
        .load(conn)
        .unwrap(),
    )
}

fn postgres_shape(conn: &mut PgConnection) -> Shape {
    shape(
        diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(conn)
        .unwrap(),
    )
}

fn migration_names(backend: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

async fn fresh_postgres_database() -> String {
    let name = format!("mig_{}", uuid::Uuid::new_v4().simple());
    pg_connect("postgres")
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    servers().postgres.url(&name)
}

#[tokio::test]
async fn both_migration_sets_have_the_same_names_and_produce_the_same_tables() {
    let names = migration_names("sqlite");
    assert!(!names.is_empty());
    assert_eq!(names, migration_names("postgres"));

    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteConnection::establish(dir.path().join("s.sqlite").to_str().unwrap()).unwrap();
    sqlite.run_pending_migrations(broker::db::SQLITE_MIGRATIONS).unwrap();
    let mut pg = PgConnection::establish(&fresh_postgres_database().await).unwrap();
    pg.run_pending_migrations(broker::db::POSTGRES_MIGRATIONS).unwrap();

    let (s, p) = (sqlite_shape(&mut sqlite), postgres_shape(&mut pg));
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        [
            "addon_attachments",
            "addons",
            "apps",
            "audit_log",
            "bindings",
            "buildpack_installations",
            "builds",
            "callback_nonces",
            "collaborators",
            "domains",
            "formations",
            "instance_configs",
            "instances",
            "marketplace_providers",
            "operations",
            "releases",
            "slugs",
            "supervisor_leases",
            "team_members",
            "teams",
            "tokens"
        ]
    );
    assert_eq!(s, p);
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = SqliteConnection::establish(dir.path().join("s.sqlite").to_str().unwrap()).unwrap();
    let mut pg = PgConnection::establish(&fresh_postgres_database().await).unwrap();

    sqlite.run_pending_migrations(broker::db::SQLITE_MIGRATIONS).unwrap();
    let up = sqlite_shape(&mut sqlite);
    sqlite.revert_all_migrations(broker::db::SQLITE_MIGRATIONS).unwrap();
    assert!(sqlite_shape(&mut sqlite).is_empty());
    sqlite.run_pending_migrations(broker::db::SQLITE_MIGRATIONS).unwrap();
    assert_eq!(sqlite_shape(&mut sqlite), up);

    pg.run_pending_migrations(broker::db::POSTGRES_MIGRATIONS).unwrap();
    let up = postgres_shape(&mut pg);
    pg.revert_all_migrations(broker::db::POSTGRES_MIGRATIONS).unwrap();
    assert!(postgres_shape(&mut pg).is_empty());
    pg.run_pending_migrations(broker::db::POSTGRES_MIGRATIONS).unwrap();
    assert_eq!(postgres_shape(&mut pg), up);
}

#[tokio::test]
async fn binding_passwords_are_encrypted_at_rest_and_never_logged() {
    let app = TestApp::spawn().await;
    let osb = app.osb();
    let plan = osb.plan("postgresql", "shared").await;
    let id = unique("secret");
    let bid = unique("b");
    osb.provision(&id, &plan, json!({}), false).await.expect(201);
    let creds = osb.bind(&id, &bid, &plan, json!({}), false).await.expect(201).body["credentials"].clone();
    let password = creds["password"].as_str().unwrap().to_string();
    assert!(password.len() >= 24);
    // Served back from storage, so what is stored decrypts to the same secret.
    let fetched = osb
        .get(&format!("/v2/service_instances/{id}/service_bindings/{bid}"))
        .await
        .expect(200);
    assert_eq!(fetched.body["credentials"]["password"], password.as_str());

    match StateBackend::from_env() {
        StateBackend::Sqlite => {
            let mut stored = Vec::new();
            for name in ["broker.sqlite", "broker.sqlite-wal"] {
                if let Ok(bytes) = std::fs::read(app.dir().join(name)) {
                    stored.extend(bytes);
                }
            }
            assert!(stored.len() > 1000, "read the state files");
            assert!(
                !stored.windows(password.len()).any(|w| w == password.as_bytes()),
                "password found in the SQLite state"
            );
            // The binding id is there in clear, so the search itself works.
            assert!(stored.windows(bid.len()).any(|w| w == bid.as_bytes()));
        }
        StateBackend::Postgres => {
            let url = app.state_url.clone();
            let db = url.rsplit('/').next().unwrap().to_string();
            let client = pg_connect(&db).await;
            for table in ["instances", "bindings", "operations", "audit_log"] {
                let rows = client
                    .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                    .await
                    .unwrap();
                for row in rows {
                    let text: String = row.get(0);
                    assert!(!text.contains(&password), "password found in {table}");
                }
            }
            let sealed: Vec<u8> = client
                .query_one("SELECT credentials FROM bindings WHERE id = $1", &[&bid])
                .await
                .unwrap()
                .get(0);
            assert!(!sealed.windows(password.len()).any(|w| w == password.as_bytes()));
        }
    }
    let log = std::fs::read_to_string(app.log_path()).unwrap();
    assert!(log.contains("running operation"), "the log was written");
    assert!(!log.contains(&password), "password found in the broker log");
    let key = app.dir().join("secret.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
}
