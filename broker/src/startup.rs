//! Wiring: settings → state store, key, providers, catalog, jobs, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use providers::kafka::{KafkaConfig, KafkaProvider};
use providers::postgres::{PostgresConfig, PostgresProvider};
use providers::redis::{RedisConfig, RedisProvider};
use providers::Provider;
use runtime::local::{LocalConfig, LocalRuntime};
use runtime::network::LocalNetwork;
use runtime::Runtime;
use tracing::{info, warn};

use crate::access::Access;
use crate::auth::TokenKeys;
use crate::catalog::{Catalog, CatalogHandle};
use crate::config::Settings;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::dynos::Dynos;
use crate::error::{Error, Result};
use crate::git::Git;
use crate::http::forward;
use crate::http::middleware::{framework_errors, request_ids};
use crate::http::state::{OsbState, PlatformState};
use crate::http::{access, admin, dynos, git, osb, platform, provider, topics};
use crate::jobs::Jobs;
use crate::marketplace::Marketplace;
use crate::node::Node;
use crate::platform::{AppHosts, Platform};
use crate::provisioning::Provisioning;
use crate::router::pool::Pool;
use crate::router::Router;

/// Largest request body accepted (1 MiB).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Every route of the broker: the APIs, `/healthz`, and OSB's 404 for anything else. Build
/// uploads may be up to `max_archive` bytes.
pub fn routes(cfg: &mut web::ServiceConfig, max_archive: usize) {
    // Before every other `/apps/{app}/…` route: `/apps/{app}.git/…` is git's.
    git::routes(cfg);
    osb::routes(cfg);
    topics::routes(cfg);
    platform::routes(cfg);
    access::routes(cfg);
    admin::routes(cfg);
    provider::routes(cfg);
    dynos::routes(cfg, max_archive);
    cfg.route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
        .default_service(web::to(osb::no_route));
}

/// A built broker, bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    jobs: Jobs,
    platform: Platform,
    dynos: Dynos,
    marketplace: Marketplace,
    access: Access,
    git: Git,
    router: Option<Router>,
    /// Holds the data directory's node lock while the broker runs.
    _node: Node,
    reconcile_every: Duration,
}

/// The OSB password: from settings, else generated once and kept in `<data_dir>/osb-password`.
pub fn osb_password(settings: &Settings) -> Result<String> {
    if !settings.osb.password.is_empty() {
        return Ok(settings.osb.password.clone());
    }
    crate::crypto::private_file(&settings.data_dir.join("osb-password"), || {
        providers::names::random_password(32)
    })
}

/// The configured built-in providers.
pub fn build_providers(settings: &Settings) -> Result<Vec<Arc<dyn Provider>>> {
    let mut list: Vec<Arc<dyn Provider>> = Vec::new();
    if let Some(pg) = &settings.providers.postgresql {
        let provider = PostgresProvider::new(&PostgresConfig {
            url: pg.url.clone(),
            public_host: pg.public_host.clone(),
            public_port: pg.public_port,
            pool_size: pg.pool_size,
        })
        .map_err(|e| Error::internal("postgresql provider", e))?;
        list.push(Arc::new(provider));
    }
    if let Some(r) = &settings.providers.redis {
        let provider = RedisProvider::new(&RedisConfig {
            url: r.url.clone(),
            public_host: r.public_host.clone(),
            public_port: r.public_port,
        })
        .map_err(|e| Error::internal("redis provider", e))?;
        list.push(Arc::new(provider));
    }
    if let Some(k) = &settings.providers.kafka {
        let provider = KafkaProvider::new(&KafkaConfig {
            bootstrap_servers: k.bootstrap_servers.clone(),
            public_bootstrap_servers: k.public_bootstrap_servers.clone(),
            replication_factor: k.replication_factor,
        })
        .map_err(|e| Error::internal("kafka provider", e))?;
        list.push(Arc::new(provider));
    }
    Ok(list)
}

