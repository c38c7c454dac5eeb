//! The `broker` command line: the server commands (`serve`, `dev`, `migrate`, `token`,
//! `openapi`) and, flattened beside them, the client's `topic:command`s ([`crate::client`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use tracing::info;

use crate::access::Access;
use crate::auth::{Scope, TokenKeys};
use crate::config::{KafkaProviderSettings, PostgresProviderSettings, RedisProviderSettings, Settings};
use crate::devservers::{PostgresServer, RedisServer, TansuServer};
use crate::error::{Error, Result};
use crate::startup::{self, Application};

/// addon-broker: the add-on marketplace broker.
#[derive(Debug, Parser)]
#[command(name = "broker", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker with settings from --config and BROKER__… environment variables.
    #[command(after_help = "Example:\n  broker serve --config broker.toml --listen 0.0.0.0:8080")]
    Serve {
        /// TOML settings file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding the settings (port 0 picks a free port).
        #[arg(long)]
        listen: Option<String>,
        /// Do not apply migrations at start.
        #[arg(long)]
        no_migrate: bool,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Start the broker with ephemeral backing servers on this machine (development); --config
    /// and BROKER__… environment variables apply on top of the dev defaults. Stores its URL and a
    /// platform token as the client's login (like `broker login`) unless --no-login.
    #[command(
        after_help = "Examples:\n  broker dev\n  broker dev --port 9000 --env-file broker.env --users alice,bob"
    )]
    Dev {
        /// Port of the broker (default: `server.listen` of the settings, else 8080).
        #[arg(long)]
        port: Option<u16>,
        /// Also write the broker URL and credentials as KEY=value lines to this file.
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// Keep broker state here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML settings file, applied over the dev defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print (and write to --env-file) a platform token per person: `--users alice,bob`
        /// gives BROKER_TOKEN_ALICE and BROKER_TOKEN_BOB.
        #[arg(long, value_delimiter = ',')]
        users: Vec<String>,
        /// Do not store the session's URL and platform token as the client's login (by default
        /// `broker apps` and the other client commands in another terminal use this session).
        #[arg(long)]
        no_login: bool,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Apply pending migrations to the configured state store and exit.
    #[command(after_help = "Example:\n  broker migrate --config broker.toml")]
    Migrate {
        /// TOML settings file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Mint a bearer token for the platform or admin API (or a provider-registration token)
    /// with the configured key.
    #[command(after_help = "Example:\n  broker token --scope platform --sub alice --ttl 7d --config broker.toml")]
    Token {
        /// `platform`, `admin` or `provider` (may only submit manifests).
        #[arg(long)]
        scope: String,
        /// Lifetime: `90s`, `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Who the token speaks for (`sub`).
        #[arg(long, default_value = "operator")]
        sub: String,
        /// What the token is for (shown by `GET /account/tokens`).
        #[arg(long, default_value = "made by broker token")]
        description: String,
        /// TOML settings file (the key comes from `auth.jwt_secret` or `<data_dir>/jwt-secret`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the OpenAPI document (or write it to --output).
    #[command(after_help = "Example:\n  broker openapi --output api-spec/openapi.json")]
    Openapi {
        /// File to write instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    #[command(flatten)]
    Client(crate::client::Command),
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// Entry point of the `broker` binary.
pub fn main() -> std::process::ExitCode {
    let command = Cli::command();
    let args = crate::client::join_topic(std::env::args().collect(), |name| {
        command.find_subcommand(name).is_some()
    });
    let cli = Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("broker: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Command::Client(client) = cli.command {
        return runtime.block_on(crate::client::run(client));
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: an internal error's own text names only what was being done.
            eprintln!("broker: {}", e.chain());
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            no_migrate,
            log_json,
        } => {
            let mut settings = Settings::load(config.as_deref())?;
            init_logging(log_json || settings.log.format == "json");
            if let Some(listen) = listen {
                settings.server.listen = listen;
            }
            if no_migrate {
                settings.database.migrate_on_start = false;
            }
            serve(settings).await
        }
        Command::Dev {
            port,
            env_file,
            data_dir,
            config,
            users,
            no_login,
            log_json,
        } => {
            // The file and the environment are read once before any server starts, so that a
            // bad setting fails at once and the log format is known.
            let peek = Settings::load(config.as_deref())?;
            init_logging(log_json || peek.log.format == "json");
            let users = dev_users(&users)?;
            let options = DevOptions {
                port,
                env_file,
                data_dir,
                config,
                users,
                login: !no_login,
            };
            dev(options).await
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            init_logging(settings.log.format == "json");
            let applied = startup::open_db(&settings)?.migrate().await?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Token {
            scope,
            ttl,
            sub,
            description,
            config,
        } => mint_token(&scope, &ttl, &sub, description, config).await,
        Command::Client(_) => unreachable!("client commands are run by main"),
        Command::Openapi { output } => {
            let text = crate::openapi::render();
            match output {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| Error::internal(format!("writing {}", path.display()), e))
                }
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
    }
}

/// `broker token`: records a token in the configured state store, then prints it signed (the
/// broker refuses tokens it has no record of).
async fn mint_token(scope: &str, ttl: &str, sub: &str, description: String, config: Option<PathBuf>) -> Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let scope = Scope::parse(scope)
        .ok_or_else(|| Error::Internal(format!("--scope must be platform, admin or provider, not {scope}")))?;
    let ttl = parse_ttl(ttl)?;
    let db = startup::open_db(&settings)?;
    if settings.database.migrate_on_start {
        db.migrate().await?;
    }
    let access = Access::new(db, TokenKeys::from_settings(&settings)?);
    println!("{}", access.issue(sub, scope, ttl, description, None).await?.token);
    Ok(())
}

/// `90s`, `30m`, `1h`, `7d` → seconds.
fn parse_ttl(text: &str) -> Result<i64> {
    let bad = || Error::Internal(format!("--ttl must look like 90s, 30m, 1h or 7d, not {text}"));
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(unit).ok_or_else(bad)
}

async fn serve(settings: Settings) -> Result<()> {
    let app = Application::build(settings).await?;
    // The first line on stdout names the bound address, so that a supervisor (or the test
    // harness) that asked for port 0 learns the port.
    println!("listening on http://127.0.0.1:{}", app.port());
    for url in app.router_listening() {
        println!("router listening on {url}");
    }
    let _ = std::io::stdout().flush();
    let handle = app.handle();
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        info!("shutting down");
        handle.stop(true).await;
    });
    app.run_until_stopped().await
}

/// What `broker dev` was asked for.
struct DevOptions {
    port: Option<u16>,
    env_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    /// `(sub, env var)` pairs, checked by [`dev_users`].
    users: Vec<(String, String)>,
    /// Store the session's URL and platform token as the client's login.
    login: bool,
}

async fn dev(options: DevOptions) -> Result<()> {
    let mut pg = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .map_err(|e| Error::internal("starting the dev postgres server", e))??;
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .map_err(|e| Error::internal("starting the dev redis server", e))??;
    let kafka = tokio::task::spawn_blocking(TansuServer::start)
        .await
        .map_err(|e| Error::internal("starting the dev kafka server", e))??;
    let temp = tempfile::Builder::new()
        .prefix("addon-broker-dev-")
        .tempdir()
        .map_err(|e| Error::internal("temp dir", e))?;
    // Dynos run as an unprivileged user that must reach their directories under it.
    std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711))
        .map_err(|e| Error::internal("temp dir", e))?;
    let base = dev_settings(temp.path().to_path_buf(), &pg, &redis, &kafka);
    let mut settings = Settings::load_over(&base, options.config.as_deref())?;
    // Flags given on the command line win over the file and the environment.
    if let Some(port) = options.port {
        settings.server.listen = format!("127.0.0.1:{port}");
    }
    if let Some(dir) = options.data_dir {
        settings.data_dir = dir;
    }
    let app = Application::build(settings.clone()).await?;
    let url = format!("http://127.0.0.1:{}", app.port());
    let env = dev_env(&settings, app.access(), &url, &options.users).await?;
    println!("addon-broker dev is running (Ctrl-C stops it and everything it started)");
    println!("  postgresql: 127.0.0.1:{} (ephemeral)", pg.port());
    println!("  redis: 127.0.0.1:{} (ephemeral)", redis.port());
    println!("  kafka (tansu): 127.0.0.1:{} (ephemeral)", kafka.port());
    println!("  data dir: {}", settings.data_dir.display());
    if let Some(web) = app.web_address() {
        let at = app.router_listening().join(", ");
        println!("  router: {at} (apps at {})", web.web_url("APP"));
    }
    let config_flag = options
        .config
        .as_ref()
        .map(|c| format!(" --config {}", c.display()))
        .unwrap_or_default();
    println!(
        "  more tokens: BROKER__DATA_DIR={} broker token{config_flag} --scope platform --sub NAME",
        settings.data_dir.display()
    );
    for line in env.lines() {
        println!("  {line}");
    }
    if options.login {
        write_dev_login(&url, &env);
    }
    if let Some(path) = &options.env_file {
        write_env_file(path, &env)?;
        println!("  wrote {}", path.display());
    }
    let _ = std::io::stdout().flush();
    let handle = app.handle();
    tokio::spawn(async move {
        startup::shutdown_signal().await;
        handle.stop(true).await;
    });
    let result = app.run_until_stopped().await;
    // Stopping blocks (each server is waited for), so it runs off the async workers.
    tokio::task::spawn_blocking(move || {
        pg.stop();
        drop(redis);
        drop(kafka);
    })
    .await
    .map_err(|e| Error::internal("stopping the dev servers", e))?;
    drop(temp);
    println!("addon-broker dev stopped");
    result
}

