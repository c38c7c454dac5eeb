//! The client half of the `broker` binary: Heroku-style `topic:command`s that talk to a broker
//! over its platform API, for people (tables, sentences, spinners) and scripts (`--json`).
//!
//! Each topic has its own file with its commands' arguments (clap) and bodies; [`Command`]
//! lists them all, and [`run`] turns a result into one line on standard error and an exit code.

pub mod api;
pub mod apps;
pub mod auth;
pub mod error;
pub mod login;
pub mod output;
pub mod run;
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
    // <attach part>
    /// Run a command in a one-off dyno, attached: a terminal when this is one, else streams.
    Run(run::RunArgs),
    /// Run a command in a one-off dyno in the background; its output goes to the logs.
    #[command(name = "run:detached")]
    RunDetached(run::DetachedArgs),
    // </attach part>
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
        // <attach part>
        Command::Run(a) => return run::run(a).await,
        Command::RunDetached(a) => run::detached(a).await,
        // </attach part>
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