/// The dyno runtime the settings ask for: `local` must work, `auto` falls back to none (with
/// the reason in the log) on a host that cannot run it.
pub fn dyno_runtime(settings: &Settings) -> Result<Option<Arc<dyn Runtime>>> {
    if settings.runtime.backend == "none" {
        return Ok(None);
    }
    let local = LocalRuntime::new(LocalConfig {
        root: settings.runtime_root(),
        bwrap: settings.runtime.bwrap.clone().into(),
        cgroup_parent: settings.runtime.cgroup_parent.clone(),
        run_as: LocalConfig::default_user(),
        network: match settings.runtime.network.as_str() {
            "host" => LocalNetwork::Host,
            _ => LocalNetwork::Isolated {
                pasta: settings.runtime.pasta.clone().into(),
                enter_namespaces: settings.runtime.enter_namespaces,
            },
        },
    });
    if settings.runtime.network == "host" && local.is_ok() {
        warn!("dynos share the host's network (runtime.network = \"host\"): any dyno reaches every port of this host");
    }
    match local {
        Ok(rt) => Ok(Some(Arc::new(rt))),
        Err(e) if settings.runtime.backend == "auto" => {
            warn!(reason = %e, "this host cannot run dynos; the broker runs without them (runtime.backend = \"auto\")");
            Ok(None)
        }
        Err(e) => Err(Error::Internal(format!(
            "dyno runtime: {e} (or set runtime.backend = \"auto\" or \"none\")"
        ))),
    }
}

/// Opens the state store named by the settings.
pub fn open_db(settings: &Settings) -> Result<Db> {
    Db::connect(&settings.database_url(), settings.database.pool_size)
}

/// The key that seals secrets at rest: from the settings, else the key file (made once).
fn open_sealer(settings: &Settings) -> Result<Sealer> {
    if settings.crypto.key.is_empty() {
        Sealer::from_key_file(&settings.key_file())
    } else {
        Sealer::from_base64(&settings.crypto.key)
    }
}

/// Binds the listener; returns it, its port and the URL partners call back on (the configured
/// public URL, else this listener's).
fn bind(settings: &Settings) -> Result<(TcpListener, u16, String)> {
    let listener = TcpListener::bind(&settings.server.listen)
        .map_err(|e| Error::internal(format!("listening on {}", settings.server.listen), e))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal("reading the bound address", e))?;
    let port = address.port();
    let public_url = if settings.marketplace.public_url.is_empty() {
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            address.ip().to_string()
        };
        format!("http://{host}:{port}")
    } else {
        settings.marketplace.public_url.clone()
    };
    Ok((listener, port, public_url))
}

/// The HTTP server on `listener`, not yet running.
fn serve(
    settings: &Settings,
    listener: TcpListener,
    osb_state: OsbState,
    platform_state: PlatformState,
    git: Git,
) -> Result<actix_web::dev::Server> {
    let max_archive = settings.runtime.max_archive_bytes;
    let (osb_state, platform_state) = (web::Data::new(osb_state), web::Data::new(platform_state));
    let git = web::Data::new(git);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(forward::to_supervisor))
            .wrap(from_fn(framework_errors))
            .wrap(from_fn(request_ids))
            .app_data(osb_state.clone())
            .app_data(platform_state.clone())
            .app_data(git.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .configure(|cfg| routes(cfg, max_archive))
    })
    .disable_signals()
    .shutdown_timeout(10);
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    Ok(server
        .listen(listener)
        .map_err(|e| Error::internal("listening", e))?
        .run())
}