/// The defaults of a dev session, under its `--config` file and `BROKER__…` variables: the
/// given servers as backends, a fresh OSB password, dynos that stop with the session, and
/// provider URLs on this host allowed (a provider developer's add-on runs on their laptop).
fn dev_settings(data_dir: PathBuf, pg: &PostgresServer, redis: &RedisServer, kafka: &TansuServer) -> Settings {
    let mut settings = Settings {
        data_dir,
        ..Settings::default()
    };
    settings.server.listen = "127.0.0.1:8080".into();
    // A dev session owns its dynos: they stop with it (and with the servers they use).
    settings.runtime.stop_on_shutdown = true;
    settings.runtime.stop_grace_ms = 5_000;
    settings.marketplace.allow_loopback = true;
    settings.osb.password = providers::names::random_password(24);
    settings.providers.postgresql = Some(PostgresProviderSettings {
        url: pg.url("postgres"),
        public_host: None,
        public_port: None,
        pool_size: 8,
    });
    settings.providers.redis = Some(RedisProviderSettings {
        url: redis.url(),
        public_host: None,
        public_port: None,
    });
    settings.providers.kafka = Some(KafkaProviderSettings {
        bootstrap_servers: kafka.bootstrap(),
        public_bootstrap_servers: None,
        replication_factor: 1,
    });
    settings
}

