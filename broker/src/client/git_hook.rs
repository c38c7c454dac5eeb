//! `broker git-hook pre-receive` (hidden): the pre-receive hook of every app's repository, run
//! by `git receive-pack` inside the broker's `git http-backend` during a push.
//!
//! It is a client of the public builds API, like `broker deploy`: for a push of `main` or
//! `master` it archives the pushed commit (`git archive`: the quarantined objects are visible
//! to a hook, untracked files never are in it), posts it as a build with the pusher's own token
//! (so the API makes every access check), streams the build's output to standard output (git
//! shows it to the pusher as `remote:` lines) and fails when the build did not succeed, which
//! makes git refuse the push. The broker hands it the API's URL, the token and the app id in
//! the environment, never on a command line or on disk.

use clap::{Args, Subcommand};

use super::api::{seg, Api};
use super::deploy;
use super::error::{CliError, CliResult};
use super::login::Login;
use super::output;

/// The broker's URL on loopback, for the hook's API calls.
pub const HOOK_ENV_API: &str = "BROKER_GIT_HOOK_API";
/// The pusher's token.
pub const HOOK_ENV_TOKEN: &str = "BROKER_GIT_HOOK_TOKEN";
/// The app's id.
pub const HOOK_ENV_APP: &str = "BROKER_GIT_HOOK_APP";

/// The branches whose push deploys.
const DEPLOYED: [&str; 2] = ["refs/heads/main", "refs/heads/master"];

/// `broker git-hook`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example (git runs it in the broker's repositories, not a person):\n  broker git-hook pre-receive"
)]
pub struct HookArgs {
    #[command(subcommand)]
    hook: Hook,
}

/// The hooks.
#[derive(Debug, Subcommand)]
enum Hook {
    /// Build a push of main or master; refuse the push when the build fails.
    #[command(after_help = "Example:\n  broker git-hook pre-receive < ref-updates")]
    PreReceive,
}

/// Runs a hook.
pub async fn hook(args: HookArgs) -> CliResult {
    match args.hook {
        Hook::PreReceive => pre_receive().await,
    }
}

/// One line of a pre-receive hook's input: `<old> <new> <ref>`.
#[derive(Debug, PartialEq, Eq)]
struct Update {
    new: String,
    name: String,
}

/// The updates of the hook's input.
fn updates(input: &str) -> Vec<Update> {
    input
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (_old, new, name) = (words.next()?, words.next()?, words.next()?);
            Some(Update {
                new: new.to_string(),
                name: name.to_string(),
            })
        })
        .collect()
}

/// Whether an object name is git's zero id (a deletion).
fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// The update to build: `main`'s when it is pushed, else `master`'s (deletions build nothing).
fn to_build(updates: &[Update]) -> Option<&Update> {
    DEPLOYED
        .iter()
        .find_map(|branch| updates.iter().find(|u| u.name == *branch && !is_zero(&u.new)))
}

async fn pre_receive() -> CliResult {
    let env = |key: &str| {
        std::env::var(key)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| CliError::new("git-hook runs inside the broker's git service only"))
    };
    let (url, token, app) = (env(HOOK_ENV_API)?, env(HOOK_ENV_TOKEN)?, env(HOOK_ENV_APP)?);
    let input = tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
        .await
        .map_err(|e| CliError::new(format!("reading the ref updates: {e}")))?
        .map_err(|e| CliError::new(format!("reading the ref updates: {e}")))?;
    let updates = updates(&input);
    let build = to_build(&updates);
    for u in &updates {
        if build.is_some_and(|b| b.name == u.name) {
            continue;
        }
        let short = u.name.strip_prefix("refs/heads/").unwrap_or(&u.name);
        println!("-----> {short}: pushed, not deployed (only a push of main or master deploys)");
    }
    let Some(build) = build else {
        return Ok(());
    };
    let branch = build.name.trim_start_matches("refs/heads/");
    let short: String = build.new.chars().take(8).collect();
    println!("-----> Building {short} ({branch})");
    let archive = archive(&build.new).await?;
    let api = Api::new(Login { url, token })?;
    let pending = deploy::upload(&api, &app, archive, 0).await?;
    deploy::stream_output(&api, &pending, false).await?;
    let path = format!(
        "/apps/{}/builds/{}",
        seg(&output::text(&pending["app"]["id"])),
        seg(&output::text(&pending["id"]))
    );
    let done = api.get(&path).await?;
    if done["status"] != "succeeded" {
        return Err(CliError::new(format!(
            "{}; the push of {branch} is refused",
            deploy::failure_line(&done)
        )));
    }
    Ok(())
}

/// `git archive --format=tar.gz <commit>^{tree}` of the repository the hook runs in: of the
/// commit's tree, since a commit's archive starts with a pax global header (the commit id)
/// that a build refuses as an entry that is not a file.
async fn archive(commit: &str) -> CliResult<Vec<u8>> {
    let out = tokio::process::Command::new("git")
        .args(["archive", "--format=tar.gz", &format!("{commit}^{{tree}}")])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| CliError::new(format!("running git archive: {e}")))?;
    if !out.status.success() {
        return Err(CliError::new(format!(
            "git archive {commit}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_builds_before_master_and_deletions_and_other_branches_do_not() {
        let zero = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let input = format!("{zero} {a} refs/heads/master\n{a} {b} refs/heads/main\n{zero} {a} refs/heads/feature\n");
        let list = updates(&input);
        assert_eq!(list.len(), 3);
        assert_eq!(to_build(&list).map(|u| u.name.as_str()), Some("refs/heads/main"));
        let only_feature = updates(&format!("{zero} {a} refs/heads/feature\n"));
        assert_eq!(to_build(&only_feature), None);
        let deleted = updates(&format!("{a} {zero} refs/heads/main\n"));
        assert_eq!(to_build(&deleted), None);
        let master = updates(&format!("{a} {b} refs/heads/master\n"));
        assert_eq!(to_build(&master).map(|u| u.new.as_str()), Some(b.as_str()));
    }
}