impl Application {
    /// Opens the store (migrating it unless told not to), loads the key, builds the providers
    /// and binds the listener.
    pub async fn build(settings: Settings) -> Result<Application> {
        let db = open_db(&settings)?;
        if settings.database.migrate_on_start {
            let applied = db.migrate().await?;
            info!(applied, "migrations applied");
        }
        let sealer = open_sealer(&settings)?;
        let builtins = build_providers(&settings)?;
        let catalog = CatalogHandle::new(Catalog::new(builtins.clone())?);
        let node = Node::claim(&settings.data_dir)?;
        if node.holds_directory() {
            crate::uploads::clear_spool(&crate::uploads::spool_dir(&settings.data_dir));
        }
        let jobs = Jobs::new(
            db.clone(),
            catalog.clone(),
            sealer.clone(),
            settings.jobs.clone(),
            &node,
        );
        let provisioning = Provisioning::new(
            db.clone(),
            catalog.clone(),
            jobs.clone(),
            sealer.clone(),
            Duration::from_millis(settings.osb.sync_timeout_ms),
        );
        let pool = Pool::new(crate::config::RouterSettings::millis(settings.router.drain_timeout_ms));
        let (listener, port, public_url) = bind(&settings)?;
        let dynos = Dynos::new(
            db.clone(),
            sealer.clone(),
            dyno_runtime(&settings)?,
            settings.runtime.clone(),
            settings.builds.clone(),
            crate::dynos::Home {
                data_dir: settings.data_dir.clone(),
                supervisor: node.owner(),
                url: public_url.clone(),
            },
            pool.clone(),
        );
        dynos.claim_lease_at_start().await;
        let router = Router::bind(&settings.router, db.clone(), pool, dynos.clone())?;
        let web_address = router.as_ref().map(Router::web_address);
        let platform = Platform::new(
            db.clone(),
            provisioning.clone(),
            sealer.clone(),
            Duration::from_millis(settings.platform.create_wait_ms),
            AppHosts::new(&settings.router.apps_domain()?, web_address),
        );
        let marketplace = Marketplace::new(
            db.clone(),
            sealer,
            catalog,
            builtins,
            settings.marketplace.clone(),
            public_url,
            platform.clone(),
        )?;
        if let Err(e) = marketplace.rebuild().await {
            // A provider row that cannot be read must not keep the built-in services down.
            warn!(error = %e.chain(), "registered providers could not be loaded; serving the built-in services only");
        }
        let access = Access::new(db.clone(), TokenKeys::from_settings(&settings)?);
        let platform_state = PlatformState {
            platform: platform.clone(),
            access: access.clone(),
            dynos: dynos.clone(),
            marketplace: marketplace.clone(),
        };
        let osb_state = OsbState {
            provisioning,
            username: settings.osb.username.clone(),
            password: osb_password(&settings)?,
            retry_after_secs: settings.osb.retry_after_secs,
        };
        let git = Git::new(db.clone(), &settings.data_dir, settings.runtime.max_archive_bytes);
        git.write_hooks()?;
        let server = serve(&settings, listener, osb_state, platform_state, git.clone())?;
        Ok(Application {
            port,
            server,
            jobs,
            platform,
            dynos,
            marketplace,
            access,
            git,
            router,
            _node: node,
            reconcile_every: Duration::from_millis(settings.platform.reconcile_interval_ms.max(50)),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The router's listeners (`http://127.0.0.1:PORT`), for the start-up lines.
    pub fn router_listening(&self) -> Vec<String> {
        self.router.as_ref().map(Router::listening).unwrap_or_default()
    }

    /// Where apps are reached (`None` without a router).
    pub fn web_address(&self) -> Option<crate::config::WebAddress> {
        self.router.as_ref().map(Router::web_address)
    }

    /// The access domain (to issue tokens for a dev session).
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The dyno manager.
    pub fn dynos(&self) -> &Dynos {
        &self.dynos
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped; the job workers stop with it.
    pub async fn run_until_stopped(self) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let workers = tokio::spawn(self.jobs.clone().run_workers(stopped(stop_rx.clone())));
        let reconciler = tokio::spawn(
            self.platform
                .clone()
                .run_reconciler(self.reconcile_every, stopped(stop_rx.clone())),
        );
        let supervisor = tokio::spawn(self.dynos.clone().run(stopped(stop_rx.clone())));
        let refresher = tokio::spawn(self.marketplace.clone().run_refresher(stopped(stop_rx.clone())));
        let collector = tokio::spawn(self.git.clone().run_collector(stopped(stop_rx.clone())));
        let router = self.router.map(|r| tokio::spawn(r.run(stopped(stop_rx))));
        let result = self.server.await.map_err(|e| Error::internal("server", e));
        let _ = stop_tx.send(true);
        let _ = workers.await;
        let _ = reconciler.await;
        let _ = supervisor.await;
        let _ = refresher.await;
        let _ = collector.await;
        if let Some(r) = router {
            let _ = r.await;
        }
        result
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