/// `--users alice,bob` → `[("alice", "BROKER_TOKEN_ALICE"), ("bob", "BROKER_TOKEN_BOB")]`;
/// names are 1–64 of `A-Z a-z 0-9 . _ - @`, and two that give one variable are refused.
fn dev_users(users: &[String]) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for user in users.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let ok = user.len() <= 64 && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
        if !ok {
            return Err(Error::Internal(format!(
                "--users: {user:.80} is not a user name (1-64 of A-Z a-z 0-9 . _ - @)"
            )));
        }
        let suffix: String = user
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    b.to_ascii_uppercase() as char
                } else {
                    '_'
                }
            })
            .collect();
        let var = format!("BROKER_TOKEN_{suffix}");
        if let Some((other, _)) = out.iter().find(|(_, v)| *v == var) {
            return Err(Error::Internal(format!(
                "--users: {other} and {user} would both be {var}"
            )));
        }
        out.push((user.to_string(), var));
    }
    Ok(out)
}

/// The `KEY=value` lines a dev session prints: the URL, OSB credentials, day-long tokens, and
/// a platform token per `--users` person, each recorded in the session's store.
async fn dev_env(settings: &Settings, access: &Access, url: &str, users: &[(String, String)]) -> Result<String> {
    let day = 86_400;
    let token = |sub: String, scope| async move {
        let issued = access
            .issue(&sub, scope, day, "broker dev session".into(), None)
            .await?;
        Ok::<_, Error>(issued.token)
    };
    let mut env = format!(
        "BROKER_URL={url}\nBROKER_OSB_USER={}\nBROKER_OSB_PASSWORD={}\nBROKER_PLATFORM_TOKEN={}\nBROKER_ADMIN_TOKEN={}\n",
        settings.osb.username,
        settings.osb.password,
        token("dev-platform".into(), Scope::Platform).await?,
        token("dev-admin".into(), Scope::Admin).await?,
    );
    for (sub, var) in users {
        env.push_str(&format!("{var}={}\n", token(sub.clone(), Scope::Platform).await?));
    }
    Ok(env)
}

/// Stores the session's URL and platform token as the client's login (as `vault server -dev`
/// writes `~/.vault-token`), so client commands in another terminal use this session. A login
/// that cannot be written is a warning, not a reason to stop the session.
fn write_dev_login(url: &str, env: &str) {
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("BROKER_PLATFORM_TOKEN="))
        .unwrap_or_default();
    let login = crate::client::login::Login {
        url: url.to_string(),
        token: token.to_string(),
    };
    match crate::client::login::store(&login) {
        Ok(path) => println!(
            "  login: {} (client commands such as `broker apps` now use this session; --no-login keeps the previous login)",
            path.display()
        ),
        Err(e) => println!("  login: not written ({e})"),
    }
}

/// The names of every subcommand of the `broker` binary, server and client (`help` and the
/// hidden `git-hook`, which git runs, aside),
/// so that tests can hold each one to the rules every command follows.
pub fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

/// Writes the dev session's `KEY=value` lines to a private (0600) file.
fn write_env_file(path: &Path, env: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(env.as_bytes()))
        .map_err(|e| Error::internal(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_users_become_one_token_variable_each_and_bad_names_are_refused() {
        let users = dev_users(&["alice".into(), " bob.smith ".into(), String::new()]).unwrap();
        assert_eq!(
            users,
            [
                ("alice".to_string(), "BROKER_TOKEN_ALICE".to_string()),
                ("bob.smith".to_string(), "BROKER_TOKEN_BOB_SMITH".to_string())
            ]
        );
        for bad in [
            vec!["a b".to_string()],
            vec!["x;y".into()],
            vec!["b-o".into(), "b_o".into()],
        ] {
            let e = dev_users(&bad).unwrap_err().to_string();
            assert!(e.contains("--users"), "{e}");
        }
    }
}
