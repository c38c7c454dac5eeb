//! Provision, update, deprovision, bind and unbind as SQL on the shared server.

use super::session::{role_exists, terminate_sessions};
use super::*;

impl PostgresProvider {
    /// Makes [`TEMPLATE_DATABASE`] once per server (idempotent, under an advisory lock of its
    /// own; `datistemplate` is set last and marks it complete).
    async fn ensure_template(&self, client: &tokio_postgres::Client) -> Result<()> {
        if self.template_ready.get().is_some() {
            return Ok(());
        }
        let done = |row: Option<tokio_postgres::Row>| row.map(|r| r.get::<_, bool>(0)).unwrap_or(false);
        let lookup = "SELECT datistemplate FROM pg_database WHERE datname = $1";
        let row = client
            .query_opt(lookup, &[&TEMPLATE_DATABASE])
            .await
            .map_err(|e| classify("looking up the template", e))?;
        if !done(row) {
            client
                .execute("SELECT pg_advisory_lock($1, 0)", &[&ADVISORY_LOCK_CLASS])
                .await
                .map_err(|e| classify("taking the template lock", e))?;
            let result = self.make_template(client).await;
            let _ = client
                .execute("SELECT pg_advisory_unlock($1, 0)", &[&ADVISORY_LOCK_CLASS])
                .await;
            result?;
        }
        let _ = self.template_ready.set(());
        Ok(())
    }

    async fn make_template(&self, client: &tokio_postgres::Client) -> Result<()> {
        let lookup = "SELECT datistemplate FROM pg_database WHERE datname = $1";
        let row = client
            .query_opt(lookup, &[&TEMPLATE_DATABASE])
            .await
            .map_err(|e| classify("looking up the template", e))?;
        if row.as_ref().is_some_and(|r| r.get::<_, bool>(0)) {
            return Ok(());
        }
        let template = quote_ident(TEMPLATE_DATABASE);
        if row.is_none() {
            if let Err(e) = client.batch_execute(&format!("CREATE DATABASE {template}")).await {
                if !is_code(&e, &SqlState::DUPLICATE_DATABASE) {
                    return Err(classify("creating the template database", e));
                }
            }
        }
        let mut config = self.admin.clone();
        config.dbname(TEMPLATE_DATABASE);
        let (inner, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| classify("connecting to the template database", e))?;
        let task = tokio::spawn(connection);
        let granted = inner
            .batch_execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
            .await
            .map_err(|e| classify("preparing the template database", e));
        drop(inner);
        let _ = task.await;
        granted?;
        client
            .batch_execute(&format!("ALTER DATABASE {template} IS_TEMPLATE true"))
            .await
            .map_err(|e| classify("marking the template database", e))
    }

    async fn provision_locked(&self, client: &tokio_postgres::Client, instance_id: &str, limit: i64) -> Result<()> {
        self.ensure_template(client).await?;
        let statements = provision_statements(instance_id, limit);
        // Try first and treat "already exists" as done: one round trip on the common path.
        if let Err(e) = client.batch_execute(&statements[0]).await {
            if !is_code(&e, &SqlState::DUPLICATE_OBJECT) {
                return Err(classify("creating the owner role", e));
            }
        }
        if let Err(e) = client.batch_execute(&statements[1]).await {
            if !is_code(&e, &SqlState::DUPLICATE_DATABASE) {
                return Err(classify("creating the database", e));
            }
            // An earlier attempt made it; converge on the limit this attempt asks for.
            let db = quote_ident(&database_name(instance_id));
            client
                .batch_execute(&format!("ALTER DATABASE {db} CONNECTION LIMIT {limit}"))
                .await
                .map_err(|e| classify("setting the connection limit", e))?;
        }
        client
            .batch_execute(&statements[2])
            .await
            .map_err(|e| classify("revoking public access", e))?;
        client
            .batch_execute(&statements[3])
            .await
            .map_err(|e| classify("granting the owner role access", e))?;
        Ok(())
    }

