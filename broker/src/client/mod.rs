//! The client half of the `broker` binary: Heroku-style `topic:command`s that talk to a broker
//! over its platform API, for people (tables, sentences, spinners) and scripts (`--json`).
//!
//! Each topic has its own file with its commands' arguments (clap) and bodies; [`Command`]
//! lists them all, and [`run`] turns a result into one line on standard error and an exit code.

pub mod api;
pub mod apps;
pub mod auth;
pub mod deploy;
pub mod error;
pub mod login;
pub mod logs;
pub mod output;
pub mod ps;
pub mod releases;
pub mod target;

use clap::Subcommand;

pub use error::{CliError, CliResult};

/// The client commands (beside the server ones in [`crate::cli`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store the broker's URL and a platform token for the commands that follow.
    Login(auth::LoginArgs),
    /// Forget the stored login.
    #[command(after_help = "Example:\n  broker logout")]
    Logout,
    /// Who the token speaks for.
    #[command(name = "auth:whoami")]
    AuthWhoami(auth::WhoamiArgs),
    /// Print the platform token in use.
    #[command(name = "auth:token")]
    AuthToken(auth::TokenArgs),
    /// The apps you can see.
    Apps(apps::ListArgs),
    /// Create an app (and name it in ./.broker-app).
    #[command(name = "apps:create")]
    AppsCreate(apps::CreateArgs),
    /// An app, its add-ons and dynos.
    #[command(name = "apps:info")]
    AppsInfo(apps::InfoArgs),
    /// Rename an app.
    #[command(name = "apps:rename")]
    AppsRename(apps::RenameArgs),
    /// Destroy an app with its add-ons (asks for --confirm).
    #[command(name = "apps:destroy")]
    AppsDestroy(apps::DestroyArgs),
    // <deploy part>
    /// Pack this directory (honouring .gitignore and .slugignore), build it, stream the build
    /// and wait for the web dynos.
    Deploy(deploy::DeployArgs),
    /// The app's dynos by process type, with their state and age.
    Ps(ps::PsArgs),
    /// Scale process types (`web=2 worker=1`, optionally `web=2:standard-2x`).
    #[command(name = "ps:scale")]
    PsScale(ps::ScaleArgs),
    /// Restart every dyno, those of a type, or one.
    #[command(name = "ps:restart")]
    PsRestart(ps::RestartArgs),
    /// Stop a dyno.
    #[command(name = "ps:stop")]
    PsStop(ps::StopArgs),
    /// Show or change the dyno size of process types.
    #[command(name = "ps:type", alias = "ps:resize")]
    PsType(ps::TypeArgs),
    /// The app's log; `--tail` follows it.
    Logs(logs::LogsArgs),
    /// The app's releases, newest first.
    Releases(releases::ListArgs),
    /// One release.
    #[command(name = "releases:info")]
    ReleasesInfo(releases::InfoArgs),
    /// Roll back to an earlier release (default: the one before the current).
    Rollback(releases::RollbackArgs),
    // </deploy part>
}

/// Runs a client command; errors become `broker: <one line>` on standard error.
pub async fn run(command: Command) -> std::process::ExitCode {
    output::init_colour();
    let result = match command {
        Command::Login(a) => auth::login(a).await,
        Command::Logout => auth::logout(),
        Command::AuthWhoami(a) => auth::whoami(a).await,
        Command::AuthToken(a) => auth::token(a),
        Command::Apps(a) => apps::list(a).await,
        Command::AppsCreate(a) => apps::create(a).await,
        Command::AppsInfo(a) => apps::info(a).await,
        Command::AppsRename(a) => apps::rename(a).await,
        Command::AppsDestroy(a) => apps::destroy(a).await,
        // <deploy part>
        Command::Deploy(a) => deploy::deploy(a).await,
        Command::Ps(a) => ps::ps(a).await,
        Command::PsScale(a) => ps::scale(a).await,
        Command::PsRestart(a) => ps::restart(a).await,
        Command::PsStop(a) => ps::stop(a).await,
        Command::PsType(a) => ps::resize(a).await,
        Command::Logs(a) => logs::logs(a).await,
        Command::Releases(a) => releases::list(a).await,
        Command::ReleasesInfo(a) => releases::info(a).await,
        Command::Rollback(a) => releases::rollback(a).await,
        // </deploy part>
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{} {e}", output::bad("broker:"));
            std::process::ExitCode::from(e.code.max(1))
        }
    }
}

/// Accepts `broker apps create` for `broker apps:create`: two leading words that name a
/// `topic:command` are joined (Heroku's CLI takes both forms).
pub fn join_topic(args: Vec<String>, known: impl Fn(&str) -> bool) -> Vec<String> {
    if args.len() >= 3 && !args[1].starts_with('-') && !args[2].starts_with('-') {
        let joined = format!("{}:{}", args[1], args[2]);
        if known(&joined) {
            let mut out = vec![args[0].clone(), joined];
            out.extend(args.into_iter().skip(3));
            return out;
        }
    }
    args
}
