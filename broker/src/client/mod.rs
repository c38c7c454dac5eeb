//! The client half of the `broker` binary: Heroku-style `topic:command`s that talk to a broker
//! over its platform API, for people (tables, sentences, spinners) and scripts (`--json`).
//!
//! Each topic has its own file with its commands' arguments (clap) and bodies; [`Command`]
//! lists them all, and [`run`] turns a result into one line on standard error and an exit code.

pub mod api;
pub mod apps;
pub mod auth;
pub mod deploy;
pub mod domains;
pub mod error;
pub mod git;
pub mod git_hook;
pub mod login;
pub mod logs;
pub mod open;
pub mod output;
pub mod ps;
pub mod releases;
pub mod run;
pub mod target;
// <cli part>
pub mod access;
pub mod addons;
pub mod buildpacks;
pub mod config;
pub mod kafka;
// </cli part>

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
    /// Open the app's web URL (and a path under it) in a browser.
    Open(open::OpenArgs),
    /// The hostnames an app is served at: its default one and custom domains.
    Domains(domains::ListArgs),
    /// Add a custom domain to an app (then point its DNS at the target shown).
    #[command(name = "domains:add")]
    DomainsAdd(domains::HostnameArgs),
    /// Remove a custom domain from an app.
    #[command(name = "domains:remove")]
    DomainsRemove(domains::HostnameArgs),
    /// Remove every custom domain of an app.
    #[command(name = "domains:clear")]
    DomainsClear(domains::ClearArgs),
    /// An app's buildpacks, in the order builds run them.
    Buildpacks(buildpacks::ListArgs),
    /// Set an app's buildpack (alone, or at --index).
    #[command(name = "buildpacks:set")]
    BuildpacksSet(buildpacks::ChangeArgs),
    /// Add a buildpack (last, or at --index).
    #[command(name = "buildpacks:add")]
    BuildpacksAdd(buildpacks::ChangeArgs),
    /// Remove a buildpack.
    #[command(name = "buildpacks:remove")]
    BuildpacksRemove(buildpacks::ChangeArgs),
    /// Clear an app's buildpacks (builds detect among the built-ins).
    #[command(name = "buildpacks:clear")]
    BuildpacksClear(buildpacks::ClearArgs),
    // <cli part>
    /// An app's config vars.
    Config(config::ListArgs),
    /// Print one config var's value.
    #[command(name = "config:get")]
    ConfigGet(config::GetArgs),
    /// Set config vars (one release).
    #[command(name = "config:set")]
    ConfigSet(config::SetArgs),
    /// Remove config vars (one release).
    #[command(name = "config:unset")]
    ConfigUnset(config::UnsetArgs),
    /// An app's add-ons (or, with no app, every add-on you can see).
    Addons(addons::ListArgs),
    /// Create an add-on and attach it to the app (waits while it provisions).
    #[command(name = "addons:create")]
    AddonsCreate(addons::CreateArgs),
    /// Destroy an add-on and its data (asks for --confirm).
    #[command(name = "addons:destroy")]
    AddonsDestroy(addons::DestroyArgs),
    /// Attach an existing add-on to the app, with credentials of its own.
    #[command(name = "addons:attach")]
    AddonsAttach(addons::AttachArgs),
    /// Detach an add-on from the app (its credentials stop working).
    #[command(name = "addons:detach")]
    AddonsDetach(addons::DetachArgs),
    /// An add-on: plan, state, attachments, config vars.
    #[command(name = "addons:info")]
    AddonsInfo(addons::InfoArgs),
    /// The add-on services of the catalog.
    #[command(name = "addons:services")]
    AddonsServices(addons::ServicesArgs),
    /// A service's plans.
    #[command(name = "addons:plans")]
    AddonsPlans(addons::PlansArgs),
    /// The topics of a Kafka add-on.
    #[command(name = "kafka:topics")]
    KafkaTopics(kafka::ListArgs),
    /// Create a topic on a Kafka add-on.
    #[command(name = "kafka:topics:create")]
    KafkaTopicsCreate(kafka::CreateArgs),
    /// Delete a topic of a Kafka add-on (asks for --confirm).
    #[command(name = "kafka:topics:destroy")]
    KafkaTopicsDestroy(kafka::DestroyArgs),
    /// Who may use the app: its owner and collaborators.
    Access(access::ListArgs),
    /// Give a person access to the app.
    #[command(name = "access:add")]
    AccessAdd(access::AddArgs),
    /// Take a person's access to the app away.
    #[command(name = "access:remove")]
    AccessRemove(access::RemoveArgs),
    // </cli part>
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
    // <attach part>
    /// Run a command in a one-off dyno, attached: a terminal when this is one, else streams.
    Run(run::RunArgs),
    /// Run a command in a one-off dyno in the background; its output goes to the logs.
    #[command(name = "run:detached")]
    RunDetached(run::DetachedArgs),
    // </attach part>
    /// Add a git remote for an app (`git push broker main` then deploys).
    #[command(name = "git:remote")]
    GitRemote(git::RemoteArgs),
    /// git's credential helper: answers with the login's token (apps:create and git:remote set it up).
    #[command(name = "git:credentials")]
    GitCredentials(git::CredentialsArgs),
    /// The pre-receive hook of the broker's git repositories (run by git, not by people).
    #[command(name = "git-hook", hide = true)]
    GitHook(git_hook::HookArgs),
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
        Command::Open(a) => open::open(a).await,
        Command::Domains(a) => domains::list(a).await,
        Command::DomainsAdd(a) => domains::add(a).await,
        Command::DomainsRemove(a) => domains::remove(a).await,
        Command::DomainsClear(a) => domains::clear(a).await,
        // <cli part>
        Command::Buildpacks(a) => buildpacks::list(a).await,
        Command::BuildpacksSet(a) => buildpacks::set(a).await,
        Command::BuildpacksAdd(a) => buildpacks::add(a).await,
        Command::BuildpacksRemove(a) => buildpacks::remove(a).await,
        Command::BuildpacksClear(a) => buildpacks::clear(a).await,
        Command::Config(a) => config::list(a).await,
        Command::ConfigGet(a) => config::get(a).await,
        Command::ConfigSet(a) => config::set(a).await,
        Command::ConfigUnset(a) => config::unset(a).await,
        Command::Addons(a) => addons::list(a).await,
        Command::AddonsCreate(a) => addons::create(a).await,
        Command::AddonsDestroy(a) => addons::destroy(a).await,
        Command::AddonsAttach(a) => addons::attach(a).await,
        Command::AddonsDetach(a) => addons::detach(a).await,
        Command::AddonsInfo(a) => addons::info(a).await,
        Command::AddonsServices(a) => addons::services(a).await,
        Command::AddonsPlans(a) => addons::plans(a).await,
        Command::KafkaTopics(a) => kafka::list(a).await,
        Command::KafkaTopicsCreate(a) => kafka::create(a).await,
        Command::KafkaTopicsDestroy(a) => kafka::destroy(a).await,
        Command::Access(a) => access::list(a).await,
        Command::AccessAdd(a) => access::add(a).await,
        Command::AccessRemove(a) => access::remove(a).await,
        // </cli part>
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
        // <attach part>
        Command::Run(a) => return run::run(a).await,
        Command::RunDetached(a) => run::detached(a).await,
        // </attach part>
        Command::GitRemote(a) => git::remote(a).await,
        Command::GitCredentials(a) => git::credentials(a),
        Command::GitHook(a) => git_hook::hook(a).await,
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
/// `topic:command` are joined (Heroku's CLI takes both forms), or three for a
/// `topic:sub:command` (`broker kafka topics create`).
pub fn join_topic(args: Vec<String>, known: impl Fn(&str) -> bool) -> Vec<String> {
    for words in [3, 2] {
        if args.len() > words && args[1..=words].iter().all(|a| !a.starts_with('-')) {
            let joined = args[1..=words].join(":");
            if known(&joined) {
                let mut out = vec![args[0].clone(), joined];
                out.extend(args.into_iter().skip(words + 1));
                return out;
            }
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_join_into_the_longest_known_command() {
        let known = |n: &str| ["apps:create", "kafka:topics", "kafka:topics:create"].contains(&n);
        let join = |a: &[&str]| join_topic(a.iter().map(|s| s.to_string()).collect(), known);
        assert_eq!(join(&["b", "apps", "create", "x"]), ["b", "apps:create", "x"]);
        assert_eq!(
            join(&["b", "kafka", "topics", "create", "t"]),
            ["b", "kafka:topics:create", "t"]
        );
        assert_eq!(join(&["b", "kafka", "topics"]), ["b", "kafka:topics"]);
        assert_eq!(join(&["b", "kafka", "topics", "KAFKA"]), ["b", "kafka:topics", "KAFKA"]);
        assert_eq!(join(&["b", "apps", "-a", "x"]), ["b", "apps", "-a", "x"]);
    }
}