    async fn deprovision_locked(&self, client: &tokio_postgres::Client, instance_id: &str) -> Result<()> {
        let db = quote_ident(&database_name(instance_id));
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .await
            .map_err(|e| classify("dropping the database", e))?;
        let owner = owner_role(instance_id);
        let members = client
            .query(
                "SELECT r.rolname FROM pg_auth_members m \
                 JOIN pg_roles r ON r.oid = m.member \
                 JOIN pg_roles o ON o.oid = m.roleid WHERE o.rolname = $1",
                &[&owner],
            )
            .await
            .map_err(|e| classify("listing binding roles", e))?;
        for row in members {
            let member: String = row.get(0);
            if member != self.admin_user {
                self.drop_binding_role(client, instance_id, &member).await?;
            }
        }
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(&owner)))
            .await
            .map_err(|e| classify("dropping the owner role", e))
    }

    async fn bind_locked(
        &self,
        client: &tokio_postgres::Client,
        instance_id: &str,
        binding_id: &str,
        password: &str,
    ) -> Result<()> {
        let statements = bind_statements(instance_id, binding_id, password);
        let role = binding_role(binding_id);
        match client.batch_execute(&statements[0]).await {
            Ok(()) => {}
            Err(e) if is_code(&e, &SqlState::DUPLICATE_OBJECT) => {
                // An earlier attempt made the role but its password was never handed out: set
                // it again (the same one: the password is fixed per bind operation).
                let sql = format!(
                    "ALTER ROLE {} WITH LOGIN PASSWORD {}",
                    quote_ident(&role),
                    password_verifier(password)
                );
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| classify("resetting the binding password", e))?;
            }
            Err(e) => return Err(classify("creating the binding role", e)),
        }
        client
            .batch_execute(&statements[1])
            .await
            .map_err(|e| classify("granting the owner role", e))?;
        client
            .batch_execute(&statements[2])
            .await
            .map_err(|e| classify("setting the session role", e))?;
        Ok(())
    }

    async fn drop_binding_role(&self, client: &tokio_postgres::Client, instance_id: &str, role: &str) -> Result<()> {
        if !role_exists(client, role).await? {
            return Ok(());
        }
        // Stop new logins first, so nothing reconnects between the kill and the drop.
        client
            .batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(role)))
            .await
            .map_err(|e| classify("disabling the binding role", e))?;
        terminate_sessions(client, role).await?;
        match client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_code(&e, &SqlState::DEPENDENT_OBJECTS_STILL_EXIST) => {
                // The role owns objects itself (it reset its role before creating them, maybe
                // in another database it could connect to): hand them to the owner role in
                // every database that holds some, then drop the role.
                let rows = client
                    .query(
                        "SELECT DISTINCT d.datname FROM pg_shdepend s \
                         JOIN pg_database d ON d.oid = s.dbid \
                         JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = $1",
                        &[&role],
                    )
                    .await
                    .map_err(|e| classify("finding the role's objects", e))?;
                for row in rows {
                    let database: String = row.get(0);
                    self.reassign_owned(&database, instance_id, role).await?;
                }
                client
                    .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
                    .await
                    .map_err(|e| classify("dropping the binding role", e))
            }
            Err(e) => Err(classify("dropping the binding role", e)),
        }
    }

    async fn reassign_owned(&self, database: &str, instance_id: &str, role: &str) -> Result<()> {
        let mut config = self.admin.clone();
        config.dbname(database);
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| classify("connecting to the instance database", e))?;
        let task = tokio::spawn(connection);
        let sql = format!(
            "REASSIGN OWNED BY {role} TO {owner}; DROP OWNED BY {role}",
            role = quote_ident(role),
            owner = quote_ident(&owner_role(instance_id)),
        );
        let result = client
            .batch_execute(&sql)
            .await
            .map_err(|e| classify("reassigning owned objects", e));
        drop(client);
        let _ = task.await;
        result
    }
}

#[async_trait]
impl crate::Provider for PostgresProvider {
    fn service(&self) -> &ServiceDef {
        &self.service
    }

    fn check_update(&self, request: &UpdateRequest) -> Result<(), String> {
        let to = plan_limits(&request.to_plan).map_err(|e| e.to_string())?;
        let wanted = connection_limit(to, &request.parameters);
        if wanted > to.max_connections {
            return Err(format!(
                "connection_limit {wanted} exceeds the maximum of plan {} ({}); lower connection_limit first",
                to.name, to.max_connections
            ));
        }
        Ok(())
    }

    async fn provision(&self, request: &ProvisionRequest) -> Result<Outcome<Provisioned>> {
        let limits = plan_limits(&request.plan)?;
        let limit = connection_limit(limits, &request.parameters);
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .provision_locked(locked.session()?, &request.instance_id, limit)
            .await;
        locked.release(result).await?;
        Ok(Outcome::Done(Provisioned::default()))
    }

    async fn update(&self, request: &UpdateRequest) -> Result<Outcome<()>> {
        self.check_update(request).map_err(ProviderError::Invalid)?;
        let limit = connection_limit(plan_limits(&request.to_plan)?, &request.parameters);
        let db = quote_ident(&database_name(&request.instance_id));
        let locked = self.lock(&request.instance_id).await?;
        let result = locked
            .session()?
            .batch_execute(&format!("ALTER DATABASE {db} CONNECTION LIMIT {limit}"))
            .await
            .map_err(|e| classify("changing the connection limit", e));
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn deprovision(&self, request: &DeprovisionRequest) -> Result<Outcome<()>> {
        let locked = self.lock(&request.instance_id).await?;
        let result = self.deprovision_locked(locked.session()?, &request.instance_id).await;
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn bind(&self, request: &BindRequest) -> Result<Outcome<Credentials>> {
        plan_limits(&request.plan)?;
        let password = request.password.clone();
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .bind_locked(locked.session()?, &request.instance_id, &request.binding_id, &password)
            .await;
        locked.release(result).await?;
        let database = database_name(&request.instance_id);
        let username = binding_role(&request.binding_id);
        let uri = format!(
            "postgres://{username}:{password}@{}:{}/{database}",
            self.host, self.port
        );
        let mut values = serde_json::Map::new();
        values.insert("uri".into(), json!(uri));
        values.insert("host".into(), json!(self.host));
        values.insert("port".into(), json!(self.port));
        values.insert("database".into(), json!(database));
        values.insert("username".into(), json!(username));
        values.insert("password".into(), json!(password));
        let env = [("URL".to_string(), uri)].into_iter().collect();
        Ok(Outcome::Done(Credentials { values, env }))
    }

    async fn unbind(&self, request: &UnbindRequest) -> Result<Outcome<()>> {
        let role = binding_role(&request.binding_id);
        let locked = self.lock(&request.instance_id).await?;
        let result = self
            .drop_binding_role(locked.session()?, &request.instance_id, &role)
            .await;
        locked.release(result).await?;
        Ok(Outcome::Done(()))
    }

    async fn health(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| classify("health check", e))?;
        Ok(())
    }
}
